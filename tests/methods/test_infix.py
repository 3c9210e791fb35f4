"""INFIX-k: slots right after the separator, with input vectors and per-layer key/value offsets (common checks:
test_every_method)."""

from __future__ import annotations

import pytest
import torch
from method_checks import CASES, exported, fresh_method, tokenizer

from harness.errors import ConfigError, ModelError
from harness.generate import prompt_ids
from harness.methods import build_method, check_spec
from harness.methods.layout import blocks, projections

SPEC = CASES["infix"][0]  # length 2, mid_dim 16


def test_export_is_input_vectors_and_key_value_offsets(trained):
    run = trained("infix")
    state, config = exported(run), run.method.backbone.config
    head_dim = config.hidden_size // config.num_attention_heads
    assert set(state) == {"embeddings", "kv"}
    assert state["embeddings"].shape == (2, config.hidden_size)
    assert state["kv"].shape == (2 * config.num_hidden_layers, config.num_key_value_heads, 2, head_dim)


def _text():
    row = prompt_ids(tokenizer(), "name : Aromi | priceRange : cheap") + [11, 12, 13]
    ids = torch.tensor([row])
    return ids, torch.ones_like(ids), row.index(tokenizer().bos_token_id)


@torch.no_grad()
@pytest.mark.parametrize("kind", ["gpt2", "llama"])
def test_the_infix_sits_after_the_separator(kind):
    """Source tokens cannot see it (causal), the separator's prediction (first target token) and later can."""
    method = fresh_method(SPEC, kind, std=0.5)
    ids, mask, sep = _text()
    with_infix = method(ids, mask).logits
    bare = build_method({"type": "finetune"}, method.backbone)(ids, mask).logits
    assert torch.allclose(with_infix[:, :sep], bare[:, :sep], atol=1e-5, rtol=0)
    assert ((with_infix[:, sep:] - bare[:, sep:]).abs().amax(-1) > 1e-3).all()


@torch.no_grad()
def test_offsets_reach_only_the_keys_and_values_of_the_infix_slots():
    """GPT-2's fused c_attn: at the infix slots its k and v columns gain the layer's offsets, q is untouched;
    at every other position all columns are the plain projection."""
    method = fresh_method(SPEC, "gpt2", std=0.5)
    ids, mask, sep = _text()
    c_attn = projections(blocks(method.backbone)[1])["k"].module
    seen = {}
    handles = [
        c_attn.register_forward_pre_hook(lambda m, args: seen.update(x=args[0])),
        c_attn.register_forward_hook(lambda m, args, out: seen.update(out=out)),  # runs after the method's hook
    ]
    method(ids, mask)
    for handle in handles:
        handle.remove()
    plain = c_attn.forward(seen["x"])  # .forward: the projection without any hook
    d = method.backbone.config.hidden_size
    slots = [sep + 1, sep + 2]
    others = [i for i in range(seen["out"].shape[1]) if i not in slots]
    assert torch.equal(seen["out"][:, others], plain[:, others])
    assert torch.equal(seen["out"][:, slots, :d], plain[:, slots, :d])
    offsets = method.offsets()  # [2L, heads, P, head_dim]; layer 1: key block 2, value block 3
    for block, columns in ((2, slice(d, 2 * d)), (3, slice(2 * d, 3 * d))):
        expected = plain[0, slots, columns] + offsets[block].permute(1, 0, 2).reshape(2, d)
        assert torch.allclose(seen["out"][0, slots, columns], expected, atol=1e-6, rtol=0)


def test_a_row_without_separator_is_a_model_error():
    method = fresh_method(SPEC, "llama")
    ids = torch.tensor([[5, 6, 7]])
    with pytest.raises(ModelError, match=r"a row has no separator token \(id 1\)"):
        method(ids, torch.ones_like(ids))


@pytest.mark.parametrize(("key", "value"), [("length", 0), ("mid_dim", 0), ("length", "3"), ("width", 3)])
def test_bad_hyper_parameters_are_config_errors(key, value):
    with pytest.raises(ConfigError, match=rf"config.methods.i.{key}"):
        check_spec("i", {"type": "infix", key: value})
