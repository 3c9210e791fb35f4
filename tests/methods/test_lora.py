"""LoRA: low-rank updates of the chosen attention projections only (GPT-2: columns of the fused c_attn; common
checks: test_every_method)."""

from __future__ import annotations

import pytest
import torch
from method_checks import CASES, exported, fresh_method, training_batch

from harness.errors import ConfigError
from harness.methods import build_method, check_spec
from harness.methods.layout import blocks, projections

SPEC = CASES["lora"][0]  # r 2, alpha 4: updates scaled by 2


def test_export_holds_the_low_rank_matrices_of_q_and_v(trained):
    run = trained("lora")
    state, config = exported(run), run.method.backbone.config
    assert {k.rsplit(".", 2)[1] for k in state} == {"q", "v"}
    assert sum(v.numel() for v in state.values()) == config.n_layer * 2 * 2 * (config.n_embd + config.n_embd)


def _io(module, method):
    """(input, output) of `module` in one forward of `method`, the output after the method's hooks."""
    seen = {}
    handles = [
        module.register_forward_pre_hook(lambda m, args: seen.update(x=args[0])),
        module.register_forward_hook(lambda m, args, out: seen.update(out=out)),
    ]
    batch = training_batch()
    with torch.no_grad():
        method(batch["input_ids"], batch["attention_mask"])
    for handle in handles:
        handle.remove()
    return seen["x"], seen["out"]


@torch.no_grad()
def test_starts_as_the_backbone_and_adapts_only_q_and_v_columns_of_gpt2_c_attn():
    method = fresh_method(SPEC, "gpt2")
    batch = training_batch()
    bare = build_method({"type": "finetune"}, method.backbone)
    ids, mask = batch["input_ids"], batch["attention_mask"]
    assert torch.equal(method(ids, mask).logits, bare(ids, mask).logits)
    method = fresh_method(SPEC, "gpt2", std=0.5)
    c_attn = projections(blocks(method.backbone)[0])["q"].module
    x, out = _io(c_attn, method)
    plain, d = c_attn.forward(x), method.backbone.config.n_embd
    assert torch.equal(out[..., d : 2 * d], plain[..., d : 2 * d]), "k columns must stay the backbone's"
    for role, columns in (("q", slice(0, d)), ("v", slice(2 * d, 3 * d))):
        update = method.layers[0][role]
        expected = plain[..., columns] + (x @ update.A.T @ update.B.T) * (4 / 2)
        assert torch.allclose(out[..., columns], expected, atol=1e-5, rtol=0)


@torch.no_grad()
def test_llama_targets_name_roles():
    method = fresh_method({**SPEC, "targets": ["k", "o"]}, "llama", std=0.5)
    roles = projections(blocks(method.backbone)[1])
    for role in ("q", "v"):
        x, out = _io(roles[role].module, method)
        assert torch.equal(out, roles[role].module.forward(x))
    x, out = _io(roles["o"].module, method)
    update = method.layers[1]["o"]
    assert torch.allclose(out, roles["o"].module.forward(x) + (x @ update.A.T @ update.B.T) * 2, atol=1e-5, rtol=0)


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ({"targets": ["q", "x"]}, r"targets = \['q', 'x'\] is invalid .* distinct roles from q, k, v, o"),
        ({"targets": []}, r"targets = \[\] is invalid"),
        ({"targets": ["q", "q"]}, r"targets = \['q', 'q'\] is invalid"),
        ({"r": 0}, r"r = 0 is invalid .* an integer >= 1"),
        ({"alpha": 0}, r"alpha = 0 is invalid .* a number > 0"),
        ({"dropout": 1.0}, r"dropout = 1.0 is invalid .* a number in \[0, 1\)"),
    ],
)
def test_bad_hyper_parameters_are_config_errors(spec, message):
    with pytest.raises(ConfigError, match=message):
        check_spec("l", {"type": "lora", **spec})
