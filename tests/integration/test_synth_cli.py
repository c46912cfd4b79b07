"""`gliograde synth` through the CLI, its cohort beside the real TCGA-LGG data (same columns and image
format), and the grades' separability on 48 patients. The generator itself: tests/unit/test_synth.py."""
from __future__ import annotations

import csv
import re
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from gliograde.synth import DEFAULT_DIFFICULTY, grade_separability, handcrafted_features, iter_patients
from gliograde.synth.cohort import PNG_LABEL_COLUMNS


def _rows(path: Path) -> list[dict[str, str]]:
    with open(path, newline="") as fh:
        return list(csv.DictReader(fh))



def test_same_columns_and_format_as_real_data(png_cohort: Path, shared_data: Path) -> None:
    real = shared_data / "tcga-lgg"
    with open(real / "labels.csv", newline="") as fh:
        real_cols = next(csv.reader(fh))
    assert tuple(real_cols) == PNG_LABEL_COLUMNS
    real_row = _rows(real / "labels.csv")[0]
    stem = real / real_row["folder"] / f"{real_row['folder']}_{real_row['largest_tumour_slice']}"
    ours = _rows(png_cohort / "labels.csv")[0]
    our_stem = png_cohort / ours["folder"] / f"{ours['folder']}_{ours['largest_tumour_slice']}"
    for suffix in (".png", "_mask.png"):
        a, b = Image.open(f"{stem}{suffix}"), Image.open(f"{our_stem}{suffix}")
        assert (a.mode, a.size) == (b.mode, b.size)


def test_handcrafted_features_separate_above_chance_but_not_perfectly() -> None:
    # one slice per patient is all the features use, and keeps the test fast
    patients = [p for _, _, p in iter_patients((16, 16, 16), seed=3, difficulty=DEFAULT_DIFFICULTY, n_slices=1)]
    x = np.stack([handcrafted_features(p.images[0], p.mask[0]) for p in patients])
    y = np.array([p.grade for p in patients])
    res = grade_separability(x, y, seed=0)
    print(res)
    assert 0.65 < res["macro_auc"] < 0.98
    assert res["auc_2v4"] > res["auc_2v3"] - 0.05  # the far pair is at least as easy as the near one


def test_cli_writes_cohort_and_provenance(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from gliograde.cli import main

    out = tmp_path / "c"
    assert main(["synth", "--out", str(out), "--n", "1", "0", "1", "--seed", "2"]) == 0
    assert "2 synthetic patients" in capsys.readouterr().out
    assert {"labels.csv", "montage.png", "config.yaml", "run.json"} <= {p.name for p in out.iterdir()}
    assert re.search(r"seed: 2", (out / "config.yaml").read_text())
    assert main(["synth", "--out", str(out)]) == 2  # not empty: one-line error, exit 2
