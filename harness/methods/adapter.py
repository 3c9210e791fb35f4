"""Adapters (Li & Liang 2021's ADAPTER baseline): small bottleneck MLPs inside a frozen backbone.

Styles:
- ``lin`` (default; the paper's baseline, "same implementation as Lin et al. (2020)", the original code's
  `--adapter_design 1`): one adapter per block, on the block's output (after the FFN and its residual):
  h + Linear(b, d)(ReLU(Linear(d, b)(LayerNorm(h)))).
- ``houlsby`` (Houlsby et al. 2019, the original code's `--adapter_design 2`): two adapters per block, on
  the attention output and on the FFN output, each before its residual, without LayerNorm.

Size: `bottleneck` b directly, or `fraction` of the backbone's parameters, turned into the b whose adapter
count is nearest (0.1% of GPT-2 medium -> b = 6 -> 368,784 = the paper's / LoRA's 0.37M). The paper's
"ADAPTER(3%)" is b = 224 (11,089,152 = 3.13%, LoRA's 11.09M); 3% gives b = 215, so reproduce that row
with `bottleneck: 224`. Initialisation is PyTorch's default for LayerNorm and Linear, as the original code.

The adapters run as forward hooks on the frozen blocks (see `layout`), so the backbone's state dict is
untouched; a finished cell keeps the adapters only.
"""

from __future__ import annotations

import torch
from torch import nn
from transformers import PreTrainedModel

from harness.errors import ConfigError
from harness.methods.base import HParam, Method
from harness.methods.layout import Hooks, attention, blocks, mlp
from harness.methods.prefix import _positive_int

STYLES = ("lin", "houlsby")
DEFAULT_FRACTION = 0.001  # when neither bottleneck nor fraction is given: the paper's ADAPTER(0.1%)


def _fraction(value) -> bool:
    return value is None or (isinstance(value, int | float) and not isinstance(value, bool) and 0 < value <= 1)


class Bottleneck(nn.Module):
    """h + up(ReLU(down(norm(h)))), norm = LayerNorm (Lin) or identity (Houlsby)."""

    def __init__(self, d: int, b: int, layer_norm: bool, dtype: torch.dtype) -> None:
        super().__init__()
        self.norm = nn.LayerNorm(d, dtype=dtype) if layer_norm else nn.Identity()
        self.down = nn.Linear(d, b, dtype=dtype)
        self.up = nn.Linear(b, d, dtype=dtype)

    def forward(self, h: torch.Tensor) -> torch.Tensor:
        return h + self.up(torch.relu(self.down(self.norm(h))))


def adapter_count(d: int, b: int, style: str) -> int:
    """Parameters of one adapter: down d*b + b, up b*d + d, and a LayerNorm (2d) for Lin's style."""
    return 2 * d * b + b + d + (2 * d if style == "lin" else 0)


def bottleneck_for(fraction: float, backbone_params: int, layers: int, d: int, style: str) -> int:
    """The bottleneck whose total adapter count is nearest `fraction` of the backbone (at least 1)."""
    per_block = 1 if style == "lin" else 2
    fixed = adapter_count(d, 0, style)  # the part of one adapter that does not grow with b
    per_unit = adapter_count(d, 1, style) - fixed
    return max(1, round((fraction * backbone_params / (layers * per_block) - fixed) / per_unit))


class Adapter(Method):
    """Adapter tuning: bottleneck MLPs in every block of a frozen backbone (paper: Lin et al. 2020 style)."""

    name = "adapter"
    hparams = {
        "bottleneck": HParam(
            None,
            "bottleneck width b (paper, GPT-2 medium: 6 = ADAPTER(0.1%), 224 = ADAPTER(3%)); set this or fraction",
            lambda v: v is None or _positive_int(v),
            "null or an integer >= 1",
        ),
        "fraction": HParam(
            None,
            f"target share of the backbone's parameters, turned into the nearest b; {DEFAULT_FRACTION} when "
            "neither this nor bottleneck is set",
            _fraction,
            "null or a number in (0, 1]",
        ),
        "style": HParam(
            "lin",
            "lin: one adapter after each block with LayerNorm (Lin et al. 2020, the paper's baseline); "
            "houlsby: after attention and after the FFN, no LayerNorm (Houlsby et al. 2019)",
            lambda v: v in STYLES,
            f"one of {', '.join(STYLES)}",
        ),
    }

    def __init__(self, backbone: PreTrainedModel, **hparams) -> None:
        super().__init__(backbone, **hparams)
        b, fraction, style = self.hp["bottleneck"], self.hp["fraction"], self.hp["style"]
        if b is not None and fraction is not None:
            raise ConfigError(f"adapter: both bottleneck ({b}) and fraction ({fraction}) are set; keep one of them")
        for param in backbone.parameters():
            param.requires_grad_(False)
        layers = blocks(backbone)
        d = backbone.config.hidden_size
        if b is None:
            total = sum(p.numel() for p in backbone.parameters())
            b = bottleneck_for(fraction or DEFAULT_FRACTION, total, len(layers), d, style)
        self.bottleneck = b
        dtype = next(backbone.parameters()).dtype
        per_block = 1 if style == "lin" else 2
        self.adapters = nn.ModuleList(
            Bottleneck(d, b, layer_norm=style == "lin", dtype=dtype) for _ in range(per_block * len(layers))
        )
        self.hooks = Hooks(backbone, self.name)
        for i, block in enumerate(layers):
            if style == "lin":
                self.hooks.add(block, self._hook(self.adapters[i]))
            else:
                self.hooks.add(attention(block), self._hook(self.adapters[2 * i]))
                self.hooks.add(mlp(block), self._hook(self.adapters[2 * i + 1]))

    @staticmethod
    def _hook(adapter: Bottleneck):
        def apply(module, args, output):
            # Blocks return a tensor (older transformers: a tuple); attention returns (hidden, weights).
            if isinstance(output, tuple):
                return (adapter(output[0]), *output[1:])
            return adapter(output)

        return apply
