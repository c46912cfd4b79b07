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
``run.json`` (:func:`gliograde.augment.show.show_transforms`, also ``gliograde.augment(...)``).
"""
from __future__ import annotations

import argparse
from pathlib import Path

from gliograde.cli._common import add_config, add_out, add_preset, print_config, resolve_args
from gliograde.settings import COMMAND_PRESET

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


def run(args: argparse.Namespace) -> int:
    from gliograde import api  # loads torch: only when the command runs

    cfg = resolve_args("augment", args, FLAGS)
    if args.print_config:
        return print_config(cfg, "augment")
    res = api.augment(args.source, args.out, cfg, patient=args.patient, mask=args.mask, progress=not args.quiet)
    print(res.summary)
    return 0
