"""Prompt design (the GPT-3 baseline that Lester et al. 2021 compare with): few-shot prompts, nothing trains.

Protocol of Brown et al. 2020: before every test input, K demonstrations drawn at random from the training
set, each written as a training example is written here (source, separator, target, EOS); the frozen model
continues after the test source's separator. The draws are reproducible: seeded by `seed` and the input's
source tokens (up to its separator), so a source gets the same demonstrations in any batch, with or without
its target after it. When demonstrations and input would not
fit the model's context minus room for the output, the demonstrations farthest from the input are dropped
(GPT-3 likewise uses as many as fit its window).

What a finished cell keeps: the tokenised training examples the demonstrations are drawn from (token ids,
no backbone tensor) and the seed of the draws. The train loop hands the training rows over in `prepare`,
then runs no optimisation step (there is nothing to optimise) and writes the export as for any cell.
"""

from __future__ import annotations

import random
import sys
import zlib
from typing import Any

import torch
from transformers import PreTrainedModel, PreTrainedTokenizerBase

from harness.errors import ConfigError, ModelError
from harness.methods.base import HParam, Method
from harness.methods.layout import separator_id

ROOM_FOR_OUTPUT = 100  # context positions kept free for the generated text (Li & Liang decode up to 100 tokens)


def _count(value) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0


class PromptDesign(Method):
    """Prompt design (GPT-3 few-shot): K training examples written before each input; no training."""

    name = "prompt-design"
    aligned_logits = False  # forward maps the logits back from behind the demonstrations
    hparams = {
        "shots": HParam(0, "demonstrations K before each input (0: zero-shot)", _count, "an integer >= 0"),
        "seed": HParam(
            None,
            "seed of the demonstration draws; null: drawn from the cell's seed",
            lambda v: v is None or _count(v),
            "null or an integer >= 0",
        ),
    }

    def __init__(self, backbone: PreTrainedModel, **hparams) -> None:
        super().__init__(backbone, **hparams)
        for param in backbone.parameters():
            param.requires_grad_(False)
        config = backbone.config
        positions = getattr(config, "n_positions", None) or getattr(config, "max_position_embeddings", None)
        self.context_limit = (positions or sys.maxsize) - ROOM_FOR_OUTPUT
        # The demonstration pool, concatenated: example i is pool_ids[pool_offsets[i]:pool_offsets[i + 1]].
        self.register_buffer("pool_ids", torch.zeros(0, dtype=torch.long), persistent=False)
        self.register_buffer("pool_offsets", torch.zeros(1, dtype=torch.long), persistent=False)
        self.draw_seed = self.hp["seed"] or 0
        self.separator = separator_id(config)

    def prepare(self, tokenizer: PreTrainedTokenizerBase, rows: list[dict]) -> None:
        """Keep the tokenised training rows as the demonstration pool (the train loop calls this once)."""
        from harness.train import encode_example  # the training format; imported here: train imports methods

        shots = self.hp["shots"]
        if shots > len(rows):
            raise ConfigError(f"prompt-design: shots = {shots} but the training set has {len(rows)} rows; lower shots")
        self.draw_seed = self.hp["seed"] if self.hp["seed"] is not None else int(torch.randint(2**31, ()))
        if shots == 0:
            return
        examples = [encode_example(tokenizer, r["source"], r["target"], sys.maxsize)[0] for r in rows]
        self.pool_ids = torch.tensor([t for ids in examples for t in ids], dtype=torch.long)
        self.pool_offsets = torch.tensor([0, *torch.tensor([len(e) for e in examples]).cumsum(0).tolist()])

    def demonstrations(self, tokens: list[int]) -> list[int]:
        """The demonstration tokens written before an input (its real tokens, no padding)."""
        shots, n = self.hp["shots"], len(self.pool_offsets) - 1
        if shots == 0:
            return []
        if n < shots:
            raise ModelError(
                f"prompt-design: {shots} shots but {n} demonstrations are loaded; train the cell (its export holds "
                "the training examples) before decoding, or load its export"
            )
        source = tokens[: tokens.index(self.separator) + 1] if self.separator in tokens else tokens
        key = zlib.crc32(torch.tensor(source, dtype=torch.int64).numpy().tobytes())
        picks = random.Random(f"{self.draw_seed}:{key}").sample(range(n), shots)
        offsets = self.pool_offsets.tolist()
        demos = [self.pool_ids[offsets[i] : offsets[i + 1]].tolist() for i in picks]
        while demos and sum(map(len, demos)) + len(tokens) > self.context_limit:
            demos.pop(0)  # the farthest from the input goes first
        return [t for demo in demos for t in demo]

    def model_inputs(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> dict[str, Any]:
        if self.hp["shots"] == 0:
            return super().model_inputs(input_ids, attention_mask)
        rows = [ids[mask.bool()].tolist() for ids, mask in zip(input_ids, attention_mask, strict=True)]
        contexts = [self.demonstrations(row) + row for row in rows]
        width = max(map(len, contexts))
        ids = input_ids.new_zeros(len(contexts), width)  # left-padded: every input ends at the last slot
        mask = attention_mask.new_zeros(len(contexts), width)
        for i, context in enumerate(contexts):
            ids[i, width - len(context) :] = torch.tensor(context)
            mask[i, width - len(context) :] = 1
        positions = (mask.long().cumsum(-1) - 1).clamp(min=0)
        return dict(input_ids=ids, attention_mask=mask, position_ids=positions, past_key_values=None)

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor, **kwargs: Any) -> Any:
        """Logits on the caller's positions: `logits[:, t]` predicts token t + 1 of `input_ids`."""
        inputs = self.model_inputs(input_ids, attention_mask)
        out = self.backbone(**inputs, **kwargs)
        if self.hp["shots"] == 0:
            return out
        width = inputs["input_ids"].shape[1]
        real = attention_mask.long()
        slot = width - real.sum(-1, keepdim=True) + real.cumsum(-1) - 1  # new slot of each real token
        last = torch.full_like(slot[:, :1], width - 1)
        source = torch.where(real[:, 1:].bool(), slot[:, 1:] - 1, width - 1)  # slot predicting token t + 1
        source = torch.cat([source, last], dim=1)
        out.logits = out.logits.gather(1, source[..., None].expand(-1, -1, out.logits.shape[-1]))
        return out

    def export_state(self) -> dict[str, torch.Tensor]:
        return {
            "pool_ids": self.pool_ids.clone(),
            "pool_offsets": self.pool_offsets.clone(),
            "seed": torch.tensor([self.draw_seed], dtype=torch.long),
        }

    def load_export(self, state: dict[str, torch.Tensor]) -> None:
        device = self.pool_ids.device
        self.pool_ids = state["pool_ids"].to(device=device, dtype=torch.long)
        self.pool_offsets = state["pool_offsets"].to(device=device, dtype=torch.long)
        self.draw_seed = int(state["seed"][0])
