"""The signs of every patient of an ingested cohort, measured on the original files it was ingested from.

The ingested cache holds one resized crop per row; the signs need every tumour-bearing plane on the native grid,
so each patient's case is found again from the files its manifest rows name and checked against the sha256
ingest recorded (:func:`gliograde.data.origin.case_sources`: the same finders ingest and predict use), then
read by :func:`gliograde.signs.read.read_planes`. Nothing here reads a grade.

>>> # table = cohort_signs(load_cohort(Path("runs/cv/cohort")))
>>> # table.loc["TCGA-CS-4941", "enhancement"], table.loc["TCGA-CS-4941", "ref_enhancement"]
"""
from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pandas as pd

from gliograde.config import IngestCfg
from gliograde.data.cohort import read_ingest_cfg
from gliograde.data.dataset import Cohort
from gliograde.data.origin import case_sources
from gliograde.data.source import CaseSource
from gliograde.errors import InputError
from gliograde.signs.measure import SIGN_NAMES, CaseSigns, measure_signs
from gliograde.signs.read import CasePlanes, read_planes

logger = logging.getLogger(__name__)

#: Columns of a signs table besides the signs: each intensity sign's reference-tissue share, then bookkeeping.
REF_PREFIX = "ref_"


def cohort_ingest(root: Path) -> IngestCfg:
    """The settings the cohort was ingested with (its ROI labels are the signs' too); defaults when unrecorded."""
    try:
        return read_ingest_cfg(root)
    except InputError:
        return IngestCfg()


def grey_sequence(ingest: IngestCfg) -> str:
    """What a grey slice (or an unnamed single volume) holds: the one channel ingested, else post-contrast T1.

    >>> grey_sequence(IngestCfg(channels=("flair",))), grey_sequence(IngestCfg(channels=("flair", "t1ce")))
    ('flair', 't1ce')
    """
    return ingest.channels[0] if len(ingest.channels) == 1 else "t1ce"


def signs_row(signs: CaseSigns) -> dict[str, float | str | int]:
    """One table row: every sign (NaN when missing), its reference share, the sequences and planes used."""
    row: dict[str, float | str | int] = {s: signs.values.get(s, np.nan) for s in SIGN_NAMES}
    row.update({REF_PREFIX + s: v for s, v in signs.reference.items()})
    row.update({"sequences": "+".join(signs.sequences), "n_planes": signs.n_planes, "plane": signs.plane})
    return row


def read_case(source: CaseSource, ingest: IngestCfg) -> CasePlanes:
    """A case's tumour-bearing planes on their native grid, read as ingest read its cohort: the ROI labels, the
    sequence of a grey slice, and a DICOM folder's series by ``channels`` / ``series_map``. The one way the prior
    model and the native-resolution radiomics read a case."""
    return read_planes(source, roi_labels=ingest.roi_labels, grey_as=grey_sequence(ingest),
                       channels=ingest.channels, series_map=ingest.series_map)


def read_settings(ingest: IngestCfg) -> dict[str, object]:
    """What :func:`read_case` takes from the ingest settings, for the records of what a table was measured with."""
    return {"roi_labels": list(ingest.roi_labels), "grey_as": grey_sequence(ingest),
            "channels": list(ingest.channels), "series_map": list(ingest.series_map)}


def cohort_signs(cohort: Cohort, ingest: IngestCfg | None = None) -> pd.DataFrame:
    """(patients, signs ...) table indexed by patient_id, in cohort order (see :func:`signs_row`).

    Args:
        cohort: an ingested cohort (its manifest's ``source_image`` / ``source_mask`` name the original files).
        ingest: the cohort's ingest settings, which :func:`read_case` reads each case with (None: the defaults).
    """
    ingest = IngestCfg() if ingest is None else ingest
    rows = {}
    for pid, source in case_sources(cohort).items():
        rows[pid] = signs_row(measure_signs(read_case(source, ingest)))
    logger.info("measured the prior signs of %d patients", len(rows))
    table = pd.DataFrame.from_dict(rows, orient="index")
    table.index.name = "patient_id"
    return table
