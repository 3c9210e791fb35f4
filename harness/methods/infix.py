"""Infix-tuning, INFIX-k (Li & Liang 2021 §7.2): trainable activations between the source and the target.

The sequence becomes [x; INFIX; y]: here the source x ends with the separator token
(`harness.generate.prompt_ids`), so the P infix slots go right after it, and the last of them predicts the
first target token. As in the original code (`--format_mode infix`, `get_prompt_p5_infix`), an infix slot
has both
- an input vector (a trainable P x d embedding, the original's `wte2`), whose activations the frozen
  backbone computes after x, so they depend on x (the original runs GPT-2 on [x; wte2] for them), and
- at every layer, a trainable offset added to its key and value, reparameterised as the prefix is
  (Embedding(P, d) -> Linear(d, mid) -> Tanh -> Linear(mid, L * 2 * d_kv)) — the "activations".
The per-layer offsets are applied by forward hooks on the attention's k and v projections (see `layout`), so
the infix sits at its real position in one forward pass and the decoder's cache holds its keys and values
like any token's. Differences from the original: it adds the offsets to the keys/values as they are
computed rather than to a cache computed without them (so deeper infix slots see the offsets of earlier
layers), and on Llama-style models the key offsets are rotated with the key (RoPE), as a token's key is.

What a finished cell keeps: the input vectors (P x d) and the projected offsets (2L x kv_heads x P x
head_dim); the MLP is a training device, kept only in resume checkpoints.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn
from transformers import PreTrainedModel

from harness.errors import ModelError
from harness.methods.base import HParam
from harness.methods.layout import Hooks, add_to_columns, blocks, projections, separator_id
from harness.methods.prefix import _positive_int, kv_shape
from harness.methods.virtual_tokens import VirtualTokens, check_export_shape, reparameterisation


class InfixTuning(VirtualTokens):
    """INFIX-k (Li & Liang 2021): P trainable slots between the source and the target, at every layer."""

    name = "infix"
    hparams = {
        "length": HParam(
            10, "number of infix slots P (paper: INFIX-1, INFIX-10, INFIX-20)", _positive_int, "an integer >= 1"
        ),
        "mid_dim": HParam(
            512, "hidden width of the reparameterisation MLP (as prefix: 512)", _positive_int, "an integer >= 1"
        ),
    }

    def __init__(self, backbone: PreTrainedModel, **hparams) -> None:
        super().__init__(backbone, **hparams)
        self.layers, self.kv_heads, self.head_dim = kv_shape(backbone.config)
        p, d = self.length(), self.hidden
        self.separator = separator_id(backbone.config)
        self.tokens = nn.Embedding(p, d, dtype=self.dtype)
        kv_out = self.layers * 2 * self.kv_heads * self.head_dim
        self.wte, self.control_trans = reparameterisation(p, d, self.hp["mid_dim"], kv_out, self.dtype)
        self.register_buffer("slot_ids", torch.arange(p), persistent=False)
        self.register_buffer("exported", None, persistent=False)  # projected offsets, set by load_export
        self.shared = _OffsetHooks.on(backbone)
        self.hooks = self.shared.hooks

    def trainable_parameters(self) -> list[nn.Parameter]:
        return [*self.tokens.parameters(), *self.wte.parameters(), *self.control_trans.parameters()]

    def vectors(self) -> torch.Tensor:
        return self.tokens.weight

    def offsets(self) -> torch.Tensor:
        """Per-layer key/value offsets as [2L, kv_heads, P, head_dim] (per layer a key block then a value block)."""
        if self.exported is not None:
            return self.exported
        flat = self.control_trans(self.wte(self.slot_ids))  # [P, L*2*kv*hd]
        return flat.view(self.length(), 2 * self.layers, self.kv_heads, self.head_dim).permute(1, 2, 0, 3)

    def row_state(self) -> dict[str, torch.Tensor]:
        return {"vectors": self.vectors(), "offsets": self.offsets()}

    def insert_at(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        is_sep = (input_ids == self.separator) & attention_mask.bool()
        if not is_sep.any(-1).all():
            raise ModelError(
                f"infix: a row has no separator token (id {self.separator}) to put the infix after; inputs must be "
                "built with harness.generate.prompt_ids (source tokens, then BOS or EOS)"
            )
        return is_sep.long().argmax(-1) + 1  # right after the first separator of each row

    def _inserted(self, slots: torch.Tensor, rows: dict[str, torch.Tensor] | None) -> None:
        self.shared.pending = (slots, self._rows(rows, "offsets", slots.shape[0]))

    def export_state(self) -> dict[str, torch.Tensor]:
        with torch.no_grad():
            return {"embeddings": self.tokens.weight.detach().clone(), "kv": self.offsets().detach().clone()}

    def load_export(self, state: dict[str, Any]) -> None:
        p = self.length()
        check_export_shape(self.name, "embeddings", state["embeddings"], (p, self.hidden))
        check_export_shape(self.name, "kv", state["kv"], (2 * self.layers, self.kv_heads, p, self.head_dim))
        with torch.no_grad():
            self.tokens.weight.copy_(state["embeddings"])
        self.exported = state["kv"].to(device=self.slot_ids.device, dtype=self.dtype)


class _OffsetHooks:
    """The forward hooks that add infix offsets to the keys and values of the slots, one set per backbone and
    shared by every infix method on it (packed cells: each row brings its own cell's offsets)."""

    ATTRIBUTE = "_harness_infix_hooks"

    @classmethod
    def on(cls, backbone: PreTrainedModel) -> _OffsetHooks:
        hooks = backbone.__dict__.get(cls.ATTRIBUTE)
        if hooks is None or not hooks.hooks.handles:  # none yet, or removed (tests reuse backbones)
            hooks = cls(backbone)
            backbone.__dict__[cls.ATTRIBUTE] = hooks
        return hooks

    def __init__(self, backbone: PreTrainedModel) -> None:
        # (slots [B, P], offsets [B, 2L, kv, P, hd]) of the backbone call about to run, set by model_inputs.
        self.pending: tuple[torch.Tensor, torch.Tensor] | None = None
        self.hooks = Hooks(backbone, InfixTuning.name)
        for i, block in enumerate(blocks(backbone)):
            roles = projections(block)
            for which, role in enumerate("kv"):
                self.hooks.add(roles[role].module, self._offset_hook(2 * i + which, roles[role].columns))
        # The offsets belong to one backbone call (a prefill or a training forward), never to the next steps.
        self.hooks.add(backbone, self._done, always_call=True)

    def _done(self, module, args, output) -> None:
        self.pending = None

    def _offset_hook(self, index: int, columns: slice):
        def apply(module, args, output):
            if self.pending is None:
                return None
            slots, offsets = self.pending
            b, t, p = output.shape[0], output.shape[1], slots.shape[1]
            own = offsets[:, index].permute(0, 2, 1, 3).reshape(b, p, -1).to(output.dtype)  # [B, P, kv*hd]
            width = own.shape[-1]
            delta = output.new_zeros(b, t, width).scatter(1, slots[..., None].expand(-1, -1, width), own)
            return add_to_columns(output, columns, delta)

        return apply
