"""The method registry: one module per method; adding a method = one module + one line here.

An out-of-tree method registers itself instead: its module decorates the class with `@register` and a
config lists the module under `plugins:`, which `harness.config.validate_config` imports in every process.
"""

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

# The in-tree methods, one line each; `register` fills REGISTRY from them at the end of this module.
BUILT_IN: tuple[type[Method], ...] = (
    FineTune,
    PrefixTuning,
    FineTuneTopK,
    Adapter,
    EmbeddingOnly,
    InfixTuning,
    PromptTuning,
    LoRA,
    PromptDesign,
)
REGISTRY: dict[str, type[Method]] = {}

# On an encoder-decoder backbone (BART, T5) a method name means its encoder-decoder variant; the other methods
# refuse such a backbone when built (Method.__init__).
ENCODER_DECODER: dict[str, type[Method]] = {
    FineTune.name: FineTune,
    PrefixTuning.name: Seq2SeqPrefixTuning,
    PromptTuning.name: EncoderPromptTuning,
}

# Keys of a config `methods:` entry that belong to the harness, not to the method's hyper-parameters.
RESERVED_KEYS = {"type", "paper_method", "train", "decode"}

# `name` is what build_method strips from a cell's spec; a hyper-parameter with any of these names is unreachable.
_NOT_HPARAM_NAMES = RESERVED_KEYS | {"name"}

__all__ = [
    "ENCODER_DECODER",
    "REGISTRY",
    "HParam",
    "Method",
    "build_method",
    "check_spec",
    "describe_methods",
    "register",
]


def register(cls: type[Method]) -> type[Method]:
    """Add a Method subclass to REGISTRY under `cls.name` and return it, so it works as a class decorator.

    ConfigError if the class is not a usable method or its name belongs to another class. Registering the
    same class again (a re-import, importlib.reload) is allowed: it is still one method.
    """
    _check_method_class(cls)
    taken = REGISTRY.get(cls.name)
    if taken is not None and _qualified(taken) != _qualified(cls):
        raise ConfigError(
            f"method name {cls.name!r} is taken: {_qualified(taken)} and {_qualified(cls)} both use it; "
            f"give {_qualified(cls)} another `name`"
        )
    REGISTRY[cls.name] = cls
    return cls


def _check_method_class(cls: Any) -> None:
    if not (isinstance(cls, type) and issubclass(cls, Method)):
        raise ConfigError(
            f"register({cls!r}): not a subclass of harness.methods.Method; subclass it (harness/methods/base.py)"
        )
    where = _qualified(cls)
    name = getattr(cls, "name", None)
    if not isinstance(name, str) or not name:
        raise ConfigError(f"{where}: `name` must be a non-empty string (what configs write as `type:`); set it")
    hparams = cls.hparams
    if not isinstance(hparams, dict) or not all(isinstance(h, HParam) for h in hparams.values()):
        raise ConfigError(f"{where}: `hparams` must be a dict of name -> harness.methods.HParam; fix the class")
    clashing = sorted(set(hparams) & _NOT_HPARAM_NAMES)
    if clashing:
        raise ConfigError(
            f"{where}: hyper-parameter name(s) {', '.join(clashing)} are config keys of the harness; rename them"
        )


def _qualified(cls: type) -> str:
    return f"{cls.__module__}.{cls.__qualname__}"


def check_spec(name: str, spec: dict) -> None:
    """Raise ConfigError if a config `methods.<name>` entry asks for an unknown method or a bad value."""
    kind = spec.get("type")
    if kind not in REGISTRY:
        raise ConfigError(
            f"config.methods.{name}.type: unknown method {kind!r}; registered methods: {', '.join(sorted(REGISTRY))} "
            "(a method of your own: decorate its class with @harness.methods.register, list its module under plugins:)"
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


for _method in BUILT_IN:
    register(_method)
