"""LoRA (Hu et al. 2021), an extra modern baseline, implemented here (no peft dependency).

What trains: for each targeted attention projection W of every block, a low-rank update
ΔW x = (alpha / r) * B A dropout(x), with A [r, d_in] (Kaiming-uniform, as loralib) and B [d_out, r]
(zeros, so training starts from the backbone's own function). Targets are roles, not module names: q, k, v
(inputs of attention) and o (its output); the default q and v is the LoRA paper's. On GPT-2, q, k and v
share one fused `c_attn`: each targeted role adapts its third of the output columns, as LoRA's GPT-2 code
does. The updates run as forward hooks (see `layout`), never merged into the frozen weights, so the backbone
stays bit-identical. What a finished cell keeps: the A and B matrices.
"""

from __future__ import annotations

import math

import torch
from torch import nn
from transformers import PreTrainedModel

from harness.methods.base import HParam, Method
from harness.methods.layout import Hooks, add_to_columns, blocks, projections
from harness.methods.prefix import _positive_int

ROLES = ("q", "k", "v", "o")


def _targets(value) -> bool:
    return isinstance(value, list) and bool(value) and len(set(value)) == len(value) and set(value) <= set(ROLES)


def _number(value) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


class LowRank(nn.Module):
    def __init__(self, d_in: int, d_out: int, r: int, scale: float, dropout: float, dtype: torch.dtype) -> None:
        super().__init__()
        self.A = nn.Parameter(torch.empty(r, d_in, dtype=dtype))
        self.B = nn.Parameter(torch.zeros(d_out, r, dtype=dtype))
        nn.init.kaiming_uniform_(self.A, a=math.sqrt(5))
        self.scale = scale
        self.dropout = nn.Dropout(dropout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return (self.dropout(x) @ self.A.T @ self.B.T) * self.scale


class LoRA(Method):
    """LoRA (Hu et al. 2021): trainable low-rank updates of the attention projections."""

    name = "lora"
    hparams = {
        "r": HParam(8, "rank of each update", _positive_int, "an integer >= 1"),
        "alpha": HParam(
            16, "scale numerator: updates are multiplied by alpha / r", lambda v: _number(v) and v > 0, "a number > 0"
        ),
        "dropout": HParam(
            0.0, "dropout on the input of each update", lambda v: _number(v) and 0 <= v < 1, "a number in [0, 1)"
        ),
        "targets": HParam(
            ["q", "v"],
            "attention projections to adapt, by role: q, k, v, o (GPT-2's fused c_attn: its q/k/v columns)",
            _targets,
            f"a non-empty list of distinct roles from {', '.join(ROLES)}",
        ),
    }

    def __init__(self, backbone: PreTrainedModel, **hparams) -> None:
        super().__init__(backbone, **hparams)
        for param in backbone.parameters():
            param.requires_grad_(False)
        r, targets = self.hp["r"], self.hp["targets"]
        scale, dtype = self.hp["alpha"] / r, next(backbone.parameters()).dtype
        layers = [projections(block) for block in blocks(backbone)]
        self.layers = nn.ModuleList(
            nn.ModuleDict(
                {
                    role: LowRank(proj[role].in_features, proj[role].out_features, r, scale, self.hp["dropout"], dtype)
                    for role in targets
                }
            )
            for proj in layers
        )
        self.hooks = Hooks(backbone, self.name)
        for proj, updates in zip(layers, self.layers, strict=True):
            for role, update in updates.items():
                self.hooks.add(proj[role].module, self._hook(update, proj[role].columns))

    @staticmethod
    def _hook(update: LowRank, columns: slice):
        def apply(module, args, output):
            return add_to_columns(output, columns, update(args[0]))

        return apply
