"""Every trainable method on a real pretrained backbone (the packaged SmolLM2-135M: Llama layout, grouped-query
attention with 3 key/value heads for 9 query heads): one AdamW step on two rows lowers their loss."""

from __future__ import annotations

import pytest
import torch
from core_conftest_helpers import SYNTHETIC_ROWS

from harness.methods import build_method
from harness.models import load_backbone
from harness.train import batch_loss, collate, encode_example

# Learning rates that move each method noticeably in one step; the prompt's are raw embeddings (Lester: 0.3).
CASES = {
    "ft-top-k": ({"type": "ft-top-k"}, 1e-4),
    "adapter": ({"type": "adapter"}, 1e-3),
    "emb": ({"type": "emb", "length": 5}, 1e-3),
    "infix": ({"type": "infix", "length": 5}, 1e-3),
    "prompt": ({"type": "prompt", "length": 10}, 1e-2),
    "lora": ({"type": "lora"}, 1e-3),
}


@pytest.fixture(scope="module")
def smollm2():
    model, tokenizer = load_backbone({"source": "packaged:smollm2-135m"})
    return model.eval(), tokenizer


@pytest.fixture
def backbone(smollm2):
    """The shared backbone, with ft-top-k's top blocks put back after each test."""
    model, tokenizer = smollm2
    top = {
        k: v.clone() for k, v in model.state_dict().items() if k.startswith(("model.layers.28.", "model.layers.29."))
    }
    yield model, tokenizer
    model.load_state_dict(top, strict=False)


@pytest.mark.parametrize("name", list(CASES))
def test_one_step_lowers_the_loss_of_smollm2(backbone, name):
    model, tokenizer = backbone
    spec, lr = CASES[name]
    torch.manual_seed(0)
    method = build_method(spec, model).eval()  # eval: no dropout, so the two losses are comparable
    if hasattr(method, "prepare"):
        method.prepare(tokenizer, [])  # prompt: Lester's default init (no labels: sampled frequent tokens)
    batch = collate([encode_example(tokenizer, s, t, 48) for s, t in SYNTHETIC_ROWS[:2]], tokenizer.pad_token_id)
    optimizer = torch.optim.AdamW(method.trainable_parameters(), lr=lr, weight_decay=0.0)
    try:
        before = batch_loss(method, batch)
        before.backward()
        optimizer.step()
        with torch.no_grad():
            after = batch_loss(method, batch).item()
    finally:
        if hasattr(method, "hooks"):
            method.hooks.remove()
    assert after < before.item() - 0.05, f"{name}: {before.item():.3f} -> {after:.3f}"
