"""Which cells pack together (harness.packs.packs_for), from a config alone."""

from __future__ import annotations

import copy
from pathlib import Path

import pytest
import yaml

from harness.config import validate_config
from harness.errors import ConfigError
from harness.packs import PACKED_TRAINED, packing_enabled, packs_for, publish_trained

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def config(tmp_path):
    raw = yaml.safe_load((ROOT / "config" / "quickstart.yaml").read_text())
    raw["results_dir"] = str(tmp_path / "results")
    raw["methods"] = {
        "prefix": {"type": "prefix", "length": 5},
        "prefix_lr": {"type": "prefix", "length": 5, "train": {"lr": 1e-3}},  # differs in lr only: packs
        "prefix_long": {"type": "prefix", "length": 10},  # other row shapes: its own pack
        "finetune": {"type": "finetune"},  # not packable
    }
    raw["seeds"] = [1, 2, 3]
    raw["packing"] = {"enabled": True, "max_cells": 4}
    return raw


def test_compatible_cells_pack_up_to_max_cells_in_config_order(config):
    packs = packs_for(validate_config(config))
    members = sorted([c.method for c in cells] for cells in packs.values())
    # prefix + prefix_lr (6 cells) -> 4 + 2; prefix_long (3 cells) -> 3; finetune never.
    assert members == [
        ["prefix", "prefix", "prefix", "prefix_lr"],
        ["prefix_long", "prefix_long", "prefix_long"],
        ["prefix_lr", "prefix_lr"],
    ]
    assert all(pack_id.startswith("prefix") for pack_id in packs)
    # Ids are a function of the members: every process that plans or runs the workflow names the same packs.
    assert list(packs_for(validate_config(config))) == list(packs)


def test_auto_packs_only_when_training_gets_a_gpu(config):
    config["packing"] = {"enabled": "auto"}
    assert validate_config(config)["packing"] == {"enabled": "auto", "max_cells": 16}
    assert not packing_enabled(validate_config(config)) and packs_for(validate_config(config)) == {}
    config["resources"] = {"train": {"gpus": 1}}
    assert packing_enabled(validate_config(config))
    assert packs_for(validate_config(config))


def test_cells_with_a_result_are_not_packed_again(config):
    checked = validate_config(config)
    first = next(iter(packs_for(checked).values()))
    for cell in first[:3]:  # three members finished (one published, two waiting to be published)
        state = Path(checked["results_dir"]) / "cells" / cell.id / "state"
        state.mkdir(parents=True)
        (state / ("trained.json" if cell is first[0] else PACKED_TRAINED)).write_text("{}")
    still_packed = {c.id for cells in packs_for(checked).values() for c in cells}
    assert not still_packed & {c.id for c in first[:3]}
    assert first[3].id in still_packed


def test_publish_moves_a_pack_result_into_the_cell_outputs(config):
    checked = validate_config(config)
    cell = next(iter(packs_for(checked).values()))[0]
    folder = Path(checked["results_dir"]) / "cells" / cell.id
    assert publish_trained(checked, cell) is None  # nothing trained it: its job trains it alone
    (folder / "state").mkdir(parents=True)
    (folder / "state" / PACKED_TRAINED).write_text('{"summary": {"steps": 3}, "provenance": {"cell": "x"}}')
    assert publish_trained(checked, cell) == {"steps": 3}
    assert yaml.safe_load((folder / "state" / "trained.json").read_text()) == {"steps": 3}
    assert yaml.safe_load((folder / "provenance.json").read_text()) == {"cell": "x"}
    assert not (folder / "state" / PACKED_TRAINED).exists()


@pytest.mark.parametrize("bad", [{"max_cells": 0}, {"enabled": "yes"}, {"size": 4}])
def test_bad_packing_settings_are_config_errors(config, bad):
    config = copy.deepcopy(config)
    config["packing"] = bad
    with pytest.raises(ConfigError, match="packing"):
        validate_config(config)
