"""``gliograde serve``'s JSON API through FastAPI's TestClient: uploads of every accepted kind graded exactly as
``gliograde predict`` grades them, viewer volumes where the model looked, bad uploads answered with 4xx JSON while
the server keeps serving, no identity in any answer, run folders in the worklist, and a fuzz that finds no 5xx."""
from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

pytest.importorskip("fastapi", reason="the web extra (pip install 'gliograde[web]') is not installed")

from fastapi.testclient import TestClient  # noqa: E402
from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

from gliograde.bundles import load_bundle  # noqa: E402
from gliograde.config import PredictCfg  # noqa: E402
from gliograde.prediction.run import run_predict  # noqa: E402
from gliograde.serve.app import create_app  # noqa: E402
from gliograde.serve.settings import ServeCfg  # noqa: E402
from gliograde.serve.viewer import heat_on_slice  # noqa: E402
from tests.fakedata import cnn_bundle, make_run, write_dicom_series  # noqa: E402
from tests.serve_support import nifti_case, upload_files, wait_graded, zip_bytes, zip_folder  # noqa: E402

PHI_NAME, PHI_ID = "Doe^Jane", "PHI-12345"


@pytest.fixture(scope="module")
def setup(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[TestClient, Path, Path]]:
    tmp = tmp_path_factory.mktemp("serve")
    bundle = cnn_bundle(tmp)
    pred_run = tmp / "pred-run"
    run_predict(bundle, [nifti_case(tmp / "given", "TCGA_XX_0001", seed=3)], pred_run, PredictCfg(threads=1))
    cv_run = make_run(tmp / "cv-run", n_patients=6, strength={"full": 3.0})
    (cv_run / "report.html").write_text("<html><body>cv report</body></html>")
    cfg = ServeCfg(bundle=bundle, runs=(pred_run, cv_run), workers=1, max_upload_mb=2.0, max_zip_files=50,
                   workdir=tmp / "work")
    with TestClient(create_app(cfg)) as client:
        yield client, bundle, tmp


def direct(bundle: Path, case: Path) -> Any:
    """The case graded in this process by the function behind `gliograde predict`, settings as the server's."""
    return run_predict(load_bundle(bundle), [case], None, PredictCfg(threads=1))[0]


def test_nifti_upload_is_graded_as_predict_grades_it(setup: tuple[TestClient, Path, Path]) -> None:
    client, bundle, tmp = setup
    case = nifti_case(tmp / "up", "Brats_SYN_001", seed=1)
    answer = client.post("/api/cases", files=upload_files(case))
    assert answer.status_code == 202 and answer.json()["status"] == "grading"
    doc = wait_graded(client.get, answer.json()["id"])
    want = direct(bundle, case)
    assert doc["status"] == "ok", doc["message"]
    assert doc["case"] == want.case and doc["grade"] == want.grade
    assert doc["probabilities"] == {str(g): p for g, p in want.probabilities.items()}  # exactly, not approx
    assert doc["prediction"]["slice_index"] == want.slice_index
    assert doc["prediction"]["evidence"]["heat_in_roi"] == want.heat_in_roi
    viewer = doc["viewer"]
    assert set(viewer["images"]) == {"t1ce"} and viewer["default"] == "t1ce" and viewer["heat"] == "heat.nii.gz"

    import nibabel as nib

    def fetch(name: str) -> Any:
        r = client.get(f"/api/cases/{doc['id']}/files/{name}")
        assert r.status_code == 200, name
        (tmp / name).write_bytes(r.content)
        return nib.load(str(tmp / name))
    src = nib.load(str(case / "Brats_SYN_001_t1ce.nii.gz"))
    base, roi, outline, heat = (fetch(n) for n in (viewer["images"]["t1ce"], viewer["roi"], viewer["outline"],
                                                     viewer["heat"]))
    assert np.array_equal(np.asarray(base.dataobj), np.asarray(src.dataobj))  # shown as uploaded
    seg = np.asarray(nib.load(str(case / "Brats_SYN_001_seg.nii.gz")).dataobj)
    assert np.array_equal(np.asarray(roi.dataobj) > 0, seg > 0)  # the ROI the model used, in the file's grid
    out = np.asarray(outline.dataobj) > 0
    assert out.any() and not (out & ~(seg > 0)).any() and out.sum() < (seg > 0).sum()
    h = np.asarray(heat.dataobj)
    assert np.allclose(heat.affine, src.affine) and h.shape == seg.shape
    k = want.slice_index
    assert np.flatnonzero(h.reshape(-1, h.shape[2]).any(axis=0)).tolist() == [k]  # only on the graded slice
    native = heat_on_slice(want, load_bundle(bundle))
    assert native is not None and np.isclose(h.sum(), native.sum(), rtol=1e-5)  # the whole map, none lost
    assert not (h[..., k] > 0)[seg[..., k] == 0].any()  # masked to the ROI, as overlay.png shows it
    assert viewer["slice_voxel"][2] == k
    assert client.get(f"/api/cases/{doc['id']}/files/overlay.png").headers["content-type"] == "image/png"


def test_png_slice_and_dicom_zip_uploads(setup: tuple[TestClient, Path, Path]) -> None:
    client, bundle, tmp = setup
    png = tmp / "raw" / "P_02_2000"  # a patient folder of the bundle's own slice cohort (3-channel PNG + _mask)
    img = sorted(p for p in png.iterdir() if not p.stem.endswith("_mask"))[0]
    mask = img.with_name(f"{img.stem}_mask.png")
    answer = client.post("/api/cases", files=[("files", (n.name, n.read_bytes(), "image/png")) for n in (img, mask)])
    doc = wait_graded(client.get, answer.json()["id"])
    single = tmp / "single" / img.stem
    single.mkdir(parents=True)
    for p in (img, mask):
        (single / p.name).write_bytes(p.read_bytes())
    want = direct(bundle, single)
    assert doc["status"] == "ok" and doc["probabilities"] == {str(g): p for g, p in want.probabilities.items()}
    assert doc["viewer"]["images"] == {"t1ce": "image-t1ce.nii.gz"} and doc["viewer"]["slice_voxel"][2] == 0

    dicom = tmp / "dicom" / "Study1"
    from tests.fakedata import volume
    vol, seg = volume((24, 24, 10), centre=5)
    write_dicom_series(dicom / "series", vol, patient_name=PHI_NAME, patient_id=PHI_ID)
    import nibabel as nib
    nib.save(nib.Nifti1Image((seg > 0).astype(np.uint8), np.eye(4)), dicom / "mask.nii.gz")
    answer = client.post("/api/cases", files=[("files", ("study.zip", zip_folder(dicom), "application/zip"))])
    doc = wait_graded(client.get, answer.json()["id"])
    want = direct(bundle, dicom)
    assert doc["status"] == "ok", doc["message"]
    assert doc["probabilities"] == {str(g): p for g, p in want.probabilities.items()}
    assert doc["viewer"]["images"] == {"t1ce": "image-t1ce.nii.gz"}
    shown = client.get(f"/api/cases/{doc['id']}/files/image-t1ce.nii.gz").content
    every = json.dumps(client.get("/api/cases").json()) + json.dumps(doc)
    import gzip
    for text in (PHI_NAME, PHI_ID, "Study1", "19700101"):
        assert text not in every and text.encode() not in gzip.decompress(shown)  # no DICOM tag reaches the page


@pytest.mark.parametrize(("files", "status", "message"), [
    ([("files", ("x.png", b"hello", "image/png"))], 415, "not a PNG/TIFF slice"),
    ([("files", ("x.png", zip_bytes({"a.png": b"1"}), "image/png"))], 415, "content is zip"),
    ([("files", ("evil.zip", zip_bytes({"../../evil.png": b"1"}), "application/zip"))], 422, "leaves the folder"),
    ([("files", ("links.zip", zip_bytes({}, links={"a.nii.gz": "/etc/passwd"}), "application/zip"))], 422, "link"),
    ([("files", ("many.zip", zip_bytes({f"{i}.png": b"1" for i in range(60)}), "application/zip"))], 413, "entries"),
    ([("files", ("big.nii", b"\0" * (3 * 1024 * 1024), "application/octet-stream"))], 413, "limit"),
    ([], 422, "files"),
])
def test_bad_uploads_get_4xx_json_and_the_server_keeps_serving(setup: tuple[TestClient, Path, Path],
                                                                files: list[Any], status: int, message: str) -> None:
    client, _, tmp = setup
    before = len(client.get("/api/cases").json())
    answer = client.post("/api/cases", files=files) if files else client.post("/api/cases")
    assert answer.status_code == status and message in answer.json()["error"], answer.json()
    assert str(tmp) not in answer.json()["error"]
    assert len(client.get("/api/cases").json()) == before and client.get("/api/health").json()["ok"]
    assert not list(tmp.rglob("evil.png")) and not list((tmp / "work").glob("*/in/*"))  # nothing left behind


def test_a_case_that_cannot_be_graded_is_an_error_entry_without_paths(setup: tuple[TestClient, Path, Path]) -> None:
    client, _, tmp = setup
    case = nifti_case(tmp / "nomask", "Patient_Smith_7", seed=2)
    (case / "Patient_Smith_7_seg.nii.gz").unlink()
    answer = client.post("/api/cases", files=upload_files(case))
    doc = wait_graded(client.get, answer.json()["id"])
    assert doc["status"] == "error" and "segmentation" in doc["message"]
    text = json.dumps(client.get("/api/cases").json())
    assert "Smith" not in text and str(tmp) not in text and "/work" not in doc["message"]


def test_worklist_lists_runs_by_alias_with_their_report(setup: tuple[TestClient, Path, Path]) -> None:
    client, _, _ = setup
    rows = client.get("/api/cases").json()
    runs = {r["id"]: r for r in client.get("/api/runs").json()}
    assert runs["run1"]["command"] == "predict" and runs["run2"]["command"] == "cv"
    assert runs["run1"]["report"] is None and runs["run2"]["report"] == "/runs/run2/report.html"
    assert "cv report" in client.get("/runs/run2/report.html").text
    from_cv = [r for r in rows if r["source"].startswith("run2")]
    assert len(from_cv) == 6 and all(re.match(r"^case-[0-9a-f]{10}$", r["case"]) for r in from_cv)
    assert "P00" not in json.dumps(rows) and "TCGA_XX" not in json.dumps(rows)
    given = next(r for r in rows if r["source"].startswith("run1"))
    doc = client.get(f"/api/cases/{given['id']}").json()
    assert doc["overlay"] == "overlay.png" and doc["viewer"] is None
    assert client.get(f"/api/cases/{given['id']}/files/overlay.png").status_code == 200
    assert "overlay" not in (doc["prediction"] or {})  # the server path of overlay.png is not sent


def test_model_document_and_openapi(setup: tuple[TestClient, Path, Path]) -> None:
    client, _, _ = setup
    model = client.get("/api/model").json()
    assert model["kind"] == "cnn" and model["classes"] == [2, 3, 4] and "not a medical device" in model["intended_use"]
    assert "WHO CNS5" in model["who_edition"] and model["cv"] is None and "--cv-run" in model["no_cv_reason"]
    assert "# Model card" in model["card"]
    spec = client.get("/api/openapi.json").json()
    assert {"/api/cases", "/api/cases/{case_id}", "/api/model"} <= set(spec["paths"])
    assert client.get("/docs").status_code == 404  # FastAPI's own page would load a CDN: off
    page = client.get("/")
    assert page.status_code == 200 and "<script src=\"/static/worklist.js\"" in page.text
    assert "http" not in re.sub(r"https?://(www\.w3\.org|niivue\.com)", "", client.get("/static/case.html").text)


PATHS = ["/api/cases/{id}", "/api/cases/{id}/files/{name}", "/runs/{id}/report.html", "/case/{id}", "/static/{name}",
         "/api/{name}", "/{name}"]
TEXT = st.text(alphabet=st.characters(codec="utf-8", exclude_categories=("Cs",)), max_size=40)


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(template=st.sampled_from(PATHS), ident=TEXT, name=TEXT, method=st.sampled_from(["GET", "POST", "DELETE"]),
       query=st.dictionaries(TEXT, TEXT, max_size=3), body=st.binary(max_size=600),
       ctype=st.sampled_from(["multipart/form-data; boundary=xyz", "application/json", "text/plain", ""]))
def test_fuzz_finds_no_5xx(setup: tuple[TestClient, Path, Path], template: str, ident: str, name: str, method: str,
                           query: dict[str, str], body: bytes, ctype: str) -> None:
    client, _, _ = setup
    from urllib.parse import quote
    path = template.format(id=quote(ident, safe=""), name=quote(name, safe=""))
    headers = {"content-type": ctype} if ctype else {}
    answer = client.request(method, path, params=query, content=body, headers=headers)
    assert answer.status_code < 500, (method, path, answer.text[:200])
    if answer.status_code >= 400 and answer.headers.get("content-type", "").startswith("application/json"):
        assert "error" in answer.json()


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(parts=st.lists(st.tuples(TEXT, st.binary(max_size=400)), max_size=3))
def test_fuzz_uploads_get_4xx_not_5xx(setup: tuple[TestClient, Path, Path], parts: list[tuple[str, bytes]]) -> None:
    client, _, _ = setup
    files = [("files", (n or "f", b, "application/octet-stream")) for n, b in parts]
    answer = client.post("/api/cases", files=files) if files else client.post("/api/cases", data={"x": "1"})
    assert answer.status_code in (400, 413, 415, 422), answer.text[:200]


def test_a_crashed_worker_fails_only_its_case(setup: tuple[TestClient, Path, Path]) -> None:
    import os
    import signal

    client, bundle, tmp = setup
    server = client.app.app.app.app.state.server  # type: ignore[attr-defined]  # HeadersAndLog > Token > Body > app
    pool = server.cases._pool
    first = nifti_case(tmp / "crash", "Crash_A", seed=6)
    answer = client.post("/api/cases", files=upload_files(first))
    for pid in list(pool._processes):  # the worker dies (as on a segfault in a reader)
        os.kill(pid, signal.SIGKILL)
    doc = wait_graded(client.get, answer.json()["id"])
    assert doc["status"] == "error" and "stopped unexpectedly" in doc["message"]
    again = client.post("/api/cases", files=upload_files(first))  # a new pool grades the next upload
    doc = wait_graded(client.get, again.json()["id"])
    assert doc["status"] == "ok" and doc["probabilities"] == {
        str(g): p for g, p in direct(bundle, first).probabilities.items()}


def test_an_upload_can_be_removed_with_its_files(setup: tuple[TestClient, Path, Path]) -> None:
    client, _, tmp = setup
    case = nifti_case(tmp / "remove", "Remove_Me", seed=7)
    case_id = client.post("/api/cases", files=upload_files(case)).json()["id"]
    wait_graded(client.get, case_id)
    folder = tmp / "work" / case_id.removeprefix("u")
    assert folder.is_dir() and any(folder.rglob("*.nii.gz"))
    assert client.delete(f"/api/cases/{case_id}").json() == {"removed": case_id}
    assert not folder.exists() and client.get(f"/api/cases/{case_id}").status_code == 404
    assert case_id not in {c["id"] for c in client.get("/api/cases").json()}
    assert client.delete(f"/api/cases/{case_id}").status_code == 404
    run_row = next(c for c in client.get("/api/cases").json() if c["source"].startswith("run"))
    assert client.delete(f"/api/cases/{run_row['id']}").status_code == 409


def test_a_restarted_server_lists_the_uploads_of_its_work_folder(setup: tuple[TestClient, Path, Path]) -> None:
    client, bundle, tmp = setup
    case_id = client.post("/api/cases", files=upload_files(nifti_case(tmp / "again", "Again_1", seed=8))).json()["id"]
    wait_graded(client.get, case_id)
    before = {c["id"]: c for c in client.get("/api/cases").json() if c["source"] == "upload" and c["status"] == "ok"}
    restarted = TestClient(create_app(ServeCfg(bundle=bundle, workers=1, workdir=tmp / "work")))  # no lifespan: no pool
    after = {c["id"]: c for c in restarted.get("/api/cases").json()}
    assert before and set(before) <= set(after)
    for key, row in before.items():
        assert {k: after[key][k] for k in ("case", "grade", "probabilities", "status")} == \
            {k: row[k] for k in ("case", "grade", "probabilities", "status")}
    doc = restarted.get(f"/api/cases/{case_id}").json()
    assert doc["viewer"]["heat"] == "heat.nii.gz"
    assert restarted.get(f"/api/cases/{case_id}/files/heat.nii.gz").content == \
        client.get(f"/api/cases/{case_id}/files/heat.nii.gz").content
    other = cnn_bundle(tmp / "other-bundle", seed=1)  # another model: its earlier grades are not shown as its own
    assert not [c for c in TestClient(create_app(ServeCfg(bundle=other, workdir=tmp / "work"))).get(
        "/api/cases").json() if c["source"] == "upload"]
