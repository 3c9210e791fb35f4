"""Prefix-tuning as a module: it changes what the backbone computes, has the paper's size, and is padding-safe."""

from __future__ import annotations

import pytest
import torch
from core_conftest_helpers import randomise_prefix_, torch_threads
from transformers import GPT2Config, GPT2LMHeadModel, LlamaConfig, LlamaForCausalLM

from harness.errors import ModelError
from harness.methods import build_method
from harness.methods.prefix import PrefixTuning, kv_shape
from harness.models import load_backbone
from harness.train import batch_loss, collate, encode_example


@pytest.fixture(scope="module", autouse=True)
def _one_thread():
    with torch_threads(1):
        yield


@pytest.fixture(scope="module", params=["gpt2", "llama"])
def tiny(request):
    """(kind, model, tokenizer) for each tiny backbone, loaded once per module."""
    model, tokenizer = load_backbone({"source": f"tiny:{request.param}"})
    return request.param, model.eval(), tokenizer


def _inputs(tokenizer, text: str) -> tuple[torch.Tensor, torch.Tensor]:
    ids = torch.tensor([tokenizer(text, add_special_tokens=False).input_ids])
    return ids, torch.ones_like(ids)


@torch.no_grad()
def test_prefix_changes_logits_at_every_position(tiny):
    kind, model, tokenizer = tiny
    ids, mask = _inputs(tokenizer, "name : The Eagle | food : French")
    bare = model(input_ids=ids, attention_mask=mask).logits
    # Control: a method without prefix slots reproduces the bare backbone exactly...
    assert torch.allclose(build_method({"type": "finetune"}, model)(ids, mask).logits, bare, atol=1e-6, rtol=0)
    # ...while a prefix (default init) changes the logits of every token, since every token attends to it.
    torch.manual_seed(0)
    prefix = build_method({"type": "prefix", "length": 3, "mid_dim": 16}, model)
    with_prefix = prefix(ids, mask).logits
    assert with_prefix.shape == bare.shape
    assert ((with_prefix - bare).abs().amax(-1) > 1e-3).all(), "some position ignores the prefix"


def test_gqa_prefix_uses_key_value_heads():
    """tiny:llama is grouped-query (2 K/V heads for 4 query heads): the prefix has K/V heads, not query heads."""
    model, _ = load_backbone({"source": "tiny:llama"})
    assert model.config.num_key_value_heads == 2 < model.config.num_attention_heads == 4
    prefix = build_method({"type": "prefix", "length": 3, "mid_dim": 16}, model)
    layers, head_dim = model.config.num_hidden_layers, model.config.hidden_size // 4
    assert tuple(prefix.export_state()["prefix"].shape) == (2 * layers, 2, 3, head_dim)
    cache = prefix.past_key_values(batch_size=2)
    assert cache.get_seq_length() == 3
    assert tuple(cache.layers[0].keys.shape) == (2, 2, 3, head_dim)


@pytest.mark.parametrize(
    ("n_embd", "n_layer", "n_head", "length", "expected"),
    [
        (1024, 24, 16, 5, 245_760),  # GPT-2 medium, P=5 (paper: E2E)
        (1024, 24, 16, 10, 491_520),  # GPT-2 medium, P=10 (paper: DART)
        (1280, 36, 20, 5, 460_800),  # GPT-2 large, P=5
    ],
)
def test_exported_prefix_size_matches_paper_shapes(n_embd, n_layer, n_head, length, expected):
    """Exported values = P * L * 2 * d_kv. The backbone is built on the meta device (no weights, no download);
    the prefix MLP is created by PrefixTuning itself on the CPU, so export_state() really runs the MLP."""
    config = GPT2Config(
        n_embd=n_embd, n_layer=n_layer, n_head=n_head, vocab_size=8, n_positions=64, bos_token_id=0, eos_token_id=0
    )
    with torch.device("meta"):
        backbone = GPT2LMHeadModel(config)
    method = PrefixTuning(backbone, length=length)
    assert kv_shape(config) == (n_layer, n_head, n_embd // n_head)
    assert method.control_trans[-1].out_features == n_layer * 2 * n_embd
    exported = method.export_state()
    assert list(exported) == ["prefix"]
    assert exported["prefix"].device.type == "cpu"
    assert exported["prefix"].numel() == expected == length * n_layer * 2 * n_embd
    # The MLP is a training device: it is much larger than what is kept, and never exported.
    assert sum(p.numel() for p in method.trainable_parameters()) > 50 * expected


def test_kv_shape_honours_explicit_head_dim_and_runs():
    """A config whose head_dim is not hidden/heads (as some Llama-family models): the prefix must follow it."""
    config = LlamaConfig(
        hidden_size=32,
        intermediate_size=64,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
        head_dim=16,
        vocab_size=40,
        max_position_embeddings=64,
    )
    torch.manual_seed(0)
    model = LlamaForCausalLM(config).eval()
    assert kv_shape(config) == (2, 2, 16)
    method = PrefixTuning(model, length=4, mid_dim=8)
    assert method.export_state()["prefix"].numel() == 4 * 2 * 2 * (2 * 16)
    ids = torch.tensor([[3, 4, 5]])
    with torch.no_grad():
        assert method(ids, torch.ones_like(ids)).logits.shape == (1, 3, 40)


def test_only_the_prefix_trains(tiny):
    _, model, tokenizer = tiny
    torch.manual_seed(0)
    method = build_method({"type": "prefix", "length": 3, "mid_dim": 16}, model)
    assert set(method.trainable_state()) == {
        "wte.weight",
        "control_trans.0.weight",
        "control_trans.0.bias",
        "control_trans.2.weight",
        "control_trans.2.bias",
    }
    assert not any(p.requires_grad for p in model.parameters())
    batch = collate([encode_example(tokenizer, "name : Aromi", "Aromi is cheap.", 32)], tokenizer.pad_token_id)
    batch_loss(method, batch).backward()
    assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in method.trainable_parameters())
    assert all(p.grad is None for p in model.parameters())
    method.zero_grad(set_to_none=True)


def test_positions_count_real_tokens_and_start_after_the_prefix(tiny):
    """As the original GPT-2 code (its cache length shifts positions): the first real token sits at P, pads
    are masked, and the attention mask gains P always-visible slots in front."""
    _, model, _ = tiny
    method = build_method({"type": "prefix", "length": 3, "mid_dim": 16}, model)
    mask = torch.tensor([[0, 0, 1, 1], [1, 1, 1, 1]])
    inputs = method.model_inputs(torch.full_like(mask, 5), mask)
    assert inputs["position_ids"].tolist() == [[3, 3, 3, 4], [3, 4, 5, 6]]
    assert inputs["attention_mask"].tolist() == [[1, 1, 1, 0, 0, 1, 1], [1, 1, 1, 1, 1, 1, 1]]
    assert inputs["past_key_values"].get_seq_length() == 3


@torch.no_grad()
def test_left_padding_does_not_leak_into_prefilled_logits(tiny):
    """Decoding left-pads: the last-token logits of each padded row equal those of the row alone."""
    _, model, tokenizer = tiny
    torch.manual_seed(0)
    method = build_method({"type": "prefix", "length": 3, "mid_dim": 16}, model).eval()
    randomise_prefix_(method, std=0.5, seed=1)
    rows = [tokenizer(t, add_special_tokens=False).input_ids for t in ("name : Cotto", "a much longer input row here")]
    width = max(map(len, rows))
    ids = torch.tensor([[tokenizer.pad_token_id] * (width - len(r)) + r for r in rows])
    mask = torch.tensor([[0] * (width - len(r)) + [1] * len(r) for r in rows])
    assert mask[0, 0] == 0, "the first row must actually be padded"
    batched = method(ids, mask).logits[:, -1]
    for i, row in enumerate(rows):
        alone = method(torch.tensor([row]), torch.ones(1, len(row), dtype=torch.long)).logits[0, -1]
        assert torch.allclose(batched[i], alone, atol=1e-5, rtol=0)


@torch.no_grad()
def test_right_padding_does_not_leak_into_training_loss(tiny):
    """Training right-pads: a batch's loss is the token-weighted mean of its examples' own losses."""
    _, model, tokenizer = tiny
    torch.manual_seed(0)
    method = build_method({"type": "prefix", "length": 3, "mid_dim": 16}, model).eval()
    examples = [
        encode_example(tokenizer, "name : Cotto", "Cotto is near the river.", 48),
        encode_example(
            tokenizer,
            "name : The Mill | eatType : pub | area : city centre",
            "The Mill is a pub in the city centre.",
            48,
        ),
    ]
    pad = tokenizer.pad_token_id
    batch = collate(examples, pad)
    assert (batch["attention_mask"] == 0).any(), "the batch must actually be padded"
    singles = [collate([e], pad) for e in examples]
    counts = [int((s["labels"][:, 1:] != -100).sum()) for s in singles]
    expected = sum(batch_loss(method, s) * n for s, n in zip(singles, counts, strict=True)) / sum(counts)
    assert torch.allclose(batch_loss(method, batch), expected, atol=1e-5, rtol=0)


@torch.no_grad()
def test_exported_prefix_reproduces_the_mlp_prefix(tiny, tmp_path):
    _, model, tokenizer = tiny
    torch.manual_seed(0)
    spec = {"type": "prefix", "length": 3, "mid_dim": 16}
    trained = build_method(spec, model).eval()
    randomise_prefix_(trained, std=0.5, seed=2)
    ids, mask = _inputs(tokenizer, "name : Wildwood | food : Italian")
    expected = trained(ids, mask).logits
    trained.save_export(tmp_path)
    torch.manual_seed(1)
    fresh = build_method(spec, model).eval()
    assert not torch.allclose(fresh(ids, mask).logits, expected, atol=1e-3), "control: a fresh prefix differs"
    fresh.load_export_from(tmp_path)
    assert torch.allclose(fresh(ids, mask).logits, expected, atol=1e-6, rtol=0)


def test_export_from_another_shape_is_rejected(tiny):
    _, model, _ = tiny
    method = build_method({"type": "prefix", "length": 3, "mid_dim": 16}, model)
    other = build_method({"type": "prefix", "length": 4, "mid_dim": 16}, model)
    with pytest.raises(ModelError, match="shape.*re-train"):
        method.load_export(other.export_state())


def test_loaded_export_follows_the_module_to_another_device(tiny, tmp_path):
    """generate_cell loads the export, then moves the method to the GPU: the prefix must move with it.
    The meta device stands in for CUDA on a CPU-only machine."""
    kind, model, _ = tiny
    spec = {"type": "prefix", "length": 3, "mid_dim": 16}
    build_method(spec, model).save_export(tmp_path)
    own_backbone, _ = load_backbone({"source": f"tiny:{kind}"})  # not the shared one: it goes to meta
    method = build_method(spec, own_backbone)
    method.load_export_from(tmp_path)
    method.to("meta")
    assert next(method.backbone.parameters()).device.type == "meta"
    assert method.projected().device.type == "meta"
    assert method.past_key_values(batch_size=1).layers[0].keys.device.type == "meta"
