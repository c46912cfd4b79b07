"""The ``radiomics`` model kind: ROI features + a selected classifier (the ``recommended`` preset).

::

    BUNDLE/
      model.skops     the fitted scikit-learn Pipeline (skops format: loading instantiates only an explicit
                      list of trusted types and never unpickles; see :data:`TRUSTED_TYPES`)
      model.json      kind "radiomics", classes, feature names, bin width, preprocessing (IngestCfg),
                      chosen candidate + every candidate's inner AUC, model sha256, training-data fingerprint
      MODEL_CARD.md   intended use (research only), data, selection, metrics, limitations
      config.yaml, run.json   provenance of the training run

The Pipeline maps (n, F) ROI features (``feature_names`` order, from
:func:`gliograde.baselines.feature_sets.feature_matrix` on the preprocessed crop) to (n, K) probabilities
whose columns are class indices into ``classes``. Evidence: :mod:`gliograde.bundles.radiomics_evidence`.
skops and scikit-learn are imported on first use (heavy).

>>> # b = load_bundle(Path("runs/model")); b.pipeline.predict_proba(X)  # X: (n, len(b.feature_names))
"""
from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np
import numpy.typing as npt

from gliograde.bundles.base import FAR_Z, CasePrediction, CropScores, ModelKind, TrainReport, blank_case
from gliograde.bundles.meta import MODEL_JSON, auc_at_chance, chance_warning, shared_meta, write_meta
from gliograde.bundles.radiomics_card import card_section_lines, render_card
from gliograde.bundles.radiomics_evidence import METHOD, NOTE, contributions, name_sequence, radiomics_panel
from gliograde.bundles.skops_file import canonical_skops
from gliograde.config import IngestCfg, RunConfig, from_dict
from gliograde.data.cohort import read_ingest_cfg
from gliograde.errors import InputError
from gliograde.fsio import atomic_write_bytes
from gliograde.runinfo import sha256_file, to_plain

if TYPE_CHECKING:
    from sklearn.pipeline import Pipeline

    from gliograde.data.dataset import Cohort
    from gliograde.data.source import CaseSource
    from gliograde.training.radiomics import RadiomicsFit

__all__ = ["FORMAT_VERSION", "MODEL_FILE", "TRUSTED_TYPES", "RadiomicsBundle"]

logger = logging.getLogger(__name__)

MODEL_FILE = "model.skops"
FORMAT_VERSION = 1
#: Types outside skops' default trusted set that a fitted radiomics Pipeline holds (logreg / RBF-SVM with
#: Platt scaling, SelectKBest(f_classif)). Anything else in a model.skops is refused.
TRUSTED_TYPES: frozenset[str] = frozenset({
    "numpy.dtype",
    "sklearn.calibration._CalibratedClassifier",
    "sklearn.calibration._SigmoidCalibration",
    "sklearn.feature_selection._univariate_selection.f_classif",
    "sklearn.model_selection._split.StratifiedKFold",
})


@dataclass(frozen=True)
class RadiomicsBundle(ModelKind["RadiomicsFit"]):
    """A loaded radiomics bundle.

    Attributes:
        pipeline: fitted sklearn Pipeline, (n, F) float64 features -> (n, K) probabilities.
        feature_names: the F feature names, in column order. bin_width: grey-level bin width of the textures.
        (and path, classes in probability-column order, ingest, fingerprint = sha256 of model.skops, meta)
    """

    name: ClassVar[str] = "radiomics"
    uses: ClassVar[frozenset[str]] = frozenset({"selection"})
    format_version: ClassVar[int] = FORMAT_VERSION

    path: Path
    pipeline: Pipeline
    classes: tuple[int, ...]
    feature_names: tuple[str, ...]
    bin_width: float
    ingest: IngestCfg
    fingerprint: str
    meta: dict[str, Any]

    # ---- writing and reading ------------------------------------------------------------------------------
    @classmethod
    def train_header(cls, cohort: Cohort, out: Path, cfg: RunConfig) -> str:
        sel = cfg.cv.selection
        return (f"training radiomics ({cfg.preset}; {sel.method} over {list(sel.classifiers)} x k "
                f"{list(sel.select_k)}) on {len(cohort)} slices, classes {list(cohort.classes)} -> {out}")

    @classmethod
    def settings_summary(cls, cfg: RunConfig) -> str:
        s = cfg.cv.selection
        return (f"features {','.join(s.features)}, {s.method} over {','.join(s.classifiers)} x k "
                f"{','.join(map(str, s.select_k))}")

    @classmethod
    def train(cls, cohort: Cohort, out: Path, cfg: RunConfig, *, cv_metrics: dict[str, Any] | None = None,
              progress: bool = True) -> TrainReport:
        """Features, inner-CV selection over ``cfg.cv.selection`` and the final fit on every patient
        (seed ``cfg.train.seed``), then ``config.yaml`` + ``run.json`` (sha256 of every training input) and
        :meth:`write`."""
        from gliograde.training.radiomics import train_on_cohort  # imports scikit-learn (heavy): on first use

        ingest = read_ingest_cfg(cohort.root)  # what the cohort was really ingested with; predict repeats it
        fit = train_on_cohort(cohort, out, ingest, cfg.cv.selection, seed=cfg.train.seed, run=cfg)
        cls.write(out, cohort, fit, cfg, cv_metrics=cv_metrics, ingest=ingest)
        scores = ", ".join(f"{k} {v:.3f}" for k, v in fit.selection.scores.items())
        inner = inner_validation(cohort, fit)
        return TrainReport(bundle=Path(out), lines=[
            f"chose {fit.selection.chosen.label} by {fit.selection.method} (inner AUC: {scores or 'n/a'})",
            *chance_warning(inner),
            f"{len(fit.feature_names)} features {fit.seconds['features']:.1f} s, selection + fit "
            f"{fit.seconds['selection_and_fit']:.1f} s",
            f"wrote the model bundle {out}: {MODEL_FILE}, model.json, MODEL_CARD.md"])

    @classmethod
    def write(cls, out: Path, cohort: Cohort, fit: RadiomicsFit, cfg: RunConfig, *,
              cv_metrics: dict[str, Any] | None = None, ingest: IngestCfg | None = None) -> Path:
        """Write ``model.skops``, ``model.json`` and ``MODEL_CARD.md`` into ``out``.

        Args:
            out: bundle folder; its ``run.json`` (written by :meth:`train`) gives the training-input fingerprint.
            cohort: the cohort trained on (its ``root/run.json`` gives the cohort fingerprint).
            fit: :func:`gliograde.training.radiomics.fit_radiomics` output; ``cfg.cv.selection`` its grid.
            cv_metrics: :func:`~gliograde.bundles.meta.read_cv_metrics` output for the model card, or None.
            ingest: the preprocessing used at ingest (predict repeats it); None = ``cohort.root/config.yaml``.
        """
        import skops.io as sio  # heavy: on first use

        out, sel = Path(out), cfg.cv.selection
        ingest = ingest if ingest is not None else read_ingest_cfg(cohort.root)
        out.mkdir(parents=True, exist_ok=True)
        raw = canonical_skops(sio.dumps(fit.pipeline))  # the same model -> the same bytes -> the same model_sha256
        sio.loads(raw, trusted=sio.get_untrusted_types(data=raw))  # the rewritten archive still loads
        atomic_write_bytes(out / MODEL_FILE, raw)
        meta: dict[str, Any] = {
            "format_version": FORMAT_VERSION, "kind": cls.name, "classes": [int(c) for c in fit.classes],
            "in_chans": int(cohort.images.shape[1]), "feature_names": list(fit.feature_names),
            "n_features": len(fit.feature_names), "bin_width": float(sel.bin_width),
            "feature_backend": fit.backend, "feature_families": list(sel.features),
            "model_sha256": sha256_file(out / MODEL_FILE),
            "selection": {**fit.selection.as_dict(), "config": to_plain(sel)},
            "training": {"n_rows": fit.n_rows, "n_patients": fit.n_patients, "rows_per_grade": fit.rows_per_grade,
                         "ingest_slices": int(ingest.slices), "seed": fit.seed,
                         "seconds": {k: round(v, 2) for k, v in fit.seconds.items()}},
            **shared_meta(out, cohort, ingest, cv_metrics),
            "inner_validation": inner_validation(cohort, fit),
        }
        write_meta(out, meta, render_card(meta))
        logger.debug("wrote radiomics bundle %s (%s, classes %s)", out, fit.selection.chosen.label, meta["classes"])
        return out

    @classmethod
    def load(cls, path: Path, meta: dict[str, Any], device: str = "cpu") -> RadiomicsBundle:
        """Load safely: skops with an explicit trusted-type list, sha256 checked (``device`` is not used).

        Raises:
            InputError: missing files, an unreadable model.json, a model file that does not match its
                recorded sha256, or that holds a type outside :data:`TRUSTED_TYPES`.
        """
        import skops.io as sio  # heavy: on first use

        path = Path(path)
        if not (path / MODEL_FILE).is_file():
            raise InputError(f"{path / MODEL_FILE}: missing; a radiomics bundle is the folder written by "
                             "`gliograde train COHORT --out BUNDLE` (preset recommended)")
        try:
            classes = tuple(int(c) for c in meta["classes"])
            names = tuple(str(n) for n in meta["feature_names"])
            ingest = from_dict(IngestCfg, meta["preprocessing"])
            bin_width, want_sha = float(meta["bin_width"]), str(meta["model_sha256"])
        except (KeyError, TypeError, ValueError) as err:
            raise InputError(f"{path / MODEL_JSON}: unreadable bundle description ({type(err).__name__}: {err}); "
                             "re-create the bundle with `gliograde train`") from err
        sha = sha256_file(path / MODEL_FILE)
        if sha != want_sha:
            raise InputError(f"{path / MODEL_FILE}: sha256 {sha[:12]}... != {want_sha[:12]}... recorded in "
                             "model.json; the model file was changed or replaced, re-train the bundle")
        try:
            untrusted = set(sio.get_untrusted_types(file=path / MODEL_FILE))
        except Exception as err:  # not a skops archive at all (a pickle, a truncated file): skops' own error types
            raise InputError(f"{path / MODEL_FILE}: not a readable skops model ({type(err).__name__}); refusing to "
                             "load it, copy the bundle again or re-train it") from err
        if unknown := sorted(untrusted - TRUSTED_TYPES):
            raise InputError(f"{path / MODEL_FILE}: holds types outside the trusted list {unknown}; refusing to "
                             "load it. Re-train the bundle with this gliograde version")
        pipeline = sio.load(path / MODEL_FILE, trusted=sorted(untrusted))
        if int(getattr(pipeline, "n_features_in_", len(names))) != len(names):
            raise InputError(f"{path / MODEL_FILE}: model expects {pipeline.n_features_in_} features but model.json "
                             f"names {len(names)}; the bundle is inconsistent, re-train it")
        bundle = cls(path=path, pipeline=pipeline, classes=classes, feature_names=names, bin_width=bin_width,
                     ingest=ingest, fingerprint=sha, meta=meta)
        if "native" in meta.get("feature_families", ()):  # its features read each case's original files (validate)
            object.__setattr__(bundle, "reads", "case")  # frozen: this bundle's own value of the class default
        return bundle

    # ---- inference -----------------------------------------------------------------------------------------
    def predict_case(self, source: CaseSource, *, explain: bool = True,
                     slice_index: int | None = None) -> CasePrediction:
        """:meth:`ModelKind.predict_case`; a bundle with the ``native`` family also reads the case on its native
        grid first (:func:`gliograde.baselines.native.predicting`: its features join the crop's in model_input)."""
        if "native" not in self.meta.get("feature_families", ()):
            return super().predict_case(source, explain=explain, slice_index=slice_index)
        from gliograde.baselines import native  # PyRadiomics on the original files: only for such a bundle
        from gliograde.config import SelectionCfg

        native.check_dims(source, self.feature_names)  # a volume for a model of 2D slices (or back): before any work
        sel = from_dict(SelectionCfg, self.meta.get("selection", {}).get("config", {}))
        params = self.path / native.PARAMS_FILE
        settings = native.settings_for(sel, self.ingest.preprocess, params if params.is_file() else None)
        with native.predicting(native.pending_case(source, self.ingest, settings, slice_index)):
            return super().predict_case(source, explain=explain, slice_index=slice_index)

    def warm_up(self, explain: bool = True) -> float:
        """:meth:`ModelKind.warm_up`; the ``native`` columns of a synthetic case are 0 (it has no original files)."""
        families = list(self.meta.get("feature_families", ["radiomics"]))
        if "native" not in families:
            return super().warm_up(explain)
        from gliograde.baselines import native  # only for a bundle with native features
        from gliograde.baselines.feature_sets import feature_matrix

        others = [f for f in families if f != "native"]
        crop, mask = blank_case(self.ingest.preprocess.size, len(self.ingest.channels))
        image = crop[None, None] if crop.ndim == 2 else np.moveaxis(crop, -1, 0)[None]
        names = feature_matrix(np.ascontiguousarray(image), mask[None], [float(mask.sum())], others,
                               bin_width=self.bin_width, channels=self.ingest.channels)[1] if others else []
        with native.predicting(native.warm_up_case(self.feature_names, names)):
            return super().warm_up(explain)

    def model_input(self, crop: npt.NDArray[np.uint8], mask: npt.NDArray[np.bool_], area_px: float,
                    where: str = "case") -> npt.NDArray[np.float64]:
        """(1, F) features of one preprocessed crop, in the bundle's column order.

        Raises:
            InputError: the features computed do not match the bundle's (other channels or backend).
        """
        from gliograde.baselines.feature_sets import feature_matrix  # imports scikit-learn (heavy): on first use

        image = crop[None, None] if crop.ndim == 2 else np.moveaxis(crop, -1, 0)[None]
        X, names = feature_matrix(np.ascontiguousarray(image), mask[None], [area_px],
                                  self.meta.get("feature_families", ["radiomics"]), bin_width=self.bin_width,
                                  backend=self.meta.get("feature_backend", "auto"), channels=self.ingest.channels)
        if tuple(names) != self.feature_names:
            raise InputError(f"case gives {len(names)} features ({image.shape[1]} channel(s)) but the model was "
                             f"trained on {len(self.feature_names)} ({'+'.join(self.ingest.channels)}); "
                             "give those sequences")
        return X

    def _proba(self, x: npt.NDArray[np.float64]) -> tuple[npt.NDArray[np.float64], int]:
        """(probabilities (K,) in ``classes`` order, the Pipeline's column of the predicted class)."""
        proba = np.zeros(len(self.classes))
        cols = np.asarray(self.pipeline.classes_, dtype=int)
        proba[cols] = self.pipeline.predict_proba(x)[0]
        return proba, int(np.flatnonzero(cols == int(np.argmax(proba)))[0])

    def infer(self, x: npt.NDArray[np.float64], mask: npt.NDArray[np.bool_],
              explain: bool) -> tuple[npt.NDArray[np.float64], dict[str, Any]]:
        """Probabilities, and with ``explain`` the top occlusion contributions and the largest |z|."""
        proba, target = self._proba(x)
        if not explain:
            return proba, {"features": [], "feature_z_max": None}
        feats, z_max = contributions(self.pipeline, x, self.feature_names, target)
        for f in feats:
            f["sequence"] = name_sequence(f["feature"], self.ingest.channels)
        return proba, {"features": feats, "feature_z_max": z_max}

    def predict_crops(self, images: npt.NDArray[np.uint8], masks: npt.NDArray[np.bool_],
                      roi_area_px: npt.ArrayLike, *, batch_size: int = 16) -> CropScores:
        """Per crop: features, probabilities and the largest |z| of the selected features (``max_abs_z``,
        ``unlike_training`` beyond :data:`FAR_Z`); ``batch_size`` is not used."""
        areas = np.asarray(roi_area_px, dtype=np.float64)
        proba, z_max = np.zeros((len(images), len(self.classes))), np.zeros(len(images))
        for i in range(len(images)):
            crop = images[i, 0] if images.shape[1] == 1 else np.moveaxis(images[i], 0, -1)
            x = self.model_input(crop, masks[i], float(areas[i]))
            proba[i], target = self._proba(x)
            z_max[i] = contributions(self.pipeline, x, self.feature_names, target)[1]
        return CropScores(proba, {"unlike_training": z_max > FAR_Z, "max_abs_z": np.round(z_max, 3)})

    # ---- what a reader sees --------------------------------------------------------------------------------
    def evidence(self, pred: CasePrediction) -> dict[str, Any] | None:
        if not pred.features or pred.mask is None:
            return None
        return {"method": METHOD, "library": "scikit-learn (bundle Pipeline)", "target_grade": pred.grade,
                "top_features": pred.features, "roi_share_of_crop": round(float(pred.mask.mean()), 4),
                "chosen_model": self.meta.get("selection", {}).get("chosen"),
                "max_abs_z": None if pred.feature_z_max is None else round(pred.feature_z_max, 2),
                "unlike_training": bool(pred.feature_z_max is not None and pred.feature_z_max > FAR_Z),
                "display": "ROI outline and top features", "note": NOTE}

    def panel(self, pred: CasePrediction, title: str) -> npt.NDArray[np.uint8] | None:
        return radiomics_panel(pred, f"{title}   radiomics") if pred.features else None

    def card_section(self) -> str:
        return "\n".join(card_section_lines(self.meta))

    def describe(self) -> dict[str, Any]:
        return {"kind": self.kind, "classifier": self.meta.get("selection", {}).get("chosen"),
                "n_features": len(self.feature_names), "classes": list(self.classes),
                "channels": list(self.ingest.channels), "crop_size": self.ingest.preprocess.size}


def inner_validation(cohort: Cohort, fit: RadiomicsFit) -> dict[str, Any]:
    """The inner validation's chance check (:func:`~gliograde.bundles.meta.auc_at_chance`): the chosen candidate's
    out-of-fold inner AUC with a CI from the training patients' grade counts."""
    first = dict(zip(cohort.patient_ids.tolist(), cohort.labels.tolist(), strict=True))
    counts = np.bincount(np.asarray(list(first.values()), dtype=np.int64), minlength=len(cohort.classes))
    auc = fit.selection.scores.get(fit.selection.chosen.label)
    return auc_at_chance(auc, counts.tolist(), label=f"inner-CV AUC of {fit.selection.chosen.label}")
