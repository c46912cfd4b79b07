"""The Python API: the study's steps, one call each, also available as ``gliograde.<name>`` (:func:`augment` as
``gliograde.show_augmentation``: ``gliograde.augment`` is the augmentation package).

Each call takes paths (``str`` or :class:`~pathlib.Path`) or config objects and returns a typed result;
the command line (``gliograde ingest|augment|train|cv|predict|validate``) is a thin layer over the same calls.
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
>>> # its own training patients: refused unless allow_overlap, and then flagged as not an external validation
>>> val = gliograde.validate(tmp / "model", tmp / "raw", tmp / "val", {"validate": {"allow_overlap": True}},
...                          progress=False)
>>> val.metrics["n"], val.metrics["training_overlap"]["n_shared"]
(12, 12)
>>> shown = gliograde.show_augmentation(tmp / "cohort", tmp / "aug", overrides={"augment": {"subset": 3}})
>>> len(shown.transforms), shown.montage.name
(4, 'montage.png')
>>> import shutil; shutil.rmtree(tmp)
"""
from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

from gliograde.augment.show import ShowResult, show_transforms
from gliograde.bundles import (
    Bundle,
    CasePrediction,
    ModelKind,
    TrainReport,
    get_kind,
)
from gliograde.bundles.cv_run import checked_cv_metrics, precheck
from gliograde.config import ExecutorCfg, IngestCfg, PredictCfg, RunConfig, ValidateCfg
from gliograde.data.cohort import bundle_cohort_dir, open_cohort
from gliograde.data.dataset import Cohort
from gliograde.data.ingest import IngestResult
from gliograde.data.ingest_run import run_ingest
from gliograde.experiment import CVResult, run_cv
from gliograde.fsio import run_folder
from gliograde.prediction.run import run_predict
from gliograde.runinfo import to_plain
from gliograde.settings import resolve, sections
from gliograde.validation.run import ValidationResult, run_validation

__all__ = ["CVResult", "IngestResult", "PredictCfg", "ShowResult", "TrainReport", "ValidateCfg", "ValidationResult",
           "augment", "cv", "ingest", "predict", "run_config", "train", "validate"]

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
        plain = to_plain(cfg)
        return resolve(command, preset=preset, config={k: plain[k] for k in sections(command)}, overrides=overrides)
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
          cite_leaky_cv: bool = False, allow_random_frozen: bool = False, progress: bool = True) -> TrainReport:
    """Train the model of the resolved kind on a whole cohort and write its bundle to ``out``.

    Args:
        cohort: an ingested cohort folder, a raw one (ingested with ``cfg.ingest`` into ``<out>.cohort`` beside
            the bundle, never inside it: :func:`~gliograde.data.cohort.bundle_cohort_dir`) or a loaded
            :class:`~gliograde.data.dataset.Cohort`.
        out: the bundle folder (``model.json``, ``MODEL_CARD.md``, the model, ``config.yaml``, ``run.json``).
        cfg, preset, overrides: the settings (see :func:`run_config`; default preset ``recommended``).
        cv_run: a ``gliograde cv`` run folder whose ``metrics.json`` goes into the model card, once checked to be of
            this cohort, grades and model settings (:func:`~gliograde.bundles.cv_run.checked_cv_metrics`; a
            paper-protocol run is refused).
        cite_leaky_cv: keep a paper-protocol ``cv_run`` instead, labelled leaky (``cv_metrics_leaky``), never as
            the model's metrics.
        allow_random_frozen: train a frozen backbone with random weights (refused otherwise, before any work).
        progress: show progress bars.

    Returns:
        :class:`~gliograde.bundles.TrainReport`: the bundle folder and the summary lines.
    """
    run = run_config("train", cfg, preset=preset, overrides=overrides)
    kind = get_kind(run.kind)
    kind.check_settings(run, allow_random_frozen=allow_random_frozen)  # before any work
    if cv_run is not None:
        precheck(Path(cv_run), cite_leaky=cite_leaky_cv)  # unreadable or leaky: refused before any work
    with run_folder(Path(out), "train", inputs=_inputs(cohort, cv_run)):  # checked and locked before any work
        opened = cohort if isinstance(cohort, Cohort) else open_cohort(Path(cohort), Path(out), run.ingest,
                                                                       progress=progress,
                                                                       into=bundle_cohort_dir(Path(out)),
                                                                       subset=run.subset)
        metrics = None if cv_run is None else checked_cv_metrics(Path(cv_run), opened, run, cite_leaky=cite_leaky_cv)
        return kind.train(opened, Path(out), run, cv_metrics=metrics, progress=progress)


def _inputs(cohort: Path | str | Cohort, *more: Path | str | None) -> list[Path | str | None]:
    """What a command reads, for :func:`gliograde.fsio.run_folder`'s check that ``--out`` is none of it."""
    return [cohort.root if isinstance(cohort, Cohort) else cohort, *more]


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
    with run_folder(Path(out), "cv", inputs=_inputs(cohort)):  # checked and locked before any work
        opened = cohort if isinstance(cohort, Cohort) else open_cohort(Path(cohort), Path(out), run.ingest,
                                                                       progress=progress, subset=run.subset)
        return run_cv(opened, Path(out), run, progress=progress)


def augment(source: Path | str, out: Path | str, cfg: ConfigLike = None, *, preset: str | None = None,
            overrides: Mapping[str, Any] | None = None, patient: str | None = None, mask: Path | str | None = None,
            progress: bool = True) -> ShowResult:
    """Show the study's fixed augmentation on one case: ``montage.png`` and the table of every transform.

    Args:
        source: a cohort folder (raw, ingested into ``out/cohort`` with ``cfg.ingest``, or ingested), a manifest
            CSV, or one 8-bit image file (PNG).
        out: folder for ``montage.png``, ``transforms.csv``, ``transforms.json``, ``config.yaml``, ``run.json``.
        cfg, preset, overrides: the settings (see :func:`run_config`; default preset: the study's, ``paper``);
            ``cfg.augment`` chooses the transforms.
        patient: the patient of a cohort to show (default: the manifest's first row).
        mask: the ROI mask of a single image file. progress: show the ingest progress bar.

    Returns:
        :class:`~gliograde.augment.show.ShowResult` (case, transforms, files written).
    """
    run = run_config("augment", cfg, preset=preset, overrides=overrides)
    with run_folder(Path(out), "augment", inputs=[source, mask]):  # checked and locked before any work
        return show_transforms(Path(source), Path(out), run, patient=patient,
                               mask=None if mask is None else Path(mask), progress=progress)


def predict(bundle: Path | str | Bundle, cases: Sequence[Path | str], out: Path | str | None = None,
            cfg: PredictCfg | ConfigLike = None, *, explain: bool | None = None, keep_ids: bool | None = None,
            slice_index: int | None = None, mask: Path | str | None = None, mask_heat: bool | None = None,
            threads: int | None = None, write_aliases: bool | None = None, executor: ExecutorCfg | None = None,
            progress: bool = False) -> list[CasePrediction]:
    """Grade new cases with a trained bundle, with their evidence; a bad case gives an ``error`` result.

    Args:
        bundle: a bundle folder written by :func:`train` (any kind) or a loaded bundle.
        cases: slice images, NIfTI files, case folders (BraTS / DICOM / slices) or folders of cases.
        out: folder for ``<case>/prediction.json``, ``overlay.png``, ``summary.csv``, ``config.yaml``;
            None = write nothing.
        cfg: a :class:`~gliograde.config.PredictCfg`, or settings whose ``predict`` section is used (a
            RunConfig, a YAML file such as a run's ``config.yaml``, a dict; see :func:`run_config`).
        explain: compute the evidence (LayerCAM map or top radiomics features) and the overlay.
        keep_ids: name cases by folder/file name instead of ``case-<sha256>``.
        slice_index: a fixed slice instead of the largest tumour cross-section.
        mask: the mask of a single image/volume case. mask_heat: show evidence inside the ROI only.
        threads: CPU threads torch uses (default: leave torch's setting).
        write_aliases: also write ``out/aliases.csv`` (case alias -> input path; it names patients' files).
            explain, keep_ids, slice_index, mask_heat, threads, write_aliases: None = ``cfg``'s value (default: see
            PredictCfg).
        executor: where the cases are graded (``ExecutorCfg(name="ray")``: Ray tasks, see docs/distributed.md);
            None = ``cfg``'s ``executor`` section when ``cfg`` is settings, else here, one after the other.
        progress: show a progress bar over the cases (Ray executor).

    Returns:
        One :class:`~gliograde.bundles.CasePrediction` per case (``grade``, ``probabilities``, ...).
    """
    given: dict[str, Any] = {k: v for k, v in {"explain": explain, "keep_ids": keep_ids, "slice_index": slice_index,
                               "mask_heat": mask_heat, "threads": threads,
                               "write_aliases": write_aliases}.items() if v is not None}
    if isinstance(cfg, PredictCfg):
        settings = replace(cfg, **given)
    else:
        run = run_config("predict", cfg, overrides={"predict": given})
        settings, executor = run.predict, executor or run.executor
    loaded = bundle if isinstance(bundle, ModelKind) else Path(bundle)
    return run_predict(loaded, [Path(c) for c in cases], None if out is None else Path(out), settings,
                       mask=None if mask is None else Path(mask), executor=executor, progress=progress)


def validate(bundle: Path | str | Bundle, data: Path | str, out: Path | str, cfg: ValidateCfg | ConfigLike = None, *,
             labels: Path | str | None = None, overrides: Mapping[str, Any] | None = None,
             progress: bool = True, executor: ExecutorCfg | None = None) -> ValidationResult:
    """External validation: grade every patient of a labelled cohort the model never saw, with metrics.

    Args:
        bundle: a bundle folder (or a loaded bundle: its folder is used).
        data: a labelled cohort in any layout ingest reads, or one ingested with the model's settings.
        out: folder for ``predictions.csv``, ``metrics.json``, figures, ``report.html``, ``config.yaml``.
        cfg: bootstrap, id and AUC settings: a :class:`~gliograde.config.ValidateCfg`, or settings whose
            ``validate`` section is used (a RunConfig, a YAML file such as a run's ``config.yaml``, a dict).
        labels: a labels CSV used instead of the cohort's own.
        overrides: ``{"validate": {...}}`` laid over ``cfg`` (checked as ``cfg`` is).
        progress: show the ingest progress bar.
        executor: where the patients are graded (``ExecutorCfg(name="ray")``: Ray tasks; ingest runs here);
            None = the resolved settings' ``executor`` section.

    Returns:
        :class:`~gliograde.validation.run.ValidationResult` (``table``, ``metrics``, files written).
    """
    if isinstance(cfg, ValidateCfg):
        cfg = {"validate": cfg}
    run = run_config("validate", cfg, overrides=overrides)
    folder = bundle.path if isinstance(bundle, ModelKind) else Path(bundle)
    return run_validation(folder, Path(data), Path(out), run.validate, labels=None if labels is None else Path(labels),
                          progress=progress, executor=executor or run.executor)
