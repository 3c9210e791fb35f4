"""Cells: one trained and scored model each (dataset x split x model x method x seed)."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from harness.config import method_spec
from harness.errors import ConfigError

# Keys that only say which paper row a result sits beside: renaming one must not re-train.
LABEL_KEYS = ("paper_model", "paper_method")


@dataclass(frozen=True)
class Cell:
    dataset: str  # "e2e"
    split: str  # data variant folder, e.g. "full-tr200-te50"
    model: str  # key in config.models
    method: str  # key in config.methods
    seed: int
    model_spec: dict  # config.models[model]
    method_spec: dict  # config.methods[method] minus its train/decode overrides
    train: dict  # config.train merged with the method's overrides
    decode: dict  # config.decode merged with the method's overrides

    @property
    def spec_hash(self) -> str:
        """Six hex digits of everything outside the id's path that changes results."""
        return spec_digest(self.spec())[:6]

    @property
    def id(self) -> str:
        return f"{self.dataset}/{self.split}/{self.model}/{self.method}-{self.spec_hash}/seed{self.seed}"

    def spec(self) -> dict:
        """The hashed part of the cell: specs without labels, and the effective train/decode settings."""
        return {
            "model": _without_labels(self.model_spec),
            "method": _without_labels(self.method_spec),
            "train": self.train,
            "decode": self.decode,
        }


def spec_digest(obj: Any) -> str:
    """sha1 of canonical JSON: key order and whitespace never change the digest."""
    canonical = json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=True)
    return hashlib.sha1(canonical.encode("utf-8")).hexdigest()


def cells_for(config: dict) -> list[Cell]:
    """Every cell of a validated config, in config order (datasets, models, methods, seeds)."""
    from harness import data

    cells = []
    for dataset, params in config["datasets"].items():
        split = data.variant_name(dataset, params)
        for model, model_spec in config["models"].items():
            for method, entry in config["methods"].items():
                for seed in config["seeds"]:
                    cells.append(
                        Cell(
                            dataset=dataset,
                            split=split,
                            model=model,
                            method=method,
                            seed=seed,
                            model_spec=model_spec,
                            method_spec=method_spec(entry),
                            train={**config["train"], **entry.get("train", {})},
                            decode={**config["decode"], **entry.get("decode", {})},
                        )
                    )
    return cells


def cell_by_id(config: dict, cell_id: str) -> Cell:
    """The config's cell with id `cell_id`; ConfigError if the config has none."""
    for cell in cells_for(config):
        if cell.id == cell_id:
            return cell
    raise ConfigError(
        f"no cell {cell_id!r} in config {config['name']!r}; `python -m harness cells --config <file>` lists "
        "its cells (changing a hyper-parameter changes the 6-character hash after the method name)."
    )


def _without_labels(spec: dict) -> dict:
    return {k: v for k, v in spec.items() if k not in LABEL_KEYS}


def cell_dir(config: dict, cell: Cell) -> Path:
    """`{results_dir}/cells/{cell.id}/`: the cell's trainable state, generations and scores."""
    return Path(config["results_dir"]) / "cells" / cell.id


def prepared_dir(config: dict, dataset: str, split: str) -> Path:
    """`{results_dir}/data/{dataset}/{split}/`: the prepared JSONL files of one data variant."""
    return Path(config["results_dir"]) / "data" / dataset / split
