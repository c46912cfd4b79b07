"""Classical classifiers on handcrafted features: the study's "handcrafted + SVM / ANN" baselines.

Every model is one sklearn ``Pipeline`` (impute NaN -> drop constant -> standardise ->
[select k best] -> classifier), so everything that learns from data (medians, means, scales,
the selected features, the tuned C/alpha) is fitted on the training fold only.

The inner CVs of a model (the SVMs' Platt scaling, ``tune=True``) split the training rows by ``groups``:
the patient, or the person of a ``group`` column (:func:`gliograde.splits.group_keys`), so the rows of one
patient (``--slices k`` > 1) or one person never sit on both sides of an inner split. The folds are
:func:`gliograde.splits.inner_splits`' (StratifiedGroupKFold), built up front and passed as ``cv=`` index
lists: sklearn 1.9's ``CalibratedClassifierCV(ensemble=False)`` does not pass ``groups`` on to the
``cross_val_predict`` behind its Platt fit, even under metadata routing, so a group splitter never gets them.
When every row is its own group (one slice per patient, no ``group`` column), the inner CV is the
``StratifiedKFold`` of earlier versions and the models are exactly theirs.

Typical use in a CV driver, extracting features once and fitting only the Pipeline per fold::

    X, names = extract_features(images, masks, channels=[2, 1])       # (N, F), once
    model = HandcraftedBaseline(classifier="logreg", select_k=10).fit(X[train], y[train], groups=pids[train])
    proba = model.predict_proba(X[test])                                # (n_test, n_classes)

>>> from sklearn.datasets import make_classification
>>> X, y = make_classification(n_samples=40, n_features=6, random_state=0)
>>> make_classifier("logreg").fit(X, y).predict_proba(X).shape
(40, 2)
"""
from __future__ import annotations

import contextlib
import logging
import warnings
from collections.abc import Iterator, Sequence
from typing import Any, TypeAlias

import numpy as np
import numpy.typing as npt
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.calibration import CalibratedClassifierCV
from sklearn.feature_selection import SelectKBest, VarianceThreshold, f_classif
from sklearn.impute import SimpleImputer
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import GridSearchCV, StratifiedKFold
from sklearn.neural_network import MLPClassifier
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.svm import SVC
from sklearn.utils.validation import check_is_fitted

from gliograde.baselines.features import (
    DEFAULT_BIN_WIDTH,
    FEATURE_CLASSES,
    Backend,
    RadiomicsFeatures,
    RoiInput,
)
from gliograde.config import (
    ClassifierKind as ClassifierKind,  # defined with CVCfg; still importable from here
)
from gliograde.errors import InputError
from gliograde.splits import capped_folds, inner_splits

logger = logging.getLogger(__name__)
CLASSIFIER_KINDS: tuple[str, ...] = ("logreg", "logreg_l1", "svm", "rbf_svm", "mlp")
#: Inner-CV grids used when ``tune=True`` (the regularisation strength of each model).
PARAM_GRIDS: dict[str, dict[str, list[float]]] = {
    "logreg": {"C": [0.01, 0.1, 1.0]},
    "logreg_l1": {"C": [0.05, 0.1, 0.5, 1.0]},
    "svm": {"estimator__C": [0.01, 0.1, 1.0]},
    "rbf_svm": {"estimator__C": [0.1, 1.0, 10.0]},
    "mlp": {"alpha": [1e-3, 1e-1, 1.0]},
}


#: Folds of the SVMs' Platt scaling (inner CV of their decision values).
PLATT_FOLDS = 3
#: What a model's ``cv=`` gets: a splitter, or (train, validation) row indices built for the rows it is fitted on.
InnerCV: TypeAlias = "StratifiedKFold | list[tuple[npt.NDArray[np.int64], npt.NDArray[np.int64]]]"


def _shares_units(groups: npt.ArrayLike | None) -> bool:
    """True when some unit (patient, group) of ``groups`` has several rows."""
    return groups is not None and len(np.unique(np.asarray(groups).astype(str))) < len(np.asarray(groups))


def inner_cv(n_splits: int, random_state: int, y: npt.ArrayLike | None = None,
             groups: npt.ArrayLike | None = None) -> InnerCV:
    """The inner CV of a model fitted on rows with labels ``y`` and units ``groups``.

    Args:
        n_splits: folds wanted (capped by the smallest grade's number of groups, as every inner CV is).
        random_state: shuffling seed.
        y: (n,) labels of the rows the model will be fitted on (needed with ``groups``).
        groups: (n,) unit of each row, e.g. ``group_keys(patient_ids, cohort.groups)``; None: each row alone.

    Returns:
        ``StratifiedKFold(n_splits, shuffle=True)`` when every row is its own group (the folds of earlier
        versions); else :func:`gliograde.splits.inner_splits` (StratifiedGroupKFold) index pairs, valid only for
        exactly these rows.

    Raises:
        InputError: fewer than 2 groups of a grade, or ``groups`` and ``y`` of different lengths.

    >>> cv = inner_cv(2, 0, [0, 0, 1, 1, 0, 0, 1, 1], ["a", "a", "b", "b", "c", "c", "d", "d"])
    >>> [sorted(set("aabbccdd"[i] for i in va)) for _, va in cv]
    [['b', 'c'], ['a', 'd']]
    """
    if not _shares_units(groups):
        if y is not None:  # capped as inner_splits caps it (3 folds of a grade of 2 would fail in sklearn)
            n_splits = capped_folds(y, n_splits)
        return StratifiedKFold(n_splits, shuffle=True, random_state=random_state)
    keys, labels = np.asarray(groups).astype(str), np.asarray(y)
    if labels.shape != keys.shape:
        raise InputError(f"inner CV by group: got {len(keys)} groups and {labels.size} label(s); pass y and groups "
                         "of the rows the model is fitted on, one each per row")
    return inner_splits(keys, labels, "inner_cv", n_splits, random_state)


def _base_classifier(kind: str, random_state: int, y: npt.ArrayLike | None, groups: npt.ArrayLike | None) -> Any:
    if kind == "logreg":
        return LogisticRegression(C=0.1, max_iter=5000)
    if kind == "logreg_l1":
        return LogisticRegression(C=0.1, l1_ratio=1.0, solver="saga", max_iter=20000,
                                  random_state=random_state)
    if kind in ("svm", "rbf_svm"):  # Platt scaling on inner-CV decision values, one final SVC
        svc = (SVC(kernel="linear", C=0.1) if kind == "svm" else SVC(kernel="rbf", C=1.0, gamma="scale"))
        return CalibratedClassifierCV(svc, method="sigmoid", ensemble=False,
                                      cv=inner_cv(PLATT_FOLDS, random_state, y, groups))
    if kind == "mlp":  # the study's "conventional ANN": one small hidden layer
        return MLPClassifier(hidden_layer_sizes=(32,), alpha=0.1, max_iter=2000,
                             random_state=random_state)
    raise ValueError(f"classifier kind must be one of {CLASSIFIER_KINDS}, got {kind!r}")


#: What sklearn's ANOVA F (``SelectKBest(f_classif)``) warns on a tiny training set (:func:`degenerate_anova_ok`).
ANOVA_WARNINGS: tuple[tuple[str, type[Warning]], ...] = (
    (r"Features \[.*\] are constant\.", UserWarning),  # within every grade (constant columns are dropped before)
    (r"divide by zero encountered in divide", RuntimeWarning),  # F = inf: no within-grade variance, or no df
    (r"invalid value encountered in divide", RuntimeWarning),  # F = nan: 0 / 0, one row per grade
)


@contextlib.contextmanager
def degenerate_anova_ok() -> Iterator[None]:
    """Around the fit of a :func:`make_classifier` pipeline: silence what its ANOVA F warns on a tiny training
    set, and only that (:data:`ANOVA_WARNINGS`, from sklearn's ``_univariate_selection`` alone). A feature constant
    within every grade gets F = inf and is ranked first, rightly; a training set with one row per grade (an inner
    split of a tiny cohort) has no within-grade degrees of freedom, F = nan, ranked last. Neither is bad input:
    the features are imputed, stripped of constant columns and standardised before the selection, so the
    warnings would only repeat, fit after fit, what the cohort's size already says."""
    with warnings.catch_warnings():
        for message, category in ANOVA_WARNINGS:
            warnings.filterwarnings("ignore", message, category, r"sklearn\.feature_selection\._univariate_selection")
        yield


def make_classifier(kind: ClassifierKind = "logreg", random_state: int = 0, *,
                    select_k: int | None = None, tune: bool = False,
                    inner_folds: int = 3, y: npt.ArrayLike | None = None,
                    groups: npt.ArrayLike | None = None) -> Pipeline:
    """A fresh, unfitted probability classifier on (N, F) float features.

    Args:
        kind: "logreg" (L2, C=0.1), "logreg_l1" (sparse L1, saga), "svm" (linear SVC),
            "rbf_svm" (RBF SVC), or "mlp" (one hidden layer of 32, the study's conventional ANN).
            SVMs give probabilities by Platt scaling fitted on 3-fold inner decision values
            (``CalibratedClassifierCV(ensemble=False)``, sklearn's replacement for
            ``SVC(probability=True)``), the folds splitting by ``groups``.
        random_state: seed of every stochastic part (SVC Platt CV, MLP init, saga, inner CV).
        select_k: keep the k features with the highest ANOVA F on the training fold (None: all).
        tune: choose C (alpha for mlp) from ``PARAM_GRIDS[kind]`` by an inner stratified CV on
            the training data only (log-loss), then refit on all of it.
        inner_folds: folds of that inner CV.
        y, groups: (n,) labels and unit of each row (patient, or the person's group) of the rows the pipeline
            will be fitted on: every inner CV keeps a unit on one side (:func:`inner_cv`), and the pipeline must
            then be fitted on exactly those rows. None: each row is its own unit (row-level inner CVs).

    Returns:
        Pipeline(impute median -> drop constant -> standardise -> [SelectKBest] -> classifier).

    Raises:
        InputError: fewer than 2 units of a grade for an inner CV, or ``tune`` with an SVM on rows where a unit
            has several rows (its nested Platt CV could not split by unit).
    """
    if tune and kind in ("svm", "rbf_svm") and _shares_units(groups):
        # The Platt fit nested in each tuning split would need its own group folds of that split's rows; sklearn's
        # CalibratedClassifierCV(ensemble=False) cannot take them (see the module docstring).
        raise InputError(f"classifier {kind!r} with tune=True on rows of which several share a patient or group: "
                         "the nested Platt CV cannot split by group; use tune=False (or one row per patient)")
    clf = _base_classifier(kind, random_state, y, groups)
    if tune:
        clf = GridSearchCV(clf, PARAM_GRIDS[kind], cv=inner_cv(inner_folds, random_state, y, groups),
                           scoring="neg_log_loss")
    steps: list[tuple[str, Any]] = [
        ("impute", SimpleImputer(strategy="median", keep_empty_features=True)),
        ("drop_constant", VarianceThreshold(0.0)),
        ("scale", StandardScaler()),
    ]
    if select_k is not None:
        if select_k < 1:
            raise ValueError(f"select_k must be >= 1 or None, got {select_k}")
        steps.append(("select", SelectKBest(f_classif, k=select_k)))
    steps.append(("clf", clf))
    return Pipeline(steps)


def _is_precomputed(X: Any) -> bool:
    return isinstance(X, np.ndarray) and X.ndim == 2 and np.issubdtype(X.dtype, np.floating)


class HandcraftedBaseline(ClassifierMixin, BaseEstimator):  # type: ignore[misc]  # sklearn is untyped: Any bases
    """Radiomics features + classical classifier in one sklearn estimator.

    ``X`` is either ``RoiSamples`` / a sequence of (image (C,H,W) uint8, mask (H,W) bool) pairs,
    from which features are extracted, or a precomputed (N, F) float feature matrix from
    :func:`extract_features` with the same backend/bin_width/classes/channels (fast in CV: extract
    once, then fit only the classifier per fold; feature extraction has no fitted state).

    Attributes (after fit):
        classes_: (n_classes,) labels seen in fit.
        features_: the fitted ``RadiomicsFeatures`` (None when fitted on precomputed features).
        model_: the fitted Pipeline from :func:`make_classifier`.
        n_features_in_: number of features the Pipeline saw.
    """

    def __init__(self, classifier: ClassifierKind = "logreg", backend: Backend = "auto",
                 bin_width: float = DEFAULT_BIN_WIDTH,
                 feature_classes: Sequence[str] = FEATURE_CLASSES,
                 channels: Sequence[int] | None = None, select_k: int | None = None,
                 tune: bool = False, random_state: int = 0) -> None:
        self.classifier = classifier
        self.backend = backend
        self.bin_width = bin_width
        self.feature_classes = feature_classes
        self.channels = channels
        self.select_k = select_k
        self.tune = tune
        self.random_state = random_state

    def fit(self, X: RoiInput | npt.NDArray[np.floating], y: npt.ArrayLike,
            groups: npt.ArrayLike | None = None) -> HandcraftedBaseline:
        """Extract features (unless precomputed) and fit the classifier; returns self.

        ``groups``: (N,) unit of each row (the patient, or the person of a ``group`` column:
        ``group_keys(patient_ids, cohort.groups)``); the classifier's inner CVs keep a unit on one side.
        None: each row alone.
        """
        y_arr = np.asarray(y)
        if len(y_arr) != len(X):
            raise InputError(f"X has {len(X)} samples but y has {len(y_arr)} labels")
        if len(np.unique(y_arr)) < 2:
            raise InputError(f"need >= 2 classes to fit, got only {np.unique(y_arr).tolist()}")
        if _is_precomputed(X):
            self.features_ = None
            features = np.asarray(X, dtype=np.float64)
        else:
            self.features_ = RadiomicsFeatures(self.backend, self.bin_width,
                                               self.feature_classes, self.channels)
            features = self.features_.fit_transform(X)
        self.model_ = make_classifier(self.classifier, self.random_state, select_k=self.select_k,
                                      tune=self.tune, y=y_arr, groups=groups)
        with degenerate_anova_ok():  # F = inf / nan on tiny training sets (see there)
            self.model_.fit(features, y_arr)
        self.classes_ = self.model_.classes_
        self.n_features_in_ = features.shape[1]
        return self

    def _transform(self, X: RoiInput | npt.NDArray[np.floating]) -> npt.NDArray[np.float64]:
        check_is_fitted(self, "model_")
        if _is_precomputed(X):
            features = np.asarray(X, dtype=np.float64)
        elif self.features_ is None:
            raise InputError("this model was fitted on precomputed features; pass a (N, F) float "
                             "feature matrix from extract_features, not images")
        else:
            features = self.features_.transform(X)
        if features.shape[1] != self.n_features_in_:
            raise InputError(f"got {features.shape[1]} features, the model was fitted on "
                             f"{self.n_features_in_}; extract them with the same settings")
        return features

    def predict_proba(self, X: RoiInput | npt.NDArray[np.floating]) -> npt.NDArray[np.float64]:
        """(N, n_classes) float64 class probabilities, columns ordered as ``classes_``."""
        return np.asarray(self.model_.predict_proba(self._transform(X)), dtype=np.float64)

    def predict(self, X: RoiInput | npt.NDArray[np.floating]) -> npt.NDArray[Any]:
        """(N,) predicted labels (argmax of ``predict_proba``)."""
        return np.asarray(self.classes_[np.argmax(self.predict_proba(X), axis=1)])
