"""`gliograde predict` and `gliograde validate` with `--executor ray` write the same files as the local executor
(issue 14): a CNN bundle on a mixed batch (good NIfTI cases, a DICOM case with an empty mask and a broken PNG case:
the errors must read the same), a radiomics bundle on slice cases, and a validation in several chunks of patients.
The Ray runs happen in one child process on its own Ray instance (tests/raycluster.py), so this process never
calls ``ray.init``."""
from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import nibabel as nib
import numpy as np
import pandas as pd
import pytest
import yaml
from fakedata import cnn_bundle, recommended_cohort, volume, write_dicom_series, write_nifti_cohort, write_slice_cohort
from raycluster import run_cli_on_ray

import gliograde.prediction.run as prediction_run
import gliograde.validation.run as validation_run
from gliograde.cli import main
from gliograde.config import ExecutorCfg
from gliograde.executor import TaskFailure

pytest.importorskip("ray", reason="needs the ray extra: pip install 'gliograde[ray]'")

TRAIN = [(f"T-{i:02d}", 2 if i % 2 else 3) for i in range(10)]
VAL = [(f"V-{i:02d}", (2, 3)[i % 2]) for i in range(8)]
FAST = {"inner_folds": 2, "classifiers": ["logreg"], "select_k": [3, 5]}


def _mixed_batch(batch: Path) -> Path:
    write_nifti_cohort(batch, [("good_1", 2), ("good_2", 3), ("good_3", 4)])
    vol, seg = volume((24, 24, 8), centre=3)
    write_dicom_series(batch / "empty_mask" / "dicom", vol)
    nib.save(nib.Nifti1Image(np.zeros_like(seg, np.uint8), np.eye(4)), batch / "empty_mask" / "mask.nii.gz")
    (batch / "broken").mkdir()
    (batch / "broken" / "x.png").write_bytes(b"not a png")
    (batch / "broken" / "x_mask.png").write_bytes(b"not a png")
    return batch


Runs = dict[str, tuple[Path, Path, list[str]]]


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> Runs:
    """{name: (local output, Ray output, the command's argv less --out)} of three commands; the Ray ones in one
    child process."""
    tmp = tmp_path_factory.mktemp("raybatch")
    cnn = cnn_bundle(tmp / "cnn")
    batch = _mixed_batch(tmp / "batch")
    raw, _, train = recommended_cohort(tmp / "rad", TRAIN, raw_size=40, crop_size=48, selection=FAST)
    assert main(train) == 0
    val = write_slice_cohort(tmp / "val", VAL, size=44, channels=3)
    (tmp / "val.yaml").write_text(yaml.safe_dump({"validate": {"batch_size": 2}}))  # 8 patients: 4 Ray tasks
    cases = [str(p) for p in sorted(raw.iterdir()) if p.is_dir()][:4]
    commands = {"predict-cnn": ["predict", str(cnn), str(batch)],
                "predict-radiomics": ["predict", str(tmp / "rad" / "b"), *cases, "--keep-ids"],
                "validate": ["validate", str(tmp / "rad" / "b"), str(val), "--bootstrap", "40",
                             "--config", str(tmp / "val.yaml")]}
    out = {name: (tmp / f"{name}-local", tmp / f"{name}-ray") for name in commands}
    codes = {name: int(name == "predict-cnn") for name in commands}  # its batch holds 2 bad cases: exit status 1
    for name, argv in commands.items():
        assert main(["-q", *argv, "--out", str(out[name][0])]) == codes[name], name
    done = run_cli_on_ray(*[[*argv, "--out", str(out[name][1]), "--executor", "ray"]
                            for name, argv in commands.items()])
    assert f"exit codes: {json.dumps(list(codes.values()))}" in done.stderr, done.stderr[-3000:]
    _check(done, max(codes.values()))
    return {name: (out[name][0], out[name][1], argv) for name, argv in commands.items()}


def _check(done: subprocess.CompletedProcess[str], code: int = 0) -> None:
    assert done.returncode == code, done.stderr[-3000:]
    assert "ray: 1 node(s), 2 CPU" in done.stderr, done.stderr[-3000:]  # the executor's resources line: Ray ran it


def _predict_files(out: Path) -> dict[str, object]:
    """What a predict run wrote, less the timings and the output folder's own path; overlays as bytes."""
    docs: dict[str, object] = {}
    for p in sorted(out.glob("*/prediction.json")):
        doc = json.loads(p.read_text())
        doc.pop("timings_ms")
        doc["overlay"] = doc["overlay"] and Path(doc["overlay"]).name
        docs[p.parent.name] = (doc, (p.parent / "overlay.png").read_bytes() if doc["overlay"] else None)
    summary = pd.read_csv(out / "summary.csv", keep_default_na=False).drop(columns="overlay")
    return {"cases": docs, "summary": summary.to_dict("list"), "config": (out / "config.yaml").read_text()}


@pytest.mark.parametrize("name", ["predict-cnn", "predict-radiomics"])
def test_predict_on_ray_writes_the_same_files(runs: Runs, name: str) -> None:
    local, on_ray, _ = runs[name]
    assert _predict_files(on_ray) == _predict_files(local)
    summary = pd.read_csv(local / "summary.csv", keep_default_na=False)
    assert (summary["status"] == "ok").sum() >= 3  # the comparison covers graded cases ...
    if name == "predict-cnn":  # ... and the two kinds of bad case, with their (PHI-scrubbed) messages
        errors = summary.loc[summary["status"] == "error", "message"].tolist()
        assert len(errors) == 2 and any("empty mask" in m for m in errors) and not any("/tmp" in m for m in errors)
    assert json.loads((on_ray / "timings.json").read_text())["cases_ok"] == (summary["status"] == "ok").sum()


def test_validate_on_ray_writes_the_same_files(runs: Runs) -> None:
    local, on_ray, _ = runs["validate"]
    assert (on_ray / "predictions.csv").read_bytes() == (local / "predictions.csv").read_bytes()
    metrics = [json.loads((run / "metrics.json").read_text()) for run in (local, on_ray)]
    for m in metrics:
        m.pop("seconds")
    assert metrics[0] == metrics[1] and metrics[0]["n"] == len(VAL)


#: Run gliograde commands (argv lists as JSON) with the local executor; fail if anything imported Ray.
NO_RAY = """
import json, sys
from gliograde.cli import main
codes = [main(json.loads(a)) for a in sys.argv[1:]]
assert not [m for m in sys.modules if m == "ray" or m.startswith("ray.")], "the local executor imported ray"
sys.exit(max(codes))
"""


def test_local_predict_and_validate_import_no_ray(runs: Runs, tmp_path: Path) -> None:
    argvs = [json.dumps(["-q", *runs[name][2], "--out", str(tmp_path / name)]) for name in ("predict-cnn", "validate")]
    done = subprocess.run([sys.executable, "-c", NO_RAY, *argvs], capture_output=True, text=True, timeout=240)
    assert done.returncode == 1 and "2 of 5 case(s) failed" in done.stderr, done.stderr[-3000:]  # predict-cnn's
    local = runs["validate"][0] / "predictions.csv"
    assert (tmp_path / "validate" / "predictions.csv").read_bytes() == local.read_bytes()


def _flaky_executor(lost: int) -> Callable[..., list[TaskFailure]]:
    """A stand-in for :func:`gliograde.executor.run_tasks` that runs each task here (packing and the worker-side
    function included) but reports task ``lost`` as failed after its retries, as Ray does for a dead worker."""
    def run(fn: Callable[..., Any], items: Sequence[Any], cfg: ExecutorCfg, *, on_done: Callable[[int, Any], None],
            desc: str, progress: bool = True, shared: object | None = None) -> list[TaskFailure]:
        for i, item in enumerate(items):
            if i != lost:
                on_done(i, fn(item, shared))
        return [TaskFailure(lost, "WorkerCrashedError: the worker died")]
    return run


def test_a_case_lost_on_the_cluster_is_an_error_row(runs: Runs, tmp_path: Path,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    local, _, argv = runs["predict-cnn"]
    monkeypatch.setattr(prediction_run, "run_tasks", _flaky_executor(2))  # good_1 (broken, empty_mask, good_1, ...)
    assert main(["-q", *argv, "--out", str(tmp_path / "o"), "--executor", "ray"]) == 1  # 3 of 5 cases failed
    got = pd.read_csv(tmp_path / "o" / "summary.csv", keep_default_na=False).set_index("case")
    want = pd.read_csv(local / "summary.csv", keep_default_na=False).set_index("case")
    lost = got.index[got["message"].str.contains("WorkerCrashedError")]
    assert len(lost) == 1 and got.loc[lost[0], "status"] == "error" and want.loc[lost[0], "status"] == "ok"
    assert "after 2 retries" in got.loc[lost[0], "message"]
    rest = got.index.drop(lost)  # every other case as the local run graded it, through pack_case / grade_packed
    assert got.loc[rest].drop(columns="overlay").equals(want.loc[rest].drop(columns="overlay"))


def test_validation_with_a_lost_chunk_writes_nothing_and_exits_1(runs: Runs, tmp_path: Path,
                                                                 monkeypatch: pytest.MonkeyPatch,
                                                                 capsys: pytest.CaptureFixture[str]) -> None:
    _, _, argv = runs["validate"]
    monkeypatch.setattr(validation_run, "run_tasks", _flaky_executor(1))
    assert main(["-q", *argv, "--out", str(tmp_path / "v"), "--executor", "ray"]) == 1
    err = capsys.readouterr().err
    assert "1 of 4 chunks of patients failed" in err and "patients 3-4: WorkerCrashedError" in err
    assert not (tmp_path / "v" / "predictions.csv").exists()
