"""The server's own settings: where it listens, who may use it, how large an upload may be, how many workers grade.

These are not a run's settings (nothing here changes a grade: prediction uses the bundle's preprocessing and
:class:`~gliograde.config.PredictCfg`), so they are checked here, once, when the server is built, rather than
in :class:`~gliograde.config.RunConfig`.

>>> ServeCfg(bundle=Path("runs/m")).host
'127.0.0.1'
>>> ServeCfg(bundle=Path("runs/m"), host="0.0.0.0")
Traceback (most recent call last):
...
gliograde.errors.InputError: --host 0.0.0.0: serving beyond this machine needs a token; ...
"""
from __future__ import annotations

import ipaddress
import os
from dataclasses import dataclass, field
from pathlib import Path

from gliograde.errors import InputError

#: Environment variable that supplies the token when ``--token`` is not given.
TOKEN_ENV = "GLIOGRADE_TOKEN"
#: The loopback host the server binds to unless told otherwise.
DEFAULT_HOST = "127.0.0.1"
MIB = 1024 * 1024


@dataclass(frozen=True)
class ServeCfg:
    """How ``gliograde serve`` runs.

    Attributes:
        bundle: the bundle folder every upload is graded with.
        runs: predict, validate or cv run folders whose cases the worklist lists.
        host, port: where uvicorn listens; a host other than loopback needs ``token``.
        token: the shared secret every request must carry (``Authorization: Bearer``, or the session cookie set by
            opening ``/?token=T``); None = no token (loopback only).
        keep_ids: show case folder/file names instead of aliases (names can identify patients).
        max_upload_mb: the largest upload accepted (all files of one case together), MiB.
        max_unzipped_mb, max_zip_files: limits on what one zip may expand to (zip bombs).
        workers: prediction processes (a bounded pool; each loads the bundle once).
        max_pending: uploads waiting or running at most; more are refused with 503 until some finish.
        workdir: server-side folder for uploads and their predictions; None = a temporary folder removed on exit.
    """

    bundle: Path
    runs: tuple[Path, ...] = ()
    host: str = DEFAULT_HOST
    port: int = 8000
    token: str | None = None
    keep_ids: bool = False
    max_upload_mb: float = 512.0
    max_unzipped_mb: float = 2048.0
    max_zip_files: int = 4000
    workers: int = 2
    max_pending: int = 64
    workdir: Path | None = field(default=None)

    def __post_init__(self) -> None:
        if not is_loopback(self.host) and not self.token:
            raise InputError(f"--host {self.host}: serving beyond this machine needs a token; "
                             f"pass --token T or set {TOKEN_ENV}")
        if self.token is not None and len(self.token) < 8:
            raise InputError("--token: at least 8 characters; use a long random string "
                             "(python -c 'import secrets; print(secrets.token_urlsafe(24))')")
        for name, value, low in (("--port", self.port, 0), ("--workers", self.workers, 1),
                                 ("--max-upload-mb", self.max_upload_mb, 0.001),
                                 ("--max-unzipped-mb", self.max_unzipped_mb, 0.001),
                                 ("--max-zip-files", self.max_zip_files, 1), ("--max-pending", self.max_pending, 1)):
            if value < low or (name == "--port" and value > 65535):
                raise InputError(f"{name} {value}: out of range; give a value >= {low}")

    @property
    def max_upload_bytes(self) -> int:
        return int(self.max_upload_mb * MIB)

    @property
    def max_unzipped_bytes(self) -> int:
        return int(self.max_unzipped_mb * MIB)


def is_loopback(host: str) -> bool:
    """True for ``localhost`` and loopback addresses (127.0.0.0/8, ::1).

    >>> is_loopback("127.0.0.1"), is_loopback("::1"), is_loopback("0.0.0.0")
    (True, True, False)
    """
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def token_from_env(given: str | None) -> str | None:
    """``given``, else the :data:`TOKEN_ENV` environment variable, else None."""
    return given if given else (os.environ.get(TOKEN_ENV) or None)
