"""``gliograde cv COHORT --out RUN``: the cross-validated experiment, its ablations and its report.

    gliograde cv ../shared/data/tcga-lgg --out runs/rec                # recommended preset: radiomics, 10 folds
    gliograde cv runs/tcga --out runs/cv --preset quick                 # honest protocol, 10 folds, 4 configs
    gliograde cv ../shared/data/tcga-lgg --out runs/cv --preset quick   # a raw cohort is ingested first
    gliograde cv runs/synth --out runs/cv --protocol both --folds 5     # honest + the study's leaky protocol
    gliograde cv runs/tcga --out runs/site --protocol site              # leave one hospital out
    gliograde cv ../shared/data/tcga-lgg --out runs/rep --preset recommended --repeats 5   # 5 x 10 folds
    gliograde cv runs/tcga/manifest.csv --out runs/cv3 --sites CS,DU,FG  # three sites (--labels CSV: listed patients)

``--labels CSV`` (a patient_id column; grades, if given, must agree) and ``--sites A,B`` pick the patients used
(``subset:`` in config.yaml; gliograde.data.subset). Every split keeps a person on one side: a ``group`` column
of the labels (or a BraTS case's ``tcga_id``) names the person when one patient appears twice.

Precedence: preset < ``--config`` YAML (sections ``ingest:``, ``train:``, ``augment:``, ``cv:``) < flags.
The default preset, ``recommended`` (shared with ``train``, about a minute on a 2-core CPU), ingests a raw
COHORT as FLAIR and T1c scaled by the brain outside the tumour and runs the ``radiomics`` configuration,
whose classifier and feature count are chosen inside each training fold (``selection.json``); the study's
comparison of four configurations is ``--preset quick`` (CPU), ``modern`` or ``paper`` (GPU). A flag no
chosen configuration reads (``--model`` with ``--configs radiomics``) is refused, as it would change nothing.

``--repeats R`` repeats the cross-validation on R different patient splits (fold seeds SEED..SEED+R-1),
so a result is not one lucky split: the tables stay those of repeat 0 (the single run), and metrics.json,
the printed table and report.html add each repeat's pooled AUC and accuracy with their mean, SD, min, max.

Rerunning the same command resumes: finished (configuration, fold) units are skipped.

``--permute-labels N`` adds the label-permutation check (gliograde.experiment.permute): each protocol rerun N
times on grades shuffled between patients, in RUN/permute/; the report shows the chance distribution of the pooled
AUC and accuracy and the real result's empirical p-value. Each shuffle costs about as much as the real run.

A long run first logs an upper-bound time estimate of its CNN units, from rates measured there and then on the
run's device with the run's network (a few seconds; docs/performance.md).

``--executor ray`` runs each unit as a Ray task (``--unit-cpus``/``--unit-gpus`` each, on the cluster of
``--ray-address``); the results are the same files as without it. A unit that still fails after its retries
is reported while the others go on; the run then ends with one line per failed unit and exit status 1, and
rerunning the same command runs only those (docs/distributed.md).
"""
from __future__ import annotations

import argparse
from pathlib import Path

from gliograde.cli._common import (
    EXECUTOR_FLAGS,
    TRAIN_FLAGS,
    add_executor,
    add_train_flags,
    header,
    names,
    print_config,
    resolve_args,
)
from gliograde.presets import DEFAULT_PRESET

#: Parsed-argument name -> the RunConfig key(s) it sets.
FLAGS = {**TRAIN_FLAGS, **{name: (f"cv.{name}",) for name in ("folds", "protocol", "configs",
                                                               "handcrafted_classifier", "n_boot", "repeats",
                                                               "permute_labels", "recalibrate")},
         "selection": ("cv.selection.method",), **EXECUTOR_FLAGS}


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> argparse.ArgumentParser:
    p = sub.add_parser("cv", help="cross-validate the preset's configurations on the same patient folds + report",
                       description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("cohort", type=Path,
                   help="folder written by `gliograde ingest`, or a raw cohort (ingested into RUN/cohort)")
    p.add_argument("--out", type=Path, required=True, help="run folder (required)")
    p.add_argument("--folds", type=int, default=None, help="number of folds (default: 10)")
    p.add_argument("--protocol", default=None, metavar="{honest,paper,site,both}",
                   help="honest: patient-level, leak-free; paper: the study's leaky protocol; site: leave one site "
                        "out; both: honest + paper side by side (default: honest)")
    p.add_argument("--configs", type=names, default=None,
                   help="comma-separated from full, no-pretrain, no-aug, handcrafted, handcrafted-mlp, radiomics, "
                        "fusion (default: the preset's; recommended: radiomics, the others: "
                        "full,no-pretrain,no-aug,handcrafted)")
    p.add_argument("--handcrafted-classifier", default=None,
                   help="logreg, logreg_l1, svm, rbf_svm, mlp (default: logreg)")
    p.add_argument("--n-boot", type=int, default=None,
                   help="bootstrap resamples for confidence intervals (default: 2000)")
    p.add_argument("--selection", default=None, metavar="{inner_cv,inner_split,none}",
                   help="how radiomics/fusion choose classifier and feature count inside each training fold "
                        "(default: inner_cv, 5 inner folds)")
    p.add_argument("--repeats", type=int, default=None, metavar="R",
                   help="repeated CV: R splits with fold seeds SEED..SEED+R-1, reported as mean ± SD (min-max) "
                        "of the pooled AUC; not with --protocol site (default: 1)")
    p.add_argument("--permute-labels", type=int, default=None, metavar="N",
                   help="label-permutation check: rerun each protocol N times with grades shuffled between patients "
                        "(within site for --protocol site) and report the chance AUC and accuracy and an empirical "
                        "p-value of the real result (default: 0, no check)")
    p.add_argument("--recalibrate", default=None, metavar="{none,platt}",
                   help="platt: every configuration recalibrates its probabilities inside the training patients "
                        "only: radiomics, fusion and handcrafted on inner cross-validated predictions, the CNNs on "
                        "their early-stopping validation patients (not under --protocol paper, whose early stopping "
                        "uses the test fold) (default: none)")
    add_train_flags(p, default_preset=DEFAULT_PRESET)
    add_executor(p)
    return p


def run(args: argparse.Namespace) -> int:
    from gliograde import api

    cfg = resolve_args("cv", args, FLAGS)
    if args.print_config:
        return print_config(cfg, "cv")
    print(header("cv", cfg))
    result = api.cv(args.cohort, args.out, cfg, progress=not args.quiet)
    print(result.table)
    print(f"report: {result.report}")
    return 0
