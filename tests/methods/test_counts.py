"""Trainable and exported sizes on GPT-2 medium/large, T5.1.1 and BART-large shapes, against the papers (no
download: the backbones are built from configs on the meta device; the methods' own tensors are real, on the CPU).

Prefix-tuning's 245,760 (P = 5) and friends are checked in tests/test_prefix.py.
"""

from __future__ import annotations

import functools

import pytest
import torch
from transformers import (
    BartConfig,
    BartForConditionalGeneration,
    GPT2Config,
    GPT2LMHeadModel,
    T5Config,
    T5ForConditionalGeneration,
)

from harness.methods import build_method
from harness.methods.adapter import adapter_count

SHAPES = {"medium": dict(n_embd=1024, n_layer=24, n_head=16), "large": dict(n_embd=1280, n_layer=36, n_head=20)}


@functools.cache
def meta_gpt2(size: str) -> GPT2LMHeadModel:
    config = GPT2Config(**SHAPES[size], vocab_size=50257, n_positions=1024)
    with torch.device("meta"):
        return GPT2LMHeadModel(config)


@pytest.fixture(scope="module", params=["medium", "large"])
def gpt2(request):
    return request.param, meta_gpt2(request.param)


@pytest.fixture(scope="module")
def medium():
    return meta_gpt2("medium")


def trainable(spec, backbone) -> int:
    method = build_method(spec, backbone)
    count = sum(p.numel() for p in method.trainable_parameters())
    if hasattr(method, "hooks"):
        method.hooks.remove()  # the meta backbone is shared by the tests of this module
    return count


def exported(spec, backbone) -> int:
    method = build_method(spec, backbone)
    count = sum(t.numel() for t in method.export_state().values())
    if hasattr(method, "hooks"):
        method.hooks.remove()
    return count


def test_gpt2_medium_has_354_8m_parameters(medium):
    """The base of every fraction below (tied LM head counted once)."""
    assert sum(p.numel() for p in medium.parameters()) == 354_823_168


def test_ft_top2_is_lora_papers_25_19m_two_blocks_without_ln_f_or_lm_head(medium):
    count = trainable({"type": "ft-top-k", "k": 2}, medium)
    assert count == 25_192_448 == 2 * sum(p.numel() for p in medium.transformer.h[0].parameters())
    assert round(count / 1e6, 2) == 25.19
    frozen = {n for n, p in medium.named_parameters() if not p.requires_grad}
    assert {"transformer.ln_f.weight", "transformer.wte.weight", "transformer.wpe.weight"} <= frozen


@pytest.mark.parametrize(
    ("spec", "bottleneck", "expected", "paper"),
    [
        ({"bottleneck": 6}, 6, 368_784, 0.37),  # ADAPTER(0.1%), LoRA's AdapterL 0.37M
        ({"bottleneck": 224}, 224, 11_089_152, 11.09),  # ADAPTER(3%), LoRA's AdapterL 11.09M
        ({"fraction": 0.001}, 6, 368_784, 0.37),  # 0.1% of 354.8M lands on the paper's b = 6
        ({}, 6, 368_784, 0.37),  # neither set: 0.1%
        # 3% lands on b = 215 (10.65M, 3.00%): the paper's "3%" row is b = 224 (3.13%), use bottleneck: 224.
        ({"fraction": 0.03}, 215, 10_646_568, 10.65),
    ],
)
def test_lin_adapter_sizes_match_the_papers_rows(medium, spec, bottleneck, expected, paper):
    method = build_method({"type": "adapter", **spec}, medium)
    method.hooks.remove()
    count = sum(p.numel() for p in method.trainable_parameters())
    assert method.bottleneck == bottleneck
    assert count == expected == 24 * adapter_count(1024, bottleneck, "lin") and round(count / 1e6, 2) == paper


def test_houlsby_adapter_has_two_adapters_per_block_without_layer_norm(medium):
    assert trainable({"type": "adapter", "bottleneck": 6, "style": "houlsby"}, medium) == 24 * 2 * (
        2 * 1024 * 6 + 6 + 1024
    )


def test_prompt_is_p_times_d(gpt2):
    """Lester's Table 4 counts E x P (T5-Small, P = 100: 51,200); decoder-only, the prompt is P x d."""
    size, backbone = gpt2
    d = SHAPES[size]["n_embd"]
    spec = {"type": "prompt", "length": 100, "init": "uniform"}
    assert (
        trainable(spec, backbone) == exported(spec, backbone) == 100 * d == {"medium": 102_400, "large": 128_000}[size]
    )


def test_emb_exports_p_times_d_and_trains_its_mlp(gpt2):
    size, backbone = gpt2
    d = SHAPES[size]["n_embd"]
    spec = {"type": "emb", "length": 10, "mid_dim": 512}
    assert exported(spec, backbone) == 10 * d
    assert trainable(spec, backbone) == 10 * d + (d * 512 + 512) + (512 * d + d)


def test_infix_exports_its_vectors_and_per_layer_key_value_offsets(gpt2):
    size, backbone = gpt2
    d, layers = SHAPES[size]["n_embd"], SHAPES[size]["n_layer"]
    # The offsets are a prefix's size (P * L * 2 * d: 491,520 for GPT-2 medium, P = 10) plus P input vectors.
    assert exported({"type": "infix", "length": 10}, backbone) == 10 * d + 10 * layers * 2 * d


def test_lora_counts_r_times_in_plus_out_per_adapted_projection(gpt2):
    size, backbone = gpt2
    d, layers = SHAPES[size]["n_embd"], SHAPES[size]["n_layer"]
    assert trainable({"type": "lora"}, backbone) == layers * 2 * 8 * (d + d)  # r = 8 on q and v
    assert trainable({"type": "lora", "r": 4}, backbone) == {"medium": 393_216, "large": 737_280}[size]


def test_prompt_design_trains_nothing(medium):
    assert trainable({"type": "prompt-design", "shots": 4}, medium) == 0


# --- encoder-decoder backbones (BART-large for Li & Liang's XSUM, T5.1.1 for Lester) ----------------------------

T5_SHAPES = {  # T5.1.1 (gated-GELU, untied LM head), vocabulary 32,128
    "small": dict(d_model=512, d_ff=1024, d_kv=64, num_heads=6, num_layers=8),
    "xxl": dict(d_model=4096, d_ff=10240, d_kv=64, num_heads=64, num_layers=24),
}


@functools.cache
def meta_t5(size: str) -> T5ForConditionalGeneration:
    config = T5Config(
        vocab_size=32128, feed_forward_proj="gated-gelu", tie_word_embeddings=False, decoder_start_token_id=0,
        **T5_SHAPES[size],
    )
    with torch.device("meta"):
        model = T5ForConditionalGeneration(config)
        # transformers 5 builds T5 tied; T5.1.1 has its own head (it counts in the frozen total below).
        model.lm_head.weight = torch.nn.Parameter(torch.empty_like(model.lm_head.weight))
    return model


@functools.cache
def meta_bart_large() -> BartForConditionalGeneration:
    with torch.device("meta"):
        return BartForConditionalGeneration(BartConfig())  # BartConfig's defaults are bart-large's shapes


@pytest.mark.parametrize(("size", "expected", "percent"), [("small", 51_200, 0.06648), ("xxl", 409_600, 0.00368)])
def test_t5_prompt_is_e_times_p_as_lesters_table_4(size, expected, percent):
    """Lester's Table 4, P = 100: E x P trainable values, E = d_model (the prompt is on the encoder only). Its
    percentages count the prompt in the total: 51,200 / (76,961,152 + 51,200) for Small, and for XXL the frozen
    base is 11,135,332,352."""
    backbone = meta_t5(size)
    spec = {"type": "prompt", "length": 100, "init": "uniform"}
    assert trainable(spec, backbone) == exported(spec, backbone) == 100 * T5_SHAPES[size]["d_model"] == expected
    frozen = sum(p.numel() for p in backbone.parameters())
    assert frozen == {"small": 76_961_152, "xxl": 11_135_332_352}[size]
    assert round(100 * expected / (frozen + expected), 5) == percent


def test_bart_large_prefix_counts_three_mlps_and_exports_three_prefixes():
    """Li & Liang's XSUM setup (README: --preseqlen 200 --mid_dim 800) on BART-large (d = 1024, 12 + 12 layers).
    Each of the three MLPs (encoder, decoder, cross) is Embedding(P, d) + Linear(d, mid) + Linear(mid, L * 2 * d):
    200 * 1024 + (1024 * 800 + 800) + (800 * 24,576 + 24,576) = 20,710,176, three times 62,130,528 trainable.
    Kept after training: the three projected prefixes, 3 * P * L * 2 * d = 14,745,600 (3.6% of BART-large)."""
    backbone = meta_bart_large()
    assert sum(p.numel() for p in backbone.parameters()) == 406_291_456
    spec = {"type": "prefix", "length": 200, "mid_dim": 800}
    per_mlp = 200 * 1024 + (1024 * 800 + 800) + (800 * 24_576 + 24_576)
    assert trainable(spec, backbone) == 3 * per_mlp == 62_130_528
    assert exported(spec, backbone) == 3 * 200 * 12 * 2 * 1024 == 14_745_600


@pytest.mark.parametrize(("length", "values", "percent"), [(100, 7_372_800, 1.81), (5, 368_640, 0.09)])
def test_bart_large_prefix_fractions_match_the_papers_xsum_rows(length, values, percent):
    """Table 6's XSUM prefix length 100 gives the PREFIX(2%) row: 7,372,800 kept values, 1.81% of BART-large; P = 5
    gives 0.09%, the PREFIX(0.1%) row (inferred: the paper does not give the P of that row)."""
    assert exported({"type": "prefix", "length": length, "mid_dim": 800}, meta_bart_large()) == values
    assert round(100 * values / 406_291_456, 2) == percent
