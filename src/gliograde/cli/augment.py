"""``gliograde augment``: show the study's 57 fixed AutoAugment-SVHN versions of one case.

    gliograde augment runs/ingested --out runs/augment            # first patient of an ingested cohort
    gliograde augment ../shared/data/tcga-lgg --out runs/augment  # a raw cohort: ingested into runs/augment/cohort
    gliograde augment runs/ingested --patient P007 --out d --roi-only
    gliograde augment slice.png --mask roi.png --out d --dedupe effect

A raw cohort (any layout ``gliograde ingest`` reads) is ingested into ``OUT/cohort`` first, with the
preset's ingest settings (default: ``paper``, the study's, as ``gliograde ingest``; ``--preset recommended``
for those of ``train`` and ``cv``) overlaid by ``--config``'s ``ingest:`` section. Precedence: preset <
``--config`` YAML (``augment:``, ``ingest:``) < flags.
Writes ``montage.png`` (Figure 4 of the study), ``transforms.csv`` / ``transforms.json`` (index,
name, ops, magnitude bins, torchvision magnitudes at the image size, sign), ``config.yaml`` and
``run.json``.
"""
from __future__ import annotations

import argparse
from pathlib import Path
from typing import TYPE_CHECKING, Any

from gliograde.cli._common import add_config, add_out, add_preset, print_config, resolve_args
from gliograde.settings import COMMAND_PRESET, as_dict

if TYPE_CHECKING:  # numpy loads inside run(), so that `gliograde --help` stays fast
    import numpy as np
    import numpy.typing as npt

    from gliograde.config import IngestCfg


#: Parsed-argument name -> the RunConfig key it sets.
FLAGS = {name: (f"augment.{name}",) for name in ("dedupe", "sign", "roi_only", "subset")}


def add_parser(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> argparse.ArgumentParser:
    p = subparsers.add_parser(
        "augment", help="montage + list of the fixed AutoAugment-SVHN transforms for one case",
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("source", type=Path, metavar="COHORT_OR_CASE",
                   help="cohort folder (raw, in any layout `gliograde ingest` reads, or ingested) or one image "
                        "file (PNG)")
    add_out(p)
    p.add_argument("--patient", default=None, help="patient_id to show from a cohort (default: first row)")
    p.add_argument("--mask", type=Path, default=None, help="ROI mask image for a single file (default: none)")
    p.add_argument("--dedupe", choices=("identity", "effect"), default=None,
                   help="identity: 56+1 transforms as in the study; effect: 45+1 (default: identity)")
    p.add_argument("--sign", choices=("positive", "negative"), default=None,
                   help="sign of ShearX/Y, TranslateX/Y, Rotate, Contrast (default: positive)")
    p.add_argument("--roi-only", action="store_true", default=None,
                   help="keep the background 0 after every op (default: off, the study's behaviour)")
    p.add_argument("--subset", type=int, default=None, help="keep only k transforms + identity (default: all)")
    add_preset(p, COMMAND_PRESET["augment"])
    add_config(p)
    return p


def _read(path: Path, what: str) -> npt.NDArray[Any]:
    """The pixels of an image file, as PIL decodes them ((H, W) or (H, W, C), any dtype)."""
    import numpy as np
    from PIL import Image, UnidentifiedImageError

    from gliograde.errors import InputError

    if not path.is_file():
        raise InputError(f"{path}: {what} not found; check the path")
    try:
        with Image.open(path) as im:
            return np.array(im)
    except UnidentifiedImageError as err:
        raise InputError(f"{path}: not an image file ({err}); give a PNG or a cohort folder") from err


def _cohort_case(args: argparse.Namespace, ingest: IngestCfg) -> tuple[list[Path], str]:
    """The cached image and mask of ``--patient`` (default: the first row) in the cohort ``args.source``,
    opened as every command opens a cohort (a raw one is ingested with ``ingest`` into ``OUT/cohort``)."""
    from gliograde.data.cohort import open_cohort
    from gliograde.errors import InputError

    cohort = open_cohort(args.source, args.out, ingest, progress=not getattr(args, "quiet", False))
    df = cohort.manifest
    rows = df if args.patient is None else df[df["patient_id"] == str(args.patient)]
    if len(rows) == 0:
        raise InputError(f"{cohort.root / 'manifest.csv'}: no patient {args.patient!r}; "
                         f"choose one of {df['patient_id'].head(5).tolist()}...")
    row = rows.iloc[0]
    return [cohort.root / row["cache_path"], cohort.root / row["cache_mask_path"]], str(row["patient_id"])


def _load_case(
    args: argparse.Namespace, ingest: IngestCfg,
) -> tuple[npt.NDArray[np.uint8], npt.NDArray[np.bool_] | None, list[Path], str]:
    """One case as ((C, H, W) uint8, (H, W) bool or None, input files, case label)."""
    import numpy as np

    from gliograde.errors import InputError, MaskMismatchError

    src: Path = args.source
    if src.is_dir() or src.suffix.lower() == ".csv":  # a cohort: a folder, or a manifest CSV
        files, label = _cohort_case(args, ingest)
    else:
        files = [src] + ([args.mask] if args.mask is not None else [])
        label = src.stem
    img = _read(files[0], "image")
    mask = _read(files[1], "mask") > 0 if len(files) > 1 else None
    if img.dtype != np.uint8 or img.ndim not in (2, 3):
        raise InputError(f"{files[0]}: expected an 8-bit grey or multi-channel image, got {img.dtype} {img.shape}; "
                         "give its cohort folder instead (it is ingested first)")
    img = img[None] if img.ndim == 2 else img.transpose(2, 0, 1)
    if mask is not None:
        mask = np.asarray(mask.any(axis=-1) if mask.ndim == 3 else mask, dtype=np.bool_)
        if mask.shape != img.shape[1:]:
            raise MaskMismatchError(f"{files[1]}: mask shape {mask.shape} != image shape {img.shape[1:]}; "
                                    "give the mask of this image")
    return np.ascontiguousarray(img), mask, files, label


def run(args: argparse.Namespace) -> int:
    import csv
    import json

    import torch

    from gliograde.augment.policy import build_transforms
    from gliograde.errors import InputError
    from gliograde.report.montage import montage
    from gliograde.runinfo import fingerprint_files, write_run_info

    run_cfg = resolve_args("augment", args, FLAGS)
    if args.print_config:
        return print_config(run_cfg, "augment")
    cfg = run_cfg.augment
    img, mask, files, label = _load_case(args, run_cfg.ingest)
    if cfg.roi_only and mask is None:
        raise InputError(f"{args.source}: --roi-only needs a mask; give --mask ROI.png or a cohort folder")
    transforms = build_transforms(cfg)
    out: Path = args.out
    out.mkdir(parents=True, exist_ok=True)
    size = (img.shape[1], img.shape[2])
    rows = [{"index": k, **t.describe(size)} for k, t in enumerate(transforms)]
    (out / "transforms.json").write_text(json.dumps({"case": label, "size": size, "transforms": rows}, indent=2))
    with open(out / "transforms.csv", "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["index", "name", "ops", "magnitudes", "bins", "sign"])
        for r in rows:
            mags = ["" if v is None else f"{v:.4g}" for v in r["magnitudes"]]
            bins = ["" if b is None else str(b) for b in r["bins"]]
            w.writerow([r["index"], r["name"], "+".join(r["ops"]), ";".join(mags), ";".join(bins), r["sign"]])
    montage(torch.from_numpy(img), transforms, out / "montage.png",
            masks=None if mask is None else torch.from_numpy(mask), roi_only=cfg.roi_only)
    write_run_info(out, command="augment", config={**as_dict(run_cfg, "augment"), "case": label}, seed=None,
                   fingerprint=fingerprint_files(files))
    print(f"{len(transforms)} versions of {label} ({cfg.dedupe}, {cfg.sign}"
          f"{', roi-only' if cfg.roi_only else ''}) -> {out / 'montage.png'}, {out / 'transforms.csv'}")
    return 0
