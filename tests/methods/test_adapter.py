"""Adapters: where they sit (Lin: on the block output; Houlsby: on attention and FFN outputs), their size from a
fraction, one hooked method per backbone (common checks: test_every_method)."""

from __future__ import annotations

import pytest
import torch
from method_checks import CASES, exported, tiny, training_batch

from harness.errors import ConfigError, ModelError
from harness.methods import build_method, check_spec
from harness.methods.adapter import adapter_count
from harness.methods.layout import attention, blocks, mlp

SPEC = CASES["adapter"][0]  # bottleneck 4


def test_export_holds_the_adapters(trained):
    run = trained("adapter")
    state = exported(run)
    assert {k.split(".")[0] for k in state} == {"adapters"}
    config = run.method.backbone.config
    assert sum(v.numel() for v in state.values()) == config.num_hidden_layers * adapter_count(
        config.hidden_size, 4, "lin"
    )


def _bare_forward(model, ids, mask):
    """The backbone alone, fed exactly as a method feeds it (same positions, also on pad slots)."""
    return model(**build_method({"type": "finetune"}, model).model_inputs(ids, mask))


def _outputs(module):
    seen = []
    handle = module.register_forward_hook(lambda m, args, out: seen.append(out[0] if isinstance(out, tuple) else out))
    return seen, handle


def _inputs(module):
    seen = []
    handle = module.register_forward_pre_hook(lambda m, args: seen.append(args[0]))
    return seen, handle


@torch.no_grad()
@pytest.mark.parametrize("kind", ["gpt2", "llama"])
def test_lin_adapter_reads_the_block_output_and_starts_as_identity_when_up_is_zero(kind):
    model = tiny(kind)
    model.eval()
    batch = training_batch()
    ids, mask = batch["input_ids"], batch["attention_mask"]
    block = blocks(model)[0]
    bare_out, handle = _outputs(block)
    bare_logits = _bare_forward(model, ids, mask).logits
    handle.remove()
    method = build_method(SPEC, model).eval()
    adapter_in, handle = _inputs(method.adapters[0])
    method(ids, mask)
    handle.remove()
    assert torch.equal(adapter_in[0], bare_out[0]), "Lin's adapter must read the block's output"
    for adapter in method.adapters:  # up = 0: every adapter returns its input (h + 0)
        adapter.up.weight.zero_()
        adapter.up.bias.zero_()
    assert torch.allclose(method(ids, mask).logits, bare_logits, atol=1e-6, rtol=0)


@torch.no_grad()
def test_houlsby_adapters_read_the_attention_and_ffn_outputs():
    model = tiny("gpt2")
    model.eval()
    batch = training_batch()
    ids, mask = batch["input_ids"], batch["attention_mask"]
    block = blocks(model)[0]
    bare_attn, handle = _outputs(attention(block))
    _bare_forward(model, ids, mask)
    handle.remove()
    method = build_method({**SPEC, "style": "houlsby"}, model).eval()
    assert len(method.adapters) == 2 * len(blocks(model))
    assert not any(isinstance(a.norm, torch.nn.LayerNorm) for a in method.adapters), "Houlsby has no LayerNorm"
    attn_in, h1 = _inputs(method.adapters[0])
    ffn_in, h2 = _inputs(method.adapters[1])
    ffn_out, h3 = _outputs(mlp(block).c_proj)  # the FFN's output before GPT-2's (inactive in eval) dropout
    method(ids, mask)
    for h in (h1, h2, h3):
        h.remove()
    assert torch.equal(attn_in[0], bare_attn[0])
    assert torch.equal(ffn_in[0], ffn_out[0])


def test_fraction_picks_the_nearest_bottleneck_on_the_real_backbone():
    model = tiny("llama")
    total = sum(p.numel() for p in model.parameters())
    method = build_method({"type": "adapter", "fraction": 0.01}, model)
    layers, d = model.config.num_hidden_layers, model.config.hidden_size
    count = sum(p.numel() for p in method.trainable_parameters())
    assert count == layers * adapter_count(d, method.bottleneck, "lin")
    for other in (method.bottleneck - 1, method.bottleneck + 1):
        assert abs(count - 0.01 * total) <= abs(layers * adapter_count(d, other, "lin") - 0.01 * total)


def test_a_second_hooked_method_on_one_backbone_is_refused_until_removed():
    model = tiny("gpt2")
    first = build_method(SPEC, model)
    with pytest.raises(ModelError, match="already carries the hooks of a 'adapter' method"):
        build_method({"type": "lora"}, model)
    first.hooks.remove()
    build_method({"type": "lora"}, model).hooks.remove()


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ({"fraction": 1.5}, r"fraction = 1.5 is invalid .* must be null or a number in \(0, 1\]"),
        ({"fraction": 0}, r"fraction = 0 is invalid"),
        ({"bottleneck": 0}, r"bottleneck = 0 is invalid .* must be null or an integer >= 1"),
        ({"style": "pfeiffer"}, r"style = 'pfeiffer' is invalid .* one of lin, houlsby"),
        ({"size": 3}, r"config.methods.a.size: unknown hyper-parameter of 'adapter'"),
    ],
)
def test_bad_hyper_parameters_are_config_errors(spec, message):
    with pytest.raises(ConfigError, match=message):
        check_spec("a", {"type": "adapter", **spec})


def test_bottleneck_and_fraction_together_are_a_config_error():
    model = tiny("gpt2")
    with pytest.raises(ConfigError, match=r"both bottleneck \(6\) and fraction \(0.001\) are set; keep one"):
        build_method({"type": "adapter", "bottleneck": 6, "fraction": 0.001}, model)
