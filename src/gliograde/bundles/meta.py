"""What every bundle kind shares: its file names, ``model.json`` (read once), provenance and model-card pieces.

A bundle folder always holds ``model.json`` (its ``kind`` names the :class:`~gliograde.bundles.base.ModelKind`
that reads the rest; bundles written before ``kind`` existed are CNNs) and ``MODEL_CARD.md``.

>>> metrics_lines(None)[0].startswith("No cross-validated metrics")
True
"""
from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

from gliograde.config import IngestCfg
from gliograde.errors import InputError
from gliograde.runinfo import package_versions, to_plain

if TYPE_CHECKING:
    from gliograde.data.dataset import Cohort

MODEL_JSON = "model.json"
MODEL_CARD = "MODEL_CARD.md"
#: The kind of a bundle whose model.json has no ``kind`` (written before kinds existed).
LEGACY_KIND = "cnn"
#: The opening of every model card's "Intended use".
RESEARCH_ONLY = ("Research only. This model is **not a medical device**, is not cleared or approved for clinical "
                 "use, and must not guide the diagnosis or treatment of any patient. ")


def read_meta(path: Path) -> dict[str, Any]:
    """``path/model.json`` as a dict (the one read of it per load).

    Raises:
        InputError: no or unreadable model.json.
    """
    meta_path = Path(path) / MODEL_JSON
    if not meta_path.is_file():
        raise InputError(f"{meta_path}: missing; a bundle is the folder written by "
                         "`gliograde train COHORT --out BUNDLE`")
    try:
        meta = json.loads(meta_path.read_text())
    except json.JSONDecodeError as err:
        raise InputError(f"{meta_path}: unreadable bundle description ({err}); "
                         "re-create it with `gliograde train`") from err
    if not isinstance(meta, dict):
        raise InputError(f"{meta_path}: unreadable bundle description (not a JSON object); "
                         "re-create it with `gliograde train`")
    return meta


def meta_kind(meta: dict[str, Any]) -> str:
    """The ``kind`` of a model.json dict (``cnn`` when absent)."""
    return str(meta.get("kind", LEGACY_KIND))


def write_meta(out: Path, meta: dict[str, Any], card: str) -> None:
    """Write ``out/model.json`` and ``out/MODEL_CARD.md``."""
    (out / MODEL_JSON).write_text(json.dumps(meta, indent=2))
    (out / MODEL_CARD).write_text(card)


def shared_meta(out: Path, cohort: Cohort, ingest: IngestCfg, cv_metrics: dict[str, Any] | None) -> dict[str, Any]:
    """The model.json entries every bundle kind carries: preprocessing to repeat at prediction time
    (one slice, no fixed index), training-data fingerprints, CV metrics and package versions."""
    return {
        "preprocessing": to_plain(dataclasses.replace(ingest, slices=1, slice_index=None, skip_bad=False)),
        "data_fingerprint": {"cohort_input_sha256": json_sha(cohort.root / "run.json"),
                             "train_input_sha256": json_sha(out / "run.json")},
        "cv_metrics": cv_metrics,
        "versions": package_versions(),
    }


def read_cv_metrics(metrics_json: Path) -> dict[str, Any]:
    """Accuracy, AUC and pooled AUC per configuration from a CV run's ``metrics.json``.

    Returns:
        ``{"protocol", "n_patients", "n_folds", "configs": {name: {"accuracy": {"mean", "sd"},
        "auc": {"mean", "sd"}, "pooled_auc"}}}``
    """
    path = Path(metrics_json)
    if not path.is_file():
        raise InputError(f"{path}: no CV metrics; run `gliograde cv` first or leave the CV metrics out")
    raw = json.loads(path.read_text())
    configs = {}
    for name, c in (raw.get("configs") or {}).items():
        configs[name] = {k: {s: (c.get(k) or {}).get(s) for s in ("mean", "sd")} for k in ("accuracy", "auc")}
        configs[name]["pooled_auc"] = c.get("pooled_auc")
    return {"protocol": raw.get("protocol"), "n_patients": raw.get("n_patients"), "n_folds": raw.get("n_folds"),
            "source": str(path), "configs": configs}


def json_sha(path: Path) -> str | None:
    """The ``input_fingerprint.sha256`` of a run's ``run.json`` (None when there is none)."""
    if not path.is_file():
        return None
    fp = json.loads(path.read_text()).get("input_fingerprint") or {}
    return fp.get("sha256")


def metrics_lines(cv: dict[str, Any] | None) -> list[str]:
    """The model card's "Metrics" lines: the attached CV metrics as a Markdown table, or why there are none."""
    if not cv or not cv.get("configs"):
        return ["No cross-validated metrics were attached to this bundle. Estimate performance with "
                "`gliograde cv` on the same cohort and settings; training accuracy is not a performance estimate."]

    def f(x: Any) -> str:
        return "n/a" if x is None else f"{x:.3f}"

    lines = [f"Cross-validation ({cv.get('protocol')} protocol, {cv.get('n_folds')} folds, "
             f"{cv.get('n_patients')} patients):", "",
             "| configuration | accuracy (mean ± SD) | AUC (mean ± SD) | pooled AUC |", "|---|---|---|---|"]
    for name, c in cv["configs"].items():
        acc, auc = c["accuracy"], c["auc"]
        lines.append(f"| {name} | {f(acc['mean'])} ± {f(acc['sd'])} | {f(auc['mean'])} ± {f(auc['sd'])} "
                     f"| {f(c['pooled_auc'])} |")
    return lines


def rows_per_grade(cohort: Cohort) -> dict[str, int]:
    """``{"2": n, "3": n, ...}``: training rows of each grade of ``cohort``."""
    return {str(g): int((cohort.labels == i).sum()) for i, g in enumerate(cohort.classes)}
