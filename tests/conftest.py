"""Shared fixtures: tiny synthetic slices, a small synthetic cohort, the real data folder, a printed seed."""
from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

# The 2 cores of the development box are shared by several sessions: torch's default of one thread per core
# stalls when another process holds a core (5 forward/backward passes of a small CNN: 1.2 s on one thread, 15 s on
# two). Tests run torch on one thread unless OMP_NUM_THREADS says otherwise; set here, before any test module
# imports torch (subprocesses inherit it).
os.environ.setdefault("OMP_NUM_THREADS", "1")
# Case aliases are keyed (gliograde.prediction.cases.alias_key): a fixed test key, so tests never create the
# user's ~/.config/gliograde/alias.key (subprocesses inherit it too).
os.environ.setdefault("GLIOGRADE_ALIAS_KEY", "gliograde-tests")

REPO = Path(__file__).resolve().parents[1]
SHARED_DATA = (REPO / ".." / "shared" / "data").resolve()


@pytest.fixture
def seed() -> int:
    value = int(os.environ.get("GLIOGRADE_TEST_SEED", "0"))
    print(f"seed={value} (set GLIOGRADE_TEST_SEED to reproduce)")
    return value


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """The real data in ../shared/data: skipped with a reason locally, a failure in CI."""
    if not SHARED_DATA.is_dir():
        msg = f"real data folder {SHARED_DATA} is missing (expected ../shared/data beside the repo)"
        if os.environ.get("CI"):
            pytest.fail(msg)
        pytest.skip(msg)
    return SHARED_DATA


#: Patients per grade (2, 3, 4) of the small synthetic cohort of ``png_cohort``.
SYNTH_COUNTS = (1, 1, 1)


@pytest.fixture(scope="module")
def png_cohort(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A small `gliograde synth` cohort (TCGA-LGG layout, seed 0), shared by tests/unit and tests/integration."""
    from gliograde.synth import generate_cohort

    root = tmp_path_factory.mktemp("synth") / "cohort"
    generate_cohort(root, counts=SYNTH_COUNTS, seed=0)
    return root


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Markers from what a test uses: ``shared_data`` -> realdata; ``gpu`` is skipped without CUDA."""
    gpu = [item for item in items if item.get_closest_marker("gpu")]
    if gpu:
        import torch  # only when a gpu test was collected: torch is slow to import

        if not torch.cuda.is_available():
            for item in gpu:
                item.add_marker(pytest.mark.skip(reason="needs CUDA (marked gpu)"))
    for item in items:
        if "shared_data" in getattr(item, "fixturenames", ()):
            item.add_marker(pytest.mark.realdata)


def disk_slice(size: int = 32, radius: int = 8, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """A (size, size) uint8 'brain' with a brighter disk-shaped 'tumour' and its bool mask."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[:size, :size]
    c = size / 2 + rng.uniform(-2, 2, size=2)
    mask = (yy - c[0]) ** 2 + (xx - c[1]) ** 2 <= radius**2
    brain = (yy - size / 2) ** 2 + (xx - size / 2) ** 2 <= (size / 2 - 1) ** 2
    img = np.where(brain, 80, 0) + np.where(mask, 100, 0) + rng.integers(0, 20, (size, size))
    return np.clip(img * brain, 0, 255).astype(np.uint8), mask


@pytest.fixture
def tiny_slice() -> tuple[np.ndarray, np.ndarray]:
    return disk_slice()
