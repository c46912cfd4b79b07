"""The worklist rows of existing run folders: ``gliograde predict`` (summary.csv + per-case folders),
``gliograde validate`` and ``gliograde cv`` (predictions.csv, metrics.json, report.html).

Patients are shown by alias (:func:`gliograde.prediction.cases.case_alias`) unless ``keep_ids``: a predict run's
``case-<hash>`` names are aliases already; a validate or cv run's ``patient_id`` is aliased here. Runs are named
``run1``, ``run2``, ... in the order given (their folder names only with ``keep_ids``).

>>> is_alias("case-0123456789"), is_alias("TCGA_CS_4941")
(True, False)
"""
from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from gliograde.errors import InputError
from gliograde.prediction.cases import case_alias

_ALIAS = re.compile(r"^case-[0-9a-f]{10}(-\d+)?$")
_PROBA = re.compile(r"^p_(\d+)$")


def is_alias(name: str) -> bool:
    """True for a name ``gliograde predict`` gave (``case-<sha256[:10]>``, ``-<n>`` for repeats)."""
    return bool(_ALIAS.match(name))


@dataclass
class Row:
    """One worklist row read from a run (public fields only, plus where its files are, never sent)."""

    id: str
    case: str
    source: str
    status: str
    grade: int | None
    probabilities: dict[str, float]
    unlike_training: bool | None = None
    label: int | None = None
    config: str | None = None
    message: str = ""
    files: dict[str, Path] = field(default_factory=dict)
    prediction: dict[str, Any] | None = None


@dataclass
class Run:
    """A run folder given to the server: its public name, command and rows."""

    id: str
    name: str
    command: str
    folder: Path
    rows: list[Row]

    @property
    def report(self) -> Path | None:
        path = self.folder / "report.html"
        return path if path.is_file() else None


def _number(x: Any) -> float | None:
    try:
        v = float(x)
    except (TypeError, ValueError):
        return None
    return None if math.isnan(v) else v


def _probs(row: pd.Series, columns: list[str]) -> dict[str, float]:
    return {m.group(1): v for c in columns if (m := _PROBA.match(c)) and (v := _number(row[c])) is not None}


def _flag(value: Any) -> bool | None:
    if isinstance(value, str):
        return value.strip().lower() == "true" if value.strip() else None
    return None if value is None or (isinstance(value, float) and math.isnan(value)) else bool(value)


def _name(raw: str, keep_ids: bool) -> str:
    return raw if keep_ids or is_alias(raw) else case_alias(raw, keep_ids=False)


def _predict_rows(run_id: str, label: str, folder: Path, keep_ids: bool) -> list[Row]:
    df = pd.read_csv(folder / "summary.csv", dtype={"case": str})
    rows = []
    for i, r in df.iterrows():
        raw = str(r["case"])
        case_dir = folder / raw
        doc_path = case_dir / "prediction.json"
        doc = json.loads(doc_path.read_text()) if doc_path.is_file() else None
        files = {"overlay.png": case_dir / "overlay.png"} if (case_dir / "overlay.png").is_file() else {}
        ev = (doc or {}).get("evidence") or {}
        grade = _number(r.get("grade"))
        rows.append(Row(id=f"{run_id}-{i}", case=_name(raw, keep_ids), source=label, status=str(r["status"]),
                        grade=None if grade is None else int(grade), probabilities=_probs(r, list(df.columns)),
                        unlike_training=ev.get("unlike_training"), files=files, prediction=doc,
                        message="" if r["status"] == "ok" else str(r.get("message") or "")))
    return rows


def _table_rows(run_id: str, label: str, folder: Path, keep_ids: bool) -> list[Row]:
    df = pd.read_csv(folder / "predictions.csv", dtype={"patient_id": str})
    if "repeat" in df.columns:  # repeated CV: the first repeat, as the report shows
        df = df[df["repeat"] == 0]
    cols = list(df.columns)
    rows = []
    for i, r in df.reset_index(drop=True).iterrows():
        pred, lab = _number(r.get("pred")), _number(r.get("label"))
        rows.append(Row(id=f"{run_id}-{i}", case=_name(str(r["patient_id"]), keep_ids), source=label, status="ok",
                        grade=None if pred is None else int(pred), probabilities=_probs(r, cols),
                        unlike_training=_flag(r.get("unlike_training")),
                        label=None if lab is None else int(lab),
                        config=str(r["config"]) if "config" in cols else None))
    return rows


def command_of(folder: Path) -> str:
    """``predict``, ``validate`` or ``cv``: from ``run.json``'s command, else from which tables the folder holds.

    Raises:
        InputError: the folder is none of these runs.
    """
    info = folder / "run.json"
    if info.is_file():
        try:
            command = str(json.loads(info.read_text()).get("command", ""))
        except json.JSONDecodeError:
            command = ""
        if command in ("predict", "validate", "cv"):
            return command
    if (folder / "summary.csv").is_file():
        return "predict"
    if (folder / "predictions.csv").is_file():
        cols = pd.read_csv(folder / "predictions.csv", nrows=0).columns
        return "cv" if "config" in cols else "validate"
    raise InputError(f"{folder}: not a predict, validate or cv run (no summary.csv or predictions.csv); give "
                     "the --out folder of one of those commands")


def read_run(folder: Path, number: int, keep_ids: bool) -> Run:
    """The worklist rows of one run folder (``number`` names it ``run<number>``).

    Raises:
        InputError: not a run folder, or its table is unreadable.
    """
    folder = Path(folder)
    if not folder.is_dir():
        raise InputError(f"{folder}: no such run folder; give a predict, validate or cv --out folder")
    command = command_of(folder)
    run_id = f"run{number}"
    name = f"{run_id} ({command}{': ' + folder.name if keep_ids else ''})"
    try:
        rows = (_predict_rows if command == "predict" else _table_rows)(run_id, name, folder, keep_ids)
    except (KeyError, ValueError, pd.errors.ParserError) as err:
        table = "summary.csv" if command == "predict" else "predictions.csv"
        raise InputError(f"{folder / table}: unreadable ({type(err).__name__}: {err}); rerun "
                         f"`gliograde {command}` to rewrite it") from err
    return Run(id=run_id, name=name, command=command, folder=folder, rows=rows)
