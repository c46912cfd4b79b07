"""Typed, frozen configuration for each pipeline stage, plus YAML loading.

YAML supplies defaults, the command line overrides them, and every run writes the resolved
result to ``config.yaml`` in its output folder (see :mod:`gliograde.runinfo`).

Each stage owns one dataclass here. Keep them flat and of plain types so they round-trip
through YAML unchanged.

>>> cfg = PreprocessCfg(size=128)
>>> cfg.size, cfg.window
(128, (0.5, 99.5))
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, TypeVar

import yaml

from gliograde.errors import InputError

# Sequence names understood everywhere. For the 2D slice layout of TCGA-LGG (3-channel PNG)
# the channel order is [pre-contrast T1, FLAIR, post-contrast T1].
SEQUENCES = ("t1", "flair", "t1ce", "t2")
SLICE_CHANNEL_ORDER = ("t1", "flair", "t1ce")


@dataclass(frozen=True)
class PreprocessCfg:
    """The study's preprocessing, one step per field (see :mod:`gliograde.preprocess`).

    Attributes:
        window: lower and upper percentile mapped to 0 and 255 (robust 8-bit scaling).
        intensity: ``percentile`` (the study's 8-bit scaling) or ``zscore`` (mean/SD, then +-3 SD to 0..255).
        region: pixels the window is computed on: the whole ``slice``, the ``brain`` (non-zero pixels)
            or the ``roi`` (tumour, after ``rim``).
        rim: pixels of context kept around the outline (0 = the tumour only, as in the study).
        margin: pixels added on each side of the ROI bounding box before cropping.
        square: pad the crop to a square before resizing so the tumour's shape is not distorted.
        size: output side in pixels (227 for the study's AlexNet).
    """

    window: tuple[float, float] = (0.5, 99.5)
    intensity: Literal["percentile", "zscore"] = "percentile"
    region: Literal["slice", "brain", "roi"] = "brain"
    rim: int = 0
    margin: int = 4
    square: bool = True
    size: int = 227


@dataclass(frozen=True)
class IngestCfg:
    """How to find and read a cohort (see :mod:`gliograde.data.ingest`).

    Attributes:
        layout: ``auto`` detects slices / nifti / dicom / manifest.
        channels: sequences stacked as image channels, by name (``SEQUENCES``).
        roi_labels: segmentation labels that form the ROI; empty = every non-zero label.
        slice_index: fixed slice for every case; None = the largest tumour cross-section.
        slices: number of neighbouring slices per patient centred on the representative one.
        skip_bad: ingest the valid patients and list the others instead of failing.
    """

    layout: Literal["auto", "slices", "nifti", "dicom", "manifest"] = "auto"
    channels: tuple[str, ...] = ("t1ce",)
    roi_labels: tuple[int, ...] = ()
    slice_index: int | None = None
    slices: int = 1
    skip_bad: bool = False
    preprocess: PreprocessCfg = field(default_factory=PreprocessCfg)


T = TypeVar("T")


def from_dict(cls: type[T], data: dict[str, Any] | None) -> T:
    """Build a config dataclass from a plain dict, rejecting unknown keys (no silent typos).

    Nested dataclass fields and tuple fields are converted; missing keys keep their defaults.
    """
    data = dict(data or {})
    fields = {f.name: f for f in dataclasses.fields(cls)}  # type: ignore[arg-type]
    unknown = sorted(set(data) - set(fields))
    if unknown:
        raise InputError(
            f"unknown {cls.__name__} option(s) {unknown}; known options are {sorted(fields)}"
        )
    kwargs: dict[str, Any] = {}
    for name, value in data.items():
        default = getattr(cls(), name) if _has_defaults(cls) else None
        if dataclasses.is_dataclass(default) and isinstance(value, dict):
            value = from_dict(type(default), value)
        elif isinstance(default, tuple) and isinstance(value, list):
            value = tuple(value)
        kwargs[name] = value
    return cls(**kwargs)


def _has_defaults(cls: type) -> bool:
    return all(
        f.default is not dataclasses.MISSING or f.default_factory is not dataclasses.MISSING
        for f in dataclasses.fields(cls)
    )


def load_yaml(path: Path | None) -> dict[str, Any]:
    """Read a YAML config file into a dict (empty when ``path`` is None)."""
    if path is None:
        return {}
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: config file not found; check the --config path")
    try:
        data = yaml.safe_load(path.read_text()) or {}
    except yaml.YAMLError as err:
        raise InputError(f"{path}: not valid YAML ({err}); fix the file or drop --config") from err
    if not isinstance(data, dict):
        raise InputError(f"{path}: expected a mapping of options at the top level, got {type(data).__name__}")
    return data


def merge(base: dict[str, Any], overrides: dict[str, Any]) -> dict[str, Any]:
    """Overlay command-line overrides (None means 'not given') on YAML values."""
    out = dict(base)
    out.update({k: v for k, v in overrides.items() if v is not None})
    return out
