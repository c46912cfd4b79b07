"""MODEL_CARD.md of a ``radiomics`` bundle, from its ``model.json`` dict (Mitchell et al. 2019 headings)."""
from __future__ import annotations

from typing import Any

from gliograde.bundles.meta import RESEARCH_ONLY, card_metrics, labels_lines


def family_text(meta: dict[str, Any]) -> str:
    """The model card's description of the bundle's feature families."""
    text = {"radiomics": f"PyRadiomics ({meta['feature_backend']}; first order, GLCM, GLRLM, GLSZM, 2D shape; bin "
                         f"width {meta['bin_width']:g})",
            "semantic": "semantic (size, outline shape, intensity in units of the reference tissue's IQR)",
            "enhancement": "contrast enhancement (T1c - T1 in reference-tissue units)",
            "native": _native_text(meta)}
    return " + ".join(text[f] for f in meta.get("feature_families", ["radiomics"])) + " of each channel in the ROI"


def _native_text(meta: dict[str, Any]) -> str:
    spacing = (meta.get("selection", {}).get("config", {}) or {}).get("spacing") or []
    where = f"{' x '.join(f'{v:g}' for v in spacing)} mm pixels" if spacing else "pixel size unknown: 2D shape in px"
    return (f"PyRadiomics on each case's original grid (volumes in 3D in mm from the affine; 2D slices: {where}; "
            "gliograde.baselines.native)")


def card_section_lines(meta: dict[str, Any]) -> list[str]:
    """The "## Model" and "## Data" sections."""
    tr, pre, sel = meta["training"], meta["preprocessing"], meta["selection"]
    grades = ", ".join(f"grade {g}: {n} slices" for g, n in tr["rows_per_grade"].items())
    scores = ", ".join(f"{k} {v:.3f}" for k, v in sel["inner_auc"].items()) or "none (no selection)"
    fp, pp = meta["data_fingerprint"], pre["preprocess"]
    return [
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
        f"- training-input fingerprint: `{fp.get('train_input_sha256')}`", *labels_lines(meta), "",
    ]


def render_card(meta: dict[str, Any]) -> str:
    """The whole MODEL_CARD.md text."""
    pre = meta["preprocessing"]
    return "\n".join([
        f"# Model card: gliograde radiomics (WHO grades {', '.join(map(str, meta['classes']))})", "",
        "## Intended use",
        RESEARCH_ONLY + "It suggests a WHO grade of a diffuse glioma from features of one masked slice (channels "
        f"{'+'.join(pre['channels'])}), and lists the features that moved the prediction most.", "",
        *card_section_lines(meta),
        "## Metrics", *card_metrics(meta),
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
