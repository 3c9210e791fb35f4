"""Prefix-tuning (Li & Liang 2021), as the original GPT-2 code builds it.

P trainable vectors are reparameterised by an MLP, Embedding(P, d) -> Linear(d, mid) -> Tanh ->
Linear(mid, L * 2 * d_kv), and become per-layer keys and values that every input token attends to. The
backbone stays frozen. After training only the projected prefix (P x L x 2 x d_kv values) is kept for
inference; the MLP is a training device, stored only in resume checkpoints.
"""

from __future__ import annotations

import torch
from torch import nn
from transformers import DynamicCache, PreTrainedModel

from harness.errors import ModelError
from harness.methods.base import HParam, Method


def _positive_int(value) -> bool:
    # bool is an int subclass: YAML `length: true` must not silently become a 1-vector prefix.
    return isinstance(value, int) and not isinstance(value, bool) and value >= 1


def kv_shape(config) -> tuple[int, int, int]:
    """(layers, key/value heads, head size). Grouped-query models share K/V heads: use their count."""
    heads = config.num_attention_heads
    kv_heads = getattr(config, "num_key_value_heads", None) or heads
    head_dim = getattr(config, "head_dim", None) or config.hidden_size // heads
    return config.num_hidden_layers, kv_heads, head_dim


def per_layer(flat: torch.Tensor, layers: int, heads: int, head_dim: int) -> torch.Tensor:
    """The MLP's [P, L * 2 * heads * head_dim] output as [2L, heads, P, head_dim]: per layer a key then a value."""
    return flat.view(flat.shape[0], 2 * layers, heads, head_dim).permute(1, 2, 0, 3)


def layer_pairs(kv: torch.Tensor) -> list[tuple[torch.Tensor, torch.Tensor]]:
    """Per-row prefixes [B, 2L, heads, P, head_dim] as one (keys, values) pair per layer, each [B, heads, P, hd]."""
    kv = kv.transpose(0, 1)
    return [(kv[2 * i], kv[2 * i + 1]) for i in range(kv.shape[0] // 2)]


class PrefixTuning(Method):
    """Prefix-tuning (Li & Liang 2021): MLP-reparameterised key/value prefixes at every layer; backbone frozen."""

    name = "prefix"
    packable = True
    hparams = {
        "length": HParam(
            5,
            "number of prefix vectors P (paper: 5 for E2E/WebNLG, 10 DART, 100 XSUM)",
            _positive_int,
            "an integer >= 1",
        ),
        "mid_dim": HParam(
            512,
            "hidden width of the reparameterisation MLP (paper: 512 table-to-text, 800 XSUM)",
            _positive_int,
            "an integer >= 1",
        ),
    }

    def __init__(self, backbone: PreTrainedModel, **hparams) -> None:
        super().__init__(backbone, **hparams)
        for param in self.backbone.parameters():
            param.requires_grad_(False)
        config = backbone.config
        self.layers, self.kv_heads, self.head_dim = kv_shape(config)
        length, mid = self.hp["length"], self.hp["mid_dim"]
        dtype = next(backbone.parameters()).dtype
        self.wte = nn.Embedding(length, config.hidden_size, dtype=dtype)
        self.control_trans = nn.Sequential(
            nn.Linear(config.hidden_size, mid, dtype=dtype),
            nn.Tanh(),
            nn.Linear(mid, self.layers * 2 * self.kv_heads * self.head_dim, dtype=dtype),
        )
        self.register_buffer("prefix_ids", torch.arange(length), persistent=False)
        # Set by load_export: a fixed projected prefix replaces the MLP at inference. A buffer (not a plain
        # attribute) so that method.to(device) after load_export moves it with the backbone.
        self.register_buffer("exported", None, persistent=False)

    def trainable_parameters(self) -> list[nn.Parameter]:
        return [*self.wte.parameters(), *self.control_trans.parameters()]

    def prefix_length(self) -> int:
        return self.hp["length"]

    def projected(self) -> torch.Tensor:
        """The prefix as [2L, kv_heads, P, head_dim]: per layer a key block then a value block."""
        if self.exported is not None:
            return self.exported
        flat = self.control_trans(self.wte(self.prefix_ids))  # [P, L*2*kv*hd]
        return per_layer(flat, self.layers, self.kv_heads, self.head_dim)

    def row_state(self) -> dict[str, torch.Tensor]:
        return {"kv": self.projected()}

    def past_key_values(self, batch_size: int, rows: dict[str, torch.Tensor] | None = None) -> DynamicCache:
        # A DynamicCache (not legacy tuples: removed in transformers >= 4.56) pre-filled layer by layer.
        pairs = layer_pairs(self._rows(rows, "kv", batch_size))
        return DynamicCache(ddp_cache_data=pairs, config=self.backbone.config)

    def export_state(self) -> dict[str, torch.Tensor]:
        with torch.no_grad():
            return {"prefix": self.projected().detach().clone()}

    def load_export(self, state: dict[str, torch.Tensor]) -> None:
        prefix = state["prefix"]
        expected = (2 * self.layers, self.kv_heads, self.hp["length"], self.head_dim)
        if tuple(prefix.shape) != expected:
            raise ModelError(
                f"exported prefix has shape {tuple(prefix.shape)}, this backbone and prefix length need {expected}: "
                "the cell was trained with another model or method setting; re-train it (delete its state/ folder)"
            )
        param = next(self.backbone.parameters())
        self.exported = prefix.to(device=param.device, dtype=param.dtype)
