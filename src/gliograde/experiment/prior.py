"""The ``prior`` configurations: pre-specified radiological signs pooled per patient, scored without grades.

The signs of every patient are measured once per run, label-free, on the original files the cohort was
ingested from (every tumour-bearing plane, native grid: :mod:`gliograde.signs`; the files found again and checked
against ingest's sha256 by :func:`gliograde.data.origin.case_sources`) and cached in ``RUN/work/prior_signs.csv``,
reused only under the same :func:`signs_key` (``prior_signs.json``). Each unit then fits, on its training
patients only, the calibration of the score
(and, for ``prior-monotone``, the non-negative shrunk weights) for the set of signs each test patient has, and
predicts its test patients. Under the fixed rule (``prior``) the score itself involves no fit, so its
ranking of the patients is the same under every split; ``predictions.csv`` carries it as ``score``. Which signs
are scored (each measured in every patient, and not one value for everybody) is decided once on the whole
cohort's signs: a label-free check, so that it too cannot depend on the split.
"""
from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Literal

import numpy as np
import pandas as pd

from gliograde.config import IngestCfg, RunConfig
from gliograde.data.origin import ingest_record
from gliograde.errors import InputError
from gliograde.experiment.configuration import CVConfiguration
from gliograde.experiment.context import Experiment, fold_rows, prediction_table
from gliograde.fsio import atomic_write_json
from gliograde.runinfo import code_version
from gliograde.signs.cohort import cohort_ingest, cohort_signs, read_settings
from gliograde.signs.measure import SIGN_NAMES
from gliograde.splits import Fold
from gliograde.training.prior import case_set, complete_signs, fit_sets, scored_table

#: The run's cache of every patient's signs (label-free).
SIGNS_CSV = "prior_signs.csv"


@dataclass(frozen=True)
class PriorConfiguration(CVConfiguration):
    """Signs -> score (fixed rule, or ``combine="monotone"``) -> logistic calibration, fitted per training fold.

    Attributes:
        combine: None = the run's ``cv.prior.combine``; ``fixed`` or ``monotone`` override it.
    """

    name: str
    combine: Literal["fixed", "monotone"] | None = None
    uses: frozenset[str] = field(default=frozenset())

    def settings(self, cfg: RunConfig) -> RunConfig:
        if self.combine is None:
            return cfg
        return replace(cfg, cv=replace(cfg.cv, prior=replace(cfg.cv.prior, combine=self.combine)))

    def signs(self, exp: Experiment) -> pd.DataFrame:
        """Every patient's signs, measured once per run (``RUN/work/prior_signs.csv``) and reused only while what
        they were measured from is the same (``prior_signs.json``: :func:`signs_key`)."""
        path = exp.out / "work" / SIGNS_CSV
        ingest = cohort_ingest(exp.cohort.root)
        key = signs_key(exp, ingest)
        stamp = path.with_suffix(".json")
        if path.is_file() and stamp.is_file():
            try:
                same = json.loads(stamp.read_text()).get("key") == key["key"]
            except ValueError:
                same = False
            if same:
                return pd.read_csv(path, index_col="patient_id", dtype={"patient_id": str})
        table = cohort_signs(exp.cohort, ingest)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".partial")
        table.to_csv(tmp)
        tmp.replace(path)  # atomic: a unit on another process never reads half a table
        atomic_write_json(stamp, key)  # after the table: a new stamp always means the new table
        return table

    def prepare(self, exp: Experiment) -> None:
        self.signs(exp)

    def run_unit(self, exp: Experiment, fold: Fold, unit: Path) -> pd.DataFrame:
        """Fit the calibration (and monotone weights) on the fold's training patients; predict its test rows."""
        c = exp.cohort
        cfg = self.settings(exp.cfg).cv.prior
        table = scored_table(self.signs(exp), cfg.reference_excess)
        train_rows, test_rows = fold_rows(exp, fold)
        first = pd.Series(c.labels[train_rows], index=c.patient_ids[train_rows]).groupby(level=0).first()
        train = table.loc[first.index]
        y = first.to_numpy(dtype=np.int64)
        # Which signs are scored is a label-free check of the signs themselves (measured, and not one value for
        # everybody), made on the whole cohort so that the fixed rule's score cannot depend on the split.
        trained = complete_signs(table)
        test_ids = sorted(set(c.patient_ids[test_rows].tolist()))
        sets = {p: case_set(table.loc[p], trained) for p in test_ids}
        models = fit_sets(train, y, sorted(set(sets.values())), len(c.classes), cfg)
        proba, score = {}, {}
        for p, s in sets.items():
            m = models[s]
            v = table.loc[[p], list(s)].to_numpy(dtype=np.float64)
            score[p] = float(m.score(v)[0])
            proba[p] = m.proba_of_score(np.array([score[p]]))[0]
        rows = np.stack([proba[p] for p in c.patient_ids[test_rows]])
        out = prediction_table(exp, self.name, fold, test_rows, rows, per_row=exp.paper)
        out["score"] = out["patient_id"].map(score)
        out["signs"] = out["patient_id"].map({p: "+".join(s) for p, s in sets.items()})
        return out


def signs_key(exp: Experiment, ingest: IngestCfg) -> dict[str, object]:
    """What a run's signs table depends on, and its digest: the cohort's patients, the sha256 of the files it was
    ingested from (``run.json``), how each case is read (:func:`gliograde.signs.cohort.read_settings`: ROI labels,
    grey-slice sequence, DICOM channels and series map), the signs and the gliograde version (their thresholds are
    code; the version a resumed unit compares, :func:`gliograde.runinfo.code_version`)."""
    patients = sorted(set(exp.cohort.patient_ids.tolist()))
    what: dict[str, object] = {"inputs_sha256": ingest_record(exp.cohort.root).sha256, **read_settings(ingest),
                               "signs": list(SIGN_NAMES), "version": code_version()}
    digest = hashlib.sha256(json.dumps({**what, "patients": patients}, sort_keys=True).encode()).hexdigest()
    return {"key": digest, **what, "n_patients": len(patients)}


def score_auc(run: Path | str, config: str = "prior", *, n_boot: int = 2000, seed: int = 0) -> dict[str, object]:
    """The split-free AUC of the fixed rule's ``score`` in a CV run's ``predictions.csv`` (no calibration involved).

    Under the fixed rule a patient's score is the same in every repeat and protocol (checked here); its AUC
    against the grades (two grades only) is therefore one number per cohort, with a patient bootstrap 95 % CI.

    Returns:
        ``{"auc", "ci", "n_patients", "same_in_every_repeat", "per_site": {site: auc}}`` (per site when the
        cohort's manifest names sites and a site has both grades).

    >>> # score_auc("runs/prior-rep")["auc"]
    """
    from gliograde.metrics import roc_auc  # imports scikit-learn (heavy): only when asked
    from gliograde.stats import bootstrap_ci

    run = Path(run)
    df = pd.read_csv(run / "predictions.csv", dtype={"patient_id": str})
    df = df[df["config"] == config]
    same = bool((df.groupby("patient_id")["score"].nunique() == 1).all())
    one = df.drop_duplicates("patient_id").set_index("patient_id").sort_index()  # resamples independent of order
    classes = sorted(int(g) for g in one["label"].unique())
    if len(classes) != 2:
        raise InputError(f"{run / 'predictions.csv'}: score_auc needs two grades, found {classes}")
    s = one["score"].to_numpy(dtype=np.float64)
    proba = np.stack([-s, s], axis=1)  # a ranking, not probabilities: the AUC only orders them
    auc, lo, hi = bootstrap_ci(one["label"].to_numpy(), proba, classes, roc_auc, n_boot=n_boot, seed=seed)
    per_site: dict[str, float] = {}
    manifest = run / "cohort" / "manifest.csv"
    if manifest.is_file():
        sites = pd.read_csv(manifest, dtype={"patient_id": str, "site": str}, keep_default_na=False)
        site = sites.drop_duplicates("patient_id").set_index("patient_id")["site"].reindex(one.index)
        for name, rows in one.groupby(site):
            if rows["label"].nunique() == 2:
                v = rows["score"].to_numpy(dtype=np.float64)
                per_site[str(name)] = round(roc_auc(rows["label"].to_numpy(), np.stack([-v, v], 1), classes), 3)
    return {"auc": round(auc, 3), "ci": [round(lo, 3), round(hi, 3)], "n_patients": len(one),
            "same_in_every_repeat": same, "per_site": per_site}
