"""Shared helpers for the model/method/training/decoding tests (plain functions, no fixtures).

Kept out of ``tests/conftest.py`` on purpose (that file belongs to someone else); test modules import
what they need and wrap it in their own module-scoped fixtures.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
import torch
from transformers import AutoModelForCausalLM, GPT2Config, LlamaConfig, PreTrainedModel

from harness.cells import Cell
from harness.models import TINY_CONFIGS

REPO = Path(__file__).resolve().parents[1]

# A complete `train:` block (every key of docs/contracts.md), small enough for a tiny model on CPU.
TRAIN = dict(
    lr=1e-3,
    epochs=1,
    max_steps=None,
    batch_size=2,
    grad_accum=1,
    warmup_steps=0,
    weight_decay=0.0,
    max_grad_norm=1.0,
    precision="fp32",
    checkpoint_every=0,
    log_every=1,
    max_length=48,
)
DECODE = dict(strategy="beam", num_beams=5, max_new_tokens=8, min_new_tokens=2, batch_size=4, ban_newline=True)

# Synthetic E2E-looking pairs: tiny-model tests must not depend on the shared data folder.
SYNTHETIC_ROWS = [
    ("name : The Eagle | Type : coffee shop", "The Eagle is a coffee shop."),
    ("name : Zizzi | food : Chinese | area : riverside", "Zizzi serves Chinese food by the river."),
    ("name : Aromi | priceRange : cheap", "Aromi is cheap."),
    ("name : Blue Spice | customer rating : 5 out of 5", "Blue Spice is rated 5 out of 5."),
    ("name : Cotto | near : The Portland Arms", "Cotto is near The Portland Arms."),
    ("name : Alimentum | familyFriendly : yes", "Alimentum is family friendly."),
    ("name : The Mill | eatType : pub | area : city centre", "The Mill is a pub in the city centre."),
    ("name : Wildwood | food : Italian", "Wildwood serves Italian food."),
]


@contextmanager
def torch_threads(n: int) -> Iterator[None]:
    """Run with `n` intra-op threads, then restore. The tiny models' ops are so small that a second thread
    only adds synchronisation, and on a busy 2-core machine OpenMP spin-waits made these tests 3-4x slower."""
    before = torch.get_num_threads()
    torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def shared_data_root() -> Path:
    """The real data root, as tests/data/conftest.py resolves it."""
    return Path(os.environ.get("HARNESS_DATA_DIR") or REPO.parent / "shared" / "data")


def require_shared_data() -> Path:
    """The real data root; skip locally when absent, fail in CI (CI=true) where it must be provided."""
    root = shared_data_root()
    if not (root / "e2e" / "official").is_dir():
        message = f"E2E data not found under {root}; set HARNESS_DATA_DIR to a folder holding e2e/official/."
        if os.environ.get("CI") == "true":
            pytest.fail(message)
        pytest.skip(message)
    return root


def write_synthetic_data(folder: Path, n: int = 8) -> Path:
    """A prepared-data folder (train/dev/test.jsonl) with `n` synthetic pairs; returns it."""
    folder.mkdir(parents=True, exist_ok=True)
    rows = [SYNTHETIC_ROWS[i % len(SYNTHETIC_ROWS)] for i in range(n)]
    pairs = "".join(json.dumps({"id": f"train-{i}", "source": s, "target": t}) + "\n" for i, (s, t) in enumerate(rows))
    (folder / "train.jsonl").write_text(pairs)
    (folder / "dev.jsonl").write_text(pairs)
    (folder / "test.jsonl").write_text(
        "".join(json.dumps({"id": f"test-{i}", "source": s, "references": [t]}) + "\n" for i, (s, t) in enumerate(rows))
    )
    return folder


def make_cell(source: str, method_spec: dict, seed: int = 0, method: str | None = None, **train) -> Cell:
    return Cell(
        dataset="e2e",
        split="synthetic",
        model=source.replace(":", "-"),
        method=method or method_spec["type"],
        seed=seed,
        model_spec={"source": source},
        method_spec=method_spec,
        train={**TRAIN, **train},
        decode=dict(DECODE),
    )


def read_log(cell_dir: Path) -> list[dict]:
    return [json.loads(line) for line in (cell_dir / "train_log.jsonl").read_text().splitlines()]


# Small-vocabulary twins of the tiny test models: same shapes as harness.models.TINY_CONFIGS, but a
# 24-token vocabulary so that EOS is a realistic choice and beam search really finishes hypotheses.
SMALL_VOCAB = 24
BOS, EOS, PAD = 1, 2, 0


def small_vocab_model(kind: str, seed: int = 0, eos_bias: float = 0.0) -> PreTrainedModel:
    """A seeded random model; `eos_bias` is added to the EOS logit by a hook on the LM head, so both our
    search and transformers' generate() see the same, EOS-friendlier distribution."""
    ids = dict(vocab_size=SMALL_VOCAB, bos_token_id=BOS, eos_token_id=EOS, pad_token_id=PAD)
    config = GPT2Config(**TINY_CONFIGS[kind], **ids) if kind == "gpt2" else LlamaConfig(**TINY_CONFIGS[kind], **ids)
    with torch.random.fork_rng():
        torch.manual_seed(seed)
        model = AutoModelForCausalLM.from_config(config)
    if eos_bias:

        def add_bias(module, inputs, output):
            output = output.clone()
            output[..., EOS] += eos_bias
            return output

        model.get_output_embeddings().register_forward_hook(add_bias)
    return model.eval()


def randomise_prefix_(method, std: float, seed: int) -> None:
    """Overwrite the method's own trainable tensors (never the backbone) with N(0, std) values, in place:
    a prefix with large values, so that it surely changes what the backbone outputs."""
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for param in method.trainable_parameters():
            param.copy_(torch.randn(param.shape, generator=generator) * std)
