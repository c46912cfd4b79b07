"""Model bundles: one folder per trained model, one :class:`ModelKind` subclass per kind of model.

::

    base.py                the ModelKind protocol, CasePrediction, CropScores, TrainReport, check_channels
    meta.py                model.json (read once) and what every kind writes into it; CV metrics; card pieces
    registry.py            KINDS (model.json kind -> class), get_kind, load_bundle
    cnn.py                 kind "cnn": fine-tuned network, LayerCAM evidence (weights.safetensors)
    radiomics.py           kind "radiomics": ROI features + selected classifier (model.skops, trusted types)
    radiomics_card.py      its MODEL_CARD.md
    radiomics_evidence.py  its occlusion contributions and overlay picture
    packed.py              a bundle's files as bytes for Ray workers (``--executor ray``), loaded there once

>>> # bundle = load_bundle("runs/model"); bundle.kind, bundle.classes -> "radiomics", (2, 3)
>>> # report = get_kind("cnn").train(cohort, Path("runs/m"), run_config); print(*report.lines, sep="\\n")
"""
from __future__ import annotations

from typing import Any, TypeAlias

from gliograde.bundles.base import CasePrediction, CropScores, ModelKind, TrainReport, check_channels
from gliograde.bundles.meta import MODEL_CARD, MODEL_JSON, read_cv_metrics
from gliograde.bundles.registry import KINDS, get_kind, load_bundle

#: A loaded bundle: an instance of its kind's class.
Bundle: TypeAlias = ModelKind[Any]

__all__ = ["KINDS", "MODEL_CARD", "MODEL_JSON", "Bundle", "CasePrediction", "CropScores", "ModelKind", "TrainReport",
           "check_channels", "get_kind", "load_bundle", "read_cv_metrics"]
