"""What every method is: a module around a backbone that says what trains and how inputs reach the model.

The generic loop (`harness.train`) and decoder (`harness.generate`) only call what is defined here, so
a method is one module that subclasses `Method` and one line in the registry.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

import torch
from safetensors.torch import load_file, save_file
from torch import nn
from transformers import DynamicCache, PreTrainedModel

from harness.errors import ModelError
from harness.seq2seq import is_encoder_decoder

EXPORT_FILE = "export.safetensors"


@dataclass(frozen=True)
class HParam:
    """One hyper-parameter a method accepts in the config, with its default and a validity check."""

    default: Any
    help: str
    check: Callable[[Any], bool] = lambda value: True
    requirement: str = ""


class Method(nn.Module):
    """Base class. Subclasses set `name`, `hparams`, and override what differs from plain fine-tuning."""

    name: ClassVar[str]
    hparams: ClassVar[dict[str, HParam]] = {}
    # Methods whose trained state reaches the frozen backbone only as per-row tensors (`row_state`) can train
    # many cells in one batch over one backbone (`harness.packed`).
    packable: ClassVar[bool] = False
    # The backbone's logits at position t belong to input token t (forward passes **kwargs on): the loss may then
    # ask for the logits of target positions only (`logits_to_keep`), skipping the LM head over the source.
    aligned_logits: ClassVar[bool] = True
    # Methods that know encoder-decoder backbones (BART, T5); the others refuse them at construction.
    encoder_decoder: ClassVar[bool] = False

    def __init__(self, backbone: PreTrainedModel, **hparams: Any) -> None:
        super().__init__()
        if is_encoder_decoder(backbone) and not self.encoder_decoder:
            from harness.methods import ENCODER_DECODER  # the registry imports this module

            raise ModelError(
                f"{type(self).__name__} ({self.name!r}) supports decoder-only backbones (GPT-2, Llama-style) only, "
                f"and {type(backbone).__name__} is an encoder-decoder model; on encoder-decoder backbones (BART, T5) "
                f"build_method supports the methods {', '.join(ENCODER_DECODER)}"
            )
        self.backbone = backbone
        self.hp = {key: hparams.get(key, spec.default) for key, spec in self.hparams.items()}

    # -- what trains ---------------------------------------------------------------------------
    def trainable_parameters(self) -> list[nn.Parameter]:
        return [p for p in self.parameters() if p.requires_grad]

    def trainable_state(self) -> dict[str, torch.Tensor]:
        """The method's own trainable tensors (what a resume checkpoint needs), never the frozen backbone."""
        names = {id(p): n for n, p in self.named_parameters()}
        return {names[id(p)]: p.detach().clone() for p in self.trainable_parameters()}

    def load_trainable_state(self, state: dict[str, torch.Tensor]) -> None:
        params = dict(self.named_parameters())
        with torch.no_grad():
            for name, value in state.items():
                params[name].copy_(value)

    # -- what a finished cell keeps ------------------------------------------------------------
    def export_state(self) -> dict[str, torch.Tensor]:
        """What inference needs (may be smaller than the trainable state, e.g. a projected prefix)."""
        return self.trainable_state()

    def load_export(self, state: dict[str, torch.Tensor]) -> None:
        self.load_trainable_state(state)

    def save_export(self, directory: Path) -> Path:
        directory.mkdir(parents=True, exist_ok=True)
        path = directory / EXPORT_FILE
        tmp = path.with_name(path.name + ".tmp")
        save_file({k: v.contiguous().cpu() for k, v in self.export_state().items()}, str(tmp))
        tmp.replace(path)
        return path

    def load_export_from(self, directory: Path) -> None:
        self.load_export(load_file(str(directory / EXPORT_FILE)))

    # -- packing: many cells over one frozen backbone ------------------------------------------
    def row_state(self) -> dict[str, torch.Tensor]:
        """What one row of a batch needs from this cell (packable methods): tensors that `model_inputs` takes
        stacked per row as `rows`, so rows of different cells can share one forward pass."""
        raise NotImplementedError(f"{self.name} is not packable")

    def pack_key(self) -> tuple:
        """Cells can share a batch only if their methods agree on this (the shapes of `row_state`)."""
        return (self.name, *((k, tuple(v.shape)) for k, v in sorted(self.row_state().items())))

    def train(self, mode: bool = True) -> Method:
        super().train(mode)
        if self.packable:
            # The backbone is frozen: keep it in eval mode (no dropout), so a row's loss depends only on its own
            # cell's parameters and packed cells compute exactly what separate runs do.
            self.backbone.eval()
        return self

    def _rows(self, rows: dict[str, torch.Tensor] | None, key: str, batch_size: int) -> torch.Tensor:
        """`rows[key]` ([B, ...], one entry per row, packed) or this cell's own state repeated for B rows."""
        if rows is not None:
            return rows[key]
        own = self.row_state()[key]
        return own.unsqueeze(0).expand(batch_size, *own.shape)

    # -- how inputs reach the backbone ---------------------------------------------------------
    def prefix_length(self) -> int:
        """Number of virtual key/value slots in front of every sequence (0 for most methods)."""
        return 0

    def past_key_values(self, batch_size: int, rows: dict[str, torch.Tensor] | None = None) -> DynamicCache | None:
        """A cache pre-filled with the method's virtual keys/values, or None."""
        return None

    def model_inputs(
        self, input_ids: torch.Tensor, attention_mask: torch.Tensor, rows: dict[str, torch.Tensor] | None = None
    ) -> dict[str, Any]:
        """Backbone kwargs for a (prefill) forward pass over a padded batch.

        Positions are counted over real tokens only (left or right padding both work) and start after the
        prefix slots, as the original GPT-2 prefix code does (its past length shifts the positions).
        `rows` (packed cells) carries each row's own method state; None means this cell's for every row.
        """
        if is_encoder_decoder(self.backbone):
            # Encoders count positions themselves (BART: absolute over its input, T5: relative): no position ids.
            return dict(input_ids=input_ids, attention_mask=attention_mask)
        p = self.prefix_length()
        position_ids = (attention_mask.long().cumsum(-1) - 1).clamp(min=0) + p
        if p:
            ones = attention_mask.new_ones(attention_mask.shape[0], p)
            attention_mask = torch.cat([ones, attention_mask], dim=-1)
        return dict(
            input_ids=input_ids,
            attention_mask=attention_mask,
            position_ids=position_ids,
            past_key_values=self.past_key_values(input_ids.shape[0], rows),
        )

    def forward(
        self,
        input_ids: torch.Tensor,
        attention_mask: torch.Tensor,
        rows: dict[str, torch.Tensor] | None = None,
        **kwargs: Any,
    ) -> Any:
        return self.backbone(**self.model_inputs(input_ids, attention_mask, rows), **kwargs)
