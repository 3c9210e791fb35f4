"""Where things are inside a backbone, for the methods that reach in (FT-top-k, adapters, LoRA, infix; on
encoder-decoders, the prefix's encoder side).

Two layouts are known: GPT-2 (`transformer.h`, attention `attn` with q, k and v fused in one `c_attn`, output
`c_proj`) and the Llama family (`model.layers`, `self_attn` with `q_proj`/`k_proj`/`v_proj`/`o_proj`; SmolLM2,
Mistral and Qwen2 share it). Supporting another layout means teaching the functions here, nothing else.

Methods change what a frozen module computes with forward hooks, never by replacing modules: the backbone's
own state dict (names and tensors) stays exactly the loaded one, and the method's tensors live in the method.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import nn
from transformers import PreTrainedModel

from harness.errors import ModelError

BLOCK_PATHS = ("transformer.h", "model.layers")


def _unsupported(model: nn.Module, what: str) -> ModelError:
    return ModelError(
        f"{type(model).__name__}: cannot find {what}; this method knows GPT-2 (transformer.h) and Llama-style "
        "(model.layers) decoder-only backbones. Use one of those, or teach harness/methods/layout.py the new layout."
    )


def blocks(model: PreTrainedModel) -> nn.ModuleList:
    """The transformer blocks, bottom to top."""
    for path in BLOCK_PATHS:
        module: nn.Module | None = model
        for name in path.split("."):
            module = getattr(module, name, None)
        if isinstance(module, nn.ModuleList):
            return module
    raise _unsupported(model, "the transformer blocks")


def attention(block: nn.Module) -> nn.Module:
    """The block's self-attention module (its output is `(hidden_states, attention_weights)`)."""
    for name in ("attn", "self_attn"):
        if hasattr(block, name):
            return getattr(block, name)
    raise _unsupported(block, "the self-attention of a block")


def mlp(block: nn.Module) -> nn.Module:
    """The block's feed-forward module (its output is a hidden-state tensor)."""
    if hasattr(block, "mlp"):
        return block.mlp
    raise _unsupported(block, "the feed-forward (mlp) of a block")


def encoder_self_attentions(model: PreTrainedModel) -> list[nn.Module]:
    """An encoder-decoder's encoder self-attention modules, bottom to top: BART's `encoder.layers[i].self_attn`,
    T5's `encoder.block[i].layer[0].SelfAttention`. Both take the cache as the keyword `past_key_values`."""
    encoder = model.get_encoder()
    if isinstance(getattr(encoder, "layers", None), nn.ModuleList):
        return [layer.self_attn for layer in encoder.layers]
    if isinstance(getattr(encoder, "block", None), nn.ModuleList):
        return [block.layer[0].SelfAttention for block in encoder.block]
    raise ModelError(
        f"{type(model).__name__}: cannot find the encoder's self-attention modules; this method knows BART "
        "(encoder.layers) and T5 (encoder.block) encoder-decoders. Teach harness/methods/layout.py the new layout."
    )


def absolute_decoder_positions(model: PreTrainedModel) -> nn.Module | None:
    """The decoder's learned absolute position embedding (BART's `embed_positions`), or None (T5 has relative
    attention biases)."""
    return getattr(model.get_decoder(), "embed_positions", None)


def separator_id(config) -> int:
    """The token that ends every source in the input (`harness.generate.prompt_ids`: BOS, else EOS), read from
    the backbone's config, since methods do not get the tokenizer at inference."""
    sep = config.bos_token_id if config.bos_token_id is not None else config.eos_token_id
    return sep[0] if isinstance(sep, list) else sep


@dataclass(frozen=True)
class Projection:
    """One attention projection: the module computing it and which output columns are its own."""

    module: nn.Module
    columns: slice
    in_features: int
    out_features: int


def projections(block: nn.Module) -> dict[str, Projection]:
    """The attention projections of a block by role: "q", "k", "v" (inputs of attention) and "o" (its output).

    GPT-2 computes q, k and v in one fused Conv1D (`c_attn`, weight [d, 3d]): each role is a third of its
    output columns, as in LoRA's own GPT-2 code (`MergedLinear` with `enable_lora=[True, False, True]`).
    """
    attn = attention(block)
    if hasattr(attn, "c_attn"):  # GPT-2: Conv1D weights are [in, out]
        d_in, d3 = attn.c_attn.weight.shape
        d = d3 // 3
        fused = {role: Projection(attn.c_attn, slice(i * d, (i + 1) * d), d_in, d) for i, role in enumerate("qkv")}
        d_in, d_out = attn.c_proj.weight.shape
        return {**fused, "o": Projection(attn.c_proj, slice(0, d_out), d_in, d_out)}
    names = {"q": "q_proj", "k": "k_proj", "v": "v_proj", "o": "o_proj"}
    if all(isinstance(getattr(attn, n, None), nn.Linear) for n in names.values()):
        linear = {role: getattr(attn, n) for role, n in names.items()}
        return {
            role: Projection(m, slice(0, m.out_features), m.in_features, m.out_features) for role, m in linear.items()
        }
    raise _unsupported(attn, "the q/k/v/o projections of the attention")


def add_to_columns(output: torch.Tensor, columns: slice, delta: torch.Tensor) -> torch.Tensor:
    """`output` with `delta` added to the given last-dimension columns (out of place, so autograd is simple)."""
    if columns.start == 0 and columns.stop == output.shape[-1]:
        return output + delta
    before, own, after = output[..., : columns.start], output[..., columns], output[..., columns.stop :]
    return torch.cat([before, own + delta, after], dim=-1)


class Hooks:
    """The forward hooks one method puts on its backbone's modules.

    At most one hooked method per backbone: a second one would silently stack its change on the first
    (e.g. two sets of adapters). `remove()` takes them off again, so a backbone can be reused (in tests).
    """

    OWNER = "_harness_hooked_by"

    def __init__(self, backbone: nn.Module, owner: str) -> None:
        if getattr(backbone, self.OWNER, None):
            raise ModelError(
                f"this backbone already carries the hooks of a {getattr(backbone, self.OWNER)!r} method; "
                "load a fresh backbone for each method (or call .hooks.remove() on the old method first)"
            )
        setattr(backbone, self.OWNER, owner)
        self.backbone = backbone
        self.handles: list = []

    def add(self, module: nn.Module, hook: Callable, **kwargs) -> None:
        self.handles.append(module.register_forward_hook(hook, **kwargs))

    def remove(self) -> None:
        for handle in self.handles:
            handle.remove()
        self.handles.clear()
        if hasattr(self.backbone, self.OWNER):
            delattr(self.backbone, self.OWNER)
