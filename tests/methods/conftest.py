"""tests/methods: the method modules. Makes tests/core_conftest_helpers importable when this folder runs alone."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

TESTS = str(Path(__file__).resolve().parents[1])
if TESTS not in sys.path:
    sys.path.insert(0, TESTS)

from core_conftest_helpers import torch_threads  # noqa: E402


@pytest.fixture(scope="module", autouse=True)
def _one_thread():
    with torch_threads(1):
        yield
