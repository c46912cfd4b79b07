"""How far a CNN's view of a case lies from its training slices: the CNN kind's ``unlike_training`` measure.

A radiomics bundle flags a case whose selected features lie more than :data:`FAR_Z` training SDs from the
training mean. The CNN counterpart measures the same thing in the network's own features: the penultimate-layer
embedding (the input of the final ``nn.Linear``, :attr:`~gliograde.models.ModelSpec.classifier`), projected on
the top principal components of the training slices' embeddings and whitened (each component divided by its
training SD), plus one more z: that of the embedding's distance to the training mean, against the training
slices' own distances (their mean and SD). ``max_abs_z`` is the largest of these |z|, ``unlike_training`` is
``max_abs_z > FAR_Z``: "more than 4 training SDs from the training mean along one of the directions the training
slices vary most in, or more than 4 SDs farther from it than the training slices are". The distance term is
what catches grossly different images (noise, a constant ROI): their embeddings move mostly in directions the
few training slices do not span, where per-component SDs are missing or near zero.

The training slices are embedded once, when the bundle is written: unaugmented, in eval mode, with the
normalisation prediction uses; the statistics go into :data:`STATS_FILE` (safetensors, sealed in model.json like
every bundle file). Bundles written before this file existed (or trained on fewer than :data:`MIN_ROWS` slices)
predict as before, with the flag unavailable (``None``) and :data:`MISSING_NOTE` saying why. The SDs come from
the training slices themselves, so with few of them (tens) an unseen but ordinary case can exceed the threshold
more often than with hundreds: the model card lists how many slices the statistics rest on.

PCA is a numpy SVD written here (a few lines) rather than scikit-learn's PCA, which would put a pickled-estimator
dependency into a CNN bundle for one decomposition.

>>> rng = np.random.default_rng(0)
>>> train = rng.normal(size=(200, 6))
>>> stats = fit_stats(train)
>>> bool(max_abs_z(stats, train).max() < FAR_Z), bool(max_abs_z(stats, train[:1] + 50.0)[0] > FAR_Z)
(True, True)
>>> flat = fit_stats(np.ones((12, 4)))   # identical training embeddings: no component, a tiny distance spread
>>> len(flat.sd), bool(max_abs_z(flat, np.ones((1, 4)))[0] <= 0), bool(max_abs_z(flat, np.zeros((1, 4)))[0] > FAR_Z)
(0, True, True)
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt

from gliograde.bundles.base import FAR_Z  # one threshold, one meaning, for every kind
from gliograde.fsio import atomic_path

if TYPE_CHECKING:
    from collections.abc import Callable

    import torch
    from torch import nn

__all__ = ["FAR_Z", "MAX_COMPONENTS", "MIN_ROWS", "MISSING_NOTE", "NOTE", "STATS_FILE", "EmbeddingStats",
           "capture_embedding", "fit_stats", "max_abs_z", "read_stats", "write_stats"]

#: At most this many principal components are whitened (fewer with fewer training slices or a lower rank).
MAX_COMPONENTS = 10
#: Fewer training slices than this give no spread worth measuring against: no statistics, the flag unavailable.
MIN_ROWS = 10
#: Components whose training SD is below this share of the first one's carry no stable direction: left out.
MIN_RELATIVE_SD = 1e-4
STATS_FILE = "embedding_stats.safetensors"
METHOD = (f"penultimate-layer embedding, max |z| over the top (<= {MAX_COMPONENTS}) whitened principal components "
          "of the training slices' embeddings and over its distance to their mean")
NOTE = ("unlike_training: the network's penultimate-layer embedding of this crop lies more than "
        f"{FAR_Z:g} training SDs from the training mean along one of the top principal components of the training "
        "slices' embeddings, or its distance to that mean is more than that many SDs beyond theirs (another "
        "scanner, protocol, preprocessing or a damaged image?): treat the probabilities with extra caution")
MISSING_NOTE = (f"unlike_training unavailable: this bundle has no {STATS_FILE} (written before gliograde measured "
                f"it for CNN bundles, or trained on fewer than {MIN_ROWS} slices); re-train the bundle "
                "(`gliograde train`) to get the check")


@dataclass(frozen=True)
class EmbeddingStats:
    """The training slices' embedding distribution.

    Attributes:
        mean: (D,) float64 mean embedding. components: (k, D) orthonormal principal directions.
        sd: (k,) training SD along each direction (> 0). n_rows: training slices embedded.
        dist: (2,) mean and SD (> 0) of the training embeddings' Euclidean distances to ``mean``.
    """

    mean: npt.NDArray[np.float64]
    components: npt.NDArray[np.float64]
    sd: npt.NDArray[np.float64]
    dist: npt.NDArray[np.float64]
    n_rows: int


def fit_stats(emb: npt.NDArray[np.floating[Any]]) -> EmbeddingStats:
    """Mean, top principal components (with their SDs) and distance spread of (N, D) training embeddings, N >= 3."""
    x = np.asarray(emb, dtype=np.float64)
    if x.ndim != 2 or len(x) < 3:
        raise ValueError(f"fit_stats needs (N >= 3, D) embeddings, got shape {x.shape}")
    mean = x.mean(0)
    _, s, vt = np.linalg.svd(x - mean, full_matrices=False)
    sd = s / np.sqrt(len(x) - 1)
    keep = sd > MIN_RELATIVE_SD * max(float(sd[0]), 1e-300)
    k = min(MAX_COMPONENTS, int(keep.sum()))
    d = np.linalg.norm(x - mean, axis=1)
    spread = max(float(d.std(ddof=1)), MIN_RELATIVE_SD * float(d.mean()), 1e-12)  # > 0 even for identical rows
    return EmbeddingStats(mean=mean, components=vt[:k], sd=sd[:k], dist=np.array([d.mean(), spread]),
                          n_rows=len(x))


def max_abs_z(stats: EmbeddingStats, emb: npt.NDArray[np.floating[Any]]) -> npt.NDArray[np.float64]:
    """(N,) largest |z| of (N, D) embeddings: over the whitened components and the distance to the training mean
    (the distance counts only when farther than the training slices' mean distance)."""
    centred = np.asarray(emb, dtype=np.float64) - stats.mean
    z = np.abs(centred @ stats.components.T / stats.sd).max(axis=1, initial=0.0)
    z_dist = (np.linalg.norm(centred, axis=1) - stats.dist[0]) / stats.dist[1]
    return np.asarray(np.maximum(z, z_dist), dtype=np.float64)


def write_stats(path: Path, stats: EmbeddingStats, train_z: npt.NDArray[np.float64]) -> dict[str, Any]:
    """Write ``stats`` to ``path`` (safetensors; the caller makes its bytes canonical) and return model.json's
    ``unlike_training_check`` entry (file, method, threshold, components, training slices' own max |z| quantiles)."""
    from safetensors.numpy import save_file  # numpy flavour: no torch needed to write or read it

    tensors = {"mean": stats.mean, "components": stats.components, "sd": stats.sd, "dist": stats.dist}
    with atomic_path(path) as tmp:
        save_file({k: np.ascontiguousarray(v) for k, v in tensors.items()}, str(tmp),
                  metadata={"n_rows": str(stats.n_rows)})
    return {"file": path.name, "method": METHOD, "threshold_z": FAR_Z, "n_components": len(stats.sd),
            "n_rows": stats.n_rows, "train_max_abs_z": {q: round(float(np.quantile(train_z, p)), 3)
                                                        for q, p in (("median", 0.5), ("q99", 0.99), ("max", 1.0))}}


def read_stats(path: Path) -> EmbeddingStats:
    """The statistics :func:`write_stats` wrote (the bundle's seal has already checked the bytes).

    Raises:
        ValueError: not a readable statistics file (the caller names the file and the fix).
    """
    from safetensors.numpy import load_file  # numpy flavour, loaded with the bundle only: on use

    t = load_file(str(path))
    with open(path, "rb") as fh:
        n = int.from_bytes(fh.read(8), "little")
        header = json.loads(fh.read(n))
    mean, comp, sd, dist = (np.asarray(t[k], dtype=np.float64) for k in ("mean", "components", "sd", "dist"))
    if comp.ndim != 2 or comp.shape != (len(sd), len(mean)) or (sd <= 0).any() or dist.shape != (2,) or dist[1] <= 0:
        raise ValueError(f"inconsistent statistics: mean {mean.shape}, components {comp.shape}, sd {sd.shape}, "
                         f"dist {dist.shape}")
    return EmbeddingStats(mean=mean, components=comp, sd=sd, dist=dist, n_rows=int(header["__metadata__"]["n_rows"]))


class capture_embedding:  # noqa: N801 (used as a context manager, like torch's no_grad)
    """Record the input of ``model``'s final linear layer (the penultimate-layer embedding) during forward passes.

    >>> # with capture_embedding(model, "fc") as got: model(x)   # got() -> (N, D) float64
    """

    def __init__(self, model: nn.Module, classifier: str) -> None:
        self.layer = model.get_submodule(classifier)
        self.batches: list[npt.NDArray[np.float64]] = []
        self._handle: Any = None

    def _hook(self, module: nn.Module, inputs: tuple[torch.Tensor, ...]) -> None:
        self.batches.append(inputs[0].detach().flatten(1).double().cpu().numpy())

    def __enter__(self) -> Callable[[], npt.NDArray[np.float64]]:
        self._handle = self.layer.register_forward_pre_hook(self._hook)
        return self.stacked

    def __exit__(self, *exc: object) -> None:
        self._handle.remove()

    def stacked(self) -> npt.NDArray[np.float64]:
        """(N, D): every batch seen, in order."""
        return np.concatenate(self.batches) if self.batches else np.zeros((0, 0))

