"""Safe writes: every artefact atomically, every run folder under a lock, every ``--out`` checked first.

* :func:`atomic_write_bytes` / :func:`atomic_write_text` / :func:`atomic_write_json`, and :func:`atomic_path` for
  libraries that write to a path themselves (``DataFrame.to_csv``, ``np.savez``, ``Figure.savefig``,
  ``safetensors.save_file``, ``skops.io.dump``): the data goes to a temporary file in the same folder, is flushed
  to disk, and replaces the target with one ``os.replace``. A reader sees the old file or the new one, never half
  of one; a crash or a full disk leaves the old file and a ``.tmp`` file that is removed.
* :func:`run_folder`: what every command that writes a folder goes through before its work starts: ``--out`` must
  not be, or lie inside, one of its inputs; it must be a folder (or creatable) that is writable, with some free
  space; and the command holds ``OUT/.gliograde.lock`` (``fcntl.flock``) until it ends, when the file is
  removed. A second command into a locked folder is refused with one line naming the holder's pid, host and
  command. The lock is the kernel's, so a killed command (kill -9) leaves no stale lock, only a file whose text
  says who held it last.

Hand-written on purpose: the standard library has all the pieces (``os.replace``, ``fsync``, ``fcntl``) and no
package does exactly this without a dependency (``filelock`` does not record the holder; ``atomicwrites`` is
unmaintained).

>>> import tempfile
>>> d = Path(tempfile.mkdtemp())
>>> atomic_write_json(d / "a.json", {"b": 1}); (d / "a.json").read_text()
'{\\n  "b": 1\\n}'
>>> with run_folder(d / "run", "demo") as out:
...     (out / LOCK_NAME).is_file()
True
>>> (d / "run" / LOCK_NAME).exists()
False
>>> import shutil; shutil.rmtree(d)
"""
from __future__ import annotations

import contextlib
import errno
import json
import os
import shutil
import socket
import sys
import tempfile
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import IO, Any

from gliograde.errors import InputError

__all__ = ["LOCK_NAME", "MIN_FREE_BYTES", "atomic_path", "atomic_write_bytes", "atomic_write_json",
           "atomic_write_text", "check_out_folder", "check_out_not_in_inputs", "run_folder", "run_lock", "swap_in"]

#: The lock file of a run folder (hidden, so listings and bundle packing ignore it).
LOCK_NAME = ".gliograde.lock"
#: Free space a command needs in its ``--out`` file system before it starts (64 MiB: one run's small files).
MIN_FREE_BYTES = 64 << 20

# Folders this process holds a lock on (resolved path -> [open lock file, depth]): re-entrant, so a command
# that locks its --out and then calls a library function that locks the same folder goes on.
_HELD: dict[Path, list[Any]] = {}


# ---- atomic writes --------------------------------------------------------------------------------------------
@contextlib.contextmanager
def atomic_path(path: Path | str) -> Iterator[Path]:
    """A temporary path beside ``path`` to write to; on success it is fsynced and renamed over ``path``.

    The temporary name keeps ``path``'s suffix (``np.savez`` and ``savefig`` pick the format from it).

    >>> import tempfile; d = Path(tempfile.mkdtemp())
    >>> with atomic_path(d / "x.txt") as tmp:
    ...     _ = tmp.write_text("hi")
    >>> sorted(p.name for p in d.iterdir()), (d / "x.txt").read_text()
    (['x.txt'], 'hi')
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=f".tmp{path.suffix}", dir=path.parent)
    os.close(fd)
    tmp = Path(name)
    try:
        yield tmp
        _fsync_file(tmp)
        os.replace(tmp, path)
        _fsync_dir(path.parent)
    except OSError as err:
        tmp.unlink(missing_ok=True)
        raise _write_error(path, err) from err
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def atomic_write_bytes(path: Path | str, data: bytes) -> None:
    """Write ``data`` to ``path`` atomically (see :func:`atomic_path`)."""
    with atomic_path(path) as tmp, open(tmp, "wb") as fh:
        fh.write(data)


def atomic_write_text(path: Path | str, text: str, encoding: str = "utf-8") -> None:
    """Write ``text`` to ``path`` atomically."""
    atomic_write_bytes(path, text.encode(encoding))


def atomic_write_json(path: Path | str, obj: Any, *, indent: int | None = 2, **kw: Any) -> None:
    """``json.dumps(obj, indent=indent, **kw)`` written to ``path`` atomically."""
    atomic_write_text(path, json.dumps(obj, indent=indent, **kw))


def _fsync_file(path: Path) -> None:
    with open(path, "rb") as fh:
        os.fsync(fh.fileno())


def _fsync_dir(folder: Path) -> None:
    """Make the rename itself durable (POSIX: the folder's entry); not possible on every OS, so best effort."""
    with contextlib.suppress(OSError):
        fd = os.open(folder, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def _write_error(path: Path, err: OSError) -> InputError:
    if err.errno == errno.ENOSPC:
        return InputError(f"{path}: no space left on the device; free some space or choose another --out")
    if err.errno in (errno.EACCES, errno.EPERM, errno.EROFS):
        return InputError(f"{path}: cannot write here ({err.strerror}); choose a writable --out folder")
    return InputError(f"{path}: could not be written ({err.strerror or err}); check the folder and the disk")


# ---- output folder checks -------------------------------------------------------------------------------------
def check_out_not_in_inputs(out: Path, inputs: Sequence[Path | str | None]) -> None:
    """Refuse an ``--out`` that is one of ``inputs`` or lies inside one (it would overwrite or mix with them).

    >>> try:
    ...     check_out_not_in_inputs(Path("/tmp/a/b"), [Path("/tmp/a")])
    ... except InputError as err:
    ...     print(err)
    --out /tmp/a/b is inside the input /tmp/a; writing there would change the input, choose an --out folder outside it
    """
    where = Path(out).resolve()
    for given in inputs:
        if given is None:
            continue
        src = Path(given).resolve()
        if where == src:
            raise InputError(f"--out {out} is the input {given}; writing there would overwrite the input, "
                             "choose another --out folder")
        if where.is_relative_to(src) and not src.is_file():
            raise InputError(f"--out {out} is inside the input {given}; writing there would change the input, "
                             "choose an --out folder outside it")


def check_out_folder(out: Path) -> None:
    """Refuse, before any work, an ``--out`` that is a file, cannot be created or written, or whose disk is full.

    Raises:
        InputError: one line naming ``out``, the problem and the fix.
    """
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise InputError(f"--out {out}: exists and is a file; choose a folder")
    existing = out
    while not existing.exists():
        existing = existing.parent
    if not existing.is_dir():
        raise InputError(f"--out {out}: {existing} is a file, so the folder cannot be created; choose another --out")
    if not os.access(existing, os.W_OK | os.X_OK):
        raise InputError(f"--out {out}: {existing} is not writable; choose a writable --out folder")
    free = shutil.disk_usage(existing).free
    if free < MIN_FREE_BYTES:
        raise InputError(f"--out {out}: only {free >> 20} MiB free on its disk (at least {MIN_FREE_BYTES >> 20} MiB "
                         "needed); free some space or choose another --out")


# ---- run-folder lock ------------------------------------------------------------------------------------------
def _command_line() -> str:
    return " ".join(["gliograde", *sys.argv[1:]]) if Path(sys.argv[0]).name == "gliograde" else " ".join(sys.argv)


@contextlib.contextmanager
def run_lock(out: Path | str, command: str) -> Iterator[Path]:
    """Hold ``out/.gliograde.lock`` (creating ``out``) while the block runs; re-entrant within this process.

    Raises:
        InputError: another process holds the folder (the message names its pid, host and command).
    """
    try:
        import fcntl  # POSIX only: imported here so the module imports everywhere
    except ImportError:  # no advisory locks on this OS: the command runs unlocked, as before locks existed
        yield Path(out)
        return

    out = Path(out)
    created = not out.exists()
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise _write_error(out, err) from err
    key = out.resolve()
    if key in _HELD:
        _HELD[key][1] += 1
        try:
            yield out
        finally:
            _HELD[key][1] -= 1
        return
    path = out / LOCK_NAME
    while True:
        try:
            fh: IO[str] = open(path, "a+")
        except OSError as err:
            raise _write_error(path, err) from err
        try:
            fcntl.flock(fh.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            fh.seek(0)
            holder = fh.read().strip() or "another process"
            fh.close()
            raise InputError(f"{out}: in use by {holder}; wait for it to finish or choose another --out") from None
        # the file may have been replaced (a swapped-in folder) between open and flock: lock the current one
        try:
            same = os.fstat(fh.fileno()).st_ino == os.stat(path).st_ino
        except FileNotFoundError:
            same = False
        if same:
            break
        fh.close()
    _write_holder(fh, command)
    _HELD[key] = [fh, 1]
    try:
        yield out
    finally:
        held = _HELD.pop(key)[0]  # (swap_in may have replaced the file held)
        with contextlib.suppress(OSError):  # safe: a process that opened it meanwhile sees another inode, retries
            (out / LOCK_NAME).unlink()
        held.close()  # closing releases the flock
        if created:  # a command that wrote nothing (refused, failed) leaves no empty folder behind
            with contextlib.suppress(OSError):
                out.rmdir()


def _lock_file(folder: Path, command: str) -> IO[str] | None:
    """``folder/.gliograde.lock`` opened and flocked for this process (None when another process holds it)."""
    import fcntl  # POSIX only, see run_lock

    fh: IO[str] = open(folder / LOCK_NAME, "a+")
    try:
        fcntl.flock(fh.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        fh.close()
        return None
    _write_holder(fh, command)
    return fh


def _write_holder(fh: IO[str], command: str) -> None:
    """Record who holds the lock (what a refused command names): pid, host, command and its arguments."""
    fh.seek(0)
    fh.truncate()
    fh.write(f"pid {os.getpid()} on {socket.gethostname()} ({command}: {_command_line()})\n")
    fh.flush()


def _exchange(a: Path, b: Path) -> bool:
    """Swap two existing paths in one step (Linux ``renameat2(RENAME_EXCHANGE)``); False where unsupported.

    Python has no exchange-rename, so libc is called directly; elsewhere the caller falls back to two renames.
    """
    import ctypes  # only for renameat2, see above
    import ctypes.util

    if not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
        renameat2 = libc.renameat2
    except (OSError, AttributeError):
        return False
    at_fdcwd, rename_exchange = -100, 2
    rc = renameat2(at_fdcwd, os.fsencode(a), at_fdcwd, os.fsencode(b), rename_exchange)
    return int(rc) == 0


def swap_in(staging: Path, out: Path, command: str) -> None:
    """Make the finished folder ``staging`` be ``out`` with one rename; the previous ``out`` is removed.

    Where ``out`` exists the two are exchanged atomically (Linux), so a reader sees the old folder or the new
    one, never a mix; elsewhere the old one is renamed aside first. A lock this process holds on ``out``
    moves to the new folder (taken there before the swap, so no other command can slip in).

    Raises:
        InputError: another process holds a lock in ``staging``.
    """
    staging, out = Path(staging), Path(out)
    key = out.resolve()
    held = _HELD.get(key)
    fh = _lock_file(staging, command) if held is not None else None
    if held is not None and fh is None:
        raise InputError(f"{staging}: in use by another process; wait for it to finish")
    try:
        if not out.exists():
            os.replace(staging, out)
            old = None
        elif _exchange(staging, out):
            old = staging  # now holds the previous folder
        else:
            old = out.with_name(f".{out.name}.old-{os.getpid()}")
            os.replace(out, old)
            os.replace(staging, out)
    except BaseException:
        if fh is not None:
            fh.close()
        raise
    _fsync_dir(out.parent)
    if held is not None and fh is not None:
        held[0].close()
        held[0] = fh
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)


@contextlib.contextmanager
def run_folder(out: Path | str, command: str, inputs: Sequence[Path | str | None] = ()) -> Iterator[Path]:
    """The one gate every writing command passes before its work: ``out`` checked (not an input nor inside one,
    a writable folder with free space), then locked for the block (:func:`run_lock`).

    Raises:
        InputError: one line naming ``out``, the problem and the fix.
    """
    out = Path(out)
    check_out_not_in_inputs(out, inputs)
    check_out_folder(out)
    with run_lock(out, command):
        yield out
