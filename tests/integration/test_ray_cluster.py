"""A two-node Ray cluster simulated on this machine runs a small `gliograde cv` end to end (issue 14).

``ray start --head --num-cpus 1`` and a second ``ray start --address HEAD --num-cpus 1 --resources '{"node2": 1}'``
(each node its own raylet and object store; one private ``--temp-dir``, loopback only), then ``gliograde cv
--executor ray --ray-address HEAD`` in a child process: the driver connects as it would to a real cluster, the
units run on both nodes, and the run folder holds the same predictions as a local run. The cluster is stopped in
the fixture's teardown, even on failure, by pid (tests/raycluster.py: ``ray stop`` would end every Ray process on
the machine, the session fixture's of test_executor_ray.py included). This process never calls ``ray.init``.
"""
from __future__ import annotations

import json
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pytest
from fakedata import write_slice_cohort
from raycluster import free_port, ray_env, stop_cluster, temp_dir

from gliograde.cli import main

pytest.importorskip("ray", reason="needs the ray extra: pip install 'gliograde[ray]'")

RAY = str(Path(sys.executable).with_name("ray"))
GLIOGRADE = str(Path(sys.executable).with_name("gliograde"))
NODE = ["--num-cpus", "1", "--node-ip-address", "127.0.0.1", "--object-store-memory", str(200 * 2**20),
        "--disable-usage-stats"]
CV = ["--preset", "quick", "--configs", "handcrafted,handcrafted-mlp", "--folds", "2", "--n-boot", "20"]


def _ray(*args: str, tmp: Path) -> None:
    done = subprocess.run([RAY, "start", *args, *NODE, "--temp-dir", str(tmp)], env=ray_env(), capture_output=True,
                          text=True, timeout=120)
    assert done.returncode == 0, f"ray start {' '.join(args)} failed:\n{done.stdout[-2000:]}\n{done.stderr[-2000:]}"


@pytest.fixture()
def cluster() -> Iterator[str]:
    """The head's address (127.0.0.1:PORT) of a running two-node cluster; stopped afterwards."""
    tmp, port = temp_dir(), free_port()
    try:
        _ray("--head", "--port", str(port), "--include-dashboard=false", tmp=tmp)
        _ray("--address", f"127.0.0.1:{port}", "--resources", json.dumps({"node2": 1}), tmp=tmp)
        yield f"127.0.0.1:{port}"
    finally:
        stop_cluster(str(tmp))
        shutil.rmtree(tmp, ignore_errors=True)


def test_two_node_cluster_runs_a_small_cv(cluster: str, tmp_path: Path) -> None:
    write_slice_cohort(tmp_path / "raw", [(f"P-{i:02d}", 2 + i % 2) for i in range(12)], size=32)
    assert main(["-q", "cv", str(tmp_path / "raw"), "--out", str(tmp_path / "local"), *CV]) == 0
    done = subprocess.run([GLIOGRADE, "cv", str(tmp_path / "local" / "cohort"), "--out", str(tmp_path / "ray"), *CV,
                           "--executor", "ray", "--ray-address", cluster], env=ray_env(), capture_output=True,
                          text=True, timeout=240)
    assert done.returncode == 0, done.stderr[-3000:]
    assert "ray: 2 node(s), 2 CPU" in done.stderr, done.stderr[-3000:]  # both nodes joined and were offered
    local, on_ray = (tmp_path / run / "predictions.csv" for run in ("local", "ray"))
    assert on_ray.read_bytes() == local.read_bytes()
    table = pd.read_csv(on_ray)
    assert sorted(table["config"].unique()) == ["handcrafted", "handcrafted-mlp"]  # 4 units: 2 configs x 2 folds
    assert table.groupby("config")["patient_id"].nunique().tolist() == [12, 12]
