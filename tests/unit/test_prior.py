"""The ``prior`` kind's signs, score and calibration: known sign values on a synthetic case, graceful missing
sequences, a fixed-rule score that no grade can move, and the monotone model's constraints.

The generic kind / configuration tests (tests/unit/test_kinds.py, test_experiment_configs.py) run it too.
"""
from __future__ import annotations

import dataclasses
import json
import shutil
from pathlib import Path

import nibabel as nib
import numpy as np
import pandas as pd
import pytest
from fakedata import small_cohort

from gliograde.bundles import get_kind, load_bundle
from gliograde.config import CVCfg, IngestCfg, PreprocessCfg, PriorCfg, RunConfig, TrainCfg
from gliograde.data.dataset import load_cohort
from gliograde.data.ingest_run import run_ingest
from gliograde.data.layouts import find_case
from gliograde.errors import InputError
from gliograde.experiment import Experiment, FeatureStore, get_config
from gliograde.prediction import predict
from gliograde.signs import fit_set, measure_signs, read_planes
from gliograde.signs.score import calibration_input, monotone_weights
from gliograde.splits import make_folds
from gliograde.training.prior import fit_prior, scored_table
from gliograde.validation.run import ValidateCfg, run_validation

SHAPE = (20, 20, 2)


def _volumes(enhancing: int = 9, bright: int = 3) -> dict[str, np.ndarray]:
    """t1, t1ce, flair and a BraTS seg (20, 20, 2) with designed values (see test_a_synthetic_case...).

    Reference tissue (outside the tumour): left half 90, right half 110 in every sequence: median 100, IQR 20.
    Tumour (centred on the halves' border): plane 0 rows 2-5 x cols 8-11 (16 px), plane 1 rows 2-3 (8 px): 24 px.
    T1 inside = 100.
    T1c inside: 6 px at 125 (T1c - T1 = 1.25 IQR: enhancing by subtraction only), 3 px at 150 (2.5 IQR: also
    bright on T1c alone), 3 px at 50 (-2.5 IQR: necrotic), the rest 100 (``enhancing`` and ``bright`` change the
    counts). FLAIR: 12 px at 160 (3 IQR).
    """
    ref = np.where(np.arange(SHAPE[1])[None, :, None] < SHAPE[1] // 2, 90.0, 110.0) * np.ones(SHAPE)
    roi = np.zeros(SHAPE, bool)
    roi[2:6, 8:12, 0] = True
    roi[2:4, 8:12, 1] = True
    t1, t1ce, flair = ref.copy(), ref.copy(), ref.copy()
    t1[roi] = t1ce[roi] = flair[roi] = 100.0
    idx = np.argwhere(roi)
    idx = idx[np.argsort(idx[:, 2], kind="stable")]  # 24 voxels, plane 0's 16 first
    values = [125.0] * (enhancing - bright) + [150.0] * bright + [50.0] * 3
    for (x, y, z), v in zip(idx, values, strict=False):
        t1ce[x, y, z] = v
    for x, y, z in idx[:12]:
        flair[x, y, z] = 160.0
    seg = np.zeros(SHAPE, np.int16)
    seg[roi] = 2
    for x, y, z in idx[:enhancing - 3]:  # label 4 on the pixels enhancing by subtraction only (6 by default)
        seg[x, y, z] = 4
    for x, y, z in idx[enhancing - 3:enhancing + 3]:
        seg[x, y, z] = 1
    return {"t1": t1, "t1ce": t1ce, "flair": flair, "seg": seg}


def _write_case(folder: Path, vols: dict[str, np.ndarray]) -> Path:
    folder.mkdir(parents=True)
    for key, arr in vols.items():
        dtype = np.int16 if key == "seg" else np.float32
        nib.save(nib.Nifti1Image(arr.astype(dtype), np.diag([-1.0, -1.0, 1.0, 1.0])),
                 folder / f"{folder.name}_{key}.nii.gz")
    return folder


def test_a_synthetic_case_gives_the_designed_sign_values(tmp_path: Path) -> None:
    case, _ = find_case(_write_case(tmp_path / "C1", _volumes()), "C1")
    assert case is not None
    signs = measure_signs(read_planes(case))
    v = signs.values
    assert v["enhancement"] == pytest.approx(9 / 24) and v["enhancement_t1c"] == pytest.approx(3 / 24)
    assert v["necrosis"] == pytest.approx(3 / 24) and v["flair_hyper"] == pytest.approx(12 / 24)
    assert v["size"] == pytest.approx(16 / 400)  # the largest plane's tumour share of the brain, not the sum
    assert v["margin"] == pytest.approx(0.0)  # rectangles are convex
    assert (v["seg_enhancing"], v["seg_necrotic"], v["seg_oedema"]) == pytest.approx((0.25, 0.25, 0.5))
    assert signs.reference["enhancement"] == 0.0 and signs.reference["flair_hyper"] == 0.0
    assert signs.n_planes == 2 and signs.roi_pixels == 24 and signs.plane == 0 and not signs.missing
    assert int(signs.enhancing.sum()) == 9 and int(signs.necrotic.sum()) == 3  # all on plane 0 (its first 16 px)


def test_a_missing_sequence_removes_only_the_signs_that_need_it(tmp_path: Path) -> None:
    vols = {k: v for k, v in _volumes().items() if k != "t1"}
    case, _ = find_case(_write_case(tmp_path / "C1", vols), "C1")
    assert case is not None
    signs = measure_signs(read_planes(case))
    assert signs.missing == {"enhancement": "no t1 sequence"}
    assert signs.values["enhancement_t1c"] == pytest.approx(3 / 24) and "flair_hyper" in signs.values
    empty = tmp_path / "E1"
    _write_case(empty, {**vols, "seg": np.zeros(SHAPE, np.int16)})
    case, _ = find_case(empty, "E1")
    assert case is not None
    with pytest.raises(InputError, match="segmentation is empty") as err:
        read_planes(case)
    assert "\n" not in str(err.value)


@pytest.fixture(scope="module")
def cohort(tmp_path_factory: pytest.TempPathFactory):  # type: ignore[no-untyped-def]
    return small_cohort(tmp_path_factory.mktemp("prior"), 12)


def test_permuting_the_grades_leaves_every_fixed_rule_score_unchanged(cohort, tmp_path):  # type: ignore[no-untyped-def]
    """The fixed rule uses no label: permuted grades change the calibration, never a patient's score."""
    rng = np.random.default_rng(0)
    permuted = dataclasses.replace(cohort, labels=rng.permutation(cohort.labels))
    assert (permuted.labels != cohort.labels).any()
    config = get_config("prior")
    scores = []
    folds = make_folds(cohort.patient_ids, cohort.labels, 2, seed=0)  # the same split for both: only grades differ
    for i, c in enumerate((cohort, permuted)):
        exp = Experiment(c, tmp_path / f"run{i}", RunConfig(cv=CVCfg(folds=2, configs=("prior",))),
                         FeatureStore(c, tmp_path / f"run{i}" / "work"), progress=False)
        tables = [config.run_unit(exp, f, tmp_path) for f in folds]
        scores.append(pd.concat(tables).set_index("patient_id")["score"].sort_index())
    assert scores[0].nunique() > 1  # the signs differ between patients: the test could see a change
    pd.testing.assert_series_equal(scores[0], scores[1])
    table = pd.read_csv(tmp_path / "run0" / "work" / "prior_signs.csv", index_col="patient_id")
    y = cohort.patients()[1]
    a = fit_prior(table, y, cohort.classes, PriorCfg())
    b = fit_prior(table, rng.permutation(y), cohort.classes, PriorCfg())
    for signs, m in a.models.items():
        V = table[list(signs)].to_numpy()
        np.testing.assert_array_equal(m.score(V), b.models[signs].score(V))
        assert m.weights == b.models[signs].weights


def test_monotone_weights_keep_the_literature_direction_and_shrink() -> None:
    rng = np.random.default_rng(1)
    y = np.repeat([0, 1], 40)
    U = rng.normal(size=(80, 2))
    U[:, 0] += 1.5 * y  # higher in the higher grade: the literature's direction
    U[:, 1] -= 1.5 * y  # lower: a non-negative weight can only be 0
    w = monotone_weights(U, y, shrinkage=1.0)
    assert w[0] > 0.5 and w[1] == 0.0
    assert 0 < monotone_weights(U, y, shrinkage=100.0)[0] < w[0]
    fixed = fit_set(("enhancement", "necrosis"), np.abs(U) / 5, y, n_classes=2)
    fitted = fit_set(("enhancement", "necrosis"), np.abs(U) / 5, y, n_classes=2, combine="monotone")
    assert fixed.weights == (0.5, 0.5) and fitted.weights != fixed.weights


def test_calibration_never_reverses_the_direction() -> None:
    y = np.repeat([0, 1], 10)
    V = np.linspace(0.5, 0.0, 20)[:, None]  # higher score in the lower grade
    m = fit_set(("enhancement",), V, y, n_classes=2)
    assert m.coef == (0.0,)
    p = m.proba(V)[:, 1]
    np.testing.assert_allclose(p, 0.5)
    assert calibration_input([0.1], (0.0, 0.1, 0.1, 0.2)).tolist() == [0.5]


def test_a_prior_bundle_grades_a_case_without_t1_with_the_signs_it_has(tmp_path: Path) -> None:
    raw = tmp_path / "raw"
    rows = []
    for i in range(8):
        _write_case(raw / f"B{i}", _volumes(enhancing=3 + 2 * (i % 4), bright=1 + i % 3))
        rows.append(f"B{i},{2 + i % 2}\n")
    (raw / "labels.csv").write_text("case_id,who_grade\n" + "".join(rows))
    run_ingest(raw, tmp_path / "cohort", IngestCfg(channels=("t1ce",), preprocess=PreprocessCfg(size=24)),
               figures=False, progress=False)
    get_kind("prior").train(load_cohort(tmp_path / "cohort"), tmp_path / "b", RunConfig(kind="prior"))
    bundle = load_bundle(tmp_path / "b")
    assert "seg_enhancing" in bundle.describe()["signs"]  # BraTS labels in every training case: their shares too
    no_t1 = tmp_path / "cases" / "B1-no-t1"
    shutil.copytree(raw / "B1", no_t1)
    (no_t1 / "B1_t1.nii.gz").unlink()
    res = predict(bundle, [raw / "B1", no_t1], out=tmp_path / "pred", keep_ids=True)
    assert [r.status for r in res] == ["ok", "ok"]
    full = json.loads((tmp_path / "pred" / "B1" / "prediction.json").read_text())["evidence"]
    assert "enhancement" in full["signs_used"] and "enhancement_t1c" in full["signs_not_scored"]
    assert full["sequences"] == ["flair", "t1", "t1ce"]
    part = bundle.evidence(res[1])
    assert part is not None and part["signs_missing"]["enhancement"] == "no t1 sequence"
    assert "enhancement_t1c" in part["signs_used"] and "enhancement" not in part["signs_used"]
    assert part["sequences"] == ["flair", "t1ce"]
    assert abs(sum(res[1].probabilities.values()) - 1) < 1e-9
    assert (tmp_path / "pred" / "B1" / "overlay.png").is_file()
    # validating a model on its own training patients is refused (keyed hashes in model.json), before grading ...
    with pytest.raises(InputError, match=r"8 of 8 patients were in the training data .* --allow-overlap"):
        run_validation(tmp_path / "b", raw, tmp_path / "val", ValidateCfg(n_boot=0, min_per_grade=1), progress=False)
    assert not (tmp_path / "val" / "predictions.csv").exists()
    # ... and with --allow-overlap every output says so; validate grades each NIfTI case as predict does (the kind
    # reads cases; ingested crops are refused)
    val = run_validation(tmp_path / "b", raw, tmp_path / "val",
                         ValidateCfg(n_boot=0, min_per_grade=1, allow_overlap=True), progress=False)
    assert val.metrics["training_overlap"] == {"checked": True, "n_shared": 8, "n_cohort": 8, "allowed": True,
                                               "reason": None}
    assert "NOT an external validation" in val.metrics["warnings"][0] and val.table["in_training_data"].all()
    assert "NOT an external validation" in (tmp_path / "val" / "report.html").read_text()
    assert val.table.set_index("patient_id").loc["B1", "p_3"] == pytest.approx(full_p3(tmp_path / "pred" / "B1"))
    assert val.table["signs"].str.contains("seg_enhancing").all() and (val.table["n_planes"] == 2).all()
    cohort = load_cohort(tmp_path / "cohort")
    with pytest.raises(InputError, match="not on ingested crops"):
        bundle.predict_crops(cohort.images[:1], cohort.masks[:1], [1.0])


def full_p3(case_out: Path) -> float:
    return float(json.loads((case_out / "prediction.json").read_text())["probabilities"]["3"])


def test_reference_excess_scores_each_intensity_sign_above_its_normal_tissue_share() -> None:
    table = pd.DataFrame({"enhancement": [0.3, 0.1], "ref_enhancement": [0.1, 0.1], "size": [0.2, 0.4]},
                         index=["a", "b"])
    out = scored_table(table, excess=True)
    assert out["enhancement"].round(12).tolist() == [0.2, 0.0] and out["size"].tolist() == [0.2, 0.4]
    assert scored_table(table, excess=False) is table
    fit = fit_prior(table, np.array([1, 0]), (2, 3), PriorCfg(reference_excess=True))
    np.testing.assert_allclose(fit.models[("enhancement", "size")].score(out[["enhancement", "size"]].to_numpy()),
                               [0.2, 0.0])


def test_a_runs_signs_are_reused_only_while_what_they_were_measured_from_is_the_same(cohort, tmp_path):  # type: ignore[no-untyped-def]
    """RUN/work/prior_signs.csv is reused under its key (cohort inputs, ROI labels, signs, version), else remeasured."""
    config = get_config("prior")
    exp = Experiment(cohort, tmp_path / "run", RunConfig(cv=CVCfg(folds=2, configs=("prior",))),
                     FeatureStore(cohort, tmp_path / "run" / "work"), progress=False)
    measured = config.signs(exp)
    path = tmp_path / "run" / "work" / "prior_signs.csv"
    stamp = json.loads(path.with_suffix(".json").read_text())
    assert stamp["n_patients"] == len(measured) and "patients" not in stamp  # no patient id in the stamp
    measured.assign(size=0.5).to_csv(path)  # stands for a table of the same key: reused as it is
    assert (config.signs(exp)["size"] == 0.5).all()
    path.with_suffix(".json").write_text(json.dumps({**stamp, "key": "another cohort"}))
    pd.testing.assert_frame_equal(config.signs(exp), measured)  # measured again, the stale table replaced


def test_the_prior_configurations_need_no_inner_split(cohort, tmp_path):  # type: ignore[no-untyped-def]
    """check_inner_splits refuses a CNN's early-stopping split on folds this small, never the prior ones."""
    from gliograde.experiment.core import check_inner_splits

    exp = Experiment(cohort, tmp_path / "run", RunConfig(cv=CVCfg(folds=6), train=TrainCfg(val_fraction=0.1)),
                     FeatureStore(cohort, tmp_path / "run" / "work"), progress=False)
    folds = make_folds(cohort.patient_ids, cohort.labels, 6, seed=0)
    check_inner_splits(exp, (get_config("prior"), get_config("prior-monotone")), folds)
    with pytest.raises(InputError, match="too few to split again"):
        check_inner_splits(exp, (get_config("full"),), folds)
