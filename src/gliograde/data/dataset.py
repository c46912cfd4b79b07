"""An ingested cohort on disk (``manifest.csv`` + uint8 cache) and in memory (:class:`Cohort`).

An ingested cohort folder holds ``manifest.csv`` and ``cache/``; :func:`is_ingested` is the one test for it
(:func:`gliograde.data.cohort.open_cohort` ingests any other cohort folder first). Each manifest row is one
preprocessed slice: ``cache_path`` is an (H, W) or (H, W, C) uint8 PNG, ``cache_mask_path`` the
matching 0/255 mask PNG. Paths are relative to the cohort folder.

>>> # cohort = load_cohort(Path("runs/ingested"))
>>> # cohort.images.shape -> (N, C, H, W) uint8; cohort.labels -> (N,) int64 class indices
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt
import pandas as pd
from PIL import Image

from gliograde.errors import InputError

MANIFEST = "manifest.csv"
#: (N,) Python strings: object dtype when read through pandas, numpy unicode otherwise.
StrArray = npt.NDArray[np.object_] | npt.NDArray[np.str_]
REQUIRED_COLUMNS = (
    "patient_id", "grade", "source_image", "source_mask", "slice_index", "roi_area_px",
    "cache_path", "cache_mask_path",
)


@dataclass(frozen=True)
class Cohort:
    """An ingested cohort in memory; row i of every array is manifest row i.

    Attributes:
        root: the cohort folder.
        manifest: the manifest table (one row per slice).
        images: (N, C, H, W) uint8 in [0, 255].
        masks: (N, H, W) bool ROI masks, same H, W.
        labels: (N,) int64 class indices into ``classes``.
        classes: sorted WHO grades present, e.g. (2, 3) or (2, 3, 4).
        patient_ids: (N,) str; several rows share a patient when ``--slices k`` > 1.
        sites: (N,) str acquisition site / institution ("" when unknown).
    """

    root: Path
    manifest: pd.DataFrame
    images: npt.NDArray[np.uint8]
    masks: npt.NDArray[np.bool_]
    labels: npt.NDArray[np.int64]
    classes: tuple[int, ...]
    patient_ids: StrArray
    sites: StrArray

    def __len__(self) -> int:
        return len(self.labels)

    def files(self) -> list[Path]:
        """``manifest.csv`` and every cached image and mask: what a model trained on the cohort read."""
        m = self.manifest
        return [self.root / MANIFEST, *(self.root / p for p in (*m["cache_path"], *m["cache_mask_path"]))]

    @property
    def groups(self) -> StrArray:
        """(N,) str: the person each row belongs to, for every split (:mod:`gliograde.splits`): the manifest's
        ``group`` (the labels' ``group`` or a BraTS case's ``tcga_id``) where given, else the patient id."""
        if "group" not in self.manifest.columns:
            return self.patient_ids
        given = self.manifest["group"].astype(str).str.strip().to_numpy()
        return np.where(given != "", given, self.patient_ids.astype(str)).astype(object)

    def select(self, rows: npt.ArrayLike) -> Cohort:
        """The cohort of the given rows only (a subset of patients: :mod:`gliograde.data.subset`), classes and
        labels recomputed from the grades left; the root, and so the cached files, stay those of this cohort.

        Raises:
            InputError: no row selected.
        """
        idx = np.asarray(rows, dtype=np.int64)
        if idx.size == 0:
            raise InputError(f"{self.root / MANIFEST}: no patient left in the subset; check --labels / --sites")
        df = self.manifest.iloc[idx].reset_index(drop=True)
        classes, labels = _classes(df)
        return Cohort(root=self.root, manifest=df, images=np.ascontiguousarray(self.images[idx]),
                      masks=self.masks[idx], labels=labels, classes=classes,
                      patient_ids=self.patient_ids[idx], sites=self.sites[idx])

    def patients(self) -> tuple[StrArray, npt.NDArray[np.int64]]:
        """Unique patients (first-appearance order) and their class index."""
        _, first = np.unique(self.patient_ids, return_index=True)
        first = np.sort(first)
        return self.patient_ids[first], self.labels[first]


def is_ingested(path: Path) -> bool:
    """True for a folder written by ``gliograde ingest`` (it holds ``manifest.csv``): the one definition."""
    return (Path(path) / MANIFEST).is_file()


def read_manifest(root: Path) -> pd.DataFrame:
    """Read and check ``root/manifest.csv``."""
    path = Path(root) / MANIFEST
    if not is_ingested(root):
        raise FileNotFoundError(f"{path}: no manifest, {root} is not an ingested cohort; give the cohort to the "
                                "command as it is (it ingests a raw cohort into its --out folder), or run "
                                "`gliograde ingest DATA --out COHORT` and give COHORT")
    df = pd.read_csv(path, dtype={"patient_id": str, "site": str, "group": str}, keep_default_na=False)
    missing = [c for c in REQUIRED_COLUMNS if c not in df.columns]
    if missing:
        raise InputError(f"{path}: missing column(s) {missing}; re-run `gliograde ingest`")
    return df


def load_cohort(root: Path) -> Cohort:
    """Load every cached slice of an ingested cohort into memory.

    Args:
        root: folder written by ``gliograde ingest``.

    Returns:
        A :class:`Cohort` whose images are (N, C, H, W) uint8.

    Raises:
        FileNotFoundError: the manifest or a cached file is missing (never skipped silently).
    """
    root = Path(root)
    df = read_manifest(root)
    if len(df) == 0:
        raise InputError(f"{root / MANIFEST}: the manifest is empty; ingest a cohort with at least one patient")
    images, masks = [], []
    for rel, mrel in zip(df["cache_path"], df["cache_mask_path"], strict=True):
        images.append(_read_png(root / rel))
        masks.append(_read_png(root / mrel) > 0)
    shapes = {(im.shape, m.shape) for im, m in zip(images, masks, strict=True)}
    if len(shapes) > 1 or any(im.shape[:2] != m.shape for im, m in zip(images, masks, strict=True)):
        raise InputError(f"{root / MANIFEST}: cached images have different shapes {sorted(s[0] for s in shapes)[:3]} "
                         "(the cache mixes two ingests, or was edited); re-run `gliograde ingest` for this cohort")
    arr = np.stack([im if im.ndim == 3 else im[..., None] for im in images]).transpose(0, 3, 1, 2)
    classes, labels = _classes(df)
    sites = df["site"].astype(str).to_numpy() if "site" in df.columns else np.full(len(df), "", dtype=str)
    return Cohort(
        root=root,
        manifest=df,
        images=np.ascontiguousarray(arr, dtype=np.uint8),
        masks=np.stack(masks).astype(bool),
        labels=labels,
        classes=classes,
        patient_ids=df["patient_id"].astype(str).to_numpy(),
        sites=sites,
    )


def _classes(df: pd.DataFrame) -> tuple[tuple[int, ...], npt.NDArray[np.int64]]:
    """The sorted grades of a manifest and each row's class index into them."""
    grades = df["grade"].astype(int).to_numpy()
    classes = tuple(int(g) for g in sorted(set(grades.tolist())))
    return classes, np.searchsorted(np.array(classes), grades).astype(np.int64)


def _read_png(path: Path) -> npt.NDArray[np.uint8]:
    if not path.is_file():
        raise FileNotFoundError(f"{path}: cached file missing; re-run `gliograde ingest` for this cohort")
    try:
        with Image.open(path) as im:
            im.load()
            return np.asarray(im, dtype=np.uint8)
    except Exception as err:  # 0-byte, truncated or overwritten cache files: PIL raises several types
        raise InputError(f"{path}: cached image unreadable ({type(err).__name__}: {' '.join(str(err).split())}); "
                         "re-run `gliograde ingest` for this cohort") from err
