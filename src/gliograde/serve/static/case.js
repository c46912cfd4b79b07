// The case page: the grade with a bar per probability, the model's cross-validated AUC and calibration, the
// evidence, the unlike-training warning, the model card, and the NiiVue viewer with the case's volume, tumour
// outline and evidence heat as overlays (opacity controls, the graded slice marked by the crosshair).
"use strict";

const caseId = decodeURIComponent(window.location.pathname.split("/").pop());
const fileUrl = (name) => `/api/cases/${encodeURIComponent(caseId)}/files/${encodeURIComponent(name)}`;
let nv = null, layers = {}, doc = null;

function bars(probabilities, grade) {
  return Object.entries(probabilities).map(([g, p]) => el("div", { class: "bar-row" + (String(grade) === g ? " top" : "") },
    el("span", { class: "bar-label" }, `G${g}`),
    el("span", { class: "bar" }, el("span", { class: "fill", style: `width:${(100 * p).toFixed(1)}%` })),
    el("span", { class: "bar-value", "data-grade": g }, prob(p))));
}

function reliability(model, c) {
  const out = [];
  const cv = model.cv;
  if (cv) {
    const ci = cv.pooled_auc_ci ? ` (95% CI ${fmt(cv.pooled_auc_ci[0])}-${fmt(cv.pooled_auc_ci[1])})` : "";
    out.push(el("p", { id: "cv-auc" }, `Cross-validated AUC ${fmt(cv.pooled_auc)}${ci}, pooled over ${cv.n_folds} folds `,
      `of ${cv.n_patients} patients (${cv.protocol} protocol, configuration ${cv.config}; per-fold mean ${fmt(cv.auc_mean)} ± ${fmt(cv.auc_sd)}).`));
    if (cv.ece !== null && cv.ece !== undefined) out.push(el("p", {}, `Calibration error (ECE) ${fmt(cv.ece, 3)}.`));
    out.push(el("p", { id: "calibration" }, c.calibration ? `For this case: ${c.calibration}.` : "No cross-validated case had a top probability like this one: its calibration is unknown."));
  } else {
    out.push(el("p", { id: "cv-auc", class: "warn" }, model.no_cv_reason));
  }
  if (model.inner_cv_auc !== null && model.inner_cv_auc !== undefined) {
    out.push(el("p", { class: "muted" }, `Inner-CV AUC of the chosen model (${model.chosen_model}) on its training patients: ${fmt(model.inner_cv_auc)} `,
      "(no CI; the best of the candidates tried, so optimistic)."));
  }
  return out;
}

function evidence(pred) {
  const ev = pred && pred.evidence;
  if (!ev) return [el("p", { class: "muted" }, "No evidence was computed for this case.")];
  const out = [];
  if (ev.top_features) {
    out.push(el("p", {}, `Features that moved the probability of G${ev.target_grade} most (${ev.method}):`));
    out.push(el("table", { class: "features" }, el("thead", {}, el("tr", {}, el("th", {}, "feature"), el("th", {}, "sequence"), el("th", {}, "z vs training"), el("th", {}, "contribution"))),
      el("tbody", {}, ev.top_features.map((f) => el("tr", {}, el("td", {}, f.feature), el("td", {}, f.sequence || ""),
        el("td", {}, fmt(f.z)), el("td", {}, fmt(f.contribution, 3)))))));
  }
  if (ev.heat_in_roi !== undefined && ev.heat_in_roi !== null) {
    out.push(el("p", { id: "heat-in-roi" }, `${(100 * ev.heat_in_roi).toFixed(0)}% of the ${ev.method} heat lies inside the tumour ROI `,
      `(the ROI covers ${(100 * ev.roi_share_of_crop).toFixed(0)}% of the model's input).`));
  }
  if (ev.note) out.push(el("p", { class: "muted small" }, ev.note));
  return out;
}

async function startViewer(viewer) {
  const canvas = document.getElementById("gl");
  nv = new niivue.Niivue({ isRadiologicalConvention: true, backColor: [0, 0, 0, 1], crosshairColor: [1, 1, 0, 0.8],
    show3Dcrosshair: false, isColorbar: false, crosshairGap: 10, dragAndDropEnabled: false, loadingText: "" });
  await nv.attachToCanvas(canvas);
  const list = [{ url: fileUrl(viewer.images[viewer.default]), name: viewer.images[viewer.default], colormap: "gray" },
    { url: fileUrl(viewer.outline), name: viewer.outline, colormap: "red", opacity: 1.0, cal_min: 0.5, cal_max: 1 }];
  if (viewer.heat) list.push({ url: fileUrl(viewer.heat), name: viewer.heat, colormap: "warm", opacity: 0.6, cal_min: 0.05, cal_max: 1 });
  await nv.loadVolumes(list);
  layers = { base: nv.volumes[0], outline: nv.volumes[1], heat: viewer.heat ? nv.volumes[2] : null };
  nv.setSliceType(nv.sliceTypeAxial);
  // NiiVue's fractions run along RAS axes (its own reorientation of the file), so the graded point is given in
  // scanner mm and slices are stepped along the superior axis (frac[2]).
  const nz = () => layers.base.dimsRAS[3];
  const slider = document.getElementById("slice");
  slider.max = String(nz() - 1);
  const graded = nv.mm2frac(viewer.slice_mm);
  const label = () => {
    const z = Math.round(nv.scene.crosshairPos[2] * nz() - 0.5);
    slider.value = String(z);
    document.getElementById("slice-label").textContent = z === Math.round(graded[2] * nz() - 0.5)
      ? `graded slice (${doc.prediction.slice_index})` : `z ${nv.frac2mm(nv.scene.crosshairPos)[2].toFixed(1)} mm`;
  };
  const goTo = () => { nv.scene.crosshairPos = graded.slice(); nv.drawScene(); label(); };
  goTo();
  nv.onLocationChange = label;
  slider.addEventListener("input", () => {
    const pos = nv.scene.crosshairPos.slice();
    pos[2] = (Number(slider.value) + 0.5) / nz();
    nv.scene.crosshairPos = pos;
    nv.drawScene();
    label();
  });
  document.getElementById("goto-slice").addEventListener("click", goTo);
  const seq = document.getElementById("sequence");
  seq.replaceChildren(...Object.keys(viewer.images).map((k) => el("option", { value: k, selected: k === viewer.default }, k)));
  seq.addEventListener("change", async () => {
    const pos = nv.scene.crosshairPos.slice();
    const img = await niivue.NVImage.loadFromUrl({ url: fileUrl(viewer.images[seq.value]), name: viewer.images[seq.value], colormap: "gray" });
    nv.removeVolume(layers.base);
    nv.addVolume(img);
    nv.setVolume(img, 0);
    layers.base = img;
    nv.scene.crosshairPos = pos;
    applyWindow();
  });
  const bindOpacity = (box, range, layer) => {
    const update = () => { if (layer()) { nv.setOpacity(nv.getVolumeIndexByID(layer().id), box.checked ? Number(range.value) / 100 : 0); } };
    box.addEventListener("change", update); range.addEventListener("input", update);
  };
  bindOpacity(document.getElementById("show-outline"), document.getElementById("outline-opacity"), () => layers.outline);
  if (viewer.heat) bindOpacity(document.getElementById("show-heat"), document.getElementById("heat-opacity"), () => layers.heat);
  else document.getElementById("heat-controls").hidden = true;
  document.getElementById("window").addEventListener("input", applyWindow);
  document.getElementById("level").addEventListener("input", applyWindow);
  document.getElementById("controls").hidden = false;
  window.gliogradeViewer = { nv, layers };
  document.body.dataset.viewer = "ready";  // for tests and scripts: the canvas shows the case
}

function applyWindow() {
  const v = layers.base;
  const lo = v.robust_min !== undefined ? v.robust_min : v.global_min, hi = v.robust_max !== undefined ? v.robust_max : v.global_max;
  const width = ((hi - lo) * Number(document.getElementById("window").value)) / 100;
  const centre = lo + ((hi - lo) * Number(document.getElementById("level").value)) / 100;
  v.cal_min = centre - width / 2; v.cal_max = centre + width / 2;
  nv.updateGLVolume();
}

async function init() {
  document.getElementById("banner").replaceChildren(banner());
  const [model, c] = await Promise.all([api("/api/model"), api(`/api/cases/${encodeURIComponent(caseId)}`)]);
  doc = c;
  document.getElementById("title").textContent = c.case;
  document.title = `gliograde: ${c.case}`;
  document.getElementById("status").textContent = `${c.source}${c.config ? " / " + c.config : ""}: ${c.status}${c.message ? " (" + c.message + ")" : ""}`;
  document.getElementById("grade").textContent = c.grade === null ? "none" : `G${c.grade}`;
  document.getElementById("bars").replaceChildren(...bars(c.probabilities, c.grade));
  if (c.label !== null) document.getElementById("true-grade").textContent = `Reference grade in the run: G${c.label}.`;
  if (c.unlike_training) {
    const ev = c.prediction && c.prediction.evidence;
    const unlike = document.getElementById("unlike");
    unlike.hidden = false;
    const what = c.prediction && c.prediction.model && c.prediction.model.kind === "cnn" ? "the network's view of the case (its embedding)" : "a selected feature";
    unlike.textContent = "Unlike the training data: " + (ev && ev.max_abs_z ? `${what} lies ${fmt(ev.max_abs_z, 1)} SD from the training data. ` : "")
      + "The grade is an extrapolation; treat it with extra caution.";
  }
  document.getElementById("reliability").replaceChildren(...reliability(model, c));
  document.getElementById("evidence").replaceChildren(...evidence(c.prediction));
  document.getElementById("who").textContent = model.who_edition;
  document.getElementById("card").textContent = model.card;
  if (c.source === "upload") {
    const remove = document.getElementById("remove");
    remove.hidden = false;
    remove.addEventListener("click", async () => {
      if (!window.confirm("Delete this case's files and results from the server?")) return;
      await api(`/api/cases/${encodeURIComponent(caseId)}`, { method: "DELETE" });
      window.location.href = "/";
    });
  }
  if (c.report) document.getElementById("report-link").replaceChildren(el("a", { href: c.report }, "the run's report"));
  if (c.viewer) {
    await startViewer(c.viewer);
  } else {
    document.getElementById("viewer-box").hidden = true;
    const why = document.getElementById("no-viewer");
    why.hidden = false;
    why.textContent = c.source === "upload" ? (c.message || "no volume to show") :
      "The run folder holds the grades, not the images: upload the case to scroll through its volume.";
    if (c.overlay) {
      const img = document.getElementById("overlay");
      img.src = fileUrl(c.overlay); img.hidden = false;
    }
    document.body.dataset.viewer = "none";
  }
}

document.addEventListener("DOMContentLoaded", () => init().catch((e) => {
  document.getElementById("status").textContent = `error: ${e.message}`;
  document.body.dataset.viewer = "error";
}));
