"""What a CV run folder says about itself, for its report: which cohort it ran on (a name safe to print, and
whether the data are synthetic) and the settings its report was computed with (``n_boot``, ``seed``, ``reference``).

**Synthetic data** are recognised from provenance, never from the images. Each command records its input, so the
chain is followed: the run's ``config.yaml`` names its ``cohort`` (an ingested folder); that folder's ``config.yaml``
(written by ``gliograde ingest``) names its ``data``; ``data/run.json`` written by ``gliograde synth`` has
``"command": "synth"``. When a link of the chain is missing (the run was moved, the report is regenerated from another
working folder) two fall-backs hold: every patient id has the form ``gliograde synth`` gives its patients
(``SYN-<site>-<number>``, :func:`gliograde.synth.cohort._simulate_case`), or the run's earlier ``metrics.json``
already recorded the cohort as synthetic. ``evidence`` says which signal decided.

**The cohort's name** is the last component of the data folder (``tcga-lgg``, ``synth``), never the whole path (a
path can hold a patient's name); a name that contains one of the run's patient ids is withheld and replaced by the
data fingerprint's first 12 hex digits.

>>> is_synthetic_id("SYN-XA-0007"), is_synthetic_id("TCGA-CS-4938")
(True, False)
"""
from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import yaml

from gliograde.report.artefacts import read_json

#: The patient ids ``gliograde synth`` writes: SYN, a two-letter site code, a four-digit number (``-`` in the slice
#: layout's labels.csv, ``_`` in folder and case names).
SYNTH_ID = re.compile(r"^SYN[-_][A-Z]{2}[-_]\d{4}$")
#: What cv's report uses when neither the command line nor the run's files give a setting.
REPORT_DEFAULTS: dict[str, Any] = {"n_boot": 2000, "seed": 0, "reference": "full"}


def is_synthetic_id(patient_id: str) -> bool:
    """True when ``patient_id`` has the form ``gliograde synth`` gives its patients."""
    return bool(SYNTH_ID.match(str(patient_id)))


def _yaml(path: Path) -> dict[str, Any]:
    if not path.is_file():
        return {}
    try:
        doc = yaml.safe_load(path.read_text())
    except yaml.YAMLError:
        return {}
    return doc if isinstance(doc, dict) else {}


def _folder(recorded: Any, run_dir: Path) -> Path | None:
    """A folder a run recorded (relative to the working folder it ran in); tried as given, then beside the run."""
    if not recorded:
        return None
    p = Path(str(recorded))
    for cand in (p, run_dir.parent / p.name, run_dir / p.name):
        if cand.exists():
            return cand.parent if cand.is_file() else cand
    return None


def _source_name(data: Any) -> str | None:
    """The printable name of a data source path: its folder's last component (a manifest CSV: its folder's)."""
    if not data:
        return None
    p = Path(str(data))
    if p.suffix.lower() == ".csv":
        p = p.parent if p.stem == "manifest" or not p.stem else p.with_suffix("")
    return p.name or None


def describe_cohort(run_dir: Path, patient_ids: Iterable[str], previous: Mapping[str, Any] | None = None
                    ) -> dict[str, Any]:
    """The cohort of a CV run: ``{"name", "synthetic", "evidence"}`` (see the module docstring).

    Args:
        run_dir: the run folder (``config.yaml``, ``run.json``).
        patient_ids: the patients of its predictions (to check the name holds none and for the id fall-back).
        previous: the ``cohort`` entry of the run's earlier ``metrics.json``, if any.

    Returns:
        ``name``: printable, holds no patient id; ``synthetic``: bool; ``evidence``: the signal that decided.
    """
    run_dir = Path(run_dir)
    ids = sorted({str(p) for p in patient_ids})
    cohort = _folder(_yaml(run_dir / "config.yaml").get("cohort"), run_dir)
    data_recorded = _yaml(cohort / "config.yaml").get("data") if cohort is not None else None
    data = _folder(data_recorded, cohort) if cohort is not None and data_recorded else None
    name = _source_name(data_recorded) or (cohort.name if cohort is not None and cohort.name != "cohort" else None)
    name = name or (previous or {}).get("name")
    if not name or any(p.lower() in name.lower() for p in ids if p):
        sha = ((read_json(run_dir / "run.json").get("input_fingerprint") or {}).get("sha256") or "")[:12]
        name = f"data {sha}" if sha else "unnamed"
    if data is not None and read_json(data / "run.json").get("command") == "synth":
        return {"name": name, "synthetic": True, "evidence": "its data folder was written by `gliograde synth`"}
    if ids and all(is_synthetic_id(p) for p in ids):
        return {"name": name, "synthetic": True,
                "evidence": "every patient id has the form `gliograde synth` writes (SYN-<site>-<number>)"}
    if previous and previous.get("synthetic"):
        return {"name": name, "synthetic": True, "evidence": str(previous.get("evidence", "an earlier report"))}
    return {"name": name, "synthetic": False, "evidence": "no sign of `gliograde synth` in the run's provenance"}


def report_settings(run_dir: Path, *, n_boot: int | None = None, seed: int | None = None,
                    reference: str | None = None) -> dict[str, Any]:
    """The settings to compute a run's report with: each given one as is, else the run's own.

    ``n_boot`` and ``seed`` are the run's ``config.yaml`` ``cv:`` values (what ``gliograde cv`` computed its report
    with), ``reference`` the one of the run's ``metrics.json`` (``--reference`` of the last report), else
    :data:`REPORT_DEFAULTS`. So ``gliograde report RUN`` reproduces the CIs ``gliograde cv`` printed.

    Returns:
        ``{"n_boot", "seed", "reference", "from": {setting: "given" | "config.yaml" | "metrics.json" |
        "default"}}``.
    """
    cv = _yaml(Path(run_dir) / "config.yaml").get("cv") or {}
    cv = cv if isinstance(cv, dict) else {}
    old = read_json(Path(run_dir) / "metrics.json")
    given = {"n_boot": n_boot, "seed": seed, "reference": reference}
    out: dict[str, Any] = {"from": {}}
    for key, value in given.items():
        for where, cand in (("given", value), ("config.yaml", cv.get(key) if key != "reference" else None),
                            ("metrics.json", old.get(key) if key == "reference" else None),
                            ("default", REPORT_DEFAULTS[key])):
            if cand is not None:
                out[key], out["from"][key] = cand, where
                break
    out["n_boot"], out["seed"], out["reference"] = int(out["n_boot"]), int(out["seed"]), str(out["reference"])
    return out
