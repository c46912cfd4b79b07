"""Training engine, its pure parts: normalisation, inner split, the LR schedule, the history figure.
Training runs (determinism, resume, early stopping, CLI): tests/integration/test_train_engine.py."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from gliograde.config import TrainCfg
from gliograde.errors import InputError
from gliograde.models import ModelSpec
from gliograde.report.plots import plot_history
from gliograde.splits import inner_split
from gliograde.training.engine import (
    lr_at,
    normalise_batch,
)

SPEC = ModelSpec("m", 8, (0.5, 0.25, 0.0), (0.5, 0.5, 1.0), "fc", "layer4")


@pytest.mark.parametrize("c", [1, 3])
def test_normalise_batch_shapes_and_values(c: int) -> None:
    x = torch.full((2, c, 5, 5), 255, dtype=torch.uint8)
    out = normalise_batch(x, SPEC, 8)
    assert out.shape == (2, 3, 8, 8) and out.dtype == torch.float32
    assert out.is_contiguous(memory_format=torch.channels_last)
    expected = [(1 - m) / s for m, s in zip(SPEC.mean, SPEC.std, strict=False)]
    assert torch.allclose(out[0, :, 3, 3], torch.tensor(expected))
    assert normalise_batch(torch.zeros(1, c, 8, 8, dtype=torch.uint8), SPEC, 8).shape == (1, 3, 8, 8)
    with pytest.raises(ValueError, match="uint8"):
        normalise_batch(x.float(), SPEC, 8)


def test_inner_split_groups_patients_and_stratifies(seed: int) -> None:
    pids = np.repeat([f"p{i}" for i in range(30)], 2)  # two slices per patient
    labels = np.repeat(np.arange(30) % 3, 2)
    tr, va = inner_split(pids, labels, 0.2, seed)
    assert sorted(np.r_[tr, va]) == list(range(60))
    assert not set(pids[tr]) & set(pids[va])
    assert np.bincount(labels[va], minlength=3).tolist() == [4, 4, 4]  # 2 patients x 2 slices per grade
    again = inner_split(pids, labels, 0.2, seed)
    assert np.array_equal(va, again[1])
    assert not np.array_equal(va, inner_split(pids, labels, 0.2, seed + 1)[1])
    assert len(inner_split(pids, labels, 0.0, seed)[1]) == 0
    with pytest.raises(InputError, match="different grades"):
        inner_split(["a", "a", "b"], [0, 1, 0], 0.5, seed)


def test_cosine_schedule_is_a_pure_function_of_epoch() -> None:
    cfg = TrainCfg(lr=0.1, epochs=10, scheduler="cosine")
    assert lr_at(0, cfg) == pytest.approx(0.1)
    assert lr_at(5, cfg) == pytest.approx(0.05)
    assert lr_at(3, TrainCfg(lr=0.1, scheduler="none")) == 0.1


def test_plot_history_writes_a_png(tmp_path: Path) -> None:
    hist = [{"epoch": e, "train_loss": 1 / e, "train_acc": 0.5, "val_loss": 1.1 / e, "val_acc": 0.4}
            for e in (1, 2, 3)]
    path = plot_history(hist, tmp_path / "h.png", best_epoch=2)
    with Image.open(path) as im:
        assert im.size[0] > 100
