"""Shared fixtures for the metric tests: where the real data lives, and whether Java is there.

Missing data or Java skips a test locally but fails it in CI (CI=true), so CI cannot pass by
silently skipping the golden checks.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]


def _unavailable(reason: str) -> None:
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(f"{reason} (required when CI=true)")
    pytest.skip(reason)


@pytest.fixture(scope="session")
def data_dir() -> Path:
    root = Path(os.environ.get("HARNESS_DATA_DIR") or REPO.parent / "shared" / "data")
    if not (root / "golden" / "e2e" / "refs.txt").is_file():
        _unavailable(f"E2E golden data not found under {root} (set HARNESS_DATA_DIR)")
    return root


@pytest.fixture(scope="session")
def java() -> str:
    found = shutil.which("java")
    if found is None:
        _unavailable("java is not on PATH")
    return found
