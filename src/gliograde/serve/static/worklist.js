// The worklist page: every uploaded case and every row of the runs given, sortable and filterable; the upload
// box sends one case to POST /api/cases, shows its progress, and opens the case page when it is graded.
"use strict";

const state = { rows: [], sort: { key: "created", dir: 1 }, filter: "", onlyUnlike: false };

function compare(a, b, key) {
  const x = a[key], y = b[key];
  if (x === y) return 0;
  if (x === null || x === undefined) return 1;
  if (y === null || y === undefined) return -1;
  return typeof x === "number" && typeof y === "number" ? x - y : String(x).localeCompare(String(y), undefined, { numeric: true });
}

function render() {
  const tbody = document.querySelector("#worklist tbody");
  const f = state.filter.toLowerCase();
  let rows = state.rows.filter((r) => !state.onlyUnlike || r.unlike_training === true);
  // The filter matches what the cells show (G4, not 4).
  const shown = (r) => [r.case, r.source, r.config, r.grade === null ? null : `G${r.grade}`, r.label === null ? null : `G${r.label}`, r.status];
  if (f) rows = rows.filter((r) => shown(r).some((v) => v !== null && String(v).toLowerCase().includes(f)));
  rows.sort((a, b) => state.sort.dir * compare(a, b, state.sort.key));
  tbody.replaceChildren(...rows.map((r) => el("tr", { "data-id": r.id, class: r.status, tabindex: "0",
      onclick: () => { window.location.href = `/case/${encodeURIComponent(r.id)}`; },
      onkeydown: (e) => { if (e.key === "Enter") window.location.href = `/case/${encodeURIComponent(r.id)}`; } },
    el("td", { class: "case" }, r.case),
    el("td", {}, r.source + (r.config ? ` / ${r.config}` : "")),
    el("td", { class: "grade" }, r.grade === null ? "" : `G${r.grade}`),
    el("td", { class: "probability", "data-value": r.probability }, r.probability === null ? "" : prob(r.probability)),
    el("td", {}, r.label === null ? "" : `G${r.label}`),
    el("td", {}, r.unlike_training === true ? el("span", { class: "warn" }, "unlike") : r.unlike_training === false ? "no" : "n/a"),
    el("td", { class: "status" }, r.status + (r.message ? `: ${r.message}` : "")))));
  document.getElementById("empty").hidden = rows.length > 0;
  for (const th of document.querySelectorAll("#worklist th")) {
    th.setAttribute("aria-sort", th.dataset.key === state.sort.key ? (state.sort.dir > 0 ? "ascending" : "descending") : "none");
  }
}

async function refresh() {
  state.rows = await api("/api/cases");
  render();
}

function uploadFiles(files) {
  const err = document.getElementById("upload-error"), status = document.getElementById("upload-status");
  const bar = document.getElementById("progress");
  err.textContent = "";
  if (!files.length) return;
  const form = new FormData();
  for (const f of files) form.append("files", f, f.name);
  const xhr = new XMLHttpRequest();
  xhr.open("POST", "/api/cases");
  bar.hidden = false; bar.value = 0;
  status.textContent = `uploading ${files.length} file(s)…`;
  xhr.upload.onprogress = (e) => { if (e.lengthComputable) bar.value = (100 * e.loaded) / e.total; };
  xhr.onerror = () => { bar.hidden = true; status.textContent = ""; err.textContent = "upload failed: the server could not be reached"; };
  xhr.onload = async () => {
    let body = null;
    try { body = JSON.parse(xhr.responseText); } catch (e) { body = null; }
    if (xhr.status !== 202) {
      bar.hidden = true; status.textContent = "";
      err.textContent = `upload refused: ${body && body.error ? body.error : "HTTP " + xhr.status}`;
      return;
    }
    bar.removeAttribute("value");  // indeterminate while the case is graded
    status.textContent = "grading (same predict as the command line)…";
    await refresh();
    poll(body.id);
  };
  xhr.send(form);
}

async function poll(id) {
  const status = document.getElementById("upload-status"), bar = document.getElementById("progress");
  for (;;) {
    const c = await api(`/api/cases/${encodeURIComponent(id)}`);
    if (c.status !== "grading") {
      bar.hidden = true;
      if (c.status === "ok") { window.location.href = `/case/${encodeURIComponent(id)}`; return; }
      status.textContent = "";
      document.getElementById("upload-error").textContent = `case could not be graded: ${c.message}`;
      await refresh();
      return;
    }
    await new Promise((r) => setTimeout(r, 300));
  }
}

async function init() {
  document.getElementById("banner").replaceChildren(banner());
  const model = await api("/api/model");
  document.getElementById("model-line").textContent =
    `${model.kind} bundle, grades ${model.classes.join("/")}, channels ${model.channels.join("+")}`;
  document.getElementById("limits").textContent = `Limit ${model.max_upload_mb} MiB per case. Files stay on this server.`;
  const runs = await api("/api/runs");
  document.getElementById("runs").replaceChildren(...runs.map((r) => r.report
    ? el("a", { href: r.report, class: "run" }, `${r.name} report`) : el("span", { class: "run muted" }, r.name)));
  for (const th of document.querySelectorAll("#worklist th")) {
    th.addEventListener("click", () => {
      state.sort = { key: th.dataset.key, dir: state.sort.key === th.dataset.key ? -state.sort.dir : 1 };
      render();
    });
  }
  document.getElementById("filter").addEventListener("input", (e) => { state.filter = e.target.value; render(); });
  document.getElementById("only-unlike").addEventListener("change", (e) => { state.onlyUnlike = e.target.checked; render(); });
  const drop = document.getElementById("upload");
  drop.addEventListener("dragover", (e) => { e.preventDefault(); drop.classList.add("over"); });
  drop.addEventListener("dragleave", () => drop.classList.remove("over"));
  drop.addEventListener("drop", (e) => { e.preventDefault(); drop.classList.remove("over"); uploadFiles([...e.dataTransfer.files]); });
  document.getElementById("file-input").addEventListener("change", (e) => uploadFiles([...e.target.files]));
  await refresh();
}

document.addEventListener("DOMContentLoaded", () => init().catch((e) => {
  document.getElementById("upload-error").textContent = e.message;
}));
