"""The local executor (order, retries, failures reported while the rest go on, ``on_done``, ``shared``; nothing
of Ray imported, in a fresh interpreter), the executor settings (``ExecutorCfg``, the ``executor`` section and the
cv flags), the one-line error without Ray, and the CLI's exit status 1 and one line per failed unit."""
from __future__ import annotations

import subprocess
import sys

import pytest

from gliograde import cli
from gliograde.cli.cv import FLAGS
from gliograde.config import ExecutorCfg, RunConfig, from_dict
from gliograde.errors import InputError, TasksFailed
from gliograde.executor import TaskFailure, run_tasks
from gliograde.settings import as_dict, resolve


def _flaky(item: tuple[int, list[int]]) -> int:
    """Fails on the first ``item[1][0]`` calls (counted in the list), then returns ``item[0] * 10``."""
    value, left = item
    if left[0] > 0:
        left[0] -= 1
        raise ValueError(f"item {value} failed\nsecond line")
    return value * 10


def test_local_runs_in_order_retries_and_reports_failures_while_the_rest_go_on():
    items = [(0, [0]), (1, [2]), (2, [5]), (3, [0])]
    done: list[tuple[int, int]] = []
    failures = run_tasks(_flaky, items, ExecutorCfg(retries=2), on_done=lambda i, r: done.append((i, r)),
                         desc="t", progress=False)
    assert done == [(0, 0), (1, 10), (3, 30)]  # item 1 succeeded on its third try
    assert failures == [TaskFailure(2, "ValueError: item 2 failed")]
    assert items[2][1] == [2]  # tried 1 + 2 times, no more


def test_local_without_retries_and_with_shared():
    failures = run_tasks(_flaky, [(5, [1])], ExecutorCfg(retries=0), on_done=lambda i, r: None, desc="t",
                         progress=False)
    assert failures == [TaskFailure(0, "ValueError: item 5 failed")]
    got: dict[int, int] = {}
    assert run_tasks(pow, [2, 3], ExecutorCfg(), on_done=got.__setitem__, desc="t", progress=False, shared=2) == []
    assert got == {0: 4, 1: 9}
    assert run_tasks(pow, [], ExecutorCfg(name="ray"), on_done=got.__setitem__, desc="t") == []  # nothing to run


def test_an_interrupt_or_a_failing_on_done_stops_the_local_run():
    def interrupted(item: int) -> int:
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        run_tasks(interrupted, [1, 2], ExecutorCfg(), on_done=lambda i, r: None, desc="t", progress=False)

    def bad_writer(i: int, r: int) -> None:
        raise OSError("disk full")

    with pytest.raises(OSError, match="disk full"):
        run_tasks(abs, [1, 2], ExecutorCfg(), on_done=bad_writer, desc="t", progress=False)


def test_ray_asked_for_without_ray_is_one_line_with_the_install_command(monkeypatch):
    monkeypatch.setitem(sys.modules, "ray", None)  # `import ray` raises ImportError
    with pytest.raises(InputError, match=r"^--executor ray needs the ray package, which is not installed; "
                                         r"pip install 'gliograde\[ray\]'$"):
        run_tasks(abs, [1], ExecutorCfg(name="ray"), on_done=lambda i, r: None, desc="t")


def test_the_local_executor_imports_nothing_of_ray():
    """In a fresh interpreter (a tiny whole cv is tests/integration/test_executor_local.py)."""
    script = ("import sys, gliograde\nfrom gliograde.executor import ExecutorCfg, run_tasks\n"
              "assert run_tasks(abs, [-1], ExecutorCfg(), on_done=lambda i, r: None, desc='t', progress=False) == []\n"
              "print(sorted(m for m in sys.modules if m == 'ray' or m.startswith('ray.')))")
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.split() == ["[]"]


def test_executor_settings_are_checked():
    assert RunConfig().executor == ExecutorCfg("local", None, 1.0, 0.0, 2)
    assert from_dict(ExecutorCfg, {"name": "ray", "address": "10.0.0.5:6379", "unit_gpus": 0.5}).unit_gpus == 0.5
    for address in ("auto", "local", "head:6379", "ray://head:10001"):
        assert ExecutorCfg(name="ray", address=address).address == address
    with pytest.raises(InputError, match=r"^executor.name: got 'dask'; expected one of 'local', 'ray'"):
        ExecutorCfg(name="dask")  # type: ignore[arg-type]
    with pytest.raises(InputError, match=r"^executor.address: got 'auto' with the local executor"):
        ExecutorCfg(address="auto")
    with pytest.raises(InputError, match=r"^executor.address: got 'head'; expected auto, local, HOST:PORT"):
        ExecutorCfg(name="ray", address="head")
    with pytest.raises(InputError, match=r"^executor.unit_gpus: got -1.0; expected a number >= 0"):
        ExecutorCfg(unit_gpus=-1)
    with pytest.raises(InputError, match=r"^executor.retries: got -1; expected a whole number >= 0"):
        ExecutorCfg(retries=-1)


def test_the_executor_section_is_read_by_cv_predict_and_validate_only():
    for command in ("cv", "predict", "validate"):
        cfg = resolve(command, config={"executor": {"name": "ray", "unit_cpus": 2}})
        assert cfg.executor == ExecutorCfg(name="ray", unit_cpus=2.0)
    with pytest.raises(InputError, match=r"^config: executor: the settings of `gliograde cv`, `gliograde predict` or "
                                         r"`gliograde validate`, which train does not read"):
        resolve("train", config={"executor": {"name": "ray"}})
    with pytest.raises(InputError, match=r"^config: executor.retry: unknown key \(did you mean 'retries'\?\)"):
        resolve("cv", config={"executor": {"retry": 1}})


def _cv_args(*flags: str):
    return cli.build_parser().parse_args(["cv", "cohort", "--out", "run", "--configs", "handcrafted", *flags])


def test_cv_flags_set_the_executor():
    from gliograde.cli._common import resolve_args

    args = _cv_args("--executor", "ray", "--ray-address", "auto", "--unit-cpus", "2", "--unit-gpus", "0.5")
    assert resolve_args("cv", args, FLAGS).executor == ExecutorCfg("ray", "auto", 2.0, 0.5, 2)
    assert resolve_args("cv", _cv_args(), FLAGS).executor == ExecutorCfg()
    with pytest.raises(InputError, match=r"^--ray-address \(executor.address\): got 'auto' with the local executor"):
        resolve_args("cv", _cv_args("--ray-address", "auto"), FLAGS)
    with pytest.raises(InputError, match=r"^--executor \(executor.name\): got 'rey'; expected one of 'local', 'ray' "
                                         r"\(did you mean 'ray'\?\)"):
        resolve_args("cv", _cv_args("--executor", "rey"), FLAGS)
    assert "executor" not in as_dict(resolve("cv", config={"executor": {"name": "ray"}}), "cv")  # no config.yaml


def test_failed_units_exit_1_with_one_line_each(monkeypatch, capsys, tmp_path):
    from gliograde import api

    def failing(*args: object, **kw: object) -> None:
        raise TasksFailed("units", 4, ["handcrafted fold 1: RuntimeError: boom", "handcrafted fold 3: OSError: x"],
                          "rerun the same command to run only these")

    monkeypatch.setattr(api, "cv", failing)
    assert cli.main(["cv", str(tmp_path), "--out", str(tmp_path / "run"), "--configs", "handcrafted"]) == 1
    lines = capsys.readouterr().err.splitlines()
    assert lines[-3:] == [
        "gliograde cv: error: 2 of 4 units failed after their retries; the others finished (rerun the same command "
        "to run only these):",
        "gliograde cv: error: handcrafted fold 1: RuntimeError: boom",
        "gliograde cv: error: handcrafted fold 3: OSError: x"]
