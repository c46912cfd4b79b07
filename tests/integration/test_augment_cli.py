"""`gliograde augment` through the CLI: a cohort patient's montage and transform table, a single file, and
its errors. The transforms themselves: tests/unit/test_augment.py."""
from __future__ import annotations

from pathlib import Path

import pytest
from conftest import disk_slice
from fakedata import ingested_cohort

import gliograde
from gliograde import api
from gliograde.cli import main
from gliograde.errors import InputError


def test_cli_on_cohort_writes_montage_and_table(tmp_path) -> None:  # type: ignore[no-untyped-def]
    import json

    import pandas as pd

    from gliograde.cli import main

    ingested_cohort(tmp_path / "cohort")
    out = tmp_path / "out"
    assert main(["augment", str(tmp_path / "cohort"), "--patient", "P1", "--out", str(out), "--roi-only"]) == 0
    table = pd.read_csv(out / "transforms.csv", keep_default_na=False)
    assert len(table) == 57 and table["name"][0] == "identity" and table["index"].tolist() == list(range(57))
    assert set(table["sign"]) == {"positive"}
    info = json.loads((out / "transforms.json").read_text())
    assert info["case"] == "P1" and len(info["transforms"]) == 57
    assert (out / "montage.png").stat().st_size > 0 and (out / "run.json").is_file()
    assert "roi_only: true" in (out / "config.yaml").read_text()


def test_cli_on_single_file_and_errors(tmp_path, capsys) -> None:  # type: ignore[no-untyped-def]
    from PIL import Image

    from gliograde.cli import main

    img, _ = disk_slice(36, 10)
    Image.fromarray(img).save(tmp_path / "case.png")
    out = tmp_path / "d"
    assert main(["augment", str(tmp_path / "case.png"), "--out", str(out), "--dedupe", "effect",
                 "--sign", "negative"]) == 0
    assert (out / "transforms.csv").read_text().count("\n") == 47
    assert main(["augment", str(tmp_path / "case.png"), "--out", str(out), "--roi-only"]) == 2
    assert main(["augment", str(tmp_path / "missing.png"), "--out", str(out)]) == 2
    assert "--roi-only needs a mask" in capsys.readouterr().err


def test_the_api_call_writes_what_the_cli_writes(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    cohort = tmp_path / "c"
    ingested_cohort(cohort)
    assert gliograde.show_augmentation is api.augment and "show_augmentation" in gliograde.__all__
    res = gliograde.show_augmentation(cohort, tmp_path / "api", overrides={"augment": {"subset": 3}}, patient="P1",
                                      progress=False)
    assert main(["-q", "augment", str(cohort), "--out", str(tmp_path / "cli"), "--patient", "P1", "--subset", "3"]) == 0
    assert capsys.readouterr().out.strip() == res.summary.replace(str(tmp_path / "api"), str(tmp_path / "cli"))
    for name in ("montage.png", "transforms.csv", "transforms.json", "config.yaml"):
        assert (tmp_path / "api" / name).read_bytes() == (tmp_path / "cli" / name).read_bytes(), name
    with pytest.raises(InputError, match=r"augment.subset\): got -1"):
        api.augment(cohort, tmp_path / "bad", overrides={"augment": {"subset": -1}})
    assert not (tmp_path / "bad").exists()
