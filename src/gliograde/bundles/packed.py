"""A bundle as bytes, for workers that share no disk with the driver (``--executor ray``).

The driver reads the bundle's own files (``model.json`` and the files it seals: the weights or ``model.skops``,
the model card; not the training run's provenance nor sub-folders, such as an ingested ``cohort/``) into a
:class:`PackedBundle`; the executor puts it into Ray's
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
from gliograde.bundles.meta import MODEL_JSON, SEAL, bundle_files
from gliograde.bundles.registry import load_bundle
from gliograde.errors import InputError
from gliograde.fsio import atomic_write_bytes, check_out_not_in_inputs, run_folder

__all__ = ["PackedBundle", "copy_bundle", "open_packed", "pack_bundle"]

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
    """Read ``bundle.path``'s ``model.json`` and the files it seals (older bundles: :func:`bundle_files`) into a
    :class:`PackedBundle`; the worker's load checks them against the seal again."""
    folder = Path(bundle.path)
    sealed = bundle.meta.get(SEAL)
    names = sorted(sealed) if isinstance(sealed, dict) else bundle_files(folder)
    files = {name: (folder / name).read_bytes() for name in [MODEL_JSON, *names]}
    torch = sys.modules.get("torch")
    threads = int(torch.get_num_threads()) if torch is not None else 0
    return PackedBundle(name=folder.name, fingerprint=bundle.fingerprint, files=files, threads=threads)


def copy_bundle(bundle: ModelKind[Any], out: Path) -> Path:
    """Write the bundle alone (``model.json`` and the files it seals) into the new folder ``out`` and load the copy
    back: the shareable bundle, without the training run's provenance (``inner_split.csv``,
    ``run.json``, histories, checkpoints), which stays where training wrote it.

    Raises:
        InputError: ``out`` exists and is not empty, or is the bundle folder or inside it.
    """
    out = Path(out)
    check_out_not_in_inputs(out, [bundle.path])
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise InputError(f"{out}: exists and is not an empty folder; choose a new folder for the bundle copy")
    with run_folder(out, "export"):
        for name, data in pack_bundle(bundle).files.items():
            atomic_write_bytes(out / name, data)
        load_bundle(out)  # the copy is checked as any bundle is: its seal, its model file
    return out


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
        atomic_write_bytes(folder / name, data)
    bundle = load_bundle(folder, device)
    _OPENED[packed.fingerprint] = (bundle, tmp)
    return bundle, True
