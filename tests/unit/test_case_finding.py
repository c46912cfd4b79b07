"""One case finder: ``gliograde predict`` finds the cases ``gliograde ingest`` reads, in every layout; one
definition of "ingested" (:func:`gliograde.data.cohort.is_ingested`)."""
from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import nibabel as nib
import numpy as np
import pytest
from fakedata import volume, write_dicom_series, write_nifti_cohort, write_slice_cohort
from PIL import Image

from gliograde.config import IngestCfg
from gliograde.data.cohort import is_ingested
from gliograde.data.ingest import ingest, load_case
from gliograde.data.layouts import find_cases as find_patients
from gliograde.data.source import CaseSource
from gliograde.errors import InputError
from gliograde.prediction.cases import find_cases

PATIENTS = [("P-01", 2), ("P-02", 3)]


def _dicom_cohort(root: Path, series: str, mask: str) -> Path:
    """A DICOM cohort: per patient a series in ``series`` ("" = the patient folder itself) and a mask:
    ``mask.nii.gz``, ``<case>_mask.nii.gz``, ``<case>_seg.nii.gz`` or ``mask/`` (one PNG per DICOM file)."""
    for i, (pid, _) in enumerate(PATIENTS):
        folder = root / pid
        vol, seg = volume((20, 24, 8), centre=4, seed=i)
        files = write_dicom_series(folder / series if series else folder, vol)
        if mask == "mask/":
            (folder / "mask").mkdir()
            for k, f in enumerate(files):  # files[k] holds anatomical slice k
                Image.fromarray(((seg[..., k] > 0) * 255).astype(np.uint8)).save(folder / "mask" / f"{f.stem}.png")
        else:
            name = mask.replace("<case>", pid)
            nib.save(nib.Nifti1Image((seg > 0).astype(np.uint8), np.eye(4)), folder / name)
    (root / "labels.csv").write_text("patient_id,who_grade\n" + "".join(f"{p},{g}\n" for p, g in PATIENTS))
    return root


#: Every cohort layout ingest reads from folders (the manifest CSV names its files, so it has no case folders).
LAYOUTS: dict[str, Callable[[Path], Path]] = {
    "slices-png": lambda r: write_slice_cohort(r, PATIENTS),
    "slices-tif": lambda r: write_slice_cohort(r, PATIENTS, ext=".tif"),
    "slices-one-slice": lambda r: write_slice_cohort(r, PATIENTS, n_slices=1, largest=0),
    "nifti": lambda r: write_nifti_cohort(r, PATIENTS),
    "dicom-flat": lambda r: _dicom_cohort(r, "", "mask.nii.gz"),
    "dicom-dicom-folder": lambda r: _dicom_cohort(r, "dicom", "mask.nii.gz"),
    "dicom-mask-pngs": lambda r: _dicom_cohort(r, "dicom", "mask/"),
    "dicom-seg": lambda r: _dicom_cohort(r, "dicom", "<case>_seg.nii.gz"),
    "dicom-series-folder": lambda r: _dicom_cohort(r, "series", "<case>_mask.nii.gz"),
    "dicom-nested-series": lambda r: _dicom_cohort(r, "study/series_1", "<case>_mask.nii.gz"),
}


def _where(source: CaseSource | None) -> tuple[object, ...]:
    """What a case is read from, without the names and grades (labels give those to ingest, not to predict)."""
    assert source is not None
    return (source.kind, source.slices, source.images, source.mask, source.is_segmentation)


def _patients(root: Path) -> dict[str, CaseSource]:
    """Ingest's patients, by the name of their folder."""
    found, problems = find_patients(root)
    assert problems == []
    return {_folder(root, c): c for c in found}


def _folder(root: Path, source: CaseSource) -> str:
    files = [*(p for pair in source.slices.values() for p in pair), *source.images.values()]
    return files[0].relative_to(root).parts[0]


@pytest.mark.parametrize("layout", list(LAYOUTS))
def test_predict_finds_the_cases_ingest_reads(tmp_path: Path, layout: str) -> None:
    root = LAYOUTS[layout](tmp_path / "cohort")
    patients = _patients(root)
    assert len(patients) == len(PATIENTS)
    cases, batch = find_cases([root])  # the cohort folder: a batch of its patients
    assert batch and [c.error for c in cases] == [None] * len(PATIENTS)
    assert {c.name: _where(c.source) for c in cases} == {name: _where(p) for name, p in patients.items()}
    for name, patient in patients.items():  # each patient folder on its own: one case
        one, batch = find_cases([root / name])
        assert not batch and len(one) == 1 and one[0].error is None and one[0].name == name
        assert _where(one[0].source) == _where(patient)


def test_dicom_series_in_a_sub_folder_is_one_case_for_ingest_and_predict(tmp_path: Path) -> None:
    """The issue's case: ``<case>/series/*.dcm`` + ``<case>/<case>_mask.nii.gz``, refused by both before."""
    root = _dicom_cohort(tmp_path / "cohort", "series", "<case>_mask.nii.gz")
    cases, batch = find_cases([root / "P-01"])
    assert not batch and len(cases) == 1 and cases[0].error is None
    assert cases[0].source is not None and cases[0].source.images == {"series": root / "P-01" / "series"}
    manifest = ingest(root, tmp_path / "out", IngestCfg(), progress=False).manifest
    assert sorted(manifest["patient_id"]) == ["P-01", "P-02"]


def test_two_series_in_one_folder_are_named_not_guessed(tmp_path: Path) -> None:
    """A folder per series: the patient folder is the case (its series are told apart by their headers when read,
    as channels: tests/unit/test_dicom_multiseries.py); read as one channel, the choice is refused, not guessed."""
    root = _dicom_cohort(tmp_path / "cohort", "series", "<case>_mask.nii.gz")
    vol, _ = volume((20, 24, 8))
    write_dicom_series(root / "P-01" / "other", vol)
    found, problems = find_patients(root)
    assert not problems and found[0].images == {"series": root / "P-01"}
    cases, batch = find_cases([root / "P-01"])
    assert not batch and cases[0].source is not None
    with pytest.raises(InputError) as exc:
        load_case(cases[0].source, IngestCfg())
    assert "2 DICOM series in one folder" in str(exc.value)
    # names no sub-folder: a DICOM export's names can carry identifiers
    assert "/other" not in str(exc.value) and "(other" not in str(exc.value)


def test_ingested_is_one_definition(tmp_path: Path) -> None:
    raw = write_slice_cohort(tmp_path / "raw", PATIENTS)
    ingest(raw, tmp_path / "cohort", IngestCfg(), progress=False)
    assert is_ingested(tmp_path / "cohort")
    assert not is_ingested(raw) and not is_ingested(raw / "labels.csv") and not is_ingested(tmp_path / "missing")


def test_a_figure_in_a_cohort_folder_is_not_a_case(tmp_path: Path) -> None:
    """``gliograde synth`` writes montage.png beside the patients: ingest ignores it, so predict must too (it
    used to take the whole cohort folder for one case made of that figure, and fail)."""
    root = LAYOUTS["slices-png"](tmp_path / "cohort")
    Image.fromarray(np.zeros((8, 8), np.uint8)).save(root / "montage.png")
    assert len(_patients(root)) == len(PATIENTS)
    cases, batch = find_cases([root])
    assert batch and sorted(c.name for c in cases) == sorted(_patients(root)) and [c.error for c in cases] == [
        None] * len(PATIENTS)
    one, _ = find_cases([root / "montage.png"])  # named on its own, it is still refused with the fix
    assert one[0].source is None and "no mask beside it" in str(one[0].error)
