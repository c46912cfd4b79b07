"""Provenance for every run: resolved config, seed, package versions, input fingerprint.

>>> from gliograde.runinfo import package_versions
>>> "numpy" in package_versions()
True
"""
from __future__ import annotations

import dataclasses
import hashlib
import platform
import sys
from collections.abc import Iterable, Mapping, Sequence
from importlib import metadata
from pathlib import Path
from typing import Any

import yaml

from gliograde import __version__
from gliograde.fsio import atomic_write_json, atomic_write_text

_PACKAGES = (
    "gliograde", "torch", "torchvision", "timm", "numpy", "scipy", "scikit-learn", "scikit-image",
    "nibabel", "pydicom", "pillow", "matplotlib", "grad-cam", "onnx", "onnxruntime",
    "pyradiomics", "pyradiomics-bhklab",
)


def package_versions() -> dict[str, str]:
    """Versions of the packages that shape results (missing ones are left out)."""
    out: dict[str, str] = {"python": platform.python_version()}
    for name in _PACKAGES:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
    return out


def code_version() -> str:
    """The installed gliograde version (what a resumed unit's or a cached matrix's record compares)."""
    return __version__  # the one definition: pyproject.toml, through the installed metadata


def sha256_file(path: Path, chunk: int = 1 << 20) -> str:
    """sha256 hex digest of one file."""
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        while block := fh.read(chunk):
            h.update(block)
    return h.hexdigest()


def fingerprint_files(paths: Iterable[Path], root: Path | None = None) -> dict[str, Any]:
    """Fingerprint a set of input files: one sha256 per file plus one over all of them.

    The combined digest hashes the sorted (relative path, file digest) pairs, so it does not
    depend on the order the files were found in, nor on where the cohort folder lives.

    Returns:
        {"sha256": combined hex digest, "n_files": int, "files": {relpath: sha256}}
    """
    named = {}
    for p in paths:
        p = Path(p)
        named[str(p.relative_to(root)) if root is not None and p.is_relative_to(root) else str(p)] = p
    return fingerprint_named(named)


def fingerprint_named(named: Mapping[str, Path]) -> dict[str, Any]:
    """:func:`fingerprint_files` with the name recorded for each file given (e.g. an alias instead of a
    path that could name a patient); the combined digest hashes the sorted (name, file digest) pairs."""
    files = {key: sha256_file(Path(p)) for key, p in named.items()}
    h = hashlib.sha256()
    for key in sorted(files):
        h.update(f"{key}\0{files[key]}\n".encode())
    return {"sha256": h.hexdigest(), "n_files": len(files), "files": dict(sorted(files.items()))}


def names_withheld(fingerprint: Mapping[str, Any]) -> dict[str, Any]:
    """A fingerprint without its per-file names (which can name patients): the combined sha256 and the file count
    stay, so the data is still identified. What a bundle folder's ``run.json`` records.

    >>> names_withheld({"sha256": "ab", "n_files": 2, "files": {"Doe_Jane/1.png": "cd"}})
    {'sha256': 'ab', 'n_files': 2, 'files': 'withheld: file names can name patients'}
    """
    return {**{k: v for k, v in fingerprint.items() if k != "files"},
            "files": "withheld: file names can name patients"}


def to_plain(obj: Any) -> Any:
    """Dataclasses, Paths and tuples to YAML/JSON-safe builtins."""
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        return {f.name: to_plain(getattr(obj, f.name)) for f in dataclasses.fields(obj)}
    if isinstance(obj, Mapping):
        return {str(k): to_plain(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [to_plain(v) for v in obj]
    if isinstance(obj, Path):
        return str(obj)
    return obj


def write_run_info(
    out: Path,
    *,
    command: str,
    config: Any,
    seed: int | None,
    fingerprint: Mapping[str, Any] | None = None,
    argv: Sequence[str] | str | None = None,
) -> None:
    """Write ``config.yaml`` (resolved config) and ``run.json`` (seed, versions, fingerprint, argv) into ``out``.

    ``argv`` replaces the command line recorded (default ``sys.argv``): a command whose arguments can name
    patients (``predict``) records a note instead.
    """
    out.mkdir(parents=True, exist_ok=True)
    atomic_write_text(out / "config.yaml", yaml.safe_dump(to_plain(config), sort_keys=False))
    info = {
        "command": command,
        "argv": list(sys.argv) if argv is None else argv if isinstance(argv, str) else list(argv),
        "seed": seed,
        "versions": package_versions(),
        "platform": platform.platform(),
        "input_fingerprint": to_plain(fingerprint) if fingerprint is not None else None,
    }
    atomic_write_json(out / "run.json", info)
