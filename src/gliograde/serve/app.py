"""The FastAPI app of ``gliograde serve``: the pages, and the JSON API under ``/api/`` that the pages use.

====================================  ===========================================================================
``GET /``, ``GET /case/{id}``          worklist + upload page, case page (static HTML; data from the API)
``GET /api/model``                     the bundle: kind, grades, CV AUC with CI, calibration, card, WHO edition
``GET /api/cases``                     the worklist: uploads and the rows of the runs given
``POST /api/cases``                    upload one case (multipart ``files``); 202 with its id, then poll it
``GET /api/cases/{id}``                one case: grade, probabilities, evidence, viewer volumes
``DELETE /api/cases/{id}``             remove an upload and delete its files from the server
``GET /api/cases/{id}/files/{name}``   a volume or picture of that case, by the name the case lists
``GET /api/runs``                      the runs given, with their report pages
``GET /runs/{run}/report.html``        a run's report
``GET /api/openapi.json``, ``/api/docs``  this API, as FastAPI describes it, and a page that lists it
====================================  ===========================================================================

No endpoint takes a path: files are looked up by id and by names the server chose. Errors are JSON
``{"error": message, "status": code}``; a case that fails to grade is an ``error`` entry, and the server goes on.
"""
from __future__ import annotations

import logging
import shutil
import tempfile
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Annotated, Any

from fastapi import FastAPI, File, Request, UploadFile
from fastapi.exceptions import RequestValidationError
from fastapi.responses import FileResponse, JSONResponse, Response
from fastapi.staticfiles import StaticFiles
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp

from gliograde import __version__
from gliograde.bundles import Bundle, load_bundle
from gliograde.config import PredictCfg
from gliograde.errors import GliogradeError
from gliograde.serve.jobs import Busy, Case, Cases, from_row
from gliograde.serve.model_info import calibration_line, model_info
from gliograde.serve.runs import Run, read_run
from gliograde.serve.security import BodyLimit, HeadersAndLog, TokenGuard
from gliograde.serve.settings import ServeCfg
from gliograde.serve.uploads import UploadError, ZipLimits, assemble_case, copy_limited

logger = logging.getLogger(__name__)

STATIC = Path(__file__).parent / "static"
#: Form overhead allowed on top of the upload limit (multipart boundaries and headers).
FORM_SLACK = 64 * 1024
MEDIA = {".png": "image/png", ".gz": "application/gzip", ".nii": "application/octet-stream"}


def _error(status: int, message: str) -> JSONResponse:
    return JSONResponse({"error": message, "status": status}, status_code=status)


class Server:
    """What the routes share: settings, bundle, model document, runs and the case registry."""

    def __init__(self, cfg: ServeCfg, bundle: Bundle) -> None:
        self.cfg, self.bundle = cfg, bundle
        self._tmp = None if cfg.workdir is not None else tempfile.TemporaryDirectory(prefix="gliograde-serve-")
        self.workdir = Path(cfg.workdir if cfg.workdir is not None else self._tmp.name)  # type: ignore[union-attr]
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.model = model_info(bundle)
        self.runs: list[Run] = [read_run(folder, k, cfg.keep_ids) for k, folder in enumerate(cfg.runs, start=1)]
        predict = PredictCfg(keep_ids=cfg.keep_ids, threads=1)  # as `gliograde predict` (one thread per case)
        scrub = [str(self.workdir), str(self.workdir.resolve()), str(bundle.path), str(Path(bundle.path).resolve())]
        self.cases = Cases(Path(bundle.path), predict, self.workdir, cfg.workers, cfg.max_pending, scrub)
        if cfg.workdir is not None:  # a kept work folder: its earlier uploads are listed again
            restored = self.cases.restore(bundle.fingerprint)
            if restored:
                logger.info("listed %d earlier upload(s) from the work folder", restored)
        for run in self.runs:
            for row in run.rows:
                self.cases.add(from_row(row))
        self.limits = ZipLimits(cfg.max_zip_files, cfg.max_unzipped_bytes)

    def close(self) -> None:
        self.cases.stop()
        if self._tmp is not None:
            self._tmp.cleanup()


def case_document(server: Server, case: Case) -> dict[str, Any]:
    """``GET /api/cases/{id}``: the worklist row plus the prediction (server paths removed), the viewer's file
    names, the calibration sentence for this case's top probability and the run's report link."""
    doc = case.summary()
    pred = dict(case.prediction or {})
    pred.pop("overlay", None)  # a server path; the picture is served as files/overlay.png
    doc["prediction"] = pred or None
    doc["viewer"] = case.viewer
    doc["overlay"] = "overlay.png" if "overlay.png" in case.files else None
    cv = server.model.get("cv") or {}
    top = doc["probability"]
    doc["calibration"] = (calibration_line(cv["reliability"], float(top))
                          if top is not None and cv.get("reliability") else None)
    run = next((r for r in server.runs if case.id.startswith(f"{r.id}-")), None)
    doc["report"] = f"/runs/{run.id}/report.html" if run is not None and run.report is not None else None
    doc["seconds"] = case.seconds
    return doc


def _save_upload(server: Server, files: list[UploadFile]) -> Case:
    folder = server.cases.new_folder()
    try:
        saved, budget = [], server.cfg.max_upload_bytes
        for k, f in enumerate(files):
            path = folder / "in" / f"{k:04d}"
            budget -= copy_limited(f.file, path, budget)
            saved.append((f.filename or f"file{k}", path))
        case_folder = assemble_case(saved, folder / "case", server.limits)
        shutil.rmtree(folder / "in")  # what was received is in the case folder now (a zip: extracted)
        return server.cases.submit(folder, case_folder)
    except BaseException:
        shutil.rmtree(folder, ignore_errors=True)
        raise


def _register(app: FastAPI, server: Server) -> None:
    @app.get("/api/health", summary="liveness and version")
    def health() -> dict[str, Any]:
        return {"ok": True, "gliograde": __version__}

    @app.get("/api/model", summary="the bundle: kind, grades, CV AUC with CI, calibration, model card, WHO edition")
    def get_model() -> dict[str, Any]:
        return {**server.model, "max_upload_mb": server.cfg.max_upload_mb}

    @app.get("/api/cases", summary="the worklist: uploaded cases and the rows of the runs given")
    def list_cases() -> list[dict[str, Any]]:
        return [c.summary() for c in server.cases.all()]

    @app.post("/api/cases", status_code=202, summary="upload one case (PNG/TIFF slice + mask, NIfTI + "
              "segmentation, or a zip of either or of a DICOM series + mask); poll GET /api/cases/{id}")
    def upload(files: Annotated[list[UploadFile], File(description="the files of one case")]) -> Any:
        # A plain def: FastAPI runs it in its thread pool, so copying, sniffing and unzipping block no other request.
        try:
            entry = _save_upload(server, files)
        except UploadError as err:
            return _error(err.status, server.cases.clean(str(err)))
        except Busy as err:
            return _error(503, str(err))
        return JSONResponse(entry.summary(), status_code=202)

    @app.get("/api/cases/{case_id}", summary="one case: grade, probabilities, evidence, viewer volumes")
    def get_case(case_id: str) -> Any:
        case = server.cases.get(case_id)
        if case is None:
            return _error(404, f"no case {case_id!r}; list them at /api/cases")
        return case_document(server, case)

    @app.delete("/api/cases/{case_id}", summary="remove an upload and delete its files from the server")
    def delete_case(case_id: str) -> Any:
        why = server.cases.remove(case_id)
        if why == "no such case":
            return _error(404, f"no case {case_id!r}; list them at /api/cases")
        if why is not None:
            return _error(409, f"case {case_id!r}: {why}")
        return {"removed": case_id}

    @app.get("/api/cases/{case_id}/files/{name}", summary="a volume or picture of a case, by the name it lists",
             response_class=Response)
    def get_file(case_id: str, name: str) -> Any:
        case = server.cases.get(case_id)
        path = case.files.get(name) if case is not None else None
        if path is None or not path.is_file():
            return _error(404, f"no file {name!r} for case {case_id!r}; GET /api/cases/{{id}} lists its files")
        return FileResponse(path, media_type=MEDIA.get(path.suffix.lower(), "application/octet-stream"),
                            filename=name)

    @app.get("/api/runs", summary="the runs given to the server, with their report pages")
    def list_runs() -> list[dict[str, Any]]:
        return [{"id": r.id, "name": r.name, "command": r.command, "cases": len(r.rows),
                 "report": f"/runs/{r.id}/report.html" if r.report else None} for r in server.runs]

    @app.get("/runs/{run_id}/report.html", include_in_schema=False)
    def report(run_id: str) -> Any:
        run = next((r for r in server.runs if r.id == run_id), None)
        if run is None or run.report is None:
            return _error(404, f"no report for run {run_id!r}; GET /api/runs lists them")
        return FileResponse(run.report, media_type="text/html")

    for page, route in (("index.html", "/"), ("case.html", "/case/{case_id}"), ("api.html", "/api/docs")):
        app.add_api_route(route, _page(page), methods=["GET"], include_in_schema=False)


def _page(name: str) -> Any:
    def serve_page(request: Request) -> FileResponse:
        return FileResponse(STATIC / name, media_type="text/html")
    return serve_page


def create_app(cfg: ServeCfg, bundle: Bundle | None = None) -> ASGIApp:
    """The server as an ASGI app (for uvicorn or FastAPI's TestClient); the grading pool starts with the app.

    Args:
        cfg: the server's settings (checked when built).
        bundle: the loaded bundle, or None to load ``cfg.bundle`` here (failing early on a bad one).

    Raises:
        InputError: a bad bundle or run folder.
    """
    for folder in cfg.runs:  # a wrong run folder is refused before the bundle (and its libraries) load
        read_run(folder, 0, cfg.keep_ids)
    server = Server(cfg, bundle if bundle is not None else load_bundle(cfg.bundle))

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        server.cases.start()
        try:
            yield
        finally:
            server.close()

    app = FastAPI(title="gliograde", version=__version__, lifespan=lifespan, docs_url=None, redoc_url=None,
                  openapi_url="/api/openapi.json",
                  description="Glioma grade suggestions for research use only; not a medical device.")
    app.state.server = server

    @app.exception_handler(StarletteHTTPException)
    async def http_error(_: Request, err: StarletteHTTPException) -> JSONResponse:
        return _error(err.status_code, str(err.detail))

    @app.exception_handler(RequestValidationError)
    async def bad_request(_: Request, err: RequestValidationError) -> JSONResponse:
        first = err.errors()[0] if err.errors() else {}
        where = ".".join(str(x) for x in first.get("loc", ()))
        return _error(422, f"{where}: {first.get('msg', 'invalid request')}; see /api/docs")

    @app.exception_handler(GliogradeError)
    async def user_error(_: Request, err: GliogradeError) -> JSONResponse:
        return _error(422, server.cases.clean(str(err)))

    @app.exception_handler(Exception)
    async def internal(_: Request, err: Exception) -> JSONResponse:
        logger.exception("internal error: %s", type(err).__name__)
        return _error(500, "internal error; the server log has the details")

    _register(app, server)
    app.mount("/static", StaticFiles(directory=STATIC), name="static")
    guarded: ASGIApp = BodyLimit(app, cfg.max_upload_bytes + FORM_SLACK)
    guarded = TokenGuard(guarded, cfg.token)
    return HeadersAndLog(guarded)
