"""Prompt tuning: Lester's three inits, the P x d export, and the common checks."""

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
    assert_training_lowered_the_loss,
    fresh_method,
    tokenizer,
    train_tiny,
)
from tokenizers import Tokenizer, models
from transformers import PreTrainedTokenizerFast

from harness.errors import ConfigError, ModelError
from harness.methods import check_spec
from harness.methods.prompt import FREQUENT, frequent_token_ids

SPEC = {"type": "prompt", "length": 4, "init": "vocab"}


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    return train_tiny(SPEC, "llama", tmp_path_factory.mktemp("prompt"))


def test_backbone_bit_identical_and_prompt_trained(trained):
    assert_backbone_bit_identical(trained)
    assert_every_trainable_tensor_moved(trained)
    assert list(trained.trainable_before) == ["prompt"]


def test_export_is_the_prompt_matrix_and_reloads(trained):
    state = assert_export_holds_no_backbone_tensor(trained)
    assert list(state) == ["prompt"] and state["prompt"].shape == (4, trained.method.backbone.config.hidden_size)
    assert_export_reloads_on_a_fresh_backbone(trained)


def test_training_lowers_the_loss(trained):
    assert_training_lowered_the_loss(trained)


def test_vocab_init_copies_distinct_frequent_token_embeddings(trained):
    """train_cell called prepare(): the starting prompt is 4 distinct rows of the embedding table, taken from
    the 5,000 lowest non-special ids (SmolLM2's byte-level BPE is merge-ordered, i.e. frequency-ordered)."""
    start = trained.trainable_before["prompt"]
    table = trained.method.backbone.get_input_embeddings().weight
    population = frequent_token_ids(tokenizer())
    assert len(population) == FREQUENT and not set(population.tolist()) & set(tokenizer().all_special_ids)
    assert population.max() < FREQUENT + len(tokenizer().added_tokens_decoder)
    matches = [torch.nonzero((table == row).all(-1)).flatten().tolist() for row in start]
    assert all(len(m) == 1 and m[0] in set(population.tolist()) for m in matches), matches
    assert len({m[0] for m in matches}) == 4


@torch.no_grad()
def test_class_label_init_averages_multi_token_labels_and_samples_the_rest():
    method = fresh_method(
        {"type": "prompt", "length": 5, "init": "class-labels", "labels": ["cheap", "family friendly"]}, "llama"
    )
    method.prepare(tokenizer(), rows=[])
    table = method.backbone.get_input_embeddings().weight
    cheap, family = (tokenizer()(" " + w, add_special_tokens=False).input_ids for w in ("cheap", "family friendly"))
    assert len(cheap) == 1 and len(family) == 2
    assert torch.equal(method.prompt[0], table[cheap[0]])
    assert torch.allclose(method.prompt[1], table[family].mean(0))
    population = set(frequent_token_ids(tokenizer()).tolist())
    for row in method.prompt[2:]:
        assert torch.nonzero((table == row).all(-1)).flatten().tolist()[0] in population


def test_uniform_init_is_lesters_range():
    prompt = fresh_method({"type": "prompt", "length": 50, "init": "uniform"}, "llama").prompt
    assert prompt.min() >= -0.5 and prompt.max() <= 0.5 and prompt.std() > 0.2


def test_a_tokenizer_that_is_not_frequency_ordered_is_refused_for_vocab_init():
    vocab = {"[UNK]": 0, "zebra": 1, "the": 2}  # WordPiece: ids carry no frequency order
    wordpiece = PreTrainedTokenizerFast(tokenizer_object=Tokenizer(models.WordPiece(vocab, unk_token="[UNK]")))
    with pytest.raises(ModelError, match=r"this tokenizer \(WordPiece\) is not frequency-ordered; use init: uniform"):
        frequent_token_ids(wordpiece)


def test_decoding_differs_from_the_bare_backbone():
    assert_decoding_differs_from_the_bare_backbone({**SPEC, "init": "uniform"}, "llama", std=None)


def test_cached_decoding_steps_with_absolute_positions():
    assert_cached_steps_match_a_full_forward(fresh_method({**SPEC, "init": "uniform"}, "gpt2"))


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ({"length": 0}, r"length = 0 is invalid .* an integer >= 1"),
        ({"init": "random"}, r"init = 'random' is invalid .* one of uniform, vocab, class-labels"),
        ({"labels": "yes,no"}, r"labels = 'yes,no' is invalid .* a list of non-empty strings"),
        ({"labels": ["yes", ""]}, r"a list of non-empty strings"),
    ],
)
def test_bad_hyper_parameters_are_config_errors(spec, message):
    with pytest.raises(ConfigError, match=message):
        check_spec("p", {"type": "prompt", **spec})


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ({"length": 1, "labels": ["yes", "no"]}, r"2 labels do not fit a prompt of length 1; raise length"),
        ({"init": "uniform", "labels": ["yes"]}, r"labels are given but init is 'uniform'; set init: class-labels"),
    ],
)
def test_inconsistent_labels_are_config_errors(spec, message):
    with pytest.raises(ConfigError, match=message):
        fresh_method({"type": "prompt", **spec}, "llama")
