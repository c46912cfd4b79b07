"""What every bundle kind shares: its file names, ``model.json`` (read once), provenance and model-card pieces.

A bundle folder always holds ``model.json`` (its ``kind`` names the :class:`~gliograde.bundles.base.ModelKind`
that reads the rest; bundles written before ``kind`` existed are CNNs) and ``MODEL_CARD.md``.

Sealing (every kind inherits it): :func:`write_meta` lists every file of the bundle with its sha256 under
``files`` in ``model.json`` (the model file(s), ``MODEL_CARD.md``, anything else the kind wrote; not the training
run's provenance, :data:`RUN_FILES`, nor hidden or temporary files), and
:func:`gliograde.bundles.registry.load_bundle` checks them with :func:`check_seal` on every load, after the
kind's own check of its model file: a missing or changed file is a one-line refusal naming it.
Both files are written atomically.

>>> metrics_lines(None)[0].startswith("No cross-validated metrics")
True
"""
from __future__ import annotations

import dataclasses
import json
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from gliograde.config import IngestCfg
from gliograde.data.who_edition import UNSTATED, cohort_statement
from gliograde.errors import InputError
from gliograde.fsio import atomic_write_json, atomic_write_text
from gliograde.runinfo import package_versions, sha256_file, to_plain

if TYPE_CHECKING:
    from gliograde.data.dataset import Cohort

MODEL_JSON = "model.json"
MODEL_CARD = "MODEL_CARD.md"
#: A CNN bundle's weights (written by :mod:`gliograde.training.cnn`, read by :mod:`gliograde.bundles.cnn`).
WEIGHTS = "weights.safetensors"
#: The kind of a bundle whose model.json has no ``kind`` (written before kinds existed).
LEGACY_KIND = "cnn"
#: model.json's list of the bundle's files and their sha256.
SEAL = "files"
#: Files of the training run that share the bundle's folder but are not the bundle (never sealed nor packed):
#: provenance (patients by keyed alias only, per-file names withheld), histories, checkpoints.
RUN_FILES = frozenset({"config.yaml", "run.json", "inner_split.csv", "history.csv", "history.png", "skipped.json",
                       "checkpoint.safetensors", "state.json"})
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


def bundle_files(out: Path) -> list[str]:
    """The names of the bundle's own files in ``out``: every top-level file but ``model.json``, the training
    run's :data:`RUN_FILES`, hidden and temporary files (sorted)."""
    return sorted(p.name for p in Path(out).iterdir()
                  if p.is_file() and p.name != MODEL_JSON and p.name not in RUN_FILES
                  and not p.name.startswith(".") and not p.name.endswith(".tmp"))


def write_meta(out: Path, meta: dict[str, Any], card: str) -> None:
    """Write ``out/MODEL_CARD.md``, then ``out/model.json`` sealed: ``files`` = {name: sha256} of
    :func:`bundle_files` (the kind's model files are written before this call)."""
    atomic_write_text(out / MODEL_CARD, card)
    sealed = {name: sha256_file(out / name) for name in bundle_files(out)}
    atomic_write_json(out / MODEL_JSON, {**meta, SEAL: sealed})


def check_seal(path: Path, meta: dict[str, Any]) -> None:
    """Check every file ``model.json`` lists under ``files`` against its sha256 (bundles written before
    sealing have no list: their kind checks its model file alone).

    Raises:
        InputError: a listed file is missing, changed or named outside the folder (one line naming it).
    """
    sealed = meta.get(SEAL)
    if sealed is None:
        return
    where = Path(path) / MODEL_JSON
    if not isinstance(sealed, dict):
        raise InputError(f"{where}: 'files' is not a mapping of file name to sha256; re-create the bundle with "
                         "`gliograde train`")
    for name, want in sorted(sealed.items()):
        if not isinstance(name, str) or not name or "/" in name or "\\" in name or name.startswith("."):
            raise InputError(f"{where}: lists {name!r}, which is not a file of the bundle folder; refusing to load "
                             "it, re-create the bundle with `gliograde train`")
        file = Path(path) / name
        if not file.is_file():
            raise InputError(f"{file}: missing, but listed in model.json; the bundle is incomplete, copy the whole "
                             "bundle folder again")
        if sha256_file(file) != want:
            raise InputError(f"{file}: sha256 differs from the one model.json records; the file was changed or "
                             "replaced since training, restore the bundle's original file or re-train it")


def check_format(path: Path, meta: dict[str, Any], supported: int) -> None:
    """Refuse a ``format_version`` this gliograde cannot read (absent = 1, the first format).

    Raises:
        InputError: names the version, the supported one and the fix.
    """
    version = meta.get("format_version", 1)
    if not isinstance(version, int) or isinstance(version, bool) or version < 1:
        raise InputError(f"{Path(path) / MODEL_JSON}: format_version {version!r} is not a positive whole number; "
                         "re-create the bundle with `gliograde train`")
    if version > supported:
        raise InputError(f"{Path(path) / MODEL_JSON}: bundle format_version {version}, but this gliograde reads up "
                         f"to {supported}; upgrade gliograde (pip install -U gliograde) or re-train the bundle")


def shared_meta(out: Path, cohort: Cohort, ingest: IngestCfg, cv_metrics: dict[str, Any] | None) -> dict[str, Any]:
    """The model.json entries every bundle kind carries: preprocessing to repeat at prediction time
    (one slice, no fixed index), training-data fingerprints, the keyed hashes of the training patients
    (:func:`gliograde.prediction.cases.training_patients`: no id, name or path), CV metrics and package versions."""
    from gliograde.prediction.cases import training_patients  # gliograde.prediction imports the bundles: on use

    return {
        "preprocessing": to_plain(dataclasses.replace(ingest, slices=1, slice_index=None, skip_bad=False)),
        "data_fingerprint": {"cohort_input_sha256": json_sha(cohort.root / "run.json"),
                             "train_input_sha256": json_sha(out / "run.json")},
        "training_patients": training_patients(cohort.patient_ids.tolist()),
        "labels": labels_meta(cohort),
        **cv_entries(cv_metrics),
        "versions": package_versions(),
    }


#: Every WHO grade of a diffuse glioma a cohort may carry.
ALL_GRADES = (2, 3, 4)
#: model.json's key for CV metrics of a leaky (paper-protocol) run: cited, never the model's estimate.
LEAKY_KEY = "cv_metrics_leaky"


def grade_caveat(classes: Sequence[int]) -> str | None:
    """What a model of ``classes`` cannot say: None when it knows every grade.

    >>> grade_caveat((2, 3))
    'grades 2, 3 only: cannot recognise grade 4 (glioblastoma); a grade 4 tumour is given one of 2, 3'
    >>> grade_caveat((2, 3, 4)) is None
    True
    """
    missing = [g for g in ALL_GRADES if g not in set(classes)]
    if not missing:
        return None
    known = ", ".join(map(str, classes))
    what = ", ".join(map(str, missing)) + (" (glioblastoma)" if missing == [4] else "")
    return (f"grades {known} only: cannot recognise grade {what}; a grade {'/'.join(map(str, missing))} tumour is "
            f"given one of {known}")


def labels_meta(cohort: Cohort) -> dict[str, Any]:
    """model.json's ``labels``: the grades the model can output, those it cannot recognise, and the WHO edition its
    training labels follow (:mod:`gliograde.data.who_edition`; ``who_edition`` None = not stated)."""
    code, text = cohort_statement(cohort.manifest)
    classes = [int(c) for c in cohort.classes]
    return {"grades": classes, "cannot_recognise": [g for g in ALL_GRADES if g not in classes],
            "who_edition": code, "who_grading": text}


def labels_of(meta: dict[str, Any]) -> dict[str, Any]:
    """A bundle's ``labels`` block; bundles written before it existed get it from their ``classes``."""
    classes = [int(c) for c in meta.get("classes", [])]
    got = meta.get("labels") or {}
    return {"grades": got.get("grades", classes),
            "cannot_recognise": got.get("cannot_recognise", [g for g in ALL_GRADES if g not in classes]),
            "who_edition": got.get("who_edition"), "who_grading": got.get("who_grading") or UNSTATED}


def labels_lines(meta: dict[str, Any]) -> list[str]:
    """The model card's lines on what the model can output and which WHO grading its labels follow."""
    lab = labels_of(meta)
    caveat = grade_caveat(lab["grades"])
    return [f"- grades it can output: {', '.join(map(str, lab['grades']))}"
            + (f"; **{caveat}**" if caveat else ""),
            f"- WHO grading of the training labels: {lab['who_grading']}"]


def cv_entries(cv_metrics: dict[str, Any] | None) -> dict[str, Any]:
    """model.json's CV entries: ``cv_metrics`` (the model's estimate), or, for metrics cited from a leaky
    (paper-protocol) run (``cv_metrics["leaky"]``), ``cv_metrics`` None and the run under :data:`LEAKY_KEY`."""
    if cv_metrics and cv_metrics.get("leaky"):
        return {"cv_metrics": None, LEAKY_KEY: cv_metrics}
    return {"cv_metrics": cv_metrics}


def card_metrics(meta: dict[str, Any]) -> list[str]:
    """The model card's "Metrics" lines: the attached CV metrics, a cited leaky run (labelled so) and the inner
    validation's chance-level warning."""
    lines = metrics_lines(meta.get("cv_metrics"))
    if leaky := meta.get(LEAKY_KEY):
        lines += ["", "**LEAKY, not an estimate of this model's performance**: cited with --cite-leaky-cv, from a "
                  f"{leaky.get('protocol')}-protocol run ({leaky.get('source')}), whose folds split one patient's "
                  "augmented images between training and test:", "",
                  *metrics_lines(leaky)[2:]]
    inner = meta.get("inner_validation") or {}
    if inner.get("at_chance"):
        lines += ["", f"**Warning: the inner validation is at chance level** ({inner['line']}); this model may "
                  "have learned nothing that separates the grades."]
    elif inner.get("line"):
        lines += ["", f"Inner validation: {inner['line']}."]
    return lines


def chance_warning(inner: dict[str, Any] | None) -> list[str]:
    """The line ``train`` prints (and logs) when the inner validation is at chance level; none otherwise."""
    if not inner or not inner.get("at_chance"):
        return []
    line = (f"WARNING: inner validation at chance level: {inner['line']}; this model may have learned nothing that "
            "separates the grades (recorded in model.json and MODEL_CARD.md)")
    return [line]  # printed by `train` (the CLI prints TrainReport.lines); not logged as well: once only


def accuracy_at_chance(accuracy: float | None, val_labels: Sequence[int]) -> dict[str, Any]:
    """The inner-validation check of a model judged by accuracy: at chance when its accuracy is not above the
    majority-class share of the validation rows (what always answering the commonest grade scores; on two balanced
    grades 0.500). Why not a significance test: the validation rows are slices, several per patient, so a binomial
    test over rows would count correlated rows as independent; the majority share is the floor any model must beat.

    >>> accuracy_at_chance(0.5, [0, 1, 0, 1])["at_chance"], accuracy_at_chance(0.75, [0, 1, 0, 1])["at_chance"]
    (True, False)
    """
    if accuracy is None or accuracy != accuracy or len(val_labels) == 0:
        return {"metric": "accuracy", "at_chance": None, "line": "not measured (no inner validation rows)"}
    counts = np.bincount(np.asarray(val_labels, dtype=np.int64))
    chance = float(counts.max() / counts.sum())
    at = bool(accuracy <= chance + 1e-9)
    return {"metric": "accuracy", "value": round(float(accuracy), 4), "chance": round(chance, 4), "at_chance": at,
            "n_rows": len(val_labels),
            "line": f"inner-validation accuracy {accuracy:.3f} on {len(val_labels)} rows, "
                    f"{'not above' if at else 'above'} the majority-grade share {chance:.3f}"}


def auc_at_chance(auc: float | None, grade_counts: Sequence[int], label: str = "inner-CV AUC") -> dict[str, Any]:
    """The inner-validation check of a model judged by AUC: at chance when the 95 % CI of its AUC includes 0.5.

    The CI is AUC +- 1.96 SE with the Hanley & McNeil (1982) SE from the patient counts alone (the inner folds'
    per-patient scores are not kept); with three grades, the smallest grade against the rest, the widest of the
    one-vs-rest CIs. The AUC checked is the chosen candidate's, the maximum over the grid, so it is if anything
    optimistic: a CI that still includes 0.5 is a real warning.

    >>> auc_at_chance(0.52, [35, 35])["at_chance"], auc_at_chance(0.80, [35, 35])["at_chance"]
    (True, False)
    """
    counts = [int(c) for c in grade_counts if c > 0]
    if auc is None or auc != auc or len(counts) < 2:
        return {"metric": "auc", "at_chance": None, "line": f"{label} not measured"}
    n1 = min(counts)
    n2 = sum(counts) - n1
    a = float(auc)
    q1, q2 = a / (2 - a), 2 * a * a / (1 + a)
    se = float(np.sqrt((a * (1 - a) + (n1 - 1) * (q1 - a * a) + (n2 - 1) * (q2 - a * a)) / (n1 * n2)))
    lo, hi = a - 1.96 * se, a + 1.96 * se
    at = bool(lo <= 0.5)  # the CI includes 0.5, or lies below it (a model that inverts the grades)
    where = "includes 0.5" if lo <= 0.5 <= hi else "lies below 0.5" if hi < 0.5 else "excludes 0.5"
    return {"metric": "auc", "value": round(a, 4), "ci": [round(lo, 4), round(hi, 4)], "at_chance": at,
            "line": f"{label} {a:.3f} (95 % CI {lo:.2f}-{hi:.2f}, Hanley-McNeil, {sum(counts)} patients), {where}"}


def read_cv_metrics(metrics_json: Path) -> dict[str, Any]:
    """Accuracy, AUC and pooled AUC per configuration from a CV run's ``metrics.json``.

    Returns:
        ``{"protocol", "n_patients", "n_folds", "configs": {name: {"accuracy": {"mean", "sd"},
        "auc": {"mean", "sd"}, "pooled_auc"}}}``
    """
    path = Path(metrics_json)
    if not path.is_file():
        raise InputError(f"{path}: no CV metrics; run `gliograde cv` first or leave the CV metrics out")
    try:
        raw = json.loads(path.read_text())
        if not isinstance(raw, dict):
            raise ValueError("not a JSON object")
    except (OSError, UnicodeDecodeError, ValueError) as err:
        raise InputError(f"{path}: unreadable CV metrics ({type(err).__name__}); rerun `gliograde report` on that "
                         "run, or leave --cv-run out") from err
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
