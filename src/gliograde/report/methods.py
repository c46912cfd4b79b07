"""``methods.md`` in every CV run folder: the protocol described in prose with the run's own numbers, a draft to
adapt into a paper's methods and results. Written with the report, from the same artefacts (``metrics.json``,
``config.yaml``, ``run.json``, ``permutation.json``, the cohort's ``skipped.json``); what only the authors know is
left as ``[bracketed]`` text to fill in.

>>> config_sentence("radiomics", {"cv": {"selection": {"method": "inner_cv", "inner_folds": 5}}})[:60]
'radiomics: PyRadiomics features of each channel inside the t'
"""
from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from gliograde.fsio import atomic_write_text
from gliograde.report.artefacts import read_json
from gliograde.report.checklist import (
    cal_ci,
    grade_counts,
    recalibration_note,
    run_config,
    skipped_cases,
    unit_of_split,
)
from gliograde.report.format import fmt_ci, fmt_value
from gliograde.report.paths import shown_name
from gliograde.report.permutation import leak_lines

METHODS_MD = "methods.md"


def config_sentence(name: str, cfg: Mapping[str, Any]) -> str:
    """What configuration ``name`` trains, in one sentence, with the run's settings."""
    train, sel = cfg.get("train") or {}, (cfg.get("cv") or {}).get("selection") or {}
    chosen = (f"the classifier and the number of features kept were chosen inside each training fold "
              f"({sel.get('method', 'inner_cv')}, {sel.get('inner_folds', 'n/a')} inner folds grouped by patient) and "
              "refitted on all its training patients")
    what = ("a new classification head on the frozen backbone of the " if train.get("freeze_backbone")
            else "the ")  # the quick preset trains the head only: say so, a reader would assume fine-tuning
    cnn = (f"{what}{train.get('model', 'CNN')} network ({train.get('weights', 'n/a')} starting weights) trained for at "
           f"most {train.get('epochs', 'n/a')} epochs, stopped early on an inner split of "
           f"{fmt_value(train.get('val_fraction'), '.2f')} of the training patients")
    text = {"radiomics": f"PyRadiomics features of each channel inside the tumour ROI; {chosen}",
            "fusion": f"PyRadiomics features joined with a frozen CNN's penultimate features; {chosen}",
            "full": cnn + ", with augmentation of the training patients",
            "no-pretrain": cnn.replace(f"{train.get('weights', 'n/a')} starting weights", "random initialisation"),
            "no-aug": cnn + ", without augmentation",
            "handcrafted": "PyRadiomics features with a fixed "
                           f"{(cfg.get('cv') or {}).get('handcrafted_classifier', 'logreg')} classifier",
            "handcrafted-mlp": "PyRadiomics features with a small multilayer perceptron",
            "prior": "pre-specified radiological signs combined with fixed weights, only the calibration fitted",
            "prior-monotone": "pre-specified radiological signs with non-negative shrunk weights fitted per "
                              "training fold"}
    return f"{name}: {text.get(name, 'see config.yaml')}."


def _calibration(c: Mapping[str, Any]) -> str:
    cal = c.get("calibration")
    if not cal:
        return ""
    parts = [f"grade {g}: slope {cal_ci(e['slope'], e.get('slope_ci'))}, intercept "
             f"{cal_ci(e['intercept'], e.get('intercept_ci'))}" for g, e in cal["per_grade"].items()]
    return f"; calibration {'; '.join(parts)}; Brier score {fmt_value(cal['brier'])}"


def _permutation(doc: Mapping[str, Any], proto: str, name: str) -> str:
    e = ((doc.get("protocols") or {}).get(proto) or {}).get("configs", {}).get(name)
    if not e:
        return ""
    a = e["auc"]
    return (f" On {a['null']['n']} shuffles of the grades the pooled AUC was {fmt_value(a['null']['mean'])} ± "
            f"{fmt_value(a['null']['sd'])} (range {fmt_value(a['null']['min'])}-{fmt_value(a['null']['max'])}); "
            f"permutation p = {fmt_value(a['p'])}.")


def methods_text(run_dir: Path, metrics: Mapping[str, Any]) -> str:
    """The whole ``methods.md`` (Markdown) of a CV run."""
    run_dir = Path(run_dir)
    info, folds, cfg = read_json(run_dir / "run.json"), read_json(run_dir / "folds.json"), run_config(run_dir)
    perm = read_json(run_dir / "permutation.json") if (run_dir / "permutation.json").is_file() else {}
    ingest, cv = cfg.get("ingest") or {}, cfg.get("cv") or {}
    pre, versions = ingest.get("preprocess") or {}, info.get("versions") or {}
    cohort = metrics.get("cohort") or {}
    proto = str(metrics.get("protocol"))
    n_rep = int(metrics.get("n_repeats") or 1)
    skipped = skipped_cases(run_dir, cfg)
    fp = (info.get("input_fingerprint") or {}).get("sha256", "n/a")
    lines = [f"# Methods (draft from gliograde run `{shown_name(run_dir.resolve())}`)", "",
             "Generated from this run's files; adapt before use. Text in [brackets] is for you to fill in.", ""]
    data = (f"**Data.** We analysed {metrics.get('n_patients')} patients ({grade_counts(metrics)}) of the "
            f"{cohort.get('name', '[name]')} cohort [source, acquisition dates, setting, scanners and sequences]. ")
    if cohort.get("synthetic"):
        data += ("These images are synthetic (generated by `gliograde synth`) and describe no patient; the "
                 "numbers below demonstrate the pipeline only. ")
    data += "Grades follow [grading system and WHO edition], assigned by [who, blinded or not]. "
    if skipped is not None:
        data += (f"{skipped['patients']} patient(s) were excluded at ingest (reasons in the cohort's skipped.json); "
                 "no value was imputed. ")
    k = ingest.get("slices", "n/a")
    data += (f"For each patient {k} slice{'' if k == 1 else 's'} of {', '.join(ingest.get('channels') or [])} "
             f"{'was' if k == 1 else 'were'} used, intensities scaled ({pre.get('intensity', 'n/a')}, over "
             f"{pre.get('region', 'n/a')}) and "
             f"a crop around the tumour ROI resized to {pre.get('size', 'n/a')} px.")
    lines += [data, ""]
    lines += ["**Models.** " + " ".join(config_sentence(n, cfg) for n in metrics.get("configs", {})), ""]
    valid = (f"**Validation.** Performance was estimated by {metrics.get('n_folds')}-fold cross-validation whose "
             f"folds split {unit_of_split(proto)}, fold seed {folds.get('seed', 'n/a')}")
    valid += f", repeated {n_rep} times with fold seeds seed to seed + {n_rep - 1}. " if n_rep > 1 else ". "
    if proto != "paper":
        valid += ("Everything fitted (augmentation, feature and model selection, early stopping, where a "
                  "configuration has them) used the training patients of a fold only; its test patients were "
                  "predicted once. ")
    if recal := recalibration_note(cv.get("recalibrate"), list(metrics.get("configs", {})), proto):
        valid += recal[0].upper() + recal[1:] + ". "
    valid += ("No external test set was used [describe any]." if proto != "site"
              else "Each site was tested once by a model that never saw it.")
    lines += [valid, ""]
    stats = (f"**Statistics.** Discrimination: pooled out-of-fold AUC and accuracy with 95 % percentile bootstrap "
             f"confidence intervals over patients ({metrics.get('n_boot')} resamples, seed {metrics.get('seed')}). "
             "Calibration: slope and intercept of a logistic recalibration of the predicted log-odds (one-vs-rest "
             "for more than two grades) with bootstrap CIs, and the Brier score.")
    if perm:
        stats += (f" Label-permutation check: the protocol was repeated {perm.get('n')} times with the grades "
                  "shuffled between patients (everything else unchanged); p = (1 + shuffles scoring at least the "
                  "real AUC) / (shuffles + 1).")
    lines += [stats, ""]
    lines += ["**Results.**", ""]
    for name, c in metrics.get("configs", {}).items():
        lines.append(f"- {name} ({proto} protocol): pooled AUC {fmt_ci(c.get('pooled_auc'), c.get('pooled_auc_ci'))}, "
                     f"pooled accuracy {fmt_ci(c.get('pooled_accuracy'), c.get('pooled_accuracy_ci'), percent=True)}"
                     f"{_calibration(c)}.{_permutation(perm, proto, name)}")
    for label, m in (metrics.get("comparisons") or {}).items():
        paper = m.get("protocol") == "paper"
        aucs = "; ".join(f"{name} {fmt_ci(c.get('pooled_auc'), c.get('pooled_auc_ci'))}"
                         for name, c in m.get("configs", {}).items())
        lines.append(f"- Under the study's leaky protocol ({label}: images, not patients, split at random) the pooled "
                     f"AUCs were: {aucs}. These are not estimates of performance on new patients." if paper
                     else f"- Under the {label} protocol the pooled AUCs were: {aucs}.")
        if paper:
            lines += [f"- {name}, {label} protocol:{_permutation(perm, 'paper', name)}"
                      for name in m.get("configs", {}) if _permutation(perm, "paper", name)]
    lines += [*(f"- {line}" for line in (leak_lines(perm) if perm else [])), ""]
    soft = ", ".join(f"{k} {v}" for k, v in versions.items() if k in ("gliograde", "python", "scikit-learn",
                                                                       "pyradiomics", "torch", "numpy"))
    lines += [f"**Software.** {soft or 'see run.json'}. The resolved settings are in config.yaml (rerun with "
              f"`gliograde cv --config config.yaml`); input data fingerprint sha256 {fp[:16]}.", ""]
    return "\n".join(lines)


def write_methods(run_dir: Path, metrics: Mapping[str, Any]) -> Path:
    """Write ``run_dir/methods.md`` atomically and return its path."""
    path = Path(run_dir) / METHODS_MD
    atomic_write_text(path, methods_text(run_dir, metrics))
    return path
