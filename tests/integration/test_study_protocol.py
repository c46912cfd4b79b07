"""``python -m benchmarks study_protocol`` on a small cohort (CPU): figures, one real unit, projections; with
``--concurrent``, units at once as Ray processes.

``--run-all`` (every unit for real) is not run here: about two minutes even on 48 patients."""
from __future__ import annotations

import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def test_study_protocol_runs_and_projects(monkeypatch, capsys) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.syspath_prepend(str(ROOT))
    from benchmarks import study_protocol

    res = study_protocol.main(["--device", "cpu", "--preset", "quick", "--patients", "48", "--folds", "2",
                               "--epochs", "2", "--repeats", "1", "--batch-images", "4", "--networks", "alexnet"])
    out = capsys.readouterr().out
    assert "projection, whole protocol (12 CNN units), preset quick" in out and "preset paper" in out
    assert res["cnn_units"] == 12 and res["networks"]["alexnet@227"]["ours_img_s"] > 0
    assert res["networks"]["alexnet@227"]["roofline_fraction"] is None  # no GPU peak on a CPU
    assert res["networks"]["alexnet@227"]["forward_gflop_per_image"] > 0.5  # ~0.7 GFLOP at 227 px
    assert res["one_unit"]["epochs"] <= 2 and res["one_unit"]["unit_s"] > 0
    proj = res["projection_s"]
    assert proj["paper"]["total"] > proj["quick"]["total"] > 0  # fine-tuning AlexNet costs more than a frozen head
    assert set(proj["quick"]) == {"full/honest", "full/paper", "no-pretrain/honest", "no-pretrain/paper",
                                  "no-aug/honest", "no-aug/paper", "total"}
    assert "run_all_s" not in res  # only with --run-all
    assert "efficientnet_lite0@224" not in res["networks"]  # --networks chose AlexNet only
    assert "benchmarks" in sys.modules


def test_concurrent_units_on_the_ray_executor(monkeypatch, capsys) -> None:  # type: ignore[no-untyped-def]
    """``--concurrent 1,2`` on CPU: K units at once as K Ray processes, each K's figures and the choice."""
    ray = pytest.importorskip("ray")
    from raycluster import RAY_ENV

    for key, value in RAY_ENV.items():  # no token authentication, no usage stats (no network)
        monkeypatch.setenv(key, value)
    monkeypatch.syspath_prepend(str(ROOT))
    from benchmarks import study_protocol

    was_running = ray.is_initialized()
    res = study_protocol.main(["--device", "cpu", "--preset", "quick", "--patients", "24", "--folds", "2",
                               "--epochs", "1", "--concurrent", "1,2"])
    out = capsys.readouterr().out
    assert ray.is_initialized() == was_running  # started by the benchmark, shut down by it
    per_k = res["concurrent"]["per_k"]
    assert sorted(per_k) == ["1", "2"]
    assert per_k["1"]["speedup"] == 1.0 and per_k["1"]["units"] == 1 and per_k["2"]["units"] == 2
    assert per_k["2"]["unit_cpus"] == per_k["1"]["unit_cpus"] / 2 and per_k["1"]["unit_gpus"] == 0.0
    for k, v in per_k.items():
        assert v["img_s"] > 0 and v["img_s_wall"] > 0 and v["train_images"] > 0
        assert v["wall_s"] >= v["span_s"] > 0 and 0 <= v["overlap"] <= 1
        assert v["speedup"] == round(v["img_s"] / per_k["1"]["img_s"], 2)
        assert abs(v["img_s"] - v["train_images"] / v["span_s"]) < 0.02 * v["img_s"]  # span_s rounded to 0.01 s
        assert "gpu_peak_allocated_gib_per_process" not in v  # a CPU has no GPU memory
        assert f"concurrent K={k}: {v['units']} units" in out
    best = max(v["img_s"] for v in per_k.values())
    choice = res["concurrent_choice"]
    assert choice in (1, 2) and per_k[str(choice)]["img_s"] >= 0.95 * best
    assert all(per_k[str(k)]["img_s"] < 0.95 * best for k in (1, 2) if k < choice)  # the smallest such K
    assert f"concurrent choice: K={choice}" in out and "nothing about a GPU" in res["concurrent"]["note"]
    assert "networks" not in res and "one_unit" not in res  # with --concurrent, only this is measured


def test_concurrent_list_adds_k1_and_checks(monkeypatch, capsys) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.syspath_prepend(str(ROOT))
    from benchmarks import study_protocol

    assert study_protocol._ks("4,2,2") == (1, 2, 4)  # K=1, the baseline, is always run

    with pytest.raises(SystemExit) as exit_info:
        study_protocol.main(["--concurrent", "0,2"])
    assert exit_info.value.code == 2 and "expected positive integers" in capsys.readouterr().err
