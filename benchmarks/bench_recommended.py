"""Train the ``recommended`` preset's model on all 70 TCGA-LGG patients; target: <= 15 min on 2 CPU cores.

Training = ingest with the preset's settings (T1, FLAIR, T1c; brain-outside-ROI median/IQR scaling),
PyRadiomics features of every channel, the inner-CV choice of classifier and feature count over the
preset's grid (patient-level, 5 folds), and the final fit on every patient; the CNN features are
computed too when the preset's configuration is ``fusion``.
"""
from __future__ import annotations

import tempfile
import time
from pathlib import Path

import numpy as np

from gliograde.baselines.features import extract_features
from gliograde.config import SelectionCfg, from_dict
from gliograde.data.dataset import load_cohort
from gliograde.data.ingest import ingest
from gliograde.fusion import FusionClassifier, cnn_features
from gliograde.presets import get_cv_defaults, get_ingest, get_preset
from gliograde.selection import Candidate, grid, select_candidate

DATA = Path(__file__).resolve().parents[1] / ".." / "shared" / "data" / "tcga-lgg"
TARGET_S = 15 * 60.0


def main() -> dict[str, object]:
    if not DATA.is_dir():
        return {"skipped": f"{DATA} missing"}
    cv = get_cv_defaults("recommended")
    sel = from_dict(SelectionCfg, cv["selection"])
    config = cv["configs"][0]
    times: dict[str, float] = {}
    with tempfile.TemporaryDirectory() as tmp:
        t0 = time.perf_counter()
        ingest(DATA, Path(tmp) / "cohort", get_ingest("recommended"), progress=False)
        c = load_cohort(Path(tmp) / "cohort")
        times["ingest_s"] = time.perf_counter() - t0
    t = time.perf_counter()
    X = extract_features(c.images, c.masks, bin_width=sel.bin_width)[0]
    n_rad = X.shape[1]
    if config == "fusion":
        train = get_preset("recommended")
        X = np.hstack([X, cnn_features(c.images, train.model, train.weights, train.image_size, device="cpu")])
    times["features_s"] = time.perf_counter() - t
    t = time.perf_counter()
    n_cnn = sel.cnn_components if config == "fusion" else 0

    def make(cand: Candidate) -> FusionClassifier:
        return FusionClassifier(cand.classifier, cand.select_k, n_rad, n_cnn, random_state=0)

    res = select_candidate(make, X, c.labels, c.patient_ids, grid(sel.classifiers, sel.select_k),
                           method=sel.method, inner_folds=sel.inner_folds, seed=0)
    make(res.chosen).fit(X, c.labels)
    times["selection_and_fit_s"] = time.perf_counter() - t
    total = sum(times.values())
    out: dict[str, object] = {"config": config, "patients": int(len(np.unique(c.patient_ids))),
                              "rows": len(c), "chosen": res.chosen.label,
                              **{k: round(v, 2) for k, v in times.items()},
                              "total_s": round(total, 2), "target_s": TARGET_S, "target_met": total <= TARGET_S}
    print(out)
    return out


if __name__ == "__main__":
    main()
