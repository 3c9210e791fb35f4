"""FT-top-k (Li & Liang 2021's FT-TOP2 baseline): only the top k transformer blocks train.

What trains: every tensor of the k highest blocks, nothing else. The final LayerNorm, the LM head and the
embeddings stay frozen: the LoRA paper's count for FT-Top2 on GPT-2 medium, 25.19M, is exactly two blocks
(2 x 12,596,224), so it includes neither ln_f nor the (tied) LM head. What a finished cell keeps: those k
blocks, under their backbone names (`backbone.transformer.h.22.…`) — here the top blocks ARE the state.
"""

from __future__ import annotations

from transformers import PreTrainedModel

from harness.errors import ModelError
from harness.methods.base import HParam, Method
from harness.methods.layout import blocks
from harness.methods.prefix import _positive_int


class FineTuneTopK(Method):
    """FT-top-k: fine-tune only the top k transformer blocks (paper: FT-TOP2)."""

    name = "ft-top-k"
    hparams = {
        "k": HParam(2, "number of top transformer blocks that train (paper: 2)", _positive_int, "an integer >= 1"),
    }

    def __init__(self, backbone: PreTrainedModel, **hparams) -> None:
        super().__init__(backbone, **hparams)
        layers, k = blocks(backbone), self.hp["k"]
        if k > len(layers):
            raise ModelError(
                f"ft-top-k: k = {k} but this backbone has only {len(layers)} blocks; set k to at most {len(layers)} "
                "(k equal to the block count trains every block but not the embeddings, LM head or final norm)"
            )
        for param in backbone.parameters():
            param.requires_grad_(False)
        for param in layers[len(layers) - k :].parameters():
            param.requires_grad_(True)
