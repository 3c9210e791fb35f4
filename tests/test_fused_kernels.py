"""The fused GELU swap used on GPUs computes GPT-2's activation (up to rounding) and touches nothing else."""

from __future__ import annotations

import copy

import torch

from harness.models import TINY_CONFIGS, fuse_activations, load_backbone


def test_fused_gelu_gives_the_same_outputs():
    model, _ = load_backbone({"source": "tiny:gpt2"})
    model.eval()  # no dropout: the two forwards must see the same function
    fused = copy.deepcopy(model)
    assert fuse_activations(fused) == TINY_CONFIGS["gpt2"]["n_layer"]
    assert fuse_activations(fused) == 0  # nothing left to swap
    assert fused.state_dict().keys() == model.state_dict().keys()
    ids = torch.randint(0, 1000, (2, 12))
    with torch.no_grad():
        torch.testing.assert_close(fused(ids).logits, model(ids).logits, rtol=1e-5, atol=1e-5)


def test_models_without_gelu_new_are_left_alone():
    model, _ = load_backbone({"source": "tiny:llama"})  # SiLU: already one kernel
    assert fuse_activations(model) == 0
