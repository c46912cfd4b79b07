"""The Python API: the study's five steps, one call each, also available as ``gliograde.<name>``.

Each call takes paths (``str`` or :class:`~pathlib.Path`) or config objects and returns a typed result;
the command line (``gliograde ingest|train|cv|predict|validate``) is a thin layer over the same calls.
Settings come from a preset, a YAML file or dict (a run's ``config.yaml`` replays it) and overrides, resolved
once by :func:`gliograde.settings.resolve` and checked before any data is read; or pass a resolved
:class:`~gliograde.config.RunConfig` itself.

A whole study on a tiny synthetic cohort (about 20 s on 2 CPU cores):

>>> import tempfile
>>> from pathlib import Path
>>> import gliograde
>>> from gliograde.synth.cohort import generate_cohort
>>> tmp = Path(tempfile.mkdtemp())
>>> _ = generate_cohort(tmp / "raw", (6, 6, 0), seed=0, n_slices=1, montage=False)
>>> cohort = gliograde.ingest(tmp / "raw", tmp / "cohort", preset="recommended", figures=False, progress=False)
>>> cohort.manifest["patient_id"].nunique()
12
>>> fast = {"cv": {"folds": 3, "n_boot": 50, "selection": {"inner_folds": 2, "classifiers": ["logreg"]}}}
>>> result = gliograde.cv(tmp / "cohort", tmp / "cv", overrides=fast, progress=False)
>>> sorted(result.metrics["configs"])
['radiomics']
>>> report = gliograde.train(tmp / "cohort", tmp / "model", overrides=fast, progress=False)
>>> report.bundle.name
'model'
>>> preds = gliograde.predict(tmp / "model", [tmp / "raw"], out=tmp / "pred", explain=False)
>>> len(preds), sorted({p.grade for p in preds} - {2, 3})
(12, [])
>>> val = gliograde.validate(tmp / "model", tmp / "raw", tmp / "val", progress=False)
>>> val.metrics["n"]
12
>>> import shutil; shutil.rmtree(tmp)
"""
from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from gliograde.bundles import Bundle, CasePrediction, ModelKind, TrainReport, get_kind, read_cv_metrics
from gliograde.config import IngestCfg, RunConfig
from gliograde.data.cohort import open_cohort
from gliograde.data.dataset import Cohort
from gliograde.data.ingest import IngestResult
from gliograde.data.ingest_run import run_ingest
from gliograde.experiment import CVResult, run_cv
from gliograde.prediction.run import predict as predict_cases
from gliograde.runinfo import to_plain
from gliograde.settings import resolve
from gliograde.validation.run import ValidateCfg, ValidationResult, run_validation

__all__ = ["CVResult", "IngestResult", "TrainReport", "ValidateCfg", "ValidationResult", "cv", "ingest", "predict",
           "run_config", "train", "validate"]

#: What a ``cfg`` argument may be: a resolved RunConfig, a YAML file, the same data as a dict, or None.
ConfigLike = RunConfig | Path | str | Mapping[str, Any] | None


def run_config(command: str, cfg: ConfigLike = None, *, preset: str | None = None,
               overrides: Mapping[str, Any] | None = None) -> RunConfig:
    """The :class:`RunConfig` a call runs with: ``cfg`` as is, or resolved (preset < ``cfg`` < ``overrides``).

    >>> run_config("cv").preset, run_config("cv", overrides={"cv": {"folds": 5}}).cv.folds
    ('recommended', 5)
    """
    if isinstance(cfg, RunConfig):
        if preset is None and not overrides:
            return cfg
        return resolve(command, preset=preset, config=to_plain(cfg), overrides=overrides)
    return resolve(command, preset=preset, config=Path(cfg) if isinstance(cfg, str) else cfg, overrides=overrides)


def ingest(data: Path | str, out: Path | str, cfg: ConfigLike | IngestCfg = None, *, preset: str | None = None,
           overrides: Mapping[str, Any] | None = None, figures: bool = True, progress: bool = True) -> IngestResult:
    """Ingest a cohort: check every patient, pick the representative slice(s), preprocess, write ``out``.

    Args:
        data: a cohort folder (slices, NIfTI, DICOM, with labels.csv) or a manifest CSV.
        out: the ingested cohort folder (``manifest.csv``, uint8 cache, ``config.yaml``, figures).
        cfg: an :class:`IngestCfg`, or settings (see :func:`run_config`; default preset: the study's).
        preset, overrides: see :func:`gliograde.settings.resolve` (overrides: ``{"ingest": {...}}``).
        figures: draw the example figures. progress: show a progress bar.

    Returns:
        :class:`~gliograde.data.ingest.IngestResult` (manifest, patients left out, problems, fingerprint).
    """
    ingest_cfg = cfg if isinstance(cfg, IngestCfg) else run_config("ingest", cfg, preset=preset,
                                                                  overrides=overrides).ingest
    return run_ingest(Path(data), Path(out), ingest_cfg, figures=figures, progress=progress)


def train(cohort: Path | str | Cohort, out: Path | str, cfg: ConfigLike = None, *, preset: str | None = None,
          overrides: Mapping[str, Any] | None = None, cv_run: Path | str | None = None,
          progress: bool = True) -> TrainReport:
    """Train the model of the resolved kind on a whole cohort and write its bundle to ``out``.

    Args:
        cohort: an ingested cohort folder, a raw one (ingested into ``out/cohort`` with ``cfg.ingest``) or a
            loaded :class:`~gliograde.data.dataset.Cohort`.
        out: the bundle folder (``model.json``, ``MODEL_CARD.md``, the model, ``config.yaml``, ``run.json``).
        cfg, preset, overrides: the settings (see :func:`run_config`; default preset ``recommended``).
        cv_run: a ``gliograde cv`` run folder whose ``metrics.json`` goes into the model card.
        progress: show progress bars.

    Returns:
        :class:`~gliograde.bundles.TrainReport`: the bundle folder and the summary lines.
    """
    run = run_config("train", cfg, preset=preset, overrides=overrides)
    opened = cohort if isinstance(cohort, Cohort) else open_cohort(Path(cohort), Path(out), run.ingest,
                                                                   progress=progress)
    metrics = read_cv_metrics(Path(cv_run) / "metrics.json") if cv_run is not None else None
    return get_kind(run.kind).train(opened, Path(out), run, cv_metrics=metrics, progress=progress)


def cv(cohort: Path | str | Cohort, out: Path | str, cfg: ConfigLike = None, *, preset: str | None = None,
       overrides: Mapping[str, Any] | None = None, progress: bool = True) -> CVResult:
    """Cross-validate every configuration of ``cfg.cv.configs`` on the same patient folds and write the report.

    Args:
        cohort: an ingested cohort folder, a raw one (ingested into ``out/cohort``) or a loaded Cohort.
        out: the run folder (``folds.json``, ``predictions.csv``, ``metrics.json``, ``report.html``, ...);
            running again into the same folder resumes.
        cfg, preset, overrides: the settings (see :func:`run_config`; default preset ``recommended``).
        progress: show progress bars.

    Returns:
        :class:`~gliograde.experiment.CVResult` (``metrics``, the printed ``table``, the ``report`` path).
    """
    run = run_config("cv", cfg, preset=preset, overrides=overrides)
    opened = cohort if isinstance(cohort, Cohort) else open_cohort(Path(cohort), Path(out), run.ingest,
                                                                   progress=progress)
    return run_cv(opened, Path(out), run, progress=progress)


def predict(bundle: Path | str | Bundle, cases: Sequence[Path | str], out: Path | str | None = None, *,
            explain: bool = True, keep_ids: bool = False, slice_index: int | None = None,
            mask: Path | str | None = None, mask_heat: bool = True) -> list[CasePrediction]:
    """Grade new cases with a trained bundle, with their evidence; a bad case gives an ``error`` result.

    Args:
        bundle: a bundle folder written by :func:`train` (any kind) or a loaded bundle.
        cases: slice images, NIfTI files, case folders (BraTS / DICOM / slices) or folders of cases.
        out: folder for ``<case>/prediction.json``, ``overlay.png`` and ``summary.csv``; None = write nothing.
        explain: compute the evidence (LayerCAM map or top radiomics features) and the overlay.
        keep_ids: name cases by folder/file name instead of ``case-<sha256>``.
        slice_index: a fixed slice instead of the largest tumour cross-section.
        mask: the mask of a single image/volume case. mask_heat: show evidence inside the ROI only.

    Returns:
        One :class:`~gliograde.bundles.CasePrediction` per case (``grade``, ``probabilities``, ...).
    """
    loaded = bundle if isinstance(bundle, ModelKind) else Path(bundle)
    return predict_cases(loaded, [Path(c) for c in cases], out=None if out is None else Path(out), cam=explain,
                         keep_ids=keep_ids, slice_index=slice_index, mask=None if mask is None else Path(mask),
                         mask_heat=mask_heat)


def validate(bundle: Path | str | Bundle, data: Path | str, out: Path | str, cfg: ValidateCfg | None = None, *,
             labels: Path | str | None = None, progress: bool = True) -> ValidationResult:
    """External validation: grade every patient of a labelled cohort the model never saw, with metrics.

    Args:
        bundle: a bundle folder (or a loaded bundle: its folder is used).
        data: a labelled cohort in any layout ingest reads, or one ingested with the model's settings.
        out: folder for ``predictions.csv``, ``metrics.json``, figures, ``report.html``.
        cfg: bootstrap, id and AUC settings (:class:`~gliograde.validation.run.ValidateCfg`).
        labels: a labels CSV used instead of the cohort's own. progress: show the ingest progress bar.

    Returns:
        :class:`~gliograde.validation.run.ValidationResult` (``table``, ``metrics``, files written).
    """
    folder = bundle.path if isinstance(bundle, ModelKind) else Path(bundle)
    return run_validation(folder, Path(data), Path(out), cfg or ValidateCfg(),
                          labels=None if labels is None else Path(labels), progress=progress)
