"""Issue 19, logs: one progress line per run (units done / total, the current unit, ETA), plain periodic lines when
the output is not a terminal, log lines that never break a terminal bar (``logging_redirect_tqdm``), per-epoch and
per-unit detail only with ``-v``, model selection labelled at DEBUG with one summary line, and each message
printed once (synth, train, export). Also the package version written in one place."""
from __future__ import annotations

import io
import json
import logging
import re
import sys
import tomllib
from pathlib import Path

import numpy as np
import pytest
from conftest import REPO
from fakedata import make_run, small_cohort

from gliograde import __version__, cli, progress
from gliograde.config import CVCfg, ExecutorCfg, RunConfig, SelectionCfg
from gliograde.executor import run_tasks


class FakeClock:
    def __init__(self) -> None:
        self.t = 0.0

    def __call__(self) -> float:
        return self.t


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_not_a_terminal_gets_plain_periodic_lines_with_count_eta_and_current_item() -> None:
    out, clock = io.StringIO(), FakeClock()
    with progress.task_progress(5, "cv honest", unit="unit", stream=out, interval=30, clock=clock) as bar:
        for i in range(5):
            bar.current(f"full fold {i}")
            clock.t += 20  # each unit 20 s: a line at most every 30 s
            bar.update()
    lines = out.getvalue().splitlines()
    assert "\r" not in out.getvalue() and "|" not in out.getvalue()  # no bar
    assert lines == ["cv honest: 2 of 5 units, 40s, ETA 1m00s, now full fold 2",
                     "cv honest: 4 of 5 units, 1m20s, ETA 20s, now full fold 4",
                     "cv honest: 5 of 5 units done in 1m40s"]


def test_a_terminal_gets_one_bar_and_log_lines_print_whole_above_it(monkeypatch: pytest.MonkeyPatch) -> None:
    term = Terminal()
    monkeypatch.setattr(sys, "stderr", term)
    handler = logging.StreamHandler(sys.stderr)  # the CLI's handler: stderr, like the bar
    log = logging.getLogger("gliograde.test_logs")
    logging.getLogger().addHandler(handler)
    try:
        with progress.task_progress(3, "cv honest", unit="unit") as bar:
            for i in range(3):
                bar.current(f"full fold {i}")
                log.warning("a message from unit %d", i)
                bar.update()
    finally:
        logging.getLogger().removeHandler(handler)
    text = term.getvalue()
    assert "cv honest" in text and "3/3" in text and "full fold 2" in text  # tqdm's bar, with the current unit
    for i in range(3):  # each message starts a line of its own (tqdm.write clears the bar first)
        assert re.search(rf"(^|[\r\n])a message from unit {i}\n", text), text


def test_a_loop_inside_an_open_display_shows_none_so_a_run_has_one_line() -> None:
    out = io.StringIO()
    with progress.task_progress(2, "cv", stream=out, interval=0) as outer:
        with progress.task_progress(40, "epochs", stream=out, interval=0) as inner:
            inner.update(40)
        outer.update(2)
    assert "epochs" not in out.getvalue() and "cv: 2 of 2 tasks done" in out.getvalue()


def test_run_tasks_names_the_unit_running_on_its_progress_line(monkeypatch: pytest.MonkeyPatch) -> None:
    err = io.StringIO()  # not a terminal: main's executor showed nothing at all here
    monkeypatch.setattr(sys, "stderr", err)
    monkeypatch.setattr(progress, "PLAIN_INTERVAL_S", 0.0)
    names = ["full fold 0", "full fold 1", "handcrafted fold 0"]
    run_tasks(abs, [1, 2, 3], ExecutorCfg(), on_done=lambda i, r: None, desc="cv honest", label=names.__getitem__,
              unit="unit")
    lines = err.getvalue().splitlines()
    assert lines[0].startswith("cv honest: 1 of 3 units, ") and lines[0].endswith("now full fold 1")
    assert "ETA" in lines[1] and lines[-1].startswith("cv honest: 3 of 3 units done in ")


def test_ingest_piped_prints_plain_lines_no_bar_and_no_patient_id(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                                   capsys: pytest.CaptureFixture[str]) -> None:
    """ingest on gliograde's progress display, as cv: main used tqdm itself, which shows nothing at all when piped
    (and, on a terminal, let log lines break its bar)."""
    from fakedata import write_slice_cohort

    write_slice_cohort(tmp_path / "raw", [(f"P-{i:02d}", 2 + i % 2) for i in range(6)], size=32)
    (tmp_path / "raw" / "P_05_2000" / "P_05_2000_0.png").write_bytes(b"not a png")  # a bad patient still counts
    monkeypatch.setattr(progress, "PLAIN_INTERVAL_S", 0.0)
    assert cli.main(["ingest", str(tmp_path / "raw"), "--out", str(tmp_path / "cohort"), "--skip-bad",
                     "--no-figures"]) == 0
    err = capsys.readouterr().err  # pytest's capture is not a terminal: a pipe, a log file
    assert "\r" not in err and "|" not in err and "it/s" not in err and "patient/s" not in err  # no tqdm bar
    lines = [line for line in err.splitlines() if line.startswith("ingest: ")]
    assert lines[0].startswith("ingest: 1 of 6 patients, ") and "ETA" in lines[0]
    assert lines[-1].startswith("ingest: 6 of 6 patients done in ")
    assert not any("P-0" in line or "P_0" in line for line in lines)  # the line names no patient


@pytest.mark.parametrize("argv", [["-v", "cv", "x", "--out", "y"], ["cv", "x", "--out", "y", "--verbose"]])
def test_verbose_flag_before_or_after_the_command(argv: list[str]) -> None:
    assert cli.build_parser().parse_args(argv).verbose is True
    assert cli.build_parser().parse_args(["cv", "x", "--out", "y"]).verbose is False


def test_detail_is_hidden_without_verbose_and_labelled_with_it(caplog: pytest.LogCaptureFixture) -> None:
    log = logging.getLogger("gliograde.experiment.cnn")
    caplog.set_level(logging.DEBUG)
    try:
        progress.configure_logging(verbose=False)
        with progress.detail("full fold 3"):
            log.info("augment: 83 training rows")
            log.warning("inner validation at chance")
        progress.configure_logging(verbose=True)
        with progress.detail("full fold 4"):
            log.info("augment: 84 training rows")
    finally:
        progress.reset_logging()
    assert [r.getMessage() for r in caplog.records] == ["full fold 3: inner validation at chance",
                                                        "full fold 4: augment: 84 training rows"]
    with progress.detail("x"):  # a library caller (no configure_logging) keeps its own logging
        log.info("kept")
    assert caplog.records[-1].getMessage() == "kept"


def test_epoch_lines_only_at_debug_and_one_epochs_line(caplog: pytest.LogCaptureFixture,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    import torch

    from gliograde.config import TrainCfg
    from gliograde.models import create_model
    from gliograde.training.engine import fit

    err = io.StringIO()
    monkeypatch.setattr(sys, "stderr", err)
    monkeypatch.setattr(progress, "PLAIN_INTERVAL_S", 0.0)
    torch.manual_seed(0)
    x = torch.randint(0, 255, (8, 3, 32, 32), dtype=torch.uint8)
    y = np.array([0, 1] * 4)
    cfg = TrainCfg(model="resnet18", weights="none", epochs=3, batch_size=8, image_size=32, patience=0,
                   device="cpu")
    with caplog.at_level(logging.DEBUG, logger="gliograde.training.engine"):
        fit(create_model("resnet18", 2, "none"), x, y, x[:4], y[:4], cfg)
    epoch_records = [r for r in caplog.records if r.getMessage().startswith("epoch ")]
    assert len(epoch_records) == 3 and {r.levelno for r in epoch_records} == {logging.DEBUG}
    assert err.getvalue().splitlines()[-1].startswith("epochs: 3 of 3 epochs done in ")


def test_selection_is_a_labelled_debug_line_and_cv_logs_one_summary(tmp_path: Path, caplog: pytest.LogCaptureFixture,
                                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    from gliograde.experiment import run_cv

    cohort = small_cohort(tmp_path, 12)
    cfg = RunConfig(cv=CVCfg(folds=2, configs=("radiomics",), n_boot=10,
                             selection=SelectionCfg(inner_folds=2, classifiers=("logreg",), select_k=(0, 3))))
    err = io.StringIO()
    monkeypatch.setattr(sys, "stderr", err)
    monkeypatch.setattr(progress, "PLAIN_INTERVAL_S", 0.0)
    caplog.set_level(logging.DEBUG)
    try:
        progress.configure_logging(verbose=False)  # the CLI's logging, without -v
        run_cv(cohort, tmp_path / "cv", cfg, progress=True)
    finally:
        progress.reset_logging()
    shown = [r.getMessage() for r in caplog.records if r.levelno >= logging.INFO]
    assert not [m for m in shown if "inner AUC" in m]  # main: one unlabelled INFO line per fold
    summary = [m for m in shown if "model selection" in m]
    assert len(summary) == 1 and re.fullmatch(r"radiomics model selection \(inner_cv\): .+ in \d of 2 folds",
                                              summary[0]), summary
    assert "cv honest: 1 of 2 units, " in err.getvalue() and "now radiomics fold 1" in err.getvalue()



def test_with_verbose_each_selection_is_a_debug_line_labelled_with_its_unit(caplog: pytest.LogCaptureFixture) -> None:
    from sklearn.linear_model import LogisticRegression

    from gliograde.selection import Candidate, select_candidate

    rng = np.random.default_rng(0)
    X, y = rng.normal(size=(24, 3)), np.array([0, 1] * 12)
    cands = [Candidate("logreg", 0), Candidate("logreg", 2)]
    caplog.set_level(logging.DEBUG)
    try:
        progress.configure_logging(verbose=True)
        with progress.detail("radiomics fold 0"):
            select_candidate(lambda c: LogisticRegression(), X, y, np.arange(24).astype(str), cands, inner_folds=2)
    finally:
        progress.reset_logging()
    (rec,) = [r for r in caplog.records if "inner AUC" in r.getMessage()]
    assert rec.levelno == logging.DEBUG
    assert rec.getMessage().startswith("radiomics fold 0: model selection (inner_cv, 2 inner splits): chose logreg")


def test_synth_says_what_it_wrote_once(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                       caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO)
    assert cli.main(["synth", "--out", str(tmp_path / "s"), "--n", "1", "1", "1", "--workers", "1"]) == 0
    said = capsys.readouterr().out.splitlines() + [r.getMessage() for r in caplog.records]
    assert len([m for m in said if "synthetic patients" in m]) == 1, said  # main: twice, once naming a scratch dir
    run = json.loads((tmp_path / "s" / "run.json").read_text())
    assert run["versions"]["gliograde"] == __version__


def test_version_is_written_once_and_the_cli_and_runs_agree(capsys: pytest.CaptureFixture[str]) -> None:
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    init = (REPO / "src" / "gliograde" / "__init__.py").read_text()
    assert not re.search(r"__version__\s*=\s*['\"]\d+\.\d", init)  # main: "0.1.0" here and in pyproject.toml
    from importlib import metadata

    assert project["version"] == metadata.version("gliograde") == __version__
    with pytest.raises(SystemExit):
        cli.main(["--version"])
    assert capsys.readouterr().out.strip() == f"gliograde {__version__}"


def test_export_without_onnx_is_one_line(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                         capsys: pytest.CaptureFixture[str]) -> None:
    import importlib.util

    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "onnx" else real(name, *a))
    assert cli.main(["export", str(tmp_path), "--onnx"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err == ["gliograde export: error: gliograde export --onnx needs the onnx package, which is not "
                   "installed; pip install 'gliograde[export]' (onnx, and onnxruntime to run the file)"]


def test_onnxruntime_and_pyradiomics_are_extras_installed_by_make() -> None:
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    deps = " ".join(project["dependencies"])
    assert "onnxruntime" not in deps and "onnx" not in deps  # main: both in the core dependencies
    extras = project["optional-dependencies"]
    assert any(d.startswith("onnxruntime") for d in extras["export"])
    assert extras["radiomics"] == ["pyradiomics-bhklab==3.1.4"]
    make = (REPO / "Makefile").read_text()
    assert "radiomics,export" in make and not (REPO / "requirements-radiomics.sh").exists()


# ---- make demo: --protocol both ----------------------------------------------------------------------------------
def test_a_paper_run_whose_handcrafted_config_tests_original_images_only_is_not_taken_for_a_cut_table(
        tmp_path: Path) -> None:
    """The demo's paper protocol: CNN configurations have a row per augmented test row, handcrafted one per original
    image (main refused the run's report as "cut or edited", so `make demo` with both protocols failed)."""
    import pandas as pd

    from gliograde.errors import InputError
    from gliograde.report.cv import check_against_folds

    run = make_run(tmp_path / "paper", n_patients=12, n_folds=2, protocol="paper", copies=3)
    df = pd.read_csv(run / "predictions.csv")
    df = pd.concat([df[df["config"] != "handcrafted"],
                    df[df["config"] == "handcrafted"].drop_duplicates(["patient_id", "config"])])
    folds = [{"fold": k, "test_rows": list(range(3 * int((df[(df.fold == k) & (df.config == "full")]).shape[0] / 3))),
              "train_rows": []} for k in range(2)]
    (run / "folds.json").write_text(json.dumps({"n_splits": 2, "seed": 0, "protocol": "paper", "folds": folds}))
    check_against_folds(run, df)  # main: InputError "handcrafted fold 0 has 6 rows, fewer than another's (18)"
    cut = df.drop(df[(df.config == "no-aug") & (df.fold == 0)].index[:2])
    with pytest.raises(InputError, match="fold 0 has .* rows, fewer than another"):
        check_against_folds(run, cut)


def test_tiny_training_sets_fit_without_the_anova_warnings_which_stay_outside_the_fit() -> None:
    """sklearn's ANOVA F warns on tiny training sets (F = inf or nan, rightly ranked): silenced around the fits of
    the classical pipelines only, so -v output is not flooded, and nowhere else."""
    import warnings

    from sklearn.feature_selection import f_classif

    from gliograde.baselines import HandcraftedBaseline

    X = np.array([[0.0, 1.0, 5.0], [0.0, 1.0, 7.0], [1.0, 2.0, 5.0], [1.0, 2.0, 9.0]])  # cols 0, 1: constant per grade
    y = np.array([0, 0, 1, 1])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert HandcraftedBaseline("logreg", select_k=1).fit(X, y).predict_proba(X).shape == (4, 2)
        HandcraftedBaseline("logreg", select_k=1).fit(X[[0, 2]], y[[0, 2]])  # one row per grade: F = nan
    with pytest.warns(RuntimeWarning, match="divide by zero"):  # silenced around the fit only, not globally
        f_classif(X, y)


def test_a_loop_over_within_one_interval_prints_no_closing_line() -> None:
    """Piped, a loop done in seconds needs no progress: no 'done' line, so a command failing after it keeps its
    error as its one line; a loop that took an interval or more says it is done."""
    now = [0.0]
    for took, want in ((5.0, ""), (61.0, "quick: 3 of 3 units done in 1m01s\n")):
        out, now[0] = io.StringIO(), 0.0
        with progress.task_progress(3, "quick", unit="unit", stream=out, clock=lambda: now[0]) as bar:
            for _ in range(3):
                bar.update()
            now[0] = took
        assert out.getvalue() == want
