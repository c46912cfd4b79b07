"""Turn a cross-validation run folder into ``metrics.json``, figures and a self-contained ``report.html``.

Reads only artefacts (``predictions.csv``, ``folds.json``, ``history/``, ``config.yaml``, ``run.json``);
never trains. ``predictions.csv`` is cross-checked against ``folds.json`` (:func:`check_against_folds`) before a
number is computed, so a cut or edited table is refused instead of giving wrong AUCs.
The HTML embeds its figures as base64 PNGs and its CSS inline, so it opens offline.

    gliograde report runs/demo                       # regenerate everything from the artefacts
    gliograde report runs/honest --compare runs/paper --n-boot 2000

>>> from gliograde.report.format import results_table
>>> print(results_table(summarise_run(Path("runs/demo"), n_boot=200)))  # doctest: +SKIP

The artefact readers live in :mod:`gliograde.report.artefacts`, the figures in :mod:`gliograde.report.figures`,
the page in :mod:`gliograde.report.cv_page`, the printed table in :mod:`gliograde.report.format`.
"""
from __future__ import annotations

import contextlib
import json
import logging
import math
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import yaml

from gliograde.errors import InputError
from gliograde.fsio import atomic_write_json, atomic_write_text, run_folder
from gliograde.metrics import accuracy as accuracy_metric
from gliograde.metrics import compute_metrics, describe, summarise_folds
from gliograde.report.artefacts import (
    CONFIG_ORDER,
    PROTOCOL_ORDER,
    RunNotFoundError,
    label_proba,
    load_predictions,
    ordered,
    read_json,
)
from gliograde.report.cv_page import render_html
from gliograde.report.evidence import write_evidence
from gliograde.report.figures import write_figures
from gliograde.report.format import to_jsonable
from gliograde.report.paths import shown_name
from gliograde.report.runmeta import describe_cohort, report_settings
from gliograde.stats import (
    bootstrap_ci,
    calibration,
    delong_multiclass,
    expected_calibration_error,
    reliability_curve,
    resampling_units,
    roc_auc_fast,
)

logger = logging.getLogger(__name__)


def _summarise_config(d: pd.DataFrame, classes: tuple[int, ...], n_boot: int, seed: int) -> dict[str, Any]:
    warnings: list[str] = []
    per_fold = []
    for fold, g in d.groupby("fold", sort=True):
        m = compute_metrics(*label_proba(g, classes), classes)
        warnings += [f"fold {fold}: {w}" for w in m.pop("warnings")]
        per_fold.append({"fold": int(g["fold"].iloc[0]), **m})  # the group's key, as an int
    out: dict[str, Any] = summarise_folds(per_fold)
    y, p = label_proba(d, classes)
    pooled = compute_metrics(y, p, classes)
    warnings += [f"pooled: {w}" for w in pooled["warnings"]]
    groups = d["patient_id"].to_numpy()
    for name, fn in (("auc", roc_auc_fast), ("accuracy", accuracy_metric)):
        try:
            _, lo, hi = bootstrap_ci(y, p, classes, fn, n_boot=n_boot, seed=seed, groups=groups)
        except ValueError as err:
            lo = hi = math.nan
            warnings.append(f"bootstrap CI of pooled {name}: {err}")
        out[f"pooled_{name}"] = pooled[name]
        out[f"pooled_{name}_ci"] = [lo, hi]
    # a cluster bootstrap by patient under every protocol: the paper protocol's many rows of a patient (augmented
    # copies, in several test folds) are drawn together, so the CI is not narrowed by near-duplicates
    out["pooled_ci"] = {"method": "percentile bootstrap", "level": 0.95, "n_boot": n_boot, "seed": seed,
                        **resampling_units(groups, len(d))}
    out.update(pooled_per_class=pooled["per_class"], confusion=pooled["confusion"], per_fold=per_fold,
               ece=expected_calibration_error(y, p, classes), reliability=reliability_curve(y, p, classes),
               n_rows=int(len(d)), n_patients=int(d["patient_id"].nunique()), warnings=warnings)
    out["calibration"] = calibration(y, p, classes, groups=groups, n_boot=n_boot, seed=seed)  # slope, intercept
    return out


def _patient_level(d: pd.DataFrame, classes: tuple[int, ...]) -> pd.DataFrame:
    """Mean probability per patient (rows of one patient: augmented copies or slices)."""
    cols = {f"p_{c}": "mean" for c in classes} | {"label": "first"}
    return d.groupby("patient_id").agg(cols)


def _delong_vs(d: pd.DataFrame, ref: pd.DataFrame, classes: tuple[int, ...]) -> dict[str, Any]:
    a, b = _patient_level(d, classes), _patient_level(ref, classes)
    common = a.index.intersection(b.index)
    pcols = [f"p_{c}" for c in classes]
    res = delong_multiclass(a.loc[common, "label"].to_numpy(), a.loc[common, pcols].to_numpy(),
                            b.loc[common, pcols].to_numpy(), classes)
    macro = res["macro"]
    return {"auc": macro["auc_a"], "auc_reference": macro["auc_b"], "diff": macro["diff"], "p": macro["p"],
            "method": macro["method"], "n_patients": int(len(common)),
            "n_unmatched": int(len(a.index.union(b.index)) - len(common)),
            "per_class": {c: {k: r[k] for k in ("diff", "z", "p", "p_holm")} for c, r in res["per_class"].items()}}


def summarise_repeats(d: pd.DataFrame, classes: tuple[int, ...]) -> dict[str, Any]:
    """Pooled patient-level AUC and accuracy of each repeat of one config, and their spread.

    Args:
        d: one config's predictions with a ``repeat`` column; rows of a patient within a repeat
            (paper protocol: augmented copies) are averaged first.
        classes: the grades.

    Returns:
        ``{"n": R, "repeat": [r...], "auc": describe(...), "accuracy": describe(...)}``
        (:func:`gliograde.metrics.describe`: values, mean, sd, min, max, n).
    """
    reps: list[int] = []
    per: dict[str, list[float]] = {"auc": [], "accuracy": []}
    for _, g in d.groupby("repeat", sort=True):
        pat = _patient_level(g, classes)
        m = compute_metrics(pat["label"].to_numpy(np.int64), pat[[f"p_{c}" for c in classes]].to_numpy(), classes)
        reps.append(int(g["repeat"].iloc[0]))
        for k in per:
            per[k].append(m[k])
    return {"n": len(reps), "repeat": reps, **{k: describe(v) for k, v in per.items()}}


def summarise_predictions(df: pd.DataFrame, classes: tuple[int, ...], reference: str = "full",
                          n_boot: int = 2000, seed: int = 0) -> dict[str, Any]:
    """The metrics.json dict for one protocol's prediction table (see :func:`summarise_run`).

    With a ``repeat`` column (repeated CV), every figure is computed on repeat 0 as for a single run,
    plus ``n_repeats`` and, per config, ``repeats`` (:func:`summarise_repeats`) when R > 1.
    """
    every = df
    if "repeat" in df.columns:
        df = df[df["repeat"] == 0]
        if df.empty:
            raise InputError(f"predictions hold repeats {sorted(every['repeat'].unique())} but not repeat 0; "
                             "rerun `gliograde cv` to rewrite predictions.csv")
    n_repeats = int(every["repeat"].nunique()) if "repeat" in every.columns else 1
    protocols = df["protocol"].unique().tolist()
    configs = ordered(df["config"].unique().tolist(), CONFIG_ORDER)
    out: dict[str, Any] = {"protocol": protocols[0] if len(protocols) == 1 else "+".join(protocols),
                           "classes": list(classes), "reference": reference, "n_boot": n_boot, "seed": seed,
                           "n_patients": int(df["patient_id"].nunique()), "n_folds": int(df["fold"].nunique()),
                           "patients_per_grade": {str(g): int(n) for g, n in
                                                  df.groupby("label")["patient_id"].nunique().items()},
                           "configs": {}}
    if n_repeats > 1:
        out["n_repeats"] = n_repeats
    for name in configs:
        logger.debug("summarising %s (%s)", name, out["protocol"])  # -v: a line per configuration and protocol
        d = df[df["config"] == name]
        res = _summarise_config(d, classes, n_boot, seed)
        if reference in configs and name != reference:
            try:
                dl = res[f"delong_vs_{reference}"] = _delong_vs(d, df[df["config"] == reference], classes)
                if dl["n_unmatched"]:
                    res["warnings"].append(f"DeLong vs {reference}: {dl['n_unmatched']} patients are in only "
                                           "one of the two configs and were left out")
            except ValueError as err:
                res["warnings"].append(f"DeLong vs {reference}: {err}")
        if n_repeats > 1:
            res["repeats"] = summarise_repeats(every[every["config"] == name], classes)
        out["configs"][name] = res
    if reference not in configs:
        logger.warning("reference config %r not in predictions (%s): no DeLong tests", reference, configs)
    return out


def summarise_run(run_dir: Path, reference: str = "full", n_boot: int = 2000, *, seed: int = 0,
                  protocol: str | None = None) -> dict[str, Any]:
    """Every metric of a CV run, from ``run_dir/predictions.csv``.

    Per config: per-fold metrics and their mean ± SD (``accuracy``, ``auc``, ``per_class``), pooled
    out-of-fold metrics (``pooled_auc`` always present, NaN -> null when undefined, ``pooled_auc_ci``
    and ``pooled_accuracy_ci`` from a patient-level percentile bootstrap), ``pooled_per_class``,
    pooled ``confusion``, ``ece`` and ``reliability``, and ``delong_vs_<reference>`` on patient-level
    pooled predictions (rows of a patient averaged, patients matched by id). A repeated CV is summarised
    on repeat 0, plus ``repeats``: each repeat's pooled patient-level AUC and accuracy and their spread.

    Args:
        run_dir: the run folder.
        reference: config every other config is DeLong-tested against.
        n_boot: bootstrap resamples for the CIs.
        seed: bootstrap seed.
        protocol: which protocol's rows to use when predictions.csv holds several (default: honest first).

    Returns:
        ``{"protocol", "classes", "reference", "n_boot", "seed", "n_patients", "n_folds", "configs": {...}}``
    """
    try:
        df, classes = load_predictions(run_dir, all_repeats=True)
        check_against_folds(Path(run_dir), df)
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError, json.JSONDecodeError,
            yaml.YAMLError, KeyError, TypeError, ValueError) as err:
        if isinstance(err, InputError):
            raise
        raise InputError(f"{run_dir}: predictions.csv, folds.json or config.yaml is unreadable "
                         f"({type(err).__name__}); rerun `gliograde cv` with --out {run_dir} to rewrite them") from err
    present = ordered(df["protocol"].unique().tolist(), PROTOCOL_ORDER)
    chosen = protocol or present[0]
    if chosen not in present:
        raise InputError(f"{run_dir}/predictions.csv has no rows of protocol {chosen!r} (found {present})")
    return summarise_predictions(df[df["protocol"] == chosen], classes, reference, n_boot, seed)


def check_against_folds(run_dir: Path, df: pd.DataFrame) -> None:
    """Check a run's prediction table against the folds it was made from: every configuration the run's
    ``config.yaml`` lists is there, only folds of ``folds.json`` (``folds_r<r>.json`` per repeat) appear, each
    configuration has a row of every test patient and of no other (a paper-protocol fold: as many rows in
    every configuration). A table without ``folds.json`` beside it (made by hand) is not checked.

    Raises:
        InputError: one line naming predictions.csv, the configuration and fold that differ, and the fix.
    """
    path = run_dir / "predictions.csv"
    fix = f"the table was cut or edited; rerun `gliograde cv` with --out {run_dir} to rewrite it"
    first = read_json(run_dir / "folds.json")
    if not first.get("folds"):
        return
    own = df[df["protocol"] == first.get("protocol", df["protocol"].iloc[0])] if "protocol" in df else df
    cfg_file = run_dir / "config.yaml"
    listed: list[str] = []
    if cfg_file.is_file():
        doc = yaml.safe_load(cfg_file.read_text()) or {}
        listed = [str(c) for c in ((doc.get("cv") or {}).get("configs") or [])] if isinstance(doc, dict) else []
    repeats = sorted(int(r) for r in own["repeat"].unique()) if "repeat" in own.columns else [0]
    for r in repeats:
        folds = (first if r == 0 else read_json(run_dir / f"folds_r{r}.json")).get("folds") or []
        d = own[own["repeat"] == r] if "repeat" in own.columns else own
        where = f" repeat {r}" if "repeat" in own.columns else ""
        if missing := [c for c in listed if c not in set(d["config"])]:
            raise InputError(f"{path}: no rows of configuration(s) {missing}{where} that config.yaml lists; {fix}")
        known = {int(f["fold"]) for f in folds}
        if extra := sorted(set(d["fold"].astype(int)) - known):
            raise InputError(f"{path}: fold(s) {extra}{where} are not in the run's folds.json; {fix}")
        tested = {str(p) for f in folds for p in f.get("test", [])}
        for key, g in d.groupby("config", sort=True):
            name = str(key)
            have = set(g["patient_id"])
            if tested and (lost := tested - have):
                raise InputError(f"{path}: {name}{where} has no row of {len(lost)} of the {len(tested)} test "
                                 f"patients folds.json lists; {fix}")
            if tested and (unknown := have - tested):
                raise InputError(f"{path}: {name}{where} has rows of {len(unknown)} patient(s) no fold of "
                                 f"folds.json tests; {fix}")
            rows_per_fold = g.groupby("fold").size()
            for f in folds:
                k = int(f["fold"])
                sizes = d[d["fold"] == k].groupby("config").size()
                n = int(rows_per_fold.get(k, 0))
                # a paper-protocol fold: a per-image configuration has a row per test row (augmented copies
                # included), one tested on the original images (handcrafted) fewer; those must agree with each other
                full = len(f.get("test_rows", [])) or int(sizes.max())
                fewer = {int(v) for v in sizes if int(v) != full}
                if "test" not in f and (n == 0 or (n != full and len(fewer) > 1)):
                    raise InputError(f"{path}: {name}{where} fold {k} has {n} rows, fewer than another "
                                     f"configuration's ({int(sizes.max()) if len(sizes) else 0}); {fix}")


def _comparisons(run_dir: Path, compare: Path | None, primary: str, reference: str, n_boot: int,
                 seed: int) -> dict[str, dict[str, Any]]:
    """Other protocols: extra protocols in predictions.csv, RUN/compare/<name>/, and --compare."""
    out: dict[str, dict[str, Any]] = {}
    df, classes = load_predictions(run_dir, all_repeats=True)
    for proto in df["protocol"].unique().tolist():
        if proto != primary:
            out[proto] = summarise_predictions(df[df["protocol"] == proto], classes, reference, n_boot, seed)
    folders = sorted(p for p in (run_dir / "compare").glob("*") if (p / "predictions.csv").is_file())
    for folder in [*folders, *([Path(compare)] if compare is not None else [])]:
        m = summarise_run(folder, reference, n_boot, seed=seed)
        clash = m["protocol"] in out or m["protocol"] == primary
        label = f"{m['protocol']} ({folder.name})" if clash else m["protocol"]
        out[label] = m | {"run_dir": shown_name(folder.resolve())}  # by name: a path can name a patient
    return out


def write_report(run_dir: Path, compare: Path | None = None, *, n_boot: int | None = None,
                 reference: str | None = None, seed: int | None = None) -> Path:
    """Regenerate ``metrics.json``, ``figures/*.png`` and ``report.html`` in ``run_dir`` from its artefacts.

    Args:
        run_dir: the CV run folder.
        compare: another run folder (e.g. the paper protocol) to put side by side; folders under
            ``run_dir/compare/`` and other protocols in predictions.csv are picked up too.
        n_boot: bootstrap resamples. reference: config for the DeLong tests. seed: bootstrap seed.
            Each one left None is the run's own (:func:`gliograde.report.runmeta.report_settings`: config.yaml's
            ``cv.n_boot``/``cv.seed``, the last report's reference), so a regenerated report has the same CIs.

    Returns:
        Path of report.html.
    """
    run_dir = Path(run_dir)
    if compare is not None and not (Path(compare) / "predictions.csv").is_file():
        raise RunNotFoundError(f"--compare {compare}: no predictions.csv there; give a folder written by gliograde cv")
    # the run folder is checked and locked like every command's --out (cv, which calls this, holds it already)
    with run_folder(run_dir, "report") if run_dir.is_dir() else contextlib.nullcontext():
        return _write_report(run_dir, compare, report_settings(run_dir, n_boot=n_boot, seed=seed,
                                                               reference=reference))


def report_metrics(run_dir: Path, compare: Path | None = None, *, n_boot: int | None = None,
                   reference: str | None = None, seed: int | None = None) -> dict[str, Any]:
    """The ``metrics.json`` dict :func:`write_report` writes (same arguments), computed without writing anything:
    :func:`summarise_run` plus the other protocols (``comparisons``), ``selection``, the ``cohort``
    (:func:`gliograde.report.runmeta.describe_cohort`) and where each setting came from (``settings_from``)."""
    run_dir = Path(run_dir)
    return _metrics(run_dir, compare, report_settings(run_dir, n_boot=n_boot, seed=seed, reference=reference))


def _metrics(run_dir: Path, compare: Path | None, settings: dict[str, Any]) -> dict[str, Any]:
    n_boot, reference, seed = settings["n_boot"], settings["reference"], settings["seed"]
    previous = read_json(run_dir / "metrics.json").get("cohort")
    metrics = summarise_run(run_dir, reference, n_boot, seed=seed)
    metrics["settings_from"] = settings["from"]
    metrics["cohort"] = describe_cohort(run_dir, load_predictions(run_dir)[0]["patient_id"], previous)
    comparisons = _comparisons(run_dir, compare, metrics["protocol"], reference, n_boot, seed)
    if comparisons:
        metrics["comparisons"] = comparisons
    selection = run_dir / "selection.json"
    if selection.is_file():  # what each fold's inner model selection chose, and how (configs radiomics, fusion)
        metrics["selection"] = json.loads(selection.read_text())
    jsonable: dict[str, Any] = to_jsonable(metrics)
    return jsonable


def _write_report(run_dir: Path, compare: Path | None, settings: dict[str, Any]) -> Path:
    metrics = _metrics(run_dir, compare, settings)
    atomic_write_json(run_dir / "metrics.json", metrics, indent=1, allow_nan=False)
    figures = write_figures(run_dir, metrics)
    figures += write_evidence(run_dir, metrics)  # calibration curves, permutation figures, methods.md
    html = render_html(run_dir, metrics, figures)
    path = run_dir / "report.html"
    atomic_write_text(path, html)
    logger.debug("wrote %s (%d figures)", path, len(figures))  # the commands print "report: PATH" once
    return path


