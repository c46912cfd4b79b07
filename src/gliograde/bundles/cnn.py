"""The model bundle: one folder that holds everything needed to grade a new case.

A bundle is what ``gliograde train COHORT --out BUNDLE`` leaves behind, and what ``gliograde predict``
and ``gliograde export`` read. ``model.json``'s ``kind`` says which: ``cnn`` (this module) or ``radiomics``
(:mod:`gliograde.bundles.radiomics`, the ``recommended`` preset); :func:`load_any_bundle` reads either.
A CNN bundle::

    BUNDLE/
      weights.safetensors   the trained weights (safetensors: no pickle, no code execution on load)
      model.json            backbone, ModelSpec, preprocessing (IngestCfg incl. PreprocessCfg), classes,
                            input size, input channels, training-data fingerprint, CV metrics (optional)
      MODEL_CARD.md         intended use (research only), data, metrics, limitations, citation

>>> # bundle = write_bundle(Path("runs/m"), cohort, train_cfg, aug_cfg, fit_result)   # after train_on_cohort
>>> # b = load_bundle(Path("runs/m")); b.classes -> (2, 3, 4); b.model -> nn.Module in eval mode
"""
from __future__ import annotations

import dataclasses
import json
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml

from gliograde.config import IngestCfg, from_dict
from gliograde.errors import InputError
from gliograde.models import ModelSpec
from gliograde.runinfo import package_versions, sha256_file, to_plain

if TYPE_CHECKING:
    from torch import nn

    from gliograde.bundles.radiomics import RadiomicsBundle
    from gliograde.config import AugmentCfg, TrainCfg
    from gliograde.data.dataset import Cohort
    from gliograde.training.engine import FitResult

logger = logging.getLogger(__name__)

WEIGHTS = "weights.safetensors"
MODEL_JSON = "model.json"
MODEL_CARD = "MODEL_CARD.md"
FORMAT_VERSION = 1
KIND_CNN = "cnn"


@dataclass(frozen=True)
class Bundle:
    """A loaded bundle.

    Attributes:
        path: the bundle folder.
        model: the network in eval mode on CPU, ``model.spec`` set.
        spec: the backbone's :class:`~gliograde.models.ModelSpec`.
        classes: WHO grades in output order, e.g. (2, 3, 4).
        input_size: square side the network sees (crops are resized to it).
        in_chans: channels of the preprocessed crop (1 = grey, repeated to RGB in the batch).
        ingest: how cases are read and preprocessed (identical to training).
        fingerprint: sha256 of ``weights.safetensors``: identifies the exact model.
        meta: model.json as a dict.
    """

    path: Path
    model: nn.Module
    spec: ModelSpec
    classes: tuple[int, ...]
    input_size: int
    in_chans: int
    ingest: IngestCfg
    fingerprint: str
    meta: dict[str, Any]


def shared_meta(out: Path, cohort: Cohort, ingest: IngestCfg, cv_metrics: dict[str, Any] | None) -> dict[str, Any]:
    """The model.json entries every bundle kind carries: preprocessing to repeat at prediction time
    (one slice, no fixed index), training-data fingerprints, CV metrics and package versions."""
    return {
        "preprocessing": to_plain(dataclasses.replace(ingest, slices=1, slice_index=None, skip_bad=False)),
        "data_fingerprint": {"cohort_input_sha256": json_sha(cohort.root / "run.json"),
                             "train_input_sha256": json_sha(out / "run.json")},
        "cv_metrics": cv_metrics,
        "versions": package_versions(),
    }


def read_ingest_cfg(cohort_root: Path) -> IngestCfg:
    """The :class:`IngestCfg` a cohort was ingested with, from ``cohort_root/config.yaml``.

    Raises:
        InputError: no config.yaml (the cohort was not written by ``gliograde ingest``) or unknown keys.
    """
    path = Path(cohort_root) / "config.yaml"
    if not path.is_file():
        raise InputError(f"{path}: missing; a bundle needs the preprocessing used at ingest. "
                         f"Re-run `gliograde ingest ... --out {cohort_root}` or pass ingest_cfg explicitly")
    data = dict(yaml.safe_load(path.read_text()) or {})
    data.pop("data", None)
    return from_dict(IngestCfg, data)


def read_cv_metrics(metrics_json: Path) -> dict[str, Any]:
    """Accuracy, AUC and pooled AUC per configuration from a CV run's ``metrics.json``.

    Returns:
        ``{"protocol", "n_patients", "n_folds", "configs": {name: {"accuracy": {"mean", "sd"},
        "auc": {"mean", "sd"}, "pooled_auc"}}}``
    """
    path = Path(metrics_json)
    if not path.is_file():
        raise InputError(f"{path}: no CV metrics; run `gliograde cv` first or leave the CV metrics out")
    raw = json.loads(path.read_text())
    configs = {}
    for name, c in (raw.get("configs") or {}).items():
        configs[name] = {k: {s: (c.get(k) or {}).get(s) for s in ("mean", "sd")} for k in ("accuracy", "auc")}
        configs[name]["pooled_auc"] = c.get("pooled_auc")
    return {"protocol": raw.get("protocol"), "n_patients": raw.get("n_patients"), "n_folds": raw.get("n_folds"),
            "source": str(path), "configs": configs}


def json_sha(path: Path) -> str | None:
    """The ``input_fingerprint.sha256`` of a run's ``run.json`` (None when there is none)."""
    if not path.is_file():
        return None
    fp = json.loads(path.read_text()).get("input_fingerprint") or {}
    return fp.get("sha256")


def write_bundle(out: Path, cohort: Cohort, train_cfg: TrainCfg, aug_cfg: AugmentCfg, fit_result: FitResult,
                 ingest_cfg: IngestCfg | None = None, cv_metrics: dict[str, Any] | None = None) -> Path:
    """Turn a training run folder into a bundle: ``model.json`` + ``MODEL_CARD.md`` (+ weights if absent).

    Args:
        out: the folder :func:`gliograde.training.cnn.train_on_cohort` wrote (weights.safetensors, run.json).
        cohort: the cohort trained on (its ``root`` holds the ingest config.yaml and run.json).
        train_cfg, aug_cfg: the training and augmentation settings used.
        fit_result: what training returned (model, best epoch).
        ingest_cfg: preprocessing used at ingest; None = read from ``cohort.root/config.yaml``.
        cv_metrics: :func:`read_cv_metrics` output for the model card, or None.

    Returns:
        ``out``.
    """
    from gliograde.models import get_spec

    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    if not (out / WEIGHTS).is_file():
        from safetensors.torch import save_file

        state = {k: v.detach().cpu().contiguous() for k, v in fit_result.model.state_dict().items()}
        save_file(state, str(out / WEIGHTS))
    ingest = ingest_cfg if ingest_cfg is not None else read_ingest_cfg(cohort.root)
    spec = get_spec(train_cfg.model)
    channels = int(cohort.images.shape[1])
    counts = {str(g): int((cohort.labels == i).sum()) for i, g in enumerate(cohort.classes)}
    meta: dict[str, Any] = {
        "format_version": FORMAT_VERSION,
        "kind": KIND_CNN,
        "backbone": train_cfg.model,
        "spec": to_plain(spec),
        "classes": [int(c) for c in cohort.classes],
        "input_size": int(train_cfg.image_size or spec.input_size),
        "in_chans": channels,
        "weights_sha256": sha256_file(out / WEIGHTS),
        "training": {"train": to_plain(train_cfg), "augment": to_plain(aug_cfg), "best_epoch": fit_result.best_epoch,
                     "stopped_epoch": fit_result.stopped_epoch, "n_rows": len(cohort),
                     "n_patients": len(set(cohort.patient_ids.tolist())), "rows_per_grade": counts},
        **shared_meta(out, cohort, ingest, cv_metrics),
    }
    (out / MODEL_JSON).write_text(json.dumps(meta, indent=2))
    (out / MODEL_CARD).write_text(render_model_card(meta))
    logger.info("wrote bundle %s (%s, classes %s)", out, train_cfg.model, meta["classes"])
    return out


def load_bundle(path: Path, device: str = "cpu") -> Bundle:
    """Load a bundle folder safely (safetensors, strict state-dict match).

    Args:
        path: bundle folder holding ``model.json`` and ``weights.safetensors``.
        device: torch device for the model.

    Raises:
        InputError: missing files, an unreadable model.json, or weights that do not fit the described model.
    """
    from safetensors.torch import load_file

    from gliograde.models import create_model

    path = Path(path)
    if bundle_kind(path) != KIND_CNN:
        raise InputError(f"{path}: a {bundle_kind(path)} bundle has no network; `gliograde predict` reads it "
                         "(load_any_bundle), `gliograde export` needs a CNN bundle (train --preset quick/modern/paper)")
    for name in (MODEL_JSON, WEIGHTS):
        if not (path / name).is_file():
            raise InputError(f"{path / name}: missing; a bundle is the folder written by "
                             "`gliograde train COHORT --out BUNDLE`")
    try:
        meta = json.loads((path / MODEL_JSON).read_text())
        spec_fields: dict[str, Any] = {k: tuple(v) if isinstance(v, list) else v for k, v in meta["spec"].items()}
        spec = ModelSpec(**spec_fields)
        classes = tuple(int(c) for c in meta["classes"])
        in_chans = int(meta["in_chans"])
        ingest = from_dict(IngestCfg, meta["preprocessing"])
    except (KeyError, TypeError, ValueError, json.JSONDecodeError) as err:
        raise InputError(f"{path / MODEL_JSON}: unreadable bundle description ({type(err).__name__}: {err}); "
                         "re-create the bundle with `gliograde train`") from err
    model = create_model(meta["backbone"], len(classes), weights="none",
                         in_chans=in_chans if in_chans not in (1, 3) else 3)
    try:
        model.load_state_dict(load_file(str(path / WEIGHTS)), strict=True)
    except RuntimeError as err:
        raise InputError(f"{path / WEIGHTS}: weights do not fit {meta['backbone']} with {len(classes)} classes "
                         f"({str(err).splitlines()[0]}); the bundle is inconsistent, re-train it") from err
    model.to(device).eval()
    return Bundle(path=path, model=model, spec=spec, classes=classes, input_size=int(meta["input_size"]),
                  in_chans=in_chans, ingest=ingest, fingerprint=sha256_file(path / WEIGHTS), meta=meta)


def bundle_kind(path: Path) -> str:
    """``cnn`` or ``radiomics``: the ``kind`` in ``path/model.json`` (bundles written before it are CNNs).

    Raises:
        InputError: no or unreadable model.json.
    """
    meta_path = Path(path) / MODEL_JSON
    if not meta_path.is_file():
        raise InputError(f"{meta_path}: missing; a bundle is the folder written by "
                         "`gliograde train COHORT --out BUNDLE`")
    try:
        return str(json.loads(meta_path.read_text()).get("kind", KIND_CNN))
    except (json.JSONDecodeError, AttributeError) as err:
        raise InputError(f"{meta_path}: unreadable bundle description ({err}); "
                         "re-create it with `gliograde train`") from err


def load_any_bundle(path: Path, device: str = "cpu") -> Bundle | RadiomicsBundle:
    """A CNN :class:`Bundle` or a :class:`~gliograde.bundles.radiomics.RadiomicsBundle`, by ``model.json``'s kind.

    Raises:
        InputError: see :func:`load_bundle` and :func:`~gliograde.bundles.radiomics.load_radiomics_bundle`.
    """
    from gliograde.bundles.radiomics import KIND, load_radiomics_bundle

    kind = bundle_kind(path)
    if kind == KIND:
        return load_radiomics_bundle(path)
    if kind != KIND_CNN:
        raise InputError(f"{Path(path) / MODEL_JSON}: unknown bundle kind {kind!r}; expected cnn or radiomics")
    return load_bundle(path, device)


def metrics_lines(cv: dict[str, Any] | None) -> list[str]:
    if not cv or not cv.get("configs"):
        return ["No cross-validated metrics were attached to this bundle. Estimate performance with "
                "`gliograde cv` on the same cohort and settings; training accuracy is not a performance estimate."]

    def f(x: Any) -> str:
        return "n/a" if x is None else f"{x:.3f}"

    lines = [f"Cross-validation ({cv.get('protocol')} protocol, {cv.get('n_folds')} folds, "
             f"{cv.get('n_patients')} patients):", "",
             "| configuration | accuracy (mean ± SD) | AUC (mean ± SD) | pooled AUC |", "|---|---|---|---|"]
    for name, c in cv["configs"].items():
        acc, auc = c["accuracy"], c["auc"]
        lines.append(f"| {name} | {f(acc['mean'])} ± {f(acc['sd'])} | {f(auc['mean'])} ± {f(auc['sd'])} "
                     f"| {f(c['pooled_auc'])} |")
    return lines


def render_model_card(meta: dict[str, Any]) -> str:
    """MODEL_CARD.md text for a bundle's ``model.json`` dict (Mitchell et al. 2019 headings)."""
    tr, pre = meta["training"], meta["preprocessing"]
    grades = ", ".join(f"grade {g}: {n} slices" for g, n in tr["rows_per_grade"].items())
    fp = meta["data_fingerprint"]
    return "\n".join([
        f"# Model card: gliograde {meta['backbone']} (WHO grades {', '.join(map(str, meta['classes']))})", "",
        "## Intended use",
        "Research only. This model is **not a medical device**, is not cleared or approved for clinical use, "
        "and must not guide the diagnosis or treatment of any patient. It suggests a WHO grade of a diffuse "
        "glioma from one masked contrast-enhanced T1 slice, with a Grad-CAM map of the evidence, to support "
        "research on computer-aided grading.", "",
        "## Model",
        f"- backbone: `{meta['backbone']}`, input {meta['input_size']}x{meta['input_size']}, "
        f"{meta['in_chans']} input channel(s) ({'+'.join(pre['channels'])})",
        f"- training: {tr['train']['epochs']} max epochs, best epoch {tr['best_epoch']} of {tr['stopped_epoch']}, "
        f"weights start `{tr['train']['weights']}`, augmentation `{tr['augment']['mode']}`",
        f"- weights sha256: `{meta['weights_sha256']}`", "",
        "## Data",
        f"- {tr['n_patients']} patients, {tr['n_rows']} slices ({grades})",
        f"- preprocessing: ROI labels {pre['roi_labels'] or 'all non-zero'}, window {pre['preprocess']['window']} "
        f"({pre['preprocess']['intensity']} on {pre['preprocess']['region']}), rim {pre['preprocess']['rim']}, "
        f"crop size {pre['preprocess']['size']}",
        f"- cohort fingerprint (sha256 of the ingested files): `{fp.get('cohort_input_sha256')}`",
        f"- training-input fingerprint: `{fp.get('train_input_sha256')}`", "",
        "## Metrics", *metrics_lines(meta.get("cv_metrics")), "",
        "## Limitations",
        "- Single slice: only the largest tumour cross-section is seen; "
        "heterogeneity elsewhere in the tumour is missed.",
        "- A tumour mask is required; grading depends on its quality, and pixels outside it are set to zero.",
        "- Site shift: trained on public research cohorts (few scanners and institutions); accuracy on other "
        "scanners, protocols or populations is unknown and probably lower. Validate locally before any study.",
        "- Small training set; probabilities may be poorly calibrated, especially for the rarest grade.",
        "- WHO grade alone, from imaging only: the 2021 WHO classification also needs molecular markers "
        "(IDH, 1p/19q), which this model does not predict.",
        "- Grad-CAM shows where the network looked, not why; it is not a validated explanation.", "",
        "## How to cite",
        "Cite the gliograde software (version in `model.json`), the original study it reproduces, and the data "
        "sources (TCGA-LGG / BraTS) according to their terms of use.", "",
    ])
