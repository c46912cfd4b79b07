"""``gliograde train COHORT --out RUN``: train the model a preset recommends and write a bundle.

    gliograde train ../shared/data/tcga-lgg --out runs/model              # recommended preset (default): radiomics
    gliograde train ../shared/data/tcga-lgg --out runs/cnn --kind cnn     # recommended ingest, the CNN head instead
    gliograde train runs/ingested --out runs/quick --preset quick
    gliograde train runs/ingested --out runs/paper --preset paper --weights ~/alexnet-owt-7be5be79.pth
    gliograde train runs/ingested --out runs/modern --model resnet18 --weights none --epochs 10

Precedence: preset < ``--config`` YAML (sections ``train:``, ``augment:`` and ``ingest:``) < flags. A raw
cohort is ingested with the preset's ingest settings (``recommended``: FLAIR and T1c channels,
brain-outside-ROI median/IQR scaling). ``recommended`` trains the model its CV evaluates (``--kind
radiomics``): ROI features (``--features``: PyRadiomics, semantic), classifier and feature count chosen by
patient-level inner CV on all training patients (the YAML's ``cv: selection:`` overrides the grid), refit on
all of them; the bundle holds ``model.skops`` (no pickle). The other presets fine-tune a CNN (``--kind
cnn``); rerunning the same command on the same ``--out`` resumes from the last checkpoint.
"""
from __future__ import annotations

import argparse
from pathlib import Path
from typing import TYPE_CHECKING

from gliograde.cli._common import add_features, add_out, add_train_flags
from gliograde.presets import TRAIN_DEFAULT_PRESET
from gliograde.settings import (
    preset_name,
    resolve_configs,
    resolve_ingest,
    resolve_selection,
)

if TYPE_CHECKING:
    from gliograde.data.dataset import Cohort

#: ``gliograde train`` starts from the best configuration measured on real data (docs/real-data.md).
DEFAULT_PRESET = TRAIN_DEFAULT_PRESET


def add_parser(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> argparse.ArgumentParser:
    p = subparsers.add_parser(
        "train", help="train the preset's model (recommended: radiomics; others: a CNN) and write a bundle",
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("cohort", type=Path,
                   help="folder written by `gliograde ingest`, or a raw cohort (ingested into OUT/cohort)")
    add_out(p, help_="bundle folder (model, model.json, MODEL_CARD.md; CNN: history and checkpoints)")
    add_train_flags(p, default_preset=DEFAULT_PRESET)
    add_features(p)
    p.add_argument("--kind", choices=("cnn", "radiomics"), default=None,
                   help="model to train: radiomics (ROI features + inner-CV selection) or cnn "
                        "(default: the preset's; recommended -> radiomics, others -> cnn)")
    p.add_argument("--cv-run", type=Path, default=None,
                   help="CV run folder whose metrics.json goes into model.json and the model card (default: none)")
    return p


def _run_radiomics(args: argparse.Namespace, cohort: Cohort) -> int:
    from gliograde.bundles.cnn import read_cv_metrics, read_ingest_cfg
    from gliograde.training.radiomics import train_radiomics

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
    from gliograde.experiment.run import cohort_for
    from gliograde.presets import get_train_kind
    from gliograde.training.cnn import WEIGHTS, train_on_cohort

    kind = args.kind or get_train_kind(preset_name(args))
    cohort = cohort_for(args.cohort, args.out, resolve_ingest(args), progress=not args.quiet)
    if kind == "radiomics":
        return _run_radiomics(args, cohort)
    train_cfg, aug_cfg = resolve_configs(args)
    print(f"training {train_cfg.model} ({train_cfg.preset}) on {len(cohort)} slices, "
          f"classes {list(cohort.classes)} -> {args.out}")
    res = train_on_cohort(cohort, train_cfg, aug_cfg, args.out, progress=not args.quiet)
    from gliograde.bundles.cnn import read_cv_metrics, write_bundle

    cv = read_cv_metrics(args.cv_run / "metrics.json") if args.cv_run else None
    write_bundle(args.out, cohort, train_cfg, aug_cfg, res, cv_metrics=cv)
    last = res.history[res.best_epoch - 1] if res.history else {}
    print(f"best epoch {res.best_epoch} of {res.stopped_epoch}: val loss {last.get('val_loss', float('nan')):.4f}, "
          f"val acc {last.get('val_acc', float('nan')):.3f}")
    print(f"wrote the model bundle {args.out}: {WEIGHTS}, model.json, MODEL_CARD.md, history.csv, history.png")
    return 0
