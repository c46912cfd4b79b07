"""The ``native`` feature family: PyRadiomics on each case's original grid, in mm, by sequence (issue 15 item 5)."""
from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
from fakedata import write_slice_cohort

from gliograde.baselines.feature_sets import FAMILIES, feature_matrix
from gliograde.baselines.native import (
    PX,
    NativeSettings,
    case_features,
    cohort_rows,
    pending_case,
    predicting,
    settings_for,
)
from gliograde.bundles.registry import get_kind, load_bundle
from gliograde.config import CVCfg, IngestCfg, PreprocessCfg, RunConfig, SelectionCfg
from gliograde.data.cohort import read_ingest_cfg
from gliograde.data.dataset import load_cohort
from gliograde.data.ingest_run import run_ingest
from gliograde.data.layouts import find_cases
from gliograde.data.source import CaseSource
from gliograde.errors import InputError
from gliograde.experiment.features import FeatureStore
from gliograde.signs.read import read_planes
from gliograde.validation.run import grade_cohort, prepare_cohort

pytest.importorskip("radiomics")
#: Only the 3D shape class: what the sphere tests measure (a params file, as PyRadiomics users write it).
SHAPE_ONLY = "setting:\n  label: 1\nfeatureClass:\n  shape:\n"


def _ellipsoid_case(tmp: Path, zooms: tuple[float, float, float], semi_mm: tuple[float, float, float],
                    labels: bool = False) -> tuple[CaseSource, int]:
    """A NIfTI case (flair + seg) holding an ellipsoid of semi-axes ``semi_mm`` (R, A, S) mm on voxels of
    ``zooms`` mm; returns its source and the voxel count."""
    import nibabel as nib

    shape = tuple(int(math.ceil(2 * s / z)) + 6 for s, z in zip(semi_mm, zooms, strict=True))
    idx = np.indices(shape).astype(np.float64)
    centre = [(n - 1) / 2 for n in shape]
    r2 = sum(((idx[i] - centre[i]) * zooms[i] / semi_mm[i]) ** 2 for i in range(3))
    seg = (r2 <= 1.0).astype(np.int16)
    if labels:  # BraTS sub-regions: enhancing shell, necrotic core, oedema outside
        seg = np.where(r2 <= 0.2, 1, np.where(r2 <= 0.5, 4, np.where(r2 <= 1.0, 2, 0))).astype(np.int16)
    rng = np.random.default_rng(0)
    img = (100 + 60 * (seg > 0) + rng.normal(0, 8, shape)).astype(np.float32)
    aff = np.diag([*zooms, 1.0])
    (tmp / "C1").mkdir(parents=True)
    nib.save(nib.Nifti1Image(img, aff), tmp / "C1" / "C1_flair.nii.gz")
    nib.save(nib.Nifti1Image(seg, aff), tmp / "C1" / "C1_seg.nii.gz")
    source = CaseSource("C1", 2, kind="volume", images={"flair": tmp / "C1" / "C1_flair.nii.gz"},
                        mask=tmp / "C1" / "C1_seg.nii.gz", is_segmentation=True)
    return source, int((seg > 0).sum())


@pytest.mark.parametrize("zooms", [(1.0, 1.0, 1.0), (0.5, 1.0, 2.0)])
def test_sphere_volume_in_mm3_from_the_nifti_affine(tmp_path: Path, zooms: tuple[float, float, float]) -> None:
    semi = (8.0, 4.0, 6.0)  # an ellipsoid: a spacing put on the wrong axis changes its largest diameter
    source, n_vox = _ellipsoid_case(tmp_path, zooms, semi)
    planes = read_planes(source)
    assert planes.spacing is not None and sorted(planes.spacing) == sorted(zooms)
    params = tmp_path / "shape.yaml"
    params.write_text(SHAPE_ONLY)
    row = case_features(planes, ("flair",), NativeSettings(params=params))
    assert row["roi_original_shape_VoxelVolume"] == pytest.approx(n_vox * float(np.prod(zooms)))
    assert row["roi_original_shape_MeshVolume"] == pytest.approx(4 / 3 * math.pi * np.prod(semi), rel=0.06)
    assert row["roi_original_shape_Maximum3DDiameter"] == pytest.approx(2 * max(semi), rel=0.08)
    assert not any(k.endswith(PX) for k in row)


def test_brats_subregion_fractions_are_features(tmp_path: Path) -> None:
    source, n_vox = _ellipsoid_case(tmp_path, (1.0, 1.0, 1.0), (6.0, 6.0, 6.0), labels=True)
    planes = read_planes(source)
    assert planes.labels is not None
    row = case_features(planes, ("flair",), NativeSettings())
    import nibabel as nib

    seg = np.asarray(nib.load(str(source.mask)).dataobj)
    for lab, what in ((4, "enhancing"), (1, "necrotic"), (2, "oedema")):
        assert row[f"roi_brats_{what}_fraction"] == pytest.approx((seg == lab).sum() / n_vox)
    assert "flair_original_glcm_Contrast" in row and "flair_original_firstorder_Mean" in row


def test_png_features_without_spacing_are_marked_in_pixels(tmp_path: Path) -> None:
    raw = write_slice_cohort(tmp_path / "raw", [("P-01", 2)], size=32, channels=3)
    source = find_cases(raw)[0][0]
    planes = read_planes(source)
    assert planes.spacing is None
    area = int(planes.roi[planes.largest()].sum())
    unknown = case_features(planes, ("flair", "t1ce"), NativeSettings())
    assert unknown["roi_original_shape2D_PixelSurface" + PX] == area
    assert "roi_original_shape2D_PixelSurface" not in unknown
    known = case_features(planes, ("flair", "t1ce"), NativeSettings(spacing=(0.5, 0.5)))
    assert known["roi_original_shape2D_PixelSurface"] == pytest.approx(area * 0.25)
    assert {"flair_original_glcm_Contrast", "t1ce_original_glcm_Contrast"} <= set(known)
    with pytest.raises(InputError, match="--spacing"):
        NativeSettings(spacing=(0.5,))
    with pytest.raises(InputError, match=r"not \['t2'\]"):
        case_features(planes, ("t2",), NativeSettings())


TRAIN = [(f"T-{i:02d}", 2 if i % 2 else 3) for i in range(10)]


def test_native_family_in_cv_store_training_and_predict_agree(tmp_path: Path) -> None:
    """One computation: the CV feature store, training and the bundle's predict_case give a case the same row."""
    assert "native" in FAMILIES
    raw = write_slice_cohort(tmp_path / "raw", TRAIN, size=40, channels=3)
    run_ingest(raw, tmp_path / "cohort", IngestCfg(channels=("flair", "t1ce"), preprocess=PreprocessCfg(size=48)),
               figures=False, progress=False)
    cohort = load_cohort(tmp_path / "cohort")
    sel = SelectionCfg(inner_folds=3, classifiers=("logreg",), select_k=(3,), features=("native",), spacing=(0.9, 0.9))
    store = FeatureStore(cohort, tmp_path / "work")
    X = store.roi(sel.features, selection=sel)
    assert (tmp_path / "work" / "native.npz").is_file() and X.shape[0] == len(cohort)
    rows = cohort_rows(cohort, read_ingest_cfg(cohort.root), settings_for(sel, read_ingest_cfg(cohort.root).preprocess))
    Xr, names = feature_matrix(cohort.images, cohort.masks, cohort.manifest["roi_area_px"], ("native",),
                               native_rows=rows)
    np.testing.assert_array_equal(X, Xr)
    assert "roi_original_shape2D_PixelSurface" in names  # spacing given: in mm^2, not marked
    assert FeatureStore(cohort, tmp_path / "work").roi(sel.features, selection=sel).tobytes() == X.tobytes()
    other = SelectionCfg(features=("native",))  # spacing unknown: another matrix, recomputed, not the cache
    assert not np.array_equal(FeatureStore(cohort, tmp_path / "work").roi(other.features, selection=other), X)
    with pytest.raises(InputError, match="original files"):  # crops alone carry no native grid
        feature_matrix(cohort.images[:1], cohort.masks[:1], [1.0], ("native",))

    cfg = RunConfig(preset="test", kind="radiomics", cv=CVCfg(selection=sel))
    get_kind("radiomics").train(cohort, tmp_path / "b", cfg, progress=False)
    bundle = load_bundle(tmp_path / "b")
    assert bundle.feature_names == tuple(names)
    assert bundle.warm_up() > 0  # a synthetic case has no original files: its native columns are 0, the model runs
    source = find_cases(raw)[0][0]
    pred = bundle.predict_case(source)
    row = int(np.flatnonzero(cohort.manifest["patient_id"].to_numpy() == source.patient_id)[0])
    want = bundle.pipeline.predict_proba(X[row:row + 1])[0]
    cols = list(bundle.pipeline.classes_)
    np.testing.assert_allclose([pred.probabilities[bundle.classes[c]] for c in cols], want, atol=1e-9)
    # validate reads each patient's original case too (the kind's input), and scores it the same
    assert bundle.reads == "case" and load_bundle(tmp_path / "b").reads == "case"
    val = prepare_cohort(cohort.root, bundle, work=tmp_path / "val", progress=False, cases=True)
    keep = val.table["patient_id"].isin(["T-00", "T-01"]).to_numpy()
    scores = grade_cohort(bundle, val, keep)
    pids = cohort.manifest["patient_id"].to_numpy()
    rows_of = [int(np.flatnonzero(pids == p)[0]) for p in val.table["patient_id"][keep]]
    np.testing.assert_allclose(scores.proba[:, cols], bundle.pipeline.predict_proba(X[rows_of]), atol=1e-9)
    ingest = read_ingest_cfg(cohort.root)
    with predicting(pending_case(source, ingest, settings_for(sel, ingest.preprocess))):
        one, _ = feature_matrix(cohort.images[:1], cohort.masks[:1], [1.0], ("native",), channels=("flair", "t1ce"))
    np.testing.assert_array_equal(one[0], X[row])
