"""Flags shared by several subcommands, so every command spells them the same way."""
from __future__ import annotations

import argparse
from pathlib import Path


def add_out(p: argparse.ArgumentParser, default: str | None = None, help_: str = "output folder") -> None:
    kw = {"default": Path(default)} if default else {"required": True}
    p.add_argument("--out", type=Path, help=f"{help_} (default: {default or 'required'})", **kw)


def add_seed(p: argparse.ArgumentParser, default: int = 0) -> None:
    p.add_argument("--seed", type=int, default=default, help=f"random seed (default: {default})")


def add_device(p: argparse.ArgumentParser) -> None:
    p.add_argument("--device", default="auto", help="torch device: auto, cpu, cuda, cuda:1 (default: auto)")


def add_config(p: argparse.ArgumentParser) -> None:
    p.add_argument("--config", type=Path, default=None,
                   help="YAML file with defaults; flags given on the command line override it (default: none)")


def add_train_flags(p: argparse.ArgumentParser, *, default_preset: str = "modern") -> None:
    """Preset and overrides shared by ``train`` and ``cv`` (precedence: preset < --config YAML < flags)."""
    p.add_argument("--preset", default=None,
                   help=f"starting settings: paper, modern, quick, recommended (default: {default_preset}; "
                        "see docs/training.md and docs/real-data.md)")
    p.add_argument("--model", default=None, help="alexnet, efficientnet_lite0, resnet18, resnet50, convnext_tiny "
                   "(default: the preset's)")
    p.add_argument("--weights", default=None, help="imagenet, none (random start) or PATH (default: imagenet)")
    p.add_argument("--allow-download", action="store_true", default=None,
                   help="fetch missing ImageNet weights from the internet (default: off, nothing downloads)")
    p.add_argument("--epochs", type=int, default=None, help="maximum epochs (default: the preset's)")
    p.add_argument("--lr", type=float, default=None, help="learning rate (default: the preset's)")
    p.add_argument("--batch-size", type=int, default=None, help="mini-batch size (default: the preset's)")
    p.add_argument("--image-size", type=int, default=None,
                   help="input side in pixels (default: the preset's or the model's)")
    p.add_argument("--patience", type=int, default=None,
                   help="early-stopping patience, 0 = off (default: the preset's)")
    p.add_argument("--val-fraction", type=float, default=None,
                   help="share of training patients held out for early stopping (default: 0.2)")
    p.add_argument("--augment", choices=("fixed", "stochastic", "none"), default=None,
                   help="fixed = the study's 57 versions per image (default), stochastic = AutoAugment per batch")
    p.add_argument("--augment-subset", type=int, default=None,
                   help="keep only this many fixed transforms (+identity) (default: all; the quick preset keeps 8)")
    p.add_argument("--seed", type=int, default=None, help="random seed (default: 0)")
    p.add_argument("--device", default=None, help="torch device: auto, cpu, cuda, cuda:1 (default: auto)")
    add_config(p)


def add_features(p: argparse.ArgumentParser) -> None:
    """``--features``: the ROI feature families of the radiomics model (``SelectionCfg.features``)."""
    p.add_argument("--features", default=None, metavar="F[,F]",
                   help="ROI feature families of the radiomics/fusion model, comma-separated from radiomics "
                        "(PyRadiomics texture), semantic (size, outline shape, intensity in reference-tissue "
                        "units) and enhancement (T1c - T1 inside the ROI; needs both) (default: the preset's)")
