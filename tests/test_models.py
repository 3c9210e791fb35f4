"""Backbone loading and the method registry: what loads, what fails, and what the failure says."""

from __future__ import annotations

import time

import pytest
import torch
from core_conftest_helpers import torch_threads

from harness.errors import ConfigError, ModelError
from harness.methods import REGISTRY, build_method, check_spec, describe_methods
from harness.models import load_backbone


@pytest.fixture(scope="module", autouse=True)
def _one_thread():
    with torch_threads(1):
        yield


# --- backbones ------------------------------------------------------------------------------------


def test_missing_local_dir_is_a_model_error_that_says_what_to_do(tmp_path):
    missing = tmp_path / "no-such-model"
    started = time.monotonic()
    with pytest.raises(ModelError) as err:
        load_backbone({"source": str(missing)})
    message = str(err.value)
    assert str(missing) in message  # names the problem...
    assert "config.json" in message and "packaged:smollm2-135m" in message  # ...and the fix
    assert time.monotonic() - started < 10, "a missing local folder must fail at once, not wait on the network"


def test_empty_local_dir_is_a_model_error(tmp_path):
    with pytest.raises(ModelError, match="local directory holding config.json"):
        load_backbone({"source": str(tmp_path)})


@pytest.mark.parametrize(
    ("source", "choices"), [("tiny:bert", "gpt2, llama, bart, t5"), ("packaged:gpt2-xl", "smollm2-135m")]
)
def test_unknown_tiny_or_packaged_model_lists_the_choices(source, choices):
    with pytest.raises(ModelError, match=choices):
        load_backbone({"source": source})


@pytest.mark.parametrize("kind", ["gpt2", "llama", "bart", "t5"])
def test_tiny_models_are_seeded_and_match_the_tokenizer(kind):
    a, tokenizer = load_backbone({"source": f"tiny:{kind}"})
    b, _ = load_backbone({"source": f"tiny:{kind}"})
    c, _ = load_backbone({"source": f"tiny:{kind}", "init_seed": 1})
    sa, sb, sc = a.state_dict(), b.state_dict(), c.state_dict()
    assert all(torch.equal(sa[k], sb[k]) for k in sa), "same init_seed must give the same weights"
    assert not all(torch.equal(sa[k], sc[k]) for k in sa), "another init_seed must give other weights"
    assert a.config.vocab_size == len(tokenizer) == 49_152
    assert a.config.eos_token_id == tokenizer.eos_token_id
    assert a.config.num_hidden_layers == 2


ENCODER_DECODERS = [("bart", "BartForConditionalGeneration"), ("t5", "T5ForConditionalGeneration")]


@pytest.mark.parametrize(("kind", "head"), ENCODER_DECODERS)
def test_tiny_encoder_decoders_start_the_decoder_as_their_families_do(kind, head):
    model, tokenizer = load_backbone({"source": f"tiny:{kind}"})
    assert type(model).__name__ == head and model.config.is_encoder_decoder
    # bart-large starts with EOS, T5 with PAD: the same id with this tokenizer (pad == eos).
    assert model.config.decoder_start_token_id == tokenizer.eos_token_id == tokenizer.pad_token_id
    assert (model.config.bos_token_id, model.config.pad_token_id) == (tokenizer.bos_token_id, tokenizer.pad_token_id)


def test_tiny_t5_is_t5_1_1_shaped():
    """Gated-GELU feed-forward, its own LM head, and (hence, in transformers) no scaling of the decoder output."""
    model, _ = load_backbone({"source": "tiny:t5"})
    assert model.config.is_gated_act and not model.config.scale_decoder_outputs
    assert model.get_output_embeddings().weight is not model.get_input_embeddings().weight
    assert not torch.equal(model.get_output_embeddings().weight, model.get_input_embeddings().weight)


@pytest.mark.parametrize(("kind", "head"), ENCODER_DECODERS)
def test_a_local_encoder_decoder_directory_loads_with_its_seq2seq_head(kind, head, tmp_path):
    """The config decides the head: a saved BART/T5 directory loads as a seq2seq LM with the saved weights."""
    model, tokenizer = load_backbone({"source": f"tiny:{kind}"})
    model.save_pretrained(tmp_path)
    tokenizer.save_pretrained(tmp_path)
    loaded, _ = load_backbone({"source": str(tmp_path)})
    assert type(loaded).__name__ == head
    saved, got = model.state_dict(), loaded.state_dict()
    assert saved.keys() == got.keys() and all(torch.equal(saved[k], got[k]) for k in saved)


def test_tiny_model_loading_leaves_the_global_rng_alone():
    torch.manual_seed(123)
    expected = torch.rand(3)
    torch.manual_seed(123)
    load_backbone({"source": "tiny:llama"})
    assert torch.equal(torch.rand(3), expected)


def test_packaged_smollm2_is_a_pretrained_model():
    """The packaged model is real SmolLM2-135M: an English sentence has a low loss (a random model: ~ln 49152)."""
    model, tokenizer = load_backbone({"source": "packaged:smollm2-135m"})
    assert type(model).__name__ == "LlamaForCausalLM"
    assert (model.config.num_hidden_layers, model.config.hidden_size, model.config.vocab_size) == (30, 576, 49_152)
    ids = torch.tensor([tokenizer("The Eagle is a coffee shop in the city centre near Burger King.").input_ids])
    with torch.no_grad():
        loss = model(input_ids=ids, labels=ids).loss.item()
    assert loss < 5.0, f"loss {loss:.2f}: the weights do not look pretrained"


# --- method registry --------------------------------------------------------------------------------


def test_unknown_method_type_names_the_key_and_the_choices():
    with pytest.raises(ConfigError) as err:
        check_spec("mine", {"type": "prompt-tuning"})
    assert "config.methods.mine.type" in str(err.value)
    assert "'prompt-tuning'" in str(err.value) and all(m in str(err.value) for m in ("finetune", "prefix"))


def test_unknown_hyper_parameter_names_the_key_and_the_allowed_ones():
    with pytest.raises(ConfigError) as err:
        check_spec("p5", {"type": "prefix", "lenght": 5})
    assert "config.methods.p5.lenght" in str(err.value)
    assert "length (default 5)" in str(err.value) and "mid_dim (default 512)" in str(err.value)


def test_finetune_takes_no_hyper_parameters():
    with pytest.raises(ConfigError, match=r"config\.methods\.ft\.length.*allowed: none"):
        check_spec("ft", {"type": "finetune", "length": 5})


@pytest.mark.parametrize(
    ("key", "value"),
    [("length", 0), ("length", -3), ("length", 2.5), ("length", "5"), ("length", True), ("mid_dim", 0)],
)
def test_invalid_prefix_hyper_parameter_names_the_key_and_the_requirement(key, value):
    with pytest.raises(ConfigError) as err:
        check_spec("p", {"type": "prefix", key: value})
    assert f"config.methods.p.{key} = {value!r}" in str(err.value)
    assert "an integer >= 1" in str(err.value)


def test_reserved_keys_are_not_hyper_parameters():
    check_spec("p", {"type": "prefix", "length": 10, "paper_method": "PREFIX", "train": {}, "decode": {}})


def test_build_method_checks_and_applies_hyper_parameters():
    model, _ = load_backbone({"source": "tiny:gpt2"})
    method = build_method({"type": "prefix", "length": 7, "paper_method": "x"}, model)
    assert method.hp == {"length": 7, "mid_dim": 512}
    assert method.prefix_length() == 7
    with pytest.raises(ConfigError, match="config.methods.prefix.length"):
        build_method({"type": "prefix", "length": 0}, model)


def test_describe_methods_lists_every_method_with_defaults():
    described = {entry["method"]: entry for entry in describe_methods()}
    assert set(described) == set(REGISTRY) >= {"finetune", "prefix"}
    assert described["finetune"]["hparams"] == {}
    prefix = described["prefix"]["hparams"]
    assert {k: v["default"] for k, v in prefix.items()} == {"length": 5, "mid_dim": 512}
    assert all(v["help"] for v in prefix.values())
    assert all(entry["doc"] for entry in described.values())
