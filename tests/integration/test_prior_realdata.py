"""The ``prior`` kind on the real cohorts in ../shared/data (skipped locally without them, a failure in CI): the
enhancement sign pooled over the native slices reproduces its ranking of the 70 TCGA-LGG patients, and a bundle
grades a BraTS case with its four sequences and again without its pre-contrast T1, saying which signs it used."""
from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
from sklearn.metrics import roc_auc_score

from gliograde.cli import main
from gliograde.data.layouts import find_cases
from gliograde.signs import measure_signs, read_planes


def test_enhancement_pooled_over_the_native_slices_ranks_tcga_lgg(shared_data: Path) -> None:
    cases, problems = find_cases(shared_data / "tcga-lgg")
    assert not problems and len(cases) == 70
    enh = [measure_signs(read_planes(c)).values["enhancement"] for c in cases]
    y = [c.grade == 3 for c in cases]
    assert abs(roc_auc_score(y, enh) - 0.667) < 0.001  # docs/real-data.md (0.678 with per-slice reference)


def test_a_brats_case_is_graded_with_and_without_its_pre_contrast_t1(shared_data: Path, tmp_path: Path) -> None:
    src = shared_data / "tcga-lgg"
    labels = pd.read_csv(src / "labels.csv", dtype=str)
    small = labels.groupby("who_grade").head(6)  # 12 patients: enough to calibrate, quick to measure
    train = tmp_path / "train"
    train.mkdir()
    small.to_csv(train / "labels.csv", index=False)
    for folder in small["folder"]:
        (train / folder).symlink_to(src / folder)
    bundle = tmp_path / "prior"
    assert main(["-q", "train", str(train), "--out", str(bundle), "--kind", "prior"]) == 0
    case = shared_data / "brats-volumes" / "Brats18_TCIA10_628_1"
    no_t1 = tmp_path / "cases" / case.name  # a copy without the pre-contrast T1, outside the repository
    shutil.copytree(case, no_t1, ignore=shutil.ignore_patterns("*_t1.nii.gz"))
    assert not list(no_t1.glob("*_t1.nii.gz")) and list(no_t1.glob("*_t1ce.nii.gz"))
    docs = {}
    for name, folder in (("full", case), ("no_t1", no_t1)):
        assert main(["-q", "predict", str(bundle), str(folder), "--out", str(tmp_path / name), "--keep-ids"]) == 0
        docs[name] = json.loads((tmp_path / name / case.name / "prediction.json").read_text())
    full, part = docs["full"]["evidence"], docs["no_t1"]["evidence"]
    assert full["sequences"] == ["flair", "t1", "t1ce", "t2"] and part["sequences"] == ["flair", "t1ce", "t2"]
    assert "enhancement" in full["signs_used"] and "enhancement_t1c" not in full["signs_used"]
    assert "enhancement_t1c" in part["signs_used"] and part["signs_missing"]["enhancement"] == "no t1 sequence"
    assert full["n_planes"] == part["n_planes"] > 50  # every tumour-bearing axial plane, not one slice
    for d in docs.values():
        assert d["model"]["kind"] == "prior" and np.isclose(sum(d["probabilities"].values()), 1.0)
        assert Path(d["overlay"]).is_file()
