"""What one prediction process of the server does: load the bundle once, then grade uploaded case folders.

Grading goes through :func:`gliograde.prediction.run.run_predict`, the function behind ``gliograde predict``,
so an upload gets the same ``prediction.json``, ``overlay.png`` and ``summary.csv`` as the command line; the
viewer's volumes are written beside them (:mod:`gliograde.serve.viewer`). Cases run in separate processes, not
threads: a kind's evidence (pytorch-grad-cam) hooks the shared network, so two cases in one process at once could
read each other's activations; one process per worker keeps results uncrossed and a crash contained.
"""
from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

from gliograde.bundles import Bundle, load_bundle
from gliograde.config import PredictCfg
from gliograde.prediction.run import PREDICTION_JSON, find_cases, run_predict
from gliograde.serve.viewer import write_viewer_files

logger = logging.getLogger(__name__)

_STATE: dict[str, Any] = {}


def init_worker(bundle: str, cfg: PredictCfg) -> None:
    """Process-pool initializer: load the bundle once for every case this process grades."""
    _STATE["bundle"], _STATE["cfg"] = load_bundle(Path(bundle)), cfg


def ready() -> bool:
    """A no-op task: submitted once per worker when the pool starts, so processes spawn and load the bundle then."""
    return "bundle" in _STATE


def grade_folder(folder: str, out: str) -> dict[str, Any]:
    """Grade the case in ``folder`` into ``out`` (a predict run folder of one case).

    Returns:
        ``{"case": alias, "status": "ok"|"error", "message", "prediction": prediction.json or None,
        "viewer": viewer.json or None, "viewer_error": why the viewer volumes could not be written, or ""}``.
    """
    bundle: Bundle = _STATE["bundle"]
    cfg: PredictCfg = _STATE["cfg"]
    cases, _ = find_cases([Path(folder)])
    if len(cases) != 1:  # as `gliograde predict` refuses it; a folder of several cases is a batch, not one upload
        found = f"{len(cases)} cases" if cases else "no case"
        return {"case": "", "status": "error", "prediction": None, "viewer": None, "viewer_error": "",
                "message": f"{found} in the upload; send one case: a slice image + its _mask, NIfTI volume(s) + "
                           "_seg/_mask, or a zip of one DICOM series + mask"}
    result = run_predict(bundle, cases, Path(out), cfg)[0]
    doc: dict[str, Any] = {"case": result.case, "status": result.status, "message": result.message,
                           "prediction": None, "viewer": None, "viewer_error": ""}
    if result.status != "ok":
        return doc
    case_dir = Path(out) / result.case
    doc["prediction"] = json.loads((case_dir / PREDICTION_JSON).read_text())
    source = cases[0].source
    assert source is not None  # a graded case was found
    try:
        doc["viewer"] = write_viewer_files(source, bundle, result, case_dir / "viewer")
    except (OSError, ValueError) as err:  # the grade stands; the page says why the volume cannot be shown
        logger.warning("%s: viewer volumes not written: %s", result.case, type(err).__name__)
        doc["viewer_error"] = f"the volume could not be prepared for the viewer ({type(err).__name__})"
    return doc
