"""FT-top-k: only the top k blocks train, they are the exported state, and k is checked against the backbone."""

from __future__ import annotations

import pytest
from method_checks import (
    assert_backbone_bit_identical,
    assert_decoding_differs_from_the_bare_backbone,
    assert_every_trainable_tensor_moved,
    assert_export_reloads_on_a_fresh_backbone,
    assert_training_lowered_the_loss,
    exported,
    train_tiny,
)

from harness.errors import ConfigError, ModelError
from harness.methods import build_method, check_spec
from harness.models import load_backbone

SPEC = {"type": "ft-top-k", "k": 1}
TOP = "transformer.h.1."  # tiny:gpt2 has 2 blocks: k = 1 trains the second one only


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    return train_tiny(SPEC, "gpt2", tmp_path_factory.mktemp("ft-top-k"))


def test_only_the_top_blocks_change(trained):
    assert_backbone_bit_identical(trained, except_prefix=(TOP,))
    assert_every_trainable_tensor_moved(trained)
    assert set(trained.trainable_before) == {f"backbone.{k}" for k in trained.backbone_before if k.startswith(TOP)}


def test_export_is_the_top_blocks_and_reloads(trained):
    state = exported(trained)
    assert set(state) == {f"backbone.{k}" for k in trained.backbone_before if k.startswith(TOP)}
    assert_export_reloads_on_a_fresh_backbone(trained)


def test_training_lowers_the_loss(trained):
    assert_training_lowered_the_loss(trained)


def test_decoding_differs_from_the_bare_backbone():
    assert_decoding_differs_from_the_bare_backbone(SPEC, "gpt2", std=0.5)


def test_llama_layout_trains_its_top_blocks_only():
    model, _ = load_backbone({"source": "tiny:llama"})
    method = build_method({"type": "ft-top-k", "k": 2}, model)
    names = {n for n, p in model.named_parameters() if p.requires_grad}
    assert names == {n for n, _ in model.named_parameters() if n.startswith(("model.layers.0.", "model.layers.1."))}
    assert "model.norm.weight" not in names and "lm_head.weight" not in names
    assert sum(p.numel() for p in method.trainable_parameters()) == sum(
        p.numel() for p in model.model.layers.parameters()
    )


def test_k_larger_than_the_block_count_is_a_model_error():
    model, _ = load_backbone({"source": "tiny:gpt2"})
    with pytest.raises(ModelError, match=r"k = 3 but this backbone has only 2 blocks; set k to at most 2"):
        build_method({"type": "ft-top-k", "k": 3}, model)
    # The failed build left the backbone as it was (nothing frozen or unfrozen half-way).
    assert all(p.requires_grad for p in model.parameters())


@pytest.mark.parametrize("k", [0, -1, 1.5, True, "2"])
def test_bad_k_is_a_config_error(k):
    with pytest.raises(ConfigError, match=r"config.methods.top.k = .* must be an integer >= 1"):
        check_spec("top", {"type": "ft-top-k", "k": k})
