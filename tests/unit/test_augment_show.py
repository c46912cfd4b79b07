"""`gliograde augment` is thin over the library (issue 12, items 3 and 6): the case loading, the transform table and
the montage live in :mod:`gliograde.augment.show`, callable as ``gliograde.api.augment(...)`` (at the top level
``gliograde.show_augmentation``: ``gliograde.augment`` is the package), and the CLI only parses, resolves, calls
and prints. Tiny images and 3 transforms (+ identity) keep every montage fast."""
from __future__ import annotations

import ast
import csv
import json
from pathlib import Path

import numpy as np
import pytest
import yaml
from conftest import disk_slice
from fakedata import ingested_cohort
from PIL import Image

from gliograde.augment.policy import build_transforms
from gliograde.augment.show import (
    ShowResult,
    load_case,
    show_transforms,
    transform_rows,
    write_table,
)
from gliograde.config import AugmentCfg, IngestCfg
from gliograde.errors import InputError, MaskMismatchError
from gliograde.settings import resolve

CLI_AUGMENT = Path(__file__).resolve().parents[2] / "src" / "gliograde" / "cli" / "augment.py"
FAST = {"augment": {"subset": 3}}


def _image(tmp: Path, size: int = 36, rgb: bool = False) -> tuple[Path, Path]:
    img, m = disk_slice(size, 10)
    Image.fromarray(np.stack([img, img // 2, img], axis=-1) if rgb else img).save(tmp / "case.png")
    Image.fromarray((m * 255).astype(np.uint8)).save(tmp / "case_mask.png")
    return tmp / "case.png", tmp / "case_mask.png"


def test_show_transforms_on_a_cohort_patient(tmp_path: Path) -> None:
    cfg = resolve("augment", overrides={"augment": {"subset": 3, "roi_only": True}})
    res = show_transforms(ingested_cohort(tmp_path / "c"), tmp_path / "o", cfg, patient="P1", progress=False)
    assert isinstance(res, ShowResult) and res.case == "P1" and len(res.transforms) == len(res.rows) == 4
    assert res.transforms[0].name == "identity" and [r["index"] for r in res.rows] == [0, 1, 2, 3]
    assert res.montage.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    doc = json.loads(res.json.read_text())
    assert doc["case"] == "P1" and doc["size"] == [40, 40] and len(doc["transforms"]) == 4
    with open(res.table, newline="") as fh:
        table = list(csv.reader(fh))
    assert table[0] == ["index", "name", "ops", "magnitudes", "bins", "sign"] and len(table) == 5
    assert res.summary == (f"4 versions of P1 (identity, positive, roi-only) -> {tmp_path / 'o' / 'montage.png'}, "
                           f"{tmp_path / 'o' / 'transforms.csv'}")
    written = yaml.safe_load((tmp_path / "o" / "config.yaml").read_text())
    assert written["case"] == "P1" and resolve("augment", config=written) == cfg  # config.yaml replays
    assert len(json.loads((tmp_path / "o" / "run.json").read_text())["input_fingerprint"]["files"]) == 2


def test_the_first_patient_is_the_default(tmp_path: Path) -> None:
    case = load_case(ingested_cohort(tmp_path / "c"), tmp_path / "o", IngestCfg(), progress=False)
    assert case.label == "P0" and case.image.shape == (1, 40, 40) and case.image.dtype == np.uint8
    assert case.mask is not None and case.mask.dtype == np.bool_ and case.mask.shape == (40, 40)
    assert case.image.flags["C_CONTIGUOUS"] and [f.name for f in case.files] == ["P0.png", "P0_mask.png"]


def test_a_single_image_with_and_without_mask(tmp_path: Path) -> None:
    image, mask = _image(tmp_path, rgb=True)
    case = load_case(image, tmp_path / "o", IngestCfg(), mask=mask)
    assert case.label == "case" and case.image.shape == (3, 36, 36) and case.mask is not None
    bare = load_case(image, tmp_path / "o", IngestCfg())
    assert bare.mask is None and bare.files == (image,)
    cfg = resolve("augment", overrides={"augment": {"subset": 3, "roi_only": True}})
    with pytest.raises(InputError, match="--roi-only needs a mask"):
        show_transforms(image, tmp_path / "o", cfg)
    assert not (tmp_path / "o").exists()  # refused before anything is written
    assert show_transforms(image, tmp_path / "o", cfg, mask=mask).case == "case"


def test_bad_inputs_are_one_line_errors(tmp_path: Path) -> None:
    image, _ = _image(tmp_path)
    Image.fromarray(np.zeros((10, 10), np.uint8)).save(tmp_path / "small_mask.png")
    with pytest.raises(MaskMismatchError, match=r"mask shape \(10, 10\) != image shape \(36, 36\)"):
        load_case(image, tmp_path, IngestCfg(), mask=tmp_path / "small_mask.png")
    Image.fromarray(np.zeros((8, 8), np.uint16)).save(tmp_path / "deep.png")
    with pytest.raises(InputError, match="expected an 8-bit grey or multi-channel image"):
        load_case(tmp_path / "deep.png", tmp_path, IngestCfg())
    (tmp_path / "junk.png").write_bytes(b"not a png")
    with pytest.raises(InputError, match="not an image file"):
        load_case(tmp_path / "junk.png", tmp_path, IngestCfg())
    with pytest.raises(InputError, match="image not found"):
        load_case(tmp_path / "missing.png", tmp_path, IngestCfg())
    with pytest.raises(InputError, match=r"no patient 'P9'; choose one of \['P0', 'P1'\]"):
        load_case(ingested_cohort(tmp_path / "c"), tmp_path / "o", IngestCfg(), patient="P9")


def test_table_rows_and_files(tmp_path: Path) -> None:
    transforms = build_transforms(AugmentCfg(subset=2, sign="negative"))
    rows = transform_rows(transforms, (30, 20))
    assert [r["index"] for r in rows] == [0, 1, 2] and {r["sign"] for r in rows} == {"negative"}
    js, table = write_table(rows, "X", (30, 20), tmp_path)
    assert json.loads(js.read_text()) == {"case": "X", "size": [30, 20], "transforms": json.loads(json.dumps(rows))}
    assert table.read_text().count("\n") == 4


def test_the_cli_module_is_thin() -> None:
    """cli/augment.py parses, resolves, calls the library and prints: no image, table or montage code of its own."""
    tree = ast.parse(CLI_AUGMENT.read_text())
    imported = {a.name.split(".")[0] if isinstance(n, ast.Import) else (n.module or "")
                for n in ast.walk(tree) if isinstance(n, (ast.Import, ast.ImportFrom)) for a in n.names}
    assert not imported & {"csv", "json", "numpy", "torch", "PIL", "gliograde.report.montage",
                           "gliograde.augment.policy", "gliograde.data.cohort"}, imported
    functions = [n.name for n in tree.body if isinstance(n, ast.FunctionDef)]
    assert functions == ["add_parser", "run"]
