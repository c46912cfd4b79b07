"""Radiomics + CNN fusion: handcrafted ROI features joined with a CNN's penultimate features.

Both feature sets are computed per image without looking at any label (PyRadiomics inside the ROI;
the frozen ImageNet backbone's pooled features, i.e. the head's input), so they can be computed once
per run. Everything that learns sits in one scikit-learn Pipeline fitted on the training rows only:
the CNN block is standardised and reduced by PCA, joined to the radiomics block, then imputed,
standardised, reduced to the k best features and classified (:func:`gliograde.baselines.make_classifier`).

>>> import numpy as np
>>> rng = np.random.default_rng(0); y = np.repeat([0, 1], 15)
>>> X = np.c_[rng.normal(size=(30, 4)) + y[:, None], rng.normal(size=(30, 20))]
>>> FusionClassifier("logreg", n_radiomics=4, cnn_components=3).fit(X, y).predict_proba(X).shape
(30, 2)
"""
from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any, cast

import numpy as np
import numpy.typing as npt
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.compose import ColumnTransformer
from sklearn.decomposition import PCA
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.utils.validation import check_is_fitted

from gliograde.baselines.classical import degenerate_anova_ok, make_classifier
from gliograde.errors import InputError

if TYPE_CHECKING:
    from gliograde.config import ClassifierKind

logger = logging.getLogger(__name__)


class FusionClassifier(ClassifierMixin, BaseEstimator):  # type: ignore[misc]  # sklearn is untyped: Any bases
    """Classifier on ``[radiomics | CNN]`` feature rows; the CNN block is reduced by PCA inside ``fit``.

    Args:
        classifier: kind for :func:`~gliograde.baselines.make_classifier` (``logreg``, ``rbf_svm``, ...).
        select_k: keep the k best joined features by ANOVA F (None: all).
        n_radiomics: the first ``n_radiomics`` columns are radiomics; the rest are CNN features.
        cnn_components: PCA components kept of the CNN block (capped by the training rows); 0 drops
            the CNN block (radiomics only).
        random_state: seed of every stochastic part.

    Attributes (after fit): ``model_`` (Pipeline), ``classes_``, ``n_features_in_``.
    """

    def __init__(self, classifier: str = "logreg", select_k: int | None = None, n_radiomics: int = 0,
                 cnn_components: int = 8, random_state: int = 0) -> None:
        self.classifier = classifier
        self.select_k = select_k
        self.n_radiomics = n_radiomics
        self.cnn_components = cnn_components
        self.random_state = random_state

    def _pipeline(self, n_rows: int, n_cols: int, y: npt.NDArray[Any], groups: npt.ArrayLike | None) -> Pipeline:
        rad = list(range(self.n_radiomics))
        cnn = list(range(self.n_radiomics, n_cols))
        blocks: list[tuple[str, Any, list[int]]] = [("radiomics", "passthrough", rad)] if rad else []
        n_comp = min(self.cnn_components, max(n_rows - 1, 1), len(cnn))
        if cnn and n_comp > 0:
            pca = Pipeline([("scale", StandardScaler()), ("pca", PCA(n_comp, random_state=self.random_state))])
            blocks.append(("cnn", pca, cnn))
        if not blocks:
            raise InputError("fusion has no features: n_radiomics is 0 and the CNN block is empty or dropped")
        n_out = len(rad) + (n_comp if cnn else 0)
        k = None if self.select_k is None or self.select_k >= n_out else self.select_k
        # `classifier` stays a plain str (sklearn params, YAML grids); make_classifier rejects an unknown kind.
        kind = cast("ClassifierKind", self.classifier)
        return Pipeline([("fuse", ColumnTransformer(blocks)),
                         ("model", make_classifier(kind, self.random_state, select_k=k, y=y, groups=groups))])

    def fit(self, X: npt.NDArray[np.floating], y: npt.ArrayLike,
            groups: npt.ArrayLike | None = None) -> FusionClassifier:
        """Fit the PCA, scaling, selection and classifier on (n, F) rows; returns self.

        ``groups``: (n,) unit of each row (patient, or the person's group); the classifier's inner CVs keep a
        unit on one side (:func:`gliograde.baselines.classical.inner_cv`). None: each row alone.
        """
        X = np.asarray(X, dtype=np.float64)
        if X.ndim != 2 or X.shape[1] < self.n_radiomics:
            raise InputError(f"fusion expects (n, F >= n_radiomics={self.n_radiomics}) features, got {X.shape}")
        y_arr = np.asarray(y)
        with degenerate_anova_ok():  # F = inf / nan on tiny training sets (classical.degenerate_anova_ok)
            self.model_ = self._pipeline(X.shape[0], X.shape[1], y_arr, groups).fit(X, y_arr)
        self.classes_ = self.model_.classes_
        self.n_features_in_ = X.shape[1]
        return self

    def predict_proba(self, X: npt.NDArray[np.floating]) -> npt.NDArray[np.float64]:
        """(n, n_classes) float64 probabilities, columns ordered as ``classes_``."""
        check_is_fitted(self, "model_")
        X = np.asarray(X, dtype=np.float64)
        if X.shape[1] != self.n_features_in_:
            raise InputError(f"got {X.shape[1]} features, the model was fitted on {self.n_features_in_}")
        return np.asarray(self.model_.predict_proba(X), dtype=np.float64)

    def predict(self, X: npt.NDArray[np.floating]) -> npt.NDArray[Any]:
        """(n,) predicted labels."""
        return np.asarray(self.classes_[np.argmax(self.predict_proba(X), axis=1)])


def cnn_features(images: npt.NDArray[np.uint8], model_name: str = "efficientnet_lite0", weights: str = "imagenet",
                 image_size: int | None = None, batch_size: int = 64, device: str = "cpu") -> npt.NDArray[np.float64]:
    """Frozen ImageNet backbone features (the head's input) of every image; no label is used.

    Args:
        images: (N, C, H, W) uint8 ROI crops (C = 1 is repeated to RGB, C != 3 adapts the first conv).
        model_name, weights: registry name and weights (``imagenet`` ships offline for efficientnet_lite0).
        image_size: input side (None: the model's default).

    Returns:
        (N, D) float64.
    """
    # torch (heavy, optional for the radiomics models this package also serves): loaded only for CNN features
    import torch

    from gliograde.models import create_model, model_spec
    from gliograde.training.engine import backbone_features, resolve_device

    channels = images.shape[1]
    torch.manual_seed(0)  # only the (unused) new head is random
    model = create_model(model_name, 2, weights, in_chans=channels if channels not in (1, 3) else 3)
    spec = model_spec(model)
    dev = resolve_device(device)
    feats = backbone_features(model, torch.from_numpy(np.ascontiguousarray(images)), spec,
                              image_size or spec.input_size, batch_size, dev)
    return feats.cpu().numpy().astype(np.float64)
