// Lists the API from FastAPI's OpenAPI document (served offline; FastAPI's own docs page would load a CDN).
"use strict";
document.addEventListener("DOMContentLoaded", async () => {
  const spec = await api("/api/openapi.json");
  const rows = [];
  for (const [path, ops] of Object.entries(spec.paths)) {
    for (const [method, op] of Object.entries(ops)) {
      const params = (op.parameters || []).map((p) => `${p.name} (${p.in})`).join(", ");
      rows.push(el("tr", {}, el("td", {}, el("code", {}, method.toUpperCase())), el("td", {}, el("code", {}, path)),
        el("td", {}, op.summary || ""), el("td", {}, params), el("td", {}, Object.keys(op.responses || {}).join(", "))));
    }
  }
  document.getElementById("paths").replaceChildren(el("table", {}, el("thead", {}, el("tr", {},
    ...["method", "path", "what", "parameters", "responses"].map((h) => el("th", {}, h)))), el("tbody", {}, rows)));
});
