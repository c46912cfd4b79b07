"""Byte-reproducible ``model.skops``: the same fitted model always gives the same bytes and the same sha256.

A skops file is a zip archive of ``schema.json`` (the object tree) and one ``<id>.npy`` per array, where ``<id>``
is the Python ``id()`` of the object when it was saved: it changes from process to process, and the zip entries
carry the time of writing. :func:`canonical_skops` rewrites the archive so that only the model decides its bytes:

* every ``__id__`` of the tree (skops uses them only to restore objects shared between places, by equality) and
  every ``file`` reference is renumbered 1, 2, ... in the order of first appearance in the document, which is
  fixed by the model's structure; the ``.npy`` entries are renamed to match;
* entries are written in sorted order, stored (as skops writes them), with a fixed timestamp.

Hand-written because skops offers no deterministic mode (0.16); the format (zip + ``schema.json``) is its
documented one, and the file is loaded back with :func:`skops.io.loads` (same types, same arrays) before it is
used, so a future skops that stores more than this knows of is refused here, not written wrong.

>>> # canonical_skops(skops.io.dumps(pipeline)) == canonical_skops(skops.io.dumps(copy.deepcopy(pipeline)))
"""
from __future__ import annotations

import io
import json
import zipfile
from typing import Any

__all__ = ["canonical_skops"]

SCHEMA = "schema.json"
#: The zip timestamp of every entry (the earliest a zip can hold).
EPOCH = (1980, 1, 1, 0, 0, 0)


def _renumber(tree: Any, ids: dict[int, int]) -> Any:
    """``tree`` with each node's ``__id__`` and ``file`` reference renumbered in document order (``ids``: old->new)."""
    if isinstance(tree, list):
        return [_renumber(v, ids) for v in tree]
    if not isinstance(tree, dict):
        return tree
    node = "__loader__" in tree  # a skops node (not the content of a user dict, whose keys are free)
    out: dict[str, Any] = {}
    for key, value in tree.items():
        if node and key == "__id__" and isinstance(value, int):
            out[key] = ids.setdefault(value, len(ids) + 1)
        elif node and key == "file" and isinstance(value, str) and value.endswith(".npy") and value[:-4].isdigit():
            out[key] = f"{ids.setdefault(int(value[:-4]), len(ids) + 1)}.npy"
        else:
            out[key] = _renumber(value, ids)
    return out


def canonical_skops(raw: bytes) -> bytes:
    """The skops archive ``raw`` with renumbered ids, sorted entries and fixed timestamps (see the module docstring).

    Raises:
        ValueError: ``raw`` is not a skops archive this function knows (no ``schema.json``, or an entry that is
            neither it nor an ``<id>.npy`` the schema names).
    """
    with zipfile.ZipFile(io.BytesIO(raw)) as src:
        names = src.namelist()
        if SCHEMA not in names:
            raise ValueError("not a skops archive: no schema.json")
        ids: dict[int, int] = {}
        schema = _renumber(json.loads(src.read(SCHEMA)), ids)
        entries = {SCHEMA: json.dumps(schema, indent=2).encode()}
        for name in names:
            if name == SCHEMA:
                continue
            old = int(name[:-4]) if name.endswith(".npy") and name[:-4].isdigit() else None
            if old is None or old not in ids:
                raise ValueError(f"skops archive entry {name!r} is not referenced by schema.json")
            entries[f"{ids[old]}.npy"] = src.read(name)
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", compression=zipfile.ZIP_STORED) as dst:
        for name in sorted(entries):
            info = zipfile.ZipInfo(name, date_time=EPOCH)
            info.external_attr = 0o644 << 16
            dst.writestr(info, entries[name])
    return buf.getvalue()
