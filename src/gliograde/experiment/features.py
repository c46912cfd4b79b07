"""The run's feature store: each label-free feature family of the cohort computed once, served to every unit.

Radiomics, semantic and enhancement features (inside the ROI) and a frozen CNN's penultimate features
depend on the images only, never on a label or a fold, so one run computes each once for every row of
the cohort and caches it in ``RUN/work/<name>.npz``; every (configuration, fold) unit then takes its
training and test rows from the same matrix. A rerun (resume) reads the cache.

Cache files: ``radiomics_bw<w>.npz`` (PyRadiomics at bin width w), ``semantic.npz``, ``enhancement.npz``,
``cnn_<model>_<size>.npz``.
"""
from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
import numpy.typing as npt

from gliograde.baselines.feature_sets import check_families, cohort_channels, family_matrix
from gliograde.baselines.features import DEFAULT_BIN_WIDTH
from gliograde.baselines.fusion import cnn_features
from gliograde.config import TrainCfg
from gliograde.data.dataset import Cohort

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

    def family(self, name: str, *, bin_width: float = DEFAULT_BIN_WIDTH) -> Matrix:
        """One family of :data:`gliograde.baselines.feature_sets.FAMILIES`; ``bin_width`` is radiomics'."""
        c = self.cohort
        key = f"radiomics_bw{bin_width:g}" if name == "radiomics" else name
        return self._cached(key, lambda: family_matrix(
            name, c.images, c.masks, c.manifest["roi_area_px"].to_numpy(), bin_width=bin_width,
            channels=cohort_channels(c.manifest))[0])

    def roi(self, families: Sequence[str], *, bin_width: float = DEFAULT_BIN_WIDTH) -> Matrix:
        """The families side by side, in the order given (the columns of ``gliograde train --kind radiomics``)."""
        return np.hstack([self.family(f, bin_width=bin_width) for f in check_families(families)])

    def cnn(self, train: TrainCfg) -> Matrix:
        """(N, D) frozen backbone features of ``train.model`` (its weights, at ``train.image_size``)."""
        key = f"cnn_{train.model}_{train.image_size or 'default'}"
        return self._cached(key, lambda: cnn_features(
            self.cohort.images, train.model, train.weights, train.image_size, device=train.device))

    def _cached(self, key: str, compute: Callable[[], npt.ArrayLike]) -> Matrix:
        if key in self._memo:
            return self._memo[key]
        path, n = self.folder / f"{key}.npz", len(self.cohort)
        X: Matrix | None = None
        if path.is_file():
            with np.load(path, allow_pickle=False) as data:
                X = np.asarray(data["X"], dtype=np.float64)
            if X.shape[0] != n:  # a cache of another cohort: recompute
                X = None
        if X is None:
            logger.info("computing %s for %d rows", key, n)
            X = np.asarray(compute(), dtype=np.float64)
            path.parent.mkdir(parents=True, exist_ok=True)
            np.savez(path, X=X)
        self._memo[key] = X
        return X
