"""Prefix-tuning on encoder-decoders: three prefixes (encoder self-attention, decoder self-attention, decoder
cross-attention), each reaching its own attention, with the original's sizes and positions (the common checks
are in test_seq2seq_methods.py)."""

from __future__ import annotations

import pytest
import torch
from method_checks import tiny, training_batch
from transformers import DynamicCache, EncoderDecoderCache, T5Config, T5ForConditionalGeneration

from harness import seq2seq
from harness.errors import ModelError
from harness.methods import build_method
from harness.methods.prefix_seq2seq import SIDES, PrefixCache, Seq2SeqPrefixTuning, kv_shapes

SPEC = {"type": "prefix", "length": 3, "mid_dim": 16}
P = SPEC["length"]


def _prefixed(kind: str, seed: int = 0) -> Seq2SeqPrefixTuning:
    torch.manual_seed(seed)
    return build_method(SPEC, tiny(kind)).eval()


def _kv(attention, hidden: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """The keys and values an attention module computes from `hidden` ([B, T, d]) as [B, heads, T, head_dim]."""
    bart = hasattr(attention, "k_proj")
    k_proj, v_proj = (attention.k_proj, attention.v_proj) if bart else (attention.k, attention.v)
    shape = (*hidden.shape[:2], -1, kv_head_dim(attention))
    return k_proj(hidden).view(shape).transpose(1, 2), v_proj(hidden).view(shape).transpose(1, 2)


def kv_head_dim(attention) -> int:
    return attention.head_dim if hasattr(attention, "head_dim") else attention.key_value_proj_dim


def cross_attentions(model) -> list:
    decoder = model.get_decoder()
    if hasattr(decoder, "layers"):  # BART
        return [layer.encoder_attn for layer in decoder.layers]
    return [block.layer[1].EncDecAttention for block in decoder.block]


@pytest.mark.parametrize("kind", ["bart", "t5"])
def test_three_prefixes_each_from_its_own_mlp_as_the_original(kind):
    method = _prefixed(kind)
    config = method.backbone.config
    d = config.d_model
    names = {n.split(".")[0] for n in method.trainable_state()}
    assert names == {name for pair in SIDES.values() for name in pair}
    assert not any(p.requires_grad for p in method.backbone.parameters())
    expected = 0
    for side, (layers, heads, head_dim) in kv_shapes(config).items():
        out = layers * 2 * heads * head_dim
        expected += P * d + (d * 16 + 16) + (16 * out + out)  # Embedding(P, d) + Linear(d, mid) + Linear(mid, out)
        assert tuple(method.export_state()[side].shape) == (2 * layers, heads, P, head_dim)
    assert sum(p.numel() for p in method.trainable_parameters()) == expected


@pytest.mark.parametrize("kind", ["bart", "t5"])
@torch.no_grad()
def test_cross_attention_prefix_acts_as_extra_encoder_states(kind):
    """The cache trick for cross-attention, on a bare backbone: a pre-filled cross-attention cache (first decoder
    pass not yet computed) plus a mask with P ones in front = P extra encoder states whose keys/values they are."""
    model = tiny(kind).eval()
    batch = training_batch(model)
    encoder = model.get_encoder()(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"])
    generator = torch.Generator().manual_seed(0)
    extra = torch.randn(batch["input_ids"].shape[0], P, model.config.d_model, generator=generator)
    longer_mask = torch.cat([torch.ones(extra.shape[:2], dtype=torch.long), batch["attention_mask"]], 1)
    expected = model(
        encoder_outputs=(torch.cat([extra, encoder.last_hidden_state], 1),),
        attention_mask=longer_mask,
        decoder_input_ids=batch["decoder_input_ids"],
    ).logits
    heads, head_dim = kv_shapes(model.config)["cross"][1:]
    empty = torch.zeros(extra.shape[0], heads, 0, head_dim)
    cross = [_kv(attention, extra) for attention in cross_attentions(model)]
    cache = PrefixCache([(empty, empty)] * len(cross), cross, slots=0)
    got = model(
        encoder_outputs=(encoder.last_hidden_state,),
        attention_mask=longer_mask,
        decoder_input_ids=batch["decoder_input_ids"],
        past_key_values=cache,
    ).logits
    torch.testing.assert_close(got, expected, rtol=0, atol=1e-5)
    assert cache.cross_attention_cache.get_seq_length() == P + batch["input_ids"].shape[1]


@pytest.mark.parametrize("kind", ["bart", "t5"])
@torch.no_grad()
def test_decoder_self_prefix_acts_as_earlier_decoder_tokens(kind):
    """On a bare backbone (no position hook), a self-attention prefix holding the keys/values of P earlier decoder
    tokens gives the logits those tokens would: the decoder-only prefix mechanism, inside an encoder-decoder."""
    model = tiny(kind).eval()
    batch = training_batch(model)
    ids, mask, target = batch["input_ids"], batch["attention_mask"], batch["decoder_input_ids"][:, :4]
    earlier = torch.tensor([[5, 6, 7]]).expand(ids.shape[0], -1)
    full = model(input_ids=ids, attention_mask=mask, decoder_input_ids=torch.cat([earlier, target], 1), use_cache=True)
    expected = full.logits[:, P:]
    own = full.past_key_values.self_attention_cache
    self_pairs = [(layer.keys[:, :, :P], layer.values[:, :, :P]) for layer in own.layers]
    heads, head_dim = kv_shapes(model.config)["cross"][1:]
    empty = torch.zeros(ids.shape[0], heads, 0, head_dim)
    cache = PrefixCache(self_pairs, [(empty, empty)] * len(self_pairs), slots=0)
    got = model(input_ids=ids, attention_mask=mask, decoder_input_ids=target, past_key_values=cache).logits
    torch.testing.assert_close(got, expected, rtol=0, atol=1e-5)


@torch.no_grad()
def test_encoder_prefix_acts_as_extra_source_tokens_in_a_one_layer_t5():
    """The encoder hooks: in a one-layer T5 encoder (relative positions) a prefix holding the keys/values of P
    extra source tokens gives the real tokens the encoder outputs that those tokens in front would."""
    config = T5Config(
        vocab_size=40, d_model=16, d_kv=4, d_ff=32, num_layers=1, num_heads=4, feed_forward_proj="gated-gelu",
        decoder_start_token_id=0, pad_token_id=0, eos_token_id=1,
    )
    torch.manual_seed(0)
    model = T5ForConditionalGeneration(config).eval()
    extra, ids = torch.tensor([[7, 8, 9]]), torch.tensor([[11, 12, 13, 14], [15, 16, 0, 0]])
    mask = (ids != 0).long()
    block = model.get_encoder().block[0].layer[0]
    keys, values = _kv(block.SelfAttention, block.layer_norm(model.get_input_embeddings()(extra)))
    both = torch.cat([extra.expand(2, -1), ids], 1)
    both_mask = torch.cat([torch.ones(2, P, dtype=torch.long), mask], 1)
    expected = model.get_encoder()(input_ids=both, attention_mask=both_mask)
    method = build_method(SPEC, model).eval()
    method.exported_encoder = torch.stack([keys[0], values[0]])  # [2L = 2, heads, P, head_dim]
    got = model.get_encoder()(**{k: v for k, v in method.model_inputs(ids, mask).items() if k != "past_key_values"})
    real = mask.bool()
    torch.testing.assert_close(got.last_hidden_state[real], expected.last_hidden_state[:, P:][real], rtol=0, atol=1e-5)


@pytest.mark.parametrize("kind", ["bart", "t5"])
@torch.no_grad()
def test_each_prefix_reaches_its_own_attention(kind):
    """Changing one prefix: the encoder prefix changes the encoder's output, the decoder and cross prefixes only
    the decoder's; after a forward the caches hold the decoder prefix then the target, the cross prefix then the
    source."""
    method = _prefixed(kind)
    batch = training_batch(method.backbone)
    for side in SIDES:  # freeze the MLP outputs, to move them one at a time
        setattr(method, f"exported_{side}", method.projected(side).detach().clone())

    def run():
        inputs = method.model_inputs(batch["input_ids"], batch["attention_mask"])
        encoded = method.backbone.get_encoder()(input_ids=inputs["input_ids"], attention_mask=inputs["attention_mask"])
        out = method.backbone(
            encoder_outputs=encoded, attention_mask=inputs["attention_mask"],
            decoder_input_ids=batch["decoder_input_ids"], past_key_values=inputs["past_key_values"],
        )
        return encoded.last_hidden_state, out.logits, inputs["past_key_values"]

    encoded, logits, cache = run()
    t_src, t_tgt = batch["input_ids"].shape[1], batch["decoder_input_ids"].shape[1]
    assert cache.self_attention_cache.get_seq_length() == P + t_tgt
    assert cache.cross_attention_cache.get_seq_length() == P + t_src
    decoder_prefix, cross_prefix = method.exported_decoder, method.exported_cross
    assert torch.equal(cache.self_attention_cache.layers[1].keys[0, :, :P], decoder_prefix[2])
    assert torch.equal(cache.cross_attention_cache.layers[1].values[0, :, :P], cross_prefix[3])
    for side in SIDES:
        original = getattr(method, f"exported_{side}")
        setattr(method, f"exported_{side}", original + 0.5)
        moved_encoded, moved_logits, _ = run()
        setattr(method, f"exported_{side}", original)
        assert torch.equal(moved_encoded, encoded) == (side != "encoder"), side
        assert (moved_logits - logits).abs().amax() > 1e-4, side


@torch.no_grad()
def test_bart_decoder_positions_ignore_the_prefix():
    """As the original (transformers 3.2 BART counts positions over the decoder input only), the first target token
    sits at position 0 in training and at step t of decoding at t, though the cache holds P prefix slots first."""
    method = _prefixed("bart")
    seen = []
    positions = method.backbone.get_decoder().embed_positions
    handle = positions.register_forward_hook(lambda module, args, kwargs, out: seen.append(kwargs["position_ids"]),
                                             with_kwargs=True)
    batch = training_batch(method.backbone)
    method(batch["input_ids"], batch["attention_mask"], **seq2seq.decoder_inputs(batch))
    assert seen.pop().tolist() == list(range(batch["decoder_input_ids"].shape[1]))
    stepper = seq2seq.Stepper(method, batch["input_ids"], batch["attention_mask"], beams=2)
    stepper.step(torch.full((8,), 5))
    handle.remove()
    assert [p.tolist() for p in seen] == [[0], [1]]


@pytest.mark.parametrize("kind", ["bart", "t5"])
@torch.no_grad()
def test_the_shared_hooks_leave_later_bare_calls_alone(kind):
    """The backbone keeps the prefix hooks; a call without the method (here: finetune on the same backbone, after
    a prefixed forward and a decoding) computes exactly what a never-hooked backbone does."""
    method = _prefixed(kind)
    batch = training_batch(method.backbone)
    method(batch["input_ids"], batch["attention_mask"], **seq2seq.decoder_inputs(batch))
    seq2seq.Stepper(method, batch["input_ids"], batch["attention_mask"]).step(torch.full((4,), 5))
    bare = build_method({"type": "finetune"}, method.backbone)
    pristine = build_method({"type": "finetune"}, tiny(kind)).eval()
    got = bare(batch["input_ids"], batch["attention_mask"], **seq2seq.decoder_inputs(batch)).logits
    torch.testing.assert_close(got, pristine(batch["input_ids"], batch["attention_mask"],
                                             **seq2seq.decoder_inputs(batch)).logits, rtol=0, atol=0)


def test_a_plain_encoder_decoder_cache_is_untouched_by_the_prefix_cache_class():
    """PrefixCache only differs by marking its pre-filled cross-attention layers as not yet computed."""
    pair = (torch.zeros(1, 2, 3, 4), torch.zeros(1, 2, 3, 4))
    plain = EncoderDecoderCache(DynamicCache([pair]), DynamicCache([pair]))
    assert plain.is_updated == {0: True}
    assert PrefixCache([pair], [pair], slots=3).is_updated == {0: False}


@pytest.mark.parametrize("other", [{"length": 4}, "decoder-only"])
def test_an_export_of_another_setting_or_model_is_refused(other):
    method = _prefixed("bart")
    if other == "decoder-only":
        state = build_method(SPEC, tiny("llama")).export_state()  # {"prefix": ...}
    else:
        state = build_method({**SPEC, **other}, tiny("bart")).export_state()
    with pytest.raises(ModelError, match="re-train it"):
        method.load_export(state)
