"""Acceptance on the real cohorts in ../shared/data (skipped locally without them, a failure in CI); marked
realdata by tests/conftest.py, as every user of the ``shared_data`` fixture is."""
from __future__ import annotations

import nibabel as nib
import numpy as np
import pandas as pd

from gliograde.config import IngestCfg
from gliograde.data.ingest import ingest


def test_tcga_lgg_representative_slices(shared_data, tmp_path):
    root = shared_data / "tcga-lgg"
    m = ingest(root, tmp_path / "t", IngestCfg(), progress=False).manifest
    labels = pd.read_csv(root / "labels.csv", dtype={"patient_id": str})
    j = m.merge(labels, on="patient_id", validate="one_to_one")
    assert len(j) == 70 == m["patient_id"].nunique()
    assert (j["grade"] == j["who_grade"]).all()
    assert (j["slice_index"] == j["largest_tumour_slice"]).all()
    assert set(m["site"]) == {"CS", "DU", "EZ", "FG"}


def test_brats_argmax_of_segmentation_area(shared_data, tmp_path):
    root = shared_data / "brats-volumes"
    m = ingest(root, tmp_path / "b", IngestCfg(), progress=False).manifest
    assert list(m["grade"]) == [4, 4, 4, 4, 2, 3]
    for case, k in zip(m["patient_id"], m["slice_index"], strict=False):
        seg = np.asarray(nib.load(root / case / f"{case}_seg.nii.gz").dataobj)
        assert k == int(np.argmax((seg > 0).sum(axis=(0, 1))))
