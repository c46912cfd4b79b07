"""The server's guards without a server: content sniffing, safe names, zip extraction limits, upload size,
settings, the token and body-size middleware, and reading run folders into worklist rows."""
from __future__ import annotations

import gzip
import io
import json
import struct
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("fastapi", reason="the web extra (pip install 'gliograde[web]') is not installed")

from fastapi.testclient import TestClient  # noqa: E402
from starlette.responses import PlainTextResponse  # noqa: E402

from gliograde.errors import InputError  # noqa: E402
from gliograde.serve.runs import read_run  # noqa: E402
from gliograde.serve.security import COOKIE, BodyLimit, HeadersAndLog, TokenGuard  # noqa: E402
from gliograde.serve.settings import ServeCfg  # noqa: E402
from gliograde.serve.uploads import (  # noqa: E402
    UploadError,
    ZipLimits,
    assemble_case,
    case_name,
    copy_limited,
    extract_zip,
    safe_name,
    sniff,
    sniff_file,
)
from tests.fakedata import make_run  # noqa: E402
from tests.serve_support import zip_bytes  # noqa: E402

TOKEN = "s3cret-token-for-tests"
LIMITS = ZipLimits(max_files=10, max_bytes=10_000)


def nifti_header() -> bytes:
    head = bytearray(352)
    head[:4] = struct.pack("<i", 348)
    head[344:348] = b"n+1\0"
    return bytes(head)


@pytest.mark.parametrize(("data", "kind"), [
    (b"\x89PNG\r\n\x1a\n" + bytes(20), "png"), (b"II*\x00" + bytes(20), "tiff"), (b"MM\x00*" + bytes(20), "tiff"),
    (b"PK\x03\x04" + bytes(20), "zip"), (bytes(128) + b"DICM" + bytes(20), "dicom"),
    (nifti_header(), "nifti"), (gzip.compress(nifti_header() + bytes(1000), mtime=0), "nifti-gz"),
    (gzip.compress(b"not a nifti" * 50, mtime=0), None), (b"<html><script>", None), (b"", None)])
def test_sniff_by_content(data: bytes, kind: str | None, tmp_path: Path) -> None:
    assert sniff(data[:4096]) == kind
    (tmp_path / "f").write_bytes(data)
    assert sniff_file(tmp_path / "f") == kind


def test_safe_name_keeps_the_last_part_and_refuses_a_lying_suffix() -> None:
    assert safe_name("../../etc/passwd.png", "png") == "passwd.png"
    assert safe_name("C:\\Users\\Doe\\scan 1.nii.gz", "nifti-gz") == "scan_1.nii.gz"
    assert safe_name("noext", "nifti-gz") == "noext.nii.gz"
    assert safe_name(".hidden.png", "png") == "hidden.png"
    with pytest.raises(UploadError, match="name says .png but the content is zip") as err:
        safe_name("scan.png", "zip")
    assert err.value.status == 415


def test_case_name_strips_the_sequence_part() -> None:
    assert case_name(["P1_t1ce.nii.gz", "P1_flair.nii.gz", "P1_seg.nii.gz"]) == "P1"
    assert case_name(["img_3.png", "img_3_mask.png"]) == "img_3"


def test_zip_traversal_links_and_bombs_are_refused(tmp_path: Path) -> None:
    cases = {
        "slip": (zip_bytes({"../evil.png": b"x"}), "path leaves the folder"),
        "abs": (zip_bytes({"/etc/evil.png": b"x"}), "path leaves the folder"),
        "drive": (zip_bytes({"C:/evil.png": b"x"}), "path leaves the folder"),
        "link": (zip_bytes({"a.png": b"x"}, links={"b.png": "/etc/passwd"}), "a link"),
        "count": (zip_bytes({f"f{i}.png": b"x" for i in range(11)}), "11 entries"),
        "size": (zip_bytes({"big.nii": bytes(20_000)}), "expands to more than"),
        "empty": (zip_bytes({"__MACOSX/x": b"1", ".DS_Store": b"2"}), "no files"),
    }
    for name, (data, message) in cases.items():
        (tmp_path / f"{name}.zip").write_bytes(data)
        dest = tmp_path / f"out-{name}"
        dest.mkdir()
        with pytest.raises(UploadError, match=message):
            extract_zip(tmp_path / f"{name}.zip", dest, LIMITS)
    assert not (tmp_path / "evil.png").exists() and not list(tmp_path.rglob("evil.png"))


def test_zip_bomb_is_stopped_while_writing_when_the_directory_lies(tmp_path: Path) -> None:
    data = bytearray(zip_bytes({"case/big.nii": bytes(50_000)}))
    # Rewrite the declared sizes (local header and central directory) to 10 bytes: only counting catches it.
    for sig, off in ((b"PK\x03\x04", 22), (b"PK\x01\x02", 24)):
        i = data.find(sig)
        data[i + off:i + off + 4] = struct.pack("<I", 10)
    (tmp_path / "lie.zip").write_bytes(bytes(data))
    (tmp_path / "out").mkdir()
    with pytest.raises(UploadError, match="unreadable|expands to more than"):  # a CRC or size check stops it
        extract_zip(tmp_path / "lie.zip", tmp_path / "out", LIMITS)
    written = [p.stat().st_size for p in (tmp_path / "out").rglob("*") if p.is_file()]
    assert sum(written) <= LIMITS.max_bytes


def test_zip_case_folder_is_its_top_folder(tmp_path: Path) -> None:
    (tmp_path / "c.zip").write_bytes(zip_bytes({"Case9/Case9_t1ce.nii.gz": b"1", "Case9/Case9_seg.nii.gz": b"2"}))
    (tmp_path / "out").mkdir()
    folder = extract_zip(tmp_path / "c.zip", tmp_path / "out", LIMITS)
    assert folder == tmp_path / "out" / "Case9"
    assert sorted(p.name for p in folder.iterdir()) == ["Case9_seg.nii.gz", "Case9_t1ce.nii.gz"]


def test_copy_limited_stops_at_the_budget(tmp_path: Path) -> None:
    assert copy_limited(io.BytesIO(b"x" * 100), tmp_path / "a", 100) == 100
    with pytest.raises(UploadError, match="larger than the server's limit") as err:
        copy_limited(io.BytesIO(b"x" * 101), tmp_path / "b", 100)
    assert err.value.status == 413


def test_assemble_refuses_loose_dicom_mixed_zip_and_unknown_types(tmp_path: Path) -> None:
    png = b"\x89PNG\r\n\x1a\n" + bytes(20)
    for k, (files, message) in enumerate([
            ([("a.dcm", bytes(128) + b"DICM")], "loose DICOM"),
            ([("a.zip", zip_bytes({"x.png": png})), ("b.png", png)], "a zip and other files"),
            ([("a.exe", b"MZ\x90\x00")], "not a PNG/TIFF slice"), ([], "no file")]):
        saved = []
        for j, (name, data) in enumerate(files):
            (tmp_path / f"{k}-{j}").write_bytes(data)
            saved.append((name, tmp_path / f"{k}-{j}"))
        with pytest.raises(UploadError, match=message):
            assemble_case(saved, tmp_path / f"case{k}", LIMITS)


def test_settings_refuse_an_open_host_without_a_token() -> None:
    with pytest.raises(InputError, match="needs a token"):
        ServeCfg(bundle=Path("b"), host="0.0.0.0")
    with pytest.raises(InputError, match="at least 8"):
        ServeCfg(bundle=Path("b"), token="short")
    assert ServeCfg(bundle=Path("b"), host="0.0.0.0", token=TOKEN).token == TOKEN
    with pytest.raises(InputError, match="--workers 0"):
        ServeCfg(bundle=Path("b"), workers=0)


def _echo_app(limit: int = 1000, token: str | None = TOKEN) -> HeadersAndLog:
    async def app(scope, receive, send):  # type: ignore[no-untyped-def]
        body = b""
        while True:
            msg = await receive()
            body += msg.get("body", b"")
            if not msg.get("more_body"):
                break
        await PlainTextResponse(f"ok {len(body)}")(scope, receive, send)
    return HeadersAndLog(TokenGuard(BodyLimit(app, limit), token))


def test_token_is_required_and_a_login_link_sets_the_cookie() -> None:
    client = TestClient(_echo_app())
    refused = client.get("/api/cases")
    assert refused.status_code == 401 and "token" in refused.json()["error"]
    assert client.get("/", headers={"Authorization": "Bearer wrong-token-x"}).status_code == 401
    assert client.get("/", headers={"Authorization": f"Bearer {TOKEN}"}).text == "ok 0"
    login = client.get(f"/case/u1?token={TOKEN}&x=1", follow_redirects=False)
    assert login.status_code == 303 and login.headers["location"] == "/case/u1?x=1"
    assert f"{COOKIE}={TOKEN}" in login.headers["set-cookie"] and "HttpOnly" in login.headers["set-cookie"]
    client.cookies.set(COOKIE, TOKEN)
    assert client.get("/api/cases").text == "ok 0"
    assert "default-src 'self'" in refused.headers["content-security-policy"]


def test_body_limit_by_length_and_by_counting() -> None:
    client = TestClient(_echo_app(limit=1000, token=None))
    assert client.post("/", content=b"x" * 1000).text == "ok 1000"
    too_big = client.post("/", content=b"x" * 1001)
    assert too_big.status_code == 413 and "limit" in too_big.json()["error"]

    def chunks():  # type: ignore[no-untyped-def]  # no Content-Length: counted as it arrives
        for _ in range(20):
            yield b"x" * 100
    assert client.post("/", content=chunks()).status_code == 413


def test_runs_become_aliased_worklist_rows(tmp_path: Path) -> None:
    cv = make_run(tmp_path / "cv", n_patients=6, strength={"full": 3.0})
    (cv / "report.html").write_text("<html>report</html>")
    run = read_run(cv, 1, keep_ids=False)
    assert run.command == "cv" and run.report == cv / "report.html" and len(run.rows) == 6
    text = json.dumps([r.case for r in run.rows]) + run.name
    assert "P00" not in text and all(r.case.startswith("case-") for r in run.rows)
    first = run.rows[0]
    assert first.grade in (2, 3, 4) and set(first.probabilities) == {"2", "3", "4"}
    assert first.grade == int(max(first.probabilities, key=first.probabilities.__getitem__))
    kept = read_run(cv, 1, keep_ids=True)
    assert kept.rows[0].case == "P000" and "cv" in kept.name
    pred = tmp_path / "pred"
    pred.mkdir()
    (pred / "summary.csv").write_text("case,status,grade,p_2,p_3,slice_index,heat_in_roi,overlay,message\n"
                                      "case-0123456789,ok,3,0.25,0.75,4,,,\nTCGA_X,error,,,,,,,bad mask\n")
    rows = read_run(pred, 2, keep_ids=False).rows
    assert [r.case for r in rows][0] == "case-0123456789" and rows[1].case.startswith("case-")
    assert rows[0].probabilities == {"2": 0.25, "3": 0.75} and rows[1].status == "error"
    assert np.isclose(sum(rows[0].probabilities.values()), 1.0)
    with pytest.raises(InputError, match="not a predict, validate or cv run"):
        read_run(tmp_path, 3, keep_ids=False)


def test_model_reliability_comes_from_the_attached_cv_run(tmp_path: Path) -> None:
    from types import SimpleNamespace

    from gliograde.serve.model_info import _cv_block, calibration_line

    rel = {"edges": [0.0, 0.5, 0.8, 1.0], "confidence": [None, 0.66, 0.9], "accuracy": [None, 0.5, 0.75],
           "count": [0, 12, 20]}
    (tmp_path / "metrics.json").write_text(json.dumps({"configs": {"full": {
        "pooled_auc": 0.8, "pooled_auc_ci": [0.7, 0.9], "ece": 0.05, "reliability": rel}}}))
    cv = {"protocol": "honest", "n_patients": 32, "n_folds": 5, "source": str(tmp_path / "metrics.json"),
          "configs": {"handcrafted": {"auc": {"mean": 0.6, "sd": 0.1}, "pooled_auc": 0.6},
                      "full": {"auc": {"mean": 0.78, "sd": 0.05}, "pooled_auc": 0.8}}}
    block = _cv_block(SimpleNamespace(meta={"cv_metrics": cv}, kind="cnn"))  # type: ignore[arg-type]
    assert block is not None and block["config"] == "full"  # the CNN kind's own configuration, not the first
    assert block["pooled_auc_ci"] == [0.7, 0.9] and block["ece"] == 0.05 and block["auc_mean"] == 0.78
    assert calibration_line(block["reliability"], 0.85) == (
        "when the model gave its top grade 0.80-1.00 (mean 0.90), it was right 75% of the time "
        "(20 cross-validated patients)")
    assert calibration_line(block["reliability"], 0.3) is None  # an empty bin: unknown, not invented
    assert _cv_block(SimpleNamespace(meta={"cv_metrics": None}, kind="cnn")) is None  # type: ignore[arg-type]
