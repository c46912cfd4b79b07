"""The CV run's self-contained ``report.html``: results, repeats, per grade, figures, model selection,
protocols, warnings and provenance. Sections are pure functions of ``metrics.json`` and the run folder.

Shared page helpers (CSS, tables, embedded figures) are in :mod:`gliograde.report.html`.
"""
from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from gliograde.report.artefacts import read_json
from gliograde.report.format import (
    fmt_ci,
    fmt_mean_sd,
    fmt_spread,
    fmt_value,
    results_table,
    table_rows,
    to_percent,
)
from gliograde.report.html import esc, figure_section, html_page, html_table

PAPER_REFERENCE = {  # the publication's reported figures, shown for orientation only (not reproduced here)
    "full": "accuracy 97.9 ± 1 %, AUC 0.9991",
    "no-pretrain": "accuracy 61.42 %",
    "no-aug": "accuracy 59.85 %",
    "handcrafted": "accuracy 88 %",
}
PROTOCOL_TEXT = {
    "honest": "Folds split patients (StratifiedGroupKFold), identical for every configuration. Augmentation "
              "is applied after the split, to training patients only. Early stopping uses a stratified inner "
              "validation split of the training patients. The test fold is used once, for the final predictions.",
    "paper": "The study's protocol, reproduced on purpose: the whole cohort is augmented first (57 deterministic "
             "AutoAugment-SVHN copies per image), the augmented images are split at random into folds, and training "
             "stops at the epoch that scores best on the test fold.",
    "site": "Leave-one-site-out: each fold's test set is one institution the model never saw in training.",
}
GAP_TEXT = ("Why the paper protocol scores higher: (1) leakage. Augmented copies of a test image sit in the "
            "training folds, so the network is tested on near-duplicates of images it has already seen. It is "
            "graded on recognising images, not on generalising to new patients. (2) Early stopping on the test "
            "fold picks the epoch that happens to score best on the test data, a selection that adds an "
            "optimistic bias. Only the honest numbers estimate performance on new patients.")
def _summary(metrics: Mapping[str, Any]) -> str:
    rows = table_rows(metrics)
    rows[0] += ["pooled accuracy [95% CI]", "publication (reported, not ours)"]
    for r, c in zip(rows[1:], metrics["configs"].values(), strict=True):
        r += [fmt_ci(c["pooled_accuracy"], c.get("pooled_accuracy_ci"), percent=True), PAPER_REFERENCE.get(r[0], "")]
    return ("<h2>Results</h2>" + html_table(rows, ref_col=len(rows[0]) - 1) +
            "<p class=note>Accuracy and AUC: mean ± sample SD over folds. Pooled: all out-of-fold predictions "
            "together, 95% percentile bootstrap CI over patients. DeLong: paired test on patient-level pooled "
            "predictions. The last column holds the publication's reported figures, for orientation only; "
            "they were obtained under the leaky paper protocol and are not results of this run.</p>")


def _repeats(run_dir: Path, metrics: Mapping[str, Any]) -> str:
    """Repeated CV: each repeat's pooled patient-level AUC and accuracy, with their spread."""
    n_rep = int(metrics.get("n_repeats") or 1)
    if n_rep < 2:
        return ""
    seed = read_json(run_dir / "folds.json").get("seed")
    reps = next(c["repeats"]["repeat"] for c in metrics["configs"].values() if c.get("repeats"))
    head = [f"repeat {r}" + (f" (seed {seed + r})" if isinstance(seed, int) else "") for r in reps]
    rows = [["config", "metric", *head, "mean ± SD (min–max)"]]
    for name, c in metrics["configs"].items():
        for key, label in (("auc", "pooled AUC"), ("accuracy", "pooled accuracy")):
            d = (c.get("repeats") or {}).get(key) or {}
            rows.append([name, label, *(fmt_value(v) for v in d.get("values", [])), fmt_spread(d)])
    return (f"<h2>Repeated cross-validation ({n_rep} repeats)</h2>" + html_table(rows) +
            "<p class=note>The same cross-validation repeated on different patient splits (fold seed = the run's "
            "seed + repeat). Each value is pooled over that repeat's out-of-fold predictions, one averaged "
            "prediction per patient; SD is the sample SD over repeats. The tables above are repeat 0's. A wide "
            "range means a single split's result depends on which patients share a fold.</p>")


def _per_grade(metrics: Mapping[str, Any]) -> str:
    rows = [["config", "grade", "accuracy (OvR)", "sensitivity", "specificity", "AUC (OvR)", "pooled sens.",
             "pooled spec.", "pooled AUC"]]
    for name, c in metrics["configs"].items():
        for g, d in c["per_class"].items():
            pooled = c["pooled_per_class"][g]
            rows.append([name, str(g), *(fmt_mean_sd(d[k], percent=k != "auc") for k in
                                         ("accuracy", "sensitivity", "specificity", "auc")),
                         fmt_value(to_percent(pooled["sensitivity"]), ".1f"),
                         fmt_value(to_percent(pooled["specificity"]), ".1f"),
                         fmt_value(pooled["auc"])])
    return ("<h2>Per grade (one-vs-rest)</h2>" + html_table(rows) +
            "<p class=note>Mean ± SD over folds; sensitivity and specificity in %.</p>")


def _protocols(metrics: Mapping[str, Any]) -> str:
    primary = metrics["protocol"]
    others = metrics.get("comparisons", {})
    parts = ["<h2>Protocol</h2>", f"<p><b>{esc(primary)}</b>: {esc(PROTOCOL_TEXT.get(primary, 'not described'))}</p>"]
    if not others:
        parts.append(f"<p class=note>{esc(PROTOCOL_TEXT['paper'] if primary != 'paper' else PROTOCOL_TEXT['honest'])} "
                     "(not run here; use <code>--compare OTHER_RUN</code> to put both side by side).</p>")
        return "".join(parts)
    runs = {primary: metrics, **others}
    rows = [["config", *(f"{k}: {m}" for k in runs for m in ("accuracy", "pooled AUC"))]]
    for name in metrics["configs"]:
        row = [name]
        for m in runs.values():
            c = m["configs"].get(name)
            row += [fmt_mean_sd(c["accuracy"], percent=True), fmt_ci(c["pooled_auc"], c.get("pooled_auc_ci"))] if c \
                else ["n/a", "n/a"]
        rows.append(row)
    for label, m in others.items():
        parts.append(f"<p><b>{esc(label)}</b>: {esc(PROTOCOL_TEXT.get(m['protocol'], 'not described'))}</p>")
    parts.append(html_table(rows) + _gap_sentences(metrics, others) + f"<p>{esc(GAP_TEXT)}</p>")
    return "".join(parts)


def _gap_sentences(metrics: Mapping[str, Any], others: Mapping[str, Any]) -> str:
    out = []
    for label, m in others.items():
        for name, c in metrics["configs"].items():
            o = m["configs"].get(name)
            if o and c["accuracy"]["mean"] is not None and o["accuracy"]["mean"] is not None:
                gap = 100 * (o["accuracy"]["mean"] - c["accuracy"]["mean"])
                out.append(f"{name}: {label} accuracy is {gap:+.1f} points vs {metrics['protocol']}.")
    return f"<p>{esc(' '.join(out))}</p>" if out else ""


def _provenance(run_dir: Path, metrics: Mapping[str, Any]) -> str:
    info, folds = read_json(run_dir / "run.json"), read_json(run_dir / "folds.json")
    fp = info.get("input_fingerprint") or {}
    rows = [["item", "value"], ["run folder", str(run_dir)], ["command", info.get("command", "n/a")],
            ["seed", str(info.get("seed", "n/a"))], ["data fingerprint (sha256)", fp.get("sha256", "n/a")],
            ["input files", str(fp.get("n_files", "n/a"))],
            ["folds", f"{folds.get('n_splits', metrics.get('n_folds'))} (seed {folds.get('seed', 'n/a')})"
                      + (f" x {metrics['n_repeats']} repeats (seed + repeat)" if metrics.get("n_repeats") else "")],
            ["bootstrap", f"{metrics.get('n_boot')} resamples, seed {metrics.get('seed')}"],
            *([k, v] for k, v in (info.get("versions") or {}).items())]
    cfg = run_dir / "config.yaml"
    cfg_text = f"<pre>{esc(cfg.read_text())}</pre>" if cfg.is_file() else "<p>config.yaml: not found</p>"
    return "<h2>Provenance</h2>" + html_table(rows) + "<h3>Resolved config</h3>" + cfg_text


def _warnings(metrics: Mapping[str, Any]) -> str:
    lines = [f"{n}: {w}" for n, c in metrics["configs"].items() for w in c.get("warnings", [])]
    if not lines:
        return ""
    return "<h2>Warnings</h2><ul>" + "".join(f"<li>{esc(x)}</li>" for x in lines) + "</ul>"


def _selection(metrics: Mapping[str, Any]) -> str:
    """What the inner model selection chose in each training fold, and how (configs radiomics, fusion)."""
    sel = metrics.get("selection")
    if not sel:
        return ""
    rep = int(sel.get("repeats") or 1) > 1
    rows = [["config", *(["repeat"] if rep else []), "fold", "chosen", "best inner AUC"]]
    for config, entry in (sel.get("configs") or {}).items():
        for f in entry.get("folds", []):
            inner = f.get("inner_auc") or {}
            rows.append([config, *([str(f.get("repeat"))] if rep else []), str(f.get("fold")), str(f.get("chosen")),
                         fmt_value(inner.get(f.get("chosen")))])
    feats = "ROI features: " + " + ".join(sel.get("features") or ["radiomics"]) + ". "
    return (f"<h2>Model selection</h2><p>{esc(feats + sel.get('how', ''))}</p>" + html_table(rows)
            + "<p class=note>Chosen inside each training fold only; the test fold was used once, for the final "
              "predictions. Every candidate's inner AUC is in selection.json.</p>")


def render_html(run_dir: Path, metrics: Mapping[str, Any], figures: list[Path]) -> str:
    """The whole report as one HTML string: inline CSS, figures as base64 data URIs, no external links."""
    title = f"gliograde cross-validation report: {run_dir.name}"
    n_rep = int(metrics.get("n_repeats") or 1)
    head = (f"<h1>{esc(title)}</h1><p>Protocol <b>{esc(metrics['protocol'])}</b>; grades "
            f"{esc(metrics['classes'])}; {metrics['n_patients']} patients; {metrics['n_folds']} folds"
            f"{f' x {n_rep} repeats' if n_rep > 1 else ''}.</p>")
    body = "".join([
        head, _summary(metrics), _repeats(run_dir, metrics), f"<pre>{esc(results_table(metrics))}</pre>",
        _per_grade(metrics),
        figure_section("ROC curves", figures, "roc_",
                       "Pooled out-of-fold one-vs-rest ROC per grade (cf. the study's Figure 6)."),
        figure_section("Calibration", figures, "reliability_",
                       "Top-label reliability: bar = accuracy per confidence bin; "
                       "numbers = patients per bin; ECE = weighted mean |accuracy - confidence|."),
        figure_section("Confusion matrices", figures, "confusion_", "Pooled out-of-fold; rows = true grade."),
        figure_section("Training curves", figures, "training_", "Mean ± SD over folds (cf. the study's Figure 5)."),
        _selection(metrics), _protocols(metrics), _warnings(metrics), _provenance(run_dir, metrics),
    ])
    return html_page(title, body)

