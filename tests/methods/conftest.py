"""tests/methods: the method modules. Makes tests/core_conftest_helpers importable when this folder runs alone."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

TESTS = str(Path(__file__).resolve().parents[1])
if TESTS not in sys.path:
    sys.path.insert(0, TESTS)

from core_conftest_helpers import torch_threads  # noqa: E402
from method_checks import CASES, train_tiny  # noqa: E402


@pytest.fixture(scope="module", autouse=True)
def _one_thread():
    with torch_threads(1):
        yield


@pytest.fixture(scope="session")
def trained(tmp_path_factory):
    """`trained(name)`: the training run of method_checks.CASES[name], made once per session."""
    runs = {}

    def get(name: str):
        if name not in runs:
            spec, kind = CASES[name]
            runs[name] = train_tiny(spec, kind, tmp_path_factory.mktemp(name))
        return runs[name]

    return get
