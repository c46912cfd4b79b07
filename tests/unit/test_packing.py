"""A case travels to a Ray worker as bytes (prediction/packing.py): unpacked under another folder it names the
same files, with the same contents, and a file the driver cannot read becomes the case's error."""
from __future__ import annotations

from pathlib import Path

from fakedata import write_slice_cohort

from gliograde.data.origin import case_files
from gliograde.prediction.cases import assign_aliases, find_cases
from gliograde.prediction.packing import pack_case, unpack_case


def test_a_packed_case_unpacks_to_the_same_files_elsewhere(tmp_path: Path) -> None:
    raw = write_slice_cohort(tmp_path / "raw", [("P-01", 2)], n_slices=2, size=24)
    found = find_cases([Path(raw) / "P_01_2000"], None)[0]
    assign_aliases(found, False)
    ci = found[0]
    assert ci.source is not None
    packed = pack_case(ci)
    assert packed.error is None and len(packed.files) == len(case_files(ci.source)) == 4
    local = unpack_case(packed, tmp_path / "worker")
    assert local.source is not None and local.alias == ci.alias and local.name == ci.name
    assert local.path == tmp_path / "worker" / Path(ci.path).absolute().relative_to(packed.root)
    moved, original = case_files(local.source), case_files(ci.source)
    assert [p.read_bytes() for p in moved] == [p.read_bytes() for p in original]
    assert all(tmp_path / "worker" in p.parents for p in moved)
    assert local.source.slices.keys() == ci.source.slices.keys()


def test_a_file_the_driver_cannot_read_is_the_cases_error(tmp_path: Path) -> None:
    raw = write_slice_cohort(tmp_path / "raw", [("P-01", 2)], n_slices=1, size=24)
    found = find_cases([Path(raw) / "P_01_2000"], None)[0]
    assert found[0].source is not None
    case_files(found[0].source)[0].unlink()
    packed = pack_case(found[0])
    assert packed.files == {} and packed.error is not None and "No such file" in packed.error
