"""What the neural metrics share: where a model comes from, what it is called in a signature, which device.

A model is a hub name (downloaded on first use, as the official scripts do) or a local directory
(here: the packaged MiniLM; on clusters: a pre-downloaded checkpoint). Its signature names it and
pins its bytes: a local directory by the sha256 of its files, a hub model by the commit the hub
cache resolved it to.
"""

from __future__ import annotations

import hashlib
from functools import cache
from pathlib import Path

from ._java import sha256_file
from .base import MetricError

__all__ = ["device_or_default", "is_local", "model_identity", "sha256_dir"]

# Files that do not change what a model computes.
_IGNORED_SUFFIXES = (".md", ".lock", ".gitattributes")


def is_local(name_or_dir: str | Path) -> bool:
    return Path(name_or_dir).is_dir()


@cache
def sha256_dir(directory: Path) -> str:
    """sha256 over every file of a model directory (relative path + file hash, sorted), READMEs excluded."""
    directory = Path(directory).resolve()
    files = sorted(p for p in directory.rglob("*") if p.is_file() and not p.name.startswith(".")
                   and not p.name.endswith(_IGNORED_SUFFIXES))
    if not files:
        raise MetricError(f"{directory} holds no model files")
    digest = hashlib.sha256()
    for path in files:
        digest.update(f"{path.relative_to(directory).as_posix()}\0{sha256_file(path)}\n".encode())
    return digest.hexdigest()


def model_identity(name_or_dir: str | Path) -> str:
    """``<dir name>.sha256=<12 hex>`` for a local directory, ``<hub name>@<commit, 12 hex>`` for a hub model."""
    if is_local(name_or_dir):
        path = Path(name_or_dir).resolve()
        label = path.name if path.name not in ("model", "checkpoint") else f"{path.parent.name}/{path.name}"
        return f"{label}.sha256={sha256_dir(path)[:12]}"
    return f"{name_or_dir}@{_hub_revision(str(name_or_dir))}"


def _hub_revision(name: str) -> str:
    """The commit the local hub cache holds for ``name`` (its snapshot folder is named after it)."""
    from transformers.utils import cached_file

    try:
        config = cached_file(name, "config.json", local_files_only=True)
    except OSError:
        return "unknown-revision"
    return Path(config).parent.name[:12] if config else "unknown-revision"


def device_or_default(device: str | None) -> str:
    import torch

    return device or ("cuda" if torch.cuda.is_available() else "cpu")
