"""The label-permutation check: can the protocol fool itself on grades that carry no signal?

``gliograde cv ... --permute-labels N`` reruns each protocol of the run N times on the same images with the
grades shuffled between patients (a patient keeps one grade on all its slices, so it has the same shuffled
grade in every fold it is in, training or test; ``--protocol site``: shuffled within each site, so every site
keeps its grade mix). With a ``group`` column (:attr:`gliograde.data.dataset.Cohort.groups`: several patients
who are one person) the grades move between groups, as the splits do: the patients of a group share one
shuffled grade. Everything else is the real run's: configurations, settings, seeds, feature store; the
folds are made by the protocol itself from the shuffled grades (stratified as the real ones are on the real
grades). Shuffle ``i`` draws from ``numpy.random.default_rng([seed, i])`` (``seed``: ``--seed``) and is recorded.

Each shuffle is a run of its own in ``RUN/permute/<protocol>/p<i>`` whose units resume like the real run's
(the shuffle's index, seed and labels hash are part of every unit's hash). The statistic is the real
report's: pooled out-of-fold AUC and accuracy of each configuration (repeat 0; a permuted run is one repeat).
``RUN/permutation.json`` holds the null values, their spread and the empirical p-value of the real result,
(1 + #{null >= real}) / (N + 1) (Phipson & Smyth 2010: never 0). Under ``--protocol paper`` the null AUCs show
how far the leaky protocol climbs on labels without signal (Yagis et al., Sci Rep 2021); under the honest
protocol they centre on 0.5.

>>> import numpy as np
>>> pids = np.array(["a", "a", "b", "c", "c", "d"]); y = np.array([0, 0, 1, 0, 0, 1])
>>> lab = permuted_labels(pids, y, None, seed=0, index=3)
>>> bool(lab[0] == lab[1] and lab[3] == lab[4]), sorted(lab[[0, 2, 3, 5]].tolist())
(True, [0, 0, 1, 1])
"""
from __future__ import annotations

import hashlib
import logging
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd

from gliograde.config import CVProtocol, RunConfig
from gliograde.data.dataset import Cohort
from gliograde.errors import TasksFailed
from gliograde.experiment.context import Experiment, fold_rows
from gliograde.experiment.core import repeated_folds, run_protocol
from gliograde.experiment.features import FeatureStore
from gliograde.fsio import atomic_write_json
from gliograde.metrics import compute_metrics, describe
from gliograde.report.artefacts import label_proba
from gliograde.report.format import to_jsonable
from gliograde.splits import group_keys

logger = logging.getLogger(__name__)

#: The check's record in the run folder (read by the report).
PERMUTATION_JSON = "permutation.json"
STATISTICS = ("auc", "accuracy")


def permuted_labels(patient_ids: npt.ArrayLike, labels: npt.ArrayLike, sites: npt.ArrayLike | None, *,
                    seed: int, index: int, groups: npt.ArrayLike | None = None) -> npt.NDArray[np.int64]:
    """The row labels with the grades shuffled between patients, or between groups (within each site when ``sites``).

    Args:
        patient_ids: (N,) patient of each row; labels: (N,) int class index of each row.
        sites: (N,) site of each row (a patient's site: its first row's), or None to shuffle across sites.
        seed, index: the shuffle draws from ``numpy.random.default_rng([seed, index])``.
        groups: (N,) the person of each row (None: each patient alone), as for the splits
            (:func:`gliograde.splits.group_keys`): a group enters the shuffle as one unit, with the grade of its
            first row, and every row of it gets the unit's one shuffled grade.

    Returns:
        (N,) int64 row labels. The grade counts of the units (patients or groups) are unchanged, per site: a group
        whose patients are at several sites is shuffled only with groups at the same sites, so per-site counts stay
        as far as groups allow. Without groups, patients are the units (the shuffle of earlier versions).

    >>> lab = permuted_labels(["a", "b", "c", "d"], [0, 0, 1, 1], None, seed=0, index=1, groups=["x", "x", "c", "d"])
    >>> bool(lab[0] == lab[1]), sorted(lab[[0, 2, 3]].tolist())  # one person, one grade; the units' grades kept
    (True, [0, 1, 1])
    """
    pids, y = np.asarray(patient_ids).astype(str), np.asarray(labels, dtype=np.int64)
    keys = group_keys(pids, groups)  # a group is named by its first patient: without groups, the patient itself
    uniq, first, inverse = np.unique(keys, return_index=True, return_inverse=True)
    per_unit = y[first]
    strata = _unit_sites(pids, keys, uniq, sites) if sites is not None else np.zeros(len(uniq), dtype=str)
    rng = np.random.default_rng([int(seed), int(index)])
    shuffled = per_unit.copy()
    for g in np.unique(strata):  # sorted order, so the draw is the same on every machine
        members = np.flatnonzero(strata == g)
        shuffled[members] = per_unit[rng.permutation(members)]
    return shuffled[inverse.reshape(-1)]


def _unit_sites(pids: npt.NDArray[np.str_], keys: npt.NDArray[np.str_], units: npt.NDArray[np.str_],
                sites: npt.ArrayLike) -> npt.NDArray[np.str_]:
    """(U,) the sites of each unit's patients (each patient's: its first row's), sorted and joined by ``|``."""
    site = np.asarray(sites).astype(str)
    _, first = np.unique(pids, return_index=True)
    of_unit: dict[str, set[str]] = {}
    for s, k in zip(site[first], keys[first], strict=True):
        of_unit.setdefault(str(k), set()).add(str(s))
    return np.array(["|".join(sorted(of_unit[str(u)])) for u in units], dtype=str)


def labels_sha256(labels: npt.NDArray[np.int64]) -> str:
    """sha256 of the row labels (int64 bytes): which shuffle a permuted run's units were computed on."""
    return hashlib.sha256(np.ascontiguousarray(labels, dtype=np.int64).tobytes()).hexdigest()


def pooled_statistics(preds: pd.DataFrame, classes: tuple[int, ...]) -> dict[str, dict[str, float]]:
    """{config: {"auc", "accuracy"}}: the pooled out-of-fold values of repeat 0, as the report computes them."""
    if "repeat" in preds.columns:
        preds = preds[preds["repeat"] == 0]
    out: dict[str, dict[str, float]] = {}
    for name, d in preds.groupby("config", sort=False):
        m = compute_metrics(*label_proba(d, classes), classes)
        out[str(name)] = {k: float(m[k]) for k in STATISTICS}
    return out


def empirical_p(real: float, null: list[float]) -> float | None:
    """(1 + #{null >= real}) / (N + 1) over the defined null values; None when ``real`` is undefined.

    >>> empirical_p(0.9, [0.5, 0.6, 0.95])
    0.5
    """
    kept = [v for v in null if not np.isnan(v)]
    if np.isnan(real) or not kept:
        return None
    return (1 + sum(v >= real for v in kept)) / (len(kept) + 1)


def run_permutations(cohort: Cohort, out: Path, cfg: RunConfig, features: FeatureStore,
                     protocols: tuple[CVProtocol, ...], real: dict[str, pd.DataFrame], *,
                     progress: bool = True) -> dict[str, Any]:
    """Run (or resume) ``cfg.cv.permute_labels`` shuffles of every protocol and write ``permutation.json``.

    Args:
        cohort: the run's cohort (real grades). out: the run folder. cfg: the run's settings.
        features: the run's feature store (label-free, shared with the real run).
        protocols: the protocols of the run (``honest``, ``paper``, ``site``).
        real: each protocol's real ``predictions.csv`` as a table.
        progress: show progress bars.

    Returns:
        The ``permutation.json`` document: ``{"n", "seed", ..., "protocols": {protocol: {"shared_test_rows",
        "within_site", "shuffles": [{"index", "seed", "labels_sha256", "changed_patients"}], "configs": {config:
        {"auc" | "accuracy": {"real", "null": describe(...), "p"}}}}}}``.

    Raises:
        TasksFailed: permuted units still failing after their retries (the others were written).
    """
    n = cfg.cv.permute_labels
    classes = cohort.classes
    doc: dict[str, Any] = {"n": n, "seed": cfg.cv.seed, "statistic": "pooled out-of-fold AUC and accuracy "
                           "(repeat 0), as in metrics.json", "p_value": "(1 + #{null >= real}) / (N + 1)",
                           "protocols": {}}
    failed: list[str] = []
    total = 0
    started, done, todo = time.perf_counter(), 0, n * len(protocols)
    for proto in protocols:
        within_site = proto == "site"
        pcfg = replace(cfg, cv=replace(cfg.cv, protocol=proto, permute_labels=0, repeats=1))
        null: dict[str, dict[str, list[float]]] = {}
        shuffles = []
        for i in range(n):
            labels = permuted_labels(cohort.patient_ids, cohort.labels, cohort.sites if within_site else None,
                                     seed=cfg.cv.seed, index=i, groups=cohort.groups)
            record = {"index": i, "seed": [cfg.cv.seed, i], "within_site": within_site,
                      "labels_sha256": labels_sha256(labels)}
            logger.info("label permutation %d of %d (%s protocol)", i + 1, n, proto)
            exp = Experiment(replace(cohort, labels=labels), out / "permute" / proto / f"p{i}", pcfg, features,
                             progress, permutation=record)
            try:
                preds = run_protocol(exp)
            except TasksFailed as err:  # the other shuffles still run; every failure is reported at the end
                failed += [f"{proto} permutation {i} {line}" for line in err.failures]
                total += err.total
                continue
            done += 1
            per = (time.perf_counter() - started) / done  # resumed shuffles are quick: the projection shrinks
            logger.info("label permutation %d of %d (%s) done; about %.1f min left for the other %d",
                        i + 1, n, proto, per * (todo - done) / 60, todo - done)
            shuffles.append({**record, "changed_patients": _changed(cohort, labels)})
            if "shared_test_rows" not in doc["protocols"].get(proto, {}):
                doc["protocols"][proto] = {"shared_test_rows": shared_test_rows(exp)}
            for name, stats in pooled_statistics(preds, classes).items():
                for k in STATISTICS:
                    null.setdefault(name, {s: [] for s in STATISTICS})[k].append(stats[k])
        doc["protocols"][proto] = {**doc["protocols"].get(proto, {}), "within_site": within_site,
                                   "shuffles": shuffles,
                                   "configs": _summarise(pooled_statistics(real[proto], classes), null)}
    if failed:
        raise TasksFailed("permuted units", total, failed, "rerun the same command to run only these")
    doc = to_jsonable(doc)  # NaN (an undefined AUC) -> null
    atomic_write_json(out / PERMUTATION_JSON, doc, indent=1, allow_nan=False)
    return doc


def shared_test_rows(exp: Experiment) -> dict[str, int]:
    """How many test rows (original images) of the folds have a patient, or with a group column a person
    (:func:`gliograde.splits.group_keys`), with rows in the same fold's training set: the leak a row-level split
    opens (0 under patient-level folds). A CNN under the paper protocol also trains on augmented copies of its
    test images, which this count does not include."""
    pids = group_keys(exp.cohort.patient_ids, exp.cohort.groups)
    shared = total = 0
    for fold in repeated_folds(exp)[0]:
        train, test = fold_rows(exp, fold)
        shared += int(np.isin(pids[test], pids[train]).sum())
        total += len(test)
    return {"shared": shared, "of": total}


def _changed(cohort: Cohort, labels: npt.NDArray[np.int64]) -> int:
    """Patients whose shuffled grade differs from their real one."""
    pids, first = np.unique(cohort.patient_ids, return_index=True)
    return int((cohort.labels[first] != labels[first]).sum())


def _summarise(real: dict[str, dict[str, float]], null: dict[str, dict[str, list[float]]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for name, values in null.items():
        entry: dict[str, Any] = {}
        for k in STATISTICS:
            r = real.get(name, {}).get(k, float("nan"))
            entry[k] = {"real": r, "null": describe(values[k]), "p": empirical_p(r, values[k])}
        out[name] = entry
    return out
