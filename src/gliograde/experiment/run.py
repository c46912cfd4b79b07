"""``gliograde cv`` as a library call: resolve settings, get the cohort, run the protocol(s), report."""
from __future__ import annotations

import argparse
import json
import logging
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from gliograde.config import CVProtocol, IngestCfg
from gliograde.data.dataset import MANIFEST, Cohort, load_cohort
from gliograde.experiment.core import Experiment, run_cv
from gliograde.presets import CV_DEFAULT_PRESET

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class CVResult:
    """What ``gliograde cv`` prints: ``metrics.json`` as a dict, its results table, the report path."""

    metrics: dict[str, Any]
    table: str
    report: Path


def cohort_for(path: Path, out: Path, ingest: IngestCfg | None = None, progress: bool = True) -> Cohort:
    """An ingested cohort as is; a raw cohort is ingested into ``out/cohort`` first (once)."""
    if (path / MANIFEST).is_file():
        if ingest is not None and ingest != IngestCfg():
            logger.info("%s is already ingested: the preset's ingest settings do not apply to it", path)
        return load_cohort(path)
    target = out / "cohort"
    if not (target / MANIFEST).is_file():
        from gliograde.data.ingest_run import run_ingest

        logger.info("%s is not an ingested cohort: ingesting it into %s", path, target)
        run_ingest(path, target, ingest or IngestCfg(), progress=progress)
    return load_cohort(target)


def run_cv_command(args: argparse.Namespace) -> CVResult:
    """Resolve the settings, get the cohort, run each protocol into ``args.out`` and write the report."""
    from gliograde.report.cv import results_table, write_report
    from gliograde.settings import resolve_cv, resolve_ingest

    cv, train, augment = resolve_cv(args)
    progress = not getattr(args, "quiet", False)
    cohort = cohort_for(args.cohort, args.out, resolve_ingest(args, CV_DEFAULT_PRESET), progress=progress)
    protocols: tuple[CVProtocol, ...] = ("honest", "paper") if cv.protocol == "both" else (cv.protocol,)
    for proto in protocols:
        out = args.out if proto == protocols[0] else args.out / "compare" / proto
        run_cv(Experiment(cohort, out, replace(cv, protocol=proto), train, augment, progress))
    report = write_report(args.out, n_boot=cv.n_boot, seed=cv.seed)
    metrics = json.loads((args.out / "metrics.json").read_text())  # includes selection.json (report.py)
    return CVResult(metrics=metrics, table=results_table(metrics), report=report)
