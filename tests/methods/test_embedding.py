"""EMB-k: projected vectors in front of the input embeddings only; the MLP is not exported."""

from __future__ import annotations

import pytest
import torch
from method_checks import (
    assert_backbone_bit_identical,
    assert_cached_steps_match_a_full_forward,
    assert_decoding_differs_from_the_bare_backbone,
    assert_every_trainable_tensor_moved,
    assert_export_holds_no_backbone_tensor,
    assert_export_reloads_on_a_fresh_backbone,
    assert_padding_does_not_leak_into_the_loss,
    assert_training_lowered_the_loss,
    fresh_method,
    train_tiny,
    training_batch,
)

from harness.errors import ConfigError, ModelError
from harness.methods import check_spec

SPEC = {"type": "emb", "length": 3, "mid_dim": 16}


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    return train_tiny(SPEC, "llama", tmp_path_factory.mktemp("emb"))


def test_backbone_bit_identical_and_mlp_trained(trained):
    assert_backbone_bit_identical(trained)
    assert_every_trainable_tensor_moved(trained)
    assert set(trained.trainable_before) == {
        "wte.weight",
        "control_trans.0.weight",
        "control_trans.0.bias",
        "control_trans.2.weight",
        "control_trans.2.bias",
    }


def test_export_is_the_projected_vectors_and_reloads(trained):
    state = assert_export_holds_no_backbone_tensor(trained)
    assert list(state) == ["embeddings"]
    assert state["embeddings"].shape == (3, trained.method.backbone.config.hidden_size)
    assert_export_reloads_on_a_fresh_backbone(trained)


def test_training_lowers_the_loss(trained):
    assert_training_lowered_the_loss(trained)


def test_decoding_differs_from_the_bare_backbone():
    assert_decoding_differs_from_the_bare_backbone(SPEC, "llama", std=0.5)


@pytest.mark.parametrize("kind", ["gpt2", "llama"])
def test_cached_decoding_steps_and_padding(kind):
    method = fresh_method(SPEC, kind, std=0.5)
    assert_cached_steps_match_a_full_forward(method)
    assert_padding_does_not_leak_into_the_loss(method)


@torch.no_grad()
def test_vectors_go_in_front_of_the_embedded_input_and_logits_keep_the_callers_positions():
    method = fresh_method(SPEC, "gpt2", std=0.5)
    batch = training_batch()
    ids, mask = batch["input_ids"][:1, :10], batch["attention_mask"][:1, :10]
    embeds = method.backbone.get_input_embeddings()(ids)
    explicit = method.backbone(inputs_embeds=torch.cat([method.vectors()[None], embeds], 1)).logits
    assert torch.allclose(method(ids, mask).logits, explicit[:, 3:], atol=1e-5, rtol=0)


def test_a_mismatched_export_is_a_model_error(trained, tmp_path):
    method = fresh_method({**SPEC, "length": 4}, "llama")
    with pytest.raises(ModelError, match=r"exported 'embeddings' has shape \(3, 32\), .* need \(4, 32\)"):
        method.load_export_from(trained.cell_dir / "state")


@pytest.mark.parametrize("key", ["length", "mid_dim"])
@pytest.mark.parametrize("value", [0, -2, True, 2.0])
def test_bad_sizes_are_config_errors(key, value):
    with pytest.raises(ConfigError, match=rf"config.methods.e.{key} = .* must be an integer >= 1"):
        check_spec("e", {"type": "emb", key: value})
