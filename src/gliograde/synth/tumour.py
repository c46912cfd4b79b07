"""Glioma appearance per WHO grade: random parameters, 3D zone maps, mass effect, MR signal.

A tumour is an irregular ellipsoid centred on the middle kept slice. Nested shells, each with its own
smooth boundary perturbation, give the zones used by BraTS: oedema (FLAIR-hyperintense rim of the
abnormality), solid tumour, enhancing tumour and necrosis. Every appearance parameter is a function of
one latent *severity* in [0, 1] plus independent jitter; the grade sets the mean severity and
``difficulty`` sets its spread, so grades overlap as much as asked (see :mod:`gliograde.synth`).

>>> import numpy as np
>>> p = draw_tumour(4, np.random.default_rng(0), difficulty=0.0)
>>> p.grade, p.enhancement
(4, 'rim')
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np
import numpy.typing as npt
from scipy.special import ndtri

from gliograde.synth.anatomy import (
    PIXEL_ZOOM,
    SIZE,
    SLICE_MM,
    Array,
    smooth_field,
    smooth_stack,
)

GRADES = (2, 3, 4)
SEVERITY_MEAN = {2: 0.18, 3: 0.50, 4: 0.82}
"""Mean latent severity per WHO grade."""
PATCHY_AT, RIM_AT = 0.36, 0.64
"""Severity above which enhancement is patchy (nodular) and above which it is a rim around necrosis."""

Enhancement = Literal["none", "patchy", "rim"]


@dataclass(frozen=True)
class TumourParams:
    """Appearance of one tumour (all scalars; see :func:`draw_tumour` for ranges).

    Attributes:
        grade: WHO grade 2, 3 or 4.
        severity: latent severity in [0, 1] that drives everything below.
        radius_mm: mean in-plane semi-axis of the FLAIR abnormality.
        elongation: ratio of the in-plane semi-axes (>= 1); angle: their orientation in radians.
        depth_mm: semi-axis across slices.
        core: solid-tumour boundary as a fraction of the FLAIR boundary (the rest is oedema).
        enhancement: ``none``, ``patchy`` (nodular foci) or ``rim`` (ring around necrosis).
        enhancing_fraction: share of the solid tumour that enhances (``patchy``).
        rim: enhancing rim thickness as a fraction of the core radius (``rim``).
        enhance_gain: post-contrast T1 signal of enhancing tissue, white matter = 1.
        margin: width of the tumour-brain transition in normalised radius (sharp = circumscribed).
        irregularity: amplitude of the boundary perturbation; lobulation_px: its length scale.
        heterogeneity: SD of the multiplicative texture inside the lesion.
        mass_effect: largest relative push of surrounding tissue, in [0, 0.5).
    """

    grade: int
    severity: float
    radius_mm: float
    elongation: float
    angle: float
    depth_mm: float
    core: float
    enhancement: Enhancement
    enhancing_fraction: float
    rim: float
    enhance_gain: float
    margin: float
    irregularity: float
    lobulation_px: float
    heterogeneity: float
    mass_effect: float


@dataclass(frozen=True)
class TumourMaps:
    """Soft zone weights of one tumour, each (S, SIZE, SIZE) float32 in [0, 1].

    ``oedema + solid + necrosis + enhancing == lesion`` pixel-wise; ``mask`` is the FLAIR abnormality
    (lesion weight >= 0.5) as bool.
    """

    lesion: Array
    oedema: Array
    solid: Array
    necrosis: Array
    enhancing: Array
    mask: npt.NDArray[np.bool_]

    def seg(self) -> npt.NDArray[np.uint8]:
        """BraTS labels (S, SIZE, SIZE) uint8: 1 necrosis and non-enhancing core, 2 oedema, 4 enhancing."""
        zones = np.stack([self.oedema, self.solid + self.necrosis, self.enhancing])
        labels = np.array([2, 1, 4], dtype=np.uint8)[np.argmax(zones, axis=0)]
        return np.where(self.mask, labels, 0).astype(np.uint8)


def severity_sd(difficulty: float) -> float:
    """SD of the latent severity around its grade mean: 0.03 at difficulty 0, 0.33 at difficulty 1."""
    return 0.03 + 0.30 * difficulty


def draw_tumour(grade: int, rng: np.random.Generator, difficulty: float) -> TumourParams:
    """Draw the appearance of one tumour of the given WHO grade.

    Args:
        grade: 2, 3 or 4.
        rng: random generator (consumed).
        difficulty: in [0, 1]; the SD of the latent severity (:func:`severity_sd`), i.e. grade overlap.

    Returns:
        :class:`TumourParams`.

    Raises:
        ValueError: unknown grade or difficulty outside [0, 1].
    """
    if grade not in SEVERITY_MEAN:
        raise ValueError(f"grade {grade!r} is not a WHO glioma grade; use one of {GRADES}")
    if not 0.0 <= difficulty <= 1.0:
        raise ValueError(f"difficulty {difficulty} is outside [0, 1]; 0 = separable grades, 1 = heavy overlap")
    s = float(np.clip(SEVERITY_MEAN[grade] + severity_sd(difficulty) * rng.standard_normal(), 0.0, 1.0))
    j = rng.standard_normal(8)  # independent jitter, one per feature
    radius = float(np.clip(17 + 10 * s + 4.5 * j[0], 10, 34))
    pattern: Enhancement = "none" if s < PATCHY_AT else "patchy" if s < RIM_AT else "rim"
    return TumourParams(
        grade=grade, severity=s, radius_mm=radius,
        elongation=float(rng.uniform(1.0, 1.4)), angle=float(rng.uniform(0, np.pi)),
        depth_mm=float(max(10.0, radius * rng.uniform(0.75, 1.0))),
        core=float(np.clip(0.95 - 0.45 * s + 0.05 * j[1], 0.45, 0.97)),
        enhancement=pattern,
        enhancing_fraction=float(np.clip(0.06 + 0.9 * (s - PATCHY_AT) + 0.04 * j[2], 0.03, 0.4)),
        rim=float(np.clip(0.12 + 1.2 * (s - RIM_AT) + 0.05 * j[3], 0.08, 0.6)),
        enhance_gain=float(np.clip(1.3 + 0.6 * s + 0.08 * j[4], 1.15, 2.1)),
        margin=float(np.clip(0.02 + 0.16 * s + 0.02 * j[5], 0.01, 0.3)),
        irregularity=float(np.clip(0.03 + 0.18 * s + 0.03 * j[6], 0.01, 0.25)),
        lobulation_px=float(14 - 8 * s),
        heterogeneity=float(np.clip(0.03 + 0.14 * s + 0.02 * j[7], 0.01, 0.25)),
        mass_effect=float(min(0.45, 0.05 + 0.4 * s)),
    )


def slice_profile(params: TumourParams, n_slices: int) -> Array:
    """Cross-section scale per kept slice, (S,) float32 in [0, 1]: 1 at the middle, 0 beyond the tumour."""
    dz = (np.arange(n_slices) - n_slices // 2) * SLICE_MM
    return np.sqrt(np.clip(1 - (dz / params.depth_mm) ** 2, 0, 1)).astype(np.float32)


def _radius_px(params: TumourParams) -> float:
    return params.radius_mm * PIXEL_ZOOM


def mass_effect_push(params: TumourParams, centre: tuple[float, float], n_slices: int) -> Array:
    """Displacement (S, 2, SIZE, SIZE) in output pixels that pushes tissue away from the tumour centre.

    Tissue at distance r came from r * (1 - a exp(-r^2 / L^2)), a < 1, which is monotone in r (no folding).
    """
    grid = np.mgrid[:SIZE, :SIZE].astype(np.float32) - np.array(centre, dtype=np.float32)[:, None, None]
    length = 1.6 * _radius_px(params)
    decay = np.exp(-(grid**2).sum(0) / length**2)
    amp = params.mass_effect * slice_profile(params, n_slices)
    push: Array = (amp[:, None, None, None] * grid[None] * decay[None, None]).astype(np.float32)
    return push


def _ramp(x: Array, width: float) -> Array:
    ramp: Array = np.clip(x / max(width, 1e-3) + 0.5, 0.0, 1.0)
    return ramp


def render_tumour(
    params: TumourParams, centre: tuple[float, float], n_slices: int, rng: np.random.Generator
) -> TumourMaps:
    """Zone maps of the tumour on the output grid; the middle slice has the largest cross-section.

    Each boundary is a level set of rho * exp(irregularity * field) with one smooth 2D field per boundary
    shared by all slices, and the level shrinks with :func:`slice_profile`, so the sections are nested.

    Args:
        params: from :func:`draw_tumour`.
        centre: (row, col) of the tumour centre in output pixels.
        n_slices: number of kept slices S (odd).
        rng: random generator (consumed).
    """
    grid = np.mgrid[:SIZE, :SIZE].astype(np.float32) - np.array(centre, dtype=np.float32)[:, None, None]
    c, s = np.cos(params.angle), np.sin(params.angle)
    u, v = c * grid[0] + s * grid[1], -s * grid[0] + c * grid[1]
    r = _radius_px(params)
    e = np.sqrt(params.elongation)
    rho = np.sqrt((u / (r * e)) ** 2 + (v * e / r) ** 2)
    shape = (SIZE, SIZE)
    lob = params.lobulation_px
    f_core = np.clip(smooth_field(rng, shape, 0.8 * lob), -2, 2)  # clipped: lobulated, but no far islands
    outer = rho * np.exp(params.irregularity * np.clip(smooth_field(rng, shape, lob), -2, 2))
    inner = rho * np.exp(params.irregularity * f_core)
    # the necrosis follows the core outline (a coherent ring) with its own irregular thickness
    nec = rho * np.exp(params.irregularity * (0.8 * f_core + 0.8 * smooth_field(rng, shape, 0.5 * lob)))
    spots = smooth_field(rng, shape, 3.0)
    prof = slice_profile(params, n_slices)[:, None, None]
    present = (prof > 0.2).astype(np.float32)  # no faint ghost where the tumour has ended
    lesion = _ramp(prof - outer, params.margin) * present
    core = np.minimum(_ramp(prof * params.core - inner, 0.5 * params.margin + 0.02) * present, lesion)
    necrosis = np.zeros_like(core)
    if params.enhancement == "rim":
        necrosis = np.minimum(_ramp(prof * params.core * (1 - params.rim) - nec, 0.04) * present, core)
        enhancing = core - necrosis
    elif params.enhancement == "patchy":
        threshold = float(ndtri(1 - params.enhancing_fraction))
        enhancing = core * np.clip((spots - threshold) / 0.3 + 0.5, 0, 1)
    else:  # minimal faint enhancement at most (WHO 2)
        enhancing = 0.08 * core
    return TumourMaps(
        lesion=lesion, oedema=lesion - core, solid=core - necrosis - enhancing,
        necrosis=necrosis, enhancing=enhancing, mask=lesion >= 0.5,
    )


# Lesion signal per channel, white matter = 1 (T1, T1ce) and grey matter ~ 1 (FLAIR).
# Oedema is multiplicative (the underlying anatomy stays faintly visible); other zones replace tissue.
OEDEMA_GAIN = {"t1": 0.86, "flair": 1.75, "t1ce": 0.86}
SOLID = {"t1": 0.64, "flair": 1.55, "t1ce": 0.68}
NECROSIS = {"t1": 0.36, "flair": 1.15, "t1ce": 0.38}
ENHANCING_T1 = 0.72


def apply_tumour(
    channels: dict[str, Array], maps: TumourMaps, params: TumourParams, rng: np.random.Generator, wm: Array
) -> dict[str, Array]:
    """Blend the tumour into normal-tissue signal.

    Args:
        channels: {"t1", "flair", "t1ce"}: (S, H, W) float32 normal signal.
        maps: zone maps from :func:`render_tumour`.
        params: tumour parameters (enhancement gain, heterogeneity).
        rng: random generator (consumed): lesion texture.
        wm: (S, H, W) white-matter probability: vasogenic oedema spreads along white matter, sparing cortex.

    Returns:
        New dict with the same keys and shapes.
    """
    tex = 1 + params.heterogeneity * smooth_stack(rng, maps.lesion.shape, 2.5)
    oedema = maps.oedema * (0.35 + 0.65 * wm)
    out: dict[str, Array] = {}
    for name, normal in channels.items():
        enh = params.enhance_gain if name == "t1ce" else ENHANCING_T1 if name == "t1" else 1.35
        lesion_signal = (
            oedema * normal * OEDEMA_GAIN[name] + (maps.oedema - oedema) * normal
            + (maps.solid * SOLID[name] + maps.necrosis * NECROSIS[name] + maps.enhancing * enh) * tex
        )
        out[name] = (normal * (1 - maps.lesion) + lesion_signal).astype(np.float32)
    return out
