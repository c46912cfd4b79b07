"""An ingested cohort's original cases, found again from its manifest (what the ``prior`` kind reads in cv, train and
validate): the same files ingest read, and a file gone or changed since ingest is one line naming it and the fix."""
from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest
from fakedata import write_slice_cohort

from gliograde.cli import main
from gliograde.config import IngestCfg
from gliograde.data.dataset import load_cohort
from gliograde.data.ingest_run import run_ingest
from gliograde.data.origin import case_files, case_sources, ingest_record, recorded_name
from gliograde.errors import InputError

PATIENTS = [(f"P-{i:02d}", 2 + i % 2) for i in range(4)]


def test_a_changed_or_removed_original_is_named_with_the_fix(tmp_path: Path,
                                                              capsys: pytest.CaptureFixture[str]) -> None:
    raw = write_slice_cohort(tmp_path / "raw", PATIENTS, size=32)
    run_ingest(raw, tmp_path / "cohort", IngestCfg(), figures=False, progress=False)
    cohort = load_cohort(tmp_path / "cohort")
    sources = case_sources(cohort)
    assert list(sources) == [p for p, _ in PATIENTS]
    record = ingest_record(cohort.root)
    files = case_files(sources["P-01"])
    assert files and all(recorded_name(f, record.base) in record.files for f in files)  # every file is checked
    assert main(["-q", "train", str(tmp_path / "cohort"), "--kind", "prior", "--out", str(tmp_path / "b")]) == 0

    changed = files[0]
    original = changed.read_bytes()
    changed.write_bytes(original + b"\0")  # still a readable PNG: only the fingerprint can tell
    fix = "; the model reads the original files the cohort was ingested from: .* or ingest the cohort again$"
    with pytest.raises(InputError, match=rf"^{re.escape(str(changed))}: changed since the cohort was ingested.*{fix}"):
        case_sources(cohort)
    capsys.readouterr()
    assert main(["-q", "train", str(tmp_path / "cohort"), "--kind", "prior", "--out", str(tmp_path / "b2")]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and str(changed) in err and "ingest the cohort again" in err
    assert not (tmp_path / "b2" / "model.json").exists()

    changed.write_bytes(original)
    assert case_sources(cohort).keys() == sources.keys()
    gone = sources["P-02"].slices[min(sources["P-02"].slices)][0]
    gone.unlink()
    gone_msg = rf"^{re.escape(str(gone))}: read at ingest but no longer part of its case.*{fix}"
    with pytest.raises(InputError, match=gone_msg):
        case_sources(cohort)
    shutil.rmtree(gone.parent)
    with pytest.raises(InputError, match=rf"patient P-02's case is no longer found in .*{fix}"):
        case_sources(cohort)
