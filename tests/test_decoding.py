"""Decoding: our beam/greedy search equal transformers' generate(), padding never leaks, and the prefix is used."""

from __future__ import annotations

import pytest
import torch
from core_conftest_helpers import (
    DECODE,
    EOS,
    PAD,
    SMALL_VOCAB,
    make_cell,
    randomise_prefix_,
    small_vocab_model,
    torch_threads,
    write_synthetic_data,
)

from harness.generate import _left_pad, beam_search, decode, generate_cell, greedy_search, prompt_ids
from harness.io import read_jsonl
from harness.methods import build_method
from harness.models import load_backbone
from harness.train import STATE_DIR

MAX_NEW, MIN_NEW = 10, 3
# Prompts of different lengths (1..9 tokens), batched together with left padding.
_gen = torch.Generator().manual_seed(0)
SMALL_PROMPTS = [torch.randint(3, SMALL_VOCAB, (n,), generator=_gen).tolist() for n in (3, 7, 1, 5, 9, 4)]
# EOS logit bias per model: picked so that outputs end at many different lengths (see the length checks).
EOS_BIAS = {"gpt2": 0.5, "llama": 0.2}
# Scale of the random prefix values per model: large enough to change outputs, and (checked below) still
# leaving outputs of several lengths, so batched rows really finish at different steps.
PREFIX_STD = {"gpt2": 0.1, "llama": 1.0}
SOURCES = [
    "name : The Eagle",
    "name : Zizzi | eatType : pub | food : Chinese | area : riverside | familyFriendly : yes",
    "name : Aromi | priceRange : cheap",
]


@pytest.fixture(scope="module", autouse=True)
def _one_thread():
    with torch_threads(1):
        yield


@pytest.fixture(scope="module", params=["gpt2", "llama"])
def small(request):
    """(kind, model, bare method) for a small-vocabulary twin of each tiny model."""
    model = small_vocab_model(request.param, seed=0, eos_bias=EOS_BIAS[request.param])
    return request.param, model, build_method({"type": "finetune"}, model).eval()


@pytest.fixture(scope="module", params=["gpt2", "llama"])
def tiny(request):
    """The real tiny:gpt2 / tiny:llama backbones (49,152-token SmolLM2 vocabulary)."""
    model, tokenizer = load_backbone({"source": f"tiny:{request.param}"})
    return request.param, model.eval(), tokenizer


def _hf(model, prompt: list[int], eos: int, pad: int, banned: int, **kwargs) -> list[int]:
    """transformers' generate() on one unpadded prompt; new tokens without the final EOS."""
    ids = torch.tensor([prompt])
    out = model.generate(
        input_ids=ids,
        attention_mask=torch.ones_like(ids),
        do_sample=False,
        bad_words_ids=[[banned]],
        min_new_tokens=MIN_NEW,
        max_new_tokens=MAX_NEW,
        eos_token_id=eos,
        pad_token_id=pad,
        **kwargs,
    )[0, len(prompt) :].tolist()
    return out[:-1] if out and out[-1] == eos else out


def _ours(method, prompts, eos, pad, banned, strategy, **kwargs):
    ids, mask = _left_pad(prompts, pad)
    common = dict(max_new_tokens=MAX_NEW, min_new_tokens=MIN_NEW, eos_id=eos, banned=torch.tensor(banned))
    if strategy == "beam":
        return beam_search(method, ids, mask, num_beams=5, **common, **kwargs)
    return greedy_search(method, ids, mask, **common)


def _top_first_token(method, prompts, eos, pad) -> int:
    """The token greedy search would emit first for prompt 0: banning it makes the ban matter."""
    return _ours(method, prompts[:1], eos, pad, [], "greedy")[0][0]


@pytest.mark.parametrize("length_penalty", [1.0, 1.5])
def test_beam_search_equals_transformers_generate(small, length_penalty):
    kind, model, method = small
    banned = _top_first_token(method, SMALL_PROMPTS, EOS, PAD)
    ours = _ours(method, SMALL_PROMPTS, EOS, PAD, [banned], "beam", length_penalty=length_penalty)
    hf = [
        _hf(model, p, EOS, PAD, banned, num_beams=5, early_stopping=False, length_penalty=length_penalty)
        for p in SMALL_PROMPTS
    ]
    assert ours == hf
    lengths = [len(o) for o in ours]
    # Not vacuous: some beams finished on EOS early, others ran to the limit; min/ban were honoured.
    assert min(lengths) < MAX_NEW and len(set(lengths)) >= 2, lengths
    assert min(lengths) >= MIN_NEW
    assert all(banned not in o and EOS not in o for o in ours)


def test_greedy_equals_transformers_generate(small):
    kind, model, method = small
    banned = _top_first_token(method, SMALL_PROMPTS, EOS, PAD)
    ours = _ours(method, SMALL_PROMPTS, EOS, PAD, [banned], "greedy")
    assert ours == [_hf(model, p, EOS, PAD, banned, num_beams=1) for p in SMALL_PROMPTS]
    lengths = [len(o) for o in ours]
    assert min(lengths) < MAX_NEW and len(set(lengths)) >= 2, lengths


@pytest.mark.parametrize("strategy", ["beam", "greedy"])
def test_search_on_full_vocabulary_tiny_models_equals_generate(tiny, strategy):
    """The harness' own tiny backbones (SmolLM2 tokenizer, pad == eos) against generate()."""
    kind, model, tokenizer = tiny
    method = build_method({"type": "finetune"}, model).eval()
    prompts = [prompt_ids(tokenizer, s) for s in SOURCES]
    eos, pad = tokenizer.eos_token_id, tokenizer.pad_token_id
    banned = _top_first_token(method, prompts, eos, pad)
    ours = _ours(method, prompts, eos, pad, [banned], strategy)
    extra = dict(num_beams=5, early_stopping=False, length_penalty=1.0) if strategy == "beam" else {}
    assert ours == [_hf(model, p, eos, pad, banned, **extra) for p in prompts]


@pytest.fixture(scope="module")
def small_prefix(small):
    """A prefix with large random values on the small-vocabulary model."""
    kind, model, _ = small
    torch.manual_seed(0)
    prefix = build_method({"type": "prefix", "length": 4, "mid_dim": 16}, model).eval()
    randomise_prefix_(prefix, std=PREFIX_STD[kind], seed=3)
    return prefix


@pytest.mark.parametrize("strategy", ["beam", "greedy"])
def test_batched_search_with_prefix_equals_one_by_one(small_prefix, strategy):
    batched = _ours(small_prefix, SMALL_PROMPTS, EOS, PAD, [], strategy)
    alone = [_ours(small_prefix, [p], EOS, PAD, [], strategy)[0] for p in SMALL_PROMPTS]
    assert batched == alone
    assert len({len(o) for o in batched}) >= 2, "outputs of one length would not test finished rows"


def test_prefix_changes_what_beam_search_returns(small, small_prefix):
    _, _, bare = small
    with_prefix = _ours(small_prefix, SMALL_PROMPTS, EOS, PAD, [], "beam")
    without = _ours(bare, SMALL_PROMPTS, EOS, PAD, [], "beam")
    assert sum(a != b for a, b in zip(with_prefix, without, strict=True)) >= len(SMALL_PROMPTS) - 1


@pytest.fixture(scope="module")
def tiny_llama():
    model, tokenizer = load_backbone({"source": "tiny:llama"})
    return model.eval(), tokenizer


def _trained_prefix(model, seed: int):
    torch.manual_seed(seed)
    prefix = build_method({"type": "prefix", "length": 5, "mid_dim": 16}, model).eval()
    randomise_prefix_(prefix, std=0.5, seed=seed)
    return prefix


def test_decode_uses_the_prefix_and_its_export(tiny_llama, tmp_path):
    """decode() with a prefix differs from the bare backbone, and a saved-then-reloaded prefix (on a fresh
    method whose own MLP is different) decodes exactly like the in-memory one."""
    model, tokenizer = tiny_llama
    prefix = _trained_prefix(model, seed=1)
    bare = decode(build_method({"type": "finetune"}, model), tokenizer, SOURCES, DECODE)
    ours = decode(prefix, tokenizer, SOURCES, DECODE)
    assert all(a != b for a, b in zip(ours, bare, strict=True)), (ours, bare)

    prefix.save_export(tmp_path)
    fresh = _trained_prefix(model, seed=2)
    assert decode(fresh, tokenizer, SOURCES, DECODE) != ours, "control: another prefix decodes differently"
    fresh.load_export_from(tmp_path)
    assert decode(fresh, tokenizer, SOURCES, DECODE) == ours


@pytest.mark.parametrize("strategy", ["beam", "greedy"])
def test_decode_batch_size_does_not_change_outputs(tiny_llama, strategy):
    model, tokenizer = tiny_llama
    prefix = _trained_prefix(model, seed=1)
    cfg = {**DECODE, "strategy": strategy}
    batched = decode(prefix, tokenizer, SOURCES, {**cfg, "batch_size": 3})
    assert batched == decode(prefix, tokenizer, SOURCES, {**cfg, "batch_size": 1})
    assert len(batched) == len(SOURCES) and all("\n" not in line for line in batched)


def test_generate_cell_writes_one_line_per_test_input(tiny_llama, tmp_path):
    model, tokenizer = tiny_llama
    data = write_synthetic_data(tmp_path / "data", n=5)
    cell = make_cell("tiny:llama", {"type": "prefix", "length": 5, "mid_dim": 16})
    cell_dir = tmp_path / "cell"
    prefix = _trained_prefix(model, seed=1)
    prefix.save_export(cell_dir / STATE_DIR)
    out = generate_cell(cell, data, cell_dir)
    lines = out.read_text().split("\n")
    sources = [r["source"] for r in read_jsonl(data / "test.jsonl")]
    assert lines[-1] == "" and len(lines) - 1 == len(sources)
    assert lines[:-1] == decode(prefix, tokenizer, sources, cell.decode)


def test_prompt_is_the_source_then_one_separator_token(tiny_llama):
    """The conditioning context is the source tokens then BOS (what training and decoding both use)."""
    _, tokenizer = tiny_llama
    ids = prompt_ids(tokenizer, "name : Aromi")
    assert ids[:-1] == tokenizer("name : Aromi", add_special_tokens=False).input_ids
    assert ids[-1] == tokenizer.bos_token_id is not None
