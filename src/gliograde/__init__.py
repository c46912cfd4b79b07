"""gliograde: grade diffuse gliomas (WHO grade 2, 3, 4) from brain MRI.

The public API grows one pipeline stage at a time; see README.md for the commands.
"""
from __future__ import annotations

__version__ = "0.1.0"
__all__ = ["__version__"]
