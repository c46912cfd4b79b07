"""Readers of a run folder's artefacts, shared by the CV page, its figures and the validation page.

``predictions.csv`` (checked), ``folds.json``/``run.json`` (JSON, empty when absent) and the training
histories ``history/<config>/fold*.csv``. Pure reads: nothing here writes or plots.

>>> ordered(["paper", "honest", "x"], PROTOCOL_ORDER)
['honest', 'paper', 'x']
"""
from __future__ import annotations

import json
import logging
import re
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd

from gliograde.errors import GliogradeError, InputError

logger = logging.getLogger(__name__)

CONFIG_ORDER = ("full", "no-pretrain", "no-aug", "handcrafted")
PROTOCOL_ORDER = ("honest", "site", "paper")
REQUIRED_COLUMNS = ("patient_id", "fold", "config", "label")
_PROBA = re.compile(r"^p_(\d+)$")


class RunNotFoundError(GliogradeError, FileNotFoundError):
    """A run folder lacks predictions.csv; the message says which command writes it."""


def load_predictions(run_dir: Path, *, all_repeats: bool = False) -> tuple[pd.DataFrame, tuple[int, ...]]:
    """Read and check ``run_dir/predictions.csv``.

    Args:
        run_dir: the run folder.
        all_repeats: keep the rows of every repeat of a repeated CV (``repeat`` column, int). By default
            only repeat 0 is kept and the ``repeat`` column dropped, so the table reads like a single run's.

    Returns:
        The table (``patient_id`` as str, ``fold`` and ``label`` as int, a ``protocol`` column filled from
        ``folds.json`` when absent) and the grades, sorted, one per ``p_<grade>`` column.

    Raises:
        RunNotFoundError: no predictions.csv. InputError: missing columns, unknown labels, bad probabilities.
    """
    path = Path(run_dir) / "predictions.csv"
    if not path.is_file():
        raise RunNotFoundError(f"{path} not found; run `gliograde cv COHORT --out {run_dir}` first")
    df = pd.read_csv(path, dtype={"patient_id": str, "config": str})
    missing = [c for c in REQUIRED_COLUMNS if c not in df.columns]
    classes = tuple(sorted(int(m.group(1)) for c in df.columns if (m := _PROBA.match(str(c)))))
    if missing or len(classes) < 2:
        raise InputError(f"{path}: missing columns {missing or []} or fewer than 2 p_<grade> columns "
                         f"(found {list(df.columns)}); expected {list(REQUIRED_COLUMNS)} + p_<grade> per grade")
    pcols = [f"p_{c}" for c in classes]
    proba = df[pcols].to_numpy(dtype=np.float64)
    if not np.isfinite(proba).all() or np.abs(proba.sum(axis=1) - 1).max() > 1e-3:
        raise InputError(f"{path}: probabilities in {pcols} are missing or do not sum to 1 on every row; "
                         "write softmax outputs, one column per grade")
    if df.empty or df["label"].isna().any():
        raise InputError(f"{path}: no rows, or rows without a label; rerun `gliograde cv` to rewrite it")
    bad = sorted(set(df["label"].unique().tolist()) - set(classes))
    if bad:
        raise InputError(f"{path}: labels {bad} have no p_<grade> column (grades {classes}); fix the label column")
    n_labels = df.groupby("patient_id")["label"].nunique()
    if (n_labels > 1).any():
        raise InputError(f"{path}: patients {n_labels[n_labels > 1].index.tolist()[:5]} have two different "
                         "labels; one grade per patient is expected, fix the label column")
    if "pred" in df.columns:
        n_diff = int((df["pred"].to_numpy() != np.asarray(classes)[proba.argmax(axis=1)]).sum())
        if n_diff:
            logger.warning("%s: %d rows have a 'pred' other than the most probable grade; metrics use the "
                           "most probable grade", path, n_diff)
    if "protocol" not in df.columns:
        df["protocol"] = read_json(Path(run_dir) / "folds.json").get("protocol", "unknown")
    df["protocol"] = df["protocol"].fillna("unknown").astype(str)
    if "repeat" in df.columns:
        if df["repeat"].isna().any() or (df["repeat"] < 0).any():
            raise InputError(f"{path}: the repeat column has empty or negative values; rerun `gliograde cv`")
        df = df.astype({"repeat": int})
        if not all_repeats:
            df = df[df["repeat"] == 0].drop(columns="repeat").reset_index(drop=True)
    return df.astype({"fold": int, "label": int}), classes


def read_json(path: Path) -> dict[str, Any]:
    """The JSON object in ``path``, or ``{}`` when the file is absent."""
    data: dict[str, Any] = json.loads(path.read_text()) if path.is_file() else {}
    return data


def ordered(names: list[str], order: tuple[str, ...]) -> list[str]:
    """``names`` with those in ``order`` first, in that order, then the rest as given."""
    return [n for n in order if n in names] + [n for n in names if n not in order]


def label_proba(d: pd.DataFrame, classes: tuple[int, ...]) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.float64]]:
    """``label`` as (N,) int64 and ``p_<grade>`` columns as (N, len(classes)) float64, in ``classes`` order."""
    return d["label"].to_numpy(np.int64), d[[f"p_{c}" for c in classes]].to_numpy(np.float64)


def read_history(folder: Path) -> pd.DataFrame | None:
    """Every ``fold*.csv`` training history in ``folder`` stacked, with a ``fold`` column (file stem); None if none."""
    files = sorted(folder.glob("fold*.csv"))
    if not files:
        return None
    return pd.concat([pd.read_csv(f).assign(fold=f.stem) for f in files], ignore_index=True)
