"""Issue 19: the demo's path at a tiny size. `gliograde synth` -> `ingest` -> `cv --protocol both` writes a report that
opens with the honest-vs-paper comparison on a cohort labelled synthetic (the signal is the provenance those commands
write), and `gliograde report RUN` regenerates it with the run's own bootstrap settings, so the CIs do not change.
Six patients, one slice each, 32 px, the handcrafted configuration and 2 folds keep it to seconds."""
from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from gliograde.cli import main


@pytest.fixture(scope="module")
def both_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    tmp = tmp_path_factory.mktemp("demo")
    assert main(["-q", "synth", "--out", str(tmp / "synth"), "--n", "2", "2", "2", "--slices", "1"]) == 0
    assert main(["-q", "ingest", str(tmp / "synth"), "--out", str(tmp / "cohort"), "--size", "32",
                 "--no-figures"]) == 0
    assert main(["-q", "cv", str(tmp / "cohort"), "--out", str(tmp / "cv"), "--protocol", "both", "--configs",
                 "handcrafted", "--folds", "2", "--n-boot", "100"]) == 0
    return tmp / "cv"


def test_the_both_protocols_report_opens_with_the_leak_on_synthetic_data(both_run: Path) -> None:
    html = (both_run / "report.html").read_text()
    title = re.search(r"<title>(.*?)</title>", html).group(1)  # type: ignore[union-attr]
    assert title == "gliograde cross-validation report: cohort synth (SYNTHETIC data)"
    assert "SYN-" not in title and str(both_run.parent) not in title  # no patient id, no path
    order = [html.index(s) for s in ("<h1>", "<b>Synthetic data.</b>", "<b>honest</b> (primary) and <b>paper</b>",
                                     "Research use only", "<h2>Protocols side by side: honest vs paper</h2>",
                                     "Why the paper protocol scores higher", "<h2>Results</h2>", "<img")]
    assert order == sorted(order)  # the comparison and its explanation come before any result table or figure
    metrics = json.loads((both_run / "metrics.json").read_text())
    assert metrics["cohort"]["synthetic"] and "gliograde synth" in metrics["cohort"]["evidence"]
    assert metrics["patients_per_grade"] == {"2": 2, "3": 2, "4": 2}
    paper = metrics["comparisons"]["paper"]["configs"]["handcrafted"]["pooled_ci"]
    assert paper["unit"] == "patient" and paper["n_units"] == 6


def test_report_regenerates_with_the_runs_settings(both_run: Path, capsys: pytest.CaptureFixture[str]) -> None:
    before = json.loads((both_run / "metrics.json").read_text())
    capsys.readouterr()
    assert main(["report", str(both_run)]) == 0
    out = capsys.readouterr().out
    after = json.loads((both_run / "metrics.json").read_text())
    assert "bootstrap: 100 resamples, seed 0 (config.yaml)" in out
    assert out.startswith("cohort synth (SYNTHETIC data): protocol honest")  # the console table says it too
    assert (after["n_boot"], after["seed"]) == (100, 0)
    for key in ("pooled_auc_ci", "pooled_accuracy_ci"):
        assert after["configs"]["handcrafted"][key] == before["configs"]["handcrafted"][key]
        assert (after["comparisons"]["paper"]["configs"]["handcrafted"][key]
                == before["comparisons"]["paper"]["configs"]["handcrafted"][key])
    assert after["cohort"] == before["cohort"]
