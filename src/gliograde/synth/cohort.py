"""One synthetic patient, and a whole cohort written in the TCGA-LGG slice layout or the BraTS NIfTI layout.

>>> from pathlib import Path
>>> import tempfile
>>> labels = generate_cohort(Path(tempfile.mkdtemp()) / "c", counts=(1, 1, 1), seed=0, montage=False)
>>> labels.name
'labels.csv'
"""
from __future__ import annotations

import csv
import logging
import multiprocessing as mp
import os
import shutil
from collections.abc import Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Literal

import numpy as np
import numpy.typing as npt
from scipy import ndimage

from gliograde.errors import InputError
from gliograde.fsio import LOCK_NAME, run_folder, swap_in
from gliograde.report.cohort import MontageCollector
from gliograde.runinfo import write_run_info
from gliograde.synth.anatomy import (
    CENTRE_Z,
    PIXEL_ZOOM,
    SCAN_Z0,
    SIZE,
    SLICE_MM,
    SLICES_IN_SCAN,
    Tissue,
    _templates,
    draw_warp,
    warp_tissue,
)
from gliograde.synth.scanner import SITES, acquire, draw_site, mr_contrasts
from gliograde.synth.tumour import (
    GRADES,
    TumourParams,
    apply_tumour,
    draw_tumour,
    mass_effect_push,
    render_tumour,
)
from gliograde.synth.writers import write_nifti_case, write_png_case

logger = logging.getLogger(__name__)

DEFAULT_COUNTS: tuple[int, int, int] = (30, 43, 57)
"""Patients of WHO grade 2, 3 and 4, as in the reproduced study."""
DEFAULT_DIFFICULTY = 0.5
"""Grade overlap used by default (see docs/synth.md for the measured separability)."""
PNG_LABEL_COLUMNS = ("patient_id", "who_grade", "institution", "folder", "largest_tumour_slice", "slices_kept",
                     "slices_in_scan")
NIFTI_LABEL_COLUMNS = ("case_id", "tcga_id", "brats_grade", "who_grade", "institution")
Format = Literal["png", "nifti"]
#: One worker task: (out, format, patient number, grade, index in grade, seed, difficulty, n_slices).
_Task = tuple[Path, Format, int, int, int, int, float, int]
#: A worker's result: (labels row, (grade, middle slice (H, W, 3) uint8, its mask (H, W) bool)).
_Result = tuple[dict[str, object], tuple[int, npt.NDArray[np.uint8], npt.NDArray[np.bool_]]]


@dataclass(frozen=True)
class SynthCfg:
    """Arguments of one ``gliograde synth`` run (written to the run's config.yaml).

    Attributes:
        counts: patients of grade 2, 3, 4.
        seed: random seed.
        difficulty: grade overlap in [0, 1].
        fmt: ``png`` (TCGA-LGG slices) or ``nifti`` (BraTS volumes).
        n_slices: odd number of slices per patient.
    """

    counts: tuple[int, int, int] = DEFAULT_COUNTS
    seed: int = 0
    difficulty: float = DEFAULT_DIFFICULTY
    fmt: Format = "png"
    n_slices: int = 5


@dataclass(frozen=True)
class Patient:
    """One synthetic patient.

    Attributes:
        grade: WHO grade 2, 3 or 4.
        site: institution code (key of :data:`gliograde.synth.scanner.SITES`).
        images: (S, 256, 256, 3) uint8, channels [pre-contrast T1, FLAIR, post-contrast T1].
        mask: (S, 256, 256) bool FLAIR abnormality; the middle slice has the largest area.
        seg: (S, 256, 256) uint8 BraTS labels (0, 1 necrosis/core, 2 oedema, 4 enhancing).
        brain: (S, 256, 256) bool brain mask (for skull-stripped NIfTI output).
        slice_numbers: (S,) int 1-based slice numbers in the virtual scan.
        tumour: the tumour's parameters (includes the latent severity; never written to labels).
    """

    grade: int
    site: str
    images: npt.NDArray[np.uint8]
    mask: npt.NDArray[np.bool_]
    seg: npt.NDArray[np.uint8]
    brain: npt.NDArray[np.bool_]
    slice_numbers: npt.NDArray[np.int64]
    tumour: TumourParams


def patient_rng(seed: int, grade: int, index: int) -> np.random.Generator:
    """Generator of the ``index``-th patient of ``grade``: independent of the other patients and the counts."""
    return np.random.default_rng(np.random.SeedSequence(seed, spawn_key=(grade, index)))


def place_tumour(
    params: TumourParams, mid: Tissue, rng: np.random.Generator
) -> tuple[tuple[float, float], TumourParams]:
    """Pick a tumour centre in the white matter of the middle slice, far enough from the brain surface.

    Shrinks the tumour (by 15 % per try) when no white matter is deep enough.

    Args:
        params: tumour parameters.
        mid: warped tissue of the middle slice only, maps (1, SIZE, SIZE).
        rng: random generator (consumed).

    Returns:
        ((row, col) centre in output pixels, possibly shrunk params).
    """
    depth = ndimage.distance_transform_edt(mid.brain[0] > 0.5)
    for _ in range(8):
        need = params.radius_mm * PIXEL_ZOOM * np.sqrt(params.elongation) * (1 + params.irregularity) + 4
        ok = np.flatnonzero((mid.wm[0] > 0.5) & (depth > need))
        if ok.size:
            row, col = divmod(int(ok[rng.integers(ok.size)]), SIZE)
            return (float(row), float(col)), params
        params = _shrunk(params, 0.85)
    raise RuntimeError("no white matter deep enough for a tumour; the template slice range is wrong")


def _shrunk(params: TumourParams, factor: float) -> TumourParams:
    return replace(params, radius_mm=params.radius_mm * factor, depth_mm=max(10.0, params.depth_mm * factor))


def make_patient(grade: int, rng: np.random.Generator, *, difficulty: float, n_slices: int = 5) -> Patient:
    """Simulate one patient: anatomy, tumour of the given grade, acquisition.

    Args:
        grade: WHO grade 2, 3 or 4.
        rng: the patient's own generator (:func:`patient_rng`); its first draw is the latent severity.
        difficulty: grade overlap in [0, 1].
        n_slices: odd number of contiguous slices, centred on the largest tumour cross-section.

    Returns:
        :class:`Patient`.
    """
    params = draw_tumour(grade, rng, difficulty)
    site = draw_site(rng)
    half = n_slices // 2
    centre_numbers = [k for k in range(1 + half, SLICES_IN_SCAN - half + 1)
                      if CENTRE_Z[0] <= SCAN_Z0 + SLICE_MM * (k - 1) <= CENTRE_Z[1]]
    numbers = int(rng.choice(centre_numbers)) + np.arange(-half, half + 1)
    z = SCAN_Z0 + SLICE_MM * (numbers - 1)
    warp = draw_warp(rng)
    centre, params = place_tumour(params, warp_tissue(z[half : half + 1], warp, None, keys=("wm", "brain")), rng)
    tissue = warp_tissue(z, warp, mass_effect_push(params, centre, n_slices))
    maps = render_tumour(params, centre, n_slices, rng)
    channels = apply_tumour(mr_contrasts(tissue, rng), maps, params, rng, tissue.wm)
    images = acquire(channels, SITES[site], rng)
    areas = maps.mask.sum(axis=(1, 2))
    if areas[half] != areas.max() or areas[half] == 0:  # nested sections make this impossible; guard anyway
        raise RuntimeError(f"tumour cross-sections {areas.tolist()} are not largest in the middle slice")
    return Patient(grade=grade, site=site, images=images, mask=maps.mask, seg=maps.seg(),
                   brain=tissue.brain > 0.5, slice_numbers=numbers.astype(np.int64), tumour=params)


def _shuffled_order(seed: int, n: int) -> npt.NDArray[np.int64]:
    """Seeded permutation that assigns patient numbers, so that numbers carry no grade information."""
    return np.random.default_rng(np.random.SeedSequence(seed, spawn_key=(0,))).permutation(n)


def iter_patients(
    counts: Sequence[int], seed: int, difficulty: float, n_slices: int = 5
) -> Iterator[tuple[int, int, Patient]]:
    """Yield (number, index-in-grade, patient) in the cohort's order, in memory; number is 1-based.

    Each patient's content depends only on (seed, grade, index-in-grade), the same as in :func:`generate_cohort`.
    """
    keys = [(g, i) for g, n in zip(GRADES, counts, strict=False) for i in range(n)]
    for number, k in enumerate(_shuffled_order(seed, len(keys)), start=1):
        grade, index = keys[int(k)]
        yield number, index, make_patient(grade, patient_rng(seed, grade, index), difficulty=difficulty,
                                          n_slices=n_slices)


def _check_args(out: Path, counts: Sequence[int], n_slices: int, fmt: str, difficulty: float) -> None:
    if len(counts) != len(GRADES) or any(int(c) < 0 for c in counts) or sum(counts) == 0:
        raise InputError(f"counts {tuple(counts)}: need three non-negative patient counts for grades 2, 3, 4 "
                         "(e.g. --n 30 43 57)")
    if n_slices < 1 or n_slices % 2 == 0:
        raise InputError(f"n_slices={n_slices}: must be odd so that the largest section is the middle one")
    if fmt not in ("png", "nifti"):
        raise InputError(f"format {fmt!r}: use 'png' (TCGA-LGG slices) or 'nifti' (BraTS volumes)")
    if not 0.0 <= difficulty <= 1.0:
        raise InputError(f"difficulty {difficulty}: must be in [0, 1] (0 = separable grades, 1 = heavy overlap)")
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise InputError(f"{out}: exists and is not an empty folder; choose a new --out or delete it first")


def _simulate_case(task: _Task) -> _Result:
    """Worker: simulate one patient, write its files; return its labels row and its middle slice (montage)."""
    out, fmt, number, grade, index, seed, difficulty, n_slices = task
    patient = make_patient(grade, patient_rng(seed, grade, index), difficulty=difficulty, n_slices=n_slices)
    name = f"SYN_{patient.site}_{number:04d}"
    row = (write_png_case if fmt == "png" else write_nifti_case)(out, name, patient)
    mid = n_slices // 2
    return row, (grade, patient.images[mid], patient.mask[mid])


def _run_tasks(tasks: list[_Task], workers: int) -> Iterator[_Result]:
    if workers <= 1 or len(tasks) < 2:
        yield from map(_simulate_case, tasks)
        return
    _templates()  # load once; forked workers share it
    ctx = mp.get_context("fork") if "fork" in mp.get_all_start_methods() else None
    with ProcessPoolExecutor(max_workers=workers, mp_context=ctx) as pool:
        yield from pool.map(_simulate_case, tasks, chunksize=2)


def generate_cohort(
    out: Path,
    counts: Sequence[int] = DEFAULT_COUNTS,
    seed: int = 0,
    difficulty: float = DEFAULT_DIFFICULTY,
    fmt: Format = "png",
    *,
    n_slices: int = 5,
    montage: bool = True,
    workers: int = 1,
) -> Path:
    """Write a synthetic glioma cohort and return the path of its ``labels.csv``.

    ``png``: ``<folder>/<folder>_<n>.png`` (256x256x3 uint8: T1, FLAIR, T1ce) and ``<folder>/<folder>_<n>_mask.png``
    (0/255) for ``n_slices`` contiguous slices, plus labels.csv (:data:`PNG_LABEL_COLUMNS`), as in TCGA-LGG.
    ``nifti``: ``<case>/<case>_{t1,flair,t1ce,seg}.nii.gz`` (240x240xS, skull-stripped) plus labels.csv
    (:data:`NIFTI_LABEL_COLUMNS`), as in BraTS. Same arguments give byte-identical files, whatever ``workers``.

    Args:
        out: output folder; must not exist or be empty.
        counts: patients of grade 2, 3 and 4.
        seed: random seed.
        difficulty: grade overlap in [0, 1] (0 = separable, 1 = heavy overlap).
        fmt: ``png`` or ``nifti``.
        n_slices: odd number of slices per patient.
        montage: also write ``montage.png`` (examples per grade).
        workers: processes simulating patients in parallel (0 = one per CPU core).

    Raises:
        InputError: bad counts, n_slices or format, or ``out`` not empty.
    """
    out = Path(out)
    _check_args(out, counts, n_slices, fmt, difficulty)
    out.mkdir(parents=True, exist_ok=True)
    keys = [(g, i) for g, n in zip(GRADES, counts, strict=True) for i in range(int(n))]  # 3 counts: checked
    tasks = [(out, fmt, number, *keys[int(k)], seed, difficulty, n_slices)
             for number, k in enumerate(_shuffled_order(seed, len(keys)), start=1)]
    rows: list[dict[str, object]] = []
    collector = MontageCollector()
    for row, (grade, image, mask) in _run_tasks(tasks, workers or (os.cpu_count() or 1)):
        rows.append(row)
        collector.add(grade, image, mask)
    columns = PNG_LABEL_COLUMNS if fmt == "png" else NIFTI_LABEL_COLUMNS
    labels = out / "labels.csv"
    with open(labels, "w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=list(columns), lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)
    if montage:
        collector.save(out / "montage.png")
    # DEBUG: `gliograde synth` prints the summary once, with the final folder (``out`` may be a scratch one)
    logger.debug("wrote %d synthetic patients (grades 2/3/4: %s) to %s", len(rows), "/".join(map(str, counts)), out)
    return labels


def synth_run(out: Path, cfg: SynthCfg, *, workers: int = 0) -> Path:
    """``gliograde synth``: :func:`generate_cohort` with ``cfg`` as a run, written like every command's output.

    ``out`` is checked and locked first (:func:`gliograde.fsio.run_folder`: a second command into it is refused);
    the whole cohort, ``config.yaml`` and ``run.json`` included, is written into a sibling staging folder and
    swapped in with one rename (:func:`gliograde.fsio.swap_in`), so ``out`` never holds half a cohort.

    Returns:
        ``out/labels.csv``.

    Raises:
        InputError: ``out`` is not a new or empty folder, is not writable or is in use; bad arguments.
    """
    out = Path(out)
    with run_folder(out, "synth"):
        if any(p.name != LOCK_NAME for p in out.iterdir()):
            raise InputError(f"{out}: exists and is not an empty folder; choose a new --out or delete it first")
        staging = out.parent / f".{out.name}.synth-{os.getpid()}"
        shutil.rmtree(staging, ignore_errors=True)
        try:
            generate_cohort(staging, cfg.counts, cfg.seed, cfg.difficulty, cfg.fmt, n_slices=cfg.n_slices,
                            workers=workers)
            write_run_info(staging, command="synth", config=cfg, seed=cfg.seed)
            swap_in(staging, out, "synth")
        finally:
            shutil.rmtree(staging, ignore_errors=True)
    return out / "labels.csv"
