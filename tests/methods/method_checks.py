"""What every method must do, as plain functions that tests/methods/test_every_method.py and the per-method
files call.

One short training run per method (`CASES`, trained once per session by the `trained` fixture of conftest.py)
feeds the checks: the frozen part is bit-identical, the method's own tensors moved, the export holds only its
own state and reloads on a fresh backbone, training lowered the loss; and on a fresh method, decoding differs
from the bare backbone and the decoder's cached steps agree with a full forward pass. The checks take decoder-only
and encoder-decoder (tiny:bart, tiny:t5) backbones alike; tests/methods/test_seq2seq_methods.py runs the latter.
"""

from __future__ import annotations

import copy
import functools
from dataclasses import dataclass
from pathlib import Path

import pytest
import torch
from core_conftest_helpers import DECODE, SYNTHETIC_ROWS, make_cell, randomise_prefix_, write_synthetic_data
from safetensors.torch import load_file

import harness.train
from harness import seq2seq
from harness.generate import _left_pad, _Stepper, decode, prompt_ids
from harness.methods import Method, build_method
from harness.methods.base import EXPORT_FILE
from harness.models import load_backbone, load_tokenizer
from harness.train import DONE_FILE, STATE_DIR, batch_loss, collate, encode_example, train_cell

ROWS = 4
# Full batch (batch_size = ROWS): every step sees the same rows, so "the loss went down" is about that batch.
FAST = dict(lr=1e-2, max_steps=3, batch_size=ROWS)
SOURCES = [s for s, _ in SYNTHETIC_ROWS[:3]]
GREEDY = {**DECODE, "strategy": "greedy", "max_new_tokens": 6, "min_new_tokens": 6, "batch_size": 3}

# The training run of each trainable method: (spec, tiny backbone). GPT-2 where its layout is what is special
# (fused c_attn for LoRA, transformer.h for FT-top-k), the dropout-free Llama elsewhere.
CASES = {
    "ft-top-k": ({"type": "ft-top-k", "k": 1}, "gpt2"),  # tiny:gpt2 has 2 blocks: only the second one trains
    "adapter": ({"type": "adapter", "bottleneck": 4}, "llama"),
    "emb": ({"type": "emb", "length": 3, "mid_dim": 16}, "llama"),
    "infix": ({"type": "infix", "length": 2, "mid_dim": 16}, "llama"),
    "prompt": ({"type": "prompt", "length": 4, "init": "vocab"}, "llama"),
    "lora": ({"type": "lora", "r": 2, "alpha": 4}, "gpt2"),
}


@functools.cache
def tokenizer():
    return load_tokenizer({"source": "tiny:llama"})  # the tiny models share the packaged SmolLM2 tokenizer


@functools.cache
def _pristine(kind: str):
    return load_backbone({"source": f"tiny:{kind}"})[0]


def tiny(kind: str):
    """A fresh tiny:`kind` backbone, as load_backbone gives it (a copy: loading re-reads the tokenizer, ~0.5 s)."""
    return copy.deepcopy(_pristine(kind))


def training_batch(model=None) -> dict[str, torch.Tensor]:
    """The rows every check trains on, batched as train_cell batches them for `model` (default: decoder-only)."""
    tok = tokenizer()
    if model is not None and seq2seq.is_encoder_decoder(model):
        examples = [seq2seq.encode_example(tok, s, t, 48) for s, t in SYNTHETIC_ROWS[:ROWS]]
        return seq2seq.collate(examples, tok.pad_token_id, seq2seq.decoder_start_id(model.config))
    examples = [encode_example(tok, s, t, 48) for s, t in SYNTHETIC_ROWS[:ROWS]]
    return collate(examples, tok.pad_token_id)


def logits_of(method: Method, batch: dict[str, torch.Tensor]) -> torch.Tensor:
    return method(batch["input_ids"], batch["attention_mask"], **seq2seq.decoder_inputs(batch)).logits


@dataclass
class Trained:
    cell_dir: Path
    spec: dict
    kind: str
    method: Method
    backbone_before: dict[str, torch.Tensor]
    trainable_before: dict[str, torch.Tensor]
    summary: dict


def train_tiny(spec: dict, kind: str, folder: Path, **train) -> Trained:
    """Train `spec` for a few steps on tiny:`kind` through train_cell, keeping the method it built."""
    data = write_synthetic_data(folder / "data", n=ROWS)
    seen: dict = {}

    def spy(method_spec, backbone):
        seen["backbone_before"] = {k: v.detach().clone() for k, v in backbone.state_dict().items()}
        method = seen["method"] = build_method(method_spec, backbone)
        seen["trainable_before"] = method.trainable_state()
        if hasattr(method, "prepare"):  # the state training starts from is the one after prepare()

            def prepare(*args, original=method.prepare):
                original(*args)
                seen["trainable_before"] = method.trainable_state()

            method.prepare = prepare
        return method

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(harness.train, "build_method", spy)
        summary = train_cell(make_cell(f"tiny:{kind}", spec, **{**FAST, **train}), data, folder / "cell")
    return Trained(folder / "cell", spec, kind, summary=summary, **seen)


def changed(before: dict, after: dict) -> set[str]:
    return {k for k in before if not torch.equal(before[k], after[k])}


def assert_backbone_bit_identical(t: Trained, except_prefix: tuple[str, ...] = ()) -> None:
    """Every backbone tensor is bit-identical after training, except those under `except_prefix`."""
    after = t.method.backbone.state_dict()
    assert after.keys() == t.backbone_before.keys(), "the method must not rename or add backbone tensors"
    assert {k for k in changed(t.backbone_before, after) if not k.startswith(except_prefix)} == set()


def assert_every_trainable_tensor_moved(t: Trained) -> None:
    assert t.summary["steps"] == FAST["max_steps"] and t.trainable_before
    assert changed(t.trainable_before, t.method.trainable_state()) == set(t.trainable_before)


def exported(t: Trained) -> dict[str, torch.Tensor]:
    assert (t.cell_dir / STATE_DIR / DONE_FILE).exists()
    return load_file(str(t.cell_dir / STATE_DIR / EXPORT_FILE))


def assert_export_holds_no_backbone_tensor(t: Trained) -> dict[str, torch.Tensor]:
    state = exported(t)
    assert state and not [k for k in state if k.startswith("backbone.")]
    assert sum(v.numel() for v in state.values()) == t.summary["exported_values"]
    return state


@torch.no_grad()
def assert_training_lowered_the_loss(t: Trained) -> None:
    """Loss on the training batch (eval mode: no dropout noise) with the trained state vs the initial one."""
    batch, method = training_batch(t.method.backbone), t.method.eval()
    trained_state = method.trainable_state()
    after = batch_loss(method, batch).item()
    method.load_trainable_state(t.trainable_before)
    before = batch_loss(method, batch).item()
    method.load_trainable_state(trained_state)
    assert after < before - 1e-3, f"training did not lower the loss: {before:.4f} -> {after:.4f}"


@torch.no_grad()
def assert_export_reloads_on_a_fresh_backbone(t: Trained) -> None:
    """A fresh backbone + the method built from the spec + the export = the trained method's logits."""
    batch = training_batch(t.method.backbone)
    expected = logits_of(t.method.eval(), batch)
    model = tiny(t.kind)
    fresh = build_method(t.spec, model).eval()
    assert not torch.allclose(logits_of(fresh, batch), expected, atol=1e-4)
    fresh.load_export_from(t.cell_dir / STATE_DIR)
    got = logits_of(fresh, batch)
    assert torch.allclose(got, expected, atol=1e-5, rtol=0), (got - expected).abs().max()


def fresh_method(spec: dict, kind: str, std: float | None = None, seed: int = 0) -> Method:
    """A method on a freshly loaded tiny backbone; `std`: its own tensors set to N(0, std) values."""
    model = tiny(kind)
    return _build(spec, model, std, seed)


def _build(spec: dict, model, std: float | None, seed: int) -> Method:
    torch.manual_seed(seed)
    method = build_method(spec, model).eval()
    if std is not None:
        randomise_prefix_(method, std=std, seed=seed)
    return method


def assert_decoding_differs_from_the_bare_backbone(spec: dict, kind: str, std: float | None, prepare=None) -> None:
    """Greedy outputs of the bare backbone, then of the method (its tensors randomised with `std`) on it."""
    model = tiny(kind)
    without = decode(build_method({"type": "finetune"}, model), tokenizer(), SOURCES, GREEDY)
    method = _build(spec, model, std, seed=0)
    if prepare is not None:
        prepare(method)
    with_method = decode(method, tokenizer(), SOURCES, GREEDY)
    assert with_method != without, with_method


@torch.no_grad()
def assert_cached_steps_match_a_full_forward(method: Method) -> None:
    """The decoder's prefill + one-token cached steps give the logits of one forward over the whole text."""
    tok = tokenizer()
    continuation = torch.tensor([[11, 12, 13], [21, 22, 23]])
    if seq2seq.is_encoder_decoder(method.backbone):
        return _assert_seq2seq_steps_match_a_full_forward(method, continuation)
    rows = [prompt_ids(tok, s) for s in SOURCES[:2]]
    ids, mask = _left_pad(rows, tok.pad_token_id)
    stepper = _Stepper(method.eval(), ids, mask)
    stepped = [stepper.logits] + [stepper.step(continuation[:, i]) for i in range(continuation.shape[1])]
    for i, row in enumerate(rows):
        full_ids = torch.tensor([row + continuation[i].tolist()])
        full = method(full_ids, torch.ones_like(full_ids)).logits[0, len(row) - 1 :]
        for j, logits in enumerate(stepped):
            assert torch.allclose(logits[i], full[j], atol=1e-4, rtol=0), (i, j, (logits[i] - full[j]).abs().max())


def _assert_seq2seq_steps_match_a_full_forward(method: Method, continuation: torch.Tensor) -> None:
    """Encoder-decoder: one encoder pass, then the decoder step by step = one forward over start + continuation."""
    ids, mask = seq2seq.encoder_inputs(tokenizer(), SOURCES[:2], tokenizer().pad_token_id)
    assert (mask == 0).any(), "the sources must actually be padded"
    stepper = seq2seq.Stepper(method.eval(), ids, mask)
    stepped = [stepper.logits] + [stepper.step(continuation[:, i]) for i in range(continuation.shape[1])]
    start = torch.full((2, 1), seq2seq.decoder_start_id(method.backbone.config))
    full = method(ids, mask, decoder_input_ids=torch.cat([start, continuation], 1)).logits
    for j, logits in enumerate(stepped):
        assert torch.allclose(logits, full[:, j], atol=1e-4, rtol=0), (j, (logits - full[:, j]).abs().max())


@torch.no_grad()
def assert_padding_does_not_leak_into_the_loss(method: Method) -> None:
    """Training right-pads: a batch's loss is the token-weighted mean of its rows' own losses."""
    batch, method = training_batch(method.backbone), method.eval()
    assert (batch["attention_mask"] == 0).any(), "the batch must actually be padded"
    # Encoder-decoder batches: the encoder side is cut to the source, the decoder side to the target.
    target_mask = batch.get("decoder_attention_mask", batch["attention_mask"])
    singles = []
    for i in range(batch["input_ids"].shape[0]):
        width = {"input_ids": int(batch["attention_mask"][i].sum())}
        width["attention_mask"], target = width["input_ids"], int(target_mask[i].sum())
        singles.append({k: v[i : i + 1, : width.get(k, target)] for k, v in batch.items()})
    shift = int("decoder_input_ids" not in batch)
    counts = [int((s["labels"][:, shift:] != -100).sum()) for s in singles]
    expected = sum(batch_loss(method, s) * n for s, n in zip(singles, counts, strict=True)) / sum(counts)
    assert torch.allclose(batch_loss(method, batch), expected, atol=1e-5, rtol=0)
