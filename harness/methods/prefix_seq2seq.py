"""Prefix-tuning on encoder-decoder backbones (BART, T5), as Li & Liang's BART code (seq2seq/prefixTuning.py).

Three prefixes of P slots, each from its own reparameterisation MLP, Embedding(P, d) -> Linear(d, mid) -> Tanh
-> Linear(mid, L * 2 * d_kv), named as in the original: the decoder self-attention's (`wte`, `control_trans`),
the decoder cross-attention's (`wte2`, `control_trans2`) and the encoder self-attention's (`wte_enc`,
`control_trans_enc`). In every attention the queries see the prefix keys/values in front of the real ones.
What a finished cell keeps: the three projected prefixes; the MLPs stay in resume checkpoints only.

How they reach transformers 5's BART/T5:
- decoder self-attention: a pre-filled `self_attention_cache`, as the decoder-only prefix;
- cross-attention: a pre-filled `cross_attention_cache` marked "not computed yet": on the first decoder pass
  the model computes the encoder's keys/values and appends them behind the prefix, later passes re-use them;
- encoder self-attention: encoders take no cache (T5 even drops one), so pre-hooks on its attention modules
  hand each a fresh cache pre-filled with the prefix, whose `update` appends the tokens' keys/values behind it;
- masks: the encoder mask gains P ones in front. With no cache transformers takes the key length from the
  mask, so that one mask fits the encoder's self-attention and the decoder's cross-attention (both have P
  extra keys). The decoder mask gains P ones, as in the decoder-only case;
- positions: real tokens keep positions 0, 1, ... as in the original (its positions ignore the prefix). BART's
  decoder would count the cached prefix as past tokens, so a hook takes P off its learned positions; with T5's
  relative biases the prefix sits just before the first token (encoder and decoder).
"""

from __future__ import annotations

from typing import Any

import torch
from transformers import DynamicCache, EncoderDecoderCache, PreTrainedModel

from harness.errors import ModelError
from harness.methods.base import Method
from harness.methods.layout import absolute_decoder_positions, encoder_self_attentions
from harness.methods.prefix import PrefixTuning, layer_pairs, per_layer
from harness.methods.virtual_tokens import check_export_shape, reparameterisation

# Each prefix's (embedding, MLP) attribute names, as in the original code.
SIDES = {
    "encoder": ("wte_enc", "control_trans_enc"),
    "decoder": ("wte", "control_trans"),
    "cross": ("wte2", "control_trans2"),
}


def kv_shapes(config) -> dict[str, tuple[int, int, int]]:
    """(layers, heads, head size) of each prefix. T5's head size is d_kv, which need not be d_model / heads."""
    if hasattr(config, "d_kv"):
        encoder = (config.num_layers, config.num_heads, config.d_kv)
        decoder = (config.num_decoder_layers, config.num_heads, config.d_kv)
    elif hasattr(config, "encoder_layers"):
        encoder_heads, decoder_heads = config.encoder_attention_heads, config.decoder_attention_heads
        encoder = (config.encoder_layers, encoder_heads, config.d_model // encoder_heads)
        decoder = (config.decoder_layers, decoder_heads, config.d_model // decoder_heads)
    else:
        raise ModelError(f"prefix: cannot read the attention shapes of {config.model_type!r}; it knows BART and T5")
    return {"encoder": encoder, "decoder": decoder, "cross": decoder}


def _with_slots(mask: torch.Tensor, p: int) -> torch.Tensor:
    return torch.cat([mask.new_ones(mask.shape[0], p), mask], dim=-1)


class PrefixCache(EncoderDecoderCache):
    """An encoder-decoder cache pre-filled with the decoder's self- and cross-attention prefixes."""

    def __init__(self, self_pairs: list, cross_pairs: list, slots: int) -> None:
        super().__init__(DynamicCache(self_pairs), DynamicCache(cross_pairs))
        # A non-empty cross-attention layer counts as computed; these hold the prefix only, and the first decoder
        # pass must append the encoder's own keys/values behind it.
        self.is_updated = dict.fromkeys(range(len(cross_pairs)), False)
        self.prefix_slots = slots  # read by the BART position hook


class _BackboneHooks:
    """The hooks on the backbone. One set per backbone, shared by every prefix method on it (packed cells share
    one backbone): `pending` is the prefix of the next encoder pass, handed over by `model_inputs` and dropped
    after that pass, so no prefix can leak into a later call."""

    ATTRIBUTE = "_harness_seq2seq_prefix_hooks"

    @classmethod
    def on(cls, backbone: PreTrainedModel) -> _BackboneHooks:
        hooks = backbone.__dict__.get(cls.ATTRIBUTE)
        if hooks is None:
            hooks = cls(backbone)
            backbone.__dict__[cls.ATTRIBUTE] = hooks
        return hooks

    def __init__(self, backbone: PreTrainedModel) -> None:
        self.pending: torch.Tensor | None = None  # [B, 2L, heads, P, head_dim]
        self.encoder_cache: DynamicCache | None = None
        self.position_shift = 0
        encoder = backbone.get_encoder()
        encoder.register_forward_pre_hook(self._encoder_starts)
        encoder.register_forward_hook(self._encoder_ends, always_call=True)
        for attention in encoder_self_attentions(backbone):
            attention.register_forward_pre_hook(self._give_prefix, with_kwargs=True)
        positions = absolute_decoder_positions(backbone)
        if positions is not None:
            decoder = backbone.get_decoder()
            decoder.register_forward_pre_hook(self._decoder_starts, with_kwargs=True)
            decoder.register_forward_hook(self._decoder_ends, always_call=True)
            positions.register_forward_pre_hook(self._unshift, with_kwargs=True)

    def _encoder_starts(self, module, args) -> None:
        self.encoder_cache = None if self.pending is None else DynamicCache(layer_pairs(self.pending))

    def _give_prefix(self, module, args, kwargs):
        if self.encoder_cache is None:
            return None
        return args, {**kwargs, "past_key_values": self.encoder_cache}

    def _encoder_ends(self, module, args, output) -> None:
        self.pending = self.encoder_cache = None

    def _decoder_starts(self, module, args, kwargs) -> None:
        self.position_shift = getattr(kwargs.get("past_key_values"), "prefix_slots", 0)

    def _decoder_ends(self, module, args, output) -> None:
        self.position_shift = 0

    def _unshift(self, module, args, kwargs):
        if not self.position_shift or kwargs.get("position_ids") is None:
            return None
        return args, {**kwargs, "position_ids": kwargs["position_ids"] - self.position_shift}


class Seq2SeqPrefixTuning(Method):
    """Prefix-tuning on an encoder-decoder (Li & Liang's BART setup): encoder, decoder and cross-attention prefixes."""

    name = PrefixTuning.name
    hparams = PrefixTuning.hparams
    packable = True
    encoder_decoder = True

    def __init__(self, backbone: PreTrainedModel, **hparams) -> None:
        super().__init__(backbone, **hparams)
        for param in self.backbone.parameters():
            param.requires_grad_(False)
        self.shapes = kv_shapes(backbone.config)
        length, mid, d = self.hp["length"], self.hp["mid_dim"], backbone.config.d_model
        dtype = next(backbone.parameters()).dtype
        for side, (wte, mlp) in SIDES.items():
            layers, heads, head_dim = self.shapes[side]
            embedding, projection = reparameterisation(length, d, mid, layers * 2 * heads * head_dim, dtype)
            setattr(self, wte, embedding)
            setattr(self, mlp, projection)
            # Set by load_export: a fixed projected prefix replaces the MLP (a buffer, so .to(device) moves it).
            self.register_buffer(f"exported_{side}", None, persistent=False)
        self.register_buffer("prefix_ids", torch.arange(length), persistent=False)
        self._hooks = _BackboneHooks.on(backbone)

    def prefix_length(self) -> int:
        return self.hp["length"]

    def projected(self, side: str) -> torch.Tensor:
        """One prefix as [2L, heads, P, head_dim]: per layer a key block then a value block."""
        exported = getattr(self, f"exported_{side}")
        if exported is not None:
            return exported
        wte, mlp = (getattr(self, name) for name in SIDES[side])
        return per_layer(mlp(wte(self.prefix_ids)), *self.shapes[side])

    def row_state(self) -> dict[str, torch.Tensor]:
        return {side: self.projected(side) for side in SIDES}

    def model_inputs(
        self, input_ids: torch.Tensor, attention_mask: torch.Tensor, rows: dict[str, torch.Tensor] | None = None
    ) -> dict[str, Any]:
        b, p = input_ids.shape[0], self.prefix_length()
        state = rows if rows is not None else {k: v.expand(b, *v.shape) for k, v in self.row_state().items()}
        self._hooks.pending = state["encoder"]
        cache = PrefixCache(layer_pairs(state["decoder"]), layer_pairs(state["cross"]), p)
        return dict(input_ids=input_ids, attention_mask=_with_slots(attention_mask, p), past_key_values=cache)

    def forward(
        self,
        input_ids: torch.Tensor,
        attention_mask: torch.Tensor,
        rows: dict[str, torch.Tensor] | None = None,
        decoder_attention_mask: torch.Tensor | None = None,
        **kwargs: Any,
    ) -> Any:
        if decoder_attention_mask is not None:
            decoder_attention_mask = _with_slots(decoder_attention_mask, self.prefix_length())
        inputs = self.model_inputs(input_ids, attention_mask, rows)
        return self.backbone(**inputs, decoder_attention_mask=decoder_attention_mask, **kwargs)

    def export_state(self) -> dict[str, torch.Tensor]:
        with torch.no_grad():
            return {side: self.projected(side).detach().clone() for side in SIDES}

    def load_export(self, state: dict[str, torch.Tensor]) -> None:
        if set(state) != set(SIDES):
            raise ModelError(
                f"prefix: the export holds {sorted(state)}, an encoder-decoder prefix needs {sorted(SIDES)}: the cell "
                "was trained with another model; re-train it (delete its state/ folder)"
            )
        param = next(self.backbone.parameters())
        for side in SIDES:
            layers, heads, head_dim = self.shapes[side]
            check_export_shape(self.name, side, state[side], (2 * layers, heads, self.prefix_length(), head_dim))
            setattr(self, f"exported_{side}", state[side].to(device=param.device, dtype=param.dtype))
