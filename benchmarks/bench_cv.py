"""`gliograde cv --preset quick --folds 5` on 30 real TCGA-LGG patients, all four configurations.

Target (issue 6): 15 minutes or less on this 2-core machine. Runs once (it is minutes long).
"""
from __future__ import annotations

import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pandas as pd

DATA = Path(__file__).resolve().parents[1] / ".." / "shared" / "data" / "tcga-lgg"
TARGET_S = 15 * 60


def _subset(tmp: Path, n: int = 30) -> Path:
    """A 30-patient cohort (15 per grade, first by id) as a manifest CSV pointing into the real data."""
    labels = pd.read_csv(DATA / "labels.csv", dtype=str)
    pick = pd.concat([g.head(n // 2) for _, g in labels.groupby("who_grade")])
    rows = []
    for r in pick.itertuples():
        lo, hi = (int(v) for v in r.slices_kept.split("-"))
        for k in range(lo, hi + 1):
            stem = DATA / r.folder / f"{r.folder}_{k}"
            rows.append({"patient_id": r.patient_id, "grade": r.who_grade, "image": f"{stem}.png",
                         "mask": f"{stem}_mask.png", "site": r.institution})
    csv = tmp / "cohort30.csv"
    pd.DataFrame(rows).to_csv(csv, index=False)
    return csv


def main() -> dict[str, object]:
    if not DATA.is_dir():
        return {"skipped": f"{DATA} missing"}
    with tempfile.TemporaryDirectory() as tmp:
        csv = _subset(Path(tmp))
        exe = Path(sys.executable).with_name("gliograde")
        t0 = time.perf_counter()
        subprocess.run([str(exe), "-q", "cv", str(csv), "--out", f"{tmp}/run", "--preset", "quick", "--folds", "5",
                        "--n-boot", "500"], check=True)
        seconds = time.perf_counter() - t0
        configs = sorted(pd.read_csv(f"{tmp}/run/predictions.csv")["config"].unique())
    return {"patients": 30, "configs": configs, "seconds": round(seconds, 1), "target_s": TARGET_S,
            "target_met": seconds <= TARGET_S and len(configs) == 4}


if __name__ == "__main__":
    print(main())
