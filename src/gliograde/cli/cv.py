"""``gliograde cv COHORT --out RUN``: the cross-validated experiment, its ablations and its report.

    gliograde cv runs/tcga --out runs/cv --preset quick                 # honest protocol, 10 folds, 4 configs
    gliograde cv ../shared/data/tcga-lgg --out runs/cv --preset quick   # a raw cohort is ingested first
    gliograde cv runs/synth --out runs/cv --protocol both --folds 5     # honest + the study's leaky protocol
    gliograde cv runs/tcga --out runs/site --protocol site              # leave one hospital out
    gliograde cv ../shared/data/tcga-lgg --out runs/rec --preset recommended   # best real-data recipe
    gliograde cv ../shared/data/tcga-lgg --out runs/rep --preset recommended --repeats 5   # 5 x 10 folds

A preset may carry ingest settings (used when COHORT is raw) and CV defaults: ``recommended`` ingests
T1, FLAIR and T1c scaled by the brain outside the tumour and runs the ``radiomics`` configuration, whose
classifier and feature count are chosen inside each training fold (``selection.json``).

``--repeats R`` repeats the cross-validation on R different patient splits (fold seeds SEED..SEED+R-1),
so a result is not one lucky split: the tables stay those of repeat 0 (the single run), and metrics.json,
the printed table and report.html add each repeat's pooled AUC and accuracy with their mean, SD, min, max.

Rerunning the same command resumes: finished (configuration, fold) units are skipped.
"""
from __future__ import annotations

import argparse
from pathlib import Path

from gliograde.cli._common import add_features, add_train_flags
from gliograde.presets import CV_DEFAULT_PRESET as DEFAULT_PRESET


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> argparse.ArgumentParser:
    p = sub.add_parser("cv", help="cross-validate full / no-pretrain / no-aug / handcrafted on the same folds",
                       description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("cohort", type=Path,
                   help="folder written by `gliograde ingest`, or a raw cohort (ingested into RUN/cohort)")
    p.add_argument("--out", type=Path, required=True, help="run folder (required)")
    p.add_argument("--folds", type=int, default=None, help="number of folds (default: 10)")
    p.add_argument("--protocol", choices=("honest", "paper", "site", "both"), default=None,
                   help="honest: patient-level, leak-free; paper: the study's leaky protocol; site: leave one site "
                        "out; both: honest + paper side by side (default: honest)")
    p.add_argument("--configs", default=None,
                   help="comma-separated from full, no-pretrain, no-aug, handcrafted, handcrafted-mlp, radiomics, "
                        "fusion (default: the preset's, else full,no-pretrain,no-aug,handcrafted)")
    p.add_argument("--handcrafted-classifier", default=None,
                   help="logreg, logreg_l1, svm, rbf_svm, mlp (default: logreg)")
    p.add_argument("--n-boot", type=int, default=None,
                   help="bootstrap resamples for confidence intervals (default: 2000)")
    p.add_argument("--selection", choices=("inner_cv", "inner_split", "none"), default=None,
                   help="how radiomics/fusion choose classifier and feature count inside each training fold "
                        "(default: inner_cv, 5 inner folds)")
    p.add_argument("--repeats", type=int, default=None, metavar="R",
                   help="repeated CV: R splits with fold seeds SEED..SEED+R-1, reported as mean ± SD (min-max) "
                        "of the pooled AUC; not with --protocol site (default: 1)")
    add_train_flags(p, default_preset=DEFAULT_PRESET)
    add_features(p)
    return p


def run(args: argparse.Namespace) -> int:
    from gliograde.experiment.run import run_cv_command

    result = run_cv_command(args)
    print(result.table)
    print(f"report: {result.report}")
    return 0
