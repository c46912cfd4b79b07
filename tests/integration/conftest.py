"""Integration tests (CLI runs, resume, real data): every test in this folder is marked ``slow``,
so ``make test-fast`` (``-m "not slow"``) leaves them out and ``make test`` runs them."""
from __future__ import annotations

from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    # the hook sees every collected item, not only this folder's: keep to the tests below HERE
    for item in items:
        if HERE in Path(item.path).resolve().parents:
            item.add_marker(pytest.mark.slow)
