"""The CV run a bundle cites (``gliograde train --cv-run RUN``), checked against the model being trained.

A model card's metrics must estimate *this* model: the CV run must have been made on the same cohort, with the
same grades, by the CV configuration that trains this kind of model with the same settings, under a protocol
that does not leak. Each check is a one-line refusal (exit 2) naming RUN, what differs and the fix:

- cohort: ``RUN/run.json``'s input fingerprint (sha256 over the ingested cohort's manifest and every cached crop
  and mask, as ``gliograde cv`` records it) equals that of the cohort trained on;
- grades: ``RUN/metrics.json``'s ``classes`` equal the cohort's;
- configuration: RUN holds the CV configuration that trains this model
  (:meth:`~gliograde.bundles.base.ModelKind.cv_configuration`), and the settings that define the model
  (:meth:`~gliograde.bundles.base.ModelKind.defining_settings`) of RUN's ``config.yaml``, as that configuration
  applies them, equal the ones trained with;
- protocol: a paper-protocol run leaks (one patient's augmented images on both sides of a fold), so it is refused
  as the source of the card's metrics; ``cite_leaky`` keeps it under ``model.json``'s ``cv_metrics_leaky`` and the
  card labels it LEAKY.

The preprocessing is not compared as settings: the cohort fingerprint covers it (other preprocessing, other crops).

>>> # metrics = checked_cv_metrics(Path("runs/cv"), cohort, run_config)   # read_cv_metrics output, or InputError
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

from gliograde.bundles.meta import read_cv_metrics
from gliograde.bundles.registry import get_kind
from gliograde.data.dataset import MANIFEST
from gliograde.errors import InputError
from gliograde.runinfo import fingerprint_files

if TYPE_CHECKING:
    from gliograde.config import RunConfig
    from gliograde.data.dataset import Cohort

__all__ = ["checked_cv_metrics", "cohort_sha256", "is_leaky", "precheck"]


def cohort_sha256(cohort: Cohort) -> str:
    """The input fingerprint ``gliograde cv`` records for ``cohort`` (its manifest and every cached crop and mask:
    :attr:`gliograde.experiment.features.FeatureStore.fingerprint`, the same files and the same function)."""
    m = cohort.manifest
    files = [cohort.root / MANIFEST] + [cohort.root / p for p in (*m["cache_path"], *m["cache_mask_path"])]
    return str(fingerprint_files(files, root=cohort.root)["sha256"])


def is_leaky(protocol: object) -> bool:
    """Whether a CV run's ``protocol`` leaks patients between training and test (the study's ``paper`` one).

    >>> is_leaky("paper"), is_leaky("honest"), is_leaky("site")
    (True, False, False)
    """
    return "paper" in str(protocol or "").split("+")


def precheck(run: Path, *, cite_leaky: bool = False) -> dict[str, Any]:
    """What can be checked of a CV run before the cohort is opened: its ``metrics.json`` is readable and, unless
    ``cite_leaky``, its protocol does not leak. Returns :func:`~gliograde.bundles.meta.read_cv_metrics`'s dict.

    Raises:
        InputError: one line naming ``run``, the problem and the fix.
    """
    metrics = read_cv_metrics(Path(run) / "metrics.json")
    if is_leaky(metrics.get("protocol")) and not cite_leaky:
        raise InputError(f"{run}: a {metrics.get('protocol')}-protocol CV run (leaky: one patient's augmented images "
                         "on both sides of a fold) cannot be the source of the model card's metrics; give an "
                         "honest or site CV run of the same settings, or --cite-leaky-cv to cite it labelled leaky")
    return metrics


def checked_cv_metrics(run: Path, cohort: Cohort, cfg: RunConfig, *, cite_leaky: bool = False) -> dict[str, Any]:
    """:func:`~gliograde.bundles.meta.read_cv_metrics` of ``run``, once it is shown to estimate the model that
    ``cfg`` trains on ``cohort`` (see the module docstring); with ``cite_leaky`` a paper-protocol run is returned
    marked ``"leaky": True`` (stored apart from the model's metrics) instead of refused.

    Raises:
        InputError: one line naming ``run``, what differs and the fix.
    """
    from gliograde.experiment.configs import get_config  # the CV configurations import torch: only on use
    from gliograde.settings import resolve

    run = Path(run)
    metrics = precheck(run, cite_leaky=cite_leaky)
    leaky = is_leaky(metrics.get("protocol"))
    fix = "run `gliograde cv` on this cohort with these settings, or leave --cv-run out"
    info = _read_json(run / "run.json")
    theirs = (info.get("input_fingerprint") or {}).get("sha256")
    ours = cohort_sha256(cohort)
    if theirs != ours:
        raise InputError(f"{run}: CV run of another cohort (run.json input fingerprint {str(theirs)[:12]}..., the "
                         f"cohort trained on {ours[:12]}...); {fix}")
    raw = _read_json(run / "metrics.json")
    classes = [int(c) for c in raw.get("classes") or []]
    if classes != [int(c) for c in cohort.classes]:
        raise InputError(f"{run}: CV run of grades {classes}, the model is trained on {list(cohort.classes)}; {fix}")
    kind = get_kind(cfg.kind)
    name = kind.cv_configuration(cfg)
    if name not in metrics["configs"]:
        raise InputError(f"{run}: has configurations {sorted(metrics['configs'])}, none of them {name!r}, the one that "
                         f"trains this {cfg.kind} model; run `gliograde cv --configs {name}` with these settings, or "
                         "leave --cv-run out")
    if not (run / "config.yaml").is_file():
        raise InputError(f"{run / 'config.yaml'}: missing, so the CV run's settings cannot be compared; {fix}")
    theirs_cfg = get_config(name).settings(resolve("cv", config=run / "config.yaml"))
    want, have = kind.defining_settings(cfg), kind.defining_settings(theirs_cfg)
    if diff := _differences(want, have):
        key, mine, other = diff[0]
        more = f" (and {len(diff) - 1} more)" if len(diff) > 1 else ""
        raise InputError(f"{run}: configuration {name!r} was cross-validated with {key} = {other!r}, the model is "
                         f"trained with {mine!r}{more}; train with the CV run's settings (--config {run}/config.yaml) "
                         "or leave --cv-run out")
    return {**metrics, "configuration": name, **({"leaky": True} if leaky else {})}


def _read_json(path: Path) -> dict[str, Any]:
    try:
        doc = json.loads(path.read_text())
    except (OSError, UnicodeDecodeError, ValueError) as err:
        raise InputError(f"{path}: unreadable ({type(err).__name__}); rerun `gliograde cv` into that folder, or "
                         "leave --cv-run out") from err
    if not isinstance(doc, dict):
        raise InputError(f"{path}: not a JSON object; rerun `gliograde cv` into that folder, or leave --cv-run out")
    return doc


def _differences(want: dict[str, Any], have: dict[str, Any], prefix: str = "") -> list[tuple[str, Any, Any]]:
    """(dotted key, trained value, CV value) of every setting that differs, in key order.

    >>> _differences({"train": {"lr": 0.1, "epochs": 3}}, {"train": {"lr": 0.2, "epochs": 3}})
    [('train.lr', 0.1, 0.2)]
    """
    out: list[tuple[str, Any, Any]] = []
    for key in sorted(set(want) | set(have)):
        a, b = want.get(key), have.get(key)
        if isinstance(a, dict) and isinstance(b, dict):
            out += _differences(a, b, f"{prefix}{key}.")
        elif a != b:
            out.append((f"{prefix}{key}", a, b))
    return out
