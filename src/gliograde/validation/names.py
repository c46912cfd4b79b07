"""How ``gliograde validate`` names patients it reports on: the left-out ones and ``aliases.csv``, without PHI.

``predictions.csv`` keeps the ids of the user's labels, except DICOM patients', which are written as their keyed
alias (:func:`gliograde.prediction.cases.case_alias`; DICOM exports are often named after the PatientID tag).
Patients left out by ``--skip-bad`` could not be read, so whether they are DICOM is unknown: they are all named by
alias, and each problem names a file by its place in the patient's folder (``case-.../file-0003``), not by its
name, unless ``keep_ids``. ``aliases.csv`` (``--write-aliases``) maps every name back to the id and folder.

>>> skipped_names(["Doe-Jane-123"], keep_ids=True)
['Doe-Jane-123']
"""
from __future__ import annotations

from collections.abc import Iterable, Sequence
from pathlib import Path

from gliograde.data.layouts import patient_folder, read_labels
from gliograde.errors import GliogradeError
from gliograde.prediction.cases import case_alias, scrub_files

__all__ = ["alias_rows", "patient_folders", "scrub_problems", "skipped_names"]


def skipped_names(ids: Iterable[str], keep_ids: bool) -> list[str]:
    """The names of left-out patients in metrics.json ``skipped`` and on stdout: keyed aliases unless ``keep_ids``."""
    return [str(p) if keep_ids else case_alias(str(p), False) for p in ids]


def patient_folders(data: Path, labels_file: Path, ids: Iterable[str]) -> dict[str, Path]:
    """Each labelled patient's folder in ``data`` (as ingest finds it: the labels' ``folder``, else
    :func:`~gliograde.data.layouts.patient_folder`); patients whose folder is not there, or labels that cannot be
    read (an ingested cohort's manifest), are left out."""
    data = Path(data)
    if not data.is_dir():
        return {}
    try:
        lab, _ = read_labels(labels_file)
        subdirs = sorted(p.name for p in data.iterdir() if p.is_dir() and not p.name.startswith("."))
    except (OSError, FileNotFoundError, GliogradeError, KeyError, ValueError):
        return {}
    folder_of = {str(p): str(f or "") for p, f in zip(lab["patient_id"], lab["folder"], strict=True)}
    found = {}
    for pid in map(str, ids):
        folder = data / (folder_of.get(pid) or patient_folder(pid, subdirs))
        if pid in folder_of and folder.is_dir():
            found[pid] = folder
    return found


def scrub_problems(problems: Sequence[str], folders: dict[str, Path], keep_ids: bool) -> list[str]:
    """Ingest's problems about left-out patients, each file named by its place in its patient's folder and each
    patient (id, folder) by alias (:func:`gliograde.prediction.cases.scrub_files`), unless ``keep_ids``."""
    lines = [" ".join(str(p).split()) for p in problems]
    if keep_ids:
        return lines
    for pid, folder in sorted(folders.items(), key=lambda kv: len(str(kv[1])), reverse=True):
        try:
            files = sorted(f for f in folder.rglob("*") if f.is_file())
        except OSError:  # an unreadable folder: its path and name are still replaced
            files = []
        names = [str(folder), str(folder.resolve()), folder.name, pid]
        lines = [scrub_files(line, case_alias(pid, False), files, names) for line in lines]
    return lines


def alias_rows(graded: Sequence[str], names: Sequence[str], skipped: Sequence[str], folders: dict[str, Path],
               keep_ids: bool) -> list[dict[str, str]]:
    """``aliases.csv`` rows: the name each patient has in the outputs (``names``: predictions.csv's, for the
    ``graded`` ids in that order; then the left-out ``skipped`` ids, :func:`skipped_names`), its labelled id, whether
    it was graded and its input folder (blank if unknown).

    >>> alias_rows(["P1"], ["P1"], [], {}, keep_ids=False)
    [{'alias': 'P1', 'patient_id': 'P1', 'status': 'graded', 'input': ''}]
    """
    rows = [{"alias": n, "patient_id": str(p), "status": "graded", "input": str(folders.get(str(p), ""))}
            for n, p in zip(names, graded, strict=True)]
    rows += [{"alias": n, "patient_id": str(p), "status": "left out", "input": str(folders.get(str(p), ""))}
             for n, p in zip(skipped_names(skipped, keep_ids), skipped, strict=True)]
    return rows
