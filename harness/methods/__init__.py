"""The method registry: one module per method; adding a method = one module + one line here."""

from __future__ import annotations

from typing import Any

from transformers import PreTrainedModel

from harness.errors import ConfigError
from harness.methods.adapter import Adapter
from harness.methods.base import HParam, Method
from harness.methods.embedding import EmbeddingOnly
from harness.methods.finetune import FineTune
from harness.methods.ft_topk import FineTuneTopK
from harness.methods.infix import InfixTuning
from harness.methods.lora import LoRA
from harness.methods.prefix import PrefixTuning
from harness.methods.prefix_seq2seq import Seq2SeqPrefixTuning
from harness.methods.prompt import EncoderPromptTuning, PromptTuning
from harness.methods.prompt_design import PromptDesign
from harness.seq2seq import is_encoder_decoder

REGISTRY: dict[str, type[Method]] = {
    FineTune.name: FineTune,
    PrefixTuning.name: PrefixTuning,
    FineTuneTopK.name: FineTuneTopK,
    Adapter.name: Adapter,
    EmbeddingOnly.name: EmbeddingOnly,
    InfixTuning.name: InfixTuning,
    PromptTuning.name: PromptTuning,
    LoRA.name: LoRA,
    PromptDesign.name: PromptDesign,
}

# On an encoder-decoder backbone (BART, T5) a method name means its encoder-decoder variant; the other methods
# refuse such a backbone when built (Method.__init__).
ENCODER_DECODER: dict[str, type[Method]] = {
    FineTune.name: FineTune,
    PrefixTuning.name: Seq2SeqPrefixTuning,
    PromptTuning.name: EncoderPromptTuning,
}

# Keys of a config `methods:` entry that belong to the harness, not to the method's hyper-parameters.
RESERVED_KEYS = {"type", "paper_method", "train", "decode"}

__all__ = ["ENCODER_DECODER", "REGISTRY", "HParam", "Method", "build_method", "check_spec", "describe_methods"]


def check_spec(name: str, spec: dict) -> None:
    """Raise ConfigError if a config `methods.<name>` entry asks for an unknown method or a bad value."""
    kind = spec.get("type")
    if kind not in REGISTRY:
        raise ConfigError(
            f"config.methods.{name}.type: unknown method {kind!r}; registered methods: {', '.join(sorted(REGISTRY))}"
        )
    hparams = REGISTRY[kind].hparams
    for key, value in spec.items():
        if key in RESERVED_KEYS:
            continue
        if key not in hparams:
            allowed = ", ".join(f"{k} (default {h.default!r})" for k, h in hparams.items()) or "none"
            raise ConfigError(
                f"config.methods.{name}.{key}: unknown hyper-parameter of {kind!r}; allowed: {allowed}"
            )
        if not hparams[key].check(value):
            raise ConfigError(
                f"config.methods.{name}.{key} = {value!r} is invalid for {kind!r}: must be {hparams[key].requirement}"
            )


def build_method(spec: dict, backbone: PreTrainedModel) -> Method:
    """Wrap a backbone with the method a (checked) config entry names."""
    check_spec(spec.get("name", spec["type"]), {k: v for k, v in spec.items() if k != "name"})
    hparams: dict[str, Any] = {k: v for k, v in spec.items() if k not in RESERVED_KEYS | {"name"}}
    method_class = REGISTRY[spec["type"]]
    if is_encoder_decoder(backbone):
        method_class = ENCODER_DECODER.get(spec["type"], method_class)
    return method_class(backbone, **hparams)


def describe_methods() -> list[dict]:
    """For `python -m harness methods`: every method with its hyper-parameters and defaults."""
    return [
        {
            "method": name,
            "doc": (cls.__doc__ or cls.__module__).strip().splitlines()[0],
            "hparams": {k: {"default": h.default, "help": h.help} for k, h in cls.hparams.items()},
        }
        for name, cls in sorted(REGISTRY.items())
    ]
