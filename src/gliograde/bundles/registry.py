"""The model kinds: ``model.json``'s ``kind`` -> the class that reads, runs and explains that bundle.

The one place that knows which kinds exist. A new kind is one module with a :class:`~gliograde.bundles.base.ModelKind`
subclass plus one line in :data:`KINDS`.

>>> sorted(KINDS), get_kind("radiomics").uses
(['cnn', 'radiomics'], frozenset({'selection'}))
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

from gliograde.bundles.base import ModelKind
from gliograde.bundles.cnn import CnnBundle
from gliograde.bundles.meta import MODEL_JSON, meta_kind, read_meta
from gliograde.bundles.radiomics import RadiomicsBundle
from gliograde.errors import InputError

#: Every model kind by its model.json ``kind`` name.
KINDS: dict[str, type[ModelKind[Any]]] = {
    CnnBundle.name: CnnBundle,
    RadiomicsBundle.name: RadiomicsBundle,
}


def get_kind(name: str) -> type[ModelKind[Any]]:
    """The class of model kind ``name``.

    Raises:
        InputError: unknown kind (the message lists the known ones).
    """
    if name not in KINDS:
        raise InputError(f"unknown model kind {name!r}; choose one of {', '.join(sorted(KINDS))}")
    return KINDS[name]


def load_bundle(path: Path | str, device: str = "cpu") -> ModelKind[Any]:
    """Load a bundle folder of any kind: model.json is read once and its ``kind`` picks the loader.

    Args:
        path: folder written by ``gliograde train`` (model.json without ``kind``: a CNN bundle).
        device: torch device for kinds that run a network.

    Raises:
        InputError: missing or unreadable files, an unknown kind, or a model file that fails its safety checks.
    """
    path = Path(path)
    meta = read_meta(path)
    kind = meta_kind(meta)
    if kind not in KINDS:
        raise InputError(f"{path / MODEL_JSON}: unknown bundle kind {kind!r}; expected one of "
                         f"{', '.join(sorted(KINDS))} (a newer gliograde wrote it?)")
    return KINDS[kind].load(path, meta, device)
