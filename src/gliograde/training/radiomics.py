"""Train the ``radiomics`` model on every patient of a cohort: what ``gliograde train`` does for ``recommended``.

The same model the preset's CV evaluates (:class:`gliograde.experiment.selected.SelectedConfiguration`): the ROI
features of ``SelectionCfg.features`` (PyRadiomics, semantic) of every channel, then the classifier and
feature count chosen by patient-level inner CV (:func:`gliograde.selection.select_candidate`) over the
preset's grid, now on all the training patients, and the chosen candidate refitted on all of them
(:func:`fit_selected`, shared with the CV). :func:`train_on_cohort` records the run; the bundle is written
by :meth:`gliograde.bundles.radiomics.RadiomicsBundle.train`.

    gliograde train ../shared/data/tcga-lgg --out runs/model        # preset recommended (default)

>>> import numpy as np
>>> from gliograde.config import SelectionCfg
>>> rng = np.random.default_rng(0); y = np.repeat([0, 1], 12); X = rng.normal(size=(24, 8)); X[:, 0] += 3 * y
>>> pids = np.array([f"p{i}" for i in range(24)])
>>> model, res = fit_selected(X, y, pids, SelectionCfg(select_k=(2,), inner_folds=3), n_radiomics=8)
>>> res.chosen.select_k, model.predict_proba(X).shape
(2, (24, 2))
"""
from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import numpy.typing as npt

from gliograde.baselines.feature_sets import cohort_channels, feature_matrix
from gliograde.baselines.features import resolve_backend
from gliograde.baselines.fusion import FusionClassifier
from gliograde.baselines.native import PARAMS_FILE, cohort_rows, settings_for
from gliograde.config import IngestCfg, RunConfig, SelectionCfg
from gliograde.data.cohort import read_ingest_cfg
from gliograde.data.dataset import MANIFEST
from gliograde.fsio import atomic_write_bytes
from gliograde.runinfo import fingerprint_files, names_withheld, write_run_info
from gliograde.selection import Candidate, SelectionResult, grid, select_candidate
from gliograde.splits import group_keys

if TYPE_CHECKING:
    from sklearn.pipeline import Pipeline

    from gliograde.data.dataset import Cohort

logger = logging.getLogger(__name__)


def fit_selected(X: npt.NDArray[np.float64], y: npt.ArrayLike, patient_ids: npt.ArrayLike, sel: SelectionCfg, *,
                 n_radiomics: int, cnn_components: int = 0, seed: int = 0,
                 groups: npt.ArrayLike | None = None) -> tuple[FusionClassifier, SelectionResult]:
    """Choose (classifier, k) by inner CV on the rows given, then refit the chosen one on all of them.

    Args:
        X: (n, F) float64 features of training rows only ([radiomics | CNN] columns).
        y: (n,) class indices; patient_ids: (n,) patient of each row (inner splits group by patient).
        sel: grid (classifiers x select_k) and method (``inner_cv``, ``inner_split``, ``none``).
        n_radiomics: leading radiomics columns; cnn_components: PCA components of the rest (0: none).
        seed: seed of the inner splits and of every stochastic estimator part.
        groups: (n,) the person of each row (None: each patient alone), kept on one side of every inner split
            (those of the selection and the classifier's own, e.g. an SVM's Platt scaling).

    Returns:
        (fitted :class:`~gliograde.baselines.fusion.FusionClassifier`, :class:`~gliograde.selection.SelectionResult`).
    """
    def make(cand: Candidate) -> FusionClassifier:
        return FusionClassifier(cand.classifier, cand.select_k, n_radiomics, cnn_components, random_state=seed)

    res = select_candidate(make, X, y, patient_ids, grid(sel.classifiers, sel.select_k), method=sel.method,
                           inner_folds=sel.inner_folds, seed=seed, groups=groups)
    return make(res.chosen).fit(X, np.asarray(y), groups=group_keys(patient_ids, groups)), res


@dataclass(frozen=True)
class RadiomicsFit:
    """A radiomics model trained on a whole cohort.

    Attributes:
        pipeline: fitted sklearn Pipeline, (n, F) float64 features -> (n, K) probabilities (class indices).
        feature_names: the F feature names in column order.
        classes: WHO grades of the probability columns.
        selection: what the inner CV chose and every candidate's inner AUC.
        backend: feature backend used (``pyradiomics`` or ``skimage``).
        n_rows, n_patients, rows_per_grade: the training data; seed: the seed used.
        seconds: wall time of ``features`` and ``selection_and_fit``.
    """

    pipeline: Pipeline
    feature_names: tuple[str, ...]
    classes: tuple[int, ...]
    selection: SelectionResult
    backend: str
    n_rows: int
    n_patients: int
    rows_per_grade: dict[str, int]
    seed: int
    seconds: dict[str, float] = field(default_factory=dict)


def fit_radiomics(cohort: Cohort, sel: SelectionCfg, seed: int = 0) -> RadiomicsFit:
    """Features of every row, inner-CV selection on all patients, final fit.

    Args:
        cohort: ingested cohort; images (N, C, H, W) uint8, masks (N, H, W) bool, labels (N,) class indices.
        sel: the selection grid and method (the preset's ``cv.selection``).
        seed: seed of the inner splits and estimators.

    Raises:
        InputError: fewer than 2 patients of a grade for the inner CV, or an empty ROI.
    """
    t0 = time.perf_counter()
    native = None
    if "native" in sel.features:  # PyRadiomics on the original files (every row's case, read again)
        ingest = read_ingest_cfg(cohort.root)
        native = cohort_rows(cohort, ingest, settings_for(sel, ingest.preprocess))
    X, names = feature_matrix(cohort.images, cohort.masks, cohort.manifest["roi_area_px"].to_numpy(), sel.features,
                              bin_width=sel.bin_width, channels=cohort_channels(cohort.manifest), native_rows=native)
    t1 = time.perf_counter()
    model, res = fit_selected(X, cohort.labels, cohort.patient_ids, sel, n_radiomics=X.shape[1], seed=seed,
                              groups=cohort.groups)
    t2 = time.perf_counter()
    logger.info("radiomics: %d rows x %d features; chose %s (%s)", X.shape[0], X.shape[1], res.chosen.label, res.method)
    return RadiomicsFit(
        pipeline=model.model_, feature_names=tuple(names), classes=tuple(int(c) for c in cohort.classes),
        selection=res, backend=resolve_backend("auto"), n_rows=len(cohort),
        n_patients=len(set(cohort.patient_ids.tolist())),
        rows_per_grade={str(g): int((cohort.labels == i).sum()) for i, g in enumerate(cohort.classes)},
        seed=seed, seconds={"features": t1 - t0, "selection_and_fit": t2 - t1})


def train_on_cohort(cohort: Cohort, out: Path, ingest_cfg: IngestCfg, sel: SelectionCfg, *,
                    seed: int = 0, run: RunConfig | None = None) -> RadiomicsFit:
    """:func:`fit_radiomics`, recorded in ``out``: ``config.yaml`` and ``run.json`` with the sha256 over every
    training input file (the per-file names withheld: they can name patients; the bundle files are written by
    :class:`gliograde.bundles.radiomics.RadiomicsBundle`).
    ``run``: the whole resolved settings, written to ``config.yaml`` so ``--config`` replays the run.
    """
    fit = fit_radiomics(cohort, sel, seed)
    if "native" in sel.features and sel.radiomics_params:  # predict reads the bundle's copy, not the user's file
        Path(out).mkdir(parents=True, exist_ok=True)
        atomic_write_bytes(Path(out) / PARAMS_FILE, Path(sel.radiomics_params).read_bytes())
    m = cohort.manifest
    files = [cohort.root / MANIFEST] + [cohort.root / p for p in (*m["cache_path"], *m["cache_mask_path"])]
    settings = run.sections() if run is not None else {"kind": "radiomics", "ingest": ingest_cfg, "selection": sel}
    config = {**settings, "classes": list(fit.classes), "chosen": fit.selection.chosen.label}
    write_run_info(Path(out), command="train", config=config, seed=seed,
                   fingerprint=names_withheld(fingerprint_files(files, root=cohort.root)))  # names: PHI
    return fit
