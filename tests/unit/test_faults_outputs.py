"""Fault corpus, output side (issue 17): each test is one defect class found by the probe, with its input made in
tmp_path; each failed on the code before the fix. Silently wrong data first (stale resume units and feature caches,
bundle files not checked, a cut predictions.csv), then locking and atomic writes, then one-line errors."""
from __future__ import annotations

import hashlib
import json
import logging
import os
import pickle
import shutil
import subprocess
import sys
import textwrap
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from fakedata import TINY_CONFIGS, TINY_SIZE, make_run, write_slice_cohort

from gliograde import api
from gliograde.bundles import get_kind, load_bundle
from gliograde.bundles.meta import MODEL_CARD, MODEL_JSON
from gliograde.config import CVCfg, IngestCfg, PreprocessCfg, RunConfig, SelectionCfg
from gliograde.data.dataset import Cohort, load_cohort
from gliograde.data.ingest_run import run_ingest
from gliograde.errors import InputError
from gliograde.experiment import FeatureStore, run_cv
from gliograde.report.cv import summarise_run, write_report
from gliograde.runinfo import sha256_file

PATIENTS = [(f"T-{i:02d}", 2 if i % 2 else 3) for i in range(12)]
SIZE = TINY_SIZE
TINY = {kind: TINY_CONFIGS[kind] for kind in ("cnn", "radiomics")}
#: A fast CV: two feature configurations, 2 folds, a tiny selection grid.
FAST_CV = RunConfig(cv=CVCfg(folds=2, configs=("handcrafted", "radiomics"), n_boot=20,
                             selection=SelectionCfg(inner_folds=2, classifiers=("logreg",), select_k=(0, 3))))


def _ingest(raw: Path, out: Path, size: int = SIZE) -> Cohort:
    run_ingest(raw, out, IngestCfg(channels=("t1ce",), preprocess=PreprocessCfg(size=size)), figures=False,
               progress=False)
    return load_cohort(out)


@pytest.fixture(scope="module")
def raw(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_slice_cohort(tmp_path_factory.mktemp("faults") / "raw", PATIENTS, size=40, channels=3)


@pytest.fixture(scope="module")
def cohort(raw: Path) -> Cohort:
    return _ingest(raw, raw.parent / "cohort")


@pytest.fixture(scope="module", params=sorted(TINY))
def bundle(request: pytest.FixtureRequest, cohort: Cohort, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp(request.param) / "bundle"
    get_kind(request.param).train(cohort, out, TINY[request.param], progress=False)
    return out


def _copy(bundle: Path, tmp_path: Path) -> Path:
    return Path(shutil.copytree(bundle, tmp_path / "copy"))


def _model_file(folder: Path) -> Path:
    meta = json.loads((folder / MODEL_JSON).read_text())
    return folder / ("weights.safetensors" if meta["kind"] == "cnn" else "model.skops")


def _tree(folder: Path) -> dict[str, str]:
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file()}


# ---- silently wrong data ----------------------------------------------------------------------------------------
def test_cv_rerun_recomputes_units_whose_settings_changed_and_reuses_the_rest(cohort: Cohort, tmp_path: Path,
                                                                              caplog: pytest.LogCaptureFixture):
    out = tmp_path / "cv"
    run_cv(cohort, out, FAST_CV, progress=False)
    first = pd.read_csv(out / "predictions.csv")
    stamp = {p: p.stat().st_mtime_ns for p in (out / "work").rglob("predictions.csv")}
    assert len(stamp) == 4

    with caplog.at_level(logging.INFO, logger="gliograde.experiment.core"):
        run_cv(cohort, out, FAST_CV, progress=False)  # unchanged: every unit reused, nothing rewritten
    assert {p: p.stat().st_mtime_ns for p in stamp} == stamp
    assert "4 of 4 units reused" in caplog.text
    caplog.clear()

    # the model-selection grid: only the radiomics units use it
    changed = replace(FAST_CV, cv=replace(FAST_CV.cv, selection=replace(FAST_CV.cv.selection, select_k=(2,))))
    with caplog.at_level(logging.DEBUG, logger="gliograde.experiment.core"):  # each reused unit: a DEBUG line
        run_cv(cohort, out, changed, progress=False)
    again = pd.read_csv(out / "predictions.csv")
    sel = again["config"] == "radiomics"
    assert not np.allclose(again.loc[sel, "p_2"], first.loc[first["config"] == "radiomics", "p_2"])
    pd.testing.assert_frame_equal(again[~sel].reset_index(drop=True), first[~sel].reset_index(drop=True))
    assert "radiomics fold 0: settings or data changed since it ran; recomputing" in caplog.text
    assert "handcrafted fold 0: done earlier with the same settings and data, reused" in caplog.text
    for p, t in stamp.items():  # only the radiomics units were rewritten
        assert (p.stat().st_mtime_ns == t) == ("handcrafted" in p.parts)
    assert json.loads((out / "selection.json").read_text())["candidates"]["select_k"] == [2]


def test_a_unit_whose_predictions_were_cut_is_recomputed(cohort: Cohort, tmp_path: Path):
    cfg = replace(FAST_CV, cv=replace(FAST_CV.cv, configs=("handcrafted",)))
    run_cv(cohort, tmp_path / "cv", cfg, progress=False)
    whole = (tmp_path / "cv" / "predictions.csv").read_bytes()
    unit = tmp_path / "cv" / "work" / "handcrafted" / "fold1" / "predictions.csv"
    unit.write_text("".join(unit.read_text().splitlines(keepends=True)[:-1]))  # its record stays
    run_cv(cohort, tmp_path / "cv", cfg, progress=False)
    assert (tmp_path / "cv" / "predictions.csv").read_bytes() == whole


def test_a_changed_cnn_setting_changes_the_hash_of_cnn_units_only(cohort: Cohort, tmp_path: Path):
    from gliograde.experiment.configs import get_config
    from gliograde.experiment.context import Experiment
    from gliograde.experiment.core import unit_hash, unit_inputs
    from gliograde.splits import make_folds

    fold = make_folds(cohort.patient_ids, cohort.labels, 3, 0)[0]
    base = replace(FAST_CV, train=TINY["cnn"].train)
    lr = replace(base, train=replace(base.train, lr=base.train.lr * 10))
    moved = replace(base, train=replace(base.train, device="cuda", num_threads=3))  # where, not what

    def h(cfg: RunConfig, name: str) -> str:
        exp = Experiment(cohort, tmp_path, cfg, FeatureStore(cohort, tmp_path), progress=False)
        return unit_hash(unit_inputs(exp, get_config(name), fold))

    assert h(base, "full") != h(lr, "full") and h(base, "no-aug") != h(lr, "no-aug")
    assert h(base, "handcrafted") == h(lr, "handcrafted") and h(base, "radiomics") == h(lr, "radiomics")
    assert h(base, "full") == h(moved, "full")
    assert h(base, "full") != h(base, "no-pretrain")  # the ablation is part of what a unit is


def test_cv_rerun_on_a_reingested_cohort_recomputes_every_unit_and_feature(raw: Path, tmp_path: Path):
    cfg = replace(FAST_CV, cv=replace(FAST_CV.cv, configs=("handcrafted",)))
    out = tmp_path / "cv"
    run_cv(_ingest(raw, tmp_path / "c"), out, cfg, progress=False)
    first = pd.read_csv(out / "predictions.csv")
    shutil.rmtree(tmp_path / "c")
    run_cv(_ingest(raw, tmp_path / "c", size=SIZE - 8), out, cfg, progress=False)  # other preprocessing, same rows
    again = pd.read_csv(out / "predictions.csv")
    assert not np.allclose(first["p_2"], again["p_2"])
    fresh = tmp_path / "fresh"
    run_cv(load_cohort(tmp_path / "c"), fresh, cfg, progress=False)
    assert (fresh / "predictions.csv").read_bytes() == (out / "predictions.csv").read_bytes()


def test_a_damaged_feature_cache_is_recomputed_not_fatal(cohort: Cohort, tmp_path: Path):
    X = FeatureStore(cohort, tmp_path).family("semantic")
    path = tmp_path / "semantic.npz"
    path.write_bytes(path.read_bytes()[:40])  # a full disk or a kill mid-write
    np.testing.assert_array_equal(FeatureStore(cohort, tmp_path).family("semantic"), X)
    path.write_bytes(b"")
    np.testing.assert_array_equal(FeatureStore(cohort, tmp_path).family("semantic"), X)


def test_a_feature_cache_of_another_cohort_with_as_many_rows_is_not_reused(cohort: Cohort, tmp_path: Path):
    X = FeatureStore(cohort, tmp_path).family("semantic")
    np.savez(tmp_path / "semantic.npz", X=np.zeros_like(X))  # what another cohort's run left (same row count)
    np.testing.assert_array_equal(FeatureStore(cohort, tmp_path).family("semantic"), X)


def test_a_bundle_file_that_changed_is_refused_naming_it(bundle: Path, tmp_path: Path):
    copy = _copy(bundle, tmp_path)
    meta = json.loads((copy / MODEL_JSON).read_text())
    assert set(meta["files"]) >= {MODEL_CARD, _model_file(copy).name}
    assert all(meta["files"][n] == sha256_file(copy / n) for n in meta["files"])
    assert not {"inner_split.csv", "run.json", "config.yaml"} & set(meta["files"])  # provenance is not the bundle
    for name in [MODEL_JSON, *meta["files"]]:  # what the bundle is holds no training patient id, only fingerprints
        data = (copy / name).read_bytes()
        assert not [pid for pid, _ in PATIENTS if pid.encode() in data or pid.replace("-", "_").encode() in data]
    (copy / MODEL_CARD).write_text((copy / MODEL_CARD).read_text().replace("Research only", "Clinical use"))
    with pytest.raises(InputError, match=f"{MODEL_CARD}: sha256 differs"):
        load_bundle(copy)


def test_export_bundle_copies_the_sealed_bundle_alone(bundle: Path, tmp_path: Path,
                                                      capsys: pytest.CaptureFixture[str]):
    from gliograde.cli import main

    before = _tree(bundle)
    assert main(["export", str(bundle), "--bundle", str(tmp_path / "share")]) == 0
    meta = json.loads((bundle / MODEL_JSON).read_text())
    assert sorted(p.name for p in (tmp_path / "share").iterdir()) == sorted([MODEL_JSON, *meta["files"]])
    assert load_bundle(tmp_path / "share").fingerprint == load_bundle(bundle).fingerprint
    assert _tree(bundle) == before
    capsys.readouterr()
    assert main(["export", str(bundle), "--bundle", str(tmp_path / "share")]) == 2  # not over a folder in use
    assert main(["export", str(bundle), "--bundle", str(bundle / "inner")]) == 2
    assert len(capsys.readouterr().err.strip().splitlines()) == 2


def test_cnn_weights_of_another_model_are_refused(cohort: Cohort, tmp_path: Path):
    for seed, name in ((0, "a"), (1, "b")):
        cfg = replace(TINY["cnn"], train=replace(TINY["cnn"].train, seed=seed))
        get_kind("cnn").train(cohort, tmp_path / name, cfg, progress=False)
    shutil.copyfile(tmp_path / "b" / "weights.safetensors", tmp_path / "a" / "weights.safetensors")
    with pytest.raises(InputError, match="weights.safetensors"):
        load_bundle(tmp_path / "a")
    meta = json.loads((tmp_path / "a" / MODEL_JSON).read_text())
    del meta["files"]  # a bundle written before sealing: weights_sha256 alone still catches it
    (tmp_path / "a" / MODEL_JSON).write_text(json.dumps(meta))
    with pytest.raises(InputError, match="weights_sha256"):
        load_bundle(tmp_path / "a")


def test_cnn_weights_are_byte_reproducible(cohort: Cohort, tmp_path: Path):
    torch = pytest.importorskip("torch")
    from safetensors.torch import save_file

    from gliograde.bundles.cnn import CnnBundle
    from gliograde.models import create_model
    from gliograde.training.engine import FitResult

    torch.manual_seed(0)
    net = create_model("efficientnet_lite0", 2, weights="none")
    state = {k: v.detach().contiguous() for k, v in net.state_dict().items()}
    shas = set()
    for i in range(6):  # as training writes them: with a metadata dict, whose order safetensors does not keep
        out = tmp_path / f"b{i}"
        out.mkdir()
        save_file(state, str(out / "weights.safetensors"), metadata={"model": "efficientnet_lite0",
                                                                     "classes": "2,3", "best_epoch": "1"})
        CnnBundle.write(out, cohort, FitResult(history=[], best_epoch=1, stopped_epoch=1, model=net), TINY["cnn"])
        shas.add(json.loads((out / MODEL_JSON).read_text())["weights_sha256"])
        load_bundle(out)
    assert len(shas) == 1


def test_report_on_a_cut_predictions_csv_is_one_line_exit_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]):
    from gliograde.cli import main

    run = make_run(tmp_path / "run", n_patients=30, history=False)
    summarise_run(run, n_boot=20)
    lines = (run / "predictions.csv").read_text().splitlines(keepends=True)
    (run / "predictions.csv").write_text("".join(lines[:-7]))  # cut at a line boundary
    with pytest.raises(InputError, match="test patients folds.json lists"):
        summarise_run(run, n_boot=20)
    assert main(["report", str(run), "--n-boot", "20"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "predictions.csv" in err[0] and "rerun `gliograde cv`" in err[0]
    (run / "predictions.csv").write_text("".join(lines[:1 + 30]))  # a whole configuration cut off
    (run / "config.yaml").write_text("cv:\n  configs: [full, no-pretrain, no-aug, handcrafted]\n")
    with pytest.raises(InputError, match=r"no rows of configuration\(s\) \['no-pretrain'"):
        summarise_run(run, n_boot=20)


def test_report_on_an_unreadable_folds_json_is_one_line(tmp_path: Path):
    run = make_run(tmp_path / "run", n_patients=12, history=False)
    (run / "folds.json").write_text('{"folds": [')
    with pytest.raises(InputError, match="unreadable"):
        summarise_run(run, n_boot=20)


# ---- hostile or malformed model files ---------------------------------------------------------------------------
def test_newer_format_version_is_refused_with_the_fix(bundle: Path, tmp_path: Path):
    copy = _copy(bundle, tmp_path)
    meta = json.loads((copy / MODEL_JSON).read_text())
    (copy / MODEL_JSON).write_text(json.dumps({**meta, "format_version": 99}))
    with pytest.raises(InputError, match="format_version 99.*upgrade gliograde"):
        load_bundle(copy)


def _reseal(folder: Path, name: str) -> None:
    """What an attacker (or an old bundle) gives: model.json's records agree with the replaced file."""
    meta = json.loads((folder / MODEL_JSON).read_text())
    sha = sha256_file(folder / name)
    meta["files"][name] = sha
    meta["weights_sha256" if meta["kind"] == "cnn" else "model_sha256"] = sha
    (folder / MODEL_JSON).write_text(json.dumps(meta))


@pytest.mark.parametrize("damage", ["truncated", "pickle"])
def test_a_damaged_or_pickled_model_file_is_one_safe_line(bundle: Path, tmp_path: Path, damage: str):
    copy = _copy(bundle, tmp_path)
    model = _model_file(copy)
    if damage == "truncated":
        model.write_bytes(model.read_bytes()[: model.stat().st_size // 2])
    else:
        model.write_bytes(pickle.dumps({"weights": [1.0, 2.0]}))
    _reseal(copy, model.name)
    with pytest.raises(InputError) as exc:
        load_bundle(copy)
    text = str(exc.value)
    assert len(text.splitlines()) == 1 and model.name in text and "weights_only" not in text


def test_train_weights_evil_pth_is_refused_without_advice_to_disable_the_check(tmp_path: Path):
    torch = pytest.importorskip("torch")
    from gliograde.weights import read_state_dict

    evil = tmp_path / "evil.pth"
    torch.save({"state_dict": {"w": torch.zeros(2)}, "why": Path("/etc/passwd")}, evil)  # an object, not a tensor
    with pytest.raises(InputError) as exc:
        read_state_dict(evil)
    text = str(exc.value)
    assert len(text.splitlines()) == 1 and "evil.pth" in text and "weights_only" not in text
    (tmp_path / "cut.safetensors").write_bytes(b"\x10\x00\x00")
    with pytest.raises(InputError, match="cut.safetensors"):
        read_state_dict(tmp_path / "cut.safetensors")


# ---- locked and atomic writes -----------------------------------------------------------------------------------
def _hold_lock(folder: Path) -> subprocess.Popen[str]:
    """Another process holding ``folder`` as a command does (until its stdin closes)."""
    code = textwrap.dedent(f"""
        import sys
        from gliograde.fsio import run_folder
        with run_folder({str(folder)!r}, "cv"):
            print("held", flush=True)
            sys.stdin.read()
    """)
    proc = subprocess.Popen([sys.executable, "-c", code], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None and proc.stdout.readline().strip() == "held"
    return proc


def test_a_second_command_into_a_locked_folder_is_refused_naming_the_holder(cohort: Cohort, raw: Path,
                                                                            tmp_path: Path):
    out = tmp_path / "busy"
    proc = _hold_lock(out)
    try:
        with pytest.raises(InputError, match=rf"busy: in use by pid {proc.pid} on .*\(cv: "):
            api.cv(cohort, out, FAST_CV, progress=False)
        with pytest.raises(InputError, match=f"in use by pid {proc.pid}"):
            api.ingest(raw, out, IngestCfg(), figures=False, progress=False)
        assert sorted(p.name for p in out.iterdir()) == [".gliograde.lock"]  # nothing written
    finally:
        proc.communicate("")
    run = make_run(tmp_path / "run", n_patients=12, history=False)
    proc = _hold_lock(run)  # a cv still writing its run folder
    try:
        with pytest.raises(InputError, match=f"in use by pid {proc.pid}"):
            write_report(run, n_boot=20)
        assert not (run / "metrics.json").exists()
    finally:
        proc.communicate("")
    api.ingest(raw, out, IngestCfg(channels=("t1ce",), preprocess=PreprocessCfg(size=SIZE)), figures=False,
               progress=False)  # the holder ended: the folder is free (kill -9 frees it the same way)
    assert not (out / ".gliograde.lock").exists()


def test_ingest_swaps_in_a_complete_cohort_or_leaves_the_old_one(raw: Path, tmp_path: Path,
                                                                  monkeypatch: pytest.MonkeyPatch):
    import gliograde.data.ingest_run as ingest_run

    out = tmp_path / "cohort"
    _ingest(raw, out)
    (out / "notes.txt").write_text("mine")
    before = _tree(out)

    def crash(*args: object, **kw: object) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(ingest_run, "write_run_info", crash)  # a crash after the crops, before the provenance
    with pytest.raises(OSError):
        _ingest(raw, out, size=SIZE - 8)
    assert _tree(out) == before  # the old cohort, whole: crops and provenance agree
    assert not list(tmp_path.glob(".cohort*"))  # no staging left behind
    monkeypatch.undo()
    c = _ingest(raw, out, size=SIZE - 8)
    assert c.images.shape[-1] == SIZE - 8 and "size: 40" in (out / "config.yaml").read_text()
    assert (out / "notes.txt").read_text() == "mine"


# ---- --out checked before any work ------------------------------------------------------------------------------
def test_out_equal_to_or_inside_an_input_is_refused(cohort: Cohort, raw: Path, bundle: Path):
    before = _tree(raw)
    with pytest.raises(InputError, match="is the input"):
        api.ingest(raw, raw, IngestCfg(), figures=False, progress=False)
    with pytest.raises(InputError, match="inside the input"):
        api.ingest(raw, raw / "cohort", IngestCfg(), figures=False, progress=False)
    with pytest.raises(InputError, match="is the input"):
        api.cv(cohort.root, cohort.root, FAST_CV, progress=False)
    with pytest.raises(InputError, match="inside the input"):
        api.train(cohort.root, cohort.root / "model", TINY["radiomics"], progress=False)
    with pytest.raises(InputError, match="inside the input"):
        api.validate(bundle, raw, raw / "val", progress=False)
    with pytest.raises(InputError, match="inside the input"):
        api.predict(bundle, [raw], out=bundle / "pred")
    assert _tree(raw) == before


def test_an_out_that_is_a_file_or_on_a_full_disk_is_refused_before_work(cohort: Cohort, tmp_path: Path,
                                                                        monkeypatch: pytest.MonkeyPatch):
    import gliograde.fsio as fsio

    (tmp_path / "file").write_text("x")
    t0 = time.perf_counter()
    with pytest.raises(InputError, match="exists and is a file"):
        api.cv(cohort, tmp_path / "file", FAST_CV, progress=False)
    with pytest.raises(InputError, match="is a file, so the folder cannot be created"):
        api.cv(cohort, tmp_path / "file" / "cv", FAST_CV, progress=False)
    monkeypatch.setattr(fsio, "MIN_FREE_BYTES", shutil.disk_usage(tmp_path).free * 2)
    with pytest.raises(InputError, match="MiB free on its disk"):
        api.cv(cohort, tmp_path / "cv", FAST_CV, progress=False)
    assert time.perf_counter() - t0 < 5 and not (tmp_path / "cv").exists()


@pytest.mark.skipif(hasattr(os, "geteuid") and os.geteuid() == 0, reason="root writes into read-only folders")
def test_a_read_only_out_is_refused_before_work(cohort: Cohort, tmp_path: Path):
    ro = tmp_path / "ro"
    ro.mkdir()
    ro.chmod(0o555)
    try:
        with pytest.raises(InputError, match="not writable"):
            api.cv(cohort, ro / "cv", FAST_CV, progress=False)
    finally:
        ro.chmod(0o755)


# ---- tracebacks that were one-line errors -----------------------------------------------------------------------
def test_a_cohort_too_small_for_the_inner_split_is_one_line_before_any_unit(tmp_path: Path):
    raw = write_slice_cohort(tmp_path / "raw", [(f"S-{i:02d}", 2 + i % 3) for i in range(12)], n_slices=1,
                             size=40, channels=3)
    c = _ingest(raw, tmp_path / "c")
    cfg = replace(TINY["cnn"], cv=CVCfg(folds=3, configs=("full", "handcrafted"), n_boot=20))
    cfg = replace(cfg, train=replace(cfg.train, val_fraction=0.2))
    with pytest.raises(InputError, match=r"fold 0 are too few.*at least 5 of a grade") as exc:
        run_cv(c, tmp_path / "cv", cfg, progress=False)
    assert len(str(exc.value).splitlines()) == 1
    assert not (tmp_path / "cv" / "work").exists()


def test_summary_keeps_grades_whole_numbers_beside_an_error_row(tmp_path: Path):
    from gliograde.bundles import CasePrediction
    from gliograde.prediction.run import write_summary

    rows = [CasePrediction(case="case-a", grade=3, probabilities={2: 0.25, 3: 0.75}),
            CasePrediction(case="case-b", status="error", message="slice 2 of case-b: unreadable")]
    path = write_summary(rows, (2, 3), tmp_path / "summary.csv")
    assert path.read_text().splitlines()[1].startswith("case-a,ok,3,0.25,0.75,")
    assert not list(tmp_path.glob(".*"))  # written through a temporary file, renamed


def test_a_write_that_fails_mid_run_is_one_line_not_a_traceback(tmp_path: Path, capsys: pytest.CaptureFixture[str]):
    from gliograde.cli import main

    run = make_run(tmp_path / "run", n_patients=12, history=False)
    (run / "figures").write_text("a file where the figures folder goes")
    assert main(["report", str(run), "--n-boot", "20"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "figures" in err[0] and "check the disk" in err[0]
