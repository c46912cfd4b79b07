"""Fault corpus, output side, at the command line (issue 17): `export --onnx` leaves the bundle byte-identical and
usable and overwrites nothing it did not write; two `ingest` runs into one folder at once: one succeeds, the other
is refused in one line naming the holder, and the cohort is consistent."""
from __future__ import annotations

import hashlib
import json
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from fakedata import cnn_bundle, write_slice_cohort
from PIL import Image

from gliograde.bundles import load_bundle
from gliograde.cli import main


def _tree(folder: Path) -> dict[str, str]:
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file()}


def test_export_leaves_the_bundle_byte_identical_and_overwrites_nothing_it_did_not_write(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    pytest.importorskip("onnxruntime")
    bundle = cnn_bundle(tmp_path)
    before = _tree(bundle)
    assert main(["export", str(bundle), "--onnx"]) == 0  # the README's example
    assert _tree(bundle) == before
    out = tmp_path / "bundle.onnx"
    side = json.loads((tmp_path / "bundle.json").read_text())
    assert side["written_by"] == "gliograde export" and side["onnx_sha256"] == hashlib.sha256(
        out.read_bytes()).hexdigest()
    load_bundle(bundle)  # still usable
    assert main(["export", str(bundle), "--onnx"]) == 0  # its own files: replaced
    capsys.readouterr()

    assert main(["export", str(bundle), "--onnx", "--out", str(bundle / "model.onnx")]) == 2  # asked, but clobbers
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "model.json" in err[0] and "not written by `gliograde export`" in err[0]
    assert _tree(bundle) == before

    mine = tmp_path / "deploy"
    mine.mkdir()
    (mine / "glio.json").write_text('{"my": "notes"}')
    assert main(["export", str(bundle), "--onnx", "--out", str(mine / "glio.onnx")]) == 2
    assert (mine / "glio.json").read_text() == '{"my": "notes"}' and not (mine / "glio.onnx").exists()
    (mine / "other.onnx").write_bytes(b"someone else's model")
    assert main(["export", str(bundle), "--onnx", "--out", str(mine / "other.onnx")]) == 2
    assert (mine / "other.onnx").read_bytes() == b"someone else's model"


def test_two_concurrent_ingests_into_one_folder_one_wins_the_other_is_refused(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    big = write_slice_cohort(tmp_path / "big", [(f"B-{i:02d}", 2 + i % 2) for i in range(40)], size=96, n_slices=3)
    small = write_slice_cohort(tmp_path / "small", [(f"S-{i:02d}", 2 + i % 2) for i in range(6)], size=40)
    out = tmp_path / "cohort"
    cli = "import sys; from gliograde.cli import main; sys.exit(main(sys.argv[1:]))"
    first = subprocess.Popen([sys.executable, "-c", cli, "-q", "ingest", str(big), "--out", str(out), "--size", "64"],
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    lock = out / ".gliograde.lock"
    deadline = time.monotonic() + 60
    while not (lock.is_file() and f"pid {first.pid} " in lock.read_text()):
        assert first.poll() is None and time.monotonic() < deadline, first.communicate()
        time.sleep(0.05)
    code = main(["ingest", str(small), "--out", str(out), "--size", "32"])
    assert first.poll() is None, "the first ingest finished before the second started: make it bigger"
    assert code == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and f"in use by pid {first.pid}" in err[0] and "ingest" in err[0]
    _, stderr = first.communicate(timeout=300)
    assert first.returncode == 0, stderr
    manifest = pd.read_csv(out / "manifest.csv", dtype={"patient_id": str})
    assert sorted(manifest["patient_id"].unique()) == [f"B-{i:02d}" for i in range(40)]
    sizes = {Image.open(out / p).size for p in manifest["cache_path"]}
    assert sizes == {(64, 64)} and "size: 64" in (out / "config.yaml").read_text()
    on_disk = {str(p.relative_to(out)) for p in (out / "cache").rglob("*.png")}
    assert on_disk == set(manifest["cache_path"]) | set(manifest["cache_mask_path"])
    assert not lock.exists() and not list(tmp_path.glob(".cohort*"))
    assert np.all(manifest["roi_area_px"] > 0)
