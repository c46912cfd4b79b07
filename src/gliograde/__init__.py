"""gliograde: grade diffuse gliomas (WHO grade 2, 3, 4) from brain MRI.

>>> import gliograde
>>> # results = gliograde.predict("runs/bundle", ["case_dir"], out="runs/pred")
"""
from __future__ import annotations

__version__ = "0.1.0"

from gliograde.prediction.run import predict  # noqa: E402  (the stable API: gliograde.predict(...))

__all__ = ["__version__", "predict"]
