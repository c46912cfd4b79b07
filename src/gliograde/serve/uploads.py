"""An upload becomes a case folder in the server's work folder, checked by content before anything reads it.

What is accepted (the type comes from the bytes, never from the name; a name that says otherwise is refused):
    * PNG or TIFF slice + its mask (``x.png`` + ``x_mask.png``), or a patient folder's slices;
    * NIfTI volume(s) + segmentation (``.nii``/``.nii.gz``, e.g. BraTS ``<case>_t1ce.nii.gz`` + ``<case>_seg.nii.gz``);
    * one zip of any of these, or of a DICOM series + mask (``*.dcm`` + ``mask.nii.gz`` or ``mask/``).

A zip is refused when an entry's path would leave the folder (absolute, ``..``, drive letters), is a link, is
encrypted, or when the entries or their total size pass the limits (zip bombs); sizes are counted as bytes are
written, not taken from the zip's directory. Names are reduced to their last part and safe characters. The case
is then found by :func:`gliograde.prediction.cases.find_cases`, exactly as ``gliograde predict`` finds it.

>>> sniff(b"\\x89PNG\\r\\n\\x1a\\n" + bytes(8))
'png'
>>> sniff(b"%PDF-1.7")
"""
from __future__ import annotations

import gzip
import re
import shutil
import stat
import struct
import zipfile
import zlib
from collections import Counter
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import BinaryIO

from gliograde.config import SEQUENCES
from gliograde.errors import InputError

#: Bytes read from the start of a file to decide its type (a gzip's first 352 decompressed bytes for NIfTI).
HEAD = 352
#: The name endings each content type may carry.
SUFFIXES = {"png": (".png",), "tiff": (".tif", ".tiff"), "nifti": (".nii",), "nifti-gz": (".nii.gz",),
            "zip": (".zip",), "dicom": (".dcm",)}
#: Name parts that say which file of a case it is, not which case (stripped to name the case folder).
_ROLE_PARTS = {*SEQUENCES, "seg", "mask"}
_SAFE = re.compile(r"[^A-Za-z0-9._-]")
_CHUNK = 1 << 20


class UploadError(InputError):
    """An upload the server refuses: the message says what was wrong and what to send instead (HTTP 4xx)."""

    def __init__(self, message: str, status: int = 422) -> None:
        super().__init__(message)
        self.status = status


def _is_nifti_header(head: bytes) -> bool:
    """NIfTI-1 (348-byte header, magic ``n+1``/``ni1`` at 344) or NIfTI-2 (540, ``n+2`` at 4), either endianness."""
    if len(head) >= 348:
        for order in "<>":
            if struct.unpack(f"{order}i", head[:4])[0] == 348 and head[344:347] in (b"n+1", b"ni1"):
                return True
            if struct.unpack(f"{order}i", head[:4])[0] == 540 and head[4:7] in (b"n+2", b"ni2"):
                return True
    return False


def sniff(head: bytes) -> str | None:
    """The content type of a file from its first bytes (:data:`HEAD` of them): ``png``, ``tiff``, ``nifti``,
    ``nifti-gz``, ``zip``, ``dicom`` (128-byte preamble + ``DICM``), or None for anything else."""
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return "png"
    if head[:4] in (b"II*\x00", b"MM\x00*"):
        return "tiff"
    if head.startswith(b"PK\x03\x04"):
        return "zip"
    if head[128:132] == b"DICM":
        return "dicom"
    if head.startswith(b"\x1f\x8b"):
        return "nifti-gz" if _is_nifti_header(_gunzip_prefix(head)) else None
    if _is_nifti_header(head):
        return "nifti"
    return None


def _gunzip_prefix(data: bytes) -> bytes:
    """The first :data:`HEAD` bytes a (possibly truncated) gzip stream decompresses to."""
    d = zlib.decompressobj(16 + zlib.MAX_WBITS)
    try:
        return d.decompress(data, HEAD)
    except zlib.error:
        return b""


def sniff_file(path: Path) -> str | None:
    """:func:`sniff` of a file on disk; a gzip is read far enough to see the NIfTI header inside."""
    with open(path, "rb") as f:
        head = f.read(4096)
    if head.startswith(b"\x1f\x8b"):
        try:
            with gzip.open(path, "rb") as g:
                return "nifti-gz" if _is_nifti_header(g.read(HEAD)) else None
        except (OSError, EOFError):
            return None
    return sniff(head)


def _shown(name: str) -> str:
    """A client's file name as messages show it: its last part, safe characters only, at most 80."""
    return _SAFE.sub("_", re.split(r"[\\/]", name)[-1])[-80:] or "file"


def safe_name(name: str, kind: str) -> str:
    """The last part of a client's file name, reduced to ``[A-Za-z0-9._-]``, ending as its content type does.

    >>> safe_name("../../etc/x y.nii.gz", "nifti-gz")
    'x_y.nii.gz'

    Raises:
        UploadError: the name ends like another type (``scan.png`` holding a zip): rename it or send the right file.
    """
    base = _SAFE.sub("_", re.split(r"[\\/]", name)[-1]).lstrip(".")[:120] or "file"
    lower = base.lower()
    endings = [s for suffixes in SUFFIXES.values() for s in suffixes]
    own = SUFFIXES[kind]
    if lower.endswith(own) and not (kind == "nifti" and lower.endswith(".nii.gz")):
        return base
    claimed = next((s for s in sorted(endings, key=len, reverse=True) if lower.endswith(s)), None)
    if claimed is not None:
        raise UploadError(f"{base}: the name says {claimed} but the content is {kind}; rename the file or send "
                          "the right one", 415)
    return base + own[0]


def case_name(names: list[str]) -> str:
    """The case's name from its files' names: their common stem without a sequence/mask part.

    >>> case_name(["Brats18_X_t1ce.nii.gz", "Brats18_X_seg.nii.gz"])
    'Brats18_X'
    >>> case_name(["scan.png", "scan_mask.png"])
    'scan'
    >>> case_name(["TCGA_X_1.png", "TCGA_X_1_mask.png", "TCGA_X_2.png", "TCGA_X_2_mask.png"])
    'TCGA_X'
    """
    stems = []
    for n in names:
        stem = n[: -len(".nii.gz")] if n.lower().endswith(".nii.gz") else n.rsplit(".", 1)[0]
        head, _, tail = stem.rpartition("_")
        stems.append(head if head and tail.lower() in _ROLE_PARTS else stem)
    numbered = {m.group(1) for s in stems if (m := re.match(r"^(.+)_\d+$", s))}
    if len(set(stems)) > 1 and len(numbered) == 1 and all(re.match(r"^.+_\d+$", s) for s in stems):
        return numbered.pop()  # a patient's slices <name>_<n>: the case is <name>, as its folder would be
    return Counter(stems).most_common(1)[0][0] if stems else "case"


@dataclass(frozen=True)
class ZipLimits:
    """What one zip may expand to: ``max_files`` entries, ``max_bytes`` in all."""

    max_files: int
    max_bytes: int


def _entry_path(info: zipfile.ZipInfo) -> PurePosixPath | None:
    """The entry's relative path, or None for entries that are skipped (folders, macOS metadata, dotfiles).

    Raises:
        UploadError: an absolute path, ``..``, a drive letter, a link or an encrypted entry.
    """
    name = info.filename.replace("\\", "/")
    mode = info.external_attr >> 16
    if stat.S_ISLNK(mode):
        raise UploadError(f"zip entry {_SAFE.sub('_', name)[:80]}: a link; zip the files themselves")
    if info.flag_bits & 0x1:
        raise UploadError("zip: encrypted entries; send an unencrypted zip")
    p = PurePosixPath(name)
    if name.startswith("/") or re.match(r"^[A-Za-z]:", name) or ".." in p.parts:
        raise UploadError(f"zip entry {_SAFE.sub('_', name)[:80]}: path leaves the folder; zip relative paths only")
    if info.is_dir() or not p.parts or p.parts[0] == "__MACOSX" or any(part.startswith(".") for part in p.parts):
        return None
    return PurePosixPath(*[_SAFE.sub("_", part) for part in p.parts])


def extract_zip(path: Path, dest: Path, limits: ZipLimits) -> Path:
    """Extract ``path`` into ``dest`` safely (see the module docstring); returns the case folder: the zip's one
    top folder when it has one, else ``dest``.

    Raises:
        UploadError: unreadable zip, unsafe entries, too many files or too many bytes.
    """
    try:
        zf = zipfile.ZipFile(path)
    except zipfile.BadZipFile as err:
        raise UploadError(f"zip: unreadable ({err}); send a complete .zip") from err
    with zf:
        infos = zf.infolist()
        if len(infos) > limits.max_files:
            raise UploadError(f"zip: {len(infos)} entries, more than the {limits.max_files} allowed; "
                              "send one case per zip", 413)
        entries = [(i, p) for i in infos if (p := _entry_path(i)) is not None]
        if sum(i.file_size for i, _ in entries) > limits.max_bytes:
            raise UploadError(f"zip: expands to more than {limits.max_bytes // (1024 * 1024)} MiB; "
                              "send one case per zip", 413)
        written = 0
        for info, rel in entries:
            target = dest / rel
            target.parent.mkdir(parents=True, exist_ok=True)
            try:
                with zf.open(info) as src, open(target, "wb") as dst:
                    while chunk := src.read(_CHUNK):  # counted as written: the directory's sizes can lie
                        written += len(chunk)
                        if written > limits.max_bytes:
                            raise UploadError(f"zip: expands to more than {limits.max_bytes // (1024 * 1024)} "
                                              "MiB; send one case per zip", 413)
                        dst.write(chunk)
            except (zipfile.BadZipFile, zlib.error, EOFError, NotImplementedError) as err:
                raise UploadError(f"zip entry {rel}: unreadable ({type(err).__name__}: {err}); send a complete, "
                                  "unencrypted zip (deflate or store)") from err
    tops = {rel.parts[0] for _, rel in entries if len(rel.parts) > 1}
    loose = [rel for _, rel in entries if len(rel.parts) == 1]
    if not entries:
        raise UploadError("zip: no files in it; zip the case's images and mask")
    return dest / tops.pop() if len(tops) == 1 and not loose else dest


def copy_limited(src: BinaryIO, dst: Path, budget: int) -> int:
    """Copy a stream to ``dst``, at most ``budget`` bytes; returns the bytes written.

    Raises:
        UploadError (413): the stream is longer than ``budget``.
    """
    n = 0
    with open(dst, "wb") as out:
        while chunk := src.read(_CHUNK):
            n += len(chunk)
            if n > budget:
                raise UploadError(f"upload larger than the server's limit of {budget // (1024 * 1024)} MiB; "
                                  "send one case, or start the server with a larger --max-upload-mb", 413)
            out.write(chunk)
    return n


def assemble_case(saved: list[tuple[str, Path]], root: Path, limits: ZipLimits) -> Path:
    """Turn the saved files of one upload (client name, path in ``root/incoming``) into one case folder.

    Returns:
        The case folder: ``root/<case name>/`` holding the files under safe names, or the extracted zip's folder.

    Raises:
        UploadError: no files, a file of an unaccepted type, several zips, a zip with other files, a loose DICOM.
    """
    if not saved:
        raise UploadError("no file in the upload; send a slice + mask, NIfTI + segmentation, or a zip", 400)
    kinds = []
    for name, path in saved:
        kind = sniff_file(path)
        if kind is None:
            raise UploadError(f"{_shown(name)}: not a PNG/TIFF slice, NIfTI volume or zip; send one of those", 415)
        if kind == "dicom":
            raise UploadError(f"{_shown(name)}: a loose DICOM file; zip the whole series with its mask "
                              "(mask.nii.gz or mask/)", 415)
        kinds.append(kind)
    if "zip" in kinds:
        if len(saved) != 1:
            raise UploadError("a zip and other files in one upload; send the zip alone (one case)", 400)
        safe_name(saved[0][0], "zip")  # a name that says another type is refused, as for loose files
        dest = root / "unzipped"
        dest.mkdir(parents=True)
        folder = extract_zip(saved[0][1], dest, limits)
        if folder == dest:  # loose files: name the folder as a case folder would be named
            named = dest.with_name(case_name([p.name for p in dest.iterdir() if p.is_file()]) or "case")
            dest.rename(named)
            folder = named
        return folder
    names = [safe_name(name, kind) for (name, _), kind in zip(saved, kinds, strict=True)]
    if len(set(names)) != len(names):
        raise UploadError("two files with the same name in one upload; send each file once", 400)
    folder = root / (_SAFE.sub("_", case_name(names)) or "case")
    folder.mkdir(parents=True)
    for (_, path), name in zip(saved, names, strict=True):
        shutil.move(str(path), folder / name)
    return folder
