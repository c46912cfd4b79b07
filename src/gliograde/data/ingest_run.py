"""Ingest as a run: ingest a cohort, then write its provenance (``config.yaml``, ``run.json``) and figures.

``config.yaml`` holds the ingest settings as an ``ingest:`` section (plus ``data``, the source, for the
record), so ``gliograde ingest DATA --config OUT/config.yaml`` replays the run and
:func:`gliograde.data.cohort.read_ingest_cfg` reads what a cohort was ingested with.

>>> # result = run_ingest(Path("../shared/data/tcga-lgg"), Path("runs/tcga"), IngestCfg(channels=("flair", "t1ce")))
>>> # result.manifest.head(); sorted(p.name for p in Path("runs/tcga").iterdir())[:3]
"""
from __future__ import annotations

import json
from pathlib import Path

from gliograde.config import IngestCfg
from gliograde.data.ingest import IngestResult, ingest
from gliograde.report.cohort import plot_examples, plot_tumour_areas
from gliograde.runinfo import write_run_info


def run_ingest(data: Path, out: Path, cfg: IngestCfg, *, figures: bool = True, progress: bool = True) -> IngestResult:
    """Ingest ``data`` into ``out`` and record config, versions, fingerprint, the patients left out and figures.

    Args:
        data: a cohort folder (or manifest CSV) in any layout :mod:`gliograde.data.layouts` reads.
        out: the cohort folder to write (new, or an earlier ingest's, which is replaced).
        cfg: how to read and preprocess it.
        figures: draw ``figures/examples_per_grade.png`` and ``figures/tumour_areas.png``.
        progress: show a progress bar.
    """
    result = ingest(data, out, cfg, progress=progress)
    write_run_info(out, command="ingest", config={"data": str(data), "ingest": cfg}, seed=None,
                   fingerprint=dict(result.fingerprint))
    (out / "skipped.json").write_text(json.dumps({"patients": result.skipped, "problems": result.problems}, indent=2))
    if figures:
        plot_examples(result.previews, out / "figures" / "examples_per_grade.png")
        plot_tumour_areas(result.manifest, out, out / "figures" / "tumour_areas.png")
    return result
