"""gliograde: grade diffuse gliomas (WHO grade 2, 3, 4) from brain MRI.

The Python API (:mod:`gliograde.api`) is available at the top level; it loads on first use, so
``import gliograde`` stays light (no torch) and ``gliograde --help`` answers at once:

>>> import gliograde
>>> sorted(gliograde.__all__)
['RunConfig', '__version__', 'cv', 'ingest', 'predict', 'resolve', 'train', 'validate']
>>> # results = gliograde.predict("runs/bundle", ["case_dir"], out="runs/pred")
"""
from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

if TYPE_CHECKING:
    from gliograde.api import cv, ingest, predict, train, validate
    from gliograde.config import RunConfig
    from gliograde.settings import resolve

#: Top-level name -> the module that defines it (imported on first access, PEP 562).
_LAZY = {"ingest": "gliograde.api", "train": "gliograde.api", "cv": "gliograde.api", "predict": "gliograde.api",
         "validate": "gliograde.api", "resolve": "gliograde.settings", "RunConfig": "gliograde.config"}

__all__ = ["RunConfig", "__version__", "cv", "ingest", "predict", "resolve", "train", "validate"]


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        value = getattr(importlib.import_module(_LAZY[name]), name)
        globals()[name] = value  # later look-ups skip this function
        return value
    raise AttributeError(f"module 'gliograde' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})
