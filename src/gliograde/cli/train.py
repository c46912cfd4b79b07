"""``gliograde train COHORT --out RUN``: train the model a preset recommends and write a bundle.

    gliograde train ../shared/data/tcga-lgg --out runs/model              # recommended preset (default): radiomics
    gliograde train ../shared/data/tcga-lgg --out runs/cnn --kind cnn     # recommended ingest, the CNN head instead
    gliograde train runs/ingested --out runs/quick --preset quick
    gliograde train runs/ingested --out runs/paper --preset paper --weights ~/alexnet-owt-7be5be79.pth
    gliograde train runs/ingested --out runs/modern --preset modern --model resnet18 --weights none --epochs 10
    gliograde train runs/ingested --out runs/again --config runs/model/config.yaml   # replay a run

Precedence: preset < ``--config`` YAML (sections ``ingest:``, ``train:``, ``augment:``, ``cv:``) < flags.
``train`` and ``cv`` share the default preset, ``recommended``, so the model trained is the one the
default CV evaluates: ROI features (``--features``: PyRadiomics, semantic), classifier and feature count
chosen by patient-level inner CV on all training patients (the YAML's ``cv: selection:`` overrides the
grid), refit on all of them; the bundle holds ``model.skops`` (no pickle). ``--kind cnn`` and the other
presets fine-tune a CNN; a CNN flag (``--model``, ``--epochs``, ...) under the radiomics kind is refused, as
it would change nothing. A raw cohort is ingested with the preset's ingest settings into ``RUN.cohort``, beside
the bundle (a bundle holds no patient id, file name or image; a rerun with the same data reuses it, one from
other data is refused); rerunning a CNN on the same ``--out`` resumes from the last checkpoint.
"""
from __future__ import annotations

import argparse
from pathlib import Path

from gliograde.cli._common import TRAIN_FLAGS, add_out, add_train_flags, header, print_config, resolve_args
from gliograde.presets import DEFAULT_PRESET

#: Parsed-argument name -> the RunConfig key(s) it sets.
FLAGS = {**TRAIN_FLAGS, "kind": ("kind",)}


def add_parser(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> argparse.ArgumentParser:
    p = subparsers.add_parser(
        "train", help="train the preset's model (recommended: radiomics; --kind cnn: a CNN) and write a bundle",
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("cohort", type=Path,
                   help="folder written by `gliograde ingest`, or a raw cohort (ingested into OUT.cohort, beside "
                        "the bundle)")
    add_out(p, help_="bundle folder (model, model.json, MODEL_CARD.md; CNN: history and checkpoints)")
    add_train_flags(p, default_preset=DEFAULT_PRESET)
    p.add_argument("--kind", default=None, metavar="{cnn,radiomics,prior}",
                   help="model to train: radiomics (ROI features + inner-CV selection), cnn, or prior "
                        "(pre-specified radiological signs, docs/prior.md) "
                        "(default: the preset's; recommended -> radiomics, others -> cnn)")
    p.add_argument("--cv-run", type=Path, default=None,
                   help="CV run folder whose metrics.json goes into model.json and the model card (default: none)")
    return p


def run(args: argparse.Namespace) -> int:
    from gliograde import api
    from gliograde.bundles import get_kind
    from gliograde.data.cohort import bundle_cohort_dir, open_cohort
    from gliograde.fsio import run_folder

    cfg = resolve_args("train", args, FLAGS)
    if args.print_config:
        return print_config(cfg, "train")
    print(header("train", cfg))
    with run_folder(args.out, "train", inputs=[args.cohort, args.cv_run]):  # api.train takes the same lock again
        cohort = open_cohort(args.cohort, args.out, cfg.ingest, progress=not args.quiet,
                             into=bundle_cohort_dir(args.out))
        if cohort.root == bundle_cohort_dir(args.out):
            print(f"ingested cohort: {cohort.root} (kept beside the bundle, not in it; reused by a rerun)")
        print(get_kind(cfg.kind).train_header(cohort, args.out, cfg))
        report = api.train(cohort, args.out, cfg, cv_run=args.cv_run, progress=not args.quiet)
    for line in report.lines:
        print(line)
    return 0
