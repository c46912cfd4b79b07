"""The pre-specified radiological signs of one case, pooled over its tumour-bearing planes (no label involved).

Every sign is a proportion in [0, 1] whose direction (higher = higher grade) is set by the literature, not by
our labels; ``docs/prior.md`` gives each one's source. Intensities are first put in units of the patient's
own reference tissue: per sequence, ``z = (v - median) / IQR`` of the brain outside the tumour (non-zero
pixels outside the ROI) over all tumour-bearing planes, so a threshold of "2 reference IQRs" means the same on
every scanner. Shares are pooled as pixel sums over planes (tumour pixels beyond the threshold on every plane /
tumour pixels on every plane); size is the maximum over planes.

================  =========================  ================================================================
sign              needs                      value
================  =========================  ================================================================
enhancement       t1, t1ce                   share of the tumour with z(t1ce) - z(t1) > 1 (T1c - T1 subtraction)
enhancement_t1c   t1ce                       share with z(t1ce) > 2 (used only when t1 is missing)
necrosis          t1ce                       share with z(t1ce) < -2 (necrotic / cystic: far below reference)
flair_hyper       flair                      share with z(flair) > 2 (marked FLAIR hyperintensity)
size              the mask                   max over planes of tumour pixels / brain (non-zero) pixels
margin            the mask                   1 - tumour pixels / convex-hull pixels, pooled (irregular margin)
seg_enhancing     BraTS labels               label-4 share of the lesion (VASARI F5)
seg_necrotic      BraTS labels               label-1 share (necrotic / non-enhancing core; VASARI F6, F7)
seg_oedema        BraTS labels               label-2 share (VASARI F14)
================  =========================  ================================================================

>>> import numpy as np
>>> t1 = np.full((1, 8, 8), 100.0, np.float32); t1[0, :, :2] = 90; t1[0, :, 6:] = 110  # reference IQR = 20
>>> t1ce = t1.copy(); roi = np.zeros((1, 8, 8), bool); roi[0, 2:6, 2:6] = True
>>> t1ce[0, 2:4, 2:6] = 150                      # half the tumour 2.5 IQRs brighter after contrast
>>> from gliograde.signs.read import CasePlanes
>>> s = measure_signs(CasePlanes({"t1": t1, "t1ce": t1ce}, roi, None, (0,)))
>>> s.values["enhancement"], s.values["enhancement_t1c"], s.values["necrosis"], s.values["margin"]
(0.5, 0.5, 0.0, 0.0)
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt
from skimage.morphology import convex_hull_image

from gliograde.errors import InputError
from gliograde.signs.read import CasePlanes


@dataclass(frozen=True)
class Sign:
    """One pre-specified sign.

    Attributes:
        name: its key in outputs. needs: sequences it is measured on ("labels": a BraTS segmentation).
        meaning: what it measures. source: where its direction (higher = higher grade) comes from.
        weight: its weight in the fixed rule: 1 for the signs whose association with a higher grade the
            literature establishes (enhancement, necrosis, the enhancing label's share), 0 for those it does not
            (they are measured and shown, and the ``monotone`` model may give them a non-negative weight).
    """

    name: str
    needs: tuple[str, ...]
    meaning: str
    source: str
    weight: float = 1.0


#: Every sign, in the order outputs list them. ``needs``: sequences ("labels" = a BraTS multi-label segmentation).
SIGNS: tuple[Sign, ...] = (
    Sign("enhancement", ("t1", "t1ce"), "share of tumour enhancing: T1c - T1 > 1 reference IQR",
         "VASARI F4/F5 (enhancement); Scott 2002; Upadhyay & Waldman 2011"),
    Sign("enhancement_t1c", ("t1ce",), "share of tumour bright on T1c: > 2 reference IQR (no T1 to subtract)",
         "VASARI F5 (proportion enhancing)"),
    Sign("necrosis", ("t1ce",), "share of tumour far below the reference on T1c: < -2 IQR (necrosis / cyst)",
         "VASARI F7 (proportion necrosis); WHO 2016/2021 grading criteria"),
    Sign("flair_hyper", ("flair",), "share of tumour markedly FLAIR-hyperintense: > 2 reference IQR",
         "VASARI F14 (oedema) by analogy; no established direction for grade", 0.0),
    Sign("size", (), "largest tumour cross-section / brain cross-section on that plane",
         "VASARI lesion size; Pignatti 2002 (>= 6 cm: prognosis, not grade)", 0.0),
    Sign("margin", (), "1 - tumour / convex-hull pixels over all planes (irregular, infiltrative margin)",
         "VASARI F13 (non-enhancing margin); no established direction for grade", 0.0),
    Sign("seg_enhancing", ("labels",), "enhancing (label 4) share of the segmented lesion", "VASARI F5"),
    Sign("seg_necrotic", ("labels",), "necrotic / non-enhancing core (label 1) share of the lesion",
         "VASARI F6, F7; BraTS label 1 mixes necrosis with non-enhancing tumour: no established direction", 0.0),
    Sign("seg_oedema", ("labels",), "oedema (label 2) share of the lesion", "VASARI F14", 0.0),
)
SIGN_NAMES: tuple[str, ...] = tuple(s.name for s in SIGNS)
BY_NAME: dict[str, Sign] = {s.name: s for s in SIGNS}
#: Thresholds in reference IQRs (pre-specified; the enhancement one is the docs/real-data.md sign's).
ENHANCE_DIFF, BRIGHT, DARK = 1.0, 2.0, -2.0


@dataclass(frozen=True)
class CaseSigns:
    """The signs of one case.

    Attributes:
        values: {sign: value in [0, 1]} for every sign that could be computed.
        reference: {sign: the same share measured on the patient's reference tissue} (intensity signs only).
        missing: {sign: why it could not be computed}.
        sequences: the sequences the case had.
        enhancing, necrotic: (H, W) bool pixels carrying the enhancement and necrosis signs on the largest plane.
        plane: that plane's number; n_planes: how many planes carried tumour; roi_pixels: tumour pixels, all planes.
    """

    values: dict[str, float]
    reference: dict[str, float]
    missing: dict[str, str]
    sequences: tuple[str, ...]
    enhancing: npt.NDArray[np.bool_] = field(repr=False)
    necrotic: npt.NDArray[np.bool_] = field(repr=False)
    plane: int = 0
    n_planes: int = 0
    roi_pixels: int = 0


def reference_z(image: npt.NDArray[np.float32], roi: npt.NDArray[np.bool_]) -> npt.NDArray[np.float64] | None:
    """``(image - median) / IQR`` of the brain outside the tumour over all planes; None when the IQR is 0.

    Args:
        image: (P, H, W) intensities (0 = background); roi: (P, H, W) bool.
    """
    brain = image != 0
    ref = brain & ~roi
    if not ref.any():
        ref = brain
    if not ref.any():
        return None
    q1, med, q3 = np.percentile(image[ref].astype(np.float64), [25, 50, 75])
    return None if q3 <= q1 else (image.astype(np.float64) - med) / (q3 - q1)


def _share(hit: npt.NDArray[np.bool_], region: npt.NDArray[np.bool_]) -> float:
    return float(hit[region].sum() / max(int(region.sum()), 1))


def measure_signs(planes: CasePlanes) -> CaseSigns:
    """Every computable sign of ``planes`` (see the module table), with the reasons the others are missing.

    Raises:
        InputError: no sign at all could be computed (no tumour pixels).
    """
    if not planes.roi.any():
        raise InputError("no tumour pixels in the mask; the signs need a tumour outline")
    brain = np.zeros_like(planes.roi)
    for v in planes.sequences.values():
        brain |= v != 0
    z = {s: reference_z(v, planes.roi) for s, v in planes.sequences.items()}
    return signs_from_z(z, planes.roi, brain, planes.labels, planes.indices)


def signs_from_z(z: dict[str, npt.NDArray[np.float64] | None], roi: npt.NDArray[np.bool_],
                 brain: npt.NDArray[np.bool_] | None, labels: npt.NDArray[np.int16] | None,
                 indices: tuple[int, ...]) -> CaseSigns:
    """The signs from per-sequence reference z maps (P, H, W) (None: no spread), the ROI and the brain (None:
    unknown, no size sign and no reference shares), BraTS labels or None, and the P plane numbers."""
    values: dict[str, float] = {}
    ref: dict[str, float] = {}
    k = int(np.argmax(roi.reshape(len(roi), -1).sum(axis=1)))
    enh_map = np.zeros(roi.shape[1:], bool)
    nec_map = np.zeros(roi.shape[1:], bool)
    outside = None if brain is None else brain & ~roi

    def put(name: str, hit: npt.NDArray[np.bool_]) -> None:
        values[name] = _share(hit, roi)
        if outside is not None:
            ref[name] = _share(hit, outside)

    z1, z1c, zf = z.get("t1"), z.get("t1ce"), z.get("flair")
    if z1 is not None and z1c is not None:
        hit = (z1c - z1) > ENHANCE_DIFF
        put("enhancement", hit)
        enh_map = hit[k] & roi[k]
    if z1c is not None:
        bright, dark = z1c > BRIGHT, z1c < DARK
        put("enhancement_t1c", bright)
        put("necrosis", dark)
        if "enhancement" not in values:
            enh_map = bright[k] & roi[k]
        nec_map = dark[k] & roi[k]
    if zf is not None:
        put("flair_hyper", zf > BRIGHT)
    areas = roi.reshape(len(roi), -1).sum(axis=1)
    if brain is not None:
        values["size"] = float(np.max(areas / np.maximum(brain.reshape(len(roi), -1).sum(axis=1), 1)))
    hull = sum(int(convex_hull_image(r).sum()) for r in roi)
    values["margin"] = float(1.0 - areas.sum() / max(hull, 1))
    if labels is not None:
        lesion = labels > 0
        for name, label in (("seg_enhancing", 4), ("seg_necrotic", 1), ("seg_oedema", 2)):
            values[name] = _share(labels == label, lesion)
    missing = {s.name: _why(s, z, brain is not None) for s in SIGNS if s.name not in values}
    return CaseSigns(values, ref, missing, tuple(sorted(z)), enh_map, nec_map,
                     plane=int(indices[k]), n_planes=len(roi), roi_pixels=int(roi.sum()))


def _why(sign: Sign, z: dict[str, npt.NDArray[np.float64] | None], has_brain: bool) -> str:
    if "labels" in sign.needs:
        return "needs a BraTS multi-label segmentation (labels 1, 2, 4)"
    if sign.name == "size" and not has_brain:
        return "needs the brain around the tumour (an ingested crop has none)"
    absent = [s for s in sign.needs if s not in z]
    if absent:
        return f"no {'+'.join(absent)} sequence"
    flat = [s for s in sign.needs if z.get(s) is None]
    return f"{'+'.join(flat)} has no intensity spread in the reference tissue" if flat else "not computable"
