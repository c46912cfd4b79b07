"""MR contrasts from tissue maps, and the acquisition: site scaling, bias field, Rician noise, 8-bit output.

>>> sorted(SITES)
['XA', 'XB', 'XC', 'XD']
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from gliograde.synth.anatomy import (
    Array,
    Tissue,
    bias_field,
    head_layers,
    rician,
    smooth_field,
    smooth_stack,
)

CHANNELS = ("t1", "flair", "t1ce")
"""Channel order of the PNG slices: [pre-contrast T1, FLAIR, post-contrast T1], as in TCGA-LGG."""


@dataclass(frozen=True)
class Site:
    """Acquisition settings of one synthetic institution.

    Attributes:
        level: 8-bit value of white matter (T1) / grey matter (FLAIR).
        gamma: exponent applied to the signal (scanner and export differences).
        noise: Rician noise SD relative to white matter.
        bias: strength of the multiplicative bias field (log-scale SD).
        weight: share of patients from this site.
    """

    level: float
    gamma: float
    noise: float
    bias: float
    weight: float


SITES: dict[str, Site] = {
    "XA": Site(level=100.0, gamma=1.00, noise=0.030, bias=0.10, weight=0.40),
    "XB": Site(level=122.0, gamma=0.85, noise=0.045, bias=0.18, weight=0.25),
    "XC": Site(level=88.0, gamma=1.15, noise=0.025, bias=0.08, weight=0.20),
    "XD": Site(level=110.0, gamma=0.95, noise=0.060, bias=0.14, weight=0.15),
}
"""Fake institutions (codes like TCGA's tissue source sites) with different intensity behaviour."""


def draw_site(rng: np.random.Generator) -> str:
    """Pick a site code with the weights of :data:`SITES`, independently of the grade."""
    names = sorted(SITES)
    w = np.array([SITES[n].weight for n in names])
    return names[int(rng.choice(len(names), p=w / w.sum()))]


def mr_contrasts(tissue: Tissue, rng: np.random.Generator) -> dict[str, Array]:
    """Normal-brain signal of each sequence, with skull and scalp.

    T1: the template itself (WM 1, GM ~0.75, CSF ~0.3) with patient-specific contrast; FLAIR: GM > WM,
    CSF suppressed; post-contrast T1: T1 plus enhancing dura and cortical vessels. Scalp fat is bright on
    T1 and FLAIR, cortical bone dark on all.

    Args:
        tissue: warped tissue maps, (S, H, W) each.
        rng: random generator (consumed).

    Returns:
        {"t1", "flair", "t1ce"}: (S, H, W) float32, white matter about 1.
    """
    dura, _skull, scalp = head_layers(tissue.brain, rng)  # bone stays black on every sequence
    scalp = scalp * (1 + 0.2 * smooth_field(rng, tissue.brain.shape[1:], 6.0))  # fat and muscle are not uniform
    contrast = rng.uniform(0.75, 1.0)
    t1_brain = tissue.brain * (1 - contrast * (1 - tissue.t1))
    flair_brain = (0.72 * tissue.wm + 0.95 * tissue.gm + 0.12 * tissue.csf) * (1 + 0.04 * rng.standard_normal())
    vessels = smooth_stack(rng, tissue.brain.shape, 1.5)
    vessel_signal = 0.7 * tissue.csf * np.clip(vessels - 2.0, 0, 1)
    return {
        "t1": (t1_brain + 1.1 * scalp + 0.25 * dura).astype(np.float32),
        "flair": (flair_brain + 0.8 * scalp + 0.15 * dura).astype(np.float32),
        "t1ce": (t1_brain + vessel_signal + 1.1 * scalp + 0.8 * dura).astype(np.float32),
    }


def acquire(channels: dict[str, Array], site: Site, rng: np.random.Generator) -> npt.NDArray[np.uint8]:
    """Scanner and export: gamma, bias field, Rician noise, 8-bit scaling.

    Args:
        channels: {"t1", "flair", "t1ce"}: (S, H, W) float32 signal, white matter about 1.
        site: acquisition settings.
        rng: random generator (consumed).

    Returns:
        (S, H, W, 3) uint8 in [0, 255], channels in :data:`CHANNELS` order.
    """
    shape = channels["t1"].shape
    bias = bias_field(rng, shape, site.bias)  # one coil profile for the whole session
    out = []
    for name in CHANNELS:
        signal = np.power(np.clip(channels[name], 0, None) * bias, site.gamma)
        noisy = rician(signal, site.noise, rng)
        level = site.level * rng.uniform(0.92, 1.08)
        out.append(np.clip(np.rint(noisy * level), 0, 255).astype(np.uint8))
    return np.stack(out, axis=-1)
