"""Issue 17: ``gliograde synth`` writes like every command: ``--out`` locked while it runs, the cohort staged and
renamed into place whole (a failure leaves no half cohort and no staging folder)."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from gliograde.cli import main

TINY = ["--n", "1", "1", "1", "--slices", "1", "--workers", "1"]
#: A second process holding OUT's lock, as a concurrent gliograde command would, until its stdin closes.
HOLD = ("import sys; from gliograde.fsio import run_lock\n"
        "with run_lock(sys.argv[1], 'ingest'):\n    print('held', flush=True); sys.stdin.read()\n")


def test_synth_into_a_folder_in_use_is_refused(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "synth"
    holder = subprocess.Popen([sys.executable, "-c", HOLD, str(out)], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                              text=True)
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "held"
        assert main(["synth", "--out", str(out), *TINY]) == 2
        err = capsys.readouterr().err.strip()
        assert len(err.splitlines()) == 1 and f"pid {holder.pid}" in err and "in use" in err
        assert [p.name for p in out.iterdir()] == [".gliograde.lock"]  # nothing written
    finally:
        holder.communicate("")
    assert main(["-q", "synth", "--out", str(out), *TINY]) == 0  # free again: written, lock gone
    assert (out / "labels.csv").is_file() and (out / "run.json").is_file() and not (out / ".gliograde.lock").exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["synth"]  # no staging folder left beside it


def test_a_failed_synth_leaves_no_half_cohort(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import gliograde.synth.cohort as synth

    def crash(*args: object, **kwargs: object) -> None:  # after every patient was written, before the provenance
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(synth, "write_run_info", crash)
    out = tmp_path / "synth"
    assert main(["-q", "synth", "--out", str(out), *TINY]) != 0  # one line, "No space left on device"
    assert list(tmp_path.iterdir()) == []  # neither the cohort without its provenance nor the staging folder
