"""``gliograde cv COHORT --out RUN``: the cross-validated experiment, its ablations and its report.

    gliograde cv runs/tcga --out runs/cv --preset quick                 # honest protocol, 10 folds, 4 configs
    gliograde cv ../shared/data/tcga-lgg --out runs/cv --preset quick   # a raw cohort is ingested first
    gliograde cv runs/synth --out runs/cv --protocol both --folds 5     # honest + the study's leaky protocol
    gliograde cv runs/tcga --out runs/site --protocol site              # leave one hospital out

Rerunning the same command resumes: finished (configuration, fold) units are skipped.
"""
from __future__ import annotations

import argparse
from pathlib import Path

from gliograde.cli._common import add_train_flags


def add_parser(sub: argparse._SubParsersAction) -> argparse.ArgumentParser:  # type: ignore[type-arg]
    p = sub.add_parser("cv", help="cross-validate full / no-pretrain / no-aug / handcrafted on the same folds",
                       description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("cohort", type=Path, help="folder written by `gliograde ingest`, or a raw cohort (ingested into RUN/cohort)")
    p.add_argument("--out", type=Path, required=True, help="run folder (required)")
    p.add_argument("--folds", type=int, default=None, help="number of folds (default: 10)")
    p.add_argument("--protocol", choices=("honest", "paper", "site", "both"), default=None,
                   help="honest: patient-level, leak-free; paper: the study's leaky protocol; site: leave one site "
                        "out; both: honest + paper side by side (default: honest)")
    p.add_argument("--configs", default=None,
                   help="comma-separated from full, no-pretrain, no-aug, handcrafted, handcrafted-mlp "
                        "(default: full,no-pretrain,no-aug,handcrafted)")
    p.add_argument("--handcrafted-classifier", default=None,
                   help="logreg, logreg_l1, svm, rbf_svm, mlp (default: logreg)")
    p.add_argument("--n-boot", type=int, default=None, help="bootstrap resamples for confidence intervals (default: 2000)")
    add_train_flags(p, default_preset="modern")
    return p


def run(args: argparse.Namespace) -> int:
    from gliograde.experiment_run import run_cv_command

    result = run_cv_command(args)
    print(result.table)
    print(f"report: {result.report}")
    return 0
