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

    def __init__(self, backbone: PreTrainedModel, **hparams: Any) -> None:
        super().__init__()
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

    # -- how inputs reach the backbone ---------------------------------------------------------
    def prefix_length(self) -> int:
        """Number of virtual key/value slots in front of every sequence (0 for most methods)."""
        return 0

    def past_key_values(self, batch_size: int) -> DynamicCache | None:
        """A cache pre-filled with the method's virtual keys/values, or None."""
        return None

    def model_inputs(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> dict[str, Any]:
        """Backbone kwargs for a (prefill) forward pass over a padded batch.

        Positions are counted over real tokens only (left or right padding both work) and start after the
        prefix slots, as the original GPT-2 prefix code does (its past length shifts the positions).
        """
        p = self.prefix_length()
        position_ids = (attention_mask.long().cumsum(-1) - 1).clamp(min=0) + p
        if p:
            ones = attention_mask.new_ones(attention_mask.shape[0], p)
            attention_mask = torch.cat([ones, attention_mask], dim=-1)
        return dict(
            input_ids=input_ids,
            attention_mask=attention_mask,
            position_ids=position_ids,
            past_key_values=self.past_key_values(input_ids.shape[0]),
        )

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor, **kwargs: Any) -> Any:
        return self.backbone(**self.model_inputs(input_ids, attention_mask), **kwargs)
