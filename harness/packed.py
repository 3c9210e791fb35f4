"""Packed cells: K cells of one packable method share one frozen backbone and one batch.

Each row of a packed batch carries the index of its cell; the rows' method state (a prefix's keys and
values, a prompt's vectors) is stacked from the K cells and gathered per row, so one forward and one
backward pass serve all K cells while every cell's parameters see only the gradient of its own rows'
loss. With the backbone frozen (and in eval mode) that is exactly the gradient a separate run of the cell
on the same rows computes: packing changes the speed, never the numbers (up to float summation order).
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from harness.errors import ConfigError
from harness.loss import per_cell_loss, token_losses  # noqa: F401  (the packed loss; re-exported for callers)
from harness.methods import Method


def check_packable(methods: list[Method]) -> None:
    """Raise ConfigError unless these methods can share one batch (same backbone object, same row shapes)."""
    lead = methods[0]
    for method in methods:
        if not method.packable:
            raise ConfigError(
                f"method {method.name!r} cannot be packed (its state is not per row); set train.pack: 1 for it"
            )
        if method.backbone is not lead.backbone:
            raise ConfigError("packed cells must share one backbone object; load the backbone once for the pack")
        if method.pack_key() != lead.pack_key():
            raise ConfigError(
                f"cells with method settings {lead.pack_key()} and {method.pack_key()} cannot share a batch "
                "(their per-row states differ in shape); pack only cells whose shapes agree"
            )


class PackedCells(nn.Module):
    """K methods of one packable kind over one shared backbone; rows say which cell they belong to."""

    def __init__(self, methods: list[Method]) -> None:
        super().__init__()
        if not methods:
            raise ValueError("PackedCells needs at least one method")
        check_packable(methods)
        self.cells = nn.ModuleList(methods)

    @property
    def lead(self) -> Method:
        """The method whose structure (lengths, insertion points) every cell shares."""
        return self.cells[0]

    @property
    def backbone(self) -> nn.Module:
        return self.lead.backbone

    def rows(self, cells: torch.Tensor) -> dict[str, torch.Tensor]:
        """Per-row method state: every cell's `row_state()` stacked, then gathered by each row's cell index."""
        states = [method.row_state() for method in self.cells]
        return {key: torch.stack([s[key] for s in states])[cells] for key in states[0]}

    def model_inputs(self, input_ids: torch.Tensor, attention_mask: torch.Tensor, cells: torch.Tensor) -> dict:
        return self.lead.model_inputs(input_ids, attention_mask, self.rows(cells))

    def forward(
        self, input_ids: torch.Tensor, attention_mask: torch.Tensor, cells: torch.Tensor, **kwargs: Any
    ) -> Any:
        return self.lead(input_ids, attention_mask, rows=self.rows(cells), **kwargs)
