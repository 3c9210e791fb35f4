"""The contract of test_every_method.py on encoder-decoder backbones (issue 4): finetune, prefix (three prefixes,
Li & Liang's BART setup) and prompt (the encoder only, Lester's T5 setup) on tiny:bart and tiny:t5. The other
methods refuse such a backbone at construction, by name."""

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
    exported,
    fresh_method,
    tiny,
    train_tiny,
)

from harness.errors import ModelError
from harness.methods import ENCODER_DECODER, REGISTRY, build_method
from harness.methods.prefix import PrefixTuning

SPECS = {
    "prefix": {"type": "prefix", "length": 3, "mid_dim": 16},
    "prompt": {"type": "prompt", "length": 4, "init": "vocab"},
    "finetune": {"type": "finetune"},
}
RUNS = [(name, kind) for name in SPECS for kind in ("bart", "t5")]
FROZEN = [(name, kind) for name, kind in RUNS if name != "finetune"]
# Scale of the random values given to the method's tensors for decoding (None: its own init moves the outputs).
DECODING_STD = {"prefix": 0.5, "prompt": None}
DECODING_SPEC = {"prompt": {"init": "uniform"}}


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """`trained(name, kind)`: a few train_cell steps of SPECS[name] on tiny:`kind`, made once per module."""
    runs = {}

    def get(name: str, kind: str):
        if (name, kind) not in runs:
            runs[name, kind] = train_tiny(SPECS[name], kind, tmp_path_factory.mktemp(f"{name}-{kind}"))
        return runs[name, kind]

    return get


@pytest.mark.parametrize(("name", "kind"), RUNS)
def test_own_tensors_moved_and_the_frozen_part_is_bit_identical(trained, name, kind):
    run = trained(name, kind)
    assert_every_trainable_tensor_moved(run)
    if name == "finetune":  # the whole backbone is its state
        assert set(run.trainable_before) == {f"backbone.{k}" for k, p in run.method.backbone.named_parameters()}
    else:
        assert_backbone_bit_identical(run)


@pytest.mark.parametrize(("name", "kind"), RUNS)
def test_export_reloads_on_a_fresh_backbone(trained, name, kind):
    run = trained(name, kind)
    if name != "finetune":
        state = assert_export_holds_no_backbone_tensor(run)
        assert set(state) == ({"encoder", "decoder", "cross"} if name == "prefix" else {"prompt"})
    assert_export_reloads_on_a_fresh_backbone(run)


@pytest.mark.parametrize(("name", "kind"), RUNS)
def test_training_lowers_the_loss(trained, name, kind):
    assert_training_lowered_the_loss(trained(name, kind))


def test_prompt_is_on_the_encoder_only(trained):
    """Lester: the soft prompt is P x d in front of the encoder's input; the decoder's logits are one per target."""
    run = trained("prompt", "t5")
    assert tuple(exported(run)["prompt"].shape) == (4, run.method.backbone.config.d_model)
    mask = torch.tensor([[1, 1, 1], [1, 1, 0]])
    inputs = run.method.model_inputs(torch.tensor([[5, 6, 7], [8, 9, 2]]), mask)
    assert set(inputs) == {"inputs_embeds", "attention_mask"}  # no decoder input, no cache, no positions
    assert inputs["attention_mask"].tolist() == [[1] * 4 + row for row in mask.tolist()]
    assert torch.equal(inputs["inputs_embeds"][:, :4], run.method.prompt.expand(2, -1, -1))


@pytest.mark.parametrize(("name", "kind"), FROZEN)
def test_decoding_differs_from_the_bare_backbone(name, kind):
    spec = {**SPECS[name], **DECODING_SPEC.get(name, {})}
    assert_decoding_differs_from_the_bare_backbone(spec, kind, DECODING_STD[name])


@pytest.mark.parametrize(("name", "kind"), RUNS)
def test_cached_decoding_steps_and_padding(name, kind):
    spec = {**SPECS[name], **DECODING_SPEC.get(name, {})}
    method = fresh_method(spec, kind, std=DECODING_STD.get(name))
    assert_cached_steps_match_a_full_forward(method)
    assert_padding_does_not_leak_into_the_loss(method)


@pytest.mark.parametrize("name", sorted(set(REGISTRY) - set(ENCODER_DECODER)))
def test_methods_without_an_encoder_decoder_path_refuse_one_by_name(name):
    with pytest.raises(ModelError) as err:
        build_method({"type": name}, tiny("bart"))
    message = str(err.value)
    assert f"({name!r})" in message and "BartForConditionalGeneration is an encoder-decoder" in message
    assert "finetune, prefix, prompt" in message


def test_a_decoder_only_method_class_refuses_an_encoder_decoder_directly():
    """build_method picks the encoder-decoder variant; the decoder-only class itself refuses a T5."""
    with pytest.raises(ModelError, match=r"PrefixTuning \('prefix'\) supports decoder-only backbones"):
        PrefixTuning(tiny("t5"))
