"""``python -m benchmarks study_protocol`` on a small cohort (CPU): figures, one real unit, projections.

``--run-all`` (every unit for real) is not run here: about two minutes even on 48 patients."""
from __future__ import annotations

import sys
from pathlib import Path

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
