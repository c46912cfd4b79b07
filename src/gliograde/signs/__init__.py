"""Pre-specified radiological signs of a glioma, pooled per patient, and the score built from them.

::

    read.py      every tumour-bearing plane of a case on its native grid, for each sequence it has
    measure.py   the signs (enhancement, necrosis, FLAIR hyperintensity, size, margin, BraTS label shares)
    cohort.py    the signs of every patient of an ingested cohort, from the files it was ingested from
    score.py     fixed rule / monotone model per set of signs, and its calibration

The ``prior`` model kind (:mod:`gliograde.bundles.prior`) and CV configuration (:mod:`gliograde.experiment.prior`)
are built on these; ``docs/prior.md`` gives each sign's definition and source.

>>> SIGN_NAMES[:3]
('enhancement', 'enhancement_t1c', 'necrosis')
"""
from __future__ import annotations

from gliograde.signs.measure import SIGN_NAMES, SIGNS, CaseSigns, Sign, measure_signs
from gliograde.signs.read import CasePlanes, read_planes
from gliograde.signs.score import SetModel, fit_set, scored_signs

__all__ = ["SIGNS", "SIGN_NAMES", "CasePlanes", "CaseSigns", "SetModel", "Sign", "fit_set", "measure_signs",
           "read_planes", "scored_signs"]
