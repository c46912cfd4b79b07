"""Ingest as a run: ingest a cohort, then write its provenance (``config.yaml``, ``run.json``) and figures.

``config.yaml`` holds the ingest settings as an ``ingest:`` section (plus ``data``, the source, for the
record), so ``gliograde ingest DATA --config OUT/config.yaml`` replays the run and
:func:`gliograde.data.cohort.read_ingest_cfg` reads what a cohort was ingested with.

The whole cohort (manifest, cache, provenance, figures) is written into a sibling staging folder and swapped in
for ``out`` with one rename (:func:`gliograde.fsio.swap_in`), so ``out`` holds either the previous complete
cohort or the new one, never new crops with old provenance; ``out`` is locked for the run
(:func:`gliograde.fsio.run_folder`), so a second ingest into it is refused.

>>> # result = run_ingest(Path("../shared/data/tcga-lgg"), Path("runs/tcga"), IngestCfg(channels=("flair", "t1ce")))
>>> # result.manifest.head(); sorted(p.name for p in Path("runs/tcga").iterdir())[:3]
"""
from __future__ import annotations

import os
import shutil
from pathlib import Path

from gliograde.config import IngestCfg
from gliograde.data.dataset import MANIFEST, is_ingested
from gliograde.data.ingest import IngestResult, ingest
from gliograde.errors import InputError
from gliograde.fsio import LOCK_NAME, atomic_write_json, run_folder, swap_in
from gliograde.report.cohort import plot_examples, plot_tumour_areas
from gliograde.runinfo import write_run_info

#: What an ingest writes into its folder; anything else a user put there is carried over to the new cohort.
INGEST_ITEMS = frozenset({MANIFEST, "cache", "config.yaml", "run.json", "skipped.json", "figures", LOCK_NAME})


def run_ingest(data: Path, out: Path, cfg: IngestCfg, *, figures: bool = True, progress: bool = True) -> IngestResult:
    """Ingest ``data`` into ``out`` and record config, versions, fingerprint, the patients left out and figures.

    Args:
        data: a cohort folder (or manifest CSV) in any layout :mod:`gliograde.data.layouts` reads.
        out: the cohort folder to write (new, or an earlier ingest's, which is replaced as a whole).
        cfg: how to read and preprocess it.
        figures: draw ``figures/examples_per_grade.png`` and ``figures/tumour_areas.png``.
        progress: show a progress bar.

    Raises:
        InputError: ``out`` is the input or inside it, is a file or not writable, holds something other than a
            previous ingest, or another command is writing it.
    """
    data, out = Path(data), Path(out)
    with run_folder(out, "ingest", inputs=[data]):
        if any(p.name != LOCK_NAME for p in out.iterdir()) and not is_ingested(out):
            raise InputError(f"{out}: folder exists, is not empty and holds no previous ingest; "
                             "choose another --out folder")
        staging = out.parent / f".{out.name}.ingest-{os.getpid()}"
        shutil.rmtree(staging, ignore_errors=True)
        try:
            result = ingest(data, staging, cfg, progress=progress)
            write_run_info(staging, command="ingest", config={"data": str(data), "ingest": cfg}, seed=None,
                           fingerprint=dict(result.fingerprint))
            atomic_write_json(staging / "skipped.json", {"patients": result.skipped, "problems": result.problems})
            if figures:
                plot_examples(result.previews, staging / "figures" / "examples_per_grade.png")
                plot_tumour_areas(result.manifest, staging, staging / "figures" / "tumour_areas.png")
            for item in sorted(out.iterdir()):  # a user's own files (notes) stay with the cohort
                if item.name not in INGEST_ITEMS:
                    item.replace(staging / item.name)
            swap_in(staging, out, "ingest")
        finally:
            shutil.rmtree(staging, ignore_errors=True)
    return result
