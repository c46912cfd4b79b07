"""Find the cases behind ``gliograde predict``'s CASE arguments, and name them without leaking identity.

Cases are found with ingest's own finders (:func:`gliograde.data.layouts.find_case`): a folder that
``gliograde ingest`` reads as one patient is one case here, whatever its layout:
    * a TCGA-LGG patient folder of ``<name>_<n>.png`` + ``<name>_<n>_mask.png`` slices, or one slice image
      with its mask: ``img.png`` + ``img_mask.png`` beside it (or ``mask=``);
    * a BraTS case folder ``<case>/<case>_t1ce.nii.gz`` + ``_seg.nii.gz``, or one ``.nii.gz`` file with ``mask=``;
    * a DICOM series (``*.dcm`` directly, in ``dicom/`` or in any one sub-folder such as ``series/``) with
      ``mask.nii.gz`` / ``<case>_mask.nii.gz`` or a ``mask/`` folder.
A folder that is none of these is a *batch* (a cohort folder, for instance): each sub-folder and each loose
image with its mask, or volume, in it is a case (a figure such as a cohort's ``montage.png`` is not).

Outputs name a case by its alias ``case-<HMAC-SHA256(key, name)[:10]>`` unless ``keep_ids``. The key is secret:
``$GLIOGRADE_ALIAS_KEY`` (e.g. one per project) or, when unset, the installation's ``~/.config/gliograde/alias.key``
(``$XDG_CONFIG_HOME``), created once from :func:`secrets.token_bytes`. The same key gives the same aliases, so a
later run can be matched to an earlier one; without it, an alias cannot be turned back into an id by trying ids.
Messages about a case name its files by their place (``case-.../file-0003``), not by name.

>>> case_alias("TCGA_CS_4941_19960909", keep_ids=True)
'TCGA_CS_4941_19960909'
"""
from __future__ import annotations

import csv
import hashlib
import hmac
import io
import logging
import os
import secrets
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from functools import partial
from pathlib import Path

from gliograde.config import SEQUENCES
from gliograde.data.io import is_image, is_nifti
from gliograde.data.layouts import SLICE_NAME_RE, find_case, folder_layout
from gliograde.data.origin import case_files
from gliograde.data.source import CaseSource
from gliograde.errors import InputError
from gliograde.fsio import atomic_write_text

logger = logging.getLogger(__name__)


@dataclass
class CaseInput:
    """One case found on disk: its original name, path, alias used in outputs and how to read it."""

    name: str
    path: Path
    alias: str = ""
    source: CaseSource | None = None
    error: str | None = None


#: Environment variable holding the secret that keys the aliases (any text); it wins over the key file.
ALIAS_KEY_ENV = "GLIOGRADE_ALIAS_KEY"


def alias_key_path() -> Path:
    """Where the installation's alias key lives: ``$XDG_CONFIG_HOME/gliograde/alias.key`` (``~/.config/...``)."""
    base = os.environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return Path(base) / "gliograde" / "alias.key"


def alias_key() -> bytes:
    """The secret that keys case aliases: ``$GLIOGRADE_ALIAS_KEY`` when set (per project), else the installation's
    key file (:func:`alias_key_path`), created once with 32 random bytes readable by its owner only.

    Keep the key to map later outputs to the same aliases; share it only with whoever may re-identify cases.

    Raises:
        InputError: the key file cannot be read or created (the message says to set ``GLIOGRADE_ALIAS_KEY``).
    """
    env = os.environ.get(ALIAS_KEY_ENV)
    if env:
        return env.encode()
    path = alias_key_path()
    try:
        if not path.is_file():
            _create_key(path)
        key = path.read_bytes()
    except OSError as err:
        raise InputError(f"{path}: cannot read or create the alias key ({err}); set {ALIAS_KEY_ENV} to a secret "
                         "of your own, or make the folder writable") from err
    if len(key) < 16:
        raise InputError(f"{path}: alias key is {len(key)} bytes (incomplete?); delete it to make a new one "
                         f"(aliases change) or set {ALIAS_KEY_ENV}")
    return key


def _create_key(path: Path) -> None:
    """Write 32 random bytes to ``path`` (mode 0600) so that it appears complete or not at all: written beside it,
    then hard-linked into place, which fails when another process got there first (its key is then used)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(secrets.token_bytes(32))
            fh.flush()
            os.fsync(fh.fileno())
        try:
            os.link(tmp, path)
            logger.info("created the alias key %s (keep it to get the same case aliases again)", path)
        except FileExistsError:
            pass
    finally:
        tmp.unlink(missing_ok=True)


def case_alias(name: str, keep_ids: bool, *, key: bytes | None = None) -> str:
    """The case name written to outputs: ``name`` (made file-safe) with ``keep_ids``, else
    ``case-<HMAC-SHA256(key, name)[:10]>``: keyed (:func:`alias_key`), so an alias cannot be reversed by hashing
    every possible id (an 8-digit MRN takes seconds to enumerate against a plain hash).

    >>> case_alias("..", keep_ids=True), case_alias("CS 4941", keep_ids=True)
    ('case', 'CS_4941')
    >>> case_alias("TCGA_CS_4941_19960909", keep_ids=False, key=b"a project secret")
    'case-47a92c0fa5'
    >>> case_alias("TCGA_CS_4941_19960909", keep_ids=False, key=b"another secret")
    'case-492406093b'
    """
    if keep_ids:  # file-safe, and never "." or "..": the alias names the case's output folder
        return "".join(c if c.isalnum() or c in "-_." else "_" for c in name).lstrip(".") or "case"
    digest = hmac.new(alias_key() if key is None else key, name.encode(), hashlib.sha256).hexdigest()
    return "case-" + digest[:10]


def alias_key_id(key: bytes | None = None) -> str:
    """A public name of the alias key: ``HMAC-SHA256(key, "gliograde alias key id")[:12]``. Two records with the
    same key id were aliased with the same key (so their aliases can be compared); it does not reveal the key.

    >>> alias_key_id(b"a project secret") == alias_key_id(b"a project secret") != alias_key_id(b"another")
    True
    """
    return hmac.new(alias_key() if key is None else key, b"gliograde alias key id", hashlib.sha256).hexdigest()[:12]


def patient_aliases(ids: Iterable[object], *, key: bytes | None = None) -> list[str]:
    """:func:`case_alias` of each id (keyed, never ``keep_ids``), in the order given: how a training run's
    provenance (``inner_split.csv``) names its patients, so a bundle folder holds no patient id.

    >>> patient_aliases(["TCGA_CS_4941_19960909"], key=b"a project secret")
    ['case-47a92c0fa5']
    """
    key = alias_key() if key is None else key
    return [case_alias(str(i), False, key=key) for i in ids]


def training_patients(ids: Iterable[object], *, key: bytes | None = None) -> dict[str, object]:
    """The keyed hashes of a bundle's training patients (model.json ``training_patients``): the sorted distinct
    :func:`patient_aliases` and the :func:`alias_key_id` they were made with. With the same key (the same
    ``GLIOGRADE_ALIAS_KEY`` or installation), a validation cohort's patients can be checked against them without
    the bundle naming anyone; without the key they cannot be turned back into ids.

    >>> training_patients(["b", "a", "b"], key=b"k")["n"]
    2
    """
    key = alias_key() if key is None else key
    return {"hash": "HMAC-SHA256(alias key, patient id)[:10], as case aliases", "key_id": alias_key_id(key),
            "n": len(set(map(str, ids))), "aliases": sorted(set(patient_aliases(ids, key=key)))}


def _strip_suffix(p: Path) -> str:
    return p.name[: -len(".nii.gz")] if p.name.lower().endswith(".nii.gz") else p.stem


def _file_case(path: Path, mask: Path | None) -> CaseInput:
    name = _strip_suffix(path)
    ci = CaseInput(name=name, path=path)
    if is_image(path):
        m = mask or path.with_name(f"{path.stem}_mask{path.suffix}")
        if not m.is_file():
            ci.error = f"{path}: no mask beside it (expected {m.name}); add the mask or pass --mask"
            return ci
        hit = SLICE_NAME_RE.match(path.name)
        ci.source = CaseSource(patient_id=name, grade=0, kind="slices", slices={int(hit["n"]) if hit else 0: (path, m)})
    elif is_nifti(path):
        candidates = (path.with_name(path.name.replace(f"_{k}", "_seg")) for k in ("t1ce", "t1", "t2", "flair")
                      if f"_{k}." in path.name)
        seg = mask or next((c for c in candidates if c.is_file()), None)
        if seg is None:
            ci.error = f"{path}: NIfTI volume without a segmentation; pass --mask SEG.nii.gz"
            return ci
        # A name ending in a known sequence (BraTS style, e.g. _flair) says which one it is: checked against the bundle.
        seq = name.rsplit("_", 1)[-1].lower() if "_" in name else ""
        ci.source = CaseSource(patient_id=name, grade=0, kind="volume",
                               images={seq if seq in SEQUENCES else "image": path}, mask=seg,
                               is_segmentation="_seg" in seg.name.lower())
    else:
        ci.error = f"{path}: not a PNG/TIFF slice, NIfTI volume or DICOM folder; give one of those"
    return ci


def _is_scan(p: Path) -> bool:
    """A file a case can be read from: an image with its ``_mask`` beside it (a mask alone, or a figure such as a
    cohort's ``montage.png``, is not one: ingest does not read those either), a NIfTI volume or a DICOM file."""
    if is_image(p):
        return not p.stem.lower().endswith("_mask") and p.with_name(f"{p.stem}_mask{p.suffix}").is_file()
    return (is_nifti(p) and "_seg" not in p.name) or p.suffix.lower() == ".dcm"


def _is_case(folder: Path, mask: Path | None = None) -> bool:
    """One case (not a batch): it holds scans itself (any image when ``mask`` is given) or a ``dicom/`` folder, or
    ingest's finder finds one in it."""
    if folder_layout(folder) is None:
        return False
    own = [p for p in folder.iterdir() if p.is_file() and (_is_scan(p) or (mask is not None and is_image(p)))]
    if (folder / "dicom").is_dir() or own:
        return True
    return find_case(folder, folder.name)[0] is not None


def _folder_case(folder: Path, mask: Path | None) -> CaseInput:
    ci = CaseInput(name=folder.name, path=folder)
    images = [p for p in sorted(folder.iterdir()) if is_image(p) and not p.stem.endswith("_mask")]
    if len(images) == 1 and folder_layout(folder) == "slices":
        single = _file_case(images[0], mask)
        ci.source, ci.error = single.source, single.error
        return ci
    source, problems = find_case(folder, folder.name)
    if source is not None and mask is not None:
        source.mask = mask
    ci.source, ci.error = source, (problems[0] if problems else None)
    return ci


def find_cases(paths: list[Path], mask: Path | None = None) -> tuple[list[CaseInput], bool]:
    """Expand CASE arguments into cases (see the module docstring).

    Returns:
        (cases, batch): ``batch`` is True when any argument was a folder of several cases.
    """
    cases: list[CaseInput] = []
    batch = False
    for p in map(Path, paths):
        if p.is_file():
            cases.append(_guarded(p, partial(_file_case, p, mask)))
        elif p.is_dir() and _guarded_is_case(p, mask):
            cases.append(_guarded(p, partial(_folder_case, p, mask)))
        elif p.is_dir():
            batch = True
            for sub in sorted(q for q in p.iterdir() if not q.name.startswith(".")):
                if sub.is_dir():
                    cases.append(_guarded(sub, partial(_folder_case, sub, None)))
                elif _is_scan(sub) and sub.suffix.lower() != ".dcm":
                    cases.append(_guarded(sub, partial(_file_case, sub, None)))
                elif is_image(sub) and not sub.stem.endswith("_mask"):
                    logger.info("%s: not a case (no %s_mask beside it), as for ingest", sub.name, sub.stem)
        else:
            cases.append(CaseInput(name=_strip_suffix(p), path=p, error=f"{p}: no such file or folder; check the path"))
    return cases, batch


def _guarded(path: Path, find: Callable[[], CaseInput]) -> CaseInput:
    """``find()``, or a case holding the error when its folder cannot be listed: one case, not the whole batch."""
    try:
        return find()
    except OSError as err:  # an unreadable folder (permissions, a broken mount)
        name = path.name if path.is_dir() else _strip_suffix(path)
        return CaseInput(name=name, path=path, error=f"{path}: cannot read ({err.strerror or err}); check permissions")


def _guarded_is_case(folder: Path, mask: Path | None) -> bool:
    try:
        return _is_case(folder, mask)
    except OSError:  # unreadable: taken as one case, whose own error says so
        return True


def assign_aliases(cases: list[CaseInput], keep_ids: bool) -> None:
    """Give every case its alias (:func:`case_alias`, ``-2``, ``-3`` ... for repeated names)."""
    key = None if keep_ids else alias_key()
    seen: Counter[str] = Counter()
    for c in cases:
        base = case_alias(c.name, keep_ids, key=key)
        seen[base] += 1
        c.alias = base if seen[base] == 1 else f"{base}-{seen[base]}"


def scrub(message: str, case: CaseInput, keep_ids: bool) -> str:
    """One line, with the case's files (by place: ``<alias>/file-0003``), path and name replaced by its alias unless
    ``keep_ids``."""
    line = " ".join(str(message).split())
    if keep_ids:
        return line
    files = case_files(case.source) if case.source is not None else []
    return scrub_files(line, case.alias, files, [str(case.path), str(case.path.resolve()), case.path.name, case.name])


def scrub_files(line: str, alias: str, files: list[Path], names: list[str]) -> str:
    """``line`` with each of ``files`` (full, resolved or bare name) replaced by its place ``<alias>/file-<k>`` among
    them, then each of ``names`` (the case's folder, path, id) by ``alias``; longest text first, so a path goes
    before the folder name inside it.

    >>> scrub_files("/d/Doe_Jane/IM_Doe_Jane_2.dcm: no position", "case-1", [Path("/d/Doe_Jane/IM_Doe_Jane_2.dcm")],
    ...             ["/d/Doe_Jane", "Doe_Jane"])
    'case-1/file-0000: no position'
    """
    # A case's file names (DICOM exports: names, MRNs) go first: each by its place among the case's files; a bare
    # name only when long enough not to be a word of the message
    by_place: dict[str, str] = {}
    for k, f in enumerate(files):
        for text in (str(f), str(f.resolve()), *([f.name] if len(f.name) >= 5 else [])):
            by_place.setdefault(text, f"{alias}/file-{k:04d}")
    by_place.update({n: alias for n in names if n and n not in by_place})
    for text in sorted(by_place, key=len, reverse=True):
        line = line.replace(text, by_place[text])
    return line


#: The file ``--write-aliases`` writes into ``predict``'s and ``validate``'s ``--out``.
ALIASES_CSV = "aliases.csv"


def write_aliases(path: Path, rows: list[dict[str, str]]) -> Path:
    """Write ``aliases.csv`` (one row per case: ``alias`` and what it stands for), atomically; only on request
    (``--write-aliases``), since it names the inputs."""
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=list(rows[0]) if rows else ["alias", "input"], lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    atomic_write_text(path, buf.getvalue())
    return path
