"""A ``native``-feature radiomics bundle graded on a case of other dimensions than it was trained on: trained on 2-D
slices (PNG), given a 3-D NIfTI volume. Main computed the volume's 3-D features and then failed with "case gives
163 features (2 channel(s)) but the model was trained on 155 (flair+t1ce); give those sequences", which points at
the sequences, not at the dimensions. Now: one line naming the case's file, the problem and the fix, before any
work on that case (its files are not read)."""
from __future__ import annotations

from pathlib import Path

import pytest
from fakedata import write_nifti_cohort, write_slice_cohort

from gliograde import cli
from gliograde.baselines import native
from gliograde.bundles.radiomics import RadiomicsBundle
from gliograde.bundles.registry import get_kind, load_bundle
from gliograde.config import CVCfg, IngestCfg, PreprocessCfg, RunConfig, SelectionCfg
from gliograde.data.dataset import load_cohort
from gliograde.data.ingest_run import run_ingest
from gliograde.data.layouts import find_case
from gliograde.data.source import CaseSource
from gliograde.errors import InputError

pytest.importorskip("radiomics")

TRAIN = [(f"T-{i:02d}", 2 if i % 2 else 3) for i in range(10)]
PROBLEM = r"computed in 2-D at training \(slice images\), but this case is a 3-D volume"
FIX = "grade it with a bundle trained on volumes (NIfTI or DICOM), or pass the case's representative slice as a 2-D"


@pytest.fixture(scope="module")
def slice_bundle(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A radiomics bundle of the ``native`` family trained on 2-D PNG slices (flair + t1ce)."""
    tmp = tmp_path_factory.mktemp("native2d")
    raw = write_slice_cohort(tmp / "raw", TRAIN, size=40, channels=3)
    run_ingest(raw, tmp / "cohort", IngestCfg(channels=("flair", "t1ce"), preprocess=PreprocessCfg(size=48)),
               figures=False, progress=False)
    sel = SelectionCfg(inner_folds=3, classifiers=("logreg",), select_k=(3,), features=("native",), spacing=(0.9, 0.9))
    get_kind("radiomics").train(load_cohort(tmp / "cohort"), tmp / "b", RunConfig(preset="test", kind="radiomics",
                                                                                  cv=CVCfg(selection=sel)),
                                progress=False)
    return tmp / "b"


def test_a_volume_for_a_bundle_of_slices_is_one_line_naming_the_file_before_any_work(
        slice_bundle: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    bundle = load_bundle(slice_bundle)
    assert isinstance(bundle, RadiomicsBundle)
    assert native.trained_dims(bundle.feature_names) == {2}
    case = write_nifti_cohort(tmp_path / "nii", [("BraTS_001", 2)]) / "BraTS_001"
    source, problems = find_case(case, "BraTS_001")
    assert source is not None and source.kind == "volume", problems

    def no_work(*args: object, **kwargs: object) -> None:
        raise AssertionError("the case was read before it was refused")

    monkeypatch.setattr(native, "read_case", no_work)
    with pytest.raises(InputError, match=PROBLEM) as err:
        bundle.predict_case(source)
    msg = str(err.value)
    assert "\n" not in msg and FIX in msg
    assert msg.startswith(str(next(iter(source.images.values())))) and msg.split(": ")[0].endswith(".nii.gz")
    assert "give those sequences" not in msg and "features but the model" not in msg  # main's misleading line


def test_predict_on_the_command_line_says_it_once_and_exits_2(slice_bundle: Path, tmp_path: Path,
                                                              capsys: pytest.CaptureFixture[str]) -> None:
    case = write_nifti_cohort(tmp_path / "nii", [("BraTS_001", 2)]) / "BraTS_001"
    assert cli.main(["predict", str(slice_bundle), str(case), "--out", str(tmp_path / "pred"), "--no-cam"]) == 2
    err = capsys.readouterr().err
    (line,) = [x for x in err.splitlines() if x.startswith("gliograde predict: error: ")]  # once, one line
    assert line.startswith("gliograde predict: error: case-") and "file-0000: the model's native features" in line
    assert FIX in line and "BraTS_001" not in err  # the file by its place in the case, not its name


def test_the_check_in_both_directions_and_where_it_cannot_tell(tmp_path: Path) -> None:
    two_d, three_d = ["roi_original_shape2D_Elongation", "flair_x"], ["roi_original_shape_Elongation", "flair_x"]
    volume = CaseSource("C1", 0, kind="volume", images={"flair": tmp_path / "C1_flair.nii.gz"}, mask=tmp_path / "s")
    slices = CaseSource("C2", 0, kind="slices", slices={1: (tmp_path / "C2_1.png", tmp_path / "C2_1_mask.png")})
    dicom = CaseSource("C3", 0, kind="dicom", images={"series": tmp_path / "C3"}, mask=tmp_path / "m.nii.gz")
    native.check_dims(slices, two_d)
    native.check_dims(volume, three_d)
    native.check_dims(dicom, three_d)
    for case in (volume, slices, dicom):
        native.check_dims(case, [*two_d, *three_d])  # a model trained on slices and volumes takes either
        native.check_dims(case, ["flair_original_glcm_Contrast"])  # no shape column: the dimensions are unknown
    with pytest.raises(InputError, match=rf"^{tmp_path / 'C3'}: .*{PROBLEM}"):
        native.check_dims(dicom, two_d)
    with pytest.raises(InputError, match=rf"^{tmp_path / 'C2_1.png'}: .*computed in 3-D at training .* 2-D slice "
                                         "images; grade it with a bundle trained on slices, or pass the case's volume"):
        native.check_dims(slices, three_d)
    assert native.trained_dims(["c0_shape2D_Elongation", "roi_sem_area"]) == frozenset()  # crop families: not native
