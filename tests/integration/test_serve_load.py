"""A bounded load test on loopback: 20 different cases uploaded at once to a real uvicorn server with two worker
processes all finish, each with its own grade (equal to `gliograde predict`'s for that case: no crossed results)."""
from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

pytest.importorskip("fastapi", reason="the web extra (pip install 'gliograde[web]') is not installed")

import httpx  # noqa: E402

from gliograde.bundles import load_bundle  # noqa: E402
from gliograde.config import PredictCfg  # noqa: E402
from gliograde.prediction.run import run_predict  # noqa: E402
from gliograde.serve.app import create_app  # noqa: E402
from gliograde.serve.settings import ServeCfg  # noqa: E402
from tests.fakedata import cnn_bundle  # noqa: E402
from tests.serve_support import free_port, nifti_case, running_server, upload_files, wait_graded  # noqa: E402

N = 20


def test_twenty_concurrent_uploads_all_correct_and_uncrossed(tmp_path: Path) -> None:
    bundle = cnn_bundle(tmp_path)
    cases = [nifti_case(tmp_path / "cases", f"Case_{i:02d}", seed=i, gain=1.0 + 0.05 * i) for i in range(N)]
    loaded = load_bundle(bundle)
    want = {r.case: r for r in run_predict(loaded, cases, None, PredictCfg(threads=1))}
    assert len({tuple(r.probabilities.values()) for r in want.values()}) == N  # distinct: a swap would show
    port = free_port()
    cfg = ServeCfg(bundle=bundle, workers=2, port=port, max_pending=N, workdir=tmp_path / "work")
    with running_server(create_app(cfg), port) as url, httpx.Client(base_url=url, timeout=120) as client:

        def one(case: Path) -> dict:  # type: ignore[type-arg]
            answer = client.post("/api/cases", files=upload_files(case))
            assert answer.status_code == 202, answer.text
            return wait_graded(client.get, answer.json()["id"])

        with ThreadPoolExecutor(N) as pool:
            docs = list(pool.map(one, cases))
        assert client.get("/api/health").json()["ok"]
        listed = client.get("/api/cases").json()
    assert [d["status"] for d in docs] == ["ok"] * N
    for doc in docs:
        expected = want[doc["case"]]
        assert doc["grade"] == expected.grade
        assert doc["probabilities"] == {str(g): p for g, p in expected.probabilities.items()}
        assert doc["prediction"]["slice_index"] == expected.slice_index
    assert sorted(d["case"] for d in docs) == sorted(want)  # every case once, none twice
    assert len(listed) == N and len({d["id"] for d in listed}) == N
