"""Prompt tuning (Lester, Al-Rfou & Constant 2021): a trainable soft prompt in front of the input embeddings.

What trains: a P x d matrix, prepended to the embedded input of a frozen backbone: of the whole sequence on a
decoder-only model, of the encoder only on an encoder-decoder (Lester's T5 setup; `EncoderPromptTuning`, the
decoder untouched). What a finished cell keeps: that matrix, P x d values.

Initialisations (Lester §3, ablated in §5):
- ``uniform``: U[-0.5, 0.5] (the paper's "random uniform"; PEFT uses N(0, 1), T5X's gin U[0, 0.5)).
- ``vocab``: embeddings of tokens sampled (without repetition) from the 5,000 most frequent tokens.
  Token ids stand in for frequency, which holds only for frequency-ordered vocabularies: byte-level BPE
  (GPT-2, SmolLM2: ids after the byte alphabet follow the merge order, i.e. pair frequency in the
  tokenizer's training corpus) and SentencePiece unigram (T5: pieces ordered by score). Special and added
  tokens are skipped. Other tokenizers (e.g. WordPiece) are refused rather than silently sampled.
- ``class-labels`` (Lester's default): one vector per string in `labels`, the embedding of its tokens (a
  multi-token label is averaged), the remaining vectors sampled as ``vocab``. A label is tokenised as it
  appears as a target here: after a space (`" " + label`).
The ``vocab`` and ``class-labels`` inits need the tokenizer: the train loop applies them in `prepare`.
"""

from __future__ import annotations

import json
from typing import Any

import torch
from torch import nn
from transformers import PreTrainedModel, PreTrainedTokenizerBase

from harness.errors import ConfigError, ModelError
from harness.methods.base import HParam, Method
from harness.methods.prefix import _positive_int
from harness.methods.virtual_tokens import VirtualTokens, check_export_shape

INITS = ("uniform", "vocab", "class-labels")
FREQUENT = 5000  # Lester / T5X: sampled-vocabulary init draws from the 5,000 most common tokens
FREQUENCY_ORDERED_MODELS = ("BPE", "Unigram")  # tokenizers' model types whose ids follow frequency


def _labels(value) -> bool:
    return isinstance(value, list) and all(isinstance(v, str) and v.strip() for v in value)


def frequent_token_ids(tokenizer: PreTrainedTokenizerBase, n: int = FREQUENT) -> torch.Tensor:
    """The n lowest non-special ids of a frequency-ordered vocabulary (see the module docstring)."""
    backend = getattr(tokenizer, "backend_tokenizer", None)
    kind = json.loads(backend.to_str())["model"]["type"] if backend is not None else type(tokenizer).__name__
    if kind not in FREQUENCY_ORDERED_MODELS:
        raise ModelError(
            f"prompt init 'vocab'/'class-labels' samples the {n} most frequent tokens, read from the token ids, but "
            f"this tokenizer ({kind}) is not frequency-ordered; use init: uniform"
        )
    special = set(tokenizer.all_special_ids) | set(tokenizer.added_tokens_decoder)
    ids = [i for i in range(len(tokenizer)) if i not in special][:n]
    return torch.tensor(ids, dtype=torch.long)


class PromptTuning(VirtualTokens):
    """Prompt tuning (Lester et al. 2021): a soft prompt of P trainable vectors before the input embeddings."""

    name = "prompt"
    hparams = {
        "length": HParam(100, "prompt length P (paper default 100; ablated 1..150)", _positive_int, "an integer >= 1"),
        "init": HParam(
            "class-labels",
            "uniform: U[-0.5, 0.5]; vocab: embeddings of tokens sampled from the 5,000 most frequent; class-labels "
            "(paper default): one vector per label in `labels`, the rest as vocab",
            lambda v: v in INITS,
            f"one of {', '.join(INITS)}",
        ),
        "labels": HParam(
            [],
            "class-label strings for init: class-labels (multi-token labels averaged); empty = all sampled vocab",
            _labels,
            "a list of non-empty strings",
        ),
    }

    def __init__(self, backbone: PreTrainedModel, **hparams) -> None:
        super().__init__(backbone, **hparams)
        length, labels = self.hp["length"], self.hp["labels"]
        if labels and self.hp["init"] != "class-labels":
            raise ConfigError(f"prompt: labels are given but init is {self.hp['init']!r}; set init: class-labels")
        if len(labels) > length:
            raise ConfigError(f"prompt: {len(labels)} labels do not fit a prompt of length {length}; raise length")
        # Every init starts uniform; vocab and class-labels are written over it in prepare() (needs the tokenizer).
        self.prompt = nn.Parameter(torch.empty(length, self.hidden, dtype=self.dtype).uniform_(-0.5, 0.5))

    def vectors(self) -> torch.Tensor:
        return self.prompt

    @torch.no_grad()
    def prepare(self, tokenizer: PreTrainedTokenizerBase, rows: list[dict]) -> None:
        """Apply the vocab / class-labels init (the train loop calls this once, before training)."""
        if self.hp["init"] == "uniform":
            return
        table = self.backbone.get_input_embeddings().weight
        population = frequent_token_ids(tokenizer)
        labels = self.hp["labels"]
        sampled = population[torch.randperm(len(population))[: self.length() - len(labels)]]
        if len(sampled) < self.length() - len(labels):  # longer than the population: draw with repetition
            sampled = population[torch.randint(len(population), (self.length() - len(labels),))]
        label_vectors = [
            table[tokenizer(" " + label.strip(), add_special_tokens=False).input_ids].mean(0) for label in labels
        ]
        self.prompt.copy_(torch.stack([*label_vectors, *table[sampled.to(table.device)]]).to(self.prompt.dtype))

    def export_state(self) -> dict[str, torch.Tensor]:
        return {"prompt": self.prompt.detach().clone()}

    def load_export(self, state: dict[str, torch.Tensor]) -> None:
        check_export_shape(self.name, "prompt", state["prompt"], tuple(self.prompt.shape))
        with torch.no_grad():
            self.prompt.copy_(state["prompt"])


class EncoderPromptTuning(PromptTuning):
    """Prompt tuning on an encoder-decoder (Lester's T5 setup): the soft prompt before the encoder's input only."""

    encoder_decoder = True

    def model_inputs(
        self, input_ids: torch.Tensor, attention_mask: torch.Tensor, rows: dict[str, torch.Tensor] | None = None
    ) -> dict[str, Any]:
        inputs = super().model_inputs(input_ids, attention_mask, rows)
        # Encoders count positions themselves and take no cache: the embedded input and its mask only.
        return {"inputs_embeds": inputs["inputs_embeds"], "attention_mask": inputs["attention_mask"]}

    def forward(
        self,
        input_ids: torch.Tensor,
        attention_mask: torch.Tensor,
        rows: dict[str, torch.Tensor] | None = None,
        **kwargs: Any,
    ) -> Any:
        # The logits are the decoder's, one per decoder input: none to drop for the prompt slots.
        return Method.forward(self, input_ids, attention_mask, rows, **kwargs)
