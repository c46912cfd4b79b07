"""``gliograde train COHORT --out RUN``: fine-tune a pretrained CNN on an ingested cohort.

    gliograde train runs/ingested --out runs/quick --preset quick
    gliograde train runs/ingested --out runs/paper --preset paper --weights ~/alexnet-owt-7be5be79.pth
    gliograde train runs/ingested --out runs/modern --model resnet18 --weights none --epochs 10

Precedence: preset < ``--config`` YAML (sections ``train:`` and ``augment:``) < flags. Rerunning the
same command on the same ``--out`` resumes from the last checkpoint.
"""
from __future__ import annotations

import argparse
import dataclasses
from pathlib import Path
from typing import TYPE_CHECKING

from gliograde.cli._common import add_config, add_device, add_out

if TYPE_CHECKING:
    from gliograde.config import AugmentCfg, TrainCfg

_TRAIN_FLAGS = ("model", "weights", "epochs", "lr", "batch_size", "image_size", "patience", "seed", "device",
                "val_fraction")


def add_parser(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:  # type: ignore[type-arg]
    p = subparsers.add_parser("train", help="train a CNN on an ingested cohort",
                              description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("cohort", type=Path, help="folder written by `gliograde ingest`")
    add_out(p, help_="run folder for weights, history and checkpoints")
    p.add_argument("--preset", choices=("paper", "modern", "quick"), default=None,
                   help="starting settings (default: modern; see docs/training.md)")
    p.add_argument("--model", default=None, help="alexnet, efficientnet_lite0, resnet18, resnet50, convnext_tiny "
                   "(default: the preset's, efficientnet_lite0 for modern/quick)")
    p.add_argument("--weights", default=None, help="imagenet, none (random start) or PATH (default: imagenet)")
    p.add_argument("--allow-download", action="store_true", default=None,
                   help="fetch missing ImageNet weights from the internet (default: off, nothing downloads)")
    p.add_argument("--epochs", type=int, default=None, help="maximum epochs (default: the preset's)")
    p.add_argument("--lr", type=float, default=None, help="learning rate (default: the preset's)")
    p.add_argument("--batch-size", type=int, default=None, help="mini-batch size (default: the preset's)")
    p.add_argument("--image-size", type=int, default=None, help="input side in pixels (default: the model's)")
    p.add_argument("--patience", type=int, default=None, help="early-stopping patience, 0 = off (default: the preset's)")
    p.add_argument("--val-fraction", type=float, default=None,
                   help="share of training patients held out for early stopping (default: 0.2)")
    p.add_argument("--augment", choices=("fixed", "stochastic", "none"), default=None,
                   help="fixed = the study's 57 versions per image (default), stochastic = AutoAugment per batch")
    p.add_argument("--augment-subset", type=int, default=None,
                   help="keep only this many fixed transforms (+identity) for quick runs (default: all)")
    p.add_argument("--seed", type=int, default=None, help="random seed (default: 0)")
    add_device(p)
    p.set_defaults(device=None)
    add_config(p)
    return p


def resolve_configs(args: argparse.Namespace) -> tuple[TrainCfg, AugmentCfg]:
    """(TrainCfg, AugmentCfg) from preset, YAML and flags."""
    from gliograde.config import AugmentCfg, TrainCfg, from_dict, load_yaml, merge
    from gliograde.presets import get_preset

    yaml_cfg = load_yaml(args.config)
    train_yaml, aug_yaml = dict(yaml_cfg.get("train") or {}), dict(yaml_cfg.get("augment") or {})
    preset = args.preset or train_yaml.get("preset") or "modern"
    base = dataclasses.asdict(get_preset(preset))
    flags = {k: getattr(args, k) for k in _TRAIN_FLAGS}
    flags["allow_download"] = args.allow_download
    train = from_dict(TrainCfg, merge(merge(base, train_yaml), {**flags, "preset": preset}))
    aug = from_dict(AugmentCfg, merge(aug_yaml, {"mode": args.augment, "subset": args.augment_subset}))
    return train, aug


def run(args: argparse.Namespace) -> int:
    from gliograde.data.dataset import load_cohort
    from gliograde.train import WEIGHTS, train_on_cohort

    train_cfg, aug_cfg = resolve_configs(args)
    cohort = load_cohort(args.cohort)
    print(f"training {train_cfg.model} ({train_cfg.preset}) on {len(cohort)} slices, "
          f"classes {list(cohort.classes)} -> {args.out}")
    res = train_on_cohort(cohort, train_cfg, aug_cfg, args.out, progress=not args.quiet)
    last = res.history[res.best_epoch - 1] if res.history else {}
    print(f"best epoch {res.best_epoch} of {res.stopped_epoch}: val loss {last.get('val_loss', float('nan')):.4f}, "
          f"val acc {last.get('val_acc', float('nan')):.3f}")
    print(f"wrote {args.out / WEIGHTS}, history.csv, history.png")
    return 0
