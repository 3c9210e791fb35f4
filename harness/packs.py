"""Packs: which cells train and decode together in one job, and that job.

Cells pack when one frozen backbone and one batch can serve them (`harness.packed`): same model, same
packable method with the same hyper-parameters, same precision and decode settings. Seeds, learning rates,
batch sizes, training lengths and data subsamples may differ, which is what a grid varies.

A pack job (`python -m harness train-pack`) trains the members that have no result yet, decodes their test
sets together, and leaves each member's result beside its own files (`state/packed.json`,
`packed_generations.txt`) rather than in the per-cell outputs: Snakemake owns those, and each cell's own
train and generate jobs move a result into them (seconds), or, where the pack left none (the cell failed in
it), train or decode the cell alone. So every cell keeps its own Snakemake outputs, logs and retries, and
a cell that failed inside its pack fails alone. Only cells without a result are packed when the workflow
is planned, so a finished cell never waits on, or is re-run by, a pack it is no longer part of.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from harness.cells import Cell, cell_dir, cells_for, prepared_dir, spec_digest
from harness.errors import HarnessError, TrainingError
from harness.io import atomic_write_json, atomic_write_text

PACKED_TRAINED = "packed.json"  # in state/: a member's training summary and provenance, written by its pack
PACKED_GENERATIONS = "packed_generations.txt"


def packing_enabled(config: dict) -> bool:
    """`packing.enabled`: auto packs when training jobs get a GPU (a CPU gains nothing from bigger batches)."""
    setting = config["packing"]["enabled"]
    if setting == "auto":
        return config["resources"]["train"]["gpus"] > 0
    return bool(setting)


def compatibility(cell: Cell) -> str | None:
    """Cells with the same key can share a pack; None for cells of methods that cannot be packed."""
    from harness.methods import REGISTRY

    if not REGISTRY[cell.method_spec["type"]].packable:
        return None
    spec = cell.spec()
    return spec_digest(
        {"model": spec["model"], "method": spec["method"], "precision": cell.train["precision"], "decode": cell.decode}
    )


def packs_for(config: dict) -> dict[str, list[Cell]]:
    """Pack id -> member cells (config order), at most `packing.max_cells` each; {} when packing is off.

    Only cells without a training result are packed; a cell that packs with no other trains alone.
    """
    if not packing_enabled(config):
        return {}
    groups: dict[str, list[Cell]] = {}
    for cell in cells_for(config):
        key = compatibility(cell) if not has_result(config, cell) else None
        if key is not None:
            groups.setdefault(key, []).append(cell)
    size = config["packing"]["max_cells"]
    packs = {}
    for members in groups.values():
        for start in range(0, len(members), size):
            chunk = members[start : start + size]
            if len(chunk) > 1:
                first = chunk[0]
                packs[f"{first.method}-{spec_digest([c.id for c in chunk])[:8]}"] = chunk
    return packs


def pack_marker(config: dict, pack_id: str) -> Path:
    return Path(config["results_dir"]) / "packs" / f"{pack_id}.json"


def has_result(config: dict, cell: Cell) -> bool:
    from harness.train import DONE_FILE, STATE_DIR

    state = cell_dir(config, cell) / STATE_DIR
    return (state / DONE_FILE).exists() or (state / PACKED_TRAINED).exists()


def run_pack(config: dict, pack_id: str, member_ids: list[str]) -> dict[str, str]:
    """Train the members that have no result, decode their test sets together, write the pack's marker.

    Returns member id -> "ok" or the error that member met; the marker records the same. A member's
    failure does not fail the job: that member's own train job trains it alone (and reports its error).
    """
    from harness.generate import generate_pack
    from harness.train import STATE_DIR, train_pack

    cells = {c.id: c for c in cells_for(config)}
    unknown = [i for i in member_ids if i not in cells]
    if unknown:
        raise HarnessError(f"pack {pack_id}: no cell {unknown[0]!r} in this config; re-plan the workflow")
    members = [cells[i] for i in member_ids]
    todo = [c for c in members if not has_result(config, c)]
    status = {c.id: "ok" for c in members}
    if todo:
        results = train_pack(
            todo,
            [prepared_dir(config, c.dataset, c.split) for c in todo],
            [cell_dir(config, c) for c in todo],
            done_file=PACKED_TRAINED,
        )
        for cell, result in zip(todo, results, strict=True):
            if isinstance(result, TrainingError):
                status[cell.id] = str(result)
    decodable = [
        c
        for c in members
        if status[c.id] == "ok"
        and not (cell_dir(config, c) / "generations.txt").exists()
        and (cell_dir(config, c) / STATE_DIR / "export.safetensors").exists()
    ]
    if decodable:
        generate_pack(
            decodable,
            [prepared_dir(config, c.dataset, c.split) for c in decodable],
            [cell_dir(config, c) for c in decodable],
            file_name=PACKED_GENERATIONS,
        )
    atomic_write_json(pack_marker(config, pack_id), {"pack": pack_id, "members": status})
    return status


def publish_trained(config: dict, cell: Cell) -> dict | None:
    """Move a cell's training result from its pack into its own outputs (trained.json, provenance.json);
    None if no pack trained it."""
    from harness.train import DONE_FILE, STATE_DIR

    folder = cell_dir(config, cell)
    packed = folder / STATE_DIR / PACKED_TRAINED
    if not packed.exists():
        return None
    record = json.loads(packed.read_text())
    atomic_write_json(folder / "provenance.json", record["provenance"])
    atomic_write_json(folder / STATE_DIR / DONE_FILE, record["summary"])
    packed.unlink()
    return record["summary"]


def pack_error(config: dict, cell_id: str) -> str | None:
    """The error a pack recorded for this cell (the cell failed inside it), if any."""
    for marker in sorted((Path(config["results_dir"]) / "packs").glob("*.json")):
        status = json.loads(marker.read_text())["members"].get(cell_id)
        if status not in (None, "ok"):
            return f"{marker.stem}: {status}"
    return None


def publish_generations(config: dict, cell: Cell) -> Path | None:
    """Move a member's packed decoding into generations.txt; None if its pack did not decode it."""
    folder = cell_dir(config, cell)
    packed = folder / PACKED_GENERATIONS
    if not packed.exists():
        return None
    out = folder / "generations.txt"
    atomic_write_text(out, packed.read_text())
    os.unlink(packed)
    return out
