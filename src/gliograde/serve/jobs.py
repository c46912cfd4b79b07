"""The cases the server knows (uploads and run rows) and the bounded pool of processes that grades uploads.

Each upload gets its own folder under the work folder: ``<work>/<n>/in/`` (the files as received), the case
folder, and ``<work>/<n>/out/`` (a ``gliograde predict`` output folder of that one case). The pool is a
:class:`concurrent.futures.ProcessPoolExecutor` of ``workers`` processes (spawned: no forked copies of the
server's threads), each loading the bundle once; at most ``max_pending`` uploads wait or run at a time. A
worker that dies (a crash in a reader) fails only its case: the pool is replaced and the server keeps serving.
"""
from __future__ import annotations

import csv
import itertools
import json
import logging
import multiprocessing
import re
import shutil
import threading
import time
from concurrent.futures import Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from gliograde.config import PredictCfg
from gliograde.serve.runs import Row
from gliograde.serve.worker import grade_folder, init_worker, ready

logger = logging.getLogger(__name__)


@dataclass
class Case:
    """One worklist entry. ``files`` (public name -> server path) is never sent; the API serves by name."""

    id: str
    case: str
    source: str
    status: str  # grading | ok | error
    grade: int | None = None
    probabilities: dict[str, float] = field(default_factory=dict)
    unlike_training: bool | None = None
    label: int | None = None
    config: str | None = None
    message: str = ""
    prediction: dict[str, Any] | None = None
    viewer: dict[str, Any] | None = None
    files: dict[str, Path] = field(default_factory=dict)
    created: float = field(default_factory=time.time)
    seconds: float | None = None

    def summary(self) -> dict[str, Any]:
        """The worklist row."""
        top = max(self.probabilities.values(), default=None)
        return {"id": self.id, "case": self.case, "source": self.source, "status": self.status,
                "grade": self.grade, "probability": top, "probabilities": self.probabilities,
                "unlike_training": self.unlike_training, "label": self.label, "config": self.config,
                "message": self.message, "created": self.created}


def from_row(row: Row) -> Case:
    """A worklist entry for a run's row."""
    return Case(id=row.id, case=row.case, source=row.source, status=row.status, grade=row.grade,
                probabilities=row.probabilities, unlike_training=row.unlike_training, label=row.label,
                config=row.config, message=row.message, prediction=row.prediction, files=dict(row.files))


class Busy(Exception):
    """More uploads are waiting than the server takes (``max_pending``): retry later (HTTP 503)."""


class Cases:
    """Thread-safe registry of cases and the grading pool."""

    def __init__(self, bundle: Path, cfg: PredictCfg, workdir: Path, workers: int, max_pending: int,
                 scrub: list[str]) -> None:
        self.bundle, self.cfg, self.workdir = bundle, cfg, workdir
        self.workers, self.max_pending = workers, max_pending
        self._scrub = scrub
        self._lock = threading.Lock()
        self._cases: dict[str, Case] = {}
        self._order: list[str] = []
        self._numbers = itertools.count(1)
        self._pending = 0
        self._pool: ProcessPoolExecutor | None = None

    # ---- the pool ---------------------------------------------------------------------------------------------
    def start(self) -> None:
        with self._lock:
            if self._pool is None:
                self._pool = ProcessPoolExecutor(max_workers=self.workers,
                                                 mp_context=multiprocessing.get_context("spawn"),
                                                 initializer=init_worker, initargs=(str(self.bundle), self.cfg))
                for _ in range(self.workers):  # start the workers now (bundle loaded), not on the first upload
                    self._pool.submit(ready)

    def stop(self) -> None:
        with self._lock:
            pool, self._pool = self._pool, None
        if pool is not None:
            pool.shutdown(wait=True, cancel_futures=True)

    def new_folder(self) -> Path:
        """A fresh folder for one upload under the work folder."""
        folder = self.workdir / f"{next(self._numbers):06d}"
        (folder / "in").mkdir(parents=True)
        return folder

    def submit(self, folder: Path, case_folder: Path) -> Case:
        """Queue a case folder for grading; returns its worklist entry (status ``grading``).

        Raises:
            Busy: ``max_pending`` uploads are already waiting or running.
        """
        with self._lock:
            if self._pending >= self.max_pending:
                raise Busy(f"{self._pending} uploads are being graded; try again in a moment")
            self._pending += 1
            pool = self._pool
        if pool is None:
            self.start()
            pool = self._pool
        assert pool is not None
        entry = Case(id=f"u{folder.name}", case="(reading)", source="upload", status="grading")
        with self._lock:
            self._cases[entry.id] = entry
            self._order.append(entry.id)
        t0 = time.perf_counter()
        try:
            future = pool.submit(grade_folder, str(case_folder), str(folder / "out"))
        except BrokenProcessPool:  # a worker died since the last case: a fresh pool takes this one
            self._replace_pool(pool)
            pool = self._pool
            assert pool is not None
            future = pool.submit(grade_folder, str(case_folder), str(folder / "out"))
        used = pool
        future.add_done_callback(lambda f: self._done(entry, f, folder, t0, used))
        return entry

    def _replace_pool(self, broken: ProcessPoolExecutor) -> None:
        with self._lock:
            if self._pool is broken:
                self._pool = None
        broken.shutdown(wait=False, cancel_futures=True)
        self.start()

    def _done(self, entry: Case, future: Future[dict[str, Any]], folder: Path, t0: float,
              pool: ProcessPoolExecutor) -> None:
        try:
            doc = future.result()
        except BrokenProcessPool:
            logger.warning("%s: the worker grading it stopped; workers restarted", entry.id)
            doc = {"case": entry.id, "status": "error", "message": "the worker grading this case stopped "
                   "unexpectedly (a crash while reading it); the server restarted its workers"}
            self._replace_pool(pool)
        except Exception as err:  # any other failure is this case's error; the server goes on
            logger.warning("%s: grading failed: %s", entry.id, type(err).__name__)
            doc = {"case": entry.id, "status": "error", "message": f"grading failed ({type(err).__name__})"}
        self._finish(entry, doc, folder, time.perf_counter() - t0)

    def _finish(self, entry: Case, doc: dict[str, Any], folder: Path, seconds: float) -> None:
        pred = doc.get("prediction") or {}
        out = folder / "out" / str(doc.get("case", ""))
        files: dict[str, Path] = {}
        if (out / "overlay.png").is_file():
            files["overlay.png"] = out / "overlay.png"
        viewer = doc.get("viewer")
        public: dict[str, Any] | None = None
        if viewer:
            names = {f"image-{k}{_suffix(Path(p))}": Path(p) for k, p in viewer["images"].items()}
            names["roi.nii.gz"] = Path(viewer["roi"])
            names["outline.nii.gz"] = Path(viewer["outline"])
            if viewer.get("heat"):
                names["heat.nii.gz"] = Path(viewer["heat"])
            files.update(names)
            public = {"images": {k: f"image-{k}{_suffix(Path(p))}" for k, p in viewer["images"].items()},
                      "default": viewer["default"], "roi": "roi.nii.gz", "outline": "outline.nii.gz",
                      "heat": "heat.nii.gz" if viewer.get("heat") else None,
                      "slice_voxel": viewer["slice_voxel"], "slice_mm": viewer["slice_mm"],
                      "axial_axis": viewer["axial_axis"]}
        ev = pred.get("evidence") or {}
        with self._lock:
            entry.case = str(doc.get("case") or entry.id)  # predict's alias: the same case gets the same name
            entry.status = str(doc.get("status", "error"))
            entry.message = self.clean(str(doc.get("message") or doc.get("viewer_error") or ""))
            entry.grade = pred.get("grade")
            entry.probabilities = {str(k): float(v) for k, v in (pred.get("probabilities") or {}).items()}
            entry.unlike_training = ev.get("unlike_training")
            entry.prediction, entry.viewer, entry.files = pred or None, public, files
            entry.seconds = round(seconds, 3)
            self._pending -= 1

    def restore(self, fingerprint: str) -> int:
        """List again the uploads a previous server left in the work folder (``--workdir``) and graded with the
        same bundle (``fingerprint``, the model file's sha256); returns how many. Others stay on disk, unlisted.

        Each upload folder holds a predict run of one case (``out/summary.csv``, ``prediction.json``, the
        viewer's ``viewer.json``); new uploads are numbered after the highest folder found.
        """
        folders = sorted(p for p in self.workdir.iterdir() if p.is_dir() and re.fullmatch(r"\d{6}", p.name))
        self._numbers = itertools.count(int(folders[-1].name) + 1 if folders else 1)
        restored = 0
        for folder in folders:
            summary = folder / "out" / "summary.csv"
            if not summary.is_file():
                continue
            with open(summary, newline="") as f:
                row = next(csv.DictReader(f), None)
            if row is None:
                continue
            config = folder / "out" / "config.yaml"  # the predict run's settings name the bundle's sha256
            used = (yaml.safe_load(config.read_text()) or {}).get("bundle_sha256") if config.is_file() else None
            if used != fingerprint:
                logger.info("%s: graded by another bundle; left unlisted", folder.name)
                continue
            case_dir = folder / "out" / row["case"]
            doc: dict[str, Any] = {"case": row["case"], "status": row["status"], "message": row.get("message", "")}
            if (case_dir / "prediction.json").is_file():
                doc["prediction"] = json.loads((case_dir / "prediction.json").read_text())
            if (case_dir / "viewer" / "viewer.json").is_file():
                doc["viewer"] = json.loads((case_dir / "viewer" / "viewer.json").read_text())
            entry = Case(id=f"u{folder.name}", case="", source="upload", status="grading",
                         created=summary.stat().st_mtime)
            with self._lock:
                self._cases[entry.id] = entry
                self._order.append(entry.id)
                self._pending += 1
            self._finish(entry, doc, folder, 0.0)
            entry.seconds = None
            restored += 1
        return restored

    def clean(self, message: str) -> str:
        """``message`` with server paths (the work folder, the bundle) replaced: the browser never sees them."""
        for text in sorted(self._scrub, key=len, reverse=True):
            message = message.replace(text, "…")
        return message

    # ---- the registry -----------------------------------------------------------------------------------------
    def add(self, entry: Case) -> None:
        with self._lock:
            self._cases[entry.id] = entry
            self._order.append(entry.id)

    def remove(self, case_id: str) -> str | None:
        """Forget an upload and delete its folder (files, prediction, viewer volumes); None when done, else why not."""
        with self._lock:
            entry = self._cases.get(case_id)
            if entry is None:
                return "no such case"
            if entry.source != "upload":
                return "a run's case: remove it from the run folder instead"
            if entry.status == "grading":
                return "still being graded; remove it when it has finished"
            del self._cases[case_id]
            self._order.remove(case_id)
        shutil.rmtree(self.workdir / case_id.removeprefix("u"), ignore_errors=True)
        return None

    def get(self, case_id: str) -> Case | None:
        with self._lock:
            return self._cases.get(case_id)

    def all(self) -> list[Case]:
        with self._lock:
            return [self._cases[i] for i in self._order]


def _suffix(path: Path) -> str:
    return ".nii.gz" if path.name.lower().endswith(".nii.gz") else path.suffix.lower()
