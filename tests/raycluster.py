"""Ray runs of the integration tests, each in its own child process and temporary folder, so a test process never
calls ``ray.init`` itself (the session fixture of ``test_executor_ray.py`` owns that) and nothing outlives a test.

Clean-up stops the processes of one cluster only, by pid: those whose command line names the cluster's own
``--temp-dir`` and their descendants. ``ray stop`` is not used: it ends every Ray process on the machine, other
tests' and other users' included.
"""
from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

#: Ray's environment for the test clusters: no token authentication (loopback only, one machine), no usage stats.
RAY_ENV = {"RAY_AUTH_MODE": "disabled", "RAY_USAGE_STATS_ENABLED": "0"}


def ray_env() -> dict[str, str]:
    return {**os.environ, **RAY_ENV}


def temp_dir() -> Path:
    """A short folder under /tmp (Ray's socket paths must stay under 108 characters)."""
    return Path(tempfile.mkdtemp(prefix="ggray-", dir="/tmp"))


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _parents() -> dict[int, int]:
    out = {}
    for d in Path("/proc").iterdir():
        if d.name.isdigit():
            try:
                stat = (d / "stat").read_text()
            except OSError:
                continue
            out[int(d.name)] = int(stat.rsplit(")", 1)[1].split()[1])
    return out


def _cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return ""


def cluster_pids(marker: str) -> set[int]:
    """The processes whose command line holds ``marker`` (a cluster's temp dir) and all their descendants, less
    this process and its ancestors."""
    parent = _parents()
    mine, p = set(), os.getpid()
    while p > 1:
        mine.add(p)
        p = parent.get(p, 1)
    found = {p for p in parent if p not in mine and marker in _cmdline(p)}
    while kids := {p for p, pp in parent.items() if pp in found} - found - mine:
        found |= kids
    return found


def stop_cluster(marker: str, grace_s: float = 5.0) -> int:
    """SIGTERM, then SIGKILL after ``grace_s``, to :func:`cluster_pids`; how many there were."""
    pids = cluster_pids(marker)
    for sig in (signal.SIGTERM, signal.SIGKILL):
        for p in pids:
            try:
                os.kill(p, sig)
            except ProcessLookupError:
                pass
        end = time.monotonic() + grace_s
        while time.monotonic() < end and any(Path(f"/proc/{p}").exists() for p in pids):
            time.sleep(0.2)
    return len(pids)


#: Run gliograde commands (argv lists as JSON) in one process on a new 2-CPU Ray instance of this machine.
CLI_ON_RAY = """
import json, sys
import ray
from gliograde.cli import main
ray.init(address="local", num_cpus=2, include_dashboard=False, _temp_dir=sys.argv[1])
codes = [main(json.loads(a)) for a in sys.argv[2:]]
ray.shutdown()
print("exit codes:", json.dumps(codes), file=sys.stderr)  # each command's, for tests where one may be non-zero
sys.exit(max(codes))
"""


def run_cli_on_ray(*argvs: list[str], timeout: float = 240) -> subprocess.CompletedProcess[str]:
    """``gliograde`` commands in a child process on its own Ray instance (stopped afterwards, even on failure)."""
    import json

    tmp = temp_dir()
    try:
        return subprocess.run([sys.executable, "-c", CLI_ON_RAY, str(tmp), *(json.dumps(a) for a in argvs)],
                              env=ray_env(), capture_output=True, text=True, timeout=timeout)
    finally:
        stop_cluster(str(tmp))
        shutil.rmtree(tmp, ignore_errors=True)
