"""Fixtures for the data loader tests: the real official files, and one prepared `full` variant."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

from harness.data import prepare

REPO = Path(__file__).resolve().parents[2]
if str(REPO / "tests") not in sys.path:  # core_conftest_helpers, when this folder runs alone
    sys.path.insert(0, str(REPO / "tests"))

from core_conftest_helpers import require_shared_data, shared_data_root  # noqa: E402


@pytest.fixture(scope="session")
def shared_root() -> Path:
    """The real data root; skipped locally when absent, but a failure in CI where it must be provided."""
    return require_shared_data()


@pytest.fixture(scope="session")
def e2e_full(shared_root: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict]:
    """The `full` variant prepared once per session: (folder, manifest)."""
    out = tmp_path_factory.mktemp("e2e-full")
    return out, prepare("e2e", {}, shared_root, out)

# --- Lester et al.'s classification and QA sets (superglue, mrqa, glue) ----------------


@pytest.fixture(scope="session")
def lester_root() -> Path:
    """The real data root with superglue/, mrqa/ and glue/; skipped locally when absent, a failure in CI."""
    return _root_with("superglue", "mrqa", "glue")


@pytest.fixture(scope="session")
def hub_library():
    """The `datasets` library for the hub-path tests: skipped when not installed, unless CI must have it.

    CI must have it when the project's dev extra lists it (pyproject.toml); otherwise the hub
    path is optional and its tests are skipped there too.
    """
    try:
        import datasets
    except ImportError:
        import re

        # tomllib is 3.11+; the dev extra is one line of pyproject.toml.
        pyproject = (REPO / "pyproject.toml").read_text(encoding="utf-8")
        required = re.search(r'^dev\s*=\s*\[[^\]]*"datasets\b', pyproject, re.MULTILINE) is not None
        if required and os.environ.get("CI") == "true":
            pytest.fail("`datasets` is in the dev extra but not installed: pip install -e '.[dev]'.")
        pytest.skip("the `datasets` library is not installed (optional: the hub path)")
    return datasets


@pytest.fixture
def write_hub_folder():
    """Writes a local dataset in the hub's layout (`<split>.jsonl` per split), as `datasets.load_dataset` reads it."""
    import json

    def write(folder: Path, splits: dict[str, list[dict]]) -> Path:
        folder.mkdir(parents=True, exist_ok=True)
        for split, rows in splits.items():
            text = "".join(json.dumps(row, ensure_ascii=False) + "\n" for row in rows)
            (folder / f"{split}.jsonl").write_text(text, encoding="utf-8")
        return folder

    return write


# --- the generation sets of Li & Liang (webnlg, dart, xsum) ------------------------------


@pytest.fixture(scope="session")
def generation_root() -> Path:
    """The real data root with webnlg2017/, dart/ and xsum/; skipped locally when absent, a failure in CI."""
    return _root_with("webnlg2017", "dart", "xsum")


def _root_with(*names: str) -> Path:
    """The shared data root if it holds every folder in `names`; skip locally, fail in CI otherwise."""
    root = shared_data_root()
    missing = [name for name in names if not (root / name).is_dir()]
    if missing:
        message = f"{', '.join(missing)} not found under {root}; set HARNESS_DATA_DIR to the shared data folder."
        if os.environ.get("CI") == "true":
            pytest.fail(message)
        pytest.skip(message)
    return root
