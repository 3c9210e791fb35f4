"""Packing in the real workflow: packed cells give the same results as one-cell jobs, and a cell that fails
inside its pack fails alone."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "tests"))  # core_conftest_helpers, when this folder runs alone

from core_conftest_helpers import require_shared_data  # noqa: E402

PREFIX = {"type": "prefix", "length": 3, "mid_dim": 16, "paper_method": "Prefix"}


def _config(workdir: Path, data_root: Path, packing: bool, bad: bool) -> Path:
    methods = {"prefix": PREFIX, "finetune": {"type": "finetune", "paper_method": "FT-full"}}
    if bad:  # the same method with a learning rate that blows the prefix up: it packs with the good cells
        methods["prefix_bad"] = {**PREFIX, "paper_method": "Prefix (bad lr)", "train": {"lr": 1.0e30}}
    config = {
        "name": "packing-test",
        "results_dir": str(workdir / "results"),
        "data_dir": str(data_root),
        "datasets": {"e2e": {"split": "full", "train_rows": 12, "dev_rows": 4, "test_mrs": 4}},
        "models": {"tiny": {"source": "tiny:llama", "paper_model": "GPT-2 M"}},
        "methods": methods,
        "seeds": [1, 2],
        "train": {"lr": 1.0e-2, "epochs": 1, "max_steps": 2, "batch_size": 4, "log_every": 1, "max_length": 64},
        "decode": {"strategy": "beam", "num_beams": 3, "max_new_tokens": 6, "min_new_tokens": 1},
        "packing": {"enabled": packing, "max_cells": 8},
    }
    path = workdir / "config.yaml"
    path.write_text(yaml.safe_dump(config))
    return path


def _snakemake(workdir: Path, config: Path, *extra: str) -> subprocess.CompletedProcess:
    command = [
        *(sys.executable, "-m", "snakemake", "--snakefile", str(ROOT / "Snakefile")),
        *("--profile", str(ROOT / "workflow" / "profiles" / "local")),
        *("--directory", str(workdir), "--configfile", str(config), *extra),
    ]
    return subprocess.run(command, capture_output=True, text=True, timeout=900)


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    data_root = require_shared_data()
    packed, alone = tmp_path_factory.mktemp("packed"), tmp_path_factory.mktemp("alone")
    packed_config = _config(packed, data_root, packing=True, bad=True)
    return {
        "packed": (packed, _snakemake(packed, packed_config)),
        "alone": (alone, _snakemake(alone, _config(alone, data_root, packing=False, bad=False))),
        "replan": _snakemake(packed, packed_config, "--dry-run"),
    }


def _generations(workdir: Path) -> dict[str, str]:
    cells = workdir / "results" / "cells"
    return {p.parent.relative_to(cells).as_posix(): p.read_text() for p in cells.glob("**/generations.txt")}


@pytest.mark.slow
def test_packed_cells_give_the_results_of_one_cell_jobs(runs):
    packed_dir, packed = runs["packed"]
    alone_dir, alone = runs["alone"]
    assert alone.returncode == 0, alone.stderr[-3000:]
    assert "train_pack" in packed.stdout + packed.stderr
    (log,) = (packed_dir / "results" / "logs" / "train_pack").glob("prefix-*.log")
    members = json.loads(log.read_text()[log.read_text().index("{") :])
    assert len(members) == 4  # two seeds of prefix and two of prefix_bad; finetune cannot pack
    assert sorted(members.values()).count("ok") == 2
    good = {k: v for k, v in _generations(packed_dir).items() if "prefix_bad" not in k}
    assert good == _generations(alone_dir)
    assert len(good) == 4  # prefix x 2 seeds, finetune x 2 seeds
    for cell_dir in (packed_dir / "results" / "cells").glob("**/prefix-*/seed*"):
        trained = json.loads((cell_dir / "state" / "trained.json").read_text())
        assert trained["steps"] == 2 and len(trained["packed_with"]) == 3
        assert json.loads((cell_dir / "provenance.json").read_text())["training"]["packed_with"]


@pytest.mark.slow
def test_a_cell_failing_in_its_pack_fails_alone_and_is_the_only_work_left(runs):
    packed_dir, packed = runs["packed"]
    assert packed.returncode != 0
    cells = packed_dir / "results" / "cells"
    assert len(list(cells.glob("**/scores.json"))) == 4  # every good cell was scored
    assert not list(cells.glob("**/prefix_bad-*/seed*/state/trained.json"))
    # Each failed member's own job said what its pack met, trained it alone, and failed with its own error.
    logs = [p.read_text() for p in (packed_dir / "results" / "logs" / "train").glob("**/prefix_bad-*/*.log")]
    assert len(logs) == 2
    assert all("its pack did not train" in log and "lower train.lr" in log for log in logs)
    # The next run plans the failed cells only (as a new pack of two); the finished cells stay untouched.
    replan = runs["replan"]
    assert replan.returncode == 0, replan.stderr[-3000:]
    assert job_counts(replan.stdout) == {
        "train_pack": 1,
        "train": 2,
        "generate": 2,
        "score": 2,
        "aggregate": 1,
        "table": 1,
        "all": 1,
    }


def job_counts(output: str) -> dict[str, int]:
    stats = output.split("Job stats:")[1]
    return {m[1]: int(m[2]) for m in re.finditer(r"^(\w+)\s+(\d+)$", stats, re.MULTILINE) if m[1] != "total"}
