"""The run's feature store: each label-free feature family of the cohort computed once, served to every unit.

Radiomics, semantic and enhancement features (inside the ROI) and a frozen CNN's penultimate features
depend on the images only, never on a label or a fold, so one run computes each once for every row of
the cohort and caches it in ``RUN/work/<name>.npz``; every (configuration, fold) unit then takes its
training and test rows from the same matrix. A rerun (resume) reads the cache only when the record stored with
it (cohort fingerprint, gliograde version, the matrix's name) matches; a cache of another cohort or
preprocessing, or a damaged file (a full disk, a kill), is recomputed, never fatal. Caches are written atomically.

Cache files: ``radiomics_bw<w>.npz`` (PyRadiomics at bin width w), ``semantic.npz``, ``enhancement.npz``,
``native.npz`` (PyRadiomics on each case's original files: :mod:`gliograde.baselines.native`; its record also
holds the spacing, bin width, scaling and params file it was computed with), ``cnn_<model>_<size>.npz``.
"""
from __future__ import annotations

import json
import logging
import zipfile
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from gliograde.baselines.feature_sets import check_families, cohort_channels, family_matrix
from gliograde.baselines.features import DEFAULT_BIN_WIDTH
from gliograde.baselines.fusion import cnn_features
from gliograde.baselines.native import NativeSettings, cohort_rows, rows_matrix, settings_for, settings_record
from gliograde.config import SelectionCfg, TrainCfg
from gliograde.data.cohort import read_ingest_cfg
from gliograde.data.dataset import MANIFEST, Cohort
from gliograde.fsio import atomic_path
from gliograde.runinfo import code_version, fingerprint_files

logger = logging.getLogger(__name__)
Matrix = npt.NDArray[np.float64]


class FeatureStore:
    """Feature matrices (N, F) float64 of every row of ``cohort``, computed at most once per run.

    Args:
        cohort: the run's cohort; row i of every matrix is cohort row i.
        folder: where the matrices are cached (``RUN/work``).

    >>> # store = FeatureStore(cohort, Path("runs/cv/work"))
    >>> # X = store.roi(("radiomics", "semantic"), bin_width=8); X[train_rows], X[test_rows]
    """

    def __init__(self, cohort: Cohort, folder: Path) -> None:
        self.cohort = cohort
        self.folder = Path(folder)
        self._memo: dict[str, Matrix] = {}
        self._fingerprint: dict[str, Any] | None = None

    @property
    def fingerprint(self) -> dict[str, Any]:
        """The cohort's input fingerprint (:func:`gliograde.runinfo.fingerprint_files` of its manifest and every
        cached crop and mask), computed once: what a cached matrix or a finished CV unit was computed from."""
        if self._fingerprint is None:
            c = self.cohort
            files = [c.root / MANIFEST] + [c.root / p for p in (*c.manifest["cache_path"],
                                                                 *c.manifest["cache_mask_path"])]
            self._fingerprint = fingerprint_files(files, root=c.root)
        return self._fingerprint

    def family(self, name: str, *, bin_width: float = DEFAULT_BIN_WIDTH,
               selection: SelectionCfg | None = None) -> Matrix:
        """One family of :data:`gliograde.baselines.feature_sets.FAMILIES`; ``bin_width`` is radiomics'; the
        ``native`` family reads ``selection``'s spacing, params file and bin width."""
        c = self.cohort
        if name == "native":
            settings = native_settings(c, selection or SelectionCfg(bin_width=bin_width))
            return self._cached("native", lambda: native_matrix(c, settings)[0], **settings_record(settings))
        key = f"radiomics_bw{bin_width:g}" if name == "radiomics" else name
        return self._cached(key, lambda: family_matrix(
            name, c.images, c.masks, c.manifest["roi_area_px"].to_numpy(), bin_width=bin_width,
            channels=cohort_channels(c.manifest))[0])

    def roi(self, families: Sequence[str], *, bin_width: float = DEFAULT_BIN_WIDTH,
            selection: SelectionCfg | None = None) -> Matrix:
        """The families side by side, in the order given (the columns of ``gliograde train --kind radiomics``)."""
        return np.hstack([self.family(f, bin_width=bin_width, selection=selection) for f in check_families(families)])

    def cnn(self, train: TrainCfg) -> Matrix:
        """(N, D) frozen backbone features of ``train.model`` (its weights, at ``train.image_size``)."""
        key = f"cnn_{train.model}_{train.image_size or 'default'}"
        return self._cached(key, lambda: cnn_features(
            self.cohort.images, train.model, train.weights, train.image_size, device=train.device),
            weights=train.weights)  # the starting weights change the features, not the file name

    def _cached(self, key: str, compute: Callable[[], npt.ArrayLike], **detail: str) -> Matrix:
        memo = json.dumps([key, detail], sort_keys=True)
        if memo in self._memo:
            return self._memo[memo]
        path, n = self.folder / f"{key}.npz", len(self.cohort)
        record = json.dumps({"matrix": key, **detail, "cohort_sha256": self.fingerprint["sha256"], "rows": n,
                             "gliograde": code_version()}, sort_keys=True)
        X = self._read(path, record) if path.is_file() else None
        if X is None:
            logger.info("computing %s for %d rows", key, n)
            X = np.asarray(compute(), dtype=np.float64)
            with atomic_path(path) as tmp:
                np.savez(tmp, X=X, record=np.array(record))
        self._memo[memo] = X
        return X

    @staticmethod
    def _read(path: Path, record: str) -> Matrix | None:
        """The cached matrix, or None (recompute) when it was computed from something else or is unreadable."""
        try:
            with np.load(path, allow_pickle=False) as data:
                if "record" not in data.files or str(data["record"]) != record:
                    logger.info("%s: computed from another cohort, settings or version; recomputing", path)
                    return None
                return np.asarray(data["X"], dtype=np.float64)
        except (OSError, ValueError, EOFError, KeyError, zipfile.BadZipFile) as err:
            logger.warning("%s: damaged cache (%s); recomputing it", path, type(err).__name__)
            return None


def native_settings(cohort: Cohort, sel: SelectionCfg) -> NativeSettings:
    """The native family's settings for ``cohort``: ``sel``'s spacing, params and bin width, the scaling ingest used."""
    return settings_for(sel, read_ingest_cfg(cohort.root).preprocess)


def native_matrix(cohort: Cohort, settings: NativeSettings) -> tuple[Matrix, list[str]]:
    """(N, F) native features of every cohort row and their names (:func:`gliograde.baselines.native.cohort_rows`)."""
    return rows_matrix(cohort_rows(cohort, read_ingest_cfg(cohort.root), settings))
