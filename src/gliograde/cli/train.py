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

Guard-rails (exit 2, one line, before training): ``--cv-run RUN`` must be a CV run of this cohort (its run.json
input fingerprint), these grades and the configuration that trains this model with the same settings; a
paper-protocol (leaky) run is refused, or with ``--cite-leaky-cv`` kept as ``cv_metrics_leaky`` and labelled
LEAKY in the card. A frozen backbone with random weights (``--weights none`` under a preset that freezes it,
e.g. quick) is refused unless ``--allow-random-frozen``. An inner validation at chance level is printed as a
WARNING and recorded in model.json (``inner_validation``) and MODEL_CARD.md.
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
                   help="CV run folder whose metrics.json goes into model.json and the model card, once checked to "
                        "be of this cohort, these grades and these model settings; a paper-protocol (leaky) run is "
                        "refused (default: none)")
    p.add_argument("--cite-leaky-cv", action="store_true",
                   help="keep a paper-protocol --cv-run in model.json as cv_metrics_leaky, labelled LEAKY in the "
                        "card, never as the model's metrics (default: refuse it)")
    p.add_argument("--allow-random-frozen", action="store_true",
                   help="train a frozen backbone with random weights (--weights none under a preset that freezes "
                        "it, e.g. quick): only the head learns, on untrained features (default: refuse, exit 2)")
    return p


def run(args: argparse.Namespace) -> int:
    from gliograde import api
    from gliograde.bundles import get_kind
    from gliograde.data.cohort import bundle_cohort_dir, open_cohort
    from gliograde.fsio import run_folder

    cfg = resolve_args("train", args, FLAGS)
    if args.print_config:
        return print_config(cfg, "train")
    get_kind(cfg.kind).check_settings(cfg, allow_random_frozen=args.allow_random_frozen)  # before any work
    if args.cv_run is not None:
        from gliograde.bundles.cv_run import precheck

        precheck(args.cv_run, cite_leaky=args.cite_leaky_cv)  # unreadable or leaky: refused before ingest
    print(header("train", cfg))
    with run_folder(args.out, "train", inputs=[args.cohort, args.cv_run]):  # api.train takes the same lock again
        cohort = open_cohort(args.cohort, args.out, cfg.ingest, progress=not args.quiet,
                             into=bundle_cohort_dir(args.out), subset=cfg.subset)  # --labels, --sites
        if cohort.root == bundle_cohort_dir(args.out):
            print(f"ingested cohort: {cohort.root} (kept beside the bundle, not in it; reused by a rerun)")
        print(get_kind(cfg.kind).train_header(cohort, args.out, cfg))
        report = api.train(cohort, args.out, cfg, cv_run=args.cv_run, cite_leaky_cv=args.cite_leaky_cv,
                           allow_random_frozen=args.allow_random_frozen, progress=not args.quiet)
    for line in report.lines:
        print(line)
    return 0
