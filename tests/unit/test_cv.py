"""Cross-validation folds (patient-grouped, stratified, site, the paper's leaky row folds, folds.json) and the
``--repeats`` setting. The experiment run whole (protocols, resume, repeats): tests/integration/test_cv_*.py."""
from __future__ import annotations

import numpy as np
import pytest

from gliograde.config import CVCfg
from gliograde.errors import InputError
from gliograde.splits import make_folds, paper_folds, save_folds


def _ids(n):
    pids = np.repeat([f"p{i:02d}" for i in range(n)], 3)  # 3 slices per patient
    y = np.repeat(np.arange(n) % 3, 3)
    return pids, y


def test_folds_group_patients_and_test_each_once(seed):
    pids, y = _ids(30)
    folds = make_folds(pids, y, n_splits=5, seed=seed)
    tested = [p for f in folds for p in f.test]
    assert sorted(tested) == sorted(set(pids)) and len(tested) == 30
    for f in folds:
        assert not set(f.train) & set(f.test)
        assert len(f.train) + len(f.test) == 30
        grades = [int(p[1:]) % 3 for p in f.test]
        assert sorted(np.bincount(grades, minlength=3)) == [2, 2, 2]  # stratified
    assert make_folds(pids, y, 5, seed) == folds
    assert make_folds(pids, y, 5, seed + 1) != folds


def test_site_folds_leave_one_site_out():
    pids, y = _ids(12)
    sites = np.where(np.char.startswith(pids.astype(str), "p0"), "A", "B")
    folds = make_folds(pids, y, sites=sites)
    assert [f.site for f in folds] == ["A", "B"]
    with pytest.raises(InputError, match="at least 2 sites"):
        make_folds(pids, y, sites=np.full(len(pids), "A"))


def test_too_many_folds_is_a_clear_error():
    pids, y = _ids(6)
    with pytest.raises(InputError, match="smallest grade"):
        make_folds(pids, y, n_splits=5)


def test_paper_folds_scatter_copies_of_one_image():
    t, n = 9, 20
    folds = paper_folds(n * t, np.repeat(np.arange(n) % 2, t), n_splits=5, seed=0)
    fold_of = np.empty(n * t, int)
    for f in folds:
        fold_of[list(f.test_rows)] = f.index
    spread = [len(set(fold_of[i * t:(i + 1) * t])) for i in range(n)]
    assert max(spread) > 1  # copies of one image are on both sides of a split: the study's leak


def test_save_folds_refuses_other_folds(tmp_path):
    pids, y = _ids(12)
    f = make_folds(pids, y, 2, 0)
    save_folds(tmp_path / "folds.json", f, n_splits=2, seed=0, protocol="honest")
    save_folds(tmp_path / "folds.json", f, n_splits=2, seed=0, protocol="honest")  # same: fine
    with pytest.raises(InputError, match="other folds"):
        save_folds(tmp_path / "folds.json", make_folds(pids, y, 2, 1), n_splits=2, seed=1, protocol="honest")


@pytest.mark.parametrize(("kw", "match"), [({"protocol": "site", "repeats": 2}, "site"),
                                           ({"repeats": 0}, ">= 1"), ({"repeats": 1.5}, "whole number")])
def test_bad_repeats_are_refused_in_one_line(kw, match):
    with pytest.raises(InputError, match=match) as err:
        CVCfg(**kw)
    assert "\n" not in str(err.value)
    CVCfg(protocol="site", repeats=1)


def test_settings_map_the_flag(tmp_path):
    from gliograde.cli import build_parser
    from gliograde.cli._common import resolve_args
    from gliograde.cli.cv import FLAGS

    args = build_parser().parse_args(["cv", "c", "--out", "o", "--repeats", "4"])
    assert resolve_args("cv", args, FLAGS).cv.repeats == 4
    args = build_parser().parse_args(["cv", "c", "--out", "o"])
    assert resolve_args("cv", args, FLAGS).cv.repeats == 1
