"""Paths as the reports show them: a folder's or file's own name, never the path to it. A path can hold a patient's
name or id (``/home/dr_smith/patients/JOHN_DOE/run``), and a report is made to be mailed; the input data are
identified by their fingerprint instead (``run.json``). The full paths stay in the run's own ``config.yaml`` and
``run.json``, which replay the run; no report copies them.

>>> shown_name("/home/dr_smith/patients/JOHN_DOE/run"), shown_name("runs/demo/"), shown_name("demo")
('run', 'demo', 'demo')
>>> shown_config({"cohort": "/data/JOHN_DOE/cohort", "cv": {"folds": 10, "configs": ["full"]}, "weights": "imagenet"})
{'cohort': 'cohort', 'cv': {'folds': 10, 'configs': ['full']}, 'weights': 'imagenet'}
"""
from __future__ import annotations

from pathlib import Path, PurePosixPath, PureWindowsPath
from typing import Any


def shown_name(path: str | Path) -> str:
    """The last component of ``path`` (POSIX or Windows separators), as the reports print a folder or file."""
    text = str(path)
    pure = PureWindowsPath(text) if "\\" in text else PurePosixPath(text)
    return pure.name or text


def shown_config(doc: Any) -> Any:
    """A resolved config (``config.yaml`` as read) with every value that is a path (holds a separator) replaced by
    its :func:`shown_name`; keys and other values unchanged. By value, not by key, so a setting that is a path
    added later (a labels CSV, a weights file) is covered without being listed here."""
    if isinstance(doc, dict):
        return {k: shown_config(v) for k, v in doc.items()}
    if isinstance(doc, list):
        return [shown_config(v) for v in doc]
    if isinstance(doc, str) and ("/" in doc or "\\" in doc):
        return shown_name(doc)
    return doc
