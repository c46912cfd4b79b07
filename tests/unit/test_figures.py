"""Every figure of gliograde comes from gliograde.report, on matplotlib's Figure API: each writes its PNG
without switching the backend or leaving pyplot figures open, and both pages share one HTML wrapper. A notebook
keeping its backend, in a subprocess: tests/integration/test_matplotlib_backend.py."""
from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import matplotlib
import numpy as np
import pandas as pd
import pytest
import torch
from conftest import disk_slice
from matplotlib import _pylab_helpers
from PIL import Image

from gliograde.augment.policy import build_transforms
from gliograde.config import AugmentCfg
from gliograde.report.cohort import MontageCollector, plot_examples, plot_tumour_areas
from gliograde.report.cv import write_report
from gliograde.report.html import CSS, html_page
from gliograde.report.montage import montage
from gliograde.report.plots import plot_history
from gliograde.report.validation import write_outputs
from gliograde.validation.metrics import validation_metrics
from gliograde.validation.run import ValidateCfg

PNG = b"\x89PNG\r\n\x1a\n"
CLASSES = (2, 3, 4)


def _proba(rng: np.random.Generator, labels: list[int]) -> np.ndarray:
    p = rng.dirichlet(np.ones(len(CLASSES)), len(labels))
    p[np.arange(len(labels)), [CLASSES.index(g) for g in labels]] += 1.0
    return p / p.sum(axis=1, keepdims=True)


def _cv_run(root: Path, n: int = 18) -> Path:
    """The artefacts `gliograde cv` writes, as small as the report accepts: one config, 3 folds, histories."""
    rng = np.random.default_rng(0)
    labels = [CLASSES[i % 3] for i in range(n)]
    p = _proba(rng, labels)
    df = pd.DataFrame({"patient_id": [f"P{i:02d}" for i in range(n)], "fold": [(i // 3) % 3 for i in range(n)],
                       "config": "full", "label": labels, **{f"p_{g}": p[:, k] for k, g in enumerate(CLASSES)}})
    root.mkdir(parents=True)
    df.to_csv(root / "predictions.csv", index=False)
    (root / "folds.json").write_text(json.dumps({"protocol": "honest", "n_splits": 3, "seed": 0}))
    (root / "history" / "full").mkdir(parents=True)
    for k in range(3):
        pd.DataFrame({"epoch": [1, 2, 3], "train_loss": [1.0, 0.8, 0.6], "val_loss": [1.1, 0.9, 0.8 + k / 10],
                      "train_acc": [0.4, 0.6, 0.7], "val_acc": [0.4, 0.5, 0.6]}).to_csv(
            root / "history" / "full" / f"fold{k}.csv", index=False)
    return root


def _validation(out: Path, n: int = 30) -> list[Path]:
    rng = np.random.default_rng(1)
    labels = [CLASSES[i % 3] for i in range(n)]
    p = _proba(rng, labels)
    table = pd.DataFrame({"patient_id": [f"V{i}" for i in range(n)], "site": "A", "label": labels,
                          **{f"p_{g}": p[:, k] for k, g in enumerate(CLASSES)}})
    cfg = ValidateCfg(n_boot=20)
    metrics = validation_metrics(table, CLASSES, cfg)
    metrics.update(model={"path": "bundle", "kind": "toy", "fingerprint": "0" * 8, "classes": list(CLASSES)},
                   training_estimates={}, seconds={"predict": 0.1})
    return write_outputs(out, table, metrics, CLASSES, seed=cfg.seed, config={"validate": cfg},
                         fingerprint={"sha256": "f", "n_files": n})


def _ingest_figures(tmp: Path) -> list[Path]:
    tmp.mkdir(parents=True, exist_ok=True)
    previews = [(g, *disk_slice(32, seed=s), f"P{s}") for g in CLASSES for s in range(2)]
    rows = []
    for g in CLASSES:
        Image.fromarray(disk_slice(32, seed=g)[0]).save(tmp / f"{g}.png")
        rows.append({"grade": g, "cache_path": f"{g}.png", "representative": True})
    return [plot_examples(previews, tmp / "figures" / "examples_per_grade.png"),
            plot_tumour_areas(pd.DataFrame(rows), tmp, tmp / "figures" / "tumour_areas.png")]


def _synth_montage(tmp: Path) -> list[Path]:
    collector = MontageCollector(per_grade=1)
    img, mask = disk_slice(256, radius=40)
    collector.add(3, np.stack([img] * 3, axis=-1), mask)
    return [collector.save(tmp / "montage.png")]


def _augment_montage(tmp: Path) -> list[Path]:
    img, mask = disk_slice(32)
    return [montage(torch.from_numpy(img)[None], build_transforms(AugmentCfg(subset=3)), tmp / "m" / "montage.png",
                    masks=torch.from_numpy(mask), roi_only=True)]


def _history(tmp: Path) -> list[Path]:
    hist = [{"epoch": e, "train_loss": 1 / e, "train_acc": 0.5, "val_loss": 1.1 / e, "val_acc": 0.4} for e in (1, 2)]
    return [plot_history(hist, tmp / "train" / "history.png", best_epoch=1)]


def _cv_report(tmp: Path) -> list[Path]:
    run = _cv_run(tmp / "run")
    write_report(run, n_boot=20)
    return sorted((run / "figures").glob("*.png"))


FIGURES: dict[str, Callable[[Path], list[Path]]] = {
    "cv report": _cv_report, "validation": lambda t: [p for p in _validation(t / "val") if p.suffix == ".png"],
    "ingest": _ingest_figures, "synth montage": _synth_montage, "augment montage": _augment_montage,
    "training curves": _history,
}
NAMES = {  # the file names the pages and the CLI's messages promise
    "cv report": {"roc_all.png", "roc_full.png", "reliability_full.png", "confusion_full.png", "training_full.png",
                  "calibration_full.png"},
    "validation": {"roc.png", "reliability.png", "confusion.png", "calibration.png"},
    "ingest": {"examples_per_grade.png", "tumour_areas.png"}, "synth montage": {"montage.png"},
    "augment montage": {"montage.png"}, "training curves": {"history.png"},
}


@pytest.fixture(scope="module")
def drawn(tmp_path_factory: pytest.TempPathFactory) -> dict[str, tuple[list[Path] | Exception, int]]:
    """Every figure drawn once with ``matplotlib.use`` refused: its paths (or its error), pyplot figures made."""
    def refuse(*args: object, **kwargs: object) -> None:
        raise AssertionError(f"matplotlib.use{args} called: a library must leave the backend to its user")

    out: dict[str, tuple[list[Path] | Exception, int]] = {}
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(matplotlib, "use", refuse)
        for name, draw in FIGURES.items():
            folder = tmp_path_factory.mktemp(name.replace(" ", "_"))
            before = len(_pylab_helpers.Gcf.get_all_fig_managers())
            try:
                result: list[Path] | Exception = draw(folder)
            except Exception as err:  # reported by the test of this figure
                result = err
            out[name] = (result, len(_pylab_helpers.Gcf.get_all_fig_managers()) - before)
    return out


@pytest.mark.parametrize("name", sorted(FIGURES))
def test_figure_is_drawn_without_backend_switch_or_pyplot(
        name: str, drawn: dict[str, tuple[list[Path] | Exception, int]]) -> None:
    paths, pyplot_figures = drawn[name]
    if isinstance(paths, Exception):
        raise paths
    assert {p.name for p in paths} == NAMES[name]
    assert all(p.read_bytes()[:8] == PNG for p in paths)
    assert pyplot_figures == 0  # drawn on matplotlib.figure.Figure, not through pyplot's global figures


def test_both_pages_share_one_wrapper(drawn: dict[str, tuple[list[Path] | Exception, int]]) -> None:
    pages = []
    for name in ("cv report", "validation"):
        paths = drawn[name][0]
        assert not isinstance(paths, Exception), paths
        pages.append((paths[0].parents[1] / "report.html").read_text())
    head = html_page("T", "").split("<title>")[0]
    for page in pages:  # one wrapper and one stylesheet for both pages, no links or scripts
        assert page.startswith(head) and f"<style>{CSS}</style>" in page
        assert "<script" not in page and "href=" not in page and page.count("data:image/png;base64,") >= 3
