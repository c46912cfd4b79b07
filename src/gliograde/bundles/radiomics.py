"""The ``radiomics`` model bundle: what ``gliograde train`` writes for the ``recommended`` preset.

::

    BUNDLE/
      model.skops     the fitted scikit-learn Pipeline (skops format: loading instantiates only an explicit
                      list of trusted types and never unpickles; see :data:`TRUSTED_TYPES`)
      model.json      kind "radiomics", classes, feature names, bin width, preprocessing (IngestCfg),
                      chosen candidate + every candidate's inner AUC, model sha256, training-data fingerprint
      MODEL_CARD.md   intended use (research only), data, selection, metrics, limitations
      config.yaml, run.json   provenance of the training run

The Pipeline maps (n, F) PyRadiomics features (``feature_names`` order, from
:func:`gliograde.baselines.features.extract_features` on the preprocessed crop) to (n, K) probabilities
whose columns are class indices into ``classes``.

>>> # b = load_radiomics_bundle(Path("runs/model")); b.pipeline.predict_proba(X)  # X: (n, len(b.feature_names))
"""
from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from gliograde.config import IngestCfg, SelectionCfg, from_dict
from gliograde.errors import InputError
from gliograde.runinfo import sha256_file, to_plain

if TYPE_CHECKING:
    from sklearn.pipeline import Pipeline

    from gliograde.data.dataset import Cohort
    from gliograde.training.radiomics import RadiomicsFit

logger = logging.getLogger(__name__)

KIND = "radiomics"
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
class RadiomicsBundle:
    """A loaded radiomics bundle.

    Attributes:
        path: the bundle folder.
        pipeline: fitted sklearn Pipeline, (n, F) float64 features -> (n, K) probabilities.
        classes: WHO grades in probability-column order, e.g. (2, 3).
        feature_names: the F feature names, in column order.
        bin_width: grey-level bin width of the texture features.
        ingest: how cases are read and preprocessed (identical to training).
        fingerprint: sha256 of ``model.skops``.
        meta: model.json as a dict.
    """

    path: Path
    pipeline: Pipeline
    classes: tuple[int, ...]
    feature_names: tuple[str, ...]
    bin_width: float
    ingest: IngestCfg
    fingerprint: str
    meta: dict[str, Any]
    kind: str = KIND


def write_radiomics_bundle(out: Path, cohort: Cohort, fit: RadiomicsFit, ingest_cfg: IngestCfg,
                           selection_cfg: SelectionCfg, cv_metrics: dict[str, Any] | None = None) -> Path:
    """Write ``model.skops``, ``model.json`` and ``MODEL_CARD.md`` into ``out``.

    Args:
        out: bundle folder; its ``run.json`` (written by :func:`gliograde.training.radiomics.train_radiomics`)
            supplies the training-input fingerprint.
        cohort: the cohort trained on (its ``root/run.json`` gives the cohort fingerprint).
        fit: :func:`gliograde.training.radiomics.fit_radiomics` output.
        ingest_cfg: the preprocessing used at ingest (predict repeats it).
        selection_cfg: the selection grid and method used.
        cv_metrics: :func:`gliograde.bundles.cnn.read_cv_metrics` output for the model card, or None.

    Returns:
        ``out``.
    """
    import skops.io as sio

    from gliograde.bundles.cnn import MODEL_CARD, MODEL_JSON, shared_meta

    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    sio.dump(fit.pipeline, out / MODEL_FILE)
    meta: dict[str, Any] = {
        "format_version": FORMAT_VERSION, "kind": KIND, "classes": [int(c) for c in fit.classes],
        "in_chans": int(cohort.images.shape[1]), "feature_names": list(fit.feature_names),
        "n_features": len(fit.feature_names), "bin_width": float(selection_cfg.bin_width),
        "feature_backend": fit.backend, "feature_families": list(selection_cfg.features),
        "model_sha256": sha256_file(out / MODEL_FILE),
        "selection": {**fit.selection.as_dict(), "config": to_plain(selection_cfg)},
        "training": {"n_rows": fit.n_rows, "n_patients": fit.n_patients, "rows_per_grade": fit.rows_per_grade,
                     "ingest_slices": int(ingest_cfg.slices), "seed": fit.seed,
                     "seconds": {k: round(v, 2) for k, v in fit.seconds.items()}},
        **shared_meta(out, cohort, ingest_cfg, cv_metrics),
    }
    (out / MODEL_JSON).write_text(json.dumps(meta, indent=2))
    (out / MODEL_CARD).write_text(render_radiomics_card(meta))
    logger.info("wrote radiomics bundle %s (%s, classes %s)", out, fit.selection.chosen.label, meta["classes"])
    return out


def load_radiomics_bundle(path: Path, meta: dict[str, Any] | None = None) -> RadiomicsBundle:
    """Load a radiomics bundle safely: skops with an explicit trusted-type list, sha256 checked.

    Raises:
        InputError: missing files, an unreadable model.json, a model file that does not match its
            recorded sha256, or that holds a type outside :data:`TRUSTED_TYPES`.
    """
    import skops.io as sio

    from gliograde.bundles.cnn import MODEL_JSON

    path = Path(path)
    for name in (MODEL_JSON, MODEL_FILE):
        if not (path / name).is_file():
            raise InputError(f"{path / name}: missing; a radiomics bundle is the folder written by "
                             "`gliograde train COHORT --out BUNDLE` (preset recommended)")
    try:
        meta = meta if meta is not None else json.loads((path / MODEL_JSON).read_text())
        classes = tuple(int(c) for c in meta["classes"])
        names = tuple(str(n) for n in meta["feature_names"])
        ingest = from_dict(IngestCfg, meta["preprocessing"])
        bin_width, want_sha = float(meta["bin_width"]), str(meta["model_sha256"])
    except (KeyError, TypeError, ValueError, json.JSONDecodeError) as err:
        raise InputError(f"{path / MODEL_JSON}: unreadable bundle description ({type(err).__name__}: {err}); "
                         "re-create the bundle with `gliograde train`") from err
    sha = sha256_file(path / MODEL_FILE)
    if sha != want_sha:
        raise InputError(f"{path / MODEL_FILE}: sha256 {sha[:12]}... != {want_sha[:12]}... recorded in model.json; "
                         "the model file was changed or replaced, re-train the bundle")
    untrusted = set(sio.get_untrusted_types(file=path / MODEL_FILE))
    if unknown := sorted(untrusted - TRUSTED_TYPES):
        raise InputError(f"{path / MODEL_FILE}: holds types outside the trusted list {unknown}; refusing to load "
                         "it. Re-train the bundle with this gliograde version")
    pipeline = sio.load(path / MODEL_FILE, trusted=sorted(untrusted))
    if int(getattr(pipeline, "n_features_in_", len(names))) != len(names):
        raise InputError(f"{path / MODEL_FILE}: model expects {pipeline.n_features_in_} features but model.json "
                         f"names {len(names)}; the bundle is inconsistent, re-train it")
    return RadiomicsBundle(path=path, pipeline=pipeline, classes=classes, feature_names=names, bin_width=bin_width,
                           ingest=ingest, fingerprint=sha, meta=meta)


def family_text(meta: dict[str, Any]) -> str:
    """The model card's description of the bundle's feature families."""
    text = {"radiomics": f"PyRadiomics ({meta['feature_backend']}; first order, GLCM, GLRLM, GLSZM, 2D shape; bin "
                         f"width {meta['bin_width']:g})",
            "semantic": "semantic (size, outline shape, intensity in units of the reference tissue's IQR)"}
    return " + ".join(text[f] for f in meta.get("feature_families", ["radiomics"])) + " of each channel in the ROI"


def render_radiomics_card(meta: dict[str, Any]) -> str:
    """MODEL_CARD.md text for a radiomics bundle's ``model.json`` dict (Mitchell et al. 2019 headings)."""
    from gliograde.bundles.cnn import metrics_lines

    tr, pre, sel = meta["training"], meta["preprocessing"], meta["selection"]
    grades = ", ".join(f"grade {g}: {n} slices" for g, n in tr["rows_per_grade"].items())
    scores = ", ".join(f"{k} {v:.3f}" for k, v in sel["inner_auc"].items()) or "none (no selection)"
    fp, pp = meta["data_fingerprint"], pre["preprocess"]
    return "\n".join([
        f"# Model card: gliograde radiomics (WHO grades {', '.join(map(str, meta['classes']))})", "",
        "## Intended use",
        "Research only. This model is **not a medical device**, is not cleared or approved for clinical use, "
        "and must not guide the diagnosis or treatment of any patient. It suggests a WHO grade of a diffuse "
        "glioma from features of one masked slice (channels "
        f"{'+'.join(pre['channels'])}), and lists the features that moved the prediction most.", "",
        "## Model",
        f"- {meta['n_features']} ROI features: {family_text(meta)}",
        f"- chosen by {sel['method']} ({sel['n_inner_splits']} patient-level inner splits) on all training patients: "
        f"**{sel['chosen']}**; inner AUC per candidate: {scores}",
        "- pipeline: median imputation, constant features dropped, standardisation, SelectKBest (ANOVA F), "
        "classifier (probabilities by Platt scaling for the SVM)",
        f"- model sha256: `{meta['model_sha256']}`", "",
        "## Data",
        f"- {tr['n_patients']} patients, {tr['n_rows']} slices ({grades})",
        f"- preprocessing: {pp['intensity']} scaling on {pp['region']}, "
        f"ROI labels {pre['roi_labels'] or 'all non-zero'}, "
        f"rim {pp['rim']}, crop size {pp['size']}; the largest tumour cross-section",
        f"- cohort fingerprint (sha256 of the ingested files): `{fp.get('cohort_input_sha256')}`",
        f"- training-input fingerprint: `{fp.get('train_input_sha256')}`", "",
        "## Metrics", *metrics_lines(meta.get("cv_metrics")),
        "For the `recommended` preset on TCGA-LGG (70 patients, grade 2 vs 3), docs/real-data.md gives the "
        "honest cross-validated AUC over repeated splits and with a whole site held out; it is modest.", "",
        "## Limitations",
        "- Single 2D slice of a resized crop: heterogeneity elsewhere in the tumour and absolute size are lost.",
        "- A tumour mask is required; features depend on its outline. Every channel the model was trained on "
        "must be present.",
        "- Site shift: trained on few institutions; validate locally. Probabilities may be poorly calibrated.",
        "- Only the grades seen in training can be predicted (TCGA-LGG: 2 and 3, no glioblastoma).",
        "- WHO 2021 grading also needs molecular markers (IDH, 1p/19q), which this model does not predict.",
        "- The listed top features show what moved this model's output, not a validated biological explanation.", "",
        "## How to cite",
        "Cite the gliograde software (version in `model.json`), PyRadiomics (van Griethuysen et al., Cancer "
        "Research 2017) and the data sources (TCGA-LGG / BraTS) according to their terms of use.", "",
    ])
