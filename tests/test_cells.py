"""Cells: the grid's size, stable ids, and a new id whenever a result-changing setting changes."""

import copy
from pathlib import Path

import pytest
import yaml

from harness.cells import Cell, cell_by_id, cell_dir, cells_for, prepared_dir
from harness.config import validate_config
from harness.errors import ConfigError

QUICKSTART = Path(__file__).resolve().parents[1] / "config" / "quickstart.yaml"


@pytest.fixture
def raw():
    return yaml.safe_load(QUICKSTART.read_text(encoding="utf-8"))


def ids(raw_config):
    return [c.id for c in cells_for(validate_config(raw_config))]


def test_one_cell_per_dataset_model_method_seed(raw):
    raw["models"]["tiny"] = {"source": "tiny:gpt2", "paper_model": "GPT-2 L"}
    raw["seeds"] = [1, 2, 3]
    cells = cells_for(validate_config(raw))
    assert len(cells) == 1 * 2 * 2 * 3
    assert len({c.id for c in cells}) == len(cells)
    # config order: datasets, then models, then methods, then seeds
    assert [(c.model, c.method, c.seed) for c in cells[:4]] == [
        ("smollm2-135m", "finetune", 1),
        ("smollm2-135m", "finetune", 2),
        ("smollm2-135m", "finetune", 3),
        ("smollm2-135m", "prefix", 1),
    ]


def test_id_layout_and_split_from_the_data_loader(raw):
    cell = cells_for(validate_config(raw))[0]
    assert cell.split == "full-tr200-dv50-te50"
    dataset, split, model, method, seed = cell.id.split("/")
    assert (dataset, split, model, seed) == ("e2e", "full-tr200-dv50-te50", "smollm2-135m", "seed1")
    name, digest = method.rsplit("-", 1)
    assert name == "finetune" and len(digest) == 6 and digest == cell.spec_hash


def test_ids_are_stable(raw):
    first = ids(raw)
    assert ids(copy.deepcopy(raw)) == first
    # key order in the YAML does not matter
    raw["train"] = dict(reversed(list(raw["train"].items())))
    assert ids(raw) == first


def test_spec_hash_is_pinned():
    # A hand-built cell: if this digest changes, every finished result would be orphaned.
    cell = Cell(
        "e2e",
        "full",
        "m",
        "prefix",
        1,
        {"source": "tiny:gpt2"},
        {"type": "prefix", "length": 5},
        {"lr": 8e-5},
        {"num_beams": 5},
    )
    assert cell.id == f"e2e/full/m/prefix-{cell.spec_hash}/seed1"
    assert cell.spec_hash == "dccade"


def test_changing_a_hyperparameter_makes_a_new_cell(raw):
    before = ids(raw)
    raw["methods"]["prefix"]["train"]["lr"] = 1e-4
    after = ids(raw)
    changed = [(b, a) for b, a in zip(before, after, strict=True) if b != a]
    assert len(changed) == 2 and all("/prefix-" in b for b, _ in changed)
    raw["train"]["lr"] = 1e-5  # both methods override lr: the global value reaches no cell
    assert ids(raw) == after
    raw["train"]["epochs"] = 2  # ... but they inherit epochs
    assert all(a != b for a, b in zip(ids(raw), after, strict=True))
    after = ids(raw)
    raw["methods"]["prefix"]["length"] = 10
    assert ids(raw)[:2] == after[:2] and all(a != b for a, b in zip(ids(raw)[2:], after[2:], strict=True))


def test_labels_do_not_change_ids(raw):
    before = ids(raw)
    raw["models"]["smollm2-135m"]["paper_model"] = "GPT-2 L"
    raw["methods"]["prefix"]["paper_method"] = "PREFIX"
    assert ids(raw) == before


def test_method_overrides_merge_into_the_global_blocks(raw):
    raw["methods"]["prefix"]["decode"] = {"num_beams": 3}
    cells = {c.method: c for c in cells_for(validate_config(raw))}
    assert cells["prefix"].train["lr"] == 1e-3 and cells["finetune"].train["lr"] == 5e-5
    assert cells["prefix"].train["batch_size"] == 10
    assert cells["prefix"].decode["num_beams"] == 3 and cells["finetune"].decode["num_beams"] == 5
    assert "train" not in cells["prefix"].method_spec and cells["prefix"].method_spec["type"] == "prefix"


def test_cell_by_id_and_paths(raw):
    config = validate_config(raw)
    cell = cells_for(config)[3]
    assert cell_by_id(config, cell.id) == cell
    assert cell_dir(config, cell) == Path("results/quickstart/cells") / cell.id
    assert prepared_dir(config, "e2e", cell.split) == Path("results/quickstart/data/e2e/full-tr200-dv50-te50")
    with pytest.raises(ConfigError, match="no cell 'e2e/x'"):
        cell_by_id(config, "e2e/x")
