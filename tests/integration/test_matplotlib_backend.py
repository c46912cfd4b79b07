"""A notebook's matplotlib backend survives gliograde, checked in fresh interpreters (subprocesses): importing
every module and drawing figures leave it selected, and pyplot is never loaded. The static checks (no
``matplotlib.use`` in the source, no pyplot import): tests/unit/test_layering.py and tests/unit/test_figures.py."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

SRC = Path(__file__).resolve().parents[2] / "src"
ENTRY_POINTS = {"gliograde.__main__"}  # `python -m gliograde` runs the CLI: importing it would parse argv


def _module_names() -> list[str]:
    names = []
    for path in sorted((SRC / "gliograde").rglob("*.py")):
        rel = path.relative_to(SRC).with_suffix("")
        names.append(".".join(rel.parts[:-1] if rel.name == "__init__" else rel.parts))
    return sorted(n for n in names if n not in ENTRY_POINTS)


_PROBE = """
import importlib, json, sys
import matplotlib
before = matplotlib.get_backend()
changed, skipped, failed = {}, {}, {}
for name in sys.argv[1:]:
    try:
        importlib.import_module(name)
    except ModuleNotFoundError as err:
        if not (err.name or "").startswith("gliograde"):  # an optional extra that is not installed
            skipped[name] = str(err)
            continue
        failed[name] = f"{type(err).__name__}: {err}"
    except Exception as err:
        failed[name] = f"{type(err).__name__}: {err}"
    now = matplotlib.get_backend()
    if now != before:
        changed[name] = now
        matplotlib.use(before)
print(json.dumps({"before": before, "changed": changed, "skipped": skipped, "failed": failed}))
"""


def test_importing_any_module_leaves_the_backend_alone() -> None:
    """A notebook user's backend (here ``svg``, set as MPLBACKEND would) survives importing every module."""
    names = _module_names()
    assert "gliograde.report.cv" in names and len(names) > 40  # the scan sees the package
    env = {**os.environ, "MPLBACKEND": "svg"}
    proc = subprocess.run([sys.executable, "-c", _PROBE, *names], capture_output=True, text=True, env=env,
                          timeout=240, check=False)
    assert proc.returncode == 0, proc.stderr[-3000:]
    res = json.loads(proc.stdout.strip().splitlines()[-1])
    assert res["before"] == "svg"
    assert not res["failed"], f"modules that do not import: {res['failed']}"
    assert not res["changed"], f"importing these modules switched the backend from svg: {res['changed']}"


_NOTEBOOK = """
import sys
import matplotlib
import numpy as np
from pathlib import Path
from gliograde.report.cohort import plot_examples
from gliograde.report.plots import plot_confusion, plot_history
out = Path(sys.argv[1])
plot_history([{"epoch": 1, "train_loss": 1, "train_acc": .5, "val_loss": 1, "val_acc": .5}], out / "h.png")
plot_confusion(np.eye(3, dtype=int), (2, 3, 4), "x", out / "c.png")
plot_examples([(2, np.zeros((8, 8), np.uint8), np.ones((8, 8), bool), "P")], out / "e.png")
print("backend", matplotlib.get_backend(), "pyplot", "matplotlib.pyplot" in sys.modules)
"""


def test_a_notebook_keeps_its_backend(tmp_path: Path) -> None:
    """As in a notebook with its own backend (``svg`` here, as MPLBACKEND sets it): drawing leaves it selected,
    and pyplot is never loaded (it would pick a backend of its own)."""
    env = {**os.environ, "MPLBACKEND": "svg"}
    proc = subprocess.run([sys.executable, "-c", _NOTEBOOK, str(tmp_path)], capture_output=True, text=True,
                          env=env, timeout=120, check=False)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert proc.stdout.split()[-4:] == ["backend", "svg", "pyplot", "False"]
