"""Encoder-decoder backbones (BART, T5): training examples, batches, loss and step-by-step decoding.

The source goes to the encoder, the target to the decoder. Both are tokenised the way the tokenizer itself
does it (BART: `<s> x </s>`, T5: `x </s>`), as the original BART prefix code and T5 training feed them; a
target always ends with EOS. The decoder input is the labels shifted right behind `decoder_start_token_id`,
which is what the model builds itself when given `labels` — built here explicitly, so methods and tests see
it. Logits at decoder position t predict labels[t]: no shift in the loss. Padding is on the right on both
sides, in training and in decoding alike (BART's encoder counts absolute positions over its input).

`harness.train` and `harness.generate` hand encoder-decoder backbones over to this module.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import torch
from transformers import DynamicCache, EncoderDecoderCache, PreTrainedModel, PreTrainedTokenizerBase
from transformers.modeling_outputs import BaseModelOutput

from harness.decode_cache import grown, step_attention
from harness.errors import ModelError

if TYPE_CHECKING:
    from harness.methods import Method

DECODER_KEYS = ("decoder_input_ids", "decoder_attention_mask")


def is_encoder_decoder(model: PreTrainedModel) -> bool:
    # getattr twice: methods may wrap any nn.Module (a test backbone, a plugin's), not only transformers models.
    return bool(getattr(getattr(model, "config", None), "is_encoder_decoder", False))


def decoder_start_id(config) -> int:
    start = getattr(config, "decoder_start_token_id", None)
    if start is None:
        raise ModelError(
            f"{config.model_type}: the config has no decoder_start_token_id, so the decoder has no first input; "
            "set it in the model's config.json (BART: the EOS id, T5: the PAD id)"
        )
    return start


def source_ids(tokenizer: PreTrainedTokenizerBase, source: str) -> list[int]:
    """The encoder input: the source as the tokenizer encodes it, with its own special tokens."""
    return tokenizer(source).input_ids


def encode_example(
    tokenizer: PreTrainedTokenizerBase, source: str, target: str, max_length: int
) -> tuple[list[int], list[int]]:
    """(encoder input ids, labels); each side is cut to `max_length`. The labels are the target as the tokenizer
    encodes it, ending with EOS (appended when the tokenizer adds none, e.g. a decoder-only tokenizer)."""
    labels = tokenizer(target.strip()).input_ids
    if not labels or labels[-1] != tokenizer.eos_token_id:
        labels.append(tokenizer.eos_token_id)
    return source_ids(tokenizer, source)[:max_length], labels[:max_length]


def right_pad(rows: list[list[int]], fill: int) -> tuple[torch.Tensor, torch.Tensor]:
    ids = torch.full((len(rows), max(len(r) for r in rows)), fill, dtype=torch.long)
    mask = torch.zeros_like(ids)
    for i, row in enumerate(rows):
        ids[i, : len(row)] = torch.tensor(row, dtype=torch.long)
        mask[i, : len(row)] = 1
    return ids, mask


def collate(examples: list[tuple[list[int], list[int]]], pad_id: int, decoder_start: int) -> dict[str, torch.Tensor]:
    """A right-padded batch: the encoder side, the labels (-100 on pads) and the decoder input (the labels shifted
    right behind `decoder_start`) with its mask."""
    sources, labels = zip(*examples, strict=True)
    input_ids, attention_mask = right_pad(list(sources), pad_id)
    label_ids, decoder_mask = right_pad(list(labels), -100)
    decoder_input_ids, _ = right_pad([[decoder_start, *row[:-1]] for row in labels], pad_id)
    return {
        "input_ids": input_ids,
        "attention_mask": attention_mask,
        "labels": label_ids,
        "decoder_input_ids": decoder_input_ids,
        "decoder_attention_mask": decoder_mask,
    }


def encoder_inputs(
    tokenizer: PreTrainedTokenizerBase, sources: list[str], pad_id: int
) -> tuple[torch.Tensor, torch.Tensor]:
    """(ids, mask) of a batch of sources to decode from: right-padded, as in training."""
    return right_pad([source_ids(tokenizer, s) for s in sources], pad_id)


def decoder_inputs(batch: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """The decoder side of a batch (empty for a decoder-only batch)."""
    return {key: batch[key] for key in DECODER_KEYS if key in batch}


class Stepper:
    """The encoder-decoder sibling of `harness.generate._Stepper`: the encoder runs once per input, its outputs
    (and the method's decoder cache) are repeated for each beam, as `generate()` does; then the decoder advances
    one token at a time over an `EncoderDecoderCache` (self-attention keys grow, cross-attention keys are
    computed on the first step and re-used)."""

    def __init__(
        self,
        method: Method,
        ids: torch.Tensor,
        mask: torch.Tensor,
        beams: int = 1,
        cells: torch.Tensor | None = None,
        room: int | None = None,
    ) -> None:
        self.method = method
        # Packed cells: each input's own prefixes / prompt (harness.packed), before the rows are repeated per beam.
        inputs = method.model_inputs(ids, mask) if cells is None else method.model_inputs(ids, mask, cells)
        cache = inputs.pop("past_key_values", None)
        encoded = method.backbone.get_encoder()(**inputs)
        self.encoder_outputs = BaseModelOutput(last_hidden_state=encoded.last_hidden_state.repeat_interleave(beams, 0))
        self.encoder_mask = inputs["attention_mask"].repeat_interleave(beams, 0)
        if cache is None:
            cache = EncoderDecoderCache(DynamicCache(), DynamicCache())
        elif beams > 1:
            cache.batch_repeat_interleave(beams)
        self.cache = cache
        start = ids.new_full((ids.shape[0] * beams,), decoder_start_id(method.backbone.config))
        self.logits = self._decode(start)
        if room is not None:  # the decoder's own keys grow in place from here on (harness.decode_cache)
            self.cache.self_attention_cache = grown(self.cache.self_attention_cache, 1, room)

    def _decode(self, tokens: torch.Tensor) -> torch.Tensor:
        # No decoder mask: the decoder has no padding, and without one it attends to everything in its cache.
        with step_attention(tokens.device):
            out = self.method.backbone(
                encoder_outputs=self.encoder_outputs,
                attention_mask=self.encoder_mask,
                decoder_input_ids=tokens[:, None],
                past_key_values=self.cache,
                use_cache=True,
            )
        self.cache = out.past_key_values
        return out.logits[:, -1, :]

    def step(self, tokens: torch.Tensor, reorder: torch.Tensor | None = None) -> torch.Tensor:
        if reorder is not None:
            # Only the decoder's own keys/values: beams move within their input's group, and every beam of an
            # input holds the same cross-attention keys/values (one encoder pass, repeated), so reordering those
            # (most of the cache for long sources) would copy them onto themselves.
            self.cache.self_attention_cache.reorder_cache(reorder)
        return self._decode(tokens)
