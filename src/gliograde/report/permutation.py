"""The label-permutation check in the CV report: the chance distribution of the pooled AUC and accuracy, the
real result's empirical p-value, and a figure per configuration (``figures/permutation_<config>.png``).

Reads ``RUN/permutation.json`` (:mod:`gliograde.experiment.permute`) only; a run without the check has no section.

>>> doc = {"n": 2, "protocols": {"honest": {"shared_test_rows": {"shared": 0, "of": 4}, "configs": {"radiomics": {
...     "auc": {"real": 0.8, "null": {"values": [0.5, 0.4], "mean": 0.45, "sd": 0.07, "min": 0.4, "max": 0.5,
...                                   "n": 2}, "p": 1 / 3}}}}}}
>>> summary_lines(doc)[0]
'honest, radiomics: real pooled AUC 0.800; on shuffled grades 0.450 ± 0.070 (0.400-0.500, 2 shuffles); p = 0.333'
"""
from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from gliograde.report.artefacts import read_json
from gliograde.report.format import fmt_value
from gliograde.report.html import esc, html_table, img_tag
from gliograde.report.plots import new_figure, save_figure

PERMUTATION_JSON = "permutation.json"  # the experiment's record (gliograde.experiment.permute writes it)
STAT_NAMES = {"auc": "pooled AUC", "accuracy": "pooled accuracy"}


def read_permutation(run_dir: Path) -> dict[str, Any] | None:
    """``RUN/permutation.json``, or None for a run without the check."""
    path = Path(run_dir) / PERMUTATION_JSON
    return read_json(path) if path.is_file() else None


def summary_lines(doc: Mapping[str, Any], stat: str = "auc") -> list[str]:
    """One sentence per (protocol, configuration): real value, null mean ± SD (range), p."""
    name = STAT_NAMES[stat]
    out = []
    for proto, p in doc["protocols"].items():
        for config, entry in p.get("configs", {}).items():
            e = entry.get(stat)
            if not e:
                continue
            n = e["null"]
            out.append(f"{proto}, {config}: real {name} {fmt_value(e['real'])}; on shuffled grades "
                       f"{fmt_value(n['mean'])} ± {fmt_value(n['sd'])} ({fmt_value(n['min'])}-{fmt_value(n['max'])}, "
                       f"{n['n']} shuffles); p = {fmt_value(e['p'])}")
    return out


def write_permutation_figures(run_dir: Path) -> list[Path]:
    """``figures/permutation_<config>.png``: per protocol, the null AUCs (histogram), the real AUC and 0.5."""
    doc = read_permutation(run_dir)
    if not doc:
        return []
    protos = list(doc["protocols"])
    configs = sorted({c for p in doc["protocols"].values() for c in p.get("configs", {})})
    written = []
    for config in configs:
        fig, axes = new_figure(len(protos))
        for ax, proto in zip(np.atleast_1d(axes), protos, strict=True):
            e = doc["protocols"][proto].get("configs", {}).get(config, {}).get("auc")
            if not e:
                continue
            null = [v for v in e["null"]["values"] if v is not None]
            ax.hist(null, bins=np.linspace(0, 1, 21), color="tab:grey", alpha=0.7, edgecolor="k",
                    label=f"shuffled grades (n={len(null)})")
            ax.axvline(0.5, ls="--", c="k", lw=0.8, label="chance (0.5)")
            if e["real"] is not None:
                ax.axvline(e["real"], c="tab:red", lw=2, label=f"real {fmt_value(e['real'])} (p = {fmt_value(e['p'])})")
            ax.set(xlim=(0, 1), xlabel="pooled out-of-fold AUC", ylabel="shuffles",
                   title=f"{config}, {proto}: AUC on shuffled grades")
            ax.legend(fontsize=7, loc="upper left")
        written.append(save_figure(fig, Path(run_dir) / "figures" / f"permutation_{config}.png"))
    return written


def leak_lines(doc: Mapping[str, Any]) -> list[str]:
    """The paper protocol's leak, measured: how high its shuffled-grade AUC climbs, or, when its folds gave the
    leak nothing to work with (no test row's patient in training), why it stays at chance."""
    p = doc["protocols"].get("paper") or {}
    shared = p.get("shared_test_rows") or {}
    if not p:
        return []
    if shared.get("shared") != 0:
        honest = (doc["protocols"].get("honest") or {}).get("configs", {})
        out = []
        for name, e in p.get("configs", {}).items():
            h = (honest.get(name) or {}).get("auc")
            beside = f" (honest protocol: {fmt_value(h['null']['mean'])})" if h else ""
            out.append(f"{name}: on grades without signal the paper protocol reached a mean pooled AUC of "
                       f"{fmt_value(e['auc']['null']['mean'])}{beside}, with {shared.get('shared')} of "
                       f"{shared.get('of')} test rows sharing a patient with the training fold: that much of a "
                       "paper-protocol result the leak alone can produce.")
        return out
    return [f"Under the paper protocol no test row of this run had its patient in the training fold (0 of "
            f"{shared.get('of')}: one row per patient, and configurations other than the CNNs read the original "
            "images only), so the row-level split had nothing to leak and its shuffled-grade AUCs sit at chance "
            "as the honest ones do. Several slices per patient (ingest --slices k) or the CNN configurations "
            "(augmented copies of each image) open the leak this check is built to show."]


def permutation_section(run_dir: Path, figures: list[Path] | None = None) -> str:
    """The report's ``Label-permutation check`` section with the ``permutation_*`` ones of ``figures`` ("" for a
    run without the check)."""
    doc = read_permutation(run_dir)
    if not doc:
        return ""
    rows = [["protocol", "config", "statistic", "real", "shuffled: mean ± SD", "shuffled: min-max", "p",
             "test rows whose patient is in training"]]
    for proto, p in doc["protocols"].items():
        shared = p.get("shared_test_rows") or {}
        for config, entry in p.get("configs", {}).items():
            for stat in ("auc", "accuracy"):
                e = entry[stat]
                n = e["null"]
                rows.append([proto, config, STAT_NAMES[stat], fmt_value(e["real"]),
                             f"{fmt_value(n['mean'])} ± {fmt_value(n['sd'])}",
                             f"{fmt_value(n['min'])}-{fmt_value(n['max'])}", fmt_value(e["p"]),
                             f"{shared.get('shared', 'n/a')} of {shared.get('of', 'n/a')}"])
    return (f"<h2>Label-permutation check ({doc['n']} shuffles)</h2>"
            "<p>Each protocol was rerun on the same images with the grades shuffled between patients (a patient "
            "keeps one grade on all its slices; within each site under the site protocol), every setting and seed "
            "as in the real run. Shuffled grades carry no signal, so a protocol that does not leak scores about 0.5 "
            "AUC on them; a protocol that lets rows of one patient, or copies of one image, sit on both sides of a "
            "fold can score far higher (Yagis et al., Sci Rep 2021). p = (1 + shuffles scoring at least the real "
            "result) / (shuffles + 1).</p>" + html_table(rows)
            + "<p class=note>Last column: test rows (original images) of the folds whose patient also has rows in "
              "that fold's training set; 0 means a row-level split has nothing to leak for the configurations that "
              "read original images (CNNs under the paper protocol also train on augmented copies of their test "
              "images). Figures: figures/permutation_&lt;config&gt;.png. Raw values: permutation.json.</p>"
            + "".join(f"<p>{esc(line)}</p>" for line in [*summary_lines(doc), *leak_lines(doc)])
            + "".join(img_tag(p) for p in figures or [] if p.name.startswith("permutation_")))
