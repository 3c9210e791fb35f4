"""Full fine-tuning (the papers' FT-FULL / "model tuning" baseline): every backbone weight trains."""

from __future__ import annotations

from harness.methods.base import Method


class FineTune(Method):
    """Full fine-tuning (FT-FULL / model tuning): every backbone weight trains."""

    name = "finetune"
    hparams = {}
    encoder_decoder = True

    def __init__(self, backbone, **hparams) -> None:
        super().__init__(backbone, **hparams)
        for param in self.backbone.parameters():
            param.requires_grad_(True)
