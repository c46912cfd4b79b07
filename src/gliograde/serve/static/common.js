// Shared helpers of the gliograde pages: JSON fetches that surface the server's {"error": ...} messages,
// and safe element building (text only: nothing from the server is inserted as HTML).
"use strict";

async function api(path, options) {
  const res = await fetch(path, Object.assign({ credentials: "same-origin" }, options || {}));
  let body = null;
  try { body = await res.json(); } catch (e) { body = null; }
  if (!res.ok) {
    const msg = body && body.error ? body.error : `HTTP ${res.status}`;
    const err = new Error(msg);
    err.status = res.status;
    throw err;
  }
  return body;
}

function el(tag, attrs, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === null || v === undefined || v === false) continue;
    if (k === "class") node.className = v;
    else if (k.startsWith("on")) node.addEventListener(k.slice(2), v);
    else node.setAttribute(k, v === true ? "" : String(v));
  }
  for (const c of children.flat()) {
    if (c === null || c === undefined) continue;
    node.appendChild(typeof c === "string" || typeof c === "number" ? document.createTextNode(String(c)) : c);
  }
  return node;
}

function fmt(x, digits) {
  return x === null || x === undefined || Number.isNaN(x) ? "n/a" : Number(x).toFixed(digits === undefined ? 2 : digits);
}

// A probability to 3 decimals, never rounded to a certainty the model did not give (0 or 1).
function prob(p) {
  if (p === null || p === undefined) return "n/a";
  if (p < 0.0005) return "<0.001";
  if (p > 0.9995) return ">0.999";
  return Number(p).toFixed(3);
}

function banner() {
  return el("div", { class: "banner", role: "note" },
    "Research use only, not for diagnosis. gliograde is not a medical device; a grade here must not guide the care of any patient.");
}
