"""Training runs of the engine on tiny data: determinism, resume after an interruption (bit-exact), more
epochs continuing a finished run, early stopping, a frozen backbone; and `gliograde train` through the CLI.
The engine's pure parts (normalisation, inner split, schedule): tests/unit/test_engine.py."""
from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from conftest import disk_slice
from PIL import Image

from gliograde.config import TrainCfg
from gliograde.errors import InputError
from gliograde.models import create_model
from gliograde.training import engine
from gliograde.training.engine import fit

# Full fine-tuning of a small CNN with SGD + momentum, tiny images: seconds on CPU.
TINY = TrainCfg(model="resnet18", weights="none", epochs=4, lr=0.05, batch_size=8, image_size=32,
                optimizer="sgd", patience=0, seed=3, device="cpu", num_threads=1)


def _data(n: int = 20, c: int = 1, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    return torch.randint(0, 256, (n, c, 24, 24), dtype=torch.uint8, generator=g), torch.arange(n) % 3


def _train(cfg: TrainCfg, out: Path | None = None, model_seed: int = 0, val: bool = True) -> engine.FitResult:
    x, y = _data()
    torch.manual_seed(model_seed)
    model = create_model(cfg.model, 3, cfg.weights)
    x_val, y_val = (x[14:], y[14:]) if val else (None, None)
    return fit(model, x[:14], y[:14], x_val, y_val, cfg, out_dir=out, progress=False)


def _same_weights(a: torch.nn.Module, b: torch.nn.Module) -> bool:
    return all(torch.equal(p, q) for p, q in zip(a.state_dict().values(), b.state_dict().values(), strict=False))


def _strip(history: list[dict[str, float]]) -> list[dict[str, float]]:
    return [{k: v for k, v in h.items() if k != "seconds"} for h in history]


def test_same_seed_same_weights_other_seed_differs() -> None:
    a, b = _train(TINY), _train(TINY)
    assert _same_weights(a.model, b.model)
    assert _strip(a.history) == _strip(b.history)
    c = _train(dataclasses.replace(TINY, seed=4))
    assert not _same_weights(a.model, c.model)


def test_resume_after_interruption_is_bit_exact(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    cfg = dataclasses.replace(TINY, optimizer="adamw", lr=1e-3, scheduler="cosine", label_smoothing=0.1)
    full = _train(cfg, tmp_path / "full")
    real, calls = engine.train_one_epoch, {"n": 0}

    def crash_in_epoch_3(*args: object, **kwargs: object) -> tuple[float, float]:
        calls["n"] += 1
        if calls["n"] == 3:
            raise KeyboardInterrupt
        return real(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(engine, "train_one_epoch", crash_in_epoch_3)
    with pytest.raises(KeyboardInterrupt):
        _train(cfg, tmp_path / "cut")
    assert json.loads((tmp_path / "cut" / "state.json").read_text())["epoch"] == 2
    monkeypatch.setattr(engine, "train_one_epoch", real)
    resumed = _train(cfg, tmp_path / "cut", model_seed=99)  # a different start: the checkpoint must win
    assert _same_weights(full.model, resumed.model)
    assert _strip(full.history) == _strip(resumed.history)


def test_more_epochs_continue_a_finished_run(tmp_path: Path) -> None:
    full = _train(TINY)
    _train(dataclasses.replace(TINY, epochs=2), tmp_path)
    longer = _train(TINY, tmp_path)
    assert [h["epoch"] for h in longer.history] == [1, 2, 3, 4]
    assert _same_weights(full.model, longer.model)
    with pytest.raises(InputError, match="lr"):
        _train(dataclasses.replace(TINY, lr=0.5), tmp_path)


def test_early_stopping_restores_the_best_epoch(monkeypatch: pytest.MonkeyPatch) -> None:
    losses = iter([1.0, 0.5, 0.6, 0.7, 0.8, 0.9])
    real = engine._evaluate

    def scripted(*args: object, **kwargs: object) -> tuple[float, float, np.ndarray]:
        _, acc, probs = real(*args, **kwargs)  # type: ignore[arg-type]
        return next(losses), acc, probs

    two_epochs = _train(dataclasses.replace(TINY, epochs=2), val=False)  # no validation: keeps its last epoch
    monkeypatch.setattr(engine, "_evaluate", scripted)
    res = _train(dataclasses.replace(TINY, epochs=6, patience=2))
    assert (res.best_epoch, res.stopped_epoch, len(res.history)) == (2, 4, 4)
    assert _same_weights(res.model, two_epochs.model)
    assert two_epochs.best_epoch == 2 and np.isnan(two_epochs.history[0]["val_loss"])


def test_frozen_backbone_trains_only_the_head() -> None:
    cfg = dataclasses.replace(TINY, model="efficientnet_lite0", weights="imagenet", freeze_backbone=True,
                              optimizer="adamw", lr=1e-2, epochs=3)
    torch.manual_seed(0)
    before = create_model(cfg.model, 3, cfg.weights).state_dict()
    res = _train(cfg)
    after = res.model.state_dict()
    changed = {k for k in before if not torch.equal(before[k], after[k])}
    assert changed == {"classifier.weight", "classifier.bias"}
    assert _same_weights(res.model, _train(cfg).model)


def _write_cohort(root: Path, n_patients: int = 12, size: int = 32) -> Path:
    (root / "cache").mkdir(parents=True)
    rows = []
    for i in range(n_patients):
        img, mask = disk_slice(size, radius=4 + 2 * (i % 3), seed=i)
        Image.fromarray(img).save(root / f"cache/p{i}.png")
        Image.fromarray(mask.astype(np.uint8) * 255).save(root / f"cache/p{i}_mask.png")
        rows.append({"patient_id": f"P{i}", "grade": 2 + i % 3, "source_image": f"p{i}.png",
                     "source_mask": f"p{i}_m.png", "slice_index": 0, "roi_area_px": int(mask.sum()),
                     "cache_path": f"cache/p{i}.png", "cache_mask_path": f"cache/p{i}_mask.png", "site": "A"})
    pd.DataFrame(rows).to_csv(root / "manifest.csv", index=False)
    # what `gliograde ingest` records and a model bundle needs: the preprocessing that made the cache
    from gliograde.config import IngestCfg, PreprocessCfg
    from gliograde.runinfo import write_run_info

    write_run_info(root, command="ingest", config=IngestCfg(preprocess=PreprocessCfg(size=size)), seed=None)
    return root


def test_cli_train_writes_weights_history_and_figure(tmp_path: Path) -> None:
    from gliograde.cli import main

    cohort = _write_cohort(tmp_path / "cohort")
    out = tmp_path / "run"
    rc = main(["-q", "train", str(cohort), "--out", str(out), "--preset", "quick", "--epochs", "2",
               "--image-size", "32", "--augment", "none", "--val-fraction", "0.25", "--seed", "1"])
    assert rc == 0
    for name in ("weights.safetensors", "history.csv", "history.png", "config.yaml", "run.json",
                 "inner_split.csv", "checkpoint.safetensors", "model.json", "MODEL_CARD.md"):
        assert (out / name).is_file(), name
    hist = pd.read_csv(out / "history.csv")
    assert hist["epoch"].tolist() == [1, 2] and hist["val_loss"].notna().all()
    split = pd.read_csv(out / "inner_split.csv")
    # patients by keyed alias (a bundle folder names no patient): one row each, 3 of the 12 held out for validation
    assert "patient_id" not in split and split["patient_alias"].is_unique and (split["role"] == "val").sum() == 3
    assert split["patient_alias"].str.fullmatch(r"case-[0-9a-f]{10}").all() and len(split) == 12
    model = create_model("efficientnet_lite0", 3, out / "weights.safetensors")
    assert model.classifier.out_features == 3
