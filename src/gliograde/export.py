"""Export a bundle's model to ONNX, with normalisation and softmax inside the graph.

The ONNX model takes what the preprocessing produces, so a deployment needs no PyTorch and no mean/std:

    input  ``image``: (N, C, S, S) **uint8** in [0, 255]; C = the bundle's ``in_chans`` (1 for a grey crop),
                      S = the bundle's ``input_size`` (resize the preprocessed crop to S first when the
                      ingest size differs: bilinear, antialiased, as :func:`gliograde.training.engine.normalise_batch`);
    output ``probabilities``: (N, K) float32, softmax over the bundle's classes (model.json ``classes``).
The batch axis N is dynamic. The TorchScript-based exporter (``dynamo=False``) is used: it needs no onnxscript.

Only kinds with a network export (:meth:`~gliograde.bundles.base.ModelKind.onnx_graph`; the ``cnn`` kind);
any other bundle is refused with the fix.

The export never changes the bundle: by default it writes ``<BUNDLE>.onnx`` and ``<BUNDLE>.json`` *beside* the
bundle folder (:func:`default_out`), and it never overwrites a file it did not write itself: an existing sidecar
must carry :data:`WRITTEN_BY` and an existing ``.onnx`` the sha256 that sidecar records, else it is refused
(so ``--out BUNDLE/model.onnx`` cannot replace the bundle's own ``model.json``). Both files are written
atomically.

>>> default_out(Path("runs/m"))
PosixPath('runs/m.onnx')
>>> # export_onnx(load_bundle(Path("runs/m")), default_out(Path("runs/m")))
"""
from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import nn

from gliograde.bundles.base import ModelKind
from gliograde.errors import InputError
from gliograde.fsio import atomic_path, atomic_write_json
from gliograde.models import ModelSpec
from gliograde.runinfo import sha256_file

logger = logging.getLogger(__name__)

#: The sidecar's ``written_by``: the mark that lets a later export replace the files.
WRITTEN_BY = "gliograde export"


def default_out(bundle_dir: Path) -> Path:
    """``<BUNDLE>.onnx`` beside the bundle folder (never inside it)."""
    bundle_dir = Path(bundle_dir)
    return bundle_dir.with_name(bundle_dir.name + ".onnx")


def sidecar_path(out: Path) -> Path:
    """The sidecar JSON of the ONNX file ``out``: ``out`` with suffix ``.json``."""
    return Path(out).with_suffix(".json")


def check_can_write(out: Path) -> None:
    """Refuse to write ``out`` or its sidecar over a file an earlier export did not write.

    Raises:
        InputError: names the file and the fix (another ``--out``).
    """
    out, side = Path(out), sidecar_path(out)
    fix = "choose another --out (the default writes BUNDLE.onnx beside the bundle folder)"
    doc: Any = None
    if side.exists():
        try:
            doc = json.loads(side.read_text())
        except (OSError, UnicodeDecodeError, json.JSONDecodeError):
            doc = None
        if not isinstance(doc, dict) or doc.get("written_by") != WRITTEN_BY:
            raise InputError(f"{side}: exists and was not written by `gliograde export`; refusing to overwrite "
                             f"it; {fix}")
    if out.exists():
        if not out.is_file() or doc is None or doc.get("onnx_sha256") != sha256_file(out):
            raise InputError(f"{out}: exists and was not written by `gliograde export`; refusing to overwrite it; "
                             f"{fix}")


@dataclass(frozen=True)
class OnnxGraph:
    """What a bundle exports: ``module`` maps (N, in_chans, input_size, input_size) uint8 to (N, K) probabilities;
    ``info``: extra entries of the sidecar JSON (e.g. the backbone)."""

    module: nn.Module
    in_chans: int
    input_size: int
    info: dict[str, Any] = field(default_factory=dict)


class NormalisedSoftmax(nn.Module):
    """uint8 (N, C, S, S) -> softmax probabilities (N, K); the same arithmetic as ``normalise_batch`` minus resizing."""

    mean: torch.Tensor  # (1, C', 1, 1) float32 buffers, registered in __init__
    std: torch.Tensor

    def __init__(self, model: nn.Module, spec: ModelSpec, in_chans: int) -> None:
        super().__init__()
        self.model = model
        self.in_chans = in_chans
        mean, std = torch.tensor(spec.mean), torch.tensor(spec.std)
        if in_chans not in (1, 3):
            mean, std = mean.mean().expand(in_chans), std.mean().expand(in_chans)
        self.register_buffer("mean", mean.reshape(1, -1, 1, 1).clone())
        self.register_buffer("std", std.reshape(1, -1, 1, 1).clone())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x.float() / 255.0
        if self.in_chans == 1:
            x = x.expand(-1, 3, -1, -1)
        logits: torch.Tensor = self.model((x - self.mean) / self.std)
        return logits.softmax(dim=1)


def export_onnx(bundle: ModelKind[Any], out: Path, opset: int = 17) -> Path:
    """Write ``out`` (ONNX) and ``out.with_suffix('.json')`` (classes, input spec, ``onnx_sha256``) for ``bundle``.

    Args:
        bundle: from :func:`gliograde.bundles.load_bundle`.
        out: the .onnx file to write.
        opset: ONNX opset version.

    Returns:
        ``out``.

    Raises:
        InputError: the bundle's kind has no network to export, or ``out`` or its sidecar exists and was not
            written by an earlier export.
    """
    graph = bundle.onnx_graph()
    out = Path(out)
    check_can_write(out)
    s = graph.input_size
    dummy = torch.zeros(1, graph.in_chans, s, s, dtype=torch.uint8)
    with atomic_path(out) as tmp:
        torch.onnx.export(graph.module, (dummy,), str(tmp), input_names=["image"], output_names=["probabilities"],
                          dynamic_axes={"image": {0: "batch"}, "probabilities": {0: "batch"}}, opset_version=opset,
                          dynamo=False)
    sidecar = {"written_by": WRITTEN_BY,
               "input": {"name": "image", "dtype": "uint8", "shape": ["N", graph.in_chans, s, s],
                         "range": [0, 255], "channels": list(bundle.ingest.channels)},
               "output": {"name": "probabilities", "shape": ["N", len(bundle.classes)],
                          "classes": list(bundle.classes)},
               **graph.info, "bundle_fingerprint": bundle.fingerprint, "opset": opset, "onnx_sha256": sha256_file(out)}
    atomic_write_json(sidecar_path(out), sidecar)
    logger.debug("wrote %s (%s, input uint8 %s)", out, graph.info.get("backbone", bundle.kind), tuple(dummy.shape))
    return out
