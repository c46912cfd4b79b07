"""The original case of each patient of an ingested cohort, found again and checked against what ingest read.

An ingested cohort caches one resized crop per row; a model kind that reads every native plane of a case
(``ModelKind.reads == "case"``: the ``prior`` signs) needs the patient's original files. They are found again
the way ingest found them: :func:`gliograde.data.layouts.find_cases` on the folder (or manifest CSV) the cohort
was ingested from, with the layout it was ingested with (a cohort without that record: the folder holding each
row's ``source_image``, through :func:`gliograde.data.layouts.find_case`, as ``gliograde predict``). Every file
is then checked against the sha256 ingest recorded for it (``run.json`` ``input_fingerprint``): a file moved,
removed or edited since ingest is one line naming it and the fix, never a silently different patient.

>>> sorted(recorded_name(Path(p), Path("data/tcga")) for p in ("data/tcga/P1/a.png", "elsewhere/b.png"))
['P1/a.png', 'elsewhere/b.png']
>>> # sources = case_sources(load_cohort(Path("runs/cv/cohort")))   # {patient_id: CaseSource}, manifest order
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from gliograde.config import IngestCfg
from gliograde.data.cohort import read_ingest_cfg
from gliograde.data.dataset import Cohort
from gliograde.data.ingest import load_case
from gliograde.data.layouts import find_case, find_cases
from gliograde.data.source import CaseSource
from gliograde.errors import GliogradeError, InputError
from gliograde.runinfo import sha256_file

#: The fix every message of this module ends with.
FIX = ("the model reads the original files the cohort was ingested from: run from the folder it was ingested "
       "from with the files as they were, or ingest the cohort again")


@dataclass(frozen=True)
class IngestRecord:
    """What an ingest recorded about its inputs.

    Attributes:
        data: the folder or manifest CSV ingested, as given to ingest (None when ``config.yaml`` does not say).
        layout: the layout it was read with. files: {recorded name: sha256}. sha256: the digest over all of
            them ("" when unrecorded). cfg: the ingest settings (defaults when unrecorded).
    """

    data: Path | None = None
    layout: str = "auto"
    files: dict[str, str] = field(default_factory=dict)
    sha256: str = ""
    cfg: IngestCfg = field(default_factory=IngestCfg)

    @property
    def base(self) -> Path | None:
        """The folder recorded names are relative to (as data/ingest.py names them: the cohort folder, or a
        manifest CSV's folder)."""
        if self.data is None:
            return None
        return self.data.parent if self.data.suffix.lower() == ".csv" else self.data


def ingest_record(root: Path) -> IngestRecord:
    """The inputs ``root``'s ingest recorded (``config.yaml`` ``data`` and layout, ``run.json``
    ``input_fingerprint``); empty when missing (a cohort written by hand: nothing to check against)."""
    try:
        config = yaml.safe_load((root / "config.yaml").read_text()) or {}
        fingerprint = json.loads((root / "run.json").read_text()).get("input_fingerprint") or {}
        files = fingerprint.get("files") or {}
        section = config["ingest"] if isinstance(config.get("ingest"), dict) else config
        data, layout = config.get("data"), str(section.get("layout") or "auto")
    except (OSError, ValueError, AttributeError, yaml.YAMLError):
        return IngestRecord()
    try:
        cfg = read_ingest_cfg(root)
    except GliogradeError:  # settings of another version: the layout alone (a DICOM case then reads its defaults)
        cfg = IngestCfg()
    return IngestRecord(Path(str(data)) if data else None, layout, {str(k): str(v) for k, v in files.items()},
                        str(fingerprint.get("sha256") or ""), cfg)


def recorded_name(path: Path, base: Path | None) -> str:
    """The name ingest recorded ``path`` under (relative to ``base`` when inside it, as given otherwise)."""
    return str(path.relative_to(base)) if base is not None and path.is_relative_to(base) else str(path)


def case_files(source: CaseSource) -> list[Path]:
    """Every file a case may be read from (slice images and masks, volumes, the files of a series folder, the
    mask or segmentation), sorted; the one list ``predict``'s packing and the checks here read."""
    paths = [*(p for pair in source.slices.values() for p in pair), *source.images.values(),
             *([source.mask] if source.mask is not None else [])]
    return sorted({f for p in paths for f in ([q for q in p.rglob("*") if q.is_file()] if p.is_dir() else [p])})


def recorded_files(source: CaseSource, record: IngestRecord) -> dict[str, Path]:
    """{the name ingest recorded: file} for a case's files. A DICOM file is recorded by its place in the sorted
    series (file names can carry a patient's name), so a DICOM case is read again by ingest's own reader
    (:func:`gliograde.data.ingest.load_case`, with the recorded settings: its channels and series map decide which
    series) for exactly the names it recorded; any other file is named by its path."""
    if source.kind == "dicom":
        return {recorded_name(Path(n), record.base): f for n, f in load_case(source, record.cfg)[1].items()}
    return {recorded_name(f, record.base): f for f in case_files(source)}


def check_unchanged(source: CaseSource, record: IngestRecord, files: dict[str, Path] | None = None) -> None:
    """Every file of ``source`` that ingest read has the sha256 ingest recorded (files it did not read, e.g. a
    slice folder's planes beyond those ingested, have nothing to compare with). ``files``: the case's
    :func:`recorded_files`, when already made.

    Raises:
        InputError: naming the first changed file.
    """
    for name, f in (recorded_files(source, record) if files is None else files).items():
        want = record.files.get(name)
        if want is not None and f.is_file() and sha256_file(f) != want:
            raise InputError(f"{f}: changed since the cohort was ingested (its sha256 differs from the one "
                             f"recorded in the cohort's run.json); {FIX}")


def row_source(source_image: str, source_mask: str, patient_id: str, record: IngestRecord) -> CaseSource:
    """The case a manifest row was ingested from, checked against ``record``.

    Raises:
        InputError: the file is gone, the folder no longer holds a case with it, or a file changed (see
            :func:`check_unchanged`).
    """
    image = Path(source_image)
    if not image.exists():
        raise InputError(f"{image}: original image of patient {patient_id} not found; {FIX}")
    case, problems = find_case(image.parent, patient_id)
    if case is None:
        raise InputError(f"{image.parent}: {problems[0] if problems else 'no case found'}; {FIX}")
    if image not in case_files(case) and Path(source_mask) != case.mask:
        raise InputError(f"{image}: not part of the case found in {image.parent}; {FIX}")
    check_unchanged(case, record)
    return case


def case_sources(cohort: Cohort, patients: list[str] | None = None) -> dict[str, CaseSource]:
    """{patient_id: the case its rows were ingested from}, in manifest order (``patients``: only those).

    Raises:
        InputError: the data folder, a patient's case or one of its files is gone, or a file changed since ingest.
    """
    record = ingest_record(cohort.root)
    m = cohort.manifest.drop_duplicates("patient_id")
    if patients is not None:
        m = m[m["patient_id"].astype(str).isin(set(patients))]
    rows = list(zip(m["patient_id"].astype(str), m["source_image"].astype(str), m["source_mask"].astype(str),
                    strict=True))
    if record.data is None or not record.files:
        return {p: row_source(i, k, p, record) for p, i, k in rows}
    if not record.data.exists():
        raise InputError(f"{record.data}: the data the cohort was ingested from is not found; {FIX}")
    found = {c.patient_id: c for c in find_cases(record.data, record.layout)[0]}
    out: dict[str, CaseSource] = {}
    have: set[str] = set()
    for pid, image, _ in rows:
        if pid not in found:
            raise InputError(f"{image}: patient {pid}'s case is no longer found in {record.data}; {FIX}")
        files = recorded_files(found[pid], record)
        check_unchanged(found[pid], record, files)
        out[pid] = found[pid]
        have.update(files)
    if patients is None:  # every patient: a file ingest read and no case holds any more (a removed slice)
        labels = {recorded_name(record.data / "labels.csv" if record.data.is_dir() else record.data, record.base)}
        gone = sorted(set(record.files) - have - labels)
        if gone:
            where = record.base / gone[0] if record.base is not None and not Path(gone[0]).is_absolute() else gone[0]
            raise InputError(f"{where}: read at ingest but no longer part of its case ({len(gone)} such file(s)); "
                             f"{FIX}")
    return out
