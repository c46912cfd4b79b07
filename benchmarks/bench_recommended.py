"""Train the ``recommended`` preset's model on all 70 TCGA-LGG patients; target: <= 15 min on 2 CPU cores.

Training = what ``gliograde train`` does by default: ingest with the preset's settings (FLAIR + T1c,
brain-outside-ROI median/IQR scaling), PyRadiomics features of every channel, the inner-CV choice of
classifier and feature count over the preset's grid (patient-level, 5 folds) and the final fit on every
patient (:func:`gliograde.training.radiomics.fit_radiomics`), then writing the bundle (skops).
"""
from __future__ import annotations

import tempfile
import time
from pathlib import Path

from gliograde.bundles.radiomics import RadiomicsBundle
from gliograde.data.dataset import load_cohort
from gliograde.data.ingest import ingest
from gliograde.presets import get_preset
from gliograde.training.radiomics import fit_radiomics

DATA = Path(__file__).resolve().parents[1] / ".." / "shared" / "data" / "tcga-lgg"
TARGET_S = 15 * 60.0


def main() -> dict[str, object]:
    if not DATA.is_dir():
        return {"skipped": f"{DATA} missing"}
    sel = get_preset("recommended").cv.selection
    cfg = get_preset("recommended").ingest
    times: dict[str, float] = {}
    with tempfile.TemporaryDirectory() as tmp:
        t0 = time.perf_counter()
        ingest(DATA, Path(tmp) / "cohort", cfg, progress=False)
        c = load_cohort(Path(tmp) / "cohort")
        times["ingest_s"] = time.perf_counter() - t0
        fit = fit_radiomics(c, sel, seed=0)
        times["features_s"] = fit.seconds["features"]
        times["selection_and_fit_s"] = fit.seconds["selection_and_fit"]
        t = time.perf_counter()
        RadiomicsBundle.write(Path(tmp) / "bundle", c, fit, get_preset("recommended").run_config(), ingest=cfg)
        times["write_bundle_s"] = time.perf_counter() - t
    total = sum(times.values())
    out: dict[str, object] = {"patients": fit.n_patients, "rows": fit.n_rows, "channels": list(cfg.channels),
                              "chosen": fit.selection.chosen.label, **{k: round(v, 2) for k, v in times.items()},
                              "total_s": round(total, 2), "target_s": TARGET_S, "target_met": total <= TARGET_S}
    print(out)
    return out


if __name__ == "__main__":
    main()
