"""Synthetic cohort: layout identical to TCGA-LGG / BraTS, determinism, grade appearance, the oracle ceiling.
Through the CLI, beside the real data, separability on 48 patients: tests/integration/test_synth_cli.py."""
from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pytest
from conftest import SYNTH_COUNTS as SMALL
from PIL import Image
from scipy import ndimage

from gliograde.errors import InputError
from gliograde.synth import (
    DEFAULT_COUNTS,
    DEFAULT_DIFFICULTY,
    draw_tumour,
    generate_cohort,
    iter_patients,
    make_patient,
    oracle_auc,
    patient_rng,
)
from gliograde.synth.cohort import NIFTI_LABEL_COLUMNS, PNG_LABEL_COLUMNS


def _rows(path: Path) -> list[dict[str, str]]:
    with open(path, newline="") as fh:
        return list(csv.DictReader(fh))


def _all_bytes(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def test_counts_and_labels(png_cohort: Path) -> None:
    rows = _rows(png_cohort / "labels.csv")
    assert tuple(rows[0].keys()) == PNG_LABEL_COLUMNS
    assert [sum(r["who_grade"] == str(g) for r in rows) for g in (2, 3, 4)] == list(SMALL)
    assert len({r["patient_id"] for r in rows}) == sum(SMALL)
    assert {p.name for p in png_cohort.iterdir() if p.is_dir()} == {r["folder"] for r in rows}
    assert (png_cohort / "montage.png").is_file()


def test_slice_layout_matches_tcga_lgg(png_cohort: Path) -> None:
    for r in _rows(png_cohort / "labels.csv"):
        folder = png_cohort / r["folder"]
        first, last = map(int, r["slices_kept"].split("-"))
        numbers = list(range(first, last + 1))
        assert len(numbers) == 5 and last <= int(r["slices_in_scan"])
        expected = {f"{r['folder']}_{n}.png" for n in numbers} | {f"{r['folder']}_{n}_mask.png" for n in numbers}
        assert {p.name for p in folder.iterdir()} == expected
        areas = []
        for n in numbers:
            img = Image.open(folder / f"{r['folder']}_{n}.png")
            mask = Image.open(folder / f"{r['folder']}_{n}_mask.png")
            assert (img.mode, img.size, mask.mode, mask.size) == ("RGB", (256, 256), "L", (256, 256))
            m = np.asarray(mask)
            assert set(np.unique(m)) <= {0, 255}
            areas.append(int((m == 255).sum()))
        assert numbers[int(np.argmax(areas))] == int(r["largest_tumour_slice"]) == numbers[2]
        assert areas[2] > 0


def test_same_seed_gives_identical_bytes(png_cohort: Path, tmp_path: Path) -> None:
    generate_cohort(tmp_path / "again", counts=SMALL, seed=0)
    assert _all_bytes(tmp_path / "again") == _all_bytes(png_cohort)


def test_parallel_workers_give_identical_bytes(png_cohort: Path, tmp_path: Path) -> None:
    generate_cohort(tmp_path / "par", counts=SMALL, seed=0, workers=2)
    assert _all_bytes(tmp_path / "par") == _all_bytes(png_cohort)


def test_other_seed_differs(png_cohort: Path, tmp_path: Path) -> None:
    generate_cohort(tmp_path / "other", counts=SMALL, seed=1, montage=False)
    ours = _all_bytes(png_cohort)
    theirs = _all_bytes(tmp_path / "other")
    shared = set(ours) & set(theirs)
    assert all(ours[k] != theirs[k] for k in shared if k.endswith(".png") and k != "montage.png")


def test_patient_does_not_depend_on_counts() -> None:
    alone = make_patient(3, patient_rng(7, 3, 0), difficulty=0.5)
    in_cohort = [p for _, i, p in iter_patients((2, 1, 0), seed=7, difficulty=0.5) if p.grade == 3 and i == 0][0]
    np.testing.assert_array_equal(alone.images, in_cohort.images)
    np.testing.assert_array_equal(alone.mask, in_cohort.mask)


def test_patient_arrays_and_tumour_signal(seed: int) -> None:
    p = make_patient(4, patient_rng(seed, 4, 0), difficulty=0.0)
    assert p.images.shape == (5, 256, 256, 3) and p.images.dtype == np.uint8
    assert p.mask.shape == (5, 256, 256) and p.mask.dtype == np.bool_
    assert set(np.unique(p.seg)) <= {0, 1, 2, 4} and ((p.seg > 0) == p.mask).all()
    mid = p.images[2].astype(float)
    ring = ndimage.binary_dilation(p.mask[2], iterations=10) & ~ndimage.binary_dilation(p.mask[2], iterations=3)
    # FLAIR abnormality is brighter than the tissue around it; grade 4 enhances on post-contrast T1
    assert mid[..., 1][p.mask[2]].mean() > 1.2 * mid[..., 1][ring].mean()
    assert np.percentile(mid[..., 2][p.mask[2]], 95) > 1.3 * np.median(mid[..., 2][ring])


def test_grade_typical_appearance_at_zero_difficulty() -> None:
    rng = np.random.default_rng(0)
    patterns = {g: {draw_tumour(g, rng, 0.0).enhancement for _ in range(50)} for g in (2, 3, 4)}
    assert patterns == {2: {"none"}, 3: {"patchy"}, 4: {"rim"}}


def test_difficulty_makes_grades_overlap() -> None:
    rng = np.random.default_rng(0)
    grade3 = [draw_tumour(3, rng, 1.0) for _ in range(300)]
    assert {t.enhancement for t in grade3} == {"none", "patchy", "rim"}
    sizes = {g: np.array([draw_tumour(g, rng, 1.0).radius_mm for _ in range(300)]) for g in (2, 4)}
    assert sizes[2].max() > sizes[4].min()  # sizes overlap, too


def test_oracle_ceiling_is_below_one_at_default() -> None:
    res = oracle_auc(DEFAULT_COUNTS, seed=0, difficulty=DEFAULT_DIFFICULTY)
    assert 0.8 < res["macro_auc"] < 0.97
    assert oracle_auc(DEFAULT_COUNTS, 0, 0.0)["macro_auc"] > 0.99


def test_nifti_layout(tmp_path: Path) -> None:
    import nibabel as nib

    labels = generate_cohort(tmp_path / "n", counts=(1, 0, 1), seed=0, fmt="nifti", montage=False)
    rows = _rows(labels)
    assert tuple(rows[0].keys()) == NIFTI_LABEL_COLUMNS
    assert sorted(r["brats_grade"] for r in rows) == ["HGG", "LGG"]
    for r in rows:
        case = tmp_path / "n" / r["case_id"]
        names = {p.name for p in case.iterdir()}
        assert names == {f"{r['case_id']}_{s}.nii.gz" for s in ("t1", "flair", "t1ce", "seg")}
        t1ce = nib.load(case / f"{r['case_id']}_t1ce.nii.gz")
        seg = np.asarray(nib.load(case / f"{r['case_id']}_seg.nii.gz").dataobj)
        assert t1ce.shape == (240, 240, 5) and t1ce.get_data_dtype() == np.int16
        assert seg.dtype == np.uint8 and set(np.unique(seg)) <= {0, 1, 2, 4} and seg.any()
        areas = (seg > 0).sum(axis=(0, 1))
        assert int(np.argmax(areas)) == 2


def test_nifti_is_deterministic(tmp_path: Path) -> None:
    for name in ("a", "b"):
        generate_cohort(tmp_path / name, counts=(0, 1, 0), seed=5, fmt="nifti", montage=False)
    assert _all_bytes(tmp_path / "a") == _all_bytes(tmp_path / "b")


def test_cohort_is_found_by_the_ingest_layouts(png_cohort: Path) -> None:
    layouts = pytest.importorskip("gliograde.data.layouts")
    cases, problems = layouts.find_cases(png_cohort)
    assert problems == [] and len(cases) == sum(SMALL)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"counts": (1, 1)}, "three non-negative"),
        ({"counts": (0, 0, 0)}, "three non-negative"),
        ({"n_slices": 4}, "odd"),
        ({"difficulty": 1.5}, r"\[0, 1\]"),
        ({"fmt": "dicom"}, "png"),
    ],
)
def test_bad_arguments_are_named(tmp_path: Path, kwargs: dict[str, object], message: str) -> None:
    with pytest.raises(InputError, match=message):
        generate_cohort(tmp_path / "x", **{"counts": (1, 0, 0), **kwargs})  # type: ignore[arg-type]


def test_refuses_non_empty_folder(tmp_path: Path) -> None:
    (tmp_path / "keep.txt").write_text("user data")
    with pytest.raises(InputError, match="not an empty folder"):
        generate_cohort(tmp_path, counts=(1, 0, 0))
