"""Ingest the 70-patient TCGA-LGG set (../shared/data/tcga-lgg); target: under 10 s on 2 CPU cores."""
from __future__ import annotations

import statistics
import tempfile
import time
from pathlib import Path

from gliograde.config import IngestCfg
from gliograde.data.ingest import ingest

DATA = Path(__file__).resolve().parents[1] / ".." / "shared" / "data" / "tcga-lgg"
TARGET_S = 10.0


def main(repeats: int = 3) -> dict[str, object]:
    if not DATA.is_dir():
        return {"skipped": f"{DATA} missing"}
    times = []
    for _ in range(repeats):
        with tempfile.TemporaryDirectory() as tmp:
            t0 = time.perf_counter()
            res = ingest(DATA, Path(tmp) / "out", IngestCfg(), progress=False)
            times.append(time.perf_counter() - t0)
    med = statistics.median(times)
    return {"patients": int(res.manifest["patient_id"].nunique()), "seconds_median": round(med, 3),
            "seconds_all": [round(t, 3) for t in times], "target_s": TARGET_S, "target_met": med < TARGET_S}


if __name__ == "__main__":
    print(main())
