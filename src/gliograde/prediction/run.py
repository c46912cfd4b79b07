"""Grade new cases with a bundle: find cases, let the bundle's kind read, grade and explain each, write outputs.

Cases are found by :mod:`gliograde.prediction.cases` (image + mask, TCGA-LGG slice folder, BraTS case folder,
NIfTI + mask, DICOM series, or a folder of cases). Each case is graded by the bundle itself
(:meth:`~gliograde.bundles.base.ModelKind.predict_case`: the kind's preprocessing, model and evidence: a
LayerCAM map for a CNN, the top contributing features for a radiomics model); this module only writes
what it returns: ``<case>/prediction.json``, ``<case>/overlay.png``, ``summary.csv``, ``timings.json``.

PHI: outputs name a case ``case-<HMAC(key, name)[:10]>`` unless ``keep_ids``; no DICOM header field is read
(the readers only take pixels and geometry), and error messages name a file by its place in the case
(``case-.../file-0003``) and the case by its alias. ``aliases.csv`` (alias -> input path) is written only with
``write_aliases``.
Timings exclude the one-time warm-up (:meth:`~gliograde.bundles.base.ModelKind.warm_up`).

>>> # preds = predict("runs/m", [Path("new/Brats18_X")], out=Path("preds"))   # a bundle folder or load_bundle(...)
>>> # preds[0].grade, preds[0].probabilities -> 4, {2: 0.05, 3: 0.15, 4: 0.80}
"""
from __future__ import annotations

import logging
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, overload

import numpy as np
import pandas as pd
from PIL import Image

from gliograde import __version__
from gliograde.bundles import Bundle, CasePrediction, ModelKind, load_bundle
from gliograde.bundles import check_channels as _check_ingest_channels
from gliograde.bundles.meta import grade_caveat, labels_of
from gliograde.bundles.packed import PackedBundle, open_packed, pack_bundle
from gliograde.config import ExecutorCfg, PredictCfg
from gliograde.data.origin import case_files
from gliograde.data.source import CaseSource
from gliograde.errors import GliogradeError
from gliograde.executor import run_tasks
from gliograde.explain import annotate
from gliograde.fsio import atomic_path, atomic_write_json, run_folder
from gliograde.prediction.cases import (
    ALIASES_CSV,
    CaseInput,
    assign_aliases,
    case_alias,
    find_cases,
    scrub,
    write_aliases,
)
from gliograde.prediction.packing import PackedCase, pack_case, unpack_case
from gliograde.runinfo import fingerprint_named, write_run_info

__all__ = ["CaseInput", "CasePrediction", "PredictCfg", "case_alias", "check_channels", "failures_line", "find_cases",
           "grade_line", "grade_packed", "model_lines", "predict", "predict_case", "run_predict", "unlike_text",
           "warm_up", "write_summary"]

logger = logging.getLogger(__name__)

PREDICTION_JSON = "prediction.json"
OVERLAY_PNG = "overlay.png"
SUMMARY_CSV = "summary.csv"
TIMINGS_JSON = "timings.json"


def check_channels(bundle: Bundle, source: CaseSource) -> None:
    """Fail early, with the fix, when a case cannot give the sequences ``bundle`` was trained on
    (see :func:`gliograde.bundles.base.check_channels`)."""
    _check_ingest_channels(bundle.ingest, source)


def warm_up(bundle: Bundle, cam: bool = True) -> float:
    """:meth:`bundle.warm_up <gliograde.bundles.base.ModelKind.warm_up>`: one blank run; the milliseconds it took."""
    return bundle.warm_up(cam)


def predict_case(bundle: Bundle, source: CaseSource, *, cam: bool = True,
                 slice_index: int | None = None) -> CasePrediction:
    """:meth:`bundle.predict_case <gliograde.bundles.base.ModelKind.predict_case>` (``cam``: explain the grade)."""
    return bundle.predict_case(source, explain=cam, slice_index=slice_index)


#: The research-use line every picture carries.
RESEARCH_LINE = "Research use only, not for diagnosis: not a medical device"


def failures_line(n_bad: int, n_total: int, noun: str, where: str) -> str | None:
    """The one line ``predict`` and ``validate`` print (to stderr, then exit status 1) when any case or patient
    failed or was left out; None when none was.

    >>> failures_line(2, 5, "case", "status error in summary.csv")
    '2 of 5 case(s) failed (status error in summary.csv); exit status 1'
    >>> failures_line(0, 5, "case", "") is None
    True
    """
    return f"{n_bad} of {n_total} {noun}(s) failed ({where}); exit status 1" if n_bad else None


def unlike_text(pred: CasePrediction) -> str:
    """The words shown beside the grade when the case lies outside the training data ("" otherwise).

    >>> unlike_text(CasePrediction(case="c", unlike_training=True, feature_z_max=52.04))
    'UNLIKE TRAINING DATA (max |z| 52.0): read the grade with extra caution'
    """
    if not pred.unlike_training:
        return ""
    z = "" if pred.feature_z_max is None else f" (max |z| {pred.feature_z_max:.1f})"
    return f"UNLIKE TRAINING DATA{z}: read the grade with extra caution"


def grade_line(pred: CasePrediction, flag: str = "UNLIKE TRAINING") -> str:
    """The grade as every output shows it: grade, probabilities, slice, and ``flag`` when the case is unlike the
    training data (the console gives :func:`unlike_text`, the overlay the short flag, its long form below)."""
    probs = "  ".join(f"G{g} {p:.2f}" for g, p in pred.probabilities.items())
    return f"grade {pred.grade}   {probs}   slice {pred.slice_index}" + (f"   {flag}" if pred.unlike_training else "")


def model_lines(bundle: Bundle) -> list[str]:
    """What ``predict`` says once about the model before the grades: what it cannot recognise, whose grading."""
    caveat = grade_caveat(bundle.classes)
    return [*([f"note: a model of {caveat}"] if caveat else []),
            f"note: WHO grading: {labels_of(bundle.meta)['who_grading']}"]


def _overlay(bundle: Bundle, pred: CasePrediction, path: Path) -> Path | None:
    """Write overlay.png (the kind's picture, framed by :func:`gliograde.explain.annotate`: what the model cannot
    recognise, the unlike-training flag, the evidence colour bar, the research-use line); None when there is
    nothing to show."""
    panel = bundle.panel(pred, grade_line(pred))
    if panel is None:
        return None
    lines: list[tuple[str, tuple[int, int, int]]] = []
    if caveat := grade_caveat(bundle.classes):
        lines.append((f"model of {caveat}", (255, 200, 80)))
    if unlike := unlike_text(pred):
        lines.append((unlike, (255, 90, 90)))
    framed = annotate(panel, lines, footer=RESEARCH_LINE,
                      colourbar="relative evidence (LayerCAM)" if pred.heat is not None else None)
    with atomic_path(path) as tmp:
        Image.fromarray(framed).save(tmp, format="PNG")
    return path


def _write_case(bundle: Bundle, pred: CasePrediction, folder: Path) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    pred.overlay = _overlay(bundle, pred, folder / OVERLAY_PNG)
    lab = labels_of(bundle.meta)
    doc = {
        "case": pred.case, "status": pred.status, "grade": pred.grade,
        "probabilities": {str(g): p for g, p in pred.probabilities.items()},
        "unlike_training": pred.unlike_training,
        "max_abs_z": None if pred.feature_z_max is None else round(pred.feature_z_max, 2),
        "grades_possible": list(bundle.classes), "cannot_recognise": lab["cannot_recognise"],
        "grade_caveat": grade_caveat(bundle.classes), "who_grading": lab["who_grading"],
        "slice_index": pred.slice_index, "overlay": str(pred.overlay) if pred.overlay else None,
        "heat_in_roi": pred.heat_in_roi, "evidence": bundle.evidence(pred), "model": bundle.describe(),
        "bundle_fingerprint": bundle.fingerprint, "timings_ms": pred.timings_ms, "gliograde": __version__,
        "intended_use": "research only; not a medical device",
    }
    atomic_write_json(folder / PREDICTION_JSON, doc)


def predict(bundle: Bundle | Path | str, cases: Sequence[Path | str] | Sequence[CaseInput],
            out: Path | str | None = None, cam: bool = True, keep_ids: bool = False, *,
            slice_index: int | None = None, mask: Path | None = None, mask_heat: bool = True) -> list[CasePrediction]:
    """Grade every case; a bad case gives an ``error`` result and the others go on.

    The options as keywords; :func:`run_predict` takes them as one :class:`~gliograde.config.PredictCfg`.

    Args:
        bundle: a loaded bundle (:func:`gliograde.bundles.load_bundle`, any kind) or its folder.
        cases: CASE paths (see the module docstring) or already found :class:`CaseInput` s.
        out: folder for ``<case>/prediction.json``, ``<case>/overlay.png``, ``summary.csv`` and
            ``timings.json`` (one-time warm-up and per-stage medians); None = write nothing.
        cam: compute the evidence map (see :mod:`gliograde.explain`).
        keep_ids: name cases by their folder/file name instead of a hash.
        slice_index: fixed slice instead of the largest tumour cross-section.
        mask: mask for a single image/volume file case.
        mask_heat: show evidence inside the ROI only in overlay.png (``heat_in_roi`` is always unmasked).

    Returns:
        One :class:`CasePrediction` per case, in input order.
    """
    cfg = PredictCfg(explain=cam, slice_index=slice_index, mask_heat=mask_heat, keep_ids=keep_ids)
    return run_predict(bundle, cases, out, cfg, mask=mask)


def run_predict(bundle: Bundle | Path | str, cases: Sequence[Path | str] | Sequence[CaseInput],
                out: Path | str | None, cfg: PredictCfg, *, mask: Path | None = None,
                executor: ExecutorCfg | None = None, progress: bool = False) -> list[CasePrediction]:
    """Grade every case with the settings ``cfg``; a bad case gives an ``error`` result and the others go on.

    Args:
        bundle, cases, out, mask: as :func:`predict`.
        cfg: explain, slice, overlay, naming and thread settings; written to ``out/config.yaml`` as its
            ``predict:`` section, so ``gliograde predict ... --config out/config.yaml`` replays the run.
        executor: where the cases are graded: None or ``local`` = one after the other here; ``ray`` = one Ray
            task per case (:func:`grade_packed`; the bundle and each case's files travel through the object
            store), each case's outputs written here as its task finishes. The results are the same.
        progress: show a progress bar over the cases (Ray executor).

    Returns:
        One :class:`CasePrediction` per case, in input order.

    Raises:
        InputError: ``out`` is an input or inside one, cannot be written, or another command is writing it
            (checked before the bundle is loaded); the bundle cannot be loaded.
    """
    if out is None:
        return _run_predict(bundle, cases, None, cfg, mask, executor, progress)
    inputs = [bundle.path if isinstance(bundle, ModelKind) else Path(bundle), mask,
              *(c.path if isinstance(c, CaseInput) else Path(c) for c in cases)]
    with run_folder(Path(out), "predict", inputs):
        return _run_predict(bundle, cases, Path(out), cfg, mask, executor, progress)


def _run_predict(bundle: Bundle | Path | str, cases: Sequence[Path | str] | Sequence[CaseInput], out: Path | None,
                 cfg: PredictCfg, mask: Path | None, executor: ExecutorCfg | None,
                 progress: bool) -> list[CasePrediction]:
    if not isinstance(bundle, ModelKind):
        bundle = load_bundle(bundle)
    if cfg.threads is not None:
        _set_threads(cfg.threads)
    given: list[Path | str | CaseInput] = list(cases)
    found = ([c for c in given if isinstance(c, CaseInput)] if given and isinstance(given[0], CaseInput)
             else find_cases([Path(c) for c in given if not isinstance(c, CaseInput)], mask)[0])
    assign_aliases(found, cfg.keep_ids)
    folder = None if out is None else Path(out)
    if executor is not None and executor.name != "local":
        results, warm_ms = _grade_on_cluster(bundle, found, cfg, folder, executor, progress)
    else:
        results, warm_ms = _grade_here(bundle, found, cfg, folder)
    if folder is not None:
        write_summary(results, bundle.classes, folder / SUMMARY_CSV, caveat=grade_caveat(bundle.classes))
        _write_timings(results, warm_ms, folder / TIMINGS_JSON)
        _write_run(bundle, found, folder, cfg)
        if cfg.write_aliases:  # only on request: it names the inputs
            write_aliases(folder / ALIASES_CSV, [{"alias": ci.alias, "input": str(ci.path)} for ci in found])
    return results


def _finish(bundle: Bundle, res: CasePrediction, cfg: PredictCfg, out: Path | None) -> CasePrediction:
    """Set the display option and the unlike-training flag, and write the case's outputs (ok cases, when ``out``
    is given)."""
    res.display_masked = cfg.mask_heat
    if res.status == "ok":
        res.unlike_training = bundle.unlike_training(res)
    if out is not None and res.status == "ok":
        _write_case(bundle, res, out / res.case)
    return res


def _grade_here(bundle: Bundle, found: list[CaseInput], cfg: PredictCfg,
                out: Path | None) -> tuple[list[CasePrediction], float]:
    """The local executor: warm up once, then grade and write each case in turn."""
    warm_ms = warm_up(bundle, cfg.explain) if any(c.source is not None for c in found) else 0.0
    logger.info("warm-up %.0f ms (one-time; not in the per-case timings)", warm_ms)
    results = [_finish(bundle, _predict_one(bundle, ci, cfg.explain, cfg.keep_ids, cfg.slice_index), cfg, out)
               for ci in found]
    return results, warm_ms


@dataclass(frozen=True)
class _Shared:
    """What every case task needs, put into Ray's object store once: the packed bundle and the settings."""

    bundle: PackedBundle
    cfg: PredictCfg


class _PackedCases(Sequence[PackedCase]):
    """The cases to send, each read from disk only when the executor takes it (not all held at once)."""

    def __init__(self, cases: list[CaseInput]) -> None:
        self._cases = cases

    def __len__(self) -> int:
        return len(self._cases)

    @overload
    def __getitem__(self, i: int) -> PackedCase: ...
    @overload
    def __getitem__(self, i: slice) -> list[PackedCase]: ...
    def __getitem__(self, i: int | slice) -> PackedCase | list[PackedCase]:
        if isinstance(i, slice):
            return [pack_case(c) for c in self._cases[i]]
        return pack_case(self._cases[i])


def grade_packed(case: PackedCase, shared: _Shared) -> tuple[CasePrediction, float]:
    """One Ray task: grade a packed case with the shared bundle (loaded and warmed up once per worker process).

    Returns:
        (the case's result, as on the driver; the warm-up milliseconds when this task loaded the bundle, else 0).
    """
    cfg = shared.cfg
    if case.error is not None:
        msg = scrub(case.error, case.case, cfg.keep_ids)
        return CasePrediction(case=case.case.alias, status="error", message=msg), 0.0
    bundle, first = open_packed(shared.bundle)  # torch threads as on the driver (cfg.threads when given)
    warm_ms = warm_up(bundle, cfg.explain) if first else 0.0
    with tempfile.TemporaryDirectory(prefix="gliograde-case-") as tmp:
        res = _predict_one(bundle, unpack_case(case, Path(tmp)), cfg.explain, cfg.keep_ids, cfg.slice_index)
        res.message = res.message.replace(tmp, case.root) if res.message else res.message
    return res, warm_ms


def _grade_on_cluster(bundle: Bundle, found: list[CaseInput], cfg: PredictCfg, out: Path | None,
                      executor: ExecutorCfg, progress: bool) -> tuple[list[CasePrediction], float]:
    """The Ray executor: one task per readable case; cases that cannot be read are answered here."""
    todo = [i for i, ci in enumerate(found) if ci.source is not None and ci.error is None]
    sent = set(todo)
    results: dict[int, CasePrediction] = {
        i: _finish(bundle, _predict_one(bundle, ci, cfg.explain, cfg.keep_ids, cfg.slice_index), cfg, out)
        for i, ci in enumerate(found) if i not in sent}
    warm: list[float] = []

    def done(k: int, value: tuple[CasePrediction, float]) -> None:
        results[todo[k]] = _finish(bundle, value[0], cfg, out)
        warm.append(value[1])

    failures = run_tasks(grade_packed, _PackedCases([found[i] for i in todo]), executor, on_done=done,
                         desc="cases", progress=progress, shared=_Shared(pack_bundle(bundle), cfg))
    for f in failures:  # a task that failed every retry (a dead worker, an unexpected error): an error row
        ci = found[todo[f.index]]
        msg = scrub(f"failed on the cluster after {executor.retries} retries: {f.error}", ci, cfg.keep_ids)
        logger.warning("%s: %s", ci.alias, msg)
        results[todo[f.index]] = CasePrediction(case=ci.alias, status="error", message=msg)
    return [results[i] for i in range(len(found))], max(warm, default=0.0)


def _set_threads(n: int) -> None:
    import torch  # heavy: only to set the thread count

    torch.set_num_threads(n)


def _write_run(bundle: Bundle, found: list[CaseInput], out: Path, cfg: PredictCfg) -> None:
    """``config.yaml`` + ``run.json``: the bundle, the settings (``predict:``, which ``--config`` replays) and the
    sha256 of every case file under the case's alias (``case-<hash>/<k>`` unless ``keep_ids``), so no patient
    name or path reaches them."""
    named: dict[str, Path] = {}
    for ci in found:
        for k, f in enumerate(case_files(ci.source) if ci.source is not None else []):
            named[f"{ci.alias}/{f.name if cfg.keep_ids else f'{k:04d}'}"] = f
    config = {"bundle": str(bundle.path), "bundle_sha256": bundle.fingerprint,
              "cases": [ci.alias for ci in found], "predict": cfg}
    argv = None if cfg.keep_ids else "withheld: case paths can name patients (--keep-ids records them)"
    write_run_info(out, command="predict", config=config, seed=None, fingerprint=fingerprint_named(named), argv=argv)


def _write_timings(results: list[CasePrediction], warm_ms: float, path: Path) -> None:
    import torch  # heavy: only for the thread count recorded beside the timings
    ok = [r.timings_ms for r in results if r.status == "ok"]
    median = {k: round(float(np.median([t[k] for t in ok])), 2) for k in ok[0]} if ok else {}
    doc = {"warmup_ms": round(warm_ms, 2), "cases_ok": len(ok), "median_case_ms": median,
           "threads": torch.get_num_threads(), "note": "per-case timings exclude the one-time warm-up"}
    atomic_write_json(path, doc)


def _predict_one(bundle: Bundle, ci: CaseInput, cam: bool, keep_ids: bool,
                 slice_index: int | None) -> CasePrediction:
    if ci.error is not None or ci.source is None:
        msg = scrub(ci.error or "unrecognised case", ci, keep_ids)
        return CasePrediction(case=ci.alias, status="error", message=msg)
    try:
        res = predict_case(bundle, ci.source, cam=cam, slice_index=slice_index)
    except (GliogradeError, OSError, ValueError) as err:  # recorded per case, never skipped silently
        logger.warning("%s: %s", ci.alias, scrub(str(err), ci, keep_ids))
        return CasePrediction(case=ci.alias, status="error", message=scrub(str(err), ci, keep_ids))
    res.case = ci.alias
    logger.debug("%s: grade %s (p=%.3f), slice %s", res.case, res.grade, max(res.probabilities.values()),
                res.slice_index)
    return res


def write_summary(results: list[CasePrediction], classes: tuple[int, ...], path: Path, *,
                  caveat: str | None = None) -> Path:
    """One row per case: case, status, grade, p_<grade>..., unlike_training, max_abs_z, slice_index, heat_in_roi,
    overlay, message, and ``grade_caveat`` (what the model cannot recognise,
    :func:`~gliograde.bundles.meta.grade_caveat`; empty for a model of every grade)."""
    rows: list[dict[str, Any]] = []
    for r in results:
        row: dict[str, Any] = {"case": r.case, "status": r.status, "grade": r.grade}
        row.update({f"p_{g}": r.probabilities.get(g) for g in classes})
        row.update({"unlike_training": r.unlike_training,
                    "max_abs_z": None if r.feature_z_max is None else round(r.feature_z_max, 2),
                    "slice_index": r.slice_index, "heat_in_roi": r.heat_in_roi,
                    "overlay": str(r.overlay) if r.overlay else "", "message": r.message,
                    "grade_caveat": caveat or ""})
        rows.append(row)
    table = pd.DataFrame(rows)
    table["grade"] = table["grade"].astype("Int64")  # an error row's empty grade must not turn grades into floats
    with atomic_path(path) as tmp:
        table.to_csv(tmp, index=False)
    return path
