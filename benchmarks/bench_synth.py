"""Synthetic cohort: generation speed (target: 130 patients < 30 s) and how separable the grades are.

    python -m benchmarks synth          # or: python benchmarks/bench_synth.py

Figures: median wall time of 3 full default runs (30/43/57 patients, PNG, montage, one worker per core) in a
temporary folder (the machine's load average is recorded: other jobs on the cores inflate it);
handcrafted-feature logistic regression (5-fold CV, one slice per patient) and the Bayes ceiling
(posterior given the latent severity) at the default difficulty; the same two AUCs over a difficulty
sweep (in memory, middle slice only, seed 1).
"""
from __future__ import annotations

import os
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np

from gliograde.synth import (
    DEFAULT_COUNTS,
    DEFAULT_DIFFICULTY,
    cohort_features,
    generate_cohort,
    grade_separability,
    handcrafted_features,
    iter_patients,
    oracle_auc,
)
from gliograde.synth.anatomy import _templates

TARGET_S = 30.0
SWEEP = (0.0, 0.25, 0.5, 0.75, 1.0)


def _time_generation(repeats: int = 3) -> tuple[list[float], dict[str, float]]:
    _templates()  # loading nilearn's template once per process is not part of the per-cohort cost
    times, separability = [], {}
    for _ in range(repeats):
        with tempfile.TemporaryDirectory() as tmp:
            t0 = time.perf_counter()
            generate_cohort(Path(tmp) / "c", DEFAULT_COUNTS, seed=0, workers=0)
            times.append(time.perf_counter() - t0)
            if not separability:
                x, y, _ = cohort_features(Path(tmp) / "c")
                separability = grade_separability(x, y, seed=0)
    return times, separability


def _sweep(seed: int = 1) -> dict[str, dict[str, float]]:
    out = {}
    for d in SWEEP:
        patients = [p for _, _, p in iter_patients(DEFAULT_COUNTS, seed, d, n_slices=1)]
        x = np.stack([handcrafted_features(p.images[0], p.mask[0]) for p in patients])
        y = np.array([p.grade for p in patients])
        feats = grade_separability(x, y, seed=0)
        out[f"{d:.2f}"] = {"handcrafted_macro_auc": round(feats["macro_auc"], 3),
                           "oracle_macro_auc": round(oracle_auc(DEFAULT_COUNTS, seed, d)["macro_auc"], 3)}
        print(f"difficulty {d:.2f}: {out[f'{d:.2f}']}", flush=True)
    return out


def main() -> dict[str, object]:
    times, sep = _time_generation()
    median = statistics.median(times)
    oracle = oracle_auc(DEFAULT_COUNTS, 0, DEFAULT_DIFFICULTY)
    res: dict[str, object] = {
        "patients": sum(DEFAULT_COUNTS),
        "workers": os.cpu_count(),
        "load_average_1min_after": round(os.getloadavg()[0], 2),
        "seconds": [round(t, 2) for t in times],
        "seconds_median": round(median, 2),
        "target_s": TARGET_S,
        "target_met": median < TARGET_S,
        "difficulty": DEFAULT_DIFFICULTY,
        "handcrafted": {k: round(v, 3) for k, v in sep.items()},
        "oracle": {k: round(v, 3) for k, v in oracle.items()},
    }
    print(f"synth: {res['patients']} patients, median {median:.1f} s (target < {TARGET_S:.0f} s); "
          f"handcrafted macro AUC {sep['macro_auc']:.3f}, oracle {oracle['macro_auc']:.3f}", flush=True)
    res["sweep"] = _sweep()
    return res


if __name__ == "__main__":
    import json

    print(json.dumps(main(), indent=2))
