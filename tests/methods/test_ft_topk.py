"""FT-top-k: which blocks train on each layout; k is checked against the backbone (common checks: test_every_method)."""

from __future__ import annotations

import pytest
from method_checks import tiny

from harness.errors import ConfigError, ModelError
from harness.methods import build_method, check_spec


def test_llama_layout_trains_its_top_blocks_only():
    model = tiny("llama")
    method = build_method({"type": "ft-top-k", "k": 2}, model)
    names = {n for n, p in model.named_parameters() if p.requires_grad}
    assert names == {n for n, _ in model.named_parameters() if n.startswith(("model.layers.0.", "model.layers.1."))}
    assert "model.norm.weight" not in names and "lm_head.weight" not in names
    assert sum(p.numel() for p in method.trainable_parameters()) == sum(
        p.numel() for p in model.model.layers.parameters()
    )


def test_k_larger_than_the_block_count_is_a_model_error():
    model = tiny("gpt2")
    with pytest.raises(ModelError, match=r"k = 3 but this backbone has only 2 blocks; set k to at most 2"):
        build_method({"type": "ft-top-k", "k": 3}, model)
    # The failed build left the backbone as it was (nothing frozen or unfrozen half-way).
    assert all(p.requires_grad for p in model.parameters())


@pytest.mark.parametrize("k", [0, -1, 1.5, True, "2"])
def test_bad_k_is_a_config_error(k):
    with pytest.raises(ConfigError, match=r"config.methods.top.k = .* must be an integer >= 1"):
        check_spec("top", {"type": "ft-top-k", "k": k})
