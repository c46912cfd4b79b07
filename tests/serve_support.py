"""Helpers of the ``gliograde serve`` tests: small NIfTI / DICOM cases, a uvicorn server on loopback, polling,
and the browser (Debian's headless Chromium driven by Playwright)."""
from __future__ import annotations

import contextlib
import io
import os
import shutil
import time
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from gliograde.serve.background import free_port, serve_in_thread  # noqa: F401  (re-exported for the tests)
from tests.fakedata import volume

#: Chromium flags for a closed network without a GPU: no background fetches, WebGL2 through SwiftShader.
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--no-first-run", "--use-angle=swiftshader", "--enable-unsafe-swiftshader"]
#: Write the browser tests' screenshots into docs/img/ (for docs/viewer.md) only when this is set to 1.
SCREENSHOTS_ENV = "GLIOGRADE_SCREENSHOTS"
DOCS_IMG = Path(__file__).resolve().parents[1] / "docs" / "img"


def nifti_case(root: Path, name: str, seed: int = 0, centre: int = 5, gain: float = 1.0) -> Path:
    """A BraTS-style case folder ``root/name`` (``<name>_t1ce.nii.gz`` + ``<name>_seg.nii.gz``, 24x24x10);
    ``seed`` and ``gain`` make cases differ, so their grades' probabilities differ."""
    import nibabel as nib

    folder = root / name
    folder.mkdir(parents=True)
    vol, seg = volume(centre=centre, seed=seed)
    vol = vol * gain + np.random.default_rng(seed).normal(0, 8 * seed + 1, vol.shape).astype(np.float32) * (seg > 0)
    aff = np.diag([-1.0, -1.0, 2.0, 1.0])
    nib.save(nib.Nifti1Image(vol.astype(np.float32), aff), folder / f"{name}_t1ce.nii.gz")
    nib.save(nib.Nifti1Image(seg, aff), folder / f"{name}_seg.nii.gz")
    return folder


def upload_files(folder: Path) -> list[tuple[str, tuple[str, bytes, str]]]:
    """A case folder's files as the ``files`` parts of ``POST /api/cases``."""
    return [("files", (p.name, p.read_bytes(), "application/octet-stream")) for p in sorted(folder.iterdir())
            if p.is_file()]


def zip_bytes(entries: dict[str, bytes], *, links: dict[str, str] | None = None) -> bytes:
    """A zip of ``entries`` (name -> bytes) and, from ``links``, symlink entries (name -> target)."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, data in entries.items():
            zf.writestr(name, data)
        for name, target in (links or {}).items():
            info = zipfile.ZipInfo(name)
            info.external_attr = (0o120777 << 16)  # S_IFLNK
            zf.writestr(info, target)
    return buf.getvalue()


def zip_folder(folder: Path) -> bytes:
    """Every file under ``folder`` zipped under ``folder.name/``."""
    return zip_bytes({f"{folder.name}/{p.relative_to(folder)}": p.read_bytes()
                      for p in sorted(folder.rglob("*")) if p.is_file()})


def wait_graded(get: Any, case_id: str, timeout: float = 120.0) -> dict[str, Any]:
    """Poll ``GET /api/cases/{id}`` (``get``: a TestClient's or httpx client's get) until it is not grading."""
    t0 = time.monotonic()
    while time.monotonic() - t0 < timeout:
        doc: dict[str, Any] = get(f"/api/cases/{case_id}").json()
        if doc["status"] != "grading":
            return doc
        time.sleep(0.1)
    raise AssertionError(f"case {case_id} still grading after {timeout} s")


@contextlib.contextmanager
def running_server(app: Any, port: int) -> Iterator[str]:
    """Serve ``app`` with uvicorn on 127.0.0.1:``port`` in a thread; yields its base URL."""
    with serve_in_thread(app, port) as url:
        yield url


def chromium_path() -> str:
    """Debian's headless Chromium (``make test`` installs it); skipped with the reason when absent, failed in CI."""
    for name in ("chromium-headless-shell", "chromium", "chromium-browser"):
        found = shutil.which(name)
        if found:
            return found
    msg = ("no Chromium for the browser tests: `make test` installs Debian's chromium-headless-shell "
           "(apt-get install -y --no-install-recommends chromium-headless-shell)")
    if os.environ.get("CI"):
        pytest.fail(msg)
    pytest.skip(msg)
