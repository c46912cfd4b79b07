"""The time estimate: unit work counts, measured rates (RNG untouched), and the line ``gliograde cv`` logs."""
from __future__ import annotations

import logging
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch

from gliograde.config import AugmentCfg, CVCfg, TrainCfg
from gliograde.experiment.estimate import estimate_cv, log_estimate
from gliograde.presets import get_preset
from gliograde.training.estimate import Rates, measure_rates, unit_seconds, unit_work

RATES = Rates(train=10.0, infer=100.0, expand=1000.0, source="test")


def test_unit_work_honest_and_paper() -> None:
    honest = unit_work(rows=100, folds=10, val_fraction=0.2, transforms=57, epochs=5, paper=False)
    assert (honest.test_images, honest.val_images, honest.train_images) == (10, 18, 72 * 57)
    assert honest.expanded == honest.train_images
    paper = unit_work(rows=100, folds=10, val_fraction=0.2, transforms=57, epochs=5, paper=True)
    assert paper.expanded == 5700 and paper.test_images == paper.val_images == 570
    assert paper.train_images == 5700 - 570
    no_aug = unit_work(rows=100, folds=10, val_fraction=0.2, transforms=1, epochs=5, paper=False)
    assert no_aug.expanded == 0 and no_aug.train_images == 72
    # 5 epochs x (72/10 s training + 18/100 s validation) + 10/100 s test
    assert unit_seconds(no_aug, RATES) == pytest.approx(5 * (7.2 + 0.18) + 0.1)
    frozen = unit_work(rows=100, folds=10, val_fraction=0.2, transforms=1, epochs=5, paper=False, frozen=True)
    assert unit_seconds(frozen, RATES) == pytest.approx((72 + 18 + 10) / 100)


def test_measure_rates_leaves_the_rng_alone() -> None:
    torch.manual_seed(123)
    state = torch.get_rng_state()
    r = measure_rates(TrainCfg(model="resnet18", image_size=32, device="cpu"), (1, 40, 40), AugmentCfg(subset=2),
                      batch=2)
    assert torch.equal(torch.get_rng_state(), state)
    assert r.train > 0 and r.infer > 0 and r.expand > 0 and "measured now on cpu" in r.source


class _Cohort:
    def __init__(self, n: int) -> None:
        self.images = np.zeros((n, 1, 8, 8), np.uint8)
        self.sites = np.array(["a", "b"] * (n // 2))

    def __len__(self) -> int:
        return len(self.images)


def test_estimate_cv_counts_cnn_units_and_says_what_it_leaves_out(caplog: pytest.LogCaptureFixture) -> None:
    calls: list[str] = []

    def fake(train: TrainCfg, shape: tuple[int, int, int], aug: AugmentCfg) -> Rates:
        calls.append(train.model)
        assert train.weights == "none" and shape == (1, 8, 8)
        return RATES

    run = get_preset("paper").run_config()
    run = replace(run, cv=CVCfg(folds=10, protocol="both"))
    est = estimate_cv(_Cohort(130), run, measure=fake)  # type: ignore[arg-type]
    assert est is not None
    assert est.units == 3 * 2 * 10 and calls == ["alexnet"]  # one measurement for the shared network
    assert est.left_out == ("handcrafted",)
    per_fold = [unit_work(rows=130, folds=10, val_fraction=0.2, transforms=t, epochs=20, paper=p)
                for t in (57, 57, 1) for p in (False, True)]
    assert est.seconds == pytest.approx(10 * sum(unit_seconds(w, RATES) for w in per_fold))
    assert "60 CNN units" in est.line() and "not counted: handcrafted" in est.line()
    tiny = replace(run, cv=CVCfg(folds=2, configs=("no-aug",)), train=TrainCfg(epochs=1))
    assert estimate_cv(_Cohort(4), tiny, measure=fake) is None  # type: ignore[arg-type]  # a short run
    with caplog.at_level(logging.INFO, logger="gliograde.experiment.estimate"):
        log_estimate(_Cohort(4), tiny, measure=fake)  # type: ignore[arg-type]
        assert not caplog.records
        log_estimate(_Cohort(130), run, measure=fake)  # type: ignore[arg-type]
    assert [r.getMessage() for r in caplog.records] == [est.line()]


def test_run_cv_logs_the_estimate_first(monkeypatch: pytest.MonkeyPatch) -> None:
    import gliograde.experiment.run as run_mod

    seen: list[str] = []

    def stop(cohort: object, cfg: object) -> None:
        seen.append("estimate")
        raise RuntimeError("stop before any work")

    monkeypatch.setattr(run_mod, "log_estimate", stop)
    with pytest.raises(RuntimeError, match="before any work"):
        run_mod.run_cv(_Cohort(4), Path("unused"), get_preset("quick").run_config())  # type: ignore[arg-type]
    assert seen == ["estimate"]
