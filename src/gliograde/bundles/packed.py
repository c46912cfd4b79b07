"""A bundle as bytes, for workers that share no disk with the driver (``--executor ray``).

The driver reads the bundle folder's own files (``model.json``, the weights or ``model.skops``; not its
sub-folders, such as an ingested ``cohort/``) into a :class:`PackedBundle`; the executor puts it into Ray's
object store once. A worker writes the files into a private temporary folder and loads them with
:func:`~gliograde.bundles.registry.load_bundle`, the same safe loader as the driver (safetensors, skops with
trusted types; no pickled model), once per worker process: later tasks in that process reuse it. Each task
runs torch with the driver's CPU thread count (Ray gives a worker one thread per CPU it asked for), so the
numbers are those of a local run to the last bit.

>>> # packed = pack_bundle(load_bundle("runs/m")); bundle, first = open_packed(packed)  # on a worker
"""
from __future__ import annotations

import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from gliograde.bundles.base import ModelKind
from gliograde.bundles.registry import load_bundle

__all__ = ["PackedBundle", "open_packed", "pack_bundle"]

#: Bundles already opened in this (worker) process, by fingerprint: (bundle, its temporary folder).
_OPENED: dict[str, tuple[ModelKind[Any], tempfile.TemporaryDirectory[str]]] = {}


@dataclass(frozen=True)
class PackedBundle:
    """A bundle folder's top-level files and the bundle's fingerprint (its cache key on workers).

    Attributes:
        name: the bundle folder's name (the worker's copy has the same name).
        fingerprint: the bundle's sha256 (of its model file).
        files: {file name: bytes} of the folder's top-level files.
        threads: the driver's torch CPU threads when packed (0: torch not loaded there, leave the worker's).
    """

    name: str
    fingerprint: str
    files: dict[str, bytes]
    threads: int = 0

    @property
    def nbytes(self) -> int:
        """Total size of the files in bytes."""
        return sum(len(b) for b in self.files.values())


def pack_bundle(bundle: ModelKind[Any]) -> PackedBundle:
    """Read ``bundle.path``'s top-level files into a :class:`PackedBundle`."""
    folder = Path(bundle.path)
    files = {p.name: p.read_bytes() for p in sorted(folder.iterdir()) if p.is_file()}
    torch = sys.modules.get("torch")
    threads = int(torch.get_num_threads()) if torch is not None else 0
    return PackedBundle(name=folder.name, fingerprint=bundle.fingerprint, files=files, threads=threads)


def open_packed(packed: PackedBundle, device: str = "cpu") -> tuple[ModelKind[Any], bool]:
    """The bundle of ``packed``, loaded in this process; True when this call loaded it (first use here)."""
    if packed.threads:
        import torch  # heavy: only where the driver had loaded it (a CNN bundle)

        torch.set_num_threads(packed.threads)
    hit = _OPENED.get(packed.fingerprint)
    if hit is not None:
        return hit[0], False
    tmp = tempfile.TemporaryDirectory(prefix="gliograde-bundle-")
    folder = Path(tmp.name) / packed.name
    folder.mkdir()
    for name, data in packed.files.items():
        (folder / name).write_bytes(data)
    bundle = load_bundle(folder, device)
    _OPENED[packed.fingerprint] = (bundle, tmp)
    return bundle, True
