"""Virtual tokens: P trainable vectors inserted into the embedded input of every row of a frozen backbone.

Shared by prompt tuning (prepended), EMB-k (prepended, through an MLP) and infix-tuning (right after the
separator). The vectors occupy real sequence slots: later tokens attend to them and they consume positions.
`forward` maps the logits back onto the caller's token positions, so `logits[:, t]` still predicts token
t + 1 of `input_ids` and the training loss needs no change; the decoder reads the last slot of the prefill,
which is the last inserted vector when they come last (infix at decoding) and the last token otherwise.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn
from transformers import PreTrainedModel

from harness.errors import ModelError
from harness.methods.base import Method


def reparameterisation(length: int, d: int, mid: int, d_out: int, dtype: torch.dtype) -> tuple[nn.Module, nn.Module]:
    """Li & Liang's MLP trick: Embedding(P, d) -> Linear(d, mid) -> Tanh -> Linear(mid, d_out)."""
    mlp = nn.Sequential(nn.Linear(d, mid, dtype=dtype), nn.Tanh(), nn.Linear(mid, d_out, dtype=dtype))
    return nn.Embedding(length, d, dtype=dtype), mlp


def check_export_shape(method: str, key: str, tensor: torch.Tensor, expected: tuple[int, ...]) -> None:
    if tuple(tensor.shape) != expected:
        raise ModelError(
            f"{method}: exported {key!r} has shape {tuple(tensor.shape)}, this backbone and method setting need "
            f"{expected}: the cell was trained with another model or method setting; re-train it (delete its state/)"
        )


class VirtualTokens(Method):
    """Base class: subclasses give `vectors()` ([P, d]) and, unless they prepend, `insert_at()`."""

    packable = True
    aligned_logits = False  # forward maps the logits back from the slots the vectors shifted

    def __init__(self, backbone: PreTrainedModel, **hparams: Any) -> None:
        super().__init__(backbone, **hparams)
        for param in self.backbone.parameters():
            param.requires_grad_(False)
        self.hidden = backbone.config.hidden_size
        self.dtype = next(backbone.parameters()).dtype

    def vectors(self) -> torch.Tensor:
        raise NotImplementedError

    def insert_at(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        """Per row, the index in `input_ids` before which the vectors go (0: prepended)."""
        return torch.zeros(input_ids.shape[0], dtype=torch.long, device=input_ids.device)

    def length(self) -> int:
        return self.hp["length"]

    def _new_index(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(insertion index [B], new slot of every old position 0..T [B, T+1]); old position T is "one past the
        end", so that new_index[:, t + 1] - 1 is the slot whose logits predict token t + 1."""
        at = self.insert_at(input_ids, attention_mask)
        old = torch.arange(input_ids.shape[1] + 1, device=input_ids.device)
        return at, old + self.length() * (old >= at[:, None])

    def row_state(self) -> dict[str, torch.Tensor]:
        return {"vectors": self.vectors()}

    def model_inputs(
        self, input_ids: torch.Tensor, attention_mask: torch.Tensor, rows: dict[str, torch.Tensor] | None = None
    ) -> dict[str, Any]:
        at, new_index = self._new_index(input_ids, attention_mask)
        embeds = self.backbone.get_input_embeddings()(input_ids)
        (b, t, d), p = embeds.shape, self.length()
        slots = at[:, None] + torch.arange(p, device=at.device)  # [B, P]
        token_slots = new_index[:, :t]
        vectors = self._rows(rows, "vectors", b).to(embeds.dtype)
        full = embeds.new_zeros(b, t + p, d)
        full = full.scatter(1, token_slots[..., None].expand(-1, -1, d), embeds)
        full = full.scatter(1, slots[..., None].expand(-1, -1, d), vectors)
        mask = attention_mask.new_zeros(b, t + p).scatter(1, token_slots, attention_mask)
        mask = mask.scatter(1, slots, 1)
        positions = (mask.long().cumsum(-1) - 1).clamp(min=0)
        self._inserted(slots, rows)
        return dict(inputs_embeds=full, attention_mask=mask, position_ids=positions, past_key_values=None)

    def _inserted(self, slots: torch.Tensor, rows: dict[str, torch.Tensor] | None) -> None:
        """Told where the vectors went in the batch about to run (infix uses it); nothing by default."""

    def forward(
        self,
        input_ids: torch.Tensor,
        attention_mask: torch.Tensor,
        rows: dict[str, torch.Tensor] | None = None,
        **kwargs: Any,
    ) -> Any:
        out = self.backbone(**self.model_inputs(input_ids, attention_mask, rows), **kwargs)
        at, new_index = self._new_index(input_ids, attention_mask)
        if not at.any():  # prepended everywhere: a view, no copy of the [B, T, vocab] logits
            out.logits = out.logits[:, self.length() :]
            return out
        source = new_index[:, 1:] - 1  # the slot whose logits predict token t + 1
        out.logits = out.logits.gather(1, source[..., None].expand(-1, -1, out.logits.shape[-1]))
        return out
