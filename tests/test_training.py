"""The training loop: what trains (and what must not), exact resume, divergence, and a real loss decrease."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from core_conftest_helpers import make_cell, read_log, require_shared_data, torch_threads, write_synthetic_data
from safetensors.torch import load_file

import harness.train
from harness.data import prepare
from harness.errors import TrainingError
from harness.io import read_jsonl
from harness.methods import build_method
from harness.methods.base import EXPORT_FILE
from harness.models import load_backbone
from harness.train import DONE_FILE, STATE_DIR, batch_loss, collate, encode_example, train_cell

PREFIX = {"type": "prefix", "length": 3, "mid_dim": 16}


@pytest.fixture(scope="module", autouse=True)
def _one_thread():
    with torch_threads(1):
        yield


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory) -> Path:
    return write_synthetic_data(tmp_path_factory.mktemp("synthetic"), n=8)


@pytest.fixture
def capture_method(monkeypatch):
    """Record the method train_cell builds, with a copy of its backbone weights taken before training."""
    seen: dict = {}

    def spy(spec, backbone):
        seen["before"] = {k: v.detach().clone() for k, v in backbone.state_dict().items()}
        seen["method"] = build_method(spec, backbone)
        seen["trainable_before"] = seen["method"].trainable_state()
        return seen["method"]

    monkeypatch.setattr(harness.train, "build_method", spy)
    return seen


def _changed(before: dict, after: dict) -> list[str]:
    return [k for k in before if not torch.equal(before[k], after[k])]


def test_prefix_training_leaves_the_backbone_bit_identical(data_dir, tmp_path, capture_method):
    cell = make_cell("tiny:llama", PREFIX, lr=1e-2, max_steps=3)
    summary = train_cell(cell, data_dir, tmp_path / "cell")
    method = capture_method["method"]
    assert summary["steps"] == 3
    assert _changed(capture_method["before"], method.backbone.state_dict()) == []
    assert set(_changed(capture_method["trainable_before"], method.trainable_state())) == set(
        capture_method["trainable_before"]
    ), "every prefix tensor should have moved"
    # Only the projected prefix is kept: P x L x 2 x d_kv values, no backbone tensor.
    exported = load_file(str(tmp_path / "cell" / STATE_DIR / EXPORT_FILE))
    config = method.backbone.config
    d_kv = config.num_key_value_heads * config.hidden_size // config.num_attention_heads
    assert list(exported) == ["prefix"]
    assert exported["prefix"].numel() == 3 * config.num_hidden_layers * 2 * d_kv == summary["exported_values"]


def test_finetune_changes_the_backbone(data_dir, tmp_path, capture_method):
    cell = make_cell("tiny:gpt2", {"type": "finetune"}, lr=1e-2, max_steps=2)
    train_cell(cell, data_dir, tmp_path / "cell")
    after = capture_method["method"].backbone.state_dict()
    changed = _changed(capture_method["before"], after)
    trainable = [k for k, v in capture_method["method"].backbone.named_parameters()]
    assert set(trainable) <= set(changed), "every backbone weight should train under finetune"
    exported = load_file(str(tmp_path / "cell" / STATE_DIR / EXPORT_FILE))
    assert all(torch.equal(exported[f"backbone.{k}"], after[k]) for k in trainable)


class Interrupt(Exception):
    pass


def _stop_at(step_to_stop: int):
    def on_step(step: int, loss: float) -> None:
        if step == step_to_stop:
            raise Interrupt(step)

    return on_step


def _log_values(cell_dir: Path) -> list[tuple]:
    return [(r["step"], r["epoch"], r["loss"], r["lr"]) for r in read_log(cell_dir)]


@pytest.mark.parametrize(
    ("source", "spec", "train"),
    [
        # 8 rows, batch 2: 4 steps per epoch, so the run crosses an epoch boundary after the resume.
        ("tiny:llama", PREFIX, dict(lr=1e-2, max_steps=6, warmup_steps=2)),
        # GPT-2 has dropout (RNG state must be restored) and accumulation over 2 micro-batches.
        ("tiny:gpt2", {"type": "finetune"}, dict(lr=1e-3, max_steps=5, grad_accum=2)),
    ],
    ids=["prefix-llama", "finetune-gpt2"],
)
def test_interrupted_and_resumed_run_equals_uninterrupted(data_dir, tmp_path, source, spec, train):
    cell = make_cell(source, spec, seed=3, checkpoint_every=2, **train)
    straight, resumed = tmp_path / "straight", tmp_path / "resumed"
    train_cell(cell, data_dir, straight)

    with pytest.raises(Interrupt):
        train_cell(cell, data_dir, resumed, on_step=_stop_at(3))
    assert (resumed / STATE_DIR / "checkpoint").is_dir(), "the crash must leave the step-2 checkpoint"
    assert not (resumed / STATE_DIR / DONE_FILE).exists()
    assert [r["step"] for r in read_log(resumed)] == [1, 2, 3]

    train_cell(cell, data_dir, resumed)
    a = load_file(str(straight / STATE_DIR / EXPORT_FILE))
    b = load_file(str(resumed / STATE_DIR / EXPORT_FILE))
    assert a.keys() == b.keys()
    assert all(torch.equal(a[k], b[k]) for k in a), [k for k in a if not torch.equal(a[k], b[k])]
    steps = [r["step"] for r in read_log(resumed)]
    assert steps == list(range(1, train["max_steps"] + 1)), "each step logged exactly once"
    assert _log_values(resumed) == _log_values(straight)
    assert not (resumed / STATE_DIR / "checkpoint").exists()
    assert (resumed / STATE_DIR / DONE_FILE).exists()


def test_a_new_run_without_checkpoint_starts_a_fresh_log(data_dir, tmp_path):
    cell = make_cell("tiny:llama", PREFIX, max_steps=2)
    train_cell(cell, data_dir, tmp_path)
    train_cell(cell, data_dir, tmp_path)
    assert [r["step"] for r in read_log(tmp_path)] == [1, 2]


def test_non_finite_loss_is_a_training_error_and_saves_nothing(data_dir, tmp_path):
    # lr=1e30: the first update sends the prefix to ~1e30, the next loss is not finite.
    cell = make_cell("tiny:llama", PREFIX, lr=1e30, max_steps=4)
    with pytest.raises(TrainingError) as err:
        train_cell(cell, data_dir, tmp_path)
    message = str(err.value)
    assert cell.id in message
    assert "lower train.lr" in message and "precision: fp32" in message
    assert not (tmp_path / STATE_DIR / DONE_FILE).exists()
    assert not (tmp_path / STATE_DIR / EXPORT_FILE).exists()
    assert not (tmp_path / "provenance.json").exists()


def test_nan_from_the_first_batch_is_caught(data_dir, tmp_path, monkeypatch):
    monkeypatch.setattr(harness.train, "batch_loss", lambda method, batch: torch.tensor(float("nan")))
    cell = make_cell("tiny:gpt2", {"type": "finetune"}, max_steps=2)
    with pytest.raises(TrainingError, match=r"loss is nan at step 0"):
        train_cell(cell, data_dir, tmp_path)
    assert not (tmp_path / STATE_DIR / DONE_FILE).exists()


def test_empty_training_file_is_a_training_error(tmp_path):
    folder = tmp_path / "data"
    folder.mkdir()
    (folder / "train.jsonl").write_text("")
    with pytest.raises(TrainingError, match="re-run the prepare step"):
        train_cell(make_cell("tiny:gpt2", {"type": "finetune"}, max_steps=1), folder, tmp_path / "cell")


def test_prefix_training_lowers_the_loss_of_smollm2_on_real_e2e_rows(tmp_path):
    """A real pretrained backbone, real E2E rows: 4 full-batch steps (every step sees all 6 rows, so the
    logged losses are the loss of one fixed batch before each update) lower the training loss."""
    root = require_shared_data()
    data = tmp_path / "data"
    prepare("e2e", {"split": "full", "train_rows": 6, "dev_rows": 2, "test_mrs": 2}, root, data)
    cell = make_cell(
        "packaged:smollm2-135m",
        {"type": "prefix", "length": 5, "mid_dim": 512},
        lr=1e-3,
        max_steps=4,
        batch_size=6,
        max_length=40,
    )
    train_cell(cell, data, tmp_path / "cell")
    losses = [r["loss"] for r in read_log(tmp_path / "cell")]
    assert len(losses) == 4
    assert losses[-1] < 0.7 * losses[0], f"training did not lower the loss: {losses}"

    # The exported prefix (not the MLP) carries what was learnt: reload it on a fresh backbone.
    model, tokenizer = load_backbone(cell.model_spec)
    rows = read_jsonl(data / "train.jsonl")
    batch = collate([encode_example(tokenizer, r["source"], r["target"], 40) for r in rows], tokenizer.pad_token_id)
    method = build_method(cell.method_spec, model).eval()
    method.load_export_from(tmp_path / "cell" / STATE_DIR)
    with torch.no_grad():
        after = batch_loss(method, batch).item()
    assert after < 0.7 * losses[0], f"reloaded prefix loss {after:.3f} vs initial {losses[0]:.3f}"


def test_target_cut_by_max_length_is_a_clear_error(tmp_path):
    """A max_length that swallows every target would give a NaN loss; say what to change instead."""
    folder = tmp_path / "data"
    folder.mkdir()
    row = {"id": "a", "source": "name : A long source " * 10, "target": "A text."}
    (folder / "train.jsonl").write_text(json.dumps(row) + "\n")
    cell = make_cell("tiny:llama", {"type": "prefix", "length": 2}, max_steps=1, max_length=8)
    with pytest.raises(TrainingError, match="raise train.max_length"):
        train_cell(cell, folder, tmp_path / "cell")
    assert not (tmp_path / "cell" / STATE_DIR / DONE_FILE).exists()
