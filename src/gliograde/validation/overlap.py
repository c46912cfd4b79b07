"""Does a validation cohort share patients with the model's training data? Checked by keyed hashes, never ids.

A bundle's ``model.json`` holds ``training_patients``: the sorted keyed aliases of its training patients and the
public id of the key that made them (:func:`gliograde.prediction.cases.training_patients`). The cohort's ids are
aliased with this installation's key; when the key ids agree, a shared alias is a shared patient. Grading a
model's own training patients and calling it external validation is the silent error this guards against:
``validate`` refuses unless ``--allow-overlap``, and then every output says so.

>>> from gliograde.prediction.cases import training_patients
>>> meta = {"training_patients": training_patients(["p1", "p2", "p3"], key=b"k")}
>>> o = training_overlap(meta, ["p3", "p4"], key=b"k")
>>> (o.checked, o.n_shared, o.n_cohort)
(True, 1, 2)
>>> training_overlap(meta, ["p3"], key=b"another key").checked   # aliases from another key cannot be compared
False
"""
from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from gliograde.prediction.cases import alias_key, alias_key_id, patient_aliases


@dataclass(frozen=True)
class Overlap:
    """The result of the check: ``checked`` is False (with ``reason``) when the bundle's hashes cannot be compared."""

    checked: bool
    n_shared: int
    n_cohort: int
    shared: frozenset[str]  # aliases of the shared patients (keyed: they name no one)
    reason: str = ""

    def as_json(self, allowed: bool) -> dict[str, Any]:
        return {"checked": self.checked, "n_shared": self.n_shared, "n_cohort": self.n_cohort,
                "allowed": allowed, "reason": self.reason or None}

    def warning(self) -> str:
        return (f"{self.n_shared} of {self.n_cohort} patients of this cohort were in the model's training data: "
                "these results are NOT an external validation (the model has seen these patients)")


def training_overlap(meta: Mapping[str, Any], patient_ids: Iterable[object], *, key: bytes | None = None) -> Overlap:
    """Which of ``patient_ids`` the bundle (its ``model.json`` dict ``meta``) was trained on."""
    ids = sorted({str(i) for i in patient_ids})
    record = meta.get("training_patients")
    if not isinstance(record, Mapping) or not isinstance(record.get("aliases"), list):
        return Overlap(False, 0, len(ids), frozenset(),
                       "the bundle records no training-patient hashes (trained by an older gliograde)")
    key = alias_key() if key is None else key
    if record.get("key_id") != alias_key_id(key):
        return Overlap(False, 0, len(ids), frozenset(),
                       f"the bundle's training patients were hashed with another alias key (key id "
                       f"{record.get('key_id')}, this one {alias_key_id(key)}); set GLIOGRADE_ALIAS_KEY to the "
                       "key the model was trained with to check")
    shared = frozenset(patient_aliases(ids, key=key)) & frozenset(map(str, record["aliases"]))
    return Overlap(True, len(shared), len(ids), shared)
