"""One packed forward/backward over K cells gives each cell its own separate loss and gradient."""

from __future__ import annotations

import pytest
import torch
from method_checks import tiny, training_batch

from harness.errors import ConfigError
from harness.methods import build_method
from harness.packed import PackedCells, per_cell_loss
from harness.train import batch_loss

SPECS = {
    "prefix": {"type": "prefix", "length": 3, "mid_dim": 16},
    "prompt": {"type": "prompt", "length": 4, "init": "uniform"},
    "emb": {"type": "emb", "length": 3, "mid_dim": 16},
    "infix": {"type": "infix", "length": 2, "mid_dim": 16},
}


def _cells(spec: dict, backbone, k: int):
    methods = []
    for seed in range(k):
        torch.manual_seed(seed)  # each cell its own initial state, as its own run would draw it
        methods.append(build_method(spec, backbone))
    return methods


def _split(batch: dict, rows: list[int]) -> dict:
    return {key: value[rows] for key, value in batch.items()}


@pytest.mark.parametrize("name", sorted(SPECS))
@pytest.mark.parametrize("kind", ["llama", "gpt2"])
def test_packed_losses_and_gradients_equal_separate_cells(name, kind):
    # 4 rows: cell 0 gets rows 0 and 3, cell 1 row 1, cell 2 row 2
    _assert_packing_equals_separate_cells(SPECS[name], kind, torch.tensor([0, 1, 2, 0]))


@pytest.mark.parametrize(
    ("name", "kind"), [("prefix", "bart"), ("prefix", "t5"), ("prompt", "t5"), ("prompt", "bart")]
)
def test_packed_encoder_decoder_cells_equal_separate_cells(name, kind):
    """K = 2 cells: the three prefixes of BART/T5 prefix-tuning (and T5's encoder prompt) are per row too."""
    _assert_packing_equals_separate_cells(SPECS[name], kind, torch.tensor([0, 1, 1, 0]))


def _assert_packing_equals_separate_cells(spec: dict, kind: str, cells: torch.Tensor) -> None:
    backbone = tiny(kind)
    k = int(cells.max()) + 1
    methods = _cells(spec, backbone, k=k)
    packed = PackedCells(methods).train()
    batch = training_batch(backbone)
    losses = per_cell_loss(packed, batch, cells, k=k)
    losses.sum().backward()
    packed_grads = [[p.grad.clone() for p in m.trainable_parameters()] for m in methods]
    assert not any(p.grad is not None and p.grad.abs().sum() > 0 for p in backbone.parameters())

    for i, method in enumerate(methods):
        for p in method.trainable_parameters():
            p.grad = None
        rows = [r for r, c in enumerate(cells.tolist()) if c == i]
        alone = batch_loss(method.train(), _split(batch, rows))
        alone.backward()
        torch.testing.assert_close(losses[i], alone, rtol=1e-5, atol=1e-6)
        for got, want in zip(packed_grads[i], [p.grad for p in method.trainable_parameters()], strict=True):
            torch.testing.assert_close(got, want, rtol=1e-4, atol=1e-6)
    # The cells really differ: packing is not one cell copied K times.
    assert not torch.allclose(losses[0], losses[1])


def test_backbone_stays_in_eval_mode_while_the_cell_trains():
    backbone = tiny("gpt2")  # GPT-2 has dropout: in train mode, a row's loss would depend on the RNG stream
    method = build_method(SPECS["prefix"], backbone).train()
    assert method.training and not backbone.training
    assert method.control_trans.training


def test_cells_that_cannot_share_a_batch_are_refused():
    backbone = tiny("llama")
    short = build_method(SPECS["prefix"], backbone)
    long = build_method({**SPECS["prefix"], "length": 5}, backbone)
    with pytest.raises(ConfigError, match="cannot share a batch"):
        PackedCells([short, long])
    with pytest.raises(ConfigError, match="one backbone"):
        PackedCells([short, build_method(SPECS["prefix"], tiny("llama"))])
    with pytest.raises(ConfigError, match="cannot be packed"):
        PackedCells([build_method({"type": "finetune"}, tiny("llama"))])


@pytest.mark.parametrize("spec", [SPECS["prefix"], {"type": "finetune"}, SPECS["prompt"]])
def test_the_loss_over_target_logits_only_equals_the_full_computation(spec):
    from harness.loss import logits_to_keep

    method = build_method(spec, tiny("llama")).train()
    batch = training_batch()
    full = method(batch["input_ids"], batch["attention_mask"]).logits[:, :-1]
    want = torch.nn.functional.cross_entropy(
        full.reshape(-1, full.shape[-1]), batch["labels"][:, 1:].reshape(-1), ignore_index=-100
    )
    keep = logits_to_keep(method, batch["labels"])
    # Sources carry no loss: the LM head is skipped over them, except where the logits are re-mapped (prompt).
    assert bool(keep) == (spec["type"] != "prompt")
    torch.testing.assert_close(batch_loss(method, batch), want, rtol=1e-6, atol=1e-6)
