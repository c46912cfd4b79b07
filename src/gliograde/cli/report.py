"""``gliograde report RUN``: regenerate metrics.json, figures and report.html from a run's artefacts.

    gliograde report runs/demo                                  # the run's own n_boot, seed and reference
    gliograde report runs/honest --compare runs/paper --n-boot 2000
"""
from __future__ import annotations

import argparse
from pathlib import Path


def add_parser(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> argparse.ArgumentParser:
    p = subparsers.add_parser(
        "report",
        help="metrics, statistics and an offline HTML report from a cv run folder",
        description="Read RUN/predictions.csv (and folds.json, history/, run.json) and write RUN/metrics.json, "
                    "RUN/figures/*.png and a self-contained RUN/report.html. Never trains.",
    )
    p.add_argument("run_dir", type=Path, metavar="RUN", help="run folder written by `gliograde cv`")
    p.add_argument("--compare", type=Path, default=None, metavar="OTHER_RUN",
                   help="another run folder (e.g. the paper protocol) shown side by side (default: none)")
    p.add_argument("--n-boot", type=int, default=None,
                   help="bootstrap resamples for the CIs (default: the run's, cv.n_boot of RUN/config.yaml)")
    p.add_argument("--reference", default=None,
                   help="config the DeLong tests compare against (default: the last report's, else full)")
    p.add_argument("--boot-seed", type=int, default=None,
                   help="seed of the bootstrap resampling (default: the run's, cv.seed of RUN/config.yaml)")
    return p


def run(args: argparse.Namespace) -> int:
    import json

    from gliograde.errors import InputError
    from gliograde.report.cv import write_report
    from gliograde.report.format import results_table

    if args.n_boot is not None and args.n_boot < 1:
        raise InputError(f"--n-boot must be >= 1, got {args.n_boot}")
    path = write_report(args.run_dir, args.compare, n_boot=args.n_boot, reference=args.reference,
                        seed=args.boot_seed)
    metrics = json.loads((args.run_dir / "metrics.json").read_text())
    print(results_table(metrics))  # the other protocols' tables follow the main one
    where = metrics.get("settings_from") or {}
    print(f"\nbootstrap: {metrics['n_boot']} resamples, seed {metrics['seed']} ({where.get('n_boot', 'n/a')}); "
          f"DeLong reference {metrics['reference']} ({where.get('reference', 'n/a')})")
    print(f"\nreport: {path}")
    return 0
