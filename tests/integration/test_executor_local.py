"""A tiny whole ``cv`` on the local executor, in a fresh interpreter, imports nothing of Ray (installed or not)."""
from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

TESTS = Path(__file__).resolve().parents[1]


def test_a_tiny_cv_on_the_local_executor_imports_nothing_of_ray(tmp_path):
    script = textwrap.dedent(f"""
        import sys
        from pathlib import Path
        sys.path.insert(0, {str(TESTS)!r})
        from fakedata import write_slice_cohort
        import gliograde
        from gliograde.config import CVCfg, IngestCfg, PreprocessCfg, RunConfig, SelectionCfg
        from gliograde.data.cohort import open_cohort
        from gliograde.experiment import run_cv
        root = Path({str(tmp_path)!r})
        write_slice_cohort(root / "raw", [(f"P-{{i}}", 2 + i % 2) for i in range(8)], size=24)
        cfg = RunConfig(ingest=IngestCfg(preprocess=PreprocessCfg(size=24)),
                        cv=CVCfg(folds=2, configs=("handcrafted",), n_boot=5))
        cohort = open_cohort(root / "raw", root / "run", cfg.ingest, progress=False)
        run_cv(cohort, root / "run", cfg, progress=False)
        assert (root / "run" / "predictions.csv").is_file()
        print("ray" in sys.modules, any(m.startswith("ray.") for m in sys.modules))
    """)
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=240)
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.split() == ["False", "False"]
