"""The GPU-resident path (training/device.py), run on CPU: the same bytes and predictions as the CPU path."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from gliograde.augment import ops
from gliograde.augment.policy import BatchedSVHN, StochasticSVHN, expand_training
from gliograde.config import AugmentCfg, TrainCfg
from gliograde.models import create_model, get_spec
from gliograde.training.device import expansion_device, resident, stochastic_augmenter
from gliograde.training.engine import fit, predict_proba


def _cohort(n: int = 12, c: int = 1, size: int = 32) -> tuple[torch.Tensor, np.ndarray]:
    rng = np.random.default_rng(0)
    x = torch.from_numpy(rng.integers(0, 256, (n, c, size, size)).astype(np.uint8))
    return x, np.arange(n) % 3


@pytest.mark.parametrize("c", [1, 3, 4])
def test_batched_svhn_makes_stochastic_svhns_draws(c: int, monkeypatch: pytest.MonkeyPatch) -> None:
    x, _ = _cohort(16, c, 24)
    a, b = StochasticSVHN(seed=5), BatchedSVHN(seed=5)
    for _ in range(2):  # the stream continues identically across calls
        assert torch.equal(a(x), b(x))
    monkeypatch.setattr(ops, "_numpy_path", lambda t: False)  # the device kernels, on CPU
    a.reset(9), b.reset(9)
    assert torch.equal(a(x), b(x))
    assert not torch.equal(b(x), x)


def test_resident_setting() -> None:
    assert not resident(TrainCfg(device="cpu")) and expansion_device(TrainCfg(device="cpu")) is None
    assert resident(TrainCfg(device="cpu", resident="on"))
    assert not resident(TrainCfg(device="cuda", resident="off"))
    assert type(stochastic_augmenter(TrainCfg(device="cpu"))) is StochasticSVHN
    assert type(stochastic_augmenter(TrainCfg(device="cpu", resident="on"))) is BatchedSVHN
    with pytest.raises(ValueError, match="fill"):
        BatchedSVHN(fill=3)


def _train(cfg: TrainCfg, mode: str) -> np.ndarray:
    """What train_on_cohort does for one fold (expand where the path says, per-batch augmenter, fit), then predict."""
    x, y = _cohort()
    aug = AugmentCfg(mode=mode, subset=3)  # type: ignore[arg-type]
    xt, yt, _ = expand_training(x, None, y, np.arange(8), aug, device=expansion_device(cfg))
    torch.manual_seed(cfg.seed)
    model = create_model(cfg.model, 3, "none")
    stochastic = stochastic_augmenter(cfg) if mode == "stochastic" else None
    res = fit(model, xt, yt, x[8:], y[8:], cfg, progress=False, stochastic_aug=stochastic)
    return predict_proba(res.model, x[8:], get_spec(cfg.model), 32, batch_size=4)


@pytest.mark.parametrize("mode", ["fixed", "stochastic"])
def test_resident_training_gives_the_cpu_predictions(mode: str, monkeypatch: pytest.MonkeyPatch) -> None:
    cfg = TrainCfg(model="resnet18", weights="none", epochs=2, batch_size=8, image_size=32, patience=0,
                   device="cpu", lr=1e-2, seed=3)
    cpu = _train(cfg, mode)
    monkeypatch.setattr(ops, "_numpy_path", lambda t: False)  # the kernels a GPU would run
    on = _train(TrainCfg(**{**cfg.__dict__, "resident": "on"}), mode)
    np.testing.assert_allclose(on, cpu, rtol=1e-6, atol=1e-7)
    assert cpu.shape == (4, 3)


@pytest.mark.gpu
@pytest.mark.parametrize("mode", ["fixed", "stochastic"])
def test_cuda_resident_training_matches_cpu_within_float_tolerance(mode: str) -> None:
    cfg = TrainCfg(model="resnet18", weights="none", epochs=2, batch_size=8, image_size=32, patience=0,
                   device="cpu", lr=1e-2, seed=3, amp=False)
    cpu = _train(cfg, mode)
    torch.backends.cudnn.deterministic = True
    gpu = _train(TrainCfg(**{**cfg.__dict__, "device": "cuda"}), mode)
    np.testing.assert_allclose(gpu, cpu, atol=2e-2)


def test_compile_is_opt_in_and_keeps_state_dict_keys() -> None:
    from torch import nn

    from gliograde.training.device import maybe_compile

    net = nn.Linear(3, 2)
    keys = list(net.state_dict())
    maybe_compile(net, TrainCfg())
    assert net._compiled_call_impl is None  # off by default
    maybe_compile(net, TrainCfg(compile=True))
    assert net._compiled_call_impl is not None and list(net.state_dict()) == keys  # checkpoints unchanged


@pytest.mark.gpu
def test_cuda_compiled_bf16_training_runs() -> None:
    cfg = TrainCfg(model="resnet18", weights="none", epochs=1, batch_size=8, image_size=32, patience=0,
                   device="cuda", compile=True)
    proba = _train(cfg, "fixed")
    assert proba.shape == (4, 3) and np.allclose(proba.sum(1), 1)
