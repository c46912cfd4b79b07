"""``gliograde cv`` as a library call: run the protocol(s) on an opened cohort, then write the report.

    gliograde cv runs/tcga --out runs/cv-tcga --preset quick --folds 10          # honest (default)
    gliograde cv runs/synth --out runs/cv-paper --protocol paper                 # the study's leaky protocol
    gliograde cv runs/synth --out runs/cv --protocol both                        # honest + paper side by side
    gliograde cv runs/tcga --out runs/rep --preset recommended --repeats 5       # 5 x 10 folds, seeds 0..4
    gliograde cv runs/tcga --out runs/perm --protocol both --permute-labels 20   # + 20 runs on shuffled grades

>>> # from gliograde.data.cohort import open_cohort; from gliograde.settings import resolve
>>> # cfg = resolve("cv", preset="recommended"); cohort = open_cohort(Path("data"), Path("runs/cv"), cfg.ingest)
>>> # result = run_cv(cohort, Path("runs/cv"), cfg); print(result.table)
"""
from __future__ import annotations

import json
import logging
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import pandas as pd

from gliograde.config import CVProtocol, RunConfig
from gliograde.data.dataset import Cohort
from gliograde.errors import TasksFailed
from gliograde.experiment.context import Experiment
from gliograde.experiment.core import run_protocol
from gliograde.experiment.estimate import log_estimate
from gliograde.experiment.features import FeatureStore
from gliograde.experiment.permute import PERMUTATION_JSON, run_permutations
from gliograde.report.cv import write_report
from gliograde.report.format import results_table
from gliograde.report.permutation import leak_lines, read_permutation, summary_lines

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class CVResult:
    """What ``gliograde cv`` prints: ``metrics.json`` as a dict, its results table, the report path."""

    metrics: dict[str, Any]
    table: str
    report: Path


def run_cv(cohort: Cohort, out: Path, cfg: RunConfig, *, progress: bool = True) -> CVResult:
    """Run (or resume) every protocol of ``cfg.cv`` on ``cohort`` into ``out`` and write the report.

    ``protocol="both"`` runs ``honest`` into ``out`` and ``paper`` into ``out/compare/paper``; both take
    their features from one store (``out/work``), so each feature family is computed once per run.

    Args:
        cohort: an ingested cohort (:func:`gliograde.data.cohort.open_cohort`).
        out: the run folder.
        cfg: the resolved settings (``cfg.cv`` the experiment, ``cfg.train``/``cfg.augment`` its CNNs).
        progress: show progress bars.

    Returns:
        :class:`CVResult` (``metrics.json`` includes ``selection.json`` when a configuration selects).

    Raises:
        TasksFailed: units still failing after their retries, one line each (every protocol's other units ran
            and were written; no report then); rerunning runs only these.
    """
    out = Path(out)
    protocols: tuple[CVProtocol, ...] = ("honest", "paper") if cfg.cv.protocol == "both" else (cfg.cv.protocol,)
    log_estimate(cohort, cfg)  # a long run says how long it may take before it starts
    features = FeatureStore(cohort, out / "work")
    failed: list[str] = []
    total = 0
    real: dict[str, pd.DataFrame] = {}
    for proto in protocols:
        where = out if proto == protocols[0] else out / "compare" / proto
        try:
            real[proto] = run_protocol(Experiment(cohort, where, replace(cfg, cv=replace(cfg.cv, protocol=proto)),
                                                  features, progress))
        except TasksFailed as err:  # the next protocol's units still run; all failures are reported at the end
            lines = err.failures if len(protocols) == 1 else [f"{proto} {line}" for line in err.failures]
            failed += lines
            total += err.total
    if failed:
        raise TasksFailed("units", total, failed, "rerun the same command to run only these")
    if cfg.cv.permute_labels:  # the label-permutation check: the same protocols on shuffled grades
        run_permutations(cohort, out, cfg, features, protocols, real, progress=progress)
    elif (out / PERMUTATION_JSON).is_file():  # an earlier run's check would be reported as this run's
        (out / PERMUTATION_JSON).unlink()
        logger.info("%s: removed, this run has no --permute-labels (its shuffled runs stay in %s and are reused "
                    "when it is given again)", out / PERMUTATION_JSON, out / "permute")
    report = write_report(out, n_boot=cfg.cv.n_boot, seed=cfg.cv.seed)
    metrics = json.loads((out / "metrics.json").read_text())
    table = results_table(metrics)
    doc = read_permutation(out)
    if doc:  # the label-permutation check, one line per protocol and configuration, under the table
        table += "\n\nlabel permutation:\n" + "\n".join([*summary_lines(doc), *leak_lines(doc)])
    return CVResult(metrics=metrics, table=table, report=report)

