"""tests/packing: several cells over one frozen backbone. Makes tests/ helpers importable when run alone."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

TESTS = str(Path(__file__).resolve().parents[1])
for folder in (TESTS, str(Path(TESTS) / "methods")):
    if folder not in sys.path:
        sys.path.insert(0, folder)

from core_conftest_helpers import torch_threads  # noqa: E402


@pytest.fixture(scope="module", autouse=True)
def _one_thread():
    with torch_threads(1):
        yield
