"""A case's files as bytes, so a worker that shares no disk with the driver can read it (``--executor ray``).

:func:`pack_case` reads every file of a found case (:func:`~gliograde.data.origin.case_files`) under
the case's common folder; :func:`unpack_case` writes them into a worker's temporary folder and returns the
same :class:`~gliograde.prediction.cases.CaseInput` with its paths moved there, so the bundle's kind reads
it exactly as on the driver.

>>> # packed = pack_case(ci); with TemporaryDirectory() as tmp: local = unpack_case(packed, Path(tmp))
"""
from __future__ import annotations

import os
from dataclasses import dataclass, replace
from pathlib import Path

from gliograde.data.origin import case_files
from gliograde.prediction.cases import CaseInput

__all__ = ["PackedCase", "pack_case", "unpack_case"]


@dataclass(frozen=True)
class PackedCase:
    """One found case with its files.

    Attributes:
        case: the case as found on the driver (alias set; paths are the driver's).
        root: the folder every path of the case is under, on the driver.
        files: {path relative to ``root``: bytes}.
        error: why a file could not be read on the driver (the worker reports it as the case's error), or None.
    """

    case: CaseInput
    root: str
    files: dict[str, bytes]
    error: str | None = None


def _root(ci: CaseInput, files: list[Path]) -> Path:
    common = Path(os.path.commonpath([str(p.absolute()) for p in [ci.path, *files]]))
    return common.parent if common.is_file() else common


def pack_case(ci: CaseInput) -> PackedCase:
    """Read the files of a found case (``ci.source`` not None) into a :class:`PackedCase`."""
    if ci.source is None:
        raise ValueError(f"{ci.alias}: a case without a source has nothing to pack")
    files = case_files(ci.source)
    root = _root(ci, files)
    try:
        data = {str(p.absolute().relative_to(root)): p.read_bytes() for p in files}
    except OSError as err:  # as a local run, the case gets an error row and the batch goes on
        return PackedCase(case=ci, root=str(root), files={}, error=str(err))
    return PackedCase(case=ci, root=str(root), files=data)


def _moved(path: Path, root: Path, dest: Path) -> Path:
    return dest / path.absolute().relative_to(root)


def unpack_case(packed: PackedCase, dest: Path) -> CaseInput:
    """Write the case's files under ``dest`` and return the case with its paths there."""
    for rel, data in packed.files.items():
        (dest / rel).parent.mkdir(parents=True, exist_ok=True)
        (dest / rel).write_bytes(data)
    ci, root = packed.case, Path(packed.root)
    src = ci.source
    assert src is not None  # pack_case refused a case without one
    slices = {k: (_moved(a, root, dest), _moved(b, root, dest)) for k, (a, b) in src.slices.items()}
    source = replace(src, slices=slices,
                     images={k: _moved(p, root, dest) for k, p in src.images.items()},
                     mask=None if src.mask is None else _moved(src.mask, root, dest))
    return replace(ci, path=_moved(ci.path, root, dest), source=source)
