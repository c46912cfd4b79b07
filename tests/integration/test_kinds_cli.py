"""Every registered model kind through the CLI, as a user runs it: ``gliograde train --kind K`` writes a bundle,
``gliograde predict`` grades a raw case with it and ``gliograde validate`` grades a labelled cohort exactly as
predict does. Parametrized over :data:`gliograde.bundles.KINDS`: a new kind adds its line to ``TRAIN_FLAGS``.
The kinds' library interface: tests/unit/test_kinds.py."""
from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest
import yaml
from fakedata import write_slice_cohort

from gliograde.bundles import KINDS, MODEL_JSON
from gliograde.cli import main

TRAIN = [(f"T-{i:02d}", 2 if i % 2 else 3) for i in range(12)]
VAL = [(f"V-{i:02d}", 2 if i % 2 else 3) for i in range(6)]
SMALL_GRID = {"cv": {"selection": {"inner_folds": 3, "select_k": [3], "classifiers": ["logreg"]}}}
#: The fastest `gliograde train` of each kind (the YAML file is written from the dict).
TRAIN_FLAGS: dict[str, list[str] | dict[str, object]] = {
    "cnn": ["--preset", "quick", "--weights", "none", "--epochs", "1", "--augment", "none", "--image-size", "32",
            "--val-fraction", "0.25", "--allow-random-frozen"],  # a random frozen backbone: fast, not a model
    "radiomics": SMALL_GRID,
    "prior": [],
}


@pytest.fixture(scope="module")
def data(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """A raw training cohort (ingested by each `gliograde train` into OUT/cohort) and a raw validation cohort."""
    tmp = tmp_path_factory.mktemp("kinds-cli")
    return {"tmp": tmp, "train": write_slice_cohort(tmp / "train", TRAIN, size=40, channels=3),
            "val": write_slice_cohort(tmp / "val", VAL, size=44, channels=3)}


@pytest.fixture(scope="module", params=sorted(KINDS))
def bundle(request: pytest.FixtureRequest, data: dict[str, Path]) -> tuple[str, Path]:
    kind = request.param
    assert kind in TRAIN_FLAGS, f"kind {kind!r} is registered but has no line in TRAIN_FLAGS; add one"
    flags = TRAIN_FLAGS[kind]
    if isinstance(flags, dict):
        (data["tmp"] / f"{kind}.yaml").write_text(yaml.safe_dump(flags))
        flags = ["--config", str(data["tmp"] / f"{kind}.yaml")]
    out = data["tmp"] / f"bundle-{kind}"
    assert main(["-q", "train", str(data["train"]), "--out", str(out), "--kind", kind, *flags]) == 0
    assert json.loads((out / MODEL_JSON).read_text())["kind"] == kind
    return kind, out


def test_predict_writes_a_prediction_of_the_kind(bundle: tuple[str, Path], data: dict[str, Path],
                                                 tmp_path: Path) -> None:
    kind, b = bundle
    case = data["train"] / "T_01_2000"
    assert main(["-q", "predict", str(b), str(case), "--out", str(tmp_path / "p"), "--keep-ids"]) == 0
    doc = json.loads((tmp_path / "p" / case.name / "prediction.json").read_text())
    assert doc["model"]["kind"] == kind and doc["grade"] in (2, 3) and doc["slice_index"] == 1
    assert sum(doc["probabilities"].values()) == pytest.approx(1.0, abs=1e-6)
    assert doc["evidence"] and Path(doc["overlay"]).is_file()
    assert pd.read_csv(tmp_path / "p" / "summary.csv")["status"].tolist() == ["ok"]


def test_validate_grades_each_patient_as_predict_does(bundle: tuple[str, Path], data: dict[str, Path],
                                                      tmp_path: Path) -> None:
    kind, b = bundle
    out = tmp_path / "v"
    assert main(["-q", "validate", str(b), str(data["val"]), "--out", str(out), "--bootstrap", "0",
                 "--min-per-grade", "1", "--keep-ids"]) == 0
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["model"]["kind"] == kind and metrics["n"] == len(VAL)
    table = pd.read_csv(out / "predictions.csv", dtype={"patient_id": str}).set_index("patient_id")
    folders = sorted(p for p in data["val"].iterdir() if p.is_dir())
    assert main(["-q", "predict", str(b), *map(str, folders), "--out", str(tmp_path / "p"), "--keep-ids",
                 "--no-cam"]) == 0
    for doc in (json.loads(p.read_text()) for p in (tmp_path / "p").glob("*/prediction.json")):
        pid = doc["case"].removesuffix("_2000").replace("_", "-")
        assert table.loc[pid, "p_3"] == pytest.approx(doc["probabilities"]["3"], abs=1e-6), (kind, pid)
