"""EMB-k: projected vectors in front of the input embeddings only; the MLP is not exported (common checks:
test_every_method)."""

from __future__ import annotations

import pytest
import torch
from method_checks import CASES, exported, fresh_method, training_batch

from harness.errors import ConfigError, ModelError
from harness.methods import check_spec

SPEC = CASES["emb"][0]  # length 3, mid_dim 16


def test_the_mlp_trains_and_only_its_projection_is_exported(trained):
    run = trained("emb")
    assert set(run.trainable_before) == {
        "wte.weight",
        "control_trans.0.weight",
        "control_trans.0.bias",
        "control_trans.2.weight",
        "control_trans.2.bias",
    }
    state = exported(run)
    assert list(state) == ["embeddings"] and state["embeddings"].shape == (3, run.method.backbone.config.hidden_size)


@torch.no_grad()
def test_vectors_go_in_front_of_the_embedded_input_and_logits_keep_the_callers_positions():
    method = fresh_method(SPEC, "gpt2", std=0.5)
    batch = training_batch()
    ids, mask = batch["input_ids"][:1, :10], batch["attention_mask"][:1, :10]
    embeds = method.backbone.get_input_embeddings()(ids)
    explicit = method.backbone(inputs_embeds=torch.cat([method.vectors()[None], embeds], 1)).logits
    assert torch.allclose(method(ids, mask).logits, explicit[:, 3:], atol=1e-5, rtol=0)


def test_a_mismatched_export_is_a_model_error(trained):
    method = fresh_method({**SPEC, "length": 4}, "llama")
    with pytest.raises(ModelError, match=r"exported 'embeddings' has shape \(3, 32\), .* need \(4, 32\)"):
        method.load_export_from(trained("emb").cell_dir / "state")


@pytest.mark.parametrize("key", ["length", "mid_dim"])
@pytest.mark.parametrize("value", [0, -2, True, 2.0])
def test_bad_sizes_are_config_errors(key, value):
    with pytest.raises(ConfigError, match=rf"config.methods.e.{key} = .* must be an integer >= 1"):
        check_spec("e", {"type": "emb", key: value})
