"""Issue 17: ``model.skops`` is byte-reproducible (skops names arrays by ``id()`` and stamps the zip with the time).

:func:`gliograde.bundles.skops_file.canonical_skops` renumbers the ids in document order, sorts the entries and
fixes their timestamps; the file must load back to the same model.
"""
from __future__ import annotations

import io
import zipfile

import numpy as np
import pytest
import skops.io as sio

from gliograde.baselines.classical import make_classifier
from gliograde.bundles.skops_file import canonical_skops

X = np.random.default_rng(0).normal(size=(40, 6))
X[:, 5] = 1.0  # a constant column: the pipeline's drop step keeps state
Y = (X[:, 0] + 0.5 * X[:, 1] > 0).astype(int)


@pytest.mark.parametrize("kind", ["logreg", "svm", "mlp"])
def test_identical_models_give_identical_bytes_that_load_back(kind: str) -> None:
    first, second = (make_classifier(kind, select_k=3).fit(X, Y) for _ in range(2))  # two objects, other ids
    a, b = sio.dumps(first), sio.dumps(second)
    assert zipfile.ZipFile(io.BytesIO(a)).namelist() != zipfile.ZipFile(io.BytesIO(b)).namelist()  # as skops writes
    ca, cb = canonical_skops(a), canonical_skops(b)
    assert ca == cb and canonical_skops(ca) == ca  # reproducible, and a fixed point
    with zipfile.ZipFile(io.BytesIO(ca)) as z:
        assert z.namelist() == sorted(z.namelist()) and {i.date_time for i in z.infolist()} == {(1980, 1, 1, 0, 0, 0)}
    loaded = sio.loads(ca, trusted=sio.get_untrusted_types(data=ca))
    np.testing.assert_array_equal(loaded.predict_proba(X), first.predict_proba(X))
    other = make_classifier(kind, select_k=2).fit(X, Y)
    assert canonical_skops(sio.dumps(other)) != ca  # another model, other bytes


def test_an_archive_it_does_not_know_is_refused() -> None:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        z.writestr("schema.json", '{"__loader__": "ObjectNode", "__id__": 7}')
        z.writestr("extra.bin", b"?")
    with pytest.raises(ValueError, match="extra.bin"):
        canonical_skops(buf.getvalue())
    with pytest.raises(ValueError, match="schema.json"):
        canonical_skops(sio.dumps([1]).replace(b"schema.json", b"schemb.json"))
