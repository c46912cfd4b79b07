"""The viewer in a real browser: Playwright drives Debian's headless Chromium (WebGL2 through SwiftShader) against
``gliograde serve`` on loopback. Upload a NIfTI case and see its grade and a drawn canvas; toggling an overlay
changes the canvas pixels; the worklist sorts; a bad upload shows its error; with a token, a request without it is
refused; and, on the real data, a BraTS case uploaded to a bundle trained on TCGA-LGG shows the grade and
probabilities `gliograde predict` writes.

Screenshots for docs/viewer.md go to docs/img/ only with GLIOGRADE_SCREENSHOTS=1 (tests never dirty the tree).
"""
from __future__ import annotations

import io
import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from PIL import Image

pytest.importorskip("fastapi", reason="the web extra (pip install 'gliograde[web]') is not installed")
pytest.importorskip("playwright", reason="playwright (in the dev extra) is not installed")

from playwright.sync_api import Browser, Page, sync_playwright  # noqa: E402

from gliograde.bundles import read_cv_metrics  # noqa: E402
from gliograde.report.cv import write_report  # noqa: E402
from gliograde.serve.app import create_app  # noqa: E402
from gliograde.serve.model_info import calibration_line  # noqa: E402
from gliograde.serve.settings import ServeCfg  # noqa: E402
from tests.fakedata import cnn_bundle, make_run  # noqa: E402
from tests.serve_support import (  # noqa: E402
    CHROMIUM_ARGS,
    DOCS_IMG,
    SCREENSHOTS_ENV,
    chromium_path,
    free_port,
    nifti_case,
    running_server,
)

TOKEN = "browser-test-token-0123"
WAIT_MS = 120_000  # every wait on the server: it grades, and parallel test processes share the cores


def prob(p: float) -> str:
    """A probability as the pages show it (common.js prob): 3 decimals, never a rounded 0 or 1."""
    return "<0.001" if p < 0.0005 else ">0.999" if p > 0.9995 else f"{p:.3f}"


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    path = chromium_path()
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=path, args=CHROMIUM_ARGS)
        yield b
        b.close()


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Path]]:
    tmp = tmp_path_factory.mktemp("browser")
    bundle = cnn_bundle(tmp)
    cv = make_run(tmp / "cv", n_patients=30, strength={"full": 1.5}, history=False)
    write_report(cv, n_boot=200)  # metrics.json (pooled AUC CI, reliability) and report.html, as `gliograde cv`
    meta = json.loads((bundle / "model.json").read_text())
    meta["cv_metrics"] = read_cv_metrics(cv / "metrics.json")  # what `gliograde train --cv-run` attaches
    (bundle / "model.json").write_text(json.dumps(meta))
    port = free_port()
    cfg = ServeCfg(bundle=bundle, runs=(cv,), workers=1, port=port, workdir=tmp / "work")
    with running_server(create_app(cfg), port) as url:
        yield url, tmp


def canvas(page: Page) -> np.ndarray:
    """The viewer canvas's pixels, (H, W, 3) uint8, as the browser drew them."""
    return np.asarray(Image.open(io.BytesIO(page.locator("#gl").screenshot())).convert("RGB"))


def changed_from(page: Page, before: np.ndarray, timeout: float = 10.0) -> np.ndarray:
    """The canvas once it differs from ``before`` (NiiVue redraws asynchronously); fails after ``timeout`` s."""
    t0 = time.monotonic()
    while time.monotonic() - t0 < timeout:
        now = canvas(page)
        if now.shape != before.shape or np.abs(now.astype(int) - before.astype(int)).sum() > 0:
            return now
        page.wait_for_timeout(200)
    raise AssertionError("the canvas did not change")


def shot(page: Page, name: str) -> None:
    if os.environ.get(SCREENSHOTS_ENV) == "1":
        DOCS_IMG.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(DOCS_IMG / name), full_page=True)


def upload(page: Page, url: str, files: list[Path]) -> None:
    page.goto(url + "/")
    page.wait_for_selector("#limits:not(:empty)", timeout=WAIT_MS)
    page.set_input_files("#file-input", [str(f) for f in files])


def open_case(page: Page, url: str, files: list[Path]) -> None:
    upload(page, url, files)
    page.wait_for_url("**/case/*", timeout=WAIT_MS)
    page.wait_for_selector("body[data-viewer]", timeout=WAIT_MS)
    assert page.get_attribute("body", "data-viewer") == "ready", page.inner_text("#status")


def test_upload_a_nifti_case_see_grade_and_overlays(browser: Browser, served: tuple[str, Path]) -> None:
    url, tmp = served
    case = nifti_case(tmp / "cases", "Brats_SYN_B1", seed=4)
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    open_case(page, url, sorted(case.iterdir()))
    case_id = page.url.rsplit("/", 1)[-1]
    doc = json.loads(page.request.get(f"{url}/api/cases/{case_id}").text())
    assert page.inner_text("#grade") == f"G{doc['grade']}"
    shown = {el.get_attribute("data-grade"): el.inner_text() for el in page.query_selector_all(".bar-value")}
    assert shown == {g: prob(p) for g, p in doc["probabilities"].items()}
    assert "Research use only" in page.inner_text("#banner") and "WHO CNS5" in page.inner_text("#who")
    assert "heat lies inside the tumour ROI" in page.inner_text("#evidence")
    metrics = json.loads((tmp / "cv" / "metrics.json").read_text())["configs"]["full"]
    lo, hi = metrics["pooled_auc_ci"]
    assert f"Cross-validated AUC {metrics['pooled_auc']:.2f} (95% CI {lo:.2f}-{hi:.2f})" in page.inner_text("#cv-auc")
    top = max(doc["probabilities"].values())
    said = calibration_line(metrics["reliability"], top)  # None when no CV patient had a top probability like it
    assert page.inner_text("#calibration") == (f"For this case: {said}." if said else
                                               "No cross-validated case had a top probability like this one: "
                                               "its calibration is unknown.")
    assert page.inner_text("#slice-label") == f"graded slice ({doc['prediction']['slice_index']})"
    page.wait_for_timeout(500)
    first = canvas(page)
    assert first.std() > 5 and (first.max(axis=2) > 30).mean() > 0.05  # drawn, not a blank canvas
    shot(page, "viewer-case-cnn.png")
    page.uncheck("#show-heat")
    no_heat = changed_from(page, first)
    page.uncheck("#show-outline")
    no_outline = changed_from(page, no_heat)
    page.check("#show-heat")
    with_heat = changed_from(page, no_outline)
    red = (with_heat[..., 0].astype(int) - with_heat[..., 2]) > 60  # the warm heat map: red over blue
    assert red.sum() > (((no_outline[..., 0].astype(int) - no_outline[..., 2]) > 60).sum())
    page.fill("#window", "20")  # a narrow window: more contrast
    page.dispatch_event("#window", "input")
    with_heat = changed_from(page, with_heat)
    page.fill("#slice", "0")
    page.dispatch_event("#slice", "input")
    moved = changed_from(page, with_heat)
    assert page.inner_text("#slice-label").startswith("z ") and moved.shape == first.shape
    page.click("#goto-slice")
    assert page.inner_text("#slice-label").startswith("graded slice")
    page.on("dialog", lambda d: d.accept())
    page.click("#remove")  # the upload and its files leave the server
    page.wait_for_url(url + "/", timeout=WAIT_MS)
    page.wait_for_selector("#worklist tbody tr", timeout=WAIT_MS)
    assert page.query_selector(f"tr[data-id='{case_id}']") is None
    assert page.request.get(f"{url}/api/cases/{case_id}").status == 404
    assert errors == []
    page.close()


def test_worklist_sorts_filters_and_links_the_report(browser: Browser, served: tuple[str, Path]) -> None:
    url, _ = served
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    page.goto(url + "/")
    page.wait_for_selector("#worklist tbody tr", timeout=WAIT_MS)

    def column(name: str) -> list[str]:
        return [c.inner_text() for c in page.query_selector_all(f"#worklist tbody td.{name}")]

    def probabilities() -> list[float]:
        return [float(c.get_attribute("data-value") or "nan")
                for c in page.query_selector_all("#worklist tbody td.probability") if c.inner_text()]
    page.click("th[data-key=probability]")
    values = probabilities()
    assert len(values) >= 30 and values == sorted(values)
    page.click("th[data-key=probability]")
    values = probabilities()
    assert values == sorted(values, reverse=True)
    assert page.get_attribute("th[data-key=probability]", "aria-sort") == "descending"
    page.click("th[data-key=grade]")
    grades = [g for g in column("grade") if g]
    assert grades == sorted(grades)
    total = len(page.query_selector_all("#worklist tbody tr"))
    page.fill("#filter", "G4")
    kept = [[c.inner_text() for c in tr.query_selector_all("td")]
            for tr in page.query_selector_all("#worklist tbody tr")]
    assert 0 < len(kept) < total and all("G4" in (cells[2], cells[4]) for cells in kept)  # predicted or true G4
    page.fill("#filter", "")
    shot(page, "viewer-worklist.png")
    assert "P00" not in page.inner_text("#worklist")  # run patients by alias only
    page.click("a.run")
    page.wait_for_load_state()
    assert page.url.endswith("/runs/run1/report.html") and page.query_selector("img") is not None  # its figures
    page.close()


def test_a_bad_upload_shows_its_error(browser: Browser, served: tuple[str, Path]) -> None:
    url, tmp = served
    bad = tmp / "notes.png"
    bad.write_text("this is not an image")
    page = browser.new_page()
    upload(page, url, [bad])
    page.wait_for_selector("#upload-error:not(:empty)", timeout=WAIT_MS)
    assert "upload refused: notes.png: not a PNG/TIFF slice" in page.inner_text("#upload-error")
    nomask = nifti_case(tmp / "bad", "Case_nomask", seed=5)
    upload(page, url, [nomask / "Case_nomask_t1ce.nii.gz"])
    page.wait_for_selector("#upload-error:not(:empty)", timeout=WAIT_MS)
    assert "could not be graded" in page.inner_text("#upload-error")
    assert "segmentation" in page.inner_text("#upload-error")
    shot(page, "viewer-upload-error.png")
    page.close()


def test_with_a_token_a_request_without_it_is_refused(browser: Browser, served: tuple[str, Path],
                                                     tmp_path: Path) -> None:
    port = free_port()
    cfg = ServeCfg(bundle=served[1] / "bundle", port=port, token=TOKEN, workers=1, workdir=tmp_path / "work")
    with running_server(create_app(cfg), port) as url:
        page = browser.new_page()
        refused = page.goto(url + "/")
        assert refused is not None and refused.status == 401 and "token" in json.loads(page.inner_text("body"))["error"]
        assert page.request.get(url + "/api/cases").status == 401
        assert page.request.get(url + "/static/vendor/niivue.umd.js").status == 401
        page.goto(f"{url}/?token={TOKEN}")
        assert "token" not in page.url  # the login link sets the cookie and drops the token from the address
        page.wait_for_selector("#limits:not(:empty)", timeout=WAIT_MS)
        assert page.request.get(url + "/api/cases").status == 200
        fresh = browser.new_page()
        assert fresh.request.get(url + "/api/model", headers={"Authorization": f"Bearer {TOKEN}"}).status == 200
        assert fresh.request.get(url + "/api/model", headers={"Authorization": "Bearer nope-nope"}).status == 401
        page.close()
        fresh.close()


@pytest.fixture(scope="module")
def lgg_bundle(shared_data: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A radiomics bundle (the default recommended preset) trained on TCGA-LGG by the CLI."""
    out = tmp_path_factory.mktemp("lgg") / "bundle"
    subprocess.run([sys.executable, "-m", "gliograde", "-q", "train", str(shared_data / "tcga-lgg"), "--out",
                    str(out)], check=True, timeout=600)
    return out


def test_real_brats_case_in_the_browser_equals_predict(browser: Browser, shared_data: Path, lgg_bundle: Path,
                                                       tmp_path: Path) -> None:
    case = shared_data / "brats-volumes" / "Brats18_TCIA01_201_1"
    preds = tmp_path / "preds"
    subprocess.run([sys.executable, "-m", "gliograde", "-q", "predict", str(lgg_bundle), str(case), "--out",
                    str(preds)], check=True, timeout=600)
    row = pd.read_csv(preds / "summary.csv").iloc[0]
    port = free_port()
    cfg = ServeCfg(bundle=lgg_bundle, runs=(preds,), workers=1, port=port, workdir=tmp_path / "work")
    with running_server(create_app(cfg), port) as url:
        page = browser.new_page(viewport={"width": 1300, "height": 950})
        open_case(page, url, sorted(case.iterdir()))
        case_id = page.url.rsplit("/", 1)[-1]
        doc: dict[str, Any] = json.loads(page.request.get(f"{url}/api/cases/{case_id}").text())
        assert doc["case"] == row["case"] and doc["grade"] == int(row["grade"])
        for g in ("2", "3"):
            assert doc["probabilities"][g] == row[f"p_{g}"]  # the CSV's repr round-trips the float exactly
        written = json.loads((preds / row["case"] / "prediction.json").read_text())
        assert doc["prediction"]["evidence"]["top_features"] == written["evidence"]["top_features"]
        assert page.inner_text("#grade") == f"G{int(row['grade'])}"
        shown = {el.get_attribute("data-grade"): el.inner_text() for el in page.query_selector_all(".bar-value")}
        assert shown == {g: prob(row[f"p_{g}"]) for g in ("2", "3")}
        if written["evidence"]["unlike_training"]:
            assert "Unlike the training data" in page.inner_text("#unlike")
        assert doc["viewer"]["images"].keys() == {"t1", "t1ce", "t2", "flair"} and doc["viewer"]["default"] == "flair"
        page.wait_for_timeout(500)
        first = canvas(page)
        assert first.std() > 5
        shot(page, "viewer-case.png")
        page.uncheck("#show-outline")
        changed_from(page, first)
        page.select_option("#sequence", "t1ce")
        page.wait_for_timeout(300)
        page.close()
