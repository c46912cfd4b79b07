"""What the case page says about the model: its card, its own cross-validated AUC with CI, and its calibration.

The numbers come from the bundle: ``model.json``'s ``cv_metrics`` (attached by ``gliograde train --cv-run``) and,
when the CV run's ``metrics.json`` it names is still there, that configuration's pooled AUC CI, ECE and
reliability table; a radiomics bundle also has its inner-CV AUC of the chosen model. Nothing is estimated here.

>>> calibration_line({"edges": [0, .5, 1], "confidence": [.4, .8], "accuracy": [.5, .6], "count": [4, 10]}, .8)
'when the model gave its top grade 0.50-1.00 (mean 0.80), it was right 60% of the time (10 cross-validated patients)'
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from gliograde.bundles import MODEL_CARD, Bundle
from gliograde.bundles.meta import RESEARCH_ONLY

#: The grading scheme of the labels gliograde's cohorts carry (TCGA-LGG, BraTS 2018: histological grades assigned
#: before the 2021 classification), shown unless model.json states its own ``labels.who_edition``.
WHO_NOTE = ("Training labels are histological WHO grades assigned before WHO CNS5 (2021), which grades within "
            "molecularly defined types (IDH, 1p/19q); a grade here is not a CNS5 integrated diagnosis.")
#: The CV configuration that trains the same model as a bundle of a kind, where its name is not the kind's own.
CONFIG_OF_KIND = {"cnn": "full"}


def calibration_line(reliability: dict[str, list[Any]], p: float) -> str | None:
    """One sentence: how often the model was right when its top probability was in ``p``'s bin (None when the
    bin is empty)."""
    edges, acc, count, conf = (reliability.get(k) or [] for k in ("edges", "accuracy", "count", "confidence"))
    for i in range(len(count)):
        if edges[i] < p <= edges[i + 1] or (i == 0 and p == edges[0]):
            if not count[i] or acc[i] is None:
                return None
            return (f"when the model gave its top grade {edges[i]:.2f}-{edges[i + 1]:.2f} (mean {conf[i]:.2f}), "
                    f"it was right {100 * acc[i]:.0f}% of the time ({count[i]} cross-validated patients)")
    return None


def _cv_block(bundle: Bundle) -> dict[str, Any] | None:
    cv = bundle.meta.get("cv_metrics") or None
    if not cv or not cv.get("configs"):
        return None
    configs: dict[str, Any] = cv["configs"]
    name = CONFIG_OF_KIND.get(bundle.kind, bundle.kind)  # radiomics -> radiomics, cnn -> full, ...
    name = name if name in configs else next(iter(configs))
    block: dict[str, Any] = {"config": name, "protocol": cv.get("protocol"), "n_patients": cv.get("n_patients"),
                             "n_folds": cv.get("n_folds"), "auc_mean": configs[name]["auc"]["mean"],
                             "auc_sd": configs[name]["auc"]["sd"], "pooled_auc": configs[name].get("pooled_auc"),
                             "pooled_auc_ci": None, "ece": None, "reliability": None}
    source = Path(str(cv.get("source") or ""))
    if source.is_file():
        try:
            full = (json.loads(source.read_text()).get("configs") or {}).get(name) or {}
        except json.JSONDecodeError:
            full = {}
        block.update({k: full.get(k) for k in ("pooled_auc_ci", "ece", "reliability")})
    return block


def model_info(bundle: Bundle) -> dict[str, Any]:
    """The ``/api/model`` document: kind, grades, channels, CV metrics (or why there are none), the model's
    inner-CV AUC (radiomics), its card (Markdown text), the WHO edition note and the research-use statement."""
    card = bundle.path / MODEL_CARD
    selection = bundle.meta.get("selection") or {}
    chosen = selection.get("chosen")
    inner = (selection.get("inner_auc") or {}).get(chosen) if chosen else None
    labels = bundle.meta.get("labels") or {}
    return {"kind": bundle.kind, "classes": list(bundle.classes), "channels": list(bundle.ingest.channels),
            "model": bundle.describe(), "fingerprint": bundle.fingerprint, "cv": _cv_block(bundle),
            "no_cv_reason": None if bundle.meta.get("cv_metrics") else
            "no cross-validated metrics attached; train with `gliograde train COHORT --cv-run CV_RUN` "
            "after `gliograde cv` to show them here",
            "inner_cv_auc": inner, "chosen_model": chosen,
            "who_edition": labels.get("who_grading") or labels.get("who_edition") or WHO_NOTE,  # G: the sentence
            "card": card.read_text() if card.is_file() else "", "intended_use": RESEARCH_ONLY.strip()}
