"""``gliograde export BUNDLE --onnx [--out model.onnx]``: the bundle's model as ONNX (uint8 in, probabilities out);
``gliograde export BUNDLE --bundle DIR``: the bundle alone, to share (no training patient ids, no cohort).

    gliograde export runs/m --onnx                       # -> runs/m.onnx (+ runs/m.json sidecar), beside the bundle
    gliograde export runs/m --onnx --out deploy/glio.onnx  # (+ deploy/glio.json)
    gliograde export runs/m --bundle share/m             # model.json + the files it seals, checked after copying

The bundle folder is never changed, and no file an earlier export did not write is overwritten.
"""
from __future__ import annotations

import argparse
import importlib.util
import json
from pathlib import Path

from gliograde.errors import InputError


def add_parser(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> argparse.ArgumentParser:
    p = subparsers.add_parser("export", help="export a trained bundle (ONNX)", description=__doc__,
                              formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("bundle", type=Path, help="bundle folder written by `gliograde train`")
    what = p.add_mutually_exclusive_group(required=True)
    what.add_argument("--onnx", action="store_true", help="write an ONNX model (CNN bundles)")
    what.add_argument("--bundle", dest="copy_to", type=Path, default=None, metavar="DIR",
                      help="copy the bundle alone (model.json and the files it seals, without the training run's "
                           "provenance) into the new folder DIR")
    p.add_argument("--out", type=Path, default=None,
                   help="with --onnx: ONNX file to write (default: BUNDLE.onnx beside the bundle folder)")
    p.add_argument("--opset", type=int, default=17, help="ONNX opset version (default: 17)")
    return p


def run(args: argparse.Namespace) -> int:
    from gliograde.bundles import load_bundle

    if args.copy_to is not None:
        from gliograde.bundles.packed import copy_bundle  # no torch needed for a radiomics bundle's copy

        copied = copy_bundle(load_bundle(args.bundle), args.copy_to)
        print(f"wrote {copied}: {', '.join(sorted(p.name for p in copied.iterdir()))}")
        return 0
    if importlib.util.find_spec("onnx") is None:  # torch.onnx writes the file with it: say so before any work
        raise InputError("gliograde export --onnx needs the onnx package, which is not installed; "
                         "pip install 'gliograde[export]' (onnx, and onnxruntime to run the file)")
    from gliograde.export import check_can_write, default_out, export_onnx, sidecar_path  # imports torch

    out = args.out or default_out(args.bundle)
    check_can_write(out)  # before loading the model
    bundle = load_bundle(args.bundle)
    out = export_onnx(bundle, out, opset=args.opset)
    _, chans, side, _ = json.loads(sidecar_path(out).read_text())["input"]["shape"]
    print(f"wrote {out}: input 'image' uint8 (N, {chans}, {side}, {side}), "
          f"output 'probabilities' (N, {len(bundle.classes)}) for grades {list(bundle.classes)}")
    return 0
