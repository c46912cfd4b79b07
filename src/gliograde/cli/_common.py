"""Flags shared by several subcommands, so every command spells them the same way, and the step that turns
parsed flags into the plain ``overrides`` dict :func:`gliograde.settings.resolve` takes.

Nothing heavy is imported here: ``gliograde --help`` builds every parser.
"""
from __future__ import annotations

import argparse
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from gliograde.config import RunConfig
from gliograde.presets import PRESETS
from gliograde.settings import reads, resolve, to_yaml

#: Parsed-argument name -> the dotted RunConfig key(s) it sets, for the flags of :func:`add_train_flags`.
TRAIN_FLAGS: dict[str, tuple[str, ...]] = {
    **{name: (f"train.{name}",) for name in ("model", "weights", "allow_download", "epochs", "lr", "batch_size",
                                             "image_size", "patience", "val_fraction", "device")},
    "seed": ("train.seed", "cv.seed"), "augment": ("augment.mode",), "augment_subset": ("augment.subset",),
    "features": ("cv.selection.features",), "spacing": ("cv.selection.spacing",),
    "radiomics_params": ("cv.selection.radiomics_params",), "labels": ("subset.labels",),
    "sites": ("subset.sites",)}

#: Parsed-argument name -> RunConfig key, for the flags of :func:`add_executor`.
EXECUTOR_FLAGS: dict[str, tuple[str, ...]] = {"executor": ("executor.name",), "ray_address": ("executor.address",),
                                              "unit_cpus": ("executor.unit_cpus",),
                                              "unit_gpus": ("executor.unit_gpus",)}


def add_write_aliases(p: argparse.ArgumentParser, what: str) -> None:
    """``--write-aliases`` (``predict``, ``validate``): also write ``OUT/aliases.csv`` (``what``)."""
    p.add_argument("--write-aliases", action="store_true", default=None,
                   help=f"also write OUT/aliases.csv ({what}) to map results back; it names patients' files, so "
                        "keep it apart from shared outputs (default: off)")


def add_executor(p: argparse.ArgumentParser, what: str = "unit") -> None:
    """``--executor local|ray``, ``--ray-address``, ``--unit-cpus``, ``--unit-gpus`` (:data:`EXECUTOR_FLAGS`);
    ``what`` names the task in the help (``unit``, ``case``)."""
    p.add_argument("--executor", default=None, metavar="{local,ray}",
                   help=f"local: one {what} after the other in this process; ray: each {what} a Ray task on the "
                        "cluster (pip install 'gliograde[ray]'; docs/distributed.md) (default: local)")
    p.add_argument("--ray-address", default=None, metavar="auto|HOST:PORT",
                   help="with --executor ray: the cluster to use (default: RAY_ADDRESS, else the cluster `ray start` "
                        "started on this machine, else a new one here)")
    p.add_argument("--unit-cpus", type=float, default=None, metavar="N",
                   help=f"with --executor ray: CPUs each {what} asks for (default: 1)")
    p.add_argument("--unit-gpus", type=float, default=None, metavar="G",
                   help=f"with --executor ray: GPUs each {what} asks for, 0.5 = two share one (default: 0)")


def add_out(p: argparse.ArgumentParser, default: str | None = None, help_: str = "output folder") -> None:
    kw = {"default": Path(default)} if default else {"required": True}
    p.add_argument("--out", type=Path, help=f"{help_} (default: {default or 'required'})", **kw)


def add_seed(p: argparse.ArgumentParser, default: int = 0) -> None:
    p.add_argument("--seed", type=int, default=default, help=f"random seed (default: {default})")


def add_config(p: argparse.ArgumentParser) -> None:
    """``--config`` (a YAML file, e.g. a run's written ``config.yaml``) and ``--print-config``."""
    p.add_argument("--config", type=Path, default=None,
                   help="YAML file with settings (a run's config.yaml replays it); flags given on the command line "
                        "override it (default: none)")
    p.add_argument("--print-config", action="store_true",
                   help="print the resolved settings as YAML (the config.yaml the run would write) and exit")


def add_preset(p: argparse.ArgumentParser, default: str) -> None:
    p.add_argument("--preset", default=None,
                   help=f"starting settings: {', '.join(PRESETS)} (default: {default}; see docs/training.md and "
                        "docs/real-data.md)")


def add_train_flags(p: argparse.ArgumentParser, *, default_preset: str) -> None:
    """Preset and overrides shared by ``train`` and ``cv`` (precedence: preset < --config YAML < flags)."""
    add_preset(p, default_preset)
    p.add_argument("--model", default=None, help="CNN: alexnet, efficientnet_lite0, resnet18, resnet50, convnext_tiny "
                   "(default: the preset's)")
    p.add_argument("--weights", default=None, help="CNN start: imagenet, none (random) or PATH (default: imagenet)")
    p.add_argument("--allow-download", action="store_true", default=None,
                   help="fetch missing ImageNet weights from the internet (default: off, nothing downloads)")
    p.add_argument("--epochs", type=int, default=None, help="CNN: maximum epochs (default: the preset's)")
    p.add_argument("--lr", type=float, default=None, help="CNN: learning rate (default: the preset's)")
    p.add_argument("--batch-size", type=int, default=None, help="CNN: mini-batch size (default: the preset's)")
    p.add_argument("--image-size", type=int, default=None,
                   help="CNN: input side in pixels (default: the preset's or the model's)")
    p.add_argument("--patience", type=int, default=None,
                   help="CNN: early-stopping patience, 0 = off (default: the preset's)")
    p.add_argument("--val-fraction", type=float, default=None,
                   help="CNN: share of training patients held out for early stopping (default: 0.2)")
    p.add_argument("--augment", default=None, metavar="{fixed,stochastic,none}",
                   help="CNN: fixed = the study's 57 versions per image (default), stochastic = AutoAugment per batch")
    p.add_argument("--augment-subset", type=int, default=None,
                   help="CNN: keep only this many fixed transforms (+identity) (default: all; quick and recommended "
                        "keep 8)")
    p.add_argument("--seed", type=int, default=None, help="random seed (default: 0)")
    p.add_argument("--device", default=None, help="CNN: torch device: auto, cpu, cuda, cuda:1 (default: auto)")
    p.add_argument("--features", type=names, default=None, metavar="F[,F]",
                   help="ROI feature families of the radiomics/fusion model, comma-separated from radiomics "
                        "(PyRadiomics texture), semantic (size, outline shape, intensity in reference-tissue "
                        "units), enhancement (T1c - T1 inside the ROI; needs both) and native (PyRadiomics on "
                        "each case's original grid in mm, by sequence) (default: the preset's)")
    p.add_argument("--spacing", type=numbers, default=None, metavar="ROW_MM,COL_MM",
                   help="native features: pixel size of PNG/TIFF slices in mm (default: unknown, shape features in "
                        "pixels, named _px; NIfTI volumes use their affine)")
    p.add_argument("--radiomics-params", default=None, metavar="FILE",
                   help="native features: a PyRadiomics params YAML used as given (default: first order, GLCM, "
                        "GLRLM, GLSZM and shape on ingest's scaling)")
    add_subset_flags(p)
    add_config(p)


def add_subset_flags(p: argparse.ArgumentParser) -> None:
    """``--labels CSV`` and ``--sites A,B`` of ``train`` and ``cv``: the patients used (gliograde.data.subset)."""
    p.add_argument("--labels", default=None, metavar="CSV",
                   help="use only the patients this CSV lists (a patient_id or case_id column; grades, if given, "
                        "must agree with the cohort's) (default: every patient)")
    p.add_argument("--sites", type=names, default=None, metavar="A[,B]",
                   help="use only the patients of these acquisition sites (the labels' institution/site) "
                        "(default: every site)")


def names(text: str) -> tuple[str, ...]:
    """``a,b`` -> ``("a", "b")`` (argparse type)."""
    return tuple(v.strip() for v in text.split(",") if v.strip())


def numbers(text: str) -> tuple[float, ...] | str:
    """``0.5,99.5`` -> ``(0.5, 99.5)``; text that is not numbers stays text, so the settings check names it."""
    try:
        return tuple(float(v) for v in names(text))
    except ValueError:
        return text


def whole_numbers(text: str) -> tuple[int, ...] | str:
    """``1,4`` -> ``(1, 4)``; text that is not whole numbers stays text, so the settings check names it."""
    try:
        return tuple(int(v) for v in names(text))
    except ValueError:
        return text


def overrides(args: argparse.Namespace, flags: Mapping[str, tuple[str, ...]]) -> dict[str, Any]:
    """The flags given on the command line (not None) as nested RunConfig data: ``{"train": {"lr": 0.1}}``."""
    out: dict[str, Any] = {}
    for dest, keys in flags.items():
        value = getattr(args, dest, None)
        if value is None:
            continue
        for key in keys:
            *parents, leaf = key.split(".")
            node = out
            for part in parents:
                node = node.setdefault(part, {})
            node[leaf] = value
    return out


def resolve_args(command: str, args: argparse.Namespace, flags: Mapping[str, tuple[str, ...]]) -> RunConfig:
    """The command's settings: ``--preset`` < ``--config`` < the flags of ``flags`` (checked, see resolve)."""
    return resolve(command, preset=getattr(args, "preset", None), config=args.config,
                   overrides=overrides(args, flags))


def print_config(cfg: RunConfig, command: str) -> int:
    """``--print-config``: the resolved settings as the YAML ``config.yaml`` holds; exit status 0."""
    print(to_yaml(cfg, command), end="")
    return 0


def header(command: str, cfg: RunConfig) -> str:
    """The first line ``train`` and ``cv`` print: the preset and the model or configurations resolved."""
    model = f", model {cfg.train.model} ({cfg.train.weights} weights)" if "train" in reads(command, cfg) else ""
    if command == "cv":
        c = cfg.cv
        repeats = f" x {c.repeats} repeats" if c.repeats > 1 else ""
        return (f"cv: preset {cfg.preset}, configurations {','.join(c.configs)}{model}, {c.protocol} protocol, "
                f"{c.folds} folds{repeats}, seed {c.seed}")
    return f"train: preset {cfg.preset}, kind {cfg.kind}{model}"
