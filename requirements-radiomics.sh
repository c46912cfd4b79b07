#!/usr/bin/env bash
# Install the optional PyRadiomics backend of the handcrafted baseline into a venv.
#
#   bash requirements-radiomics.sh [PYTHON]      # default: .venv/bin/python
#
# Why this is a script and not a pyproject extra: pyradiomics 3.1.0 fails to build in pip's isolated
# build on Python 3.11, and 3.0.1 ships only an sdist whose setup.py imports numpy at build time.
# So numpy (from the main install) and a setuptools that provides bdist_wheel (>= 70.1, or the
# `wheel` package) must be in the venv first, and the build must see them: --no-build-isolation.
# 3.0.1's C extensions compile against the venv's numpy (checked with numpy 2.4.6); nothing that
# the main install needs is up- or downgraded. Without it, gliograde falls back to scikit-image.
set -euo pipefail
PY="${1:-.venv/bin/python}"
"$PY" -c "import numpy" || { echo "install gliograde first (numpy is missing in $PY)" >&2; exit 2; }
"$PY" -m pip install -q --disable-pip-version-check "setuptools>=70.1"
"$PY" -m pip install -q --disable-pip-version-check --no-build-isolation "pyradiomics==3.0.1"
"$PY" -c "import radiomics, SimpleITK; from radiomics import _cmatrices; print('pyradiomics', radiomics.__version__)"
