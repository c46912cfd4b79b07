"""``gliograde validate BUNDLE DATA --out DIR``: external validation on a labelled cohort the model never saw.

    gliograde validate runs/model ../hospital_b --out runs/val_b              # raw cohort, any ingest layout
    gliograde validate runs/model runs/hospital_b_cohort --out runs/val_b     # already ingested (same settings)
    gliograde validate runs/model scans/ --labels grades.csv --out runs/val_b --bootstrap 5000
    gliograde validate runs/model ../shared/data/tcga-lgg --sites EZ --out runs/val_ez   # the site not trained on

DATA is ingested with the model's own settings (those stored in BUNDLE/model.json), every patient is
graded, and DIR gets predictions.csv, metrics.json (AUC with a bootstrap 95 % CI over patients, accuracy,
balanced accuracy, per-grade sensitivity/specificity, Brier, ECE, confusion, per-site AUC), figures/,
report.html, config.yaml and run.json. Grades the model does not know are left out with a warning. An
AUC needs at least --min-per-grade patients of every grade, else it is reported undefined with the reason.
``--config DIR/config.yaml`` replays a validation's settings (its ``validate:`` section; precedence:
``--config`` YAML < flags); BUNDLE, DATA and --labels are given again. ``--executor ray`` grades the ingested
patients in Ray tasks (chunks of whole inference batches; ingest runs here; docs/distributed.md): the same files.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from gliograde.cli._common import (
    EXECUTOR_FLAGS,
    add_config,
    add_executor,
    add_out,
    add_write_aliases,
    names,
    print_config,
    resolve_args,
)

#: Parsed-argument name -> the RunConfig key it sets.
FLAGS = {"bootstrap": ("validate.n_boot",),
         **{name: (f"validate.{name}",) for name in ("keep_ids", "min_per_grade", "seed", "skip_bad", "write_aliases",
                                                    "allow_overlap", "sites")},
         **EXECUTOR_FLAGS}


def add_parser(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> argparse.ArgumentParser:
    p = subparsers.add_parser("validate", help="external validation of a trained bundle on a labelled cohort",
                              description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("bundle", type=Path, help="bundle folder written by `gliograde train`")
    p.add_argument("data", type=Path,
                   help="labelled cohort: a folder `gliograde ingest` reads (labels.csv + slices / NIfTI / DICOM), "
                        "a manifest CSV, or an ingested cohort folder")
    add_out(p, help_="folder for predictions.csv, metrics.json, figures/, report.html and run.json")
    p.add_argument("--labels", type=Path, default=None,
                   help="labels CSV (patient_id, who_grade[, site]) used instead of DATA's own: its grades, and only "
                        "the patients it lists (default: DATA's)")
    p.add_argument("--sites", type=names, default=None, metavar="A[,B]",
                   help="validate on the patients of these acquisition sites only, e.g. the one a model was not "
                        "trained on (default: every site)")
    p.add_argument("--keep-ids", action="store_true", default=None,
                   help="write DICOM patients' ids as labelled (default: off, case-<sha256> for DICOM patients; "
                        "other patients keep the ids of your labels)")
    add_write_aliases(p, "the name of each patient in the outputs -> patient id, input folder")
    p.add_argument("--bootstrap", type=int, default=None, metavar="N",
                   help="bootstrap resamples over patients for the 95%% CIs, 0 = none (default: 2000)")
    p.add_argument("--min-per-grade", type=int, default=None, metavar="K",
                   help="patients of every grade needed to report an AUC (default: 5)")
    p.add_argument("--seed", type=int, default=None, help="bootstrap seed (default: 0)")
    p.add_argument("--skip-bad", action="store_true", default=None,
                   help="leave out patients whose files cannot be ingested, and list them (default: stop with "
                        "every problem listed)")
    p.add_argument("--allow-overlap", action="store_true", default=None,
                   help="go on when the cohort shares patients with the model's training data (default: refuse, "
                        "exit 2); every output then says the results are not an external validation")
    add_executor(p, "chunk of patients")
    add_config(p)
    return p


def _row(cells: list[str], widths: list[int]) -> str:
    return "  ".join(c.ljust(w) for c, w in zip(cells, widths, strict=True)).rstrip()


def _print_summary(res: Any) -> None:
    from gliograde.report.validation import (
        auc_reasons,
        calibration_line,
        shift_line,
        summary_rows,
        training_lines,
    )

    m = res.metrics
    rows = summary_rows(m)
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    overlap = m.get("training_overlap") or {}
    if overlap.get("n_shared"):
        print(f"WARNING: {m['warnings'][0]}")
    print(f"external validation of {m['model']['path']} ({m['model']['kind']}, grades "
          f"{', '.join(map(str, m['classes']))}); AUC {m['auc']['kind']}")
    print(_row(rows[0], widths))
    print(_row(["-" * w for w in widths], widths))
    for r in rows[1:]:
        print(_row(r, widths))
    print(f"Brier {m['brier']:.3f}, ECE {m['ece']:.3f}")
    if m.get("skipped"):
        print(f"left out {len(m['skipped'])} patient(s) that could not be ingested (--skip-bad): "
              f"{', '.join(m['skipped'][:10])}")
    # left-out grades: the library's warning line
    for line in [calibration_line(m), shift_line(m), *auc_reasons(m), *training_lines(m)]:
        if line:
            print(line)
    print(f"wrote {res.out / 'predictions.csv'}, metrics.json, report.html "
          f"(ingest {m['seconds']['ingest']:.1f} s, predict {m['seconds']['predict']:.1f} s)")


def run(args: argparse.Namespace) -> int:
    from gliograde import api  # loads torch: only when the command runs

    cfg = resolve_args("validate", args, FLAGS)
    if args.print_config:
        return print_config(cfg, "validate")
    res = api.validate(args.bundle, args.data, args.out, cfg, labels=args.labels, progress=not args.quiet,
                       executor=cfg.executor)
    _print_summary(res)
    from gliograde.prediction.run import failures_line  # G (issue 19): the exit status predict shares

    n_skipped = len(res.metrics.get("skipped") or [])
    if failed := failures_line(n_skipped, n_skipped + int(res.metrics["n"]), "patient",
                               "could not be ingested, left out by --skip-bad; listed in metrics.json"):
        print(failed, file=sys.stderr)
        return 1
    return 0
