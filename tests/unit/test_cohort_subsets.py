"""Cohorts as people have them (issue 19): a subset of patients or sites, an ingested cohort's manifest.csv as a
manifest, 0/255 masks beside 1/2/4 segmentations, ``--slices k`` that never silently gives fewer, and one person's
cases kept on one side of every split (a ``group`` column, or a BraTS case's ``tcga_id``)."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml
from fakedata import write_nifti_cohort, write_slice_cohort

from gliograde.config import IngestCfg, PreprocessCfg, SubsetCfg
from gliograde.data.cohort import open_cohort
from gliograde.data.dataset import load_cohort
from gliograde.data.ingest import ingest
from gliograde.data.ingest_run import run_ingest
from gliograde.data.layouts import find_cases
from gliograde.data.subset import apply_subset
from gliograde.errors import CohortError, InputError
from gliograde.settings import resolve, to_yaml
from gliograde.splits import inner_split, inner_splits, make_folds

PATIENTS = [(f"P-{i:02d}", 2 + i % 2) for i in range(8)]
SMALL = IngestCfg(preprocess=PreprocessCfg(size=24))


def _with_sites(root: Path, sites: list[str]) -> Path:
    lab = pd.read_csv(root / "labels.csv", dtype=str)
    lab["institution"] = sites
    lab.to_csv(root / "labels.csv", index=False)
    return root


@pytest.fixture(scope="module")
def ingested(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Eight patients of sites A, A, B, B, C, C, D, D, ingested (24 px)."""
    tmp = tmp_path_factory.mktemp("subset")
    raw = _with_sites(write_slice_cohort(tmp / "raw", PATIENTS, size=32), list("AABBCCDD"))
    run_ingest(raw, tmp / "cohort", SMALL, figures=False, progress=False)
    return tmp / "cohort"


# --labels / --sites ---------------------------------------------------------------------------------------------

def test_subset_by_sites_and_labels(ingested: Path, tmp_path: Path) -> None:
    whole = load_cohort(ingested)
    three = apply_subset(whole, SubsetCfg(sites=("A", "B", "C")))
    assert sorted(set(three.sites)) == ["A", "B", "C"] and len(three) == 6
    assert len(three.images) == len(three.masks) == len(three.manifest) == 6
    assert three.files() != whole.files() and set(three.files()) < set(whole.files())  # the fingerprint's files
    (tmp_path / "keep.csv").write_text("case_id,who_grade\nP-00,2\nP-03,\nP-05,3\n")
    picked = open_cohort(ingested, tmp_path / "run", SMALL, subset=SubsetCfg(labels=str(tmp_path / "keep.csv")))
    assert sorted(set(picked.patient_ids)) == ["P-00", "P-03", "P-05"]
    assert picked.classes == (2, 3) and picked.labels.tolist() == [0, 1, 1]
    both = apply_subset(whole, SubsetCfg(labels=str(tmp_path / "keep.csv"), sites=("A",)))
    assert sorted(set(both.patient_ids)) == ["P-00"] and both.classes == (2,)  # classes recomputed


@pytest.mark.parametrize(("text", "sites", "message"), [
    (None, ("A", "Z"), "--sites A,Z: no patient of site(s) Z"),
    ("patient_id\nP-00\nP-99\n", (), "1 patient(s) not in the cohort"),
    ("patient_id,grade\nP-00,3\n", (), "row 2: patient P-00 has grade 3 here but 2 in the cohort"),
    ("name\nP-00\n", (), "needs a patient column"),
    ("patient_id\nP-02\n", ("A",), "no patient is both listed"),
])
def test_unknown_patients_and_sites_refused(ingested: Path, tmp_path: Path, text: str | None,
                                            sites: tuple[str, ...], message: str) -> None:
    labels = None
    if text is not None:
        (tmp_path / "l.csv").write_text(text)
        labels = str(tmp_path / "l.csv")
    with pytest.raises(InputError, match=message.replace("(", r"\(").replace(")", r"\)")):
        apply_subset(load_cohort(ingested), SubsetCfg(labels=labels, sites=sites))


def test_subset_is_a_setting_written_and_replayed(tmp_path: Path) -> None:
    cfg = resolve("cv", overrides={"subset": {"labels": "keep.csv", "sites": ("A", "B")}})
    assert cfg.sections()["subset"] == SubsetCfg(labels="keep.csv", sites=("A", "B"))
    text = to_yaml(cfg, "cv")
    assert "subset" in yaml.safe_load(text) and resolve("cv", config=yaml.safe_load(text)) == cfg
    assert "subset" not in yaml.safe_load(to_yaml(resolve("cv"), "cv")) and "subset" not in resolve("train").sections()


# an ingested cohort's manifest.csv --------------------------------------------------------------------------------

def test_ingested_manifest_is_accepted_as_a_manifest(ingested: Path, tmp_path: Path) -> None:
    manifest = ingested / "manifest.csv"
    assert open_cohort(manifest, tmp_path / "run", SMALL).root == ingested  # train / cv / validate: that cohort
    cases, problems = find_cases(manifest)  # ingest: the same patients, from their original files
    assert not problems and [c.patient_id for c in cases] == [p for p, _ in PATIENTS]
    assert all(len(c.slices) == 3 for c in cases)  # every slice of the source, not only the one ingested
    again = ingest(manifest, tmp_path / "again", IngestCfg(slices=3, preprocess=PreprocessCfg(size=24)),
                   progress=False)
    assert len(again.manifest) == 3 * len(PATIENTS)
    assert again.manifest["site"].tolist() == load_cohort(tmp_path / "again").sites.tolist()


# masks and segmentations in one manifest --------------------------------------------------------------------------

def test_manifest_mixing_binary_masks_and_segmentations(tmp_path: Path) -> None:
    slices = write_slice_cohort(tmp_path / "png", PATIENTS[:2], size=24, channels=1)
    write_nifti_cohort(tmp_path / "brats", [("B-01", 4), ("B-02", 4)])
    rows = [f"{pid},{g},{p.relative_to(tmp_path)},{str(p.relative_to(tmp_path))[:-4]}_mask.png,"
            for pid, g in PATIENTS[:2] for p in sorted((slices / f"{pid.replace('-', '_')}_2000").glob("*_1.png"))]
    rows += [f"{c},{g},brats/{c}/{c}_t1ce.nii.gz,brats/{c}/{c}_seg.nii.gz,{t}" for c, g, t in (("B-01", 2, "P-00"),
                                                                                            ("B-02", 4, ""))]
    (tmp_path / "mixed.csv").write_text("patient_id,grade,image,mask,tcga_id\n" + "\n".join(rows) + "\n")
    res = ingest(tmp_path / "mixed.csv", tmp_path / "out", SMALL, progress=False)  # no --roi-labels 1,2,4,255
    assert res.manifest["patient_id"].nunique() == 4
    # B-01 is P-00 scanned again (its tcga_id): one group, whose id is the patient's own
    assert load_cohort(tmp_path / "out").groups.tolist() == ["P-00", "P-01", "P-00", "B-02"]
    enh = ingest(tmp_path / "mixed.csv", tmp_path / "out4", IngestCfg(roi_labels=(4,), preprocess=SMALL.preprocess),
                 progress=False).manifest.set_index("patient_id")["roi_area_px"]
    whole = res.manifest.set_index("patient_id")["roi_area_px"]
    assert enh["B-01"] < whole["B-01"] and enh["P-00"] == whole["P-00"]  # labels pick in the seg; a mask is binary


# --slices k --------------------------------------------------------------------------------------------------------

def test_slices_k_takes_k_around_the_largest_or_refuses(tmp_path: Path) -> None:
    root = write_slice_cohort(tmp_path / "c", PATIENTS[:2], n_slices=5, largest=2, size=24)
    m = ingest(root, tmp_path / "o", IngestCfg(slices=3, preprocess=SMALL.preprocess), progress=False).manifest
    assert m.groupby("patient_id")["slice_index"].apply(list).tolist() == [[1, 2, 3], [1, 2, 3]]
    with pytest.raises(CohortError, match="5 slice\\(s\\) show the tumour, fewer than --slices 7"):
        ingest(root, tmp_path / "o7", IngestCfg(slices=7, preprocess=SMALL.preprocess), progress=False)


# groups: one person on one side of every split ---------------------------------------------------------------------

def test_group_column_honoured_by_every_split() -> None:
    pids = np.array([f"p{i:02d}" for i in range(20)])
    y = np.array([0, 1] * 10)
    groups = np.array([f"g{i // 2}" for i in range(20)])  # p00+p01, p02+p03, ... are one person each
    y[1::2] = y[::2]  # one person, one grade
    person = dict(zip(pids, groups, strict=True))
    for fold in make_folds(pids, y, 5, seed=0, groups=groups):
        assert not {person[p] for p in fold.train} & {person[p] for p in fold.test}
    plain = make_folds(pids, y, 5, seed=0)
    assert plain == make_folds(pids, y, 5, seed=0, groups=pids)  # no groups: the folds of before
    assert any({person[p] for p in f.train} & {person[p] for p in f.test} for f in plain)  # what groups prevent
    tr, va = inner_split(pids, y, 0.25, seed=0, groups=groups)
    assert not set(groups[tr]) & set(groups[va])
    for tr, va in inner_splits(pids, y, "inner_cv", 3, seed=0, groups=groups):
        assert not set(groups[tr]) & set(groups[va])
    sites = np.array(["A"] * 10 + ["B"] * 10)
    groups[9], groups[10] = "both", "both"  # one person scanned at both sites
    for fold in make_folds(pids, y, seed=0, sites=sites, groups=groups):
        assert not {person.get(p) for p in fold.train} & {person.get(p) for p in fold.test} - {"g4", "g5"}
        assert not ({"p09", "p10"} & set(fold.test) and {"p09", "p10"} & set(fold.train))


def test_brats_cases_grouped_by_their_tcga_id(tmp_path: Path) -> None:
    root = write_nifti_cohort(tmp_path / "brats", [("B-01", 2), ("B-02", 3)])
    (root / "labels.csv").write_text("case_id,tcga_id,who_grade\nB-01,TCGA-DU-A5TR,2\nB-02,TCGA-DU-A5TW,3\n")
    assert [c.group for c in find_cases(root)[0]] == ["TCGA-DU-A5TR", "TCGA-DU-A5TW"]
    run_ingest(root, tmp_path / "cohort", SMALL, figures=False, progress=False)
    cohort = load_cohort(tmp_path / "cohort")
    assert cohort.groups.tolist() == ["TCGA-DU-A5TR", "TCGA-DU-A5TW"]
    assert cohort.patient_ids.tolist() == ["B-01", "B-02"]
    plain = write_slice_cohort(tmp_path / "plain", PATIENTS[:2], size=24)  # no group: the manifest is as before
    assert "group" not in ingest(plain, tmp_path / "p", SMALL, progress=False).manifest.columns
