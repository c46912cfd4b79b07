"""gliograde: grade diffuse gliomas (WHO grade 2, 3, 4) from brain MRI.

The Python API (:mod:`gliograde.api`) is available at the top level; it loads on first use, so
``import gliograde`` stays light (no torch) and ``gliograde --help`` answers at once:

>>> import gliograde
>>> sorted(gliograde.__all__)
['RunConfig', '__version__', 'cv', 'ingest', 'predict', 'resolve', 'show_augmentation', 'train', 'validate']
>>> # results = gliograde.predict("runs/bundle", ["case_dir"], out="runs/pred")

``gliograde augment``'s call is :func:`gliograde.api.augment`, at the top level ``gliograde.show_augmentation``:
``gliograde.augment`` is the augmentation package.
"""
from __future__ import annotations

import importlib
from importlib import metadata
from typing import TYPE_CHECKING, Any

try:  # the version is written once, in pyproject.toml; run.json records the same installed metadata
    __version__ = metadata.version("gliograde")
except metadata.PackageNotFoundError:  # the source tree on sys.path without an install
    __version__ = "0+unknown"

if TYPE_CHECKING:
    from gliograde.api import augment as show_augmentation
    from gliograde.api import cv, ingest, predict, train, validate
    from gliograde.config import RunConfig
    from gliograde.settings import resolve

#: Top-level name -> the module that defines it (imported on first access, PEP 562).
_LAZY = {**{name: "gliograde.api" for name in ("ingest", "show_augmentation", "train", "cv", "predict", "validate")},
         "resolve": "gliograde.settings", "RunConfig": "gliograde.config"}
#: Top-level names defined under another name (``gliograde.augment`` is the subpackage, so its call is renamed).
_RENAMED = {"show_augmentation": "augment"}

__all__ = ["RunConfig", "__version__", "cv", "ingest", "predict", "resolve", "show_augmentation", "train", "validate"]


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        value = getattr(importlib.import_module(_LAZY[name]), _RENAMED.get(name, name))
        globals()[name] = value  # later look-ups skip this function
        return value
    raise AttributeError(f"module 'gliograde' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})
