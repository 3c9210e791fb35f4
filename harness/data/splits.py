"""Deterministic subsampling shared by every dataset.

A selection is a sorted list of 0-based data-row indices into one official source file. It
is drawn with a local `random.Random` seeded by (dataset, purpose, seed), never the global
generator, so the same seed always yields the same rows whatever else the process did, and
train and dev draws of one seed are independent streams. Indices are sorted so the prepared
files keep the official file order.
"""

from __future__ import annotations

import hashlib
import json
import random
from collections.abc import Sequence

from harness.errors import ConfigError


def sample_indices(population: Sequence[int], k: int, *, seed: int, purpose: str) -> list[int]:
    """`k` distinct items of `population`, drawn by a generator private to (`purpose`, `seed`), sorted."""
    if not 0 < k <= len(population):
        raise ConfigError(
            f"cannot draw {k} rows for {purpose}: only {len(population)} are available; "
            f"choose a value between 1 and {len(population)}."
        )
    # str seeds are hashed with sha512 by random.seed (version 2): stable across processes
    # and Python versions, unlike hash().
    rng = random.Random(f"{purpose}/seed={seed}")
    return sorted(rng.sample(list(population), k))


def selection_record(source: str, indices: Sequence[int], total: int) -> dict:
    """What goes into manifest.json for one selection: the file, the rows, and a hash to compare quickly."""
    rows = list(indices)
    return {
        "source": source,
        "total_rows": total,
        "selected_rows": len(rows),
        # "all" instead of 42k numbers keeps the manifest readable; the hash is over the list either way.
        "indices": "all" if rows == list(range(total)) else rows,
        "sha256": hashlib.sha256(json.dumps(rows).encode()).hexdigest(),
    }
