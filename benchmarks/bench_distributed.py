"""`gliograde cv` on the local executor vs Ray on this machine, and the full study protocol projected onto N workers.

The same small CV (16 synthetic patients, configurations handcrafted and handcrafted-mlp, 4 folds: 8 units) runs
three times in this process: ``local``; ``ray`` on a 1-CPU Ray instance (the same serial order, so the difference
is Ray's cost: task submission, the object store, worker start-up and imports); ``ray`` on 2 CPUs (parallel units).
Ray's bare round trip is measured on 40 empty tasks. The predictions must be identical.

Projection: the study's full protocol is 10 folds x 4 configurations x 2 protocols = 80 units; on N workers the
makespan is about ``ceil(80 / N) * (unit_s + overhead_s) + startup_s``, from the measured unit time (or ``unit_s``:
pass a CNN unit's seconds on your GPU; this machine's unit is a CPU handcrafted one). Units of unequal length pack
less evenly than this, so read it as a lower bound.
"""
from __future__ import annotations

import math
import os
import tempfile
import time
from pathlib import Path
from typing import Any

from gliograde import api
from gliograde.config import ExecutorCfg
from gliograde.executor import run_tasks
from gliograde.synth.cohort import generate_cohort

CONFIGS, FOLDS = ("handcrafted", "handcrafted-mlp"), 4
CV: dict[str, object] = {"configs": list(CONFIGS), "folds": FOLDS, "n_boot": 50}
UNITS = len(CONFIGS) * FOLDS
STUDY_UNITS = 10 * 4 * 2
WORKERS = (1, 2, 4, 8, 16, 40, 80)


def _cv(cohort: Path, out: Path, executor: str) -> tuple[float, bytes]:
    t0 = time.perf_counter()
    api.cv(cohort, out, preset="quick", overrides={"cv": CV, "executor": {"name": executor}}, progress=False)
    return time.perf_counter() - t0, (out / "predictions.csv").read_bytes()


def _on_ray(ray: Any, cpus: int, cohort: Path, out: Path) -> dict[str, Any]:
    """Start a Ray instance of ``cpus`` CPUs, run the CV on it (and 40 empty tasks on 1 CPU), stop it."""
    t0 = time.perf_counter()
    ray.init(num_cpus=cpus, include_dashboard=False)
    try:
        startup = time.perf_counter() - t0
        seconds, preds = _cv(cohort, out, "ray")
        res: dict[str, Any] = {"startup_s": round(startup, 2), "cv_s": round(seconds, 2), "preds": preds}
        if cpus == 1:
            t1 = time.perf_counter()
            run_tasks(abs, list(range(40)), ExecutorCfg(name="ray"), on_done=lambda i, r: None, desc="empty",
                      progress=False)
            res["empty_task_ms"] = round((time.perf_counter() - t1) / 40 * 1000, 1)
    finally:
        ray.shutdown()
    return res


def projection(unit_s: float, overhead_s: float, startup_s: float) -> dict[str, float]:
    """Makespan (s) of the 80-unit study protocol on N workers, by N.

    >>> projection(60.0, 1.0, 10.0)["8"]
    620.0
    """
    return {str(n): round(math.ceil(STUDY_UNITS / n) * (unit_s + overhead_s) + startup_s, 1) for n in WORKERS}


def main(unit_s: float | None = None) -> dict[str, object]:
    """``unit_s``: a unit's seconds for the projection (default: this run's local seconds per unit)."""
    try:
        import ray  # optional extra (gliograde[ray]), heavy: only this benchmark needs it
    except ImportError:
        return {"skipped": "ray is not installed: pip install 'gliograde[ray]'"}
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        generate_cohort(root / "raw", (8, 8, 0), seed=0, n_slices=1, montage=False)
        api.ingest(root / "raw", root / "cohort", preset="quick", figures=False, progress=False)
        local_s, local_preds = _cv(root / "cohort", root / "local", "local")
        one = _on_ray(ray, 1, root / "cohort", root / "ray1")
        two = _on_ray(ray, 2, root / "cohort", root / "ray2")
    per_unit = local_s / UNITS
    overhead = (one["cv_s"] - local_s) / UNITS
    res: dict[str, object] = {
        "machine": f"{os.cpu_count()} CPU cores, no GPU", "load_average_1min": round(os.getloadavg()[0], 2),
        "units": UNITS, "patients": 16,
        "local_s": round(local_s, 2), "ray_1cpu_s": one["cv_s"], "ray_2cpu_s": two["cv_s"],
        "ray_startup_s": one["startup_s"], "local_s_per_unit": round(per_unit, 2),
        "ray_overhead_s_per_unit": round(overhead, 2), "ray_empty_task_ms": one["empty_task_ms"],
        "wall_ratio_ray1_over_local": round(one["cv_s"] / local_s, 2),
        "wall_ratio_ray2_over_local": round(two["cv_s"] / local_s, 2),
        "identical_predictions": one["preds"] == local_preds == two["preds"],
        "study_units": STUDY_UNITS, "projection_unit_s": round(unit_s or per_unit, 2),
        "study_makespan_s_by_workers": projection(unit_s or per_unit, max(overhead, 0.0), one["startup_s"]),
    }
    res["target_met"] = res["identical_predictions"]
    print(res)
    return res


if __name__ == "__main__":
    main()
