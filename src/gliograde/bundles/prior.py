"""The ``prior`` model kind: pre-specified radiological signs pooled per patient, nothing fitted on grades but the
calibration (see :mod:`gliograde.signs` and ``docs/prior.md``).

::

    BUNDLE/
      prior.json      one score + logistic calibration per set of signs a case may have (plain JSON, no pickle)
      model.json      kind "prior", classes, the signs trained with, combine rule, preprocessing (IngestCfg,
                      whose ROI labels the signs use), model sha256, training-data fingerprint, sealed files
      MODEL_CARD.md   intended use (research only), the signs and their sources, data, limitations
      config.yaml, run.json   provenance of the training run

``predict`` reads every tumour-bearing plane of the case on its native grid with whatever sequences it has
(T1, T1c, FLAIR, T2, a BraTS segmentation), measures the signs, scores the case on the signs it has and the
bundle was trained with, and says which it used; a case is refused only when it has no tumour outline. Its
evidence is each sign's value beside the patient's own reference tissue and the training range, its
contribution, and ``overlay.png`` with the enhancing (red) and necrotic (blue) pixels.

The kind reads cases, not crops (``reads = "case"``): ``validate`` finds each patient's original files again
(:func:`gliograde.data.origin.case_sources`) and grades them with :meth:`PriorBundle.predict_case`, so it gives
every patient exactly what ``predict`` gives.

>>> # b = load_bundle(Path("runs/prior")); pred = b.predict_case(source); b.evidence(pred)["signs_used"]
"""
from __future__ import annotations

import dataclasses
import json
import logging
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar, Literal

import numpy as np
import numpy.typing as npt
from PIL import Image, ImageDraw, ImageOps

from gliograde.bundles.base import CasePrediction, CropScores, ModelKind, TrainReport
from gliograde.bundles.meta import MODEL_JSON, shared_meta, write_meta
from gliograde.bundles.prior_card import card_section_lines, render_card
from gliograde.config import IngestCfg, RunConfig, from_dict
from gliograde.data.cohort import read_ingest_cfg
from gliograde.data.origin import case_files, case_sources
from gliograde.errors import InputError
from gliograde.explain import ROI_COLOUR, draw_outline, label, to_display
from gliograde.fsio import atomic_write_json
from gliograde.runinfo import fingerprint_files, names_withheld, sha256_file, write_run_info
from gliograde.signs.cohort import cohort_signs, read_case
from gliograde.signs.measure import BY_NAME, SIGN_NAMES, CaseSigns, measure_signs
from gliograde.signs.read import CasePlanes
from gliograde.signs.score import SetModel, scored_signs
from gliograde.training.prior import PriorFit, fit_prior, scored_values

if TYPE_CHECKING:
    from gliograde.data.dataset import Cohort
    from gliograde.data.source import CaseSource

__all__ = ["FORMAT_VERSION", "MODEL_FILE", "PriorBundle", "PriorPrediction"]

logger = logging.getLogger(__name__)

MODEL_FILE = "prior.json"
FORMAT_VERSION = 1
ENHANCING_COLOUR, NECROTIC_COLOUR = (255, 60, 60), (80, 140, 255)
NOTE = ("each sign is a share of the tumour measured in units of the patient's own brain outside the tumour, pooled "
        "over every tumour-bearing plane; reference_tissue is the same share in that normal tissue, training_range "
        "the 5th-95th percentile over the training patients (outside_training_range: scored signs beyond it, e.g. "
        "from other scanners or skull stripping: read the probabilities with extra caution); contribution is the "
        "sign's part of the score, contribution_probability the predicted grade's probability minus that with the "
        "sign absent (0). Signs of weight 0 have no established direction for grade in the literature and do not "
        "move the fixed rule; informative = false: no sign of weight > 0 could be measured, the probabilities are "
        "the training patients' grade shares")


@dataclass
class PriorPrediction(CasePrediction):
    """A :class:`CasePrediction` with what the prior kind measured.

    Attributes:
        signs: the case's signs (values, reference shares, missing ones, the enhancing / necrotic pixel maps).
        used: the signs scored. score: the case's score.
    """

    signs: CaseSigns | None = dataclasses.field(default=None, repr=False)
    used: tuple[str, ...] = ()
    score: float | None = None


@dataclass(frozen=True)
class PriorBundle(ModelKind[PriorFit]):
    """A loaded prior bundle.

    Attributes:
        models: {set of signs: its fitted score and calibration}. trained: the signs every training patient had.
        combine: ``fixed`` or ``monotone``. reference_excess: intensity signs scored as their excess over the
            patient's reference tissue. (and path, classes, ingest, fingerprint = sha256 of prior.json, meta)
    """

    name: ClassVar[str] = "prior"
    uses: ClassVar[frozenset[str]] = frozenset()
    reads: ClassVar[Literal["crop", "case"]] = "case"  # every native tumour-bearing plane, not one resized crop

    path: Path
    classes: tuple[int, ...]
    ingest: IngestCfg
    fingerprint: str
    meta: dict[str, Any]
    models: dict[tuple[str, ...], SetModel]
    trained: tuple[str, ...]
    combine: str
    reference_excess: bool = False

    # ---- writing and reading ------------------------------------------------------------------------------
    @classmethod
    def train_header(cls, cohort: Cohort, out: Path, cfg: RunConfig) -> str:
        return (f"training prior ({cfg.cv.prior.combine} rule on pre-specified radiological signs, calibration "
                f"fitted) on {len(set(cohort.patient_ids.tolist()))} patients, classes {list(cohort.classes)} -> {out}")

    @classmethod
    def settings_summary(cls, cfg: RunConfig) -> str:
        p = cfg.cv.prior
        return f"signs combined by the {p.combine} rule" + (f", shrinkage {p.shrinkage:g}" if p.combine != "fixed"
                                                           else "")

    @classmethod
    def cv_configuration(cls, cfg: RunConfig) -> str:
        """``prior`` (the fixed rule) or ``prior-monotone``."""
        return "prior" if cfg.cv.prior.combine == "fixed" else "prior-monotone"

    @classmethod
    def defining_settings(cls, cfg: RunConfig) -> dict[str, Any]:
        """The ``cv.prior`` section (the rule, its shrinkage and calibration): all a prior model is made of."""
        return {"prior": dataclasses.asdict(cfg.cv.prior)}

    @classmethod
    def train(cls, cohort: Cohort, out: Path, cfg: RunConfig, *, cv_metrics: dict[str, Any] | None = None,
              progress: bool = True) -> TrainReport:
        """Measure every patient's signs on the files the cohort was ingested from, fit each reachable set's
        calibration on all of them, record the run (``config.yaml``, ``run.json``) and :meth:`write`."""
        t0 = time.perf_counter()
        out = Path(out)
        ingest = read_ingest_cfg(cohort.root)
        table = cohort_signs(cohort, ingest)
        sources = case_sources(cohort)  # the files the signs were read from, for the run's fingerprint
        first = {str(p): int(lab) for p, lab in zip(cohort.patient_ids, cohort.labels, strict=True)}
        y = np.array([first[p] for p in table.index], dtype=np.int64)
        t1 = time.perf_counter()
        fit = fit_prior(table, y, cohort.classes, cfg.cv.prior)
        # The signs read the original files (not the cohort's crops): those are the training inputs, named
        # relative to the folder holding them all, so the digest does not depend on where the data lives.
        files = [f.resolve() for s in sources.values() for f in case_files(s)]
        out.mkdir(parents=True, exist_ok=True)
        write_run_info(out, command="train", config={**cfg.sections(), "classes": list(cohort.classes)},
                       seed=cfg.train.seed,
                       fingerprint=names_withheld(  # per-file names can name patients: not in a bundle folder
                           fingerprint_files(files, root=Path(os.path.commonpath([f.parent for f in files])))))
        cls.write(out, cohort, fit, cfg, cv_metrics=cv_metrics, ingest=ingest,
                  seconds={"signs": t1 - t0, "fit": time.perf_counter() - t1})
        return TrainReport(bundle=out, lines=[
            f"signs of {fit.n_patients} patients measured on their native planes in {t1 - t0:.1f} s; "
            f"trained with {', '.join(fit.trained)}",
            f"{len(fit.models)} sets of signs calibrated ({cfg.cv.prior.combine} rule)",
            f"wrote the model bundle {out}: {MODEL_FILE}, model.json, MODEL_CARD.md"])

    @classmethod
    def write(cls, out: Path, cohort: Cohort, fit: PriorFit, cfg: RunConfig, *,
              cv_metrics: dict[str, Any] | None = None, ingest: IngestCfg | None = None,
              seconds: dict[str, float] | None = None) -> Path:
        """Write ``prior.json``, ``model.json`` and ``MODEL_CARD.md`` into ``out``."""
        out = Path(out)
        ingest = ingest if ingest is not None else read_ingest_cfg(cohort.root)
        out.mkdir(parents=True, exist_ok=True)
        atomic_write_json(out / MODEL_FILE, {"format_version": FORMAT_VERSION, "combine": cfg.cv.prior.combine,
                                             "reference_excess": cfg.cv.prior.reference_excess,
                                             "trained": list(fit.trained),
                                             "models": [m.to_json() for m in fit.models.values()]})
        meta: dict[str, Any] = {
            "format_version": FORMAT_VERSION, "kind": cls.name, "classes": [int(c) for c in fit.classes],
            "in_chans": int(cohort.images.shape[1]), "signs": list(fit.trained), "combine": cfg.cv.prior.combine,
            "prior": dataclasses.asdict(cfg.cv.prior), "model_sha256": sha256_file(out / MODEL_FILE),
            "sign_sources": {s: BY_NAME[s].source for s in fit.trained},
            "training": {"n_patients": fit.n_patients, "rows_per_grade": fit.rows_per_grade,
                         "seconds": {k: round(v, 2) for k, v in (seconds or {}).items()}},
            **shared_meta(out, cohort, ingest, cv_metrics),
        }
        write_meta(out, meta, render_card(meta))
        logger.debug("wrote prior bundle %s (%s rule, signs %s)", out, meta["combine"], meta["signs"])
        return out

    @classmethod
    def load(cls, path: Path, meta: dict[str, Any], device: str = "cpu") -> PriorBundle:
        """Load: plain JSON, sha256 checked (``device`` is not used).

        Raises:
            InputError: a missing or changed prior.json, or an unreadable model.json.
        """
        path = Path(path)
        if not (path / MODEL_FILE).is_file():
            raise InputError(f"{path / MODEL_FILE}: missing; a prior bundle is the folder written by "
                             "`gliograde train COHORT --out BUNDLE --kind prior`")
        sha = sha256_file(path / MODEL_FILE)
        try:
            if sha != str(meta["model_sha256"]):
                raise InputError(f"{path / MODEL_FILE}: sha256 {sha[:12]}... != model_sha256 recorded in model.json; "
                                 "the model file was changed or replaced, re-train the bundle")
            doc = json.loads((path / MODEL_FILE).read_text())
            models = {m.signs: m for m in (SetModel.from_json(d) for d in doc["models"])}
            return cls(path=path, classes=tuple(int(c) for c in meta["classes"]),
                       ingest=from_dict(IngestCfg, meta["preprocessing"]), fingerprint=sha, meta=meta, models=models,
                       trained=tuple(str(s) for s in doc["trained"]), combine=str(doc["combine"]),
                       reference_excess=bool(doc.get("reference_excess", False)))
        except (KeyError, TypeError, ValueError) as err:
            raise InputError(f"{path / MODEL_JSON}: unreadable prior bundle ({type(err).__name__}: {err}); "
                             "re-create it with `gliograde train --kind prior`") from err

    # ---- inference -----------------------------------------------------------------------------------------
    def model_for(self, available: set[str] | dict[str, float]) -> SetModel:
        """The fitted model of the signs a case has: the set it is scored on, else the largest fitted subset."""
        want = scored_signs(available, self.trained)
        if want in self.models:
            return self.models[want]
        fits = [s for s in self.models if set(s) <= set(want)]  # () is always fitted: the training grade shares
        if not fits:
            raise InputError(f"{self.path / MODEL_FILE}: no fitted set of signs; re-train the bundle")
        return self.models[max(fits, key=len)]

    def scored(self, signs: CaseSigns) -> dict[str, float]:
        """The values the case is scored on (its signs, or their excess over the reference tissue)."""
        return scored_values(signs.values, signs.reference, self.reference_excess)

    def grade(self, signs: CaseSigns) -> tuple[SetModel, npt.NDArray[np.float64], float]:
        """(the model used, probabilities (K,), score) of one case's signs."""
        values = self.scored(signs)
        m = self.model_for(values)
        score = float(m.score(np.array([[values[s] for s in m.signs]]))[0])
        return m, m.proba_of_score(np.array([score]))[0], score

    def predict_case(self, source: CaseSource, *, explain: bool = True,
                     slice_index: int | None = None) -> CasePrediction:
        """Read every tumour-bearing plane (or only ``slice_index``), measure the signs, grade on those the case has.

        Raises:
            GliogradeError: unreadable files, no tumour outline, an absent ``slice_index``.
        """
        t0 = time.perf_counter()
        planes = read_case(source, self.ingest)
        if slice_index is not None:
            planes = _one_plane(planes, slice_index)
        t1 = time.perf_counter()
        signs = measure_signs(planes)
        t2 = time.perf_counter()
        m, proba, score = self.grade(signs)
        t3 = time.perf_counter()
        k = planes.largest()
        ms = {"read": t1 - t0, "preprocess": t2 - t1, "inference": t3 - t2, "total": t3 - t0}
        return PriorPrediction(
            case=source.patient_id, grade=self.classes[int(np.argmax(proba))],
            probabilities={g: float(p) for g, p in zip(self.classes, proba, strict=True)}, slice_index=signs.plane,
            timings_ms={key: round(v * 1e3, 2) for key, v in ms.items()},
            slice_image=_display_stack(planes, k), slice_mask=planes.roi[k],
            features=self._sign_rows(signs, m, proba) if explain else None, signs=signs, used=m.signs, score=score)

    def warm_up(self, explain: bool = True) -> float:
        """Measure and grade a synthetic two-plane case once; returns the milliseconds it took."""
        rng = np.random.default_rng(0)
        vol = rng.normal(100, 10, size=(2, 32, 32)).astype(np.float32)
        roi = np.zeros((2, 32, 32), bool)
        roi[:, 10:20, 10:20] = True
        t0 = time.perf_counter()
        signs = measure_signs(CasePlanes({"t1": vol, "t1ce": vol + 5, "flair": vol}, roi, None, (0, 1)))
        m, proba, _ = self.grade(signs)
        if explain:
            self._sign_rows(signs, m, proba)
        return (time.perf_counter() - t0) * 1e3

    def model_input(self, crop: npt.NDArray[np.uint8], mask: npt.NDArray[np.bool_], area_px: float,
                    where: str = "case") -> CaseSigns:
        """Refused: the signs are measured on the case's native planes, not on a crop (see :meth:`predict_crops`)."""
        raise self._no_crops()

    def infer(self, x: CaseSigns, mask: npt.NDArray[np.bool_],
              explain: bool) -> tuple[npt.NDArray[np.float64], dict[str, Any]]:
        m, proba, _ = self.grade(x)
        return proba, {"features": self._sign_rows(x, m, proba) if explain else None}

    def predict_crops(self, images: npt.NDArray[np.uint8], masks: npt.NDArray[np.bool_],
                      roi_area_px: npt.ArrayLike, *, batch_size: int = 16) -> CropScores:
        """Refused: a crop holds one resized slice and no brain outside the tumour, so none of the native pooled
        signs (nor their reference tissue) can be measured on it; validation hands this kind each patient's case
        (``reads = "case"``).

        Raises:
            InputError: always.
        """
        raise self._no_crops()

    def _no_crops(self) -> InputError:
        return InputError(f"{self.path / MODEL_JSON}: a prior bundle measures its signs on every tumour-bearing "
                          "plane of a case's original files, not on ingested crops; grade cases with "
                          "`gliograde predict` or `gliograde validate` (both read the files)")

    def case_columns(self, pred: CasePrediction) -> dict[str, Any]:
        """validate's predictions.csv extras: the signs scored (``+``-joined) and the planes they were pooled over."""
        planes = pred.signs.n_planes if isinstance(pred, PriorPrediction) and pred.signs is not None else 0
        return {"signs": "+".join(pred.used) if isinstance(pred, PriorPrediction) else "", "n_planes": planes}

    def _sign_rows(self, signs: CaseSigns, m: SetModel, proba: npt.NDArray[np.float64]) -> list[dict[str, Any]]:
        """One row per sign measured: value, reference, training range, weight, contribution (score and probability)."""
        target = int(np.argmax(proba))
        values = self.scored(signs)
        v = np.array([[values[s] for s in m.signs]])
        terms = m.terms(v)[0]
        rows = []
        for j, s in enumerate(m.signs):
            absent = v.copy()
            absent[0, j] = 0.0
            rows.append({"sign": s, "value": round(signs.values[s], 4), "used": True,
                         "reference_tissue": _round(signs.reference.get(s)),
                         "training_range": [round(m.train_p5[j], 4), round(m.train_p95[j], 4)],
                         "scored_value": round(values[s], 4),
                         "range_position": _position(values[s], m.train_p5[j], m.train_p95[j]),
                         "weight": round(m.weights[j], 4), "contribution": round(float(terms[j]), 4),
                         "contribution_probability": round(float(proba[target] - m.proba(absent)[0, target]), 4),
                         "meaning": BY_NAME[s].meaning, "source": BY_NAME[s].source})
        for s in SIGN_NAMES:
            if s in signs.values and s not in m.signs:
                rows.append({"sign": s, "value": round(signs.values[s], 4), "used": False,
                             "reference_tissue": _round(signs.reference.get(s)), "why_not": self._why_not(s, m),
                             "meaning": BY_NAME[s].meaning, "source": BY_NAME[s].source})
        return rows

    def _why_not(self, sign: str, m: SetModel) -> str:
        if sign == "enhancement_t1c" and "enhancement" in m.signs:
            return "the T1c - T1 subtraction (enhancement) is used instead"
        if sign not in self.trained:
            return "the training patients did not all have it, or all had the same value (nothing to calibrate)"
        return "no fitted model for this set of signs"

    # ---- what a reader sees --------------------------------------------------------------------------------
    def evidence(self, pred: CasePrediction) -> dict[str, Any] | None:
        if not isinstance(pred, PriorPrediction) or pred.features is None or pred.signs is None:
            return None
        s = pred.signs
        excess = ", each intensity sign as its excess over the reference tissue" if self.reference_excess else ""
        return {"method": f"pre-specified radiological signs, {self.combine} rule{excess}, pooled over "
                          f"{s.n_planes} tumour-bearing plane(s) on the native grid",
                "target_grade": pred.grade, "score": None if pred.score is None else round(pred.score, 4),
                "sequences": list(s.sequences), "signs_used": list(pred.used),
                "signs_not_scored": {r["sign"]: r["why_not"] for r in pred.features if not r["used"]},
                "signs_missing": dict(s.missing), "signs": pred.features, "n_planes": s.n_planes,
                "informative": any(r["used"] and r.get("weight", 0) > 0 for r in pred.features)
                or self.combine != "fixed",
                "outside_training_range": [r["sign"] for r in pred.features
                                           if r["used"] and r.get("weight", 0) > 0 and r["range_position"] != "within"],
                "roi_pixels": s.roi_pixels, "display": "largest plane: ROI outline (green), enhancing pixels (red), "
                                                       "necrotic / cystic pixels (blue)", "note": NOTE}

    def panel(self, pred: CasePrediction, title: str, side: int = 256) -> npt.NDArray[np.uint8] | None:
        """(a) the largest plane on T1c (or what the case has) with the enhancing and necrotic pixels, (b) FLAIR
        with the ROI outline, then one line per sign. (side + 36 + 14 * n_signs, 2 * side, 3) uint8 RGB."""
        if not isinstance(pred, PriorPrediction) or pred.signs is None or pred.slice_image is None \
                or pred.slice_mask is None or not pred.features:
            return None
        img, mask, s = pred.slice_image, pred.slice_mask, pred.signs
        first = np.repeat(to_display(img[..., 0])[..., None], 3, axis=-1)
        first[s.enhancing], first[s.necrotic] = ENHANCING_COLOUR, NECROTIC_COLOUR
        second = np.repeat(to_display(img[..., -1])[..., None], 3, axis=-1)
        rows = pred.features
        canvas = Image.new("RGB", (2 * side, side + 36 + 14 * len(rows)))
        for i, a in enumerate((draw_outline(first, mask), draw_outline(second, mask))):
            canvas.paste(ImageOps.pad(Image.fromarray(a), (side, side), Image.Resampling.NEAREST), (i * side, 20))
        draw = ImageDraw.Draw(canvas)
        label(draw, (4, 4), f"{title}   prior ({', '.join(pred.used)})", (255, 255, 255))
        shown = _shown(s.sequences)
        label(draw, (4, side + 22), f"a: {shown[0]}; red enhancing, blue necrotic", ROI_COLOUR)
        label(draw, (side + 4, side + 22), f"b: {shown[1]}, ROI outline", ROI_COLOUR)
        for k, r in enumerate(rows):
            ref = "" if r.get("reference_tissue") is None else f" (normal tissue {r['reference_tissue']:.3f})"
            text = (f"{r['contribution']:+.3f}  {r['sign']} {r['value']:.3f}{ref}" if r["used"]
                    else f"  not scored: {r['sign']} {r['value']:.3f}")
            label(draw, (4, side + 36 + 14 * k), text, (255, 120, 80) if r["used"] else (160, 160, 160))
        return np.asarray(canvas, dtype=np.uint8)

    def card_section(self) -> str:
        return "\n".join(card_section_lines(self.meta))

    def describe(self) -> dict[str, Any]:
        return {"kind": self.kind, "combine": self.combine, "reference_excess": self.reference_excess,
                "signs": list(self.trained), "classes": list(self.classes),
                "channels": list(self.ingest.channels), "sets_of_signs": len(self.models)}


def _position(value: float, lo: float, hi: float) -> str:
    """``below``, ``within`` or ``above`` the training patients' 5th-95th percentile range."""
    return "below" if value < lo else "above" if value > hi else "within"


def _round(x: float | None) -> float | None:
    return None if x is None else round(float(x), 4)


def _one_plane(planes: CasePlanes, index: int) -> CasePlanes:
    if index not in planes.indices:
        raise InputError(f"slice {index} carries no tumour (tumour-bearing: {list(planes.indices)}); "
                         "choose one of those or leave --slice out")
    j = planes.indices.index(index)
    return CasePlanes({s: v[j:j + 1] for s, v in planes.sequences.items()}, planes.roi[j:j + 1],
                      None if planes.labels is None else planes.labels[j:j + 1], (index,))


#: Which sequence the overlay shows first (enhancing / necrotic pixels), in order of preference.
_SHOW = ("t1ce", "t1", "t2", "flair")


def _shown(sequences: tuple[str, ...] | list[str]) -> tuple[str, str]:
    """(the sequence panel a shows: T1c or the first of t1, t2, flair; panel b's: FLAIR, else the same)."""
    have = [s for s in _SHOW if s in sequences] or sorted(sequences)
    return have[0], "flair" if "flair" in sequences else have[0]


def _display_stack(planes: CasePlanes, k: int) -> npt.NDArray[np.float32]:
    """(H, W, 2) plane k of the two sequences :func:`_shown` picks."""
    a, b = _shown(list(planes.sequences))
    return np.stack([planes.sequences[a][k], planes.sequences[b][k]], axis=-1)
