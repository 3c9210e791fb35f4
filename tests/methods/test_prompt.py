"""Prompt tuning: Lester's three inits and the P x d export (common checks: test_every_method)."""

from __future__ import annotations

import pytest
import torch
from method_checks import exported, fresh_method, tokenizer
from tokenizers import Tokenizer, models
from transformers import PreTrainedTokenizerFast

from harness.errors import ConfigError, ModelError
from harness.methods import check_spec
from harness.methods.prompt import FREQUENT, frequent_token_ids


def test_the_prompt_matrix_is_the_state(trained):
    run = trained("prompt")  # length 4, init vocab
    assert list(run.trainable_before) == ["prompt"]
    state = exported(run)
    assert list(state) == ["prompt"] and state["prompt"].shape == (4, run.method.backbone.config.hidden_size)


def test_vocab_init_copies_distinct_frequent_token_embeddings(trained):
    """train_cell called prepare(): the starting prompt is 4 distinct rows of the embedding table, taken from
    the 5,000 lowest non-special ids (SmolLM2's byte-level BPE is merge-ordered, i.e. frequency-ordered)."""
    run = trained("prompt")
    start = run.trainable_before["prompt"]
    table = run.method.backbone.get_input_embeddings().weight
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
