"""Issue 19, README: every ``gliograde`` command of the README's ```bash blocks runs as written, in the README's
order, on stand-ins for the data it names (a tiny cohort of each kind written here).

What runs how, and why (the whole test must stay near a minute on 2 CPU cores):
* every command: its subcommand exists and every input it names (positional paths, ``--labels``, ``--compare``,
  ``--cv-run``, ``--config``) is either one of the stand-ins below or a folder an earlier README command writes
  (its ``--out``; ``OUT/compare/paper`` of ``--protocol both``): an example naming a folder no command creates fails;
* every command of a subcommand with ``--print-config`` (ingest, augment, train, cv, predict, validate): run with it
  appended, so each flag and value is parsed and checked exactly as written;
* one real run of every cheap kind, as written on the stand-ins: synth (with ``--n 1 1 1`` appended: its 130 or
  15 patients take minutes), ingest (each layout), augment, train with the ``quick`` preset, predict, validate,
  export, report. Not run for real: ``cv`` (minutes per example even on a tiny cohort: its runs are the demo's and
  tests/integration/test_cv_*), ``train`` with another preset (``paper`` needs the user's AlexNet file; the
  ``recommended`` radiomics bundle is tested in test_train_radiomics_cli), nor a command reading their outputs
  (these get --print-config only), ``serve`` (a server; tests/integration/test_serve_*) and ``make`` (the demo and the
  suite themselves). ``report`` reads run folders that the cv examples would write: :func:`fakedata.make_run`
  writes them here.
"""
from __future__ import annotations

import csv
import os
import re
import shlex
import shutil
from pathlib import Path

import nibabel as nib
import numpy as np
import pytest
from conftest import REPO
from fakedata import make_run, volume, write_dicom_series, write_nifti_cohort, write_slice_cohort

from gliograde.cli import build_parser, main

README = REPO / "README.md"
PRINT_CONFIG = {"ingest", "augment", "train", "cv", "predict", "validate"}
#: Flags whose value is an input path (checked like the positional inputs).
INPUT_FLAGS = ("--labels", "--compare", "--cv-run", "--config")


def readme_commands(text: str) -> list[list[str]]:
    """The ``gliograde`` command lines of the ```bash blocks, comments stripped, as argv lists (``gliograde``
    dropped)."""
    out = []
    for block in re.findall(r"```bash\n(.*?)```", text, flags=re.S):
        for line in block.splitlines():
            words = shlex.split(line, comments=True)
            if words and words[0] == "gliograde":
                out.append(words[1:])
    return out


def test_the_readme_states_the_requirements_and_has_commands_of_every_kind() -> None:
    text = README.read_text()
    kinds = {argv[0] for argv in readme_commands(text)}
    assert kinds >= {"synth", "ingest", "augment", "train", "cv", "predict", "validate", "export", "report", "serve"}
    requirements = text[text.index("## Requirements"):text.index("## Two commands")]  # main: no such section
    assert "Python 3.11" in requirements and re.search(r"\d+(\.\d+)? GB of disk", requirements)
    assert re.search(r"installs everything \(about \d+ minutes", requirements)


def _stand_ins(root: Path) -> dict[str, Path]:
    """What the README names that a user brings: tiny cohorts of each layout, a case folder, a slice, files."""
    tcga = write_slice_cohort(root / "tcga-lgg", [(f"TCGA-{site}-{i:04d}", 2 + i % 2) for i, site in
                                                  enumerate(["CS", "DU", "FG", "CS", "DU", "FG", "CS", "DU", "FG",
                                                             "CS", "DU", "FG"])], size=40)
    _set_sites(tcga)
    hospital = write_slice_cohort(root / "hospital_b", [(f"HB-{i:02d}", 2 + i % 2) for i in range(6)], size=40)
    brats = write_nifti_cohort(root / "brats-volumes", [(f"Brats18_X_{i}", 2 + i % 3) for i in range(4)])
    manifest = root / "cohort.csv"
    with open(manifest, "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["patient_id", "grade", "image", "mask"])
        for case in sorted(p for p in brats.iterdir() if p.is_dir()):
            w.writerow([case.name, 2 if case.name.endswith(("0", "3")) else 3, case / f"{case.name}_t1ce.nii.gz",
                        case / f"{case.name}_seg.nii.gz"])
    dicom = root / "dicom-cohort"
    for i in range(4):
        vol, seg = volume((24, 24, 8), centre=3, seed=i)
        write_dicom_series(dicom / f"D{i}", vol)
        nib.save(nib.Nifti1Image(np.where(seg > 0, 4, 0).astype(np.uint8), np.eye(4)), dicom / f"D{i}" / "mask.nii.gz")
    (dicom / "labels.csv").write_text("patient_id,who_grade\n" + "".join(f"D{i},{2 + i % 2}\n" for i in range(4)))
    case = root / "case_dir"
    shutil.copytree(next(p for p in sorted(hospital.iterdir()) if p.is_dir()), case)
    shutil.copy(next(case.glob("*_0.png")), root / "scan.png")
    shutil.copy(next(case.glob("*_0_mask.png")), root / "scan_mask.png")
    du = root / "du.csv"
    du.write_text("".join(line + "\n" for line in (tcga / "labels.csv").read_text().splitlines()
                          if line.startswith("patient_id") or "-DU-" in line))
    weights = root / "alexnet-owt-7be5be79.pth"
    weights.write_bytes(b"not read: --print-config only")
    return {"../shared/data/tcga-lgg": tcga, "../shared/data/brats-volumes": brats, "../hospital_b": hospital,
            "cohort.csv": manifest, "dicom-cohort": dicom, "case_dir/": case, "case_dir": case,
            "scan.png": root / "scan.png", "du.csv": du, "~/alexnet-owt-7be5be79.pth": weights}


def _set_sites(root: Path) -> None:
    """The institution column from the TCGA id (``TCGA-CS-0001`` -> CS), as in the real labels."""
    rows = list(csv.DictReader(open(root / "labels.csv")))
    for r in rows:
        r["institution"] = r["patient_id"].split("-")[1]
    with open(root / "labels.csv", "w", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=list(rows[0]))
        w.writeheader()
        w.writerows(rows)


def _inputs(argv: list[str]) -> list[str]:
    """The input paths of a command: its positionals and the values of :data:`INPUT_FLAGS`."""
    parser = build_parser()
    sub = parser._subparsers._group_actions[0].choices[argv[0]]  # type: ignore[union-attr]
    takes_value = {o for a in sub._actions if a.nargs != 0 for o in a.option_strings}
    found, i = [], 1
    while i < len(argv):
        word = argv[i]
        if word in INPUT_FLAGS:
            found.append(argv[i + 1])
            i += 2
        elif word in takes_value:
            i += 2 if word != "--n" else 4  # synth --n takes three counts
        elif word.startswith("-"):
            i += 1
        else:
            found.append(word)
            i += 1
    return found


def _writes(argv: list[str]) -> list[str]:
    """What a command creates for later ones: its --out (and the paper half of --protocol both, the cohort a
    raw-folder train ingests)."""
    if "--out" not in argv:
        return []
    out = argv[argv.index("--out") + 1].rstrip("/")
    extra = [f"{out}/compare/paper"] if "both" in argv else []
    return [out, *extra, f"{out}.cohort"]


def _real(argv: list[str]) -> list[str] | None:
    """The argv of the real run of a README command, or None when it only gets --print-config (module doc)."""
    kind = argv[0]
    preset = argv[argv.index("--preset") + 1] if "--preset" in argv else None
    if kind in ("cv", "serve") or (kind == "train" and preset != "quick"):
        return None
    if kind == "synth":  # appended: the last --n wins, the other flags stay as written
        return [*argv, "--n", "1", "1", "1"]
    return argv


@pytest.mark.timeout(900)  # about 60 s of CPU; several minutes of wall time when the box is loaded
def test_every_readme_command_runs_as_written_on_stand_ins(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    subs = _stand_ins(tmp_path / "data")
    work = tmp_path / "work"
    work.mkdir()
    monkeypatch.chdir(work)
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    created: set[str] = set()  # what earlier commands write
    made: set[str] = set()  # of those, what a real run wrote here
    commands = readme_commands(README.read_text())
    problems = []
    for n, written in enumerate(commands, 1):
        argv = [str(subs.get(w, w)) for w in written]
        where = f"README command {n} `gliograde {shlex.join(written)}`"
        for path in _inputs(written):
            if path not in subs and path.rstrip("/") not in created:
                problems.append(f"{where}: names {path}, which no earlier README command creates")
        created.update(_writes(written))
        if argv[0] in PRINT_CONFIG:
            rc = main([*argv, "--print-config"])
            if rc != 0:
                problems.append(f"{where} --print-config: exit {rc}")
        real = _real(argv)
        # a real run needs its inputs made for real: one reading the output of a --print-config-only example
        # (a bundle of the recommended preset, say) stops at --print-config too
        if real is None or any(p not in subs and p.rstrip("/") not in made for p in _inputs(written)
                               if written[0] != "report"):
            continue
        if real[0] == "report":  # the cv runs it reads are not run here (module doc): stand-in run folders
            for path in _inputs(written):
                if not (work / path / "predictions.csv").exists():
                    make_run(work / path, classes=(2, 3), n_patients=12, n_folds=2)
        rc = main(real)
        if rc != 0:
            problems.append(f"{where}: exit {rc}")
        made.update(_writes(written))
    assert not problems, "\n".join(problems)
    assert os.listdir(work)  # the commands wrote their outputs here
