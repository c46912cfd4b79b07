"""One cohort opener, one case finder, through the CLI as a user meets them.

* ``augment``, ``train``, ``cv`` and ``validate`` take a raw cohort (ingested into ``OUT/cohort``, ``train``:
  ``OUT.cohort``, never into the data folder) or an ingested one (used as is), through
  :func:`gliograde.data.cohort.open_cohort`;
* ``predict`` reads a DICOM case folder with its series in a sub-folder (``series/`` + ``<case>_mask.nii.gz``),
  as ``ingest`` does.
Only the CLI is used for the issue's two problems, so these tests run (and fail) on the old main too.
"""
from __future__ import annotations

import logging
from pathlib import Path

import nibabel as nib
import numpy as np
import pytest
from fakedata import volume, write_dicom_series, write_slice_cohort

from gliograde.cli import main

PATIENTS = [(f"P-{i:02d}", 2 + i % 2) for i in range(8)]
#: The fastest CNN bundle the CLI trains: a random-start net, one epoch, no augmentation, 32 px.
FAST_TRAIN = ["--kind", "cnn", "--preset", "quick", "--weights", "none", "--epochs", "1", "--augment", "none",
              "--image-size", "32", "--val-fraction", "0.25", "--allow-random-frozen"]  # fast, not a model
#: The cheapest cross-validation: two folds of the handcrafted baseline.
FAST_CV = ["--configs", "handcrafted", "--folds", "2", "--protocol", "honest", "--n-boot", "20"]


def _files(folder: Path) -> set[Path]:
    return {p for p in folder.rglob("*") if p.is_file()}


@pytest.fixture(scope="module")
def cohorts(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """(raw slice cohort, the same cohort ingested by ``gliograde ingest``)."""
    tmp = tmp_path_factory.mktemp("cohorts")
    raw = write_slice_cohort(tmp / "raw", PATIENTS, size=40, channels=3)
    assert main(["-q", "ingest", str(raw), "--out", str(tmp / "ingested"), "--size", "32"]) == 0
    return raw, tmp / "ingested"


@pytest.fixture(scope="module")
def bundle(cohorts: tuple[Path, Path], tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("bundle") / "b"
    assert main(["-q", "train", str(cohorts[1]), "--out", str(out), *FAST_TRAIN]) == 0
    return out


def _argv(command: str, cohort: Path, out: Path, bundle: Path) -> list[str]:
    return {
        "augment": ["augment", str(cohort), "--out", str(out)],
        "train": ["train", str(cohort), "--out", str(out), *FAST_TRAIN],
        "cv": ["cv", str(cohort), "--out", str(out), *FAST_CV],
        "validate": ["validate", str(bundle), str(cohort), "--out", str(out), "--bootstrap", "0",
                     "--allow-overlap"],  # the bundle was trained on this cohort
    }[command]


@pytest.mark.parametrize("given", ["raw", "ingested"])
@pytest.mark.parametrize("command", ["augment", "train", "cv", "validate"])
def test_every_cohort_command_takes_a_raw_or_an_ingested_cohort(
        command: str, given: str, cohorts: tuple[Path, Path], bundle: Path, tmp_path: Path) -> None:
    """The issue's problem: ``augment RAW_FOLDER`` refused the raw cohort that cv and train accept."""
    raw, ingested = cohorts
    cohort = raw if given == "raw" else ingested
    before = _files(cohort)
    out = tmp_path / "out"
    assert main(["-q", *_argv(command, cohort, out, bundle)]) == 0
    assert _files(cohort) == before  # nothing is written into the cohort given
    # a raw cohort is ingested into OUT/cohort (train: OUT.cohort beside the bundle, which holds no patient data;
    # validate: a scratch folder); an ingested one is used as is
    where = tmp_path / "out.cohort" if command == "train" else out / "cohort"
    assert (where / "manifest.csv").is_file() == (given == "raw" and command != "validate")
    assert not (command == "train" and (out / "cohort").exists())


@pytest.mark.parametrize("command", ["augment", "train", "cv"])
def test_no_message_suggests_writing_into_the_data_folder(command: str, tmp_path: Path,
                                                          capsys: pytest.CaptureFixture[str]) -> None:
    """A folder that is neither a cohort nor ingested: one line naming the fix, never ``--out DATA``."""
    data = write_slice_cohort(tmp_path / "scans", PATIENTS[:2])
    (data / "labels.csv").unlink()
    assert main(_argv(command, data, tmp_path / "out", tmp_path / "no-bundle")) == 2
    err = capsys.readouterr().err
    assert "labels.csv" in err and f"--out {data}" not in err and not (data / "manifest.csv").exists()


def _dicom_case(folder: Path) -> Path:
    """``<case>/series/*.dcm`` + ``<case>/<case>_mask.nii.gz``: the issue's DICOM case folder."""
    vol, seg = volume((24, 24, 8), centre=3)
    write_dicom_series(folder / "series", vol)
    nib.save(nib.Nifti1Image((seg > 0).astype(np.uint8), np.eye(4)), folder / f"{folder.name}_mask.nii.gz")
    return folder


def test_predict_reads_the_dicom_case_folder_ingest_reads(bundle: Path, tmp_path: Path) -> None:
    """The issue's problem: ``predict BUNDLE CASE`` refused it (read as a NIfTI case without images)."""
    case = _dicom_case(tmp_path / "cases" / "Doe_Jane")
    out = tmp_path / "pred"
    assert main(["-q", "predict", str(bundle), str(case), "--out", str(out)]) == 0
    (folder,) = [p for p in out.iterdir() if p.is_dir()]
    assert folder.name.startswith("case-") and (folder / "prediction.json").is_file()  # named without PHI
    assert "Doe" not in (out / "summary.csv").read_text()
    assert main(["-q", "predict", str(bundle), str(tmp_path / "cases"), "--out", str(tmp_path / "batch")]) == 0
    assert [p.name for p in (tmp_path / "batch").iterdir() if p.is_dir()] == [folder.name]
    (tmp_path / "cases" / "labels.csv").write_text("patient_id,who_grade\nDoe_Jane,2\n")
    assert main(["-q", "ingest", str(tmp_path / "cases"), "--out", str(tmp_path / "ingested")]) == 0


def test_open_cohort_keeps_an_ingested_cohorts_own_settings(cohorts: tuple[Path, Path], tmp_path: Path,
                                                            caplog: pytest.LogCaptureFixture,
                                                            monkeypatch: pytest.MonkeyPatch) -> None:
    import dataclasses

    from gliograde.config import IngestCfg, PreprocessCfg
    from gliograde.data import cohort as cohort_module
    from gliograde.data import ingest_run

    raw, ingested = cohorts
    asked = IngestCfg(preprocess=PreprocessCfg(size=48))
    with caplog.at_level(logging.INFO, logger="gliograde.data.cohort"):
        opened = cohort_module.open_cohort(ingested, tmp_path / "out", asked, progress=False)
    assert opened.root == ingested and opened.images.shape[-1] == 32 and not (tmp_path / "out").exists()
    assert "its own ingest settings apply" in caplog.text and "size" in caplog.text
    calls: list[Path] = []
    real = ingest_run.run_ingest

    def counting(data: Path, out: Path, cfg: IngestCfg, **kw: bool) -> object:
        calls.append(out)
        return real(data, out, cfg, **kw)

    monkeypatch.setattr("gliograde.data.cohort.run_ingest", counting)
    first = cohort_module.open_cohort(raw, tmp_path / "run", asked, progress=False, figures=False)
    again = cohort_module.open_cohort(raw, tmp_path / "run", dataclasses.replace(asked), progress=False)
    assert calls == [tmp_path / "run" / "cohort"]  # ingested once, reused when the command runs again
    assert first.root == again.root == tmp_path / "run" / "cohort" and first.images.shape[-1] == 48
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="gliograde.data.cohort"):
        stale = cohort_module.open_cohort(raw, tmp_path / "run", IngestCfg(), progress=False)
    assert stale.images.shape[-1] == 48 and "remove it to ingest the cohort again" in caplog.text
    assert calls == [tmp_path / "run" / "cohort"]


@pytest.mark.parametrize("name", ["tcga-lgg", "brats-volumes"])
def test_predict_finds_the_patients_ingest_finds_in_the_real_data(shared_data: Path, name: str) -> None:
    from gliograde.data.layouts import find_cases as find_patients
    from gliograde.prediction.cases import find_cases

    root = shared_data / name
    patients, problems = find_patients(root)
    cases, batch = find_cases([root])
    assert problems == [] and batch and all(c.error is None for c in cases)
    where = {c.name: (c.source.kind, c.source.slices, c.source.images, c.source.mask) for c in cases if c.source}
    for p in patients:
        folder = next(iter([*(i for pair in p.slices.values() for i in pair), *p.images.values()])).parent.name
        assert where.pop(folder) == (p.kind, p.slices, p.images, p.mask)
    assert where == {}  # no case that ingest does not read as a patient
