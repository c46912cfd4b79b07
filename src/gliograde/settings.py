"""Resolve a command's settings: preset < ``--config`` YAML < command-line flags.

Shared by ``gliograde train`` and ``gliograde cv`` (and usable from Python with any object carrying the
same attributes as their parsed arguments), so both commands resolve a preset the same way.
"""
from __future__ import annotations

import argparse
import dataclasses

from gliograde.config import (
    AugmentCfg,
    CVCfg,
    IngestCfg,
    SelectionCfg,
    TrainCfg,
    from_dict,
    load_yaml,
    merge,
)
from gliograde.presets import (
    CV_DEFAULT_PRESET,
    TRAIN_DEFAULT_PRESET,
    get_augment_defaults,
    get_cv_defaults,
    get_ingest,
    get_preset,
    ingest_as_dict,
)

#: TrainCfg fields that have a command-line flag of the same name.
TRAIN_FLAGS = ("model", "weights", "epochs", "lr", "batch_size", "image_size", "patience", "seed", "device",
               "val_fraction")


def preset_name(args: argparse.Namespace, default: str = TRAIN_DEFAULT_PRESET) -> str:
    """The preset in force: ``--preset``, else the YAML's ``train.preset``, else ``default``."""
    train_yaml = dict(load_yaml(args.config).get("train") or {})
    return str(args.preset or train_yaml.get("preset") or default)


def resolve_ingest(args: argparse.Namespace, default: str = TRAIN_DEFAULT_PRESET) -> IngestCfg:
    """Ingest settings for a raw cohort: the preset's, overlaid by the YAML's ``ingest:`` section."""
    base = ingest_as_dict(get_ingest(preset_name(args, default)))
    over = dict(load_yaml(args.config).get("ingest") or {})
    pre = merge(base.pop("preprocess"), dict(over.pop("preprocess", None) or {}))
    return from_dict(IngestCfg, {**merge(base, over), "preprocess": pre})


def resolve_configs(args: argparse.Namespace, default: str = TRAIN_DEFAULT_PRESET) -> tuple[TrainCfg, AugmentCfg]:
    """(TrainCfg, AugmentCfg) from preset (``default`` when none is named), YAML and flags."""
    yaml_cfg = load_yaml(args.config)
    train_yaml, aug_yaml = dict(yaml_cfg.get("train") or {}), dict(yaml_cfg.get("augment") or {})
    preset = preset_name(args, default)
    base = dataclasses.asdict(get_preset(preset))
    flags = {k: getattr(args, k) for k in TRAIN_FLAGS}
    flags["allow_download"] = args.allow_download
    train = from_dict(TrainCfg, merge(merge(base, train_yaml), {**flags, "preset": preset}))
    aug_yaml = {**get_augment_defaults(preset), **aug_yaml}
    aug = from_dict(AugmentCfg, merge(aug_yaml, {"mode": args.augment, "subset": args.augment_subset}))
    return train, aug


def resolve_selection(args: argparse.Namespace, default: str = TRAIN_DEFAULT_PRESET) -> SelectionCfg:
    """The selection grid: the preset's CV defaults overlaid by the YAML's ``cv: selection:`` section."""
    base = dict(get_cv_defaults(preset_name(args, default)).get("selection") or {})
    over = dict((load_yaml(args.config).get("cv") or {}).get("selection") or {})
    return from_dict(SelectionCfg, merge(merge(base, over), {"features": _features(args)}))


def _features(args: argparse.Namespace) -> tuple[str, ...] | None:
    """``--features radiomics,semantic`` as a validated tuple (None when the flag is not given)."""
    from gliograde.baselines.feature_sets import check_families

    raw = getattr(args, "features", None)
    return None if raw is None else check_families([f.strip() for f in raw.split(",") if f.strip()])


def resolve_cv(args: argparse.Namespace) -> tuple[CVCfg, TrainCfg, AugmentCfg]:
    """Preset < ``--config`` YAML (sections ``cv``, ``train``, ``augment``) < flags."""
    yaml_cfg = load_yaml(getattr(args, "config", None))
    train, augment = resolve_configs(args, CV_DEFAULT_PRESET)
    configs = tuple(c.strip() for c in args.configs.split(",")) if args.configs else None
    base = get_cv_defaults(preset_name(args, CV_DEFAULT_PRESET))
    yaml_cv = dict(yaml_cfg.get("cv") or {})
    selection = merge(dict(base.pop("selection", None) or {}), dict(yaml_cv.pop("selection", None) or {}))
    selection = merge(selection, {"method": getattr(args, "selection", None), "features": _features(args)})
    cv = from_dict(CVCfg, {**merge(merge(base, yaml_cv), {
        "folds": args.folds, "protocol": args.protocol, "configs": configs, "seed": args.seed,
        "handcrafted_classifier": args.handcrafted_classifier, "n_boot": args.n_boot,
        "repeats": getattr(args, "repeats", None)}), "selection": selection})
    return cv, train, augment
