"""`predict` and `validate` take `--config` and `--print-config` like every command (issue 12, item 3): their
settings are typed (:class:`~gliograde.config.PredictCfg`, :class:`~gliograde.config.ValidateCfg`), checked before
any case is read (one line, exit 2), and the ``config.yaml`` each writes replays to the same outputs. The Python API
takes the typed settings too. A tiny radiomics bundle (the recommended preset's kind) keeps the runs short."""
from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pandas as pd
import pytest
import yaml
from fakedata import recommended_cohort, write_slice_cohort

from gliograde import api
from gliograde.cli import main
from gliograde.config import PredictCfg, RunConfig, ValidateCfg
from gliograde.errors import InputError
from gliograde.settings import resolve

TRAIN = [(f"T-{i:02d}", 2 if i % 2 else 3) for i in range(10)]
VAL = [(f"V-{i:02d}", (2, 3)[i % 2]) for i in range(8)]
FAST = {"inner_folds": 2, "classifiers": ["logreg"], "select_k": [3, 5]}


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """(the bundle, its raw training cohort): `gliograde train` of the recommended kind at 48 px."""
    tmp = tmp_path_factory.mktemp("rad")
    raw, _, argv = recommended_cohort(tmp, TRAIN, raw_size=40, crop_size=48, selection=FAST)
    assert main(argv) == 0
    return tmp / "b", raw


@pytest.fixture(scope="module")
def val_raw(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return Path(write_slice_cohort(tmp_path_factory.mktemp("val") / "raw", VAL, size=44, channels=3))


def _cases(raw: Path) -> list[str]:
    return [str(p) for p in sorted(raw.iterdir()) if p.is_dir()][:3]


def _outputs(out: Path) -> dict[str, object]:
    """What a predict run wrote, less the timings and the output folder's own path."""
    docs = {}
    for p in sorted(out.glob("*/prediction.json")):
        doc = json.loads(p.read_text())
        doc.pop("timings_ms")
        doc["overlay"] = doc["overlay"] and Path(doc["overlay"]).name
        docs[p.parent.name] = doc
    summary = pd.read_csv(out / "summary.csv", keep_default_na=False).drop(columns="overlay")
    return {"cases": docs, "summary": summary.to_dict("list"), "config": (out / "config.yaml").read_text()}


# ---- predict ---------------------------------------------------------------------------------------------------
def test_predict_config_replays_the_run(trained: tuple[Path, Path], tmp_path: Path) -> None:
    bundle, raw = trained
    cases = _cases(raw)
    first, again = tmp_path / "first", tmp_path / "again"
    assert main(["-q", "predict", str(bundle), *cases, "--out", str(first), "--no-cam", "--slice-index", "1",
                 "--threads", "2"]) == 0
    written = yaml.safe_load((first / "config.yaml").read_text())
    assert written["predict"] == {"explain": False, "slice_index": 1, "mask_heat": True, "keep_ids": False,
                                  "threads": 2, "write_aliases": False}
    assert not (first / "aliases.csv").exists()  # only on request (--write-aliases): it names the inputs
    assert all(c.startswith("case-") for c in written["cases"])
    for name in ("config.yaml", "run.json"):  # case paths can name patients: none is recorded without --keep-ids
        text = (first / name).read_text()
        assert not any(Path(c).name in text or c in text for c in cases), name
    replay = ["--config", str(first / "config.yaml")]
    assert main(["-q", "predict", str(bundle), *cases, "--out", str(again), *replay]) == 0
    assert _outputs(again) == _outputs(first)
    assert {json.loads(p.read_text())["slice_index"] for p in again.glob("*/prediction.json")} == {1}


def test_predict_print_config_shows_the_settings_and_exits(trained: tuple[Path, Path], tmp_path: Path,
                                                           capsys: pytest.CaptureFixture[str]) -> None:
    bundle, _ = trained
    assert main(["predict", str(bundle), str(tmp_path / "no-such-case"), "--out", str(tmp_path / "o"),
                 "--keep-ids", "--show-all-heat", "--write-aliases", "--print-config"]) == 0
    shown = yaml.safe_load(capsys.readouterr().out)
    assert shown == {"predict": {"explain": True, "slice_index": None, "mask_heat": False, "keep_ids": True,
                                 "threads": 1, "write_aliases": True}}
    assert resolve("predict", config=shown).predict == PredictCfg(mask_heat=False, keep_ids=True, threads=1,
                                                                  write_aliases=True)
    assert not (tmp_path / "o").exists()


@pytest.mark.parametrize(("command", "argv", "yaml_text", "message"), [
    ("predict", ["--threads", "0"], None, "--threads (predict.threads): got 0; expected a whole number >= 1"),
    ("predict", ["--slice-index", "-2"], None,
     "--slice-index (predict.slice_index): got -2; expected a whole number >= 0"),
    ("predict", [], "predict:\n  slice_idx: 3\n",
     "predict.slice_idx: unknown key (did you mean 'slice_index'?); allowed: "),
    ("predict", [], "predict:\n  explain: maybe\n", "predict.explain: got 'maybe'; expected true or false"),
    ("predict", [], "predcit:\n  keep_ids: true\n", "predcit: unknown section (did you mean 'predict'?)"),
    ("validate", ["--bootstrap", "-1"], None, "--bootstrap (validate.n_boot): got -1; expected a whole number >= 0"),
    ("validate", ["--min-per-grade", "0"], None,
     "--min-per-grade (validate.min_per_grade): got 0; expected a whole number >= 1"),
    ("validate", [], "validate:\n  n_boot: ten\n", "validate.n_boot: got 'ten'; expected a whole number"),
    ("validate", [], "validate:\n  bootstrap: 10\n",
     "validate.bootstrap: unknown key; allowed: allow_overlap, batch_size, keep_ids, "),
    ("validate", [], "valdate:\n  seed: 1\n", "valdate: unknown section (did you mean 'validate'?)"),
])
def test_a_bad_setting_is_refused_before_reading_a_case(
        trained: tuple[Path, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str],
        command: str, argv: list[str], yaml_text: str | None, message: str) -> None:
    bundle, _ = trained
    if yaml_text is not None:
        (tmp_path / "c.yaml").write_text(yaml_text)
        argv = [*argv, "--config", str(tmp_path / "c.yaml")]
    out = tmp_path / "o"
    assert main(["-q", command, str(bundle), str(tmp_path / "no-such-input"), "--out", str(out), *argv]) == 2
    err = capsys.readouterr().err.strip()
    assert message in err and len(err.splitlines()) == 1 and "no-such-input" not in err
    assert not out.exists()


def test_api_predict_takes_typed_settings(trained: tuple[Path, Path], tmp_path: Path) -> None:
    bundle, raw = trained
    cases = _cases(raw)[:2]
    named = api.predict(bundle, cases, tmp_path / "a", PredictCfg(explain=False, keep_ids=True))
    assert [r.case for r in named] == [Path(c).name for c in cases] and all(r.status == "ok" for r in named)
    replayed = api.predict(bundle, cases, tmp_path / "b", tmp_path / "a" / "config.yaml")  # a written config.yaml
    assert [(r.case, r.probabilities) for r in replayed] == [(r.case, r.probabilities) for r in named]
    hashed = api.predict(bundle, cases, None, PredictCfg(keep_ids=True), keep_ids=False, explain=False)  # kwargs win
    assert all(r.case.startswith("case-") for r in hashed)
    run = RunConfig(predict=PredictCfg(explain=False, slice_index=1))
    assert {r.slice_index for r in api.predict(bundle, cases, None, run)} == {1}
    assert [r.probabilities for r in api.predict(bundle, cases, explain=False, keep_ids=True)] == [
        r.probabilities for r in named]  # the keyword form of before still works
    with pytest.raises(InputError, match="predict.slice_index"):
        api.predict(bundle, cases, None, {"predict": {"slice_index": -1}})


# ---- validate --------------------------------------------------------------------------------------------------
def _metrics(out: Path) -> dict[str, object]:
    m: dict[str, object] = json.loads((out / "metrics.json").read_text())
    m.pop("seconds")
    return m


def test_validate_config_replays_the_run(trained: tuple[Path, Path], val_raw: Path, tmp_path: Path) -> None:
    bundle, _ = trained
    first, again = tmp_path / "first", tmp_path / "again"
    assert main(["-q", "validate", str(bundle), str(val_raw), "--out", str(first), "--bootstrap", "40",
                 "--min-per-grade", "2", "--seed", "5"]) == 0
    written = yaml.safe_load((first / "config.yaml").read_text())
    assert written["validate"] == {"n_boot": 40, "seed": 5, "keep_ids": False, "min_per_grade": 2, "n_bins": 10,
                                   "batch_size": 16, "skip_bad": False, "write_aliases": False,
                                   "allow_overlap": False, "sites": []}
    assert main(["-q", "validate", str(bundle), str(val_raw), "--out", str(again),
                 "--config", str(first / "config.yaml")]) == 0
    assert (again / "config.yaml").read_text() == (first / "config.yaml").read_text()
    assert (again / "predictions.csv").read_bytes() == (first / "predictions.csv").read_bytes()
    assert _metrics(again) == _metrics(first) and _metrics(first)["auc"]["n_boot"] == 40  # type: ignore[index]
    flagged = tmp_path / "flagged"  # a flag beats the replayed YAML
    assert main(["-q", "validate", str(bundle), str(val_raw), "--out", str(flagged), "--config",
                 str(first / "config.yaml"), "--bootstrap", "0"]) == 0
    assert yaml.safe_load((flagged / "config.yaml").read_text())["validate"]["n_boot"] == 0




def test_validate_print_config(trained: tuple[Path, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bundle, _ = trained
    assert main(["validate", str(bundle), str(tmp_path / "d"), "--out", str(tmp_path / "o"), "--seed", "4",
                 "--skip-bad", "--print-config"]) == 0
    shown = yaml.safe_load(capsys.readouterr().out)
    assert shown == {"validate": {**dataclasses.asdict(ValidateCfg(seed=4, skip_bad=True)), "sites": []}}
    assert not (tmp_path / "o").exists()


def test_api_validate_takes_typed_settings(trained: tuple[Path, Path], val_raw: Path, tmp_path: Path) -> None:
    bundle, _ = trained
    typed = api.validate(bundle, val_raw, tmp_path / "a", ValidateCfg(n_boot=0, min_per_grade=2), progress=False)
    assert typed.metrics["auc"]["n_boot"] == 0 and typed.metrics["auc"]["value"] is not None
    replayed = api.validate(bundle, val_raw, tmp_path / "b", tmp_path / "a" / "config.yaml", progress=False)
    pd.testing.assert_frame_equal(replayed.table, typed.table)
    run = RunConfig(validate=ValidateCfg(n_boot=0, min_per_grade=50))
    assert api.validate(bundle, val_raw, tmp_path / "c", run, progress=False).metrics["auc"]["value"] is None
    with pytest.raises(InputError, match=r"^--bootstrap \(validate.n_boot\): got -3"):
        api.validate(bundle, val_raw, tmp_path / "d", overrides={"validate": {"n_boot": -3}})
    assert not (tmp_path / "d").exists()


# ---- the settings step ----------------------------------------------------------------------------------------
def test_own_sections_belong_to_their_command() -> None:
    assert resolve("predict", config={"predict": {"keep_ids": True}}).predict.keep_ids
    assert resolve("validate", overrides={"validate": {"seed": 2}}).validate == ValidateCfg(seed=2)
    with pytest.raises(InputError, match=r"^config: predict: the settings of `gliograde predict`, which train does not "
                                         r"read; allowed: augment, cv, ingest, kind, preset, subset, train$"):
        resolve("train", config={"predict": {"keep_ids": True}})
    with pytest.raises(InputError, match="ingest.chanels: unknown key"):  # shared sections are checked as ever
        resolve("validate", config={"ingest": {"chanels": ["t1ce"]}})
    assert resolve("cv").predict == PredictCfg() and resolve("cv").validate == ValidateCfg()
