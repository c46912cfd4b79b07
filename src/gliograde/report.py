"""Turn a cross-validation run folder into ``metrics.json``, figures and a self-contained ``report.html``.

Reads only artefacts (``predictions.csv``, ``folds.json``, ``history/``, ``config.yaml``, ``run.json``);
never trains. The HTML embeds its figures as base64 PNGs and its CSS inline, so it opens offline.

    gliograde report runs/demo                       # regenerate everything from the artefacts
    gliograde report runs/honest --compare runs/paper --n-boot 2000

>>> print(results_table(summarise_run(Path("runs/demo"), n_boot=200)))  # doctest: +SKIP
"""
from __future__ import annotations

import json
import logging
import math
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from gliograde.errors import GliogradeError, InputError
from gliograde.metrics import accuracy as accuracy_metric
from gliograde.metrics import compute_metrics, roc_curves, summarise_folds
from gliograde.stats import bootstrap_ci, delong_multiclass, expected_calibration_error, reliability_curve, roc_auc_fast

logger = logging.getLogger(__name__)

CONFIG_ORDER = ("full", "no-pretrain", "no-aug", "handcrafted")
PROTOCOL_ORDER = ("honest", "site", "paper")
REQUIRED_COLUMNS = ("patient_id", "fold", "config", "label")
_PROBA = re.compile(r"^p_(\d+)$")


class RunNotFoundError(GliogradeError, FileNotFoundError):
    """A run folder lacks predictions.csv; the message says which command writes it."""


def load_predictions(run_dir: Path) -> tuple[pd.DataFrame, tuple[int, ...]]:
    """Read and check ``run_dir/predictions.csv``.

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
        df["protocol"] = _read_json(Path(run_dir) / "folds.json").get("protocol", "unknown")
    df["protocol"] = df["protocol"].fillna("unknown").astype(str)
    return df.astype({"fold": int, "label": int}), classes


def _read_json(path: Path) -> dict[str, Any]:
    return json.loads(path.read_text()) if path.is_file() else {}


def _ordered(names: list[str], order: tuple[str, ...]) -> list[str]:
    return [n for n in order if n in names] + [n for n in names if n not in order]


def _arrays(d: pd.DataFrame, classes: tuple[int, ...]) -> tuple[np.ndarray, np.ndarray]:
    return d["label"].to_numpy(np.int64), d[[f"p_{c}" for c in classes]].to_numpy(np.float64)


def _summarise_config(d: pd.DataFrame, classes: tuple[int, ...], n_boot: int, seed: int) -> dict[str, Any]:
    warnings: list[str] = []
    per_fold = []
    for fold, g in d.groupby("fold", sort=True):
        m = compute_metrics(*_arrays(g, classes), classes)
        warnings += [f"fold {fold}: {w}" for w in m.pop("warnings")]
        per_fold.append({"fold": int(fold), **m})
    out: dict[str, Any] = summarise_folds(per_fold)
    y, p = _arrays(d, classes)
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
    out.update(pooled_per_class=pooled["per_class"], confusion=pooled["confusion"], per_fold=per_fold,
               ece=expected_calibration_error(y, p, classes), reliability=reliability_curve(y, p, classes),
               n_rows=int(len(d)), n_patients=int(d["patient_id"].nunique()), warnings=warnings)
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


def summarise_predictions(df: pd.DataFrame, classes: tuple[int, ...], reference: str = "full",
                          n_boot: int = 2000, seed: int = 0) -> dict[str, Any]:
    """The metrics.json dict for one protocol's prediction table (see :func:`summarise_run`)."""
    protocols = df["protocol"].unique().tolist()
    configs = _ordered(df["config"].unique().tolist(), CONFIG_ORDER)
    out: dict[str, Any] = {"protocol": protocols[0] if len(protocols) == 1 else "+".join(protocols),
                           "classes": list(classes), "reference": reference, "n_boot": n_boot, "seed": seed,
                           "n_patients": int(df["patient_id"].nunique()), "n_folds": int(df["fold"].nunique()),
                           "configs": {}}
    for name in configs:
        logger.info("summarising %s (%s)", name, out["protocol"])
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
    pooled predictions (rows of a patient averaged, patients matched by id).

    Args:
        run_dir: the run folder.
        reference: config every other config is DeLong-tested against.
        n_boot: bootstrap resamples for the CIs.
        seed: bootstrap seed.
        protocol: which protocol's rows to use when predictions.csv holds several (default: honest first).

    Returns:
        ``{"protocol", "classes", "reference", "n_boot", "seed", "n_patients", "n_folds", "configs": {...}}``
    """
    df, classes = load_predictions(run_dir)
    present = _ordered(df["protocol"].unique().tolist(), PROTOCOL_ORDER)
    chosen = protocol or present[0]
    if chosen not in present:
        raise InputError(f"{run_dir}/predictions.csv has no rows of protocol {chosen!r} (found {present})")
    return summarise_predictions(df[df["protocol"] == chosen], classes, reference, n_boot, seed)


def _fmt(x: Any, spec: str = ".3f") -> str:
    return "n/a" if x is None or (isinstance(x, float) and math.isnan(x)) else format(x, spec)


def _fmt_p(p: Any) -> str:
    return "<0.001" if isinstance(p, float) and p < 0.001 else _fmt(p)


def fmt_mean_sd(d: Mapping[str, Any], percent: bool = False) -> str:
    """'97.9 ± 1.0 %' or '0.912 ± 0.050' from a {"mean", "sd"} dict."""
    if percent:
        return f"{_fmt(_scale(d.get('mean')), '.1f')} ± {_fmt(_scale(d.get('sd')), '.1f')} %"
    return f"{_fmt(d.get('mean'))} ± {_fmt(d.get('sd'))}"


def _scale(x: Any) -> Any:
    return x * 100 if isinstance(x, (int, float)) else x


def fmt_ci(point: Any, ci: Any, percent: bool = False) -> str:
    """'0.912 [0.853, 0.960]' (or percentages)."""
    lo, hi = (ci or [None, None])[:2]
    if percent:
        return f"{_fmt(_scale(point), '.1f')} % [{_fmt(_scale(lo), '.1f')}, {_fmt(_scale(hi), '.1f')}]"
    return f"{_fmt(point)} [{_fmt(lo)}, {_fmt(hi)}]"


def table_rows(metrics: Mapping[str, Any]) -> list[list[str]]:
    """Rows of the study-style summary table (header first), shared by the text table and the HTML."""
    ref = metrics.get("reference", "full")
    rows = [["config", "accuracy (mean ± SD)", "AUC (mean ± SD)", "pooled AUC [95% CI]", f"DeLong p vs {ref}", "ECE"]]
    for name, c in metrics["configs"].items():
        dl = c.get(f"delong_vs_{ref}")
        p = "reference" if name == ref else (_fmt_p(dl["p"]) if dl else "n/a")
        rows.append([name, fmt_mean_sd(c["accuracy"], percent=True), fmt_mean_sd(c["auc"]),
                     fmt_ci(c["pooled_auc"], c.get("pooled_auc_ci")), p, _fmt(c.get("ece"))])
    return rows


def results_table(metrics: Mapping[str, Any]) -> str:
    """Plain-text results table (like the study's), printed at the end of a CV run.

    Args:
        metrics: the dict of :func:`summarise_run` (or metrics.json loaded back).

    Returns:
        A multi-line string: title line, header, one row per config.
    """
    rows = table_rows(metrics)
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    lines = ["  ".join(cell.ljust(w) for cell, w in zip(r, widths, strict=True)).rstrip() for r in rows]
    lines.insert(1, "  ".join("-" * w for w in widths))
    title = (f"protocol {metrics.get('protocol')}, grades {metrics.get('classes')}, {metrics.get('n_patients')} "
             f"patients, {metrics.get('n_folds')} folds (accuracy/AUC: mean ± SD over folds)")
    return "\n".join([title, *lines])


def to_jsonable(obj: Any) -> Any:
    """NaN/inf -> None, numpy scalars -> Python, dict keys -> str: strict JSON."""
    if isinstance(obj, Mapping):
        return {str(k): to_jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple, np.ndarray)):
        return [to_jsonable(v) for v in obj]
    if isinstance(obj, (np.integer, np.bool_)):
        return obj.item()
    if isinstance(obj, (float, np.floating)):
        return float(obj) if math.isfinite(obj) else None
    return obj


def write_figures(run_dir: Path, metrics: Mapping[str, Any]) -> list[Path]:
    """Write ROC, reliability, confusion and training-curve PNGs into ``run_dir/figures``.

    Returns:
        The paths written: ``roc_<config>.png`` (pooled one-vs-rest ROC per grade), ``roc_all.png``,
        ``reliability_<config>.png``, ``confusion_<config>.png``, ``training_<config>.png`` (when
        ``history/<config>/fold*.csv`` exist).
    """
    import matplotlib

    matplotlib.use("Agg")
    run_dir = Path(run_dir)
    fig_dir = run_dir / "figures"
    fig_dir.mkdir(parents=True, exist_ok=True)
    df, classes = load_predictions(run_dir)
    df = df[df["protocol"] == metrics["protocol"]] if metrics["protocol"] in set(df["protocol"]) else df
    written = [_roc_all(df, classes, metrics, fig_dir / "roc_all.png")]
    for name, c in metrics["configs"].items():
        y, p = _arrays(df[df["config"] == name], classes)
        written.append(_roc_one(y, p, classes, name, fig_dir / f"roc_{name}.png"))
        written.append(_reliability(c["reliability"], c["ece"], name, fig_dir / f"reliability_{name}.png"))
        written.append(_confusion(np.asarray(c["confusion"]), classes, name, fig_dir / f"confusion_{name}.png"))
        hist = _history(run_dir / "history" / name)
        if hist is not None:
            written.append(_training(hist, name, fig_dir / f"training_{name}.png"))
    return written


def _comparisons(run_dir: Path, compare: Path | None, primary: str, reference: str, n_boot: int,
                 seed: int) -> dict[str, dict[str, Any]]:
    """Other protocols: extra protocols in predictions.csv, RUN/compare/<name>/, and --compare."""
    out: dict[str, dict[str, Any]] = {}
    df, classes = load_predictions(run_dir)
    for proto in df["protocol"].unique().tolist():
        if proto != primary:
            out[proto] = summarise_predictions(df[df["protocol"] == proto], classes, reference, n_boot, seed)
    folders = sorted(p for p in (run_dir / "compare").glob("*") if (p / "predictions.csv").is_file())
    for folder in [*folders, *([Path(compare)] if compare is not None else [])]:
        m = summarise_run(folder, reference, n_boot, seed=seed)
        label = m["protocol"] if m["protocol"] not in out and m["protocol"] != primary else f"{m['protocol']} ({folder.name})"
        out[label] = m | {"run_dir": str(folder)}
    return out


def write_report(run_dir: Path, compare: Path | None = None, *, n_boot: int = 2000, reference: str = "full",
                 seed: int = 0) -> Path:
    """Regenerate ``metrics.json``, ``figures/*.png`` and ``report.html`` in ``run_dir`` from its artefacts.

    Args:
        run_dir: the CV run folder.
        compare: another run folder (e.g. the paper protocol) to put side by side; folders under
            ``run_dir/compare/`` and other protocols in predictions.csv are picked up too.
        n_boot: bootstrap resamples.
        reference: config for the DeLong tests.
        seed: bootstrap seed.

    Returns:
        Path of report.html.
    """
    run_dir = Path(run_dir)
    if compare is not None and not (Path(compare) / "predictions.csv").is_file():
        raise RunNotFoundError(f"--compare {compare}: no predictions.csv there; give a folder written by gliograde cv")
    metrics = summarise_run(run_dir, reference, n_boot, seed=seed)
    comparisons = _comparisons(run_dir, compare, metrics["protocol"], reference, n_boot, seed)
    if comparisons:
        metrics["comparisons"] = comparisons
    metrics = to_jsonable(metrics)
    (run_dir / "metrics.json").write_text(json.dumps(metrics, indent=1, allow_nan=False))
    figures = write_figures(run_dir, metrics)
    html = render_html(run_dir, metrics, figures)
    path = run_dir / "report.html"
    path.write_text(html, encoding="utf-8")
    logger.info("wrote %s (%d figures)", path, len(figures))
    return path


# ---------------------------------------------------------------- figures (matplotlib, Agg backend)

def _save(fig: Any, path: Path) -> Path:
    import matplotlib.pyplot as plt

    fig.savefig(path, dpi=90)
    plt.close(fig)
    return path


def _subplots(ncols: int = 1) -> tuple[Any, Any]:
    import matplotlib.pyplot as plt

    return plt.subplots(1, ncols, figsize=(4.6 * ncols, 4.0), layout="constrained")


def _roc_axes(ax: Any, title: str) -> None:
    ax.plot([0, 1], [0, 1], ls="--", c="grey", lw=0.8)
    ax.set(xlabel="1 - specificity", ylabel="sensitivity", xlim=(0, 1), ylim=(0, 1.01), title=title)
    ax.legend(loc="lower right", fontsize=8)


def _roc_one(y: np.ndarray, p: np.ndarray, classes: tuple[int, ...], name: str, path: Path) -> Path:
    fig, ax = _subplots()
    curves = roc_curves(y, p, classes)
    if len(classes) == 2:  # both one-vs-rest curves carry the same AUC: show the higher grade's
        curves = {g: v for g, v in curves.items() if g == classes[1]}
    for g, (fpr, tpr, auc) in curves.items():
        rest = str(classes[0]) if len(classes) == 2 else "rest"
        ax.plot(fpr, tpr, lw=1.8, label=f"grade {g} vs {rest} (AUC {auc:.3f})")
    _roc_axes(ax, f"{name}: pooled out-of-fold ROC")
    return _save(fig, path)


def _macro_roc(y: np.ndarray, p: np.ndarray, classes: tuple[int, ...]) -> tuple[np.ndarray, np.ndarray]:
    curves = roc_curves(y, p, classes)
    if len(classes) == 2 and classes[1] in curves:
        fpr, tpr, _ = curves[classes[1]]
        return fpr, tpr
    grid = np.linspace(0, 1, 201)
    return grid, np.mean([np.interp(grid, f, t) for f, t, _ in curves.values()], axis=0)


def _roc_all(df: pd.DataFrame, classes: tuple[int, ...], metrics: Mapping[str, Any], path: Path) -> Path:
    fig, ax = _subplots()
    for name, c in metrics["configs"].items():
        fpr, tpr = _macro_roc(*_arrays(df[df["config"] == name], classes), classes)
        ax.plot(fpr, tpr, lw=1.6, label=f"{name} (pooled AUC {_fmt(c['pooled_auc'])})")
    kind = "binary" if len(classes) == 2 else "macro one-vs-rest"
    _roc_axes(ax, f"pooled out-of-fold ROC ({kind})")
    return _save(fig, path)


def _floats(values: list[Any]) -> np.ndarray:
    return np.array([math.nan if v is None else v for v in values], dtype=np.float64)


def _reliability(rel: Mapping[str, Any], ece: Any, name: str, path: Path) -> Path:
    fig, ax = _subplots()
    edges = np.asarray(rel["edges"])
    centers, width = (edges[:-1] + edges[1:]) / 2, edges[1] - edges[0]
    acc, conf = _floats(rel["accuracy"]), _floats(rel["confidence"])
    ax.bar(centers, np.nan_to_num(acc), width=0.9 * width, color="tab:blue", alpha=0.6, edgecolor="k",
           label="accuracy in bin")
    ax.plot(conf, acc, "o", c="tab:red", ms=4, label="mean confidence")
    for x, a, n in zip(centers, np.nan_to_num(acc), rel["count"], strict=True):
        if n:
            ax.text(x, a + 0.02, str(n), ha="center", fontsize=7)
    ax.plot([0, 1], [0, 1], ls="--", c="grey", lw=0.8, label="perfect calibration")
    ax.set(xlabel="top-label confidence", ylabel="accuracy", xlim=(0, 1), ylim=(0, 1.08),
           title=f"{name}: reliability (ECE {_fmt(ece)})")
    ax.legend(loc="upper left", fontsize=8)
    return _save(fig, path)


def _confusion(cm: np.ndarray, classes: tuple[int, ...], name: str, path: Path) -> Path:
    fig, ax = _subplots()
    rows = cm.sum(axis=1, keepdims=True)
    frac = np.divide(cm, rows, out=np.zeros(cm.shape), where=rows > 0)
    ax.imshow(frac, cmap="Blues", vmin=0, vmax=1)
    for i in range(cm.shape[0]):
        for j in range(cm.shape[1]):
            ax.text(j, i, f"{cm[i, j]}\n{100 * frac[i, j]:.0f}%", ha="center", va="center",
                    color="white" if frac[i, j] > 0.6 else "black")
    ticks = [f"grade {c}" for c in classes]
    ax.set(xticks=range(len(classes)), yticks=range(len(classes)), xticklabels=ticks, yticklabels=ticks,
           xlabel="predicted", ylabel="true", title=f"{name}: pooled confusion")
    return _save(fig, path)


def _history(folder: Path) -> pd.DataFrame | None:
    files = sorted(folder.glob("fold*.csv"))
    if not files:
        return None
    return pd.concat([pd.read_csv(f).assign(fold=f.stem) for f in files], ignore_index=True)


def _training(hist: pd.DataFrame, name: str, path: Path) -> Path:
    fig, axes = _subplots(2)
    stats = hist.drop(columns="fold").groupby("epoch").agg(["mean", "std"])
    for ax, kind in zip(axes, ("loss", "acc"), strict=True):
        for split in ("train", "val"):
            col = f"{split}_{kind}"
            if col in hist.columns:
                mean, sd = stats[col]["mean"], stats[col]["std"].fillna(0)
                ax.plot(stats.index, mean, label=split)
                ax.fill_between(stats.index, mean - sd, mean + sd, alpha=0.2)
        ax.set(xlabel="epoch", ylabel=kind, title=f"{name}: {kind} (mean ± SD over {hist['fold'].nunique()} folds)")
        ax.legend(fontsize=8)
    return _save(fig, path)


# ---------------------------------------------------------------- self-contained HTML

PAPER_REFERENCE = {  # the publication's reported figures, shown for orientation only (not reproduced here)
    "full": "accuracy 97.9 ± 1 %, AUC 0.9991",
    "no-pretrain": "accuracy 61.42 %",
    "no-aug": "accuracy 59.85 %",
    "handcrafted": "accuracy 88 %",
}
PROTOCOL_TEXT = {
    "honest": "Folds split patients (StratifiedGroupKFold), identical for every configuration. Augmentation "
              "is applied after the split, to training patients only. Early stopping uses a stratified inner "
              "validation split of the training patients. The test fold is used once, for the final predictions.",
    "paper": "The study's protocol, reproduced on purpose: the whole cohort is augmented first (57 deterministic "
             "AutoAugment-SVHN copies per image), the augmented images are split at random into folds, and training "
             "stops at the epoch that scores best on the test fold.",
    "site": "Leave-one-site-out: each fold's test set is one institution the model never saw in training.",
}
GAP_TEXT = ("Why the paper protocol scores higher: (1) leakage. Augmented copies of a test image sit in the "
            "training folds, so the network is tested on near-duplicates of images it has already seen. It is "
            "graded on recognising images, not on generalising to new patients. (2) Early stopping on the test "
            "fold picks the epoch that happens to score best on the test data, a selection that adds an "
            "optimistic bias. Only the honest numbers estimate performance on new patients.")
_CSS = """body{font-family:system-ui,Segoe UI,Helvetica,Arial,sans-serif;max-width:1150px;margin:2em auto;
padding:0 1em;color:#222;line-height:1.45}table{border-collapse:collapse;margin:.8em 0;font-size:.92em}
th,td{border:1px solid #ccc;padding:4px 8px;text-align:right}th{background:#eef1f5}
td:first-child,th:first-child{text-align:left}.ref{background:#fff5dc;color:#6b4a00}
img{max-width:49%;margin:2px;border:1px solid #eee}.note{color:#555;font-size:.9em}
pre{background:#f6f6f6;padding:8px;overflow-x:auto;font-size:.82em}h2{border-bottom:1px solid #ddd}"""


def _esc(x: Any) -> str:
    import html

    return html.escape(str(x))


def _table(rows: list[list[str]], ref_col: int | None = None) -> str:
    head = "".join(f"<th{' class=ref' if i == ref_col else ''}>{_esc(c)}</th>" for i, c in enumerate(rows[0]))
    body = "".join("<tr>" + "".join(f"<td{' class=ref' if i == ref_col else ''}>{_esc(c)}</td>"
                                    for i, c in enumerate(r)) + "</tr>" for r in rows[1:])
    return f"<table><tr>{head}</tr>{body}</table>"


def _img(path: Path) -> str:
    import base64

    data = base64.b64encode(path.read_bytes()).decode("ascii")
    return f'<img alt="{_esc(path.stem)}" src="data:image/png;base64,{data}">'


def _summary(metrics: Mapping[str, Any]) -> str:
    rows = table_rows(metrics)
    rows[0] += ["pooled accuracy [95% CI]", "publication (reported, not ours)"]
    for r, c in zip(rows[1:], metrics["configs"].values(), strict=True):
        r += [fmt_ci(c["pooled_accuracy"], c.get("pooled_accuracy_ci"), percent=True), PAPER_REFERENCE.get(r[0], "")]
    return ("<h2>Results</h2>" + _table(rows, ref_col=len(rows[0]) - 1) +
            "<p class=note>Accuracy and AUC: mean ± sample SD over folds. Pooled: all out-of-fold predictions "
            "together, 95% percentile bootstrap CI over patients. DeLong: paired test on patient-level pooled "
            "predictions. The last column holds the publication's reported figures, for orientation only; "
            "they were obtained under the leaky paper protocol and are not results of this run.</p>")


def _per_grade(metrics: Mapping[str, Any]) -> str:
    rows = [["config", "grade", "accuracy (OvR)", "sensitivity", "specificity", "AUC (OvR)", "pooled sens.",
             "pooled spec.", "pooled AUC"]]
    for name, c in metrics["configs"].items():
        for g, d in c["per_class"].items():
            pooled = c["pooled_per_class"][g]
            rows.append([name, str(g), *(fmt_mean_sd(d[k], percent=k != "auc") for k in
                                         ("accuracy", "sensitivity", "specificity", "auc")),
                         _fmt(_scale(pooled["sensitivity"]), ".1f"), _fmt(_scale(pooled["specificity"]), ".1f"),
                         _fmt(pooled["auc"])])
    return ("<h2>Per grade (one-vs-rest)</h2>" + _table(rows) +
            "<p class=note>Mean ± SD over folds; sensitivity and specificity in %.</p>")


def _figures(title: str, paths: list[Path], prefix: str, note: str = "") -> str:
    chosen = [p for p in paths if p.name.startswith(prefix)]
    if not chosen:
        return ""
    return f"<h2>{_esc(title)}</h2>" + (f"<p class=note>{_esc(note)}</p>" if note else "") + "".join(map(_img, chosen))


def _protocols(metrics: Mapping[str, Any]) -> str:
    primary = metrics["protocol"]
    others = metrics.get("comparisons", {})
    parts = ["<h2>Protocol</h2>", f"<p><b>{_esc(primary)}</b>: {_esc(PROTOCOL_TEXT.get(primary, 'not described'))}</p>"]
    if not others:
        parts.append(f"<p class=note>{_esc(PROTOCOL_TEXT['paper'] if primary != 'paper' else PROTOCOL_TEXT['honest'])} "
                     "(not run here; use <code>--compare OTHER_RUN</code> to put both side by side).</p>")
        return "".join(parts)
    runs = {primary: metrics, **others}
    rows = [["config", *(f"{k}: {m}" for k in runs for m in ("accuracy", "pooled AUC"))]]
    for name in metrics["configs"]:
        row = [name]
        for m in runs.values():
            c = m["configs"].get(name)
            row += [fmt_mean_sd(c["accuracy"], percent=True), fmt_ci(c["pooled_auc"], c.get("pooled_auc_ci"))] if c \
                else ["n/a", "n/a"]
        rows.append(row)
    for label, m in others.items():
        parts.append(f"<p><b>{_esc(label)}</b>: {_esc(PROTOCOL_TEXT.get(m['protocol'], 'not described'))}</p>")
    parts.append(_table(rows) + _gap_sentences(metrics, others) + f"<p>{_esc(GAP_TEXT)}</p>")
    return "".join(parts)


def _gap_sentences(metrics: Mapping[str, Any], others: Mapping[str, Any]) -> str:
    out = []
    for label, m in others.items():
        for name, c in metrics["configs"].items():
            o = m["configs"].get(name)
            if o and c["accuracy"]["mean"] is not None and o["accuracy"]["mean"] is not None:
                gap = 100 * (o["accuracy"]["mean"] - c["accuracy"]["mean"])
                out.append(f"{name}: {label} accuracy is {gap:+.1f} points vs {metrics['protocol']}.")
    return f"<p>{_esc(' '.join(out))}</p>" if out else ""


def _provenance(run_dir: Path, metrics: Mapping[str, Any]) -> str:
    info, folds = _read_json(run_dir / "run.json"), _read_json(run_dir / "folds.json")
    fp = info.get("input_fingerprint") or {}
    rows = [["item", "value"], ["run folder", str(run_dir)], ["command", info.get("command", "n/a")],
            ["seed", str(info.get("seed", "n/a"))], ["data fingerprint (sha256)", fp.get("sha256", "n/a")],
            ["input files", str(fp.get("n_files", "n/a"))],
            ["folds", f"{folds.get('n_splits', metrics.get('n_folds'))} (seed {folds.get('seed', 'n/a')})"],
            ["bootstrap", f"{metrics.get('n_boot')} resamples, seed {metrics.get('seed')}"],
            *([k, v] for k, v in (info.get("versions") or {}).items())]
    cfg = run_dir / "config.yaml"
    cfg_text = f"<pre>{_esc(cfg.read_text())}</pre>" if cfg.is_file() else "<p>config.yaml: not found</p>"
    return "<h2>Provenance</h2>" + _table(rows) + "<h3>Resolved config</h3>" + cfg_text


def _warnings(metrics: Mapping[str, Any]) -> str:
    lines = [f"{n}: {w}" for n, c in metrics["configs"].items() for w in c.get("warnings", [])]
    if not lines:
        return ""
    return "<h2>Warnings</h2><ul>" + "".join(f"<li>{_esc(x)}</li>" for x in lines) + "</ul>"


def render_html(run_dir: Path, metrics: Mapping[str, Any], figures: list[Path]) -> str:
    """The whole report as one HTML string: inline CSS, figures as base64 data URIs, no external links."""
    title = f"gliograde cross-validation report: {run_dir.name}"
    head = (f"<h1>{_esc(title)}</h1><p>Protocol <b>{_esc(metrics['protocol'])}</b>; grades "
            f"{_esc(metrics['classes'])}; {metrics['n_patients']} patients; {metrics['n_folds']} folds.</p>")
    body = "".join([
        head, _summary(metrics), f"<pre>{_esc(results_table(metrics))}</pre>", _per_grade(metrics),
        _figures("ROC curves", figures, "roc_", "Pooled out-of-fold one-vs-rest ROC per grade (cf. the study's Figure 6)."),
        _figures("Calibration", figures, "reliability_", "Top-label reliability: bar = accuracy per confidence bin; "
                 "numbers = patients per bin; ECE = weighted mean |accuracy - confidence|."),
        _figures("Confusion matrices", figures, "confusion_", "Pooled out-of-fold; rows = true grade."),
        _figures("Training curves", figures, "training_", "Mean ± SD over folds (cf. the study's Figure 5)."),
        _protocols(metrics), _warnings(metrics), _provenance(run_dir, metrics),
    ])
    return (f"<!DOCTYPE html><html lang=en><head><meta charset=utf-8><title>{_esc(title)}</title>"
            f"<style>{_CSS}</style></head><body>{body}</body></html>")
