"""``--executor ray`` on a Ray instance of this machine (2 CPUs): the same files as the local executor, a unit that
raises once retried, one that always raises reported while the others finish (a rerun runs only it), a worker
killed mid-run and a driver interrupted mid-run (the reruns complete to the same results), Ctrl-C cancelling the
tasks not finished yet, a unit asking for more GPUs than the cluster has refused."""
from __future__ import annotations

import os
import sys
import time
from dataclasses import dataclass, field, replace
from pathlib import Path

import pytest
from fakedata import write_slice_cohort

import gliograde.experiment.core as core
from gliograde.config import AugmentCfg, CVCfg, ExecutorCfg, IngestCfg, PreprocessCfg, RunConfig, SelectionCfg
from gliograde.data.dataset import load_cohort
from gliograde.data.ingest import ingest
from gliograde.errors import InputError, TasksFailed
from gliograde.executor import run_tasks
from gliograde.experiment import CONFIGS, CVConfiguration, Experiment, FeatureStore, run_cv
from gliograde.presets import get_preset
from gliograde.splits import Fold

ray = pytest.importorskip("ray")
ray.cloudpickle.register_pickle_by_value(sys.modules[__name__])  # workers cannot import this test module

SELECTION = SelectionCfg(inner_folds=2, classifiers=("logreg",), select_k=(0, 3))
RAY = ExecutorCfg(name="ray", retries=0)
LOCAL = ExecutorCfg()


@pytest.fixture(scope="session")
def ray_instance():
    ray.init(num_cpus=2, include_dashboard=False)
    yield
    ray.shutdown()


@pytest.fixture(scope="module")
def cohort(tmp_path_factory):
    root = tmp_path_factory.mktemp("ray")
    write_slice_cohort(root / "raw", [(f"P-{i:02d}", 2 + i % 2) for i in range(20)], size=32)
    ingest(root / "raw", root / "cohort", IngestCfg(preprocess=PreprocessCfg(size=32)), progress=False)
    return load_cohort(root / "cohort")


def _cfg(configs: tuple[str, ...], executor: ExecutorCfg = LOCAL) -> RunConfig:
    train = replace(get_preset("quick").train, image_size=32, epochs=1, batch_size=16, patience=0)
    return RunConfig(train=train, augment=AugmentCfg(subset=1), executor=executor,
                     cv=CVCfg(folds=2, configs=configs, n_boot=20, selection=SELECTION))


def _results(run: Path) -> tuple[bytes, bytes]:
    """predictions.csv and metrics.json as bytes (metrics.json holds no timings)."""
    return (run / "predictions.csv").read_bytes(), (run / "metrics.json").read_bytes()


@pytest.mark.parametrize("configs", [("handcrafted", "radiomics"), ("full",)], ids=["features", "cnn"])
def test_ray_gives_the_local_files(ray_instance, cohort, tmp_path, configs):
    run_cv(cohort, tmp_path / "local", _cfg(configs), progress=False)
    run_cv(cohort, tmp_path / "ray", _cfg(configs, RAY), progress=False)
    assert _results(tmp_path / "ray") == _results(tmp_path / "local")
    for unit in (tmp_path / "local" / "work").rglob("fold*"):
        mirror = tmp_path / "ray" / unit.relative_to(tmp_path / "local")
        assert sorted(p.name for p in mirror.iterdir()) == sorted(p.name for p in unit.iterdir())
    if "radiomics" in configs:
        assert (tmp_path / "ray" / "selection.json").read_text() == (tmp_path / "local" / "selection.json").read_text()


def test_a_worker_that_cannot_see_the_run_folder_works_in_scratch_and_sends_its_files(cohort, tmp_path):
    """No shared disk: the unit runs in a scratch folder and the driver writes what it sends, the local files."""
    cfg = _cfg(("radiomics",))
    run_cv(cohort, tmp_path / "local", cfg, progress=False)
    config, local = CONFIGS["radiomics"], tmp_path / "local" / "work" / "radiomics" / "fold1"
    exp = Experiment(cohort, tmp_path / "driver", cfg, FeatureStore(cohort, tmp_path / "features"), progress=False)
    fold = core.repeated_folds(replace(exp, out=tmp_path / "local"))[0][1]
    config.prepare(exp)
    result = core.compute_unit((config, fold), replace(exp, out=tmp_path / "not-on-this-worker"))
    assert not (tmp_path / "not-on-this-worker").exists()
    assert result.files == {p.name: p.read_bytes() for p in local.iterdir() if p.name != "predictions.csv"}
    core.commit_unit(exp, config, fold, result)
    driver = tmp_path / "driver" / "work" / "radiomics" / "fold1"
    assert (driver / "predictions.csv").read_bytes() == (local / "predictions.csv").read_bytes()
    assert (driver / "selection.json").read_bytes() == (local / "selection.json").read_bytes()


@dataclass(frozen=True)
class Faulty(CVConfiguration):
    """``handcrafted`` whose unit of fold ``fold`` fails: raises (``once`` or ``always``) or kills its worker once
    (``exit``); every call is logged to ``log/calls.txt`` (the workers are other processes)."""

    name: str
    log: str
    mode: str
    fold: int = 1
    uses: frozenset[str] = field(default=frozenset())

    def prepare(self, exp: Experiment) -> None:
        CONFIGS["handcrafted"].prepare(exp)

    def run_unit(self, exp: Experiment, fold: Fold, unit: Path):
        log = Path(self.log)
        with open(log / "calls.txt", "a") as f:
            f.write(f"{fold.index}\n")
        if fold.index == self.fold:
            first = not (log / "tripped").exists()
            (log / "tripped").touch()
            if self.mode == "exit" and first:
                os._exit(1)
            if self.mode == "always" or first:
                raise RuntimeError(f"boom in fold {fold.index}")
        return CONFIGS["handcrafted"].run_unit(exp, fold, unit)


def _faulty(monkeypatch, tmp_path: Path, mode: str) -> Path:
    log = tmp_path / "log"
    log.mkdir()
    monkeypatch.setattr(core, "get_configs", lambda names: (Faulty("handcrafted", str(log), mode),))
    return log


def _calls(log: Path) -> list[int]:
    return sorted(int(v) for v in (log / "calls.txt").read_text().split())


def test_a_unit_that_raises_once_is_retried(ray_instance, cohort, tmp_path, monkeypatch):
    run_cv(cohort, tmp_path / "local", _cfg(("handcrafted",)), progress=False)
    log = _faulty(monkeypatch, tmp_path, "once")
    run_cv(cohort, tmp_path / "ray", _cfg(("handcrafted",), replace(RAY, retries=1)), progress=False)
    assert _calls(log) == [0, 1, 1]
    assert _results(tmp_path / "ray") == _results(tmp_path / "local")


def test_a_unit_that_always_raises_is_reported_and_a_rerun_runs_only_it(ray_instance, cohort, tmp_path,
                                                                          monkeypatch):
    run_cv(cohort, tmp_path / "local", _cfg(("handcrafted",)), progress=False)
    log = _faulty(monkeypatch, tmp_path, "always")
    with pytest.raises(TasksFailed) as err:
        run_cv(cohort, tmp_path / "ray", _cfg(("handcrafted",), replace(RAY, retries=1)), progress=False)
    assert err.value.failures == ["handcrafted fold 1: RuntimeError: boom in fold 1"]
    assert str(err.value).splitlines()[0].startswith("1 of 2 units failed after their retries")
    assert _calls(log) == [0, 1, 1]  # fold 0 finished; fold 1 tried twice
    assert (tmp_path / "ray" / "work" / "handcrafted" / "fold0" / "predictions.csv").is_file()
    assert not (tmp_path / "ray" / "predictions.csv").exists()
    (log / "calls.txt").unlink()
    monkeypatch.setattr(core, "get_configs", lambda names: (Faulty("handcrafted", str(log), "none"),))
    run_cv(cohort, tmp_path / "ray", _cfg(("handcrafted",), RAY), progress=False)
    assert _calls(log) == [1]
    assert _results(tmp_path / "ray") == _results(tmp_path / "local")


def test_a_killed_worker_is_retried_or_reported_and_the_rerun_completes(ray_instance, cohort, tmp_path,
                                                                          monkeypatch):
    run_cv(cohort, tmp_path / "local", _cfg(("handcrafted",)), progress=False)
    log = _faulty(monkeypatch, tmp_path, "exit")
    with pytest.raises(TasksFailed, match=r"handcrafted fold 1: \w+"):  # no retries: the dead worker is reported
        run_cv(cohort, tmp_path / "killed", _cfg(("handcrafted",), RAY), progress=False)
    run_cv(cohort, tmp_path / "killed", _cfg(("handcrafted",), RAY), progress=False)
    assert _calls(log) == [0, 1, 1]
    assert _results(tmp_path / "killed") == _results(tmp_path / "local")
    (log / "tripped").unlink()
    (log / "calls.txt").unlink()
    run_cv(cohort, tmp_path / "retried", _cfg(("handcrafted",), replace(RAY, retries=1)), progress=False)
    assert _calls(log) == [0, 1, 1]  # Ray ran the killed unit again (max_retries)
    assert _results(tmp_path / "retried") == _results(tmp_path / "local")


def test_an_interrupted_driver_resumes_to_the_same_results(ray_instance, cohort, tmp_path, monkeypatch):
    run_cv(cohort, tmp_path / "local", _cfg(("handcrafted",)), progress=False)
    real, calls = core.commit_unit, []

    def interrupted(*args):
        calls.append(1)
        if len(calls) == 2:  # Ctrl-C while the driver writes the second unit
            raise KeyboardInterrupt
        real(*args)

    monkeypatch.setattr(core, "commit_unit", interrupted)
    with pytest.raises(KeyboardInterrupt):
        run_cv(cohort, tmp_path / "ray", _cfg(("handcrafted",), RAY), progress=False)
    monkeypatch.setattr(core, "commit_unit", real)
    assert len(list((tmp_path / "ray" / "work").rglob("predictions.csv"))) == 1
    run_cv(cohort, tmp_path / "ray", _cfg(("handcrafted",), RAY), progress=False)
    assert _results(tmp_path / "ray") == _results(tmp_path / "local")


def _sleep(seconds: float) -> float:
    time.sleep(seconds)
    return seconds


def test_an_interrupt_cancels_the_tasks_not_finished(ray_instance):
    def interrupt(i: int, result: float) -> None:
        raise KeyboardInterrupt

    start = time.monotonic()
    with pytest.raises(KeyboardInterrupt):
        run_tasks(_sleep, [0.0, 60.0, 60.0, 60.0], RAY, on_done=interrupt, desc="sleep", progress=False)
    got: dict[int, float] = {}
    assert run_tasks(_sleep, [0.0, 0.0], RAY, on_done=got.__setitem__, desc="after", progress=False) == []
    assert got == {0: 0.0, 1: 0.0}
    assert time.monotonic() - start < 30  # the 60 s tasks were cancelled, not waited for


def test_more_gpus_than_the_cluster_has_is_refused(ray_instance):
    with pytest.raises(InputError, match=r"^--unit-gpus 1: the Ray cluster has 0 GPUs"):
        run_tasks(_sleep, [0.0], replace(RAY, unit_gpus=1.0), on_done=lambda i, r: None, desc="gpu", progress=False)
