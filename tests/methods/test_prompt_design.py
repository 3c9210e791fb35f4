"""Prompt design: nothing trains, the cell keeps its demonstration pool, and each input gets K examples in front."""

from __future__ import annotations

import pytest
import torch
from core_conftest_helpers import SYNTHETIC_ROWS, make_cell, write_synthetic_data
from method_checks import (
    ROWS,
    assert_backbone_bit_identical,
    assert_cached_steps_match_a_full_forward,
    assert_decoding_differs_from_the_bare_backbone,
    exported,
    fresh_method,
    tiny,
    tokenizer,
    train_tiny,
)

from harness.errors import ConfigError, ModelError
from harness.generate import prompt_ids
from harness.methods import build_method, check_spec
from harness.train import STATE_DIR, encode_example, train_cell

SPEC = {"type": "prompt-design", "shots": 2}
TRAIN_ROWS = [{"source": s, "target": t} for s, t in SYNTHETIC_ROWS[:ROWS]]


def _prepared(spec=SPEC, kind="llama"):
    method = fresh_method(spec, kind)
    method.prepare(tokenizer(), TRAIN_ROWS)
    return method


@pytest.fixture(scope="module")
def few_shot_cell(tmp_path_factory):
    """The prompt-design cell (2 shots), trained once for this module."""
    return train_tiny(SPEC, "llama", tmp_path_factory.mktemp("prompt-design"))


def test_training_runs_no_step_but_writes_the_cell(few_shot_cell):
    assert few_shot_cell.summary["steps"] == 0 and few_shot_cell.summary["trainable_parameters"] == 0
    assert not (few_shot_cell.cell_dir / "train_log.jsonl").exists()
    assert (few_shot_cell.cell_dir / "provenance.json").exists()
    assert_backbone_bit_identical(few_shot_cell)


def test_export_holds_the_tokenised_training_examples(few_shot_cell):
    state = exported(few_shot_cell)
    assert set(state) == {"pool_ids", "pool_offsets", "seed"}
    examples = [encode_example(tokenizer(), r["source"], r["target"], 10**6)[0] for r in TRAIN_ROWS]
    offsets = state["pool_offsets"].tolist()
    assert [state["pool_ids"][a:b].tolist() for a, b in zip(offsets, offsets[1:], strict=False)] == examples


@torch.no_grad()
def test_reloaded_cell_writes_k_whole_examples_before_each_input(few_shot_cell):
    method = fresh_method(SPEC, "llama")
    method.load_export_from(few_shot_cell.cell_dir / STATE_DIR)
    assert method.draw_seed == few_shot_cell.method.draw_seed
    examples = [encode_example(tokenizer(), r["source"], r["target"], 10**6)[0] for r in TRAIN_ROWS]
    row = prompt_ids(tokenizer(), "name : Loch Fyne | food : Japanese")
    ids = torch.tensor([row])
    context = method.model_inputs(ids, torch.ones_like(ids))["input_ids"][0].tolist()
    assert context[-len(row) :] == row
    demos, rest = [], context[: -len(row)]
    while rest:
        demo = next(e for e in examples if rest[: len(e)] == e)
        demos.append(demo)
        rest = rest[len(demo) :]
    assert len(demos) == 2 and demos[0] != demos[1]
    assert context == few_shot_cell.method.model_inputs(ids, torch.ones_like(ids))["input_ids"][0].tolist()


def test_the_draw_depends_on_the_source_only_not_on_batch_or_target():
    method = _prepared()
    rows = [prompt_ids(tokenizer(), s) for s, _ in SYNTHETIC_ROWS]
    draws = [method.demonstrations(r) for r in rows]
    assert len({tuple(d) for d in draws}) > 1, "different inputs should get different draws"
    assert method.demonstrations(rows[3] + [40, 41, 2]) == draws[3]


def test_decoding_differs_from_the_bare_backbone():
    assert_decoding_differs_from_the_bare_backbone(
        SPEC, "llama", std=None, prepare=lambda m: m.prepare(tokenizer(), TRAIN_ROWS)
    )


def test_cached_decoding_steps_match_a_full_forward():
    assert_cached_steps_match_a_full_forward(_prepared(kind="gpt2"))


def test_demonstrations_that_do_not_fit_the_context_are_dropped_farthest_first():
    method = _prepared()
    row = prompt_ids(tokenizer(), "name : Loch Fyne")
    both = method.demonstrations(row)
    method.context_limit = len(both) + len(row) - 1
    kept = method.demonstrations(row)
    assert 0 < len(kept) < len(both) and both[-len(kept) :] == kept


def test_seed_null_follows_the_cell_seed_and_an_explicit_seed_is_kept():
    """train_cell seeds torch with the cell's seed before building the method; prepare() draws from it."""
    model = tiny("llama")

    def draw_seed(spec, cell_seed):
        torch.manual_seed(cell_seed)
        method = build_method(spec, model)
        method.prepare(tokenizer(), TRAIN_ROWS)
        return method.draw_seed

    assert draw_seed(SPEC, 1) == draw_seed(SPEC, 1) != draw_seed(SPEC, 2)
    assert draw_seed({**SPEC, "seed": 7}, 1) == draw_seed({**SPEC, "seed": 7}, 2) == 7


def test_more_shots_than_training_rows_is_a_config_error(tmp_path):
    data = write_synthetic_data(tmp_path / "data", n=3)
    cell = make_cell("tiny:llama", {"type": "prompt-design", "shots": 5})
    with pytest.raises(ConfigError, match=r"shots = 5 but the training set has 3 rows; lower shots"):
        train_cell(cell, data, tmp_path / "cell")


def test_decoding_without_the_pool_is_a_model_error():
    method = fresh_method(SPEC, "llama")
    ids = torch.tensor([prompt_ids(tokenizer(), "name : Aromi")])
    with pytest.raises(ModelError, match=r"2 shots but 0 demonstrations are loaded; train the cell"):
        method.model_inputs(ids, torch.ones_like(ids))


@pytest.mark.parametrize(("key", "value"), [("shots", -1), ("shots", "2"), ("shots", True), ("seed", -1)])
def test_bad_hyper_parameters_are_config_errors(key, value):
    with pytest.raises(ConfigError, match=rf"config.methods.d.{key} = .* is invalid"):
        check_spec("d", {"type": "prompt-design", key: value})
