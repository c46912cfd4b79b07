"""Grading new cases with a bundle: find cases (``cases``), predict and write outputs (``run``)."""
from __future__ import annotations

from gliograde.prediction.run import CasePrediction, predict

__all__ = ["CasePrediction", "predict"]
