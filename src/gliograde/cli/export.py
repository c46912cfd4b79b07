"""``gliograde export BUNDLE --onnx [--out model.onnx]``: the bundle's model as ONNX (uint8 in, probabilities out).

    gliograde export runs/m --onnx                       # -> runs/m/model.onnx (+ model.json sidecar)
    gliograde export runs/m --onnx --out deploy/glio.onnx
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path


def add_parser(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> argparse.ArgumentParser:
    p = subparsers.add_parser("export", help="export a trained bundle (ONNX)", description=__doc__,
                              formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("bundle", type=Path, help="bundle folder written by `gliograde train`")
    p.add_argument("--onnx", action="store_true", required=True, help="write an ONNX model (the only format; required)")
    p.add_argument("--out", type=Path, default=None, help="ONNX file to write (default: BUNDLE/model.onnx)")
    p.add_argument("--opset", type=int, default=17, help="ONNX opset version (default: 17)")
    return p


def run(args: argparse.Namespace) -> int:
    from gliograde.bundles import load_bundle
    from gliograde.export import export_onnx

    bundle = load_bundle(args.bundle)
    out = export_onnx(bundle, args.out or args.bundle / "model.onnx", opset=args.opset)
    _, chans, side, _ = json.loads(out.with_suffix(".json").read_text())["input"]["shape"]
    print(f"wrote {out}: input 'image' uint8 (N, {chans}, {side}, {side}), "
          f"output 'probabilities' (N, {len(bundle.classes)}) for grades {list(bundle.classes)}")
    return 0
