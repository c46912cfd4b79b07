"""``gliograde synth --out DIR``: write the embedded synthetic glioma cohort (grades 2, 3, 4).

    gliograde synth --out data/synth                       # 30/43/57 patients, seed 0, PNG slices
    gliograde synth --out d --n 4 4 4 --seed 1 --difficulty 0.8 --format nifti

The cohort is written into a staging folder beside DIR and renamed into place when complete; DIR is locked while
synth runs (a second command into it is refused).
"""
from __future__ import annotations

import argparse
from pathlib import Path

from gliograde.cli._common import add_seed

# gliograde.synth.cohort's defaults (a test checks they agree): importing it here would load scipy and
# nilearn, seconds on every `gliograde --help`.
DEFAULT_COUNTS = (30, 43, 57)
DEFAULT_DIFFICULTY = 0.5


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> argparse.ArgumentParser:
    p = sub.add_parser("synth", help="write a synthetic glioma MRI cohort (offline demo data)",
                       description="Simulate patients with WHO grade 2, 3 and 4 gliomas on the MNI152 anatomy and "
                                   "write them in the TCGA-LGG slice layout (or BraTS NIfTI), plus montage.png.")
    p.add_argument("--out", type=Path, required=True, help="output folder, new or empty (required)")
    p.add_argument("--n", type=int, nargs=3, metavar=("N2", "N3", "N4"), default=list(DEFAULT_COUNTS),
                   help=f"patients of grade 2, 3, 4 (default: {' '.join(map(str, DEFAULT_COUNTS))})")
    add_seed(p)
    p.add_argument("--difficulty", type=float, default=DEFAULT_DIFFICULTY,
                   help=f"grade overlap in [0, 1]: 0 separable, 1 heavy overlap (default: {DEFAULT_DIFFICULTY})")
    p.add_argument("--format", choices=["png", "nifti"], default="png",
                   help="png: TCGA-LGG 2D slices; nifti: BraTS-style volumes with a segmentation (default: png)")
    p.add_argument("--slices", type=int, default=5, help="odd number of contiguous slices per patient (default: 5)")
    p.add_argument("--workers", type=int, default=0,
                   help="parallel processes; the files are identical for any value (default: 0 = one per CPU core)")
    return p


def run(args: argparse.Namespace) -> int:
    from gliograde.synth.cohort import SynthCfg, synth_run

    cfg = SynthCfg(counts=tuple(args.n), seed=args.seed, difficulty=args.difficulty, fmt=args.format,
                   n_slices=args.slices)
    labels = synth_run(args.out, cfg, workers=args.workers)  # locked, staged and swapped in (gliograde.fsio)
    n2, n3, n4 = cfg.counts
    print(f"wrote {n2 + n3 + n4} synthetic patients (grade 2: {n2}, grade 3: {n3}, grade 4: {n4}) -> {labels}")
    print(f"montage: {args.out / 'montage.png'}")
    return 0
