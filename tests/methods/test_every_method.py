"""The contract every trainable method keeps (issue 4): after a few steps of train_cell on a tiny backbone the
frozen part is bit-identical, the method's own tensors moved, the loss went down, the cell's export holds only
the method's state and reloads on a fresh backbone; decoding with the method differs from the bare backbone,
and the decoder's cached steps agree with one forward pass. Prompt design (nothing trains) has its own file."""

from __future__ import annotations

import pytest
from method_checks import (
    CASES,
    assert_backbone_bit_identical,
    assert_cached_steps_match_a_full_forward,
    assert_decoding_differs_from_the_bare_backbone,
    assert_every_trainable_tensor_moved,
    assert_export_holds_no_backbone_tensor,
    assert_export_reloads_on_a_fresh_backbone,
    assert_padding_does_not_leak_into_the_loss,
    assert_training_lowered_the_loss,
    exported,
    fresh_method,
)

# The part of the backbone that is the method's own state (FT-top-k: its top blocks).
OWN_BACKBONE_PART = {"ft-top-k": "transformer.h.1."}
# For decoding: the backbone whose layout matters and the scale of random values given to the method's tensors.
DECODING = {
    "ft-top-k": ("gpt2", 0.5),
    "adapter": ("gpt2", 0.5),  # Houlsby style below: hooks on GPT-2's attention and MLP
    "emb": ("llama", 0.5),
    "infix": ("gpt2", 0.5),
    "prompt": ("llama", None),  # uniform init below: U[-0.5, 0.5] already moves the outputs
    "lora": ("llama", 0.5),
}
DECODING_SPEC = {"adapter": {"style": "houlsby"}, "prompt": {"init": "uniform"}}
# Methods that change the input sequence: the cache and the padding must still line up.
INPUT_CHANGING = [(name, kind) for name in ("emb", "infix", "prompt") for kind in ("gpt2", "llama")]


@pytest.mark.parametrize("name", list(CASES))
def test_frozen_part_is_bit_identical_and_own_tensors_moved(trained, name):
    run = trained(name)
    own = OWN_BACKBONE_PART.get(name)
    assert_backbone_bit_identical(run, except_prefix=(own,) if own else ())
    assert_every_trainable_tensor_moved(run)
    if own:
        assert set(run.trainable_before) == {f"backbone.{k}" for k in run.backbone_before if k.startswith(own)}


@pytest.mark.parametrize("name", list(CASES))
def test_export_holds_only_the_methods_state_and_reloads(trained, name):
    run = trained(name)
    own = OWN_BACKBONE_PART.get(name)
    if own:  # the top blocks ARE the state
        assert set(exported(run)) == {f"backbone.{k}" for k in run.backbone_before if k.startswith(own)}
    else:
        assert_export_holds_no_backbone_tensor(run)
    assert_export_reloads_on_a_fresh_backbone(run)


@pytest.mark.parametrize("name", list(CASES))
def test_training_lowers_the_loss(trained, name):
    assert_training_lowered_the_loss(trained(name))


@pytest.mark.parametrize("name", list(CASES))
def test_decoding_differs_from_the_bare_backbone(name):
    spec, _ = CASES[name]
    kind, std = DECODING[name]
    assert_decoding_differs_from_the_bare_backbone({**spec, **DECODING_SPEC.get(name, {})}, kind, std)


@pytest.mark.parametrize(("name", "kind"), INPUT_CHANGING)
def test_cached_decoding_steps_and_padding(name, kind):
    spec, _ = CASES[name]
    method = fresh_method({**spec, **DECODING_SPEC.get(name, {})}, kind, std=0.5)
    assert_cached_steps_match_a_full_forward(method)
    assert_padding_does_not_leak_into_the_loss(method)
