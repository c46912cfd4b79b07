"""Native-resolution radiomics on the real BraTS volumes (issue 15 item 5): the features use their 1 mm spacing."""
from __future__ import annotations

from pathlib import Path

import pytest

from gliograde.baselines.native import NativeSettings, case_features
from gliograde.data.layouts import find_cases
from gliograde.signs.read import read_planes

pytest.importorskip("radiomics")
#: Only the 3D shape class (a params file, as PyRadiomics users write it): what this test measures.
SHAPE_ONLY = "setting:\n  label: 1\nfeatureClass:\n  shape:\n"


def test_brats_volumes_use_their_1mm_spacing(shared_data: Path, tmp_path: Path) -> None:
    cases, _ = find_cases(shared_data / "brats-volumes")
    planes = read_planes(cases[0])
    assert planes.spacing == pytest.approx((1.0, 1.0, 1.0))
    params = tmp_path / "shape.yaml"
    params.write_text(SHAPE_ONLY)
    row = case_features(planes, ("flair",), NativeSettings(params=params))
    assert row["roi_original_shape_VoxelVolume"] == pytest.approx(float(planes.roi.sum()))  # 1 mm^3 voxels
    assert row["roi_original_shape_MeshVolume"] > 0.9 * row["roi_original_shape_VoxelVolume"]  # 3D, in mm^3
    assert not [k for k in row if k.endswith("_px")]  # the spacing is known: nothing in pixels
