"""Run independent tasks one after the other in this process (``local``) or as Ray tasks on a cluster (``ray``).

:func:`run_tasks` is the one scheduler of ``gliograde cv`` (one task per (configuration, fold, repeat) unit),
``predict`` and ``validate`` (cases). The task function runs wherever the executor puts it and returns its
result; ``on_done`` runs in the calling process (the driver) as each task finishes, so the driver alone writes
the run folder (atomically), and a rerun resumes from what it wrote whatever executor ran the tasks.

Data reach the workers through Ray's object store: ``shared`` (e.g. the cohort's arrays) is put there once and
every task reads it from there, so no disk needs to be shared between the machines. A task that raises, or whose
worker dies, is run again up to ``ExecutorCfg.retries`` times, then reported as a :class:`TaskFailure` while the
other tasks go on. Ctrl-C cancels the tasks not finished yet and re-raises :class:`KeyboardInterrupt`.

The local executor imports nothing of Ray.

>>> failures = run_tasks(abs, [-2, 3], ExecutorCfg(), on_done=lambda i, r: print(i, r), desc="demo", progress=False)
0 2
1 3
>>> failures
[]
"""
from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

from gliograde.config import ExecutorCfg
from gliograde.errors import InputError
from gliograde.progress import task_progress

__all__ = ["ExecutorCfg", "TaskFailure", "run_tasks"]

logger = logging.getLogger(__name__)
T = TypeVar("T")
R = TypeVar("R")
#: The install command named when Ray is asked for but missing.
INSTALL = "pip install 'gliograde[ray]'"


@dataclass(frozen=True)
class TaskFailure:
    """A task that still failed after its retries.

    Attributes:
        index: its position in ``items``.
        error: the last error, one line (``ValueError: ...``; a dead worker's ``WorkerCrashedError: ...``).
    """

    index: int
    error: str


def run_tasks(fn: Callable[..., R], items: Sequence[T], cfg: ExecutorCfg, *, on_done: Callable[[int, R], None],
              desc: str, progress: bool = True, shared: object | None = None,
              label: Callable[[int], str] | None = None, unit: str = "task") -> list[TaskFailure]:
    """Run ``fn`` on every item with the executor of ``cfg``; ``on_done(i, result)`` in this process as each ends.

    Args:
        fn: a module-level function (Ray ships it to the workers by reference): ``fn(item)``, or
            ``fn(item, shared)`` when ``shared`` is given.
        items: the tasks' arguments (picklable under Ray).
        cfg: the executor (``local`` or ``ray``), the resources of each task and the retries.
        on_done: called in the driver with the item's index and ``fn``'s result, in order for ``local``, in order
            of completion for ``ray``; an exception it raises stops the run (Ray: the other tasks are cancelled).
        desc: the progress line's label (:func:`gliograde.progress.task_progress`).
        progress: show one progress line over the tasks.
        shared: one object every task reads (under Ray it goes through the object store once).
        label: the name of task ``i``, shown on the progress line as the one running (local executor only).
        unit: what a task is, on the progress line (``unit``, ``case``).

    Returns:
        The tasks that failed after ``cfg.retries`` retries, by index (empty: every ``on_done`` ran).

    Raises:
        InputError: ``ray`` without the ``ray`` package, or tasks asking for more CPUs/GPUs than the cluster has.
        KeyboardInterrupt: Ctrl-C (Ray: after cancelling the tasks not finished yet).
    """
    if not items:
        return []
    if cfg.name == "local":
        return _run_local(fn, items, cfg, on_done, _Show(desc, progress, label, unit), shared)
    return _run_ray(fn, items, cfg, on_done, _Show(desc, progress, label, unit), shared)


def _call(fn: Callable[..., R], item: Any, shared: object | None, has_shared: bool) -> R:
    return fn(item, shared) if has_shared else fn(item)


def one_line(err: BaseException) -> str:
    """``Type: first line of the message``."""
    text = str(err).strip().splitlines()
    return f"{type(err).__name__}: {text[0]}" if text else type(err).__name__


@dataclass(frozen=True)
class _Show:
    """How :func:`run_tasks` shows its progress (its arguments of that name)."""

    desc: str
    progress: bool
    label: Callable[[int], str] | None
    unit: str

    def name(self, i: int) -> str:
        return self.label(i) if self.label is not None else f"{self.unit} {i + 1}"


def _run_local(fn: Callable[..., R], items: Sequence[T], cfg: ExecutorCfg, on_done: Callable[[int, R], None],
               show: _Show, shared: object | None) -> list[TaskFailure]:
    """The items in order in this process, each tried ``1 + cfg.retries`` times."""
    failures: list[TaskFailure] = []
    desc = show.desc
    with task_progress(len(items), desc, unit=show.unit, enabled=show.progress) as bar:
        for i, item in enumerate(items):
            bar.current(show.name(i))
            for attempt in range(cfg.retries + 1):
                try:
                    result = _call(fn, item, shared, shared is not None)
                except Exception as err:  # a task's failure is reported, not raised: the other tasks go on
                    last = attempt == cfg.retries  # its traceback once, as Ray's workers show theirs
                    logger.warning("%s: %s failed (attempt %d of %d): %s", desc, show.name(i), attempt + 1,
                                   cfg.retries + 1, one_line(err), exc_info=last)
                    if last:
                        failures.append(TaskFailure(i, one_line(err)))
                    continue
                on_done(i, result)
                break
            bar.update()
    return failures


def _import_ray() -> Any:
    try:
        import ray  # optional extra (gliograde[ray]), heavy: imported only when --executor ray is asked for
    except ImportError as err:
        raise InputError(f"--executor ray needs the ray package, which is not installed; {INSTALL}") from err
    return ray


def _start(ray: Any, cfg: ExecutorCfg) -> None:
    """Connect to (or start) the cluster unless Ray is running here already; log its resources."""
    if not ray.is_initialized():
        ray.init(address=cfg.address)
    res = ray.cluster_resources()
    nodes = sum(1 for n in ray.nodes() if n.get("Alive"))
    logger.info("ray: %d node(s), %g CPU, %g GPU, %.1f GiB memory, %.1f GiB object store; each task asks for "
                "%g CPU, %g GPU", nodes, res.get("CPU", 0), res.get("GPU", 0), res.get("memory", 0) / 2**30,
                res.get("object_store_memory", 0) / 2**30, cfg.unit_cpus, cfg.unit_gpus)
    for what, asked, flag in (("CPU", cfg.unit_cpus, "--unit-cpus"), ("GPU", cfg.unit_gpus, "--unit-gpus")):
        if asked > res.get(what, 0):
            raise InputError(f"{flag} {asked:g}: the Ray cluster has {res.get(what, 0):g} {what}s, so no task "
                             f"could start; lower {flag} or add nodes with {what}s (ray start --num-{what.lower()}s)")


def _run_ray(fn: Callable[..., R], items: Sequence[T], cfg: ExecutorCfg, on_done: Callable[[int, R], None],
             show: _Show, shared: object | None) -> list[TaskFailure]:
    """One Ray task per item, ``shared`` in the object store once; results handled as tasks finish."""
    ray = _import_ray()
    _start(ray, cfg)
    has_shared = shared is not None
    desc = show.desc
    remote = ray.remote(_call).options(num_cpus=cfg.unit_cpus, num_gpus=cfg.unit_gpus, max_retries=cfg.retries,
                                       retry_exceptions=True, name=desc)
    ref = ray.put(shared) if has_shared else None
    index = {remote.remote(fn, item, ref, has_shared): i for i, item in enumerate(items)}
    pending, failures = list(index), []
    with task_progress(len(items), desc, unit=show.unit, enabled=show.progress) as bar:
        try:
            while pending:
                done, pending = ray.wait(pending, num_returns=1)
                i = index[done[0]]  # (no "current" unit on the line: on a cluster many run at once)
                try:
                    result = ray.get(done[0])
                except (ray.exceptions.RayError, Exception) as err:
                    cause = getattr(err, "cause", None)
                    failures.append(TaskFailure(i, one_line(cause if isinstance(cause, BaseException) else err)))
                    logger.warning("%s: %s failed after %d attempt(s): %s", desc, show.name(i), cfg.retries + 1,
                                   failures[-1].error)
                else:
                    on_done(i, result)
                bar.update()
        except BaseException:  # Ctrl-C, or on_done failed: stop what is still queued or running
            for r in pending:  # force: a task in torch's C++ code would not see a KeyboardInterrupt soon
                ray.cancel(r, force=True)
            raise
    return sorted(failures, key=lambda f: f.index)
