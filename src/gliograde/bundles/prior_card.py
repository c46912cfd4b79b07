"""MODEL_CARD.md of a ``prior`` bundle, from its ``model.json`` dict (Mitchell et al. 2019 headings)."""
from __future__ import annotations

from typing import Any

from gliograde.bundles.meta import RESEARCH_ONLY, card_metrics, labels_lines
from gliograde.signs.measure import BY_NAME


def card_section_lines(meta: dict[str, Any]) -> list[str]:
    """The "## Model" and "## Data" sections."""
    tr, pre, fp = meta["training"], meta["preprocessing"], meta["data_fingerprint"]
    grades = ", ".join(f"grade {g}: {n} patients" for g, n in tr["rows_per_grade"].items())
    signs = [f"  - `{s}`: {BY_NAME[s].meaning} (weight {BY_NAME[s].weight:g} in the fixed rule; {BY_NAME[s].source})"
             for s in meta["signs"]]
    return [
        "## Model",
        f"- pre-specified radiological signs, combined by the **{meta['combine']}** rule, then a logistic "
        "calibration fitted on the training patients:", *signs,
        "- every sign pooled over all tumour-bearing planes on the native grid, intensities in units of the "
        "patient's own brain outside the tumour; a case is scored on the signs it has (which, it says)",
        f"- model sha256: `{meta['model_sha256']}`", "",
        "## Data",
        f"- {tr['n_patients']} patients ({grades})",
        f"- ROI labels {pre['roi_labels'] or 'all non-zero'}; the signs read the original files, not the crops",
        f"- cohort fingerprint (sha256 of the ingested files): `{fp.get('cohort_input_sha256')}`",
        f"- training-input fingerprint: `{fp.get('train_input_sha256')}`", *labels_lines(meta), "",
    ]


def render_card(meta: dict[str, Any]) -> str:
    """The whole MODEL_CARD.md text."""
    return "\n".join([
        f"# Model card: gliograde prior (WHO grades {', '.join(map(str, meta['classes']))})", "",
        "## Intended use",
        RESEARCH_ONLY + "It suggests a WHO grade of a diffuse glioma from pre-specified radiological signs "
        "(enhancement, necrosis, FLAIR hyperintensity, size, margin) measured inside a tumour outline, and shows "
        "each sign's value, its reference and its contribution.", "",
        *card_section_lines(meta),
        "## Metrics", *card_metrics(meta),
        "docs/real-data.md gives the prior model's honest cross-validated AUC on TCGA-LGG beside the recommended "
        "preset's, over repeated splits and with a whole site held out.", "",
        "## Limitations",
        "- The signs' thresholds (1 and 2 reference IQRs) and the equal weights are pre-specified choices, not "
        "estimates; the literature gives their direction, not their size. The weights (1 for the signs whose "
        "direction is established, 0 for the others) and the rank-based calibration were settled after a first "
        "rule (all signs, equal weights) failed on TCGA-LGG: see docs/real-data.md.",
        "- A tumour outline is required; the shares depend on it (FLAIR-abnormality masks vs BraTS labels).",
        "- The signs are read from the original files (in `cv`, `train` and `validate` too): a cohort's files must "
        "stay where, and as, they were ingested (checked against the sha256 ingest recorded).",
        "- Only the grades seen in training can be predicted; WHO 2021 grading also needs molecular markers.", "",
        "## How to cite",
        "Cite the gliograde software (version in `model.json`), the VASARI feature set (Wiki for the VASARI "
        "feature set, The Cancer Imaging Archive) and the data sources according to their terms of use.", "",
    ])
