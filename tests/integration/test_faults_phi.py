"""Issue 17, PHI: a bundle folder holds no training patient id, file name or image; predict and validate name a
bad case by alias and file position; ``aliases.csv`` only on request.

The cohorts are made in ``tmp_path`` with ids that look like what leaks in practice (a name and an MRN), and the
bundle's bytes are searched for them (zip members decompressed: ``model.skops`` is a zip archive).
"""
from __future__ import annotations

import csv
import json
import zipfile
from pathlib import Path

import pytest
from fakedata import write_slice_cohort

from gliograde.bundles import KINDS
from gliograde.cli import main

#: Ids as hospitals write them (a name, an MRN); slice files are named after them (``Doe_Jane_12345670_2000_1.png``).
PATIENTS = [(f"Doe-Jane-{12345670 + i}", 2 + i % 2) for i in range(8)]
FAST_CNN = ["--kind", "cnn", "--preset", "quick", "--weights", "none", "--epochs", "1", "--augment", "none",
            "--image-size", "32", "--val-fraction", "0.25", "--allow-random-frozen"]  # fast, not a model
#: A small radiomics grid and crop (``--config``; the YAML is written by the ``raw`` fixture beside the cohort).
SMALL = {"ingest": {"preprocess": {"size": 48}},
         "cv": {"selection": {"inner_folds": 2, "select_k": [3], "classifiers": ["logreg"]}}}


def _needles(raw: Path) -> set[bytes]:
    """Every patient id, patient folder and source file name of the raw cohort (as bytes)."""
    found = {pid.encode() for pid, _ in PATIENTS} | {pid.replace("-", "_").encode() for pid, _ in PATIENTS}
    for p in raw.rglob("*"):
        if p.name != "labels.csv":
            found |= {p.name.encode(), p.stem.encode()}
    return found


def _contents(path: Path) -> list[bytes]:
    """The file's bytes and, for a zip archive, every member's uncompressed bytes."""
    data = [path.read_bytes()]
    if zipfile.is_zipfile(path):
        with zipfile.ZipFile(path) as z:
            data += [z.read(name) for name in z.namelist()] + [name.encode() for name in z.namelist()]
    return data


def _assert_free_of_phi(bundle: Path, raw: Path) -> None:
    files = [p for p in bundle.rglob("*") if p.is_file()]
    assert files and all(p.parent == bundle for p in files), "a bundle folder has no sub-folders (no cohort/)"
    images = [p.name for p in files if p.suffix.lower() in (".png", ".npy", ".npz", ".tif", ".nii", ".gz", ".dcm")]
    assert images in ([], ["history.png"]), images  # the training curve, never a patient's image or crop
    needles = _needles(raw)
    for f in files:
        for blob in _contents(f):
            hits = sorted(n.decode() for n in needles if n in blob)
            assert not hits, f"{f.name} holds {hits}"


@pytest.fixture(scope="module")
def raw(tmp_path_factory: pytest.TempPathFactory) -> Path:
    import yaml

    tmp = tmp_path_factory.mktemp("phi")
    (tmp / "small.yaml").write_text(yaml.safe_dump(SMALL))
    return write_slice_cohort(tmp / "raw", PATIENTS, size=40, channels=3)


def _fast(kind: str, raw: Path) -> list[str]:
    return {"cnn": FAST_CNN, "radiomics": ["--kind", "radiomics", "--config", str(raw.parent / "small.yaml")]}.get(
        kind, ["--kind", kind])


@pytest.mark.parametrize("kind", sorted(KINDS))  # every kind: a new one is checked too
def test_a_bundle_trained_on_a_raw_cohort_holds_no_id_file_name_or_image(kind: str, raw: Path,
                                                                         tmp_path: Path) -> None:
    out = tmp_path / "model"
    assert main(["-q", "train", str(raw), "--out", str(out), *_fast(kind, raw)]) == 0
    _assert_free_of_phi(out, raw)
    # the ingested copy is kept beside the bundle, where the user can find (and reuse) it
    ingested = tmp_path / "model.cohort"
    assert (ingested / "manifest.csv").is_file() and not (out / "cohort").exists()
    meta = json.loads((out / "model.json").read_text())
    tp = meta["training_patients"]  # keyed hashes of the training patients (issue 19: overlap checks)
    from gliograde.prediction.cases import alias_key_id, patient_aliases

    assert tp["n"] == len(PATIENTS) and tp["key_id"] == alias_key_id()
    assert tp["aliases"] == sorted(patient_aliases([p for p, _ in PATIENTS]))
    assert "training_patients" not in meta["files"] and meta["data_fingerprint"]["train_input_sha256"]
    if kind == "cnn":  # the training provenance names patients by alias: as in tp, train + val = all of them
        with open(out / "inner_split.csv") as fh:
            rows = list(csv.DictReader(fh))
        assert sorted({r["patient_alias"] for r in rows}) == tp["aliases"]
        assert {r["role"] for r in rows} == {"train", "val"}


def test_train_refuses_an_ingested_copy_of_another_cohort(raw: Path, tmp_path: Path,
                                                          capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "model"
    assert main(["-q", "train", str(raw), "--out", str(out), *_fast("radiomics", raw)]) == 0
    first = (out / "model.skops").read_bytes()
    assert main(["-q", "train", str(raw), "--out", str(out), *_fast("radiomics", raw)]) == 0  # same data: reused
    assert (out / "model.skops").read_bytes() == first  # the same model, the same bytes (and model_sha256)
    other = write_slice_cohort(tmp_path / "other", PATIENTS[:6], size=40, channels=3)
    capsys.readouterr()
    assert main(["-q", "train", str(other), "--out", str(out), *_fast("radiomics", raw)]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "model.cohort" in err and f"ingested from {raw}" in err
    assert "remove" in err


@pytest.fixture(scope="module")
def bundle(raw: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("bundle") / "b"
    assert main(["-q", "train", str(raw), "--out", str(out), *_fast("radiomics", raw)]) == 0
    return out


def _break(folder: Path) -> Path:
    """Make the patient folder's largest slice unreadable as a pair: its mask another size than its image."""
    from PIL import Image

    mask = sorted(folder.glob("*_1_mask.png"))[0]
    Image.new("L", (17, 23), 255).save(mask)
    return mask


def test_predict_names_a_bad_case_by_alias_and_file_place_and_writes_aliases_only_on_request(
        bundle: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    cases = write_slice_cohort(tmp_path / "cases", [("Roe-Ann-87654321", 2), ("Poe-Ed-11223344", 3)], size=40)
    bad = _break(cases / "Roe_Ann_87654321_2000")
    (cases / "labels.csv").unlink()
    out = tmp_path / "pred"
    assert main(["-q", "predict", str(bundle), str(cases), "--out", str(out)]) == 1  # one case failed
    captured = capsys.readouterr()
    printed = captured.out + captured.err
    assert "1 of 2 case(s) failed" in captured.err
    summary = (out / "summary.csv").read_text()
    for text in (summary, printed, (out / "run.json").read_text(), (out / "config.yaml").read_text()):
        assert "Roe" not in text and "87654321" not in text and bad.name not in text
    with open(out / "summary.csv") as fh:
        rows = {r["status"]: r for r in csv.DictReader(fh)}
    alias = rows["error"]["case"]
    assert alias.startswith("case-") and f"{alias}/file-" in rows["error"]["message"]  # the file by its place
    assert not (out / "aliases.csv").exists()
    # on request: alias -> input, for mapping results back (and only then)
    again = tmp_path / "pred2"
    assert main(["-q", "predict", str(bundle), str(cases), "--out", str(again), "--write-aliases"]) == 1
    with open(again / "aliases.csv") as fh:
        mapping = {r["alias"]: r["input"] for r in csv.DictReader(fh)}
    assert mapping[alias] == str(cases / "Roe_Ann_87654321_2000") and len(mapping) == 2
    from gliograde.settings import resolve

    assert resolve("predict", config=again / "config.yaml").predict.write_aliases  # replayable like every setting


def test_validate_names_left_out_patients_by_alias_and_writes_aliases_only_on_request(
        bundle: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    ext = write_slice_cohort(tmp_path / "ext", [(f"Moe-Al-{55500000 + i}", 2 + i % 2) for i in range(6)], size=40)
    bad = _break(ext / "Moe_Al_55500001_2000")
    out = tmp_path / "val"
    capsys.readouterr()
    assert main(["-q", "validate", str(bundle), str(ext), "--out", str(out), "--bootstrap", "0", "--skip-bad"]) == 1
    captured = capsys.readouterr()
    metrics = json.loads((out / "metrics.json").read_text())
    from gliograde.prediction.cases import case_alias

    assert metrics["skipped"] == [case_alias("Moe-Al-55500001", False)] and len(metrics["skipped_problems"]) == 1
    problem = metrics["skipped_problems"][0]
    assert problem.startswith(f"{metrics['skipped'][0]}/file-") and "mask shape" in problem  # file by place
    for text in (json.dumps(metrics), captured.out, captured.err):
        assert "55500001" not in text and bad.name not in text and "Moe_Al_55500001" not in text
    assert metrics["skipped"][0] in captured.out and not (out / "aliases.csv").exists()
    again = tmp_path / "val2"
    assert main(["-q", "validate", str(bundle), str(ext), "--out", str(again), "--bootstrap", "0", "--skip-bad",
                 "--write-aliases"]) == 1  # a patient left out: exit 1 (issue 19), the outputs still written
    with open(again / "aliases.csv") as fh:
        rows = {r["patient_id"]: r for r in csv.DictReader(fh)}
    assert len(rows) == 6 and rows["Moe-Al-55500001"]["status"] == "left out"
    assert rows["Moe-Al-55500001"]["alias"] == metrics["skipped"][0]
    assert rows["Moe-Al-55500001"]["input"] == str(ext / "Moe_Al_55500001_2000")
    assert rows["Moe-Al-55500000"]["alias"] == "Moe-Al-55500000"  # graded slice patients keep their labelled ids


def test_the_search_finds_an_id_in_a_compressed_zip_member(raw: Path, tmp_path: Path) -> None:
    """The check above can fail: an id deflated inside a zip (as a ``model.skops`` could hold one) is found."""
    folder = tmp_path / "b"
    folder.mkdir()
    with zipfile.ZipFile(folder / "model.skops", "w", compression=zipfile.ZIP_DEFLATED) as z:
        z.writestr("schema.json", json.dumps({"groups": [PATIENTS[3][0]] * 50}))
    assert PATIENTS[3][0].encode() not in (folder / "model.skops").read_bytes()  # not visible in the raw bytes
    with pytest.raises(AssertionError, match=PATIENTS[3][0]):
        _assert_free_of_phi(folder, raw)
