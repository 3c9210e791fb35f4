"""Embedding-only tuning, EMB-k (Li & Liang 2021 §7.2, the original code's `--prefix_mode embedding`).

Like prefix-tuning, but the P trainable vectors live at the input embedding only (a "discrete prompt made
continuous") instead of at every layer's keys and values: they are prepended to the embedded input and the
frozen backbone computes their activations. They are reparameterised as the prefix is, Embedding(P, d) ->
Linear(d, mid) -> Tanh -> Linear(mid, d). What a finished cell keeps: the projected P x d vectors (the MLP
is a training device, kept only in resume checkpoints).
"""

from __future__ import annotations

import torch
from transformers import PreTrainedModel

from harness.methods.base import HParam
from harness.methods.prefix import _positive_int
from harness.methods.virtual_tokens import VirtualTokens, check_export_shape, reparameterisation


class EmbeddingOnly(VirtualTokens):
    """EMB-k (Li & Liang 2021): P trainable input embeddings (through an MLP) before the input."""

    name = "emb"
    hparams = {
        "length": HParam(
            10, "number of virtual tokens P (paper: EMB-1, EMB-10, EMB-20)", _positive_int, "an integer >= 1"
        ),
        "mid_dim": HParam(
            512, "hidden width of the reparameterisation MLP (as prefix: 512)", _positive_int, "an integer >= 1"
        ),
    }

    def __init__(self, backbone: PreTrainedModel, **hparams) -> None:
        super().__init__(backbone, **hparams)
        d = self.hidden
        self.wte, self.control_trans = reparameterisation(self.length(), d, self.hp["mid_dim"], d, self.dtype)
        self.register_buffer("token_ids", torch.arange(self.length()), persistent=False)
        # Set by load_export: the projected vectors replace the MLP at inference (a buffer, so .to() moves it).
        self.register_buffer("exported", None, persistent=False)

    def trainable_parameters(self) -> list[torch.nn.Parameter]:
        return [*self.wte.parameters(), *self.control_trans.parameters()]

    def vectors(self) -> torch.Tensor:
        if self.exported is not None:
            return self.exported
        return self.control_trans(self.wte(self.token_ids))

    def export_state(self) -> dict[str, torch.Tensor]:
        with torch.no_grad():
            return {"embeddings": self.vectors().detach().clone()}

    def load_export(self, state: dict[str, torch.Tensor]) -> None:
        check_export_shape(self.name, "embeddings", state["embeddings"], (self.length(), self.hidden))
        self.exported = state["embeddings"].to(device=self.token_ids.device, dtype=self.dtype)
