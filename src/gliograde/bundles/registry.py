"""The model kinds: ``model.json``'s ``kind`` -> the class that reads, runs and explains that bundle.

The one place that knows which kinds exist. A new kind is one module with a :class:`~gliograde.bundles.base.ModelKind`
subclass plus one line in :data:`KINDS`.

>>> sorted(KINDS), get_kind("radiomics").uses
(['cnn', 'prior', 'radiomics'], frozenset({'selection'}))
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

from gliograde.bundles.base import ModelKind
from gliograde.bundles.cnn import CnnBundle
from gliograde.bundles.meta import MODEL_JSON, check_format, check_seal, meta_kind, read_meta
from gliograde.bundles.prior import PriorBundle
from gliograde.bundles.radiomics import RadiomicsBundle
from gliograde.errors import GliogradeError, InputError

#: Every model kind by its model.json ``kind`` name.
KINDS: dict[str, type[ModelKind[Any]]] = {
    CnnBundle.name: CnnBundle,
    RadiomicsBundle.name: RadiomicsBundle,
    PriorBundle.name: PriorBundle,
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

    The shared checks run for every kind: ``format_version`` is one the kind reads (before anything else), and
    every file model.json lists is there with its recorded sha256 (:func:`~gliograde.bundles.meta.check_seal`,
    after the kind's own checks). Whatever a loader library raises on a malformed file (safetensors, skops,
    torch) becomes a one-line InputError naming the bundle.

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
    cls = KINDS[kind]
    check_format(path, meta, cls.format_version)
    try:
        bundle = cls.load(path, meta, device)
    except GliogradeError:
        raise
    except Exception as err:  # a malformed model file: the library's own error, made one safe line
        raise InputError(f"{path}: the {kind} model could not be read ({load_error_text(err)}); the bundle is "
                         "damaged or not a gliograde bundle, copy it again or re-train it") from err
    # after the kind's own checks (its model file against its recorded sha256, then parsed by a loader that
    # cannot run code: safetensors, skops with trusted types), so their more specific refusals come first
    check_seal(path, meta)
    return bundle


def load_error_text(err: BaseException) -> str:
    """``Type: first line`` of a loader's error, at most 160 characters; advice a library gives about turning a
    safety check off (``weights_only=False``, trusting types) is left out, never passed on.

    >>> load_error_text(RuntimeError("Weights only load failed. Re-running with weights_only=False will work"))
    'RuntimeError: the file is not a plain tensor file'
    """
    first = (str(err).strip().splitlines() or [""])[0]
    if any(s in first.lower() for s in ("weights_only", "trusted", "unsafe", "pickle")):
        first = "the file is not a plain tensor file"
    return f"{type(err).__name__}: {first[:160]}" if first else type(err).__name__
