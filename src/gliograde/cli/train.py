"""``gliograde train COHORT --out RUN``: train the model a preset recommends and write a bundle.

    gliograde train ../shared/data/tcga-lgg --out runs/model              # recommended preset (default): radiomics
    gliograde train ../shared/data/tcga-lgg --out runs/cnn --kind cnn     # recommended ingest, the CNN head instead
    gliograde train runs/ingested --out runs/quick --preset quick
    gliograde train runs/ingested --out runs/paper --preset paper --weights ~/alexnet-owt-7be5be79.pth
    gliograde train runs/ingested --out runs/modern --model resnet18 --weights none --epochs 10

Precedence: preset < ``--config`` YAML (sections ``train:``, ``augment:`` and ``ingest:``) < flags. A raw
cohort is ingested with the preset's ingest settings (``recommended``: T1, FLAIR and T1c channels,
brain-outside-ROI median/IQR scaling). ``recommended`` trains the model its CV evaluates (``--kind
radiomics``): PyRadiomics features, classifier and feature count chosen by patient-level inner CV on all
training patients (the YAML's ``cv: selection:`` overrides the grid), refit on all of them; the bundle
holds ``model.skops`` (no pickle). The other presets fine-tune a CNN (``--kind cnn``); rerunning the
same command on the same ``--out`` resumes from the last checkpoint.
"""
from __future__ import annotations

import argparse
import dataclasses
from pathlib import Path
from typing import TYPE_CHECKING

from gliograde.cli._common import TRAIN_FLAGS, add_out, add_train_flags

if TYPE_CHECKING:
    from gliograde.config import AugmentCfg, IngestCfg, SelectionCfg, TrainCfg
    from gliograde.data.dataset import Cohort

#: ``gliograde train`` starts from the best configuration measured on real data (docs/real-data.md).
DEFAULT_PRESET = "recommended"


def add_parser(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> argparse.ArgumentParser:
    p = subparsers.add_parser(
        "train", help="train the preset's model (recommended: radiomics; others: a CNN) and write a bundle",
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("cohort", type=Path,
                   help="folder written by `gliograde ingest`, or a raw cohort (ingested into OUT/cohort)")
    add_out(p, help_="bundle folder (model, model.json, MODEL_CARD.md; CNN: history and checkpoints)")
    add_train_flags(p, default_preset=DEFAULT_PRESET)
    p.add_argument("--kind", choices=("cnn", "radiomics"), default=None,
                   help="model to train: radiomics (PyRadiomics + inner-CV selection) or cnn "
                        "(default: the preset's; recommended -> radiomics, others -> cnn)")
    p.add_argument("--cv-run", type=Path, default=None,
                   help="CV run folder whose metrics.json goes into model.json and the model card (default: none)")
    return p


def preset_name(args: argparse.Namespace, default: str = DEFAULT_PRESET) -> str:
    """The preset in force: ``--preset``, else the YAML's ``train.preset``, else ``default``."""
    from gliograde.config import load_yaml

    train_yaml = dict(load_yaml(args.config).get("train") or {})
    return str(args.preset or train_yaml.get("preset") or default)


def resolve_ingest(args: argparse.Namespace, default: str = DEFAULT_PRESET) -> IngestCfg:
    """Ingest settings for a raw cohort: the preset's, overlaid by the YAML's ``ingest:`` section."""
    from gliograde.config import IngestCfg, from_dict, load_yaml, merge
    from gliograde.presets import get_ingest, ingest_as_dict

    base = ingest_as_dict(get_ingest(preset_name(args, default)))
    over = dict(load_yaml(args.config).get("ingest") or {})
    pre = merge(base.pop("preprocess"), dict(over.pop("preprocess", None) or {}))
    return from_dict(IngestCfg, {**merge(base, over), "preprocess": pre})


def resolve_configs(args: argparse.Namespace, default: str = DEFAULT_PRESET) -> tuple[TrainCfg, AugmentCfg]:
    """(TrainCfg, AugmentCfg) from preset (``default`` when none is named), YAML and flags."""
    from gliograde.config import AugmentCfg, TrainCfg, from_dict, load_yaml, merge
    from gliograde.presets import QUICK_AUGMENT_SUBSET, get_preset

    yaml_cfg = load_yaml(args.config)
    train_yaml, aug_yaml = dict(yaml_cfg.get("train") or {}), dict(yaml_cfg.get("augment") or {})
    preset = preset_name(args, default)
    base = dataclasses.asdict(get_preset(preset))
    flags = {k: getattr(args, k) for k in TRAIN_FLAGS}
    flags["allow_download"] = args.allow_download
    train = from_dict(TrainCfg, merge(merge(base, train_yaml), {**flags, "preset": preset}))
    if preset in ("quick", "recommended") and "subset" not in aug_yaml:
        aug_yaml["subset"] = QUICK_AUGMENT_SUBSET
    aug = from_dict(AugmentCfg, merge(aug_yaml, {"mode": args.augment, "subset": args.augment_subset}))
    return train, aug


def resolve_selection(args: argparse.Namespace, default: str = DEFAULT_PRESET) -> SelectionCfg:
    """The selection grid: the preset's CV defaults overlaid by the YAML's ``cv: selection:`` section."""
    from gliograde.config import SelectionCfg, from_dict, load_yaml, merge
    from gliograde.presets import get_cv_defaults

    base = dict(get_cv_defaults(preset_name(args, default)).get("selection") or {})
    over = dict((load_yaml(args.config).get("cv") or {}).get("selection") or {})
    return from_dict(SelectionCfg, merge(base, over))


def _run_radiomics(args: argparse.Namespace, cohort: Cohort) -> int:
    from gliograde.bundle import read_cv_metrics, read_ingest_cfg
    from gliograde.train_radiomics import train_radiomics

    sel = resolve_selection(args)
    print(f"training radiomics ({preset_name(args)}; {sel.method} over {list(sel.classifiers)} "
          f"x k {list(sel.select_k)}) "
          f"on {len(cohort)} slices, classes {list(cohort.classes)} -> {args.out}")
    cv = read_cv_metrics(args.cv_run / "metrics.json") if args.cv_run else None
    ingest = read_ingest_cfg(cohort.root)  # what the cohort was really ingested with; predict repeats it
    fit = train_radiomics(cohort, args.out, ingest, sel, seed=args.seed if args.seed is not None else 0, cv_metrics=cv)
    scores = ", ".join(f"{k} {v:.3f}" for k, v in fit.selection.scores.items())
    print(f"chose {fit.selection.chosen.label} by {fit.selection.method} (inner AUC: {scores or 'n/a'})")
    print(f"{len(fit.feature_names)} features {fit.seconds['features']:.1f} s, selection + fit "
          f"{fit.seconds['selection_and_fit']:.1f} s")
    print(f"wrote the model bundle {args.out}: model.skops, model.json, MODEL_CARD.md")
    return 0


def run(args: argparse.Namespace) -> int:
    from gliograde.experiment_run import cohort_for
    from gliograde.presets import get_train_kind
    from gliograde.train import WEIGHTS, train_on_cohort

    kind = args.kind or get_train_kind(preset_name(args))
    cohort = cohort_for(args.cohort, args.out, resolve_ingest(args), progress=not args.quiet)
    if kind == "radiomics":
        return _run_radiomics(args, cohort)
    train_cfg, aug_cfg = resolve_configs(args)
    print(f"training {train_cfg.model} ({train_cfg.preset}) on {len(cohort)} slices, "
          f"classes {list(cohort.classes)} -> {args.out}")
    res = train_on_cohort(cohort, train_cfg, aug_cfg, args.out, progress=not args.quiet)
    from gliograde.bundle import read_cv_metrics, write_bundle

    cv = read_cv_metrics(args.cv_run / "metrics.json") if args.cv_run else None
    write_bundle(args.out, cohort, train_cfg, aug_cfg, res, cv_metrics=cv)
    last = res.history[res.best_epoch - 1] if res.history else {}
    print(f"best epoch {res.best_epoch} of {res.stopped_epoch}: val loss {last.get('val_loss', float('nan')):.4f}, "
          f"val acc {last.get('val_acc', float('nan')):.3f}")
    print(f"wrote the model bundle {args.out}: {WEIGHTS}, model.json, MODEL_CARD.md, history.csv, history.png")
    return 0
