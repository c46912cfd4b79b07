"""The ``cnn`` model kind: a fine-tuned network, graded with LayerCAM evidence (presets quick, modern, paper).

::

    BUNDLE/
      weights.safetensors   the trained weights (safetensors: no pickle, no code execution on load)
      model.json            kind "cnn", backbone, ModelSpec, preprocessing (IngestCfg incl. PreprocessCfg),
                            classes, input size, input channels, training-data fingerprint, CV metrics (optional)
      embedding_stats.safetensors   the training slices' penultimate-layer embedding statistics, for the
                            ``unlike_training`` check (:mod:`gliograde.bundles.embedding`; absent in older bundles)
      MODEL_CARD.md         intended use (research only), data, metrics, limitations, citation
      history.csv, history.png, inner_split.csv, config.yaml, run.json   the training run (patients by keyed
                            alias, no file names; a raw cohort is ingested beside the bundle, into OUT.cohort)

A model.json without ``kind`` (written before kinds existed) is a CNN bundle.
torch and the torch-bound gliograde modules (models, training, explain) are imported on first use, so the
kind registry loads without torch.

>>> # report = CnnBundle.train(cohort, Path("runs/m"), run_config)   # train_on_cohort + write
>>> # b = load_bundle(Path("runs/m")); b.classes -> (2, 3, 4); b.model -> nn.Module in eval mode
"""
from __future__ import annotations

import json
import logging
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np
import numpy.typing as npt

from gliograde.bundles.base import CasePrediction, CropScores, ModelKind, TrainReport
from gliograde.bundles.embedding import (
    FAR_Z,
    MIN_ROWS,
    MISSING_NOTE,
    NOTE,
    STATS_FILE,
    EmbeddingStats,
    capture_embedding,
    fit_stats,
    max_abs_z,
    read_stats,
    write_stats,
)
from gliograde.bundles.meta import (
    MODEL_JSON,
    RESEARCH_ONLY,
    WEIGHTS,
    accuracy_at_chance,
    card_metrics,
    chance_warning,
    labels_lines,
    rows_per_grade,
    shared_meta,
    write_meta,
)
from gliograde.config import IngestCfg, RunConfig, from_dict
from gliograde.data.cohort import read_ingest_cfg
from gliograde.errors import InputError
from gliograde.explain import DEFAULT_METHOD, evidence_and_logits, evidence_layers, evidence_panel, heat_inside
from gliograde.fsio import atomic_path, atomic_write_bytes
from gliograde.runinfo import sha256_file, to_plain

if TYPE_CHECKING:
    import torch
    from torch import nn

    from gliograde.data.dataset import Cohort
    from gliograde.export import OnnxGraph
    from gliograde.models import ModelSpec
    from gliograde.training.engine import FitResult

__all__ = ["FORMAT_VERSION", "WEIGHTS", "CnnBundle", "canonical_safetensors", "card_section_lines", "render_card"]

logger = logging.getLogger(__name__)

FORMAT_VERSION = 1


@dataclass(frozen=True)
class CnnBundle(ModelKind["FitResult"]):
    """A loaded CNN bundle.

    Attributes:
        model: the network in eval mode, ``model.spec`` set. spec: the backbone's ModelSpec.
        input_size: square side the network sees (crops are resized to it).
        in_chans: channels of the preprocessed crop (1 = grey, repeated to RGB in the batch).
        stats: the training slices' embedding statistics (``unlike_training``); None for bundles without them.
        (and path, classes, ingest, fingerprint = sha256 of weights.safetensors, meta: see ModelKind)
    """

    name: ClassVar[str] = "cnn"
    uses: ClassVar[frozenset[str]] = frozenset({"train", "augment"})
    format_version: ClassVar[int] = FORMAT_VERSION

    path: Path
    model: nn.Module
    spec: ModelSpec
    classes: tuple[int, ...]
    input_size: int
    in_chans: int
    ingest: IngestCfg
    fingerprint: str
    meta: dict[str, Any]
    stats: EmbeddingStats | None = None

    # ---- writing and reading ------------------------------------------------------------------------------
    @classmethod
    def train_header(cls, cohort: Cohort, out: Path, cfg: RunConfig) -> str:
        return (f"training {cfg.train.model} ({cfg.train.preset}) on {len(cohort)} slices, "
                f"classes {list(cohort.classes)} -> {out}")

    @classmethod
    def settings_summary(cls, cfg: RunConfig) -> str:
        t = cfg.train
        how = "frozen backbone + head" if t.freeze_backbone else f"fine-tuned, {t.optimizer}"
        return f"{t.model} ({t.weights} weights, {how}, <= {t.epochs} epochs, augment {cfg.augment.mode})"

    @classmethod
    def check_settings(cls, cfg: RunConfig, *, allow_random_frozen: bool = False) -> None:
        """Refuse a frozen backbone with random weights (``train.freeze_backbone`` with ``train.weights none``):
        only the head would train, on features of a network that never learned anything."""
        t = cfg.train
        if t.freeze_backbone and t.weights == "none" and not allow_random_frozen:
            raise InputError(f"train.weights none with train.freeze_backbone true (preset {t.preset} freezes the "
                             f"backbone): only the head would train, on features of a random, untrained {t.model}; "
                             "give --weights imagenet (or a weights file), a preset that fine-tunes (e.g. modern), or "
                             "--allow-random-frozen to train it anyway")

    @classmethod
    def cv_configuration(cls, cfg: RunConfig) -> str:
        """``no-pretrain`` for a random start, ``no-aug`` without augmentation, else ``full``."""
        return "no-pretrain" if cfg.train.weights == "none" else "no-aug" if cfg.augment.mode == "none" else "full"

    @classmethod
    def train(cls, cohort: Cohort, out: Path, cfg: RunConfig, *, cv_metrics: dict[str, Any] | None = None,
              progress: bool = True) -> TrainReport:
        """:func:`~gliograde.training.cnn.train_on_cohort` with ``cfg.train`` and ``cfg.augment`` (rerunning on
        the same ``out`` resumes), then :meth:`write`."""
        from gliograde.training.cnn import train_on_cohort  # imports torch: on first use

        res = train_on_cohort(cohort, cfg.train, cfg.augment, out, progress=progress, run=cfg)
        cls.write(out, cohort, res, cfg, cv_metrics=cv_metrics)
        last = res.history[res.best_epoch - 1] if res.history else {}
        inner = json.loads((Path(out) / MODEL_JSON).read_text())["inner_validation"]
        return TrainReport(bundle=Path(out), lines=[
            f"best epoch {res.best_epoch} of {res.stopped_epoch}: val loss {last.get('val_loss', float('nan')):.4f}, "
            f"val acc {last.get('val_acc', float('nan')):.3f}", *chance_warning(inner),
            f"wrote the model bundle {out}: {WEIGHTS}, model.json, MODEL_CARD.md, history.csv, history.png"])

    @classmethod
    def write(cls, out: Path, cohort: Cohort, fit: FitResult, cfg: RunConfig, *,
              cv_metrics: dict[str, Any] | None = None, ingest: IngestCfg | None = None) -> Path:
        """Turn a training run folder into a bundle: ``model.json`` + ``MODEL_CARD.md`` (+ weights if absent).

        Args:
            out: the folder :func:`gliograde.training.cnn.train_on_cohort` wrote (weights.safetensors, run.json).
            cohort: the cohort trained on (its ``root`` holds the ingest config.yaml and run.json).
            fit: what training returned (model, best epoch). cfg: its ``train`` and ``augment`` were used.
            cv_metrics: :func:`~gliograde.bundles.meta.read_cv_metrics` output for the model card, or None.
            ingest: preprocessing used at ingest; None = read from ``cohort.root/config.yaml``.
        """
        from gliograde.models import get_spec  # imports torch: on first use

        out = Path(out)
        out.mkdir(parents=True, exist_ok=True)
        if not (out / WEIGHTS).is_file():
            from safetensors.torch import save_file  # imports torch: on first use

            state = {k: v.detach().cpu().contiguous() for k, v in fit.model.state_dict().items()}
            with atomic_path(out / WEIGHTS) as tmp:
                save_file(state, str(tmp))
        canonical_safetensors(out / WEIGHTS)  # same tensors -> same bytes -> same weights_sha256
        ingest = ingest if ingest is not None else read_ingest_cfg(cohort.root)
        spec = get_spec(cfg.train.model)
        input_size = int(cfg.train.image_size or spec.input_size)
        meta: dict[str, Any] = {
            "format_version": FORMAT_VERSION, "kind": cls.name, "backbone": cfg.train.model, "spec": to_plain(spec),
            "classes": [int(c) for c in cohort.classes], "input_size": input_size,
            "in_chans": int(cohort.images.shape[1]), "weights_sha256": sha256_file(out / WEIGHTS),
            "training": {"train": to_plain(cfg.train), "augment": to_plain(cfg.augment), "best_epoch": fit.best_epoch,
                         "stopped_epoch": fit.stopped_epoch, "n_rows": len(cohort),
                         "n_patients": len(set(cohort.patient_ids.tolist())), "rows_per_grade": rows_per_grade(cohort)},
            **shared_meta(out, cohort, ingest, cv_metrics),
            "inner_validation": _inner_validation(cohort, fit, cfg),
            "unlike_training_check": _write_embedding_stats(out, fit.model, spec, input_size, cohort.images),
        }
        write_meta(out, meta, render_card(meta))
        logger.debug("wrote bundle %s (%s, classes %s)", out, cfg.train.model, meta["classes"])
        return out

    @classmethod
    def load(cls, path: Path, meta: dict[str, Any], device: str = "cpu") -> CnnBundle:
        """Load safely: the weights' sha256 checked against ``weights_sha256``, safetensors, strict state-dict match.

        Raises:
            InputError: missing weights, an unreadable model.json, weights other than those recorded, a damaged
                weights file, or weights that do not fit the described model.
        """
        from safetensors.torch import load_file  # imports torch: on first use

        from gliograde.models import ModelSpec, create_model  # imports torch: on first use

        path = Path(path)
        if not (path / WEIGHTS).is_file():
            raise InputError(f"{path / WEIGHTS}: missing; a bundle is the folder written by "
                             "`gliograde train COHORT --out BUNDLE`")
        try:
            spec_fields: dict[str, Any] = {k: tuple(v) if isinstance(v, list) else v for k, v in meta["spec"].items()}
            spec = ModelSpec(**spec_fields)
            classes = tuple(int(c) for c in meta["classes"])
            in_chans, input_size = int(meta["in_chans"]), int(meta["input_size"])
            ingest = from_dict(IngestCfg, meta["preprocessing"])
            want_sha = meta.get("weights_sha256")
            stats_file = (meta.get("unlike_training_check") or {}).get("file")
        except (KeyError, TypeError, ValueError, AttributeError) as err:
            raise InputError(f"{path / MODEL_JSON}: unreadable bundle description ({type(err).__name__}: {err}); "
                             "re-create the bundle with `gliograde train`") from err
        sha = sha256_file(path / WEIGHTS)
        if want_sha is not None and sha != want_sha:
            raise InputError(f"{path / WEIGHTS}: sha256 {sha[:12]}... != weights_sha256 {str(want_sha)[:12]}... "
                             "recorded in model.json; these are not the bundle's weights, restore them or re-train")
        model = create_model(meta["backbone"], len(classes), weights="none",
                             in_chans=in_chans if in_chans not in (1, 3) else 3)
        try:
            state = load_file(str(path / WEIGHTS))
        except Exception as err:  # safetensors' own error types (SafetensorError, OSError, ...): one line
            raise InputError(f"{path / WEIGHTS}: not a readable safetensors file ({type(err).__name__}: "
                             f"{(str(err).splitlines() or [''])[0][:120]}); the file is damaged, copy the bundle "
                             "again or re-train it") from err
        try:
            model.load_state_dict(state, strict=True)
        except RuntimeError as err:
            raise InputError(f"{path / WEIGHTS}: weights do not fit {meta['backbone']} with {len(classes)} classes "
                             f"({str(err).splitlines()[0]}); the bundle is inconsistent, re-train it") from err
        model.to(device).eval()
        stats = None
        if stats_file is not None:
            try:
                stats = read_stats(path / str(stats_file))
            except Exception as err:  # safetensors' own error types, missing keys, shapes: one line
                raise InputError(f"{path / str(stats_file)}: unreadable embedding statistics ({type(err).__name__}: "
                                 f"{(str(err).splitlines() or [''])[0][:120]}); copy the bundle again or re-train "
                                 "it") from err
        return cls(path=path, model=model, spec=spec, classes=classes, input_size=input_size, in_chans=in_chans,
                   ingest=ingest, fingerprint=sha, meta=meta, stats=stats)

    # ---- inference -----------------------------------------------------------------------------------------
    def _normalise(self, x8: torch.Tensor) -> torch.Tensor:
        from gliograde.training.engine import normalise_batch  # imports torch: on first use

        return normalise_batch(x8, self.spec, self.input_size)

    def model_input(self, crop: npt.NDArray[np.uint8], mask: npt.NDArray[np.bool_], area_px: float,
                    where: str) -> torch.Tensor:
        """(1, C, S', S') float: the crop as the network's normalised batch of one."""
        import torch  # heavy: on first use

        arr = crop[None] if crop.ndim == 2 else np.moveaxis(crop, -1, 0)
        x8 = torch.from_numpy(np.ascontiguousarray(arr))[None]
        if x8.shape[1] != self.in_chans:
            raise InputError(f"{where}: {x8.shape[1]} channel(s) after preprocessing but the model was "
                             f"trained on {self.in_chans} ({'+'.join(self.ingest.channels)}); give that modality")
        return self._normalise(x8)

    def evidence_layers(self) -> list[str]:
        """Dotted names of the layers the evidence map is taken at (see :mod:`gliograde.explain`)."""
        return evidence_layers(self.model, self.meta["backbone"])

    def infer(self, x: torch.Tensor, mask: npt.NDArray[np.bool_],
              explain: bool) -> tuple[npt.NDArray[np.float64], dict[str, Any]]:
        """Probabilities, and with ``explain`` the LayerCAM map of the predicted class from the same forward pass
        plus the share of its heat inside the ROI; ``feature_z_max``: the embedding's max |z| against the training
        slices (same forward pass; None without statistics)."""
        import torch  # heavy: on first use

        with capture_embedding(self.model, self.spec.classifier) as embedded:
            if not explain:
                with torch.inference_mode():
                    probs = self.model(x).float().softmax(1)[0].double().numpy()
                found: dict[str, Any] = {}
            else:
                layers = [self.model.get_submodule(n) for n in self.evidence_layers()]
                heat, logits = evidence_and_logits(self.model, layers, x)  # targets None = the predicted class
                probs = logits.float().softmax(1)[0].double().numpy()
                found = {"heat": heat[0], "heat_in_roi": heat_inside(heat[0], mask)}
        if self.stats is not None:
            found["feature_z_max"] = float(max_abs_z(self.stats, embedded()[-1:])[0])
        return probs, found

    def predict_crops(self, images: npt.NDArray[np.uint8], masks: npt.NDArray[np.bool_],
                      roi_area_px: npt.ArrayLike, *, batch_size: int = 16) -> CropScores:
        import torch  # heavy: on first use

        if len(images) == 0:
            return CropScores(np.zeros((0, len(self.classes))))
        if images.shape[1] != self.in_chans:
            raise InputError(f"{self.path}: the cohort has {images.shape[1]} channel(s) but the model was trained on "
                             f"{self.in_chans} ({'+'.join(self.ingest.channels)}); give those sequences")
        out = []
        with torch.inference_mode(), capture_embedding(self.model, self.spec.classifier) as embedded:
            for i in range(0, len(images), batch_size):
                x = self._normalise(torch.from_numpy(np.ascontiguousarray(images[i:i + batch_size])))
                out.append(self.model(x).float().softmax(1).double().numpy())
        proba = np.concatenate(out).astype(np.float64)
        if self.stats is None:
            return CropScores(proba)
        z_max = max_abs_z(self.stats, embedded())
        return CropScores(proba, {"unlike_training": z_max > FAR_Z, "max_abs_z": np.round(z_max, 3)})

    def warm_up(self, explain: bool = True) -> float:
        import torch  # heavy: on first use

        t0 = time.perf_counter()
        s = self.ingest.preprocess.size
        x = self._normalise(torch.zeros(1, self.in_chans, s, s, dtype=torch.uint8))
        self.infer(x, np.ones((s, s), bool), explain)
        return (time.perf_counter() - t0) * 1e3

    # ---- what a reader sees --------------------------------------------------------------------------------
    def evidence(self, pred: CasePrediction) -> dict[str, Any] | None:
        if pred.heat is None or pred.mask is None:
            return None
        z = pred.feature_z_max
        return {"method": DEFAULT_METHOD, "library": "pytorch-grad-cam", "layers": self.evidence_layers(),
                "target_grade": pred.grade, "heat_in_roi": pred.heat_in_roi,
                "roi_share_of_crop": round(float(pred.mask.mean()), 4),
                "display": "masked to ROI" if pred.display_masked else "whole crop",
                "max_abs_z": None if z is None else round(z, 2),
                "unlike_training": None if z is None else bool(z > FAR_Z),
                "note": "heat_in_roi is measured on the unmasked map. Pixels outside the ROI are constant zero in the "
                        "model input (no image information), so overlay.png shows heat inside the ROI only unless "
                        "--show-all-heat. " + (MISSING_NOTE if self.stats is None else NOTE)}

    def panel(self, pred: CasePrediction, title: str) -> npt.NDArray[np.uint8] | None:
        if (pred.heat is None or pred.crop is None or pred.mask is None or pred.slice_image is None
                or pred.slice_mask is None):
            return None
        return evidence_panel(pred.slice_image, pred.slice_mask, pred.crop, pred.mask, pred.heat,
                              f"{title}   heat in ROI {pred.heat_in_roi or 0:.2f}", mask_heat=pred.display_masked)

    def card_section(self) -> str:
        return "\n".join(card_section_lines(self.meta))

    def describe(self) -> dict[str, Any]:
        return {"kind": self.kind, "backbone": self.meta["backbone"], "classes": list(self.classes),
                "input_size": self.input_size, "channels": list(self.ingest.channels)}

    def onnx_graph(self) -> OnnxGraph:
        from gliograde.export import NormalisedSoftmax, OnnxGraph  # imports torch: on first use

        return OnnxGraph(module=NormalisedSoftmax(self.model, self.spec, self.in_chans).eval(),
                         in_chans=self.in_chans, input_size=self.input_size,
                         info={"backbone": self.meta["backbone"]})


def _inner_validation(cohort: Cohort, fit: FitResult, cfg: RunConfig) -> dict[str, Any]:
    """The inner validation's chance check (:func:`~gliograde.bundles.meta.accuracy_at_chance`): the best epoch's
    validation accuracy against the majority-grade share of the validation rows (the same inner split
    :func:`~gliograde.training.cnn.train_on_cohort` held out)."""
    from gliograde.splits import inner_split  # scikit-learn (heavy): on first use

    if not fit.history or cfg.train.val_fraction <= 0:
        return accuracy_at_chance(None, [])
    _, va = inner_split(cohort.patient_ids, cohort.labels, cfg.train.val_fraction, cfg.train.seed)
    acc = fit.history[fit.best_epoch - 1].get("val_acc")
    return accuracy_at_chance(None if acc is None else float(acc), cohort.labels[va].tolist())


def _write_embedding_stats(out: Path, model: nn.Module, spec: ModelSpec, input_size: int,
                           images: npt.NDArray[np.uint8], batch_size: int = 32) -> dict[str, Any] | None:
    """Embed every training crop (eval mode, unaugmented, prediction's normalisation), write their statistics to
    ``out/`` :data:`~gliograde.bundles.embedding.STATS_FILE` and return model.json's ``unlike_training_check``
    (None, and no file, with fewer than :data:`~gliograde.bundles.embedding.MIN_ROWS` training slices)."""
    import torch  # heavy: on first use

    from gliograde.training.engine import normalise_batch  # imports torch: on first use

    if len(images) < MIN_ROWS:
        (out / STATS_FILE).unlink(missing_ok=True)
        return None
    was_training = model.training
    device = next(model.parameters()).device
    model.eval()
    with torch.inference_mode(), capture_embedding(model, spec.classifier) as embedded:
        for i in range(0, len(images), batch_size):
            x8 = torch.from_numpy(np.ascontiguousarray(images[i:i + batch_size]))
            model(normalise_batch(x8, spec, input_size).to(device))
    model.train(was_training)
    emb = embedded()
    stats = fit_stats(emb)
    entry = write_stats(out / STATS_FILE, stats, max_abs_z(stats, emb))
    canonical_safetensors(out / STATS_FILE)  # same statistics -> same bytes -> same seal
    return entry


def canonical_safetensors(path: Path) -> None:
    """Rewrite a safetensors file's JSON header with sorted keys (padded to 8 bytes), so identical tensors and
    metadata always give identical bytes.

    The safetensors writer serialises its metadata from a hash map, whose order changes from process to process;
    the format (8-byte little-endian header length, JSON header, data with offsets relative to the data) lets the
    header be re-serialised without touching the data, which the library offers no call for.
    """
    raw = Path(path).read_bytes()
    n = int.from_bytes(raw[:8], "little")
    header = json.loads(raw[8:8 + n])
    text = json.dumps(header, sort_keys=True, separators=(",", ":")).encode()
    text += b" " * (-len(text) % 8)
    new = len(text).to_bytes(8, "little") + text + raw[8 + n:]
    if new != raw:
        atomic_write_bytes(path, new)


def card_section_lines(meta: dict[str, Any]) -> list[str]:
    """The "## Model" and "## Data" sections of a CNN bundle's model card, from its model.json dict."""
    tr, pre = meta["training"], meta["preprocessing"]
    grades = ", ".join(f"grade {g}: {n} slices" for g, n in tr["rows_per_grade"].items())
    fp = meta["data_fingerprint"]
    return [
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
        f"- training-input fingerprint: `{fp.get('train_input_sha256')}`",
        *labels_lines(meta),
        _unlike_line(meta.get("unlike_training_check")), "",
    ]


def _unlike_line(entry: dict[str, Any] | None) -> str:
    """The model card's line on the ``unlike_training`` check."""
    if not entry:
        return (f"- unlike-training check: not available (no {STATS_FILE}: fewer than {MIN_ROWS} training slices, "
                "or a bundle written before the check existed)")
    q = entry.get("train_max_abs_z") or {}
    return (f"- unlike-training check: max |z| of the penultimate-layer embedding over {entry['n_components']} "
            f"whitened principal components of the {entry['n_rows']} training slices and its distance to their "
            f"mean, flagged above "
            f"{entry['threshold_z']:g}; the training slices themselves: median {q.get('median')}, 99th percentile "
            f"{q.get('q99')}, max {q.get('max')}")


def render_card(meta: dict[str, Any]) -> str:
    """MODEL_CARD.md text for a CNN bundle's ``model.json`` dict (Mitchell et al. 2019 headings)."""
    return "\n".join([
        f"# Model card: gliograde {meta['backbone']} (WHO grades {', '.join(map(str, meta['classes']))})", "",
        "## Intended use",
        RESEARCH_ONLY + "It suggests a WHO grade of a diffuse "
        "glioma from one masked contrast-enhanced T1 slice, with a Grad-CAM map of the evidence, to support "
        "research on computer-aided grading.", "",
        *card_section_lines(meta),
        "## Metrics", *card_metrics(meta), "",
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
