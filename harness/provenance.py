"""What produced a result: code version, packages, machine, time.

Written next to every trained model and every score, so a number found months later can be
traced to the commit, the package versions and the device that made it.
"""

from __future__ import annotations

import importlib.metadata
import importlib.util
import os
import platform
import socket
import subprocess
import sys
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from harness.config import imported_plugins

REPO_ROOT = Path(__file__).resolve().parents[1]

# Distributions whose version can move a number (pinned in pyproject.toml).
PACKAGES = (
    "torch",
    "transformers",
    "tokenizers",
    "safetensors",
    "numpy",
    "sacrebleu",
    "pycocoevalcap",
    "snakemake",
)
HARNESS_DIST = "prompt-peft-harness"


def collect(**extra: Any) -> dict:
    """Provenance of the current process, merged with `extra` (config, cell, seed, signatures...)."""
    return {
        "git": git_state(),
        "python": sys.version.split()[0],
        "platform": platform.platform(),
        "hostname": socket.gethostname(),
        "packages": {name: _version(name) for name in (*PACKAGES, HARNESS_DIST)},
        # Out-of-tree methods (config.plugins): their code is not in the git commit above.
        "plugins": imported_plugins(),
        "device": device_info(),
        "time_utc": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        **extra,
    }


def git_state() -> dict:
    """Commit and dirty flag of the checkout the harness runs from; "unknown" outside git."""
    try:
        commit = _git("rev-parse", "HEAD")
        dirty = bool(_git("status", "--porcelain"))
    except (OSError, subprocess.CalledProcessError):
        return {"commit": "unknown", "dirty": "unknown"}
    return {"commit": commit, "dirty": dirty}


def device_info() -> dict:
    """CUDA device names (if any) and torch's CPU threads; torch is only imported if installed."""
    info: dict[str, Any] = {"cpu_count": os.cpu_count()}
    if importlib.util.find_spec("torch") is None:
        return info
    import torch

    info["torch_threads"] = torch.get_num_threads()
    info["cuda"] = [torch.cuda.get_device_name(i) for i in range(torch.cuda.device_count())]
    return info


def _git(*args: str) -> str:
    result = subprocess.run(
        ["git", "-C", str(REPO_ROOT), *args],
        capture_output=True,
        text=True,
        check=True,
        timeout=10,
    )
    return result.stdout.strip()


def _version(dist: str) -> str | None:
    try:
        return importlib.metadata.version(dist)
    except importlib.metadata.PackageNotFoundError:
        return None
