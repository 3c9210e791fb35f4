"""BLEURT (Sellam et al. 2020) in PyTorch: a BERT encoder and a linear head on its pooled [CLS] vector.

``bleurt-pytorch`` 0.0.1 does not import under transformers 5, so the scorer is rebuilt from
transformers' ``BertModel`` and reads checkpoints in that package's layout (a directory or a hub
repository such as ``lucadiliello/bleurt-tiny-128``):

* ``config.json`` (BERT sizes, ``hidden_act``; ``model_type`` "bleurt"),
* ``pytorch_model.bin`` or ``model.safetensors`` with ``bleurt.embeddings.*``, ``bleurt.encoder.*``,
  ``bleurt.pooler.*`` (BERT's own names under a ``bleurt.`` prefix) and ``classifier.weight/bias``,
* ``vocab.txt`` and ``tokenizer_config.json`` (``do_lower_case``, ``model_max_length`` = BLEURT's
  ``max_seq_length``).

Encoding follows ``bleurt/encoding.py``: WordPiece tokens of the reference and the candidate, the
pair cut to ``max_seq_length - 3`` by dropping the last token of the longer one (the candidate on
ties), ``[CLS] ref [SEP] cand [SEP]`` with segment ids 0 / 1. The score of a pair is the head's
output, unbounded; the corpus score is the mean (DART's ``print_scores.py``).

Only WordPiece checkpoints are read (BLEURT-tiny/base/large, -128/-512, and the repository's
``test_checkpoint`` that DART's script uses); BLEURT-20 (SentencePiece, factorised embeddings) is
refused with a clear error.

TensorFlow checkpoints -- converting, where TensorFlow is installed::

    import tensorflow as tf
    loaded = tf.saved_model.load("bleurt/test_checkpoint")
    variables = {v.name.split(":")[0]: v.numpy() for v in loaded.variables}
    # + bert_config.json / bleurt_config.json / vocab.txt from the same directory
    save_converted_checkpoint(variables, bert_config, bleurt_config, "vocab.txt", "bleurt-test-pt")

``state_dict_from_tf_variables`` renames BERT's TF variables (``bert/encoder/layer_0/...``,
kernels transposed) and the regression head (``dense/kernel``, ``dense/bias``). TF BERT's GELU is
the tanh approximation, so converted checkpoints say ``hidden_act: gelu_new``: that reproduces the
TF scores, where the erf GELU ("gelu", which the bleurt-pytorch conversions on the hub use) moves
them slightly. The activation is part of the signature.
"""

from __future__ import annotations

import json
import shutil
import statistics
from collections.abc import Mapping, Sequence
from functools import cache
from itertools import pairwise
from pathlib import Path
from typing import Any

import numpy as np

from ._neural import device_or_default, is_local, model_identity
from .base import Metric, MetricError, Score, check_corpus, format_signature

__all__ = ["BLEURT", "encode_pair", "save_converted_checkpoint", "state_dict_from_tf_variables"]

_WEIGHT_FILES = ("model.safetensors", "pytorch_model.bin")
_BERT_TO_TORCH = (("LayerNorm/gamma", "LayerNorm.weight"), ("LayerNorm/beta", "LayerNorm.bias"),
                  ("/kernel", ".weight"), ("/bias", ".bias"), ("layer_", "layer."), ("/", "."))


def _checkpoint_dir(checkpoint: str) -> Path:
    if is_local(checkpoint):
        return Path(checkpoint)
    from huggingface_hub import snapshot_download

    try:
        return Path(snapshot_download(checkpoint, allow_patterns=["*.json", "*.txt", *_WEIGHT_FILES]))
    except Exception as err:  # noqa: BLE001 -- any hub failure: say what to give instead
        raise MetricError(f"cannot fetch BLEURT checkpoint {checkpoint!r} ({err}); give a local directory "
                          "in the bleurt-pytorch layout") from err


@cache
def _load(checkpoint: str, device: str) -> tuple[Any, Any, Any, int, str]:
    """(tokenizer, BertModel, head, max_seq_length, hidden_act) from a bleurt-pytorch layout directory."""
    import torch
    from transformers import BertConfig, BertModel, BertTokenizer

    directory = _checkpoint_dir(checkpoint)
    try:
        config = json.loads((directory / "config.json").read_text())
        tokenizer_config = json.loads((directory / "tokenizer_config.json").read_text())
    except FileNotFoundError as err:
        raise MetricError(f"{directory} is not a BLEURT checkpoint in the bleurt-pytorch layout: {err.filename} "
                          "is missing (see metrics/bleurt.py for converting a TensorFlow checkpoint)") from err
    if config.get("embedding_size") or not (directory / "vocab.txt").is_file():
        raise MetricError(f"{directory}: only WordPiece BLEURT checkpoints are supported (BLEURT-20's "
                          "SentencePiece / factorised embeddings are not)")
    fields = ("vocab_size", "hidden_size", "num_hidden_layers", "num_attention_heads", "intermediate_size",
              "hidden_act", "max_position_embeddings", "type_vocab_size", "layer_norm_eps")
    bert_config = BertConfig(**{k: config[k] for k in fields if k in config})
    weights = next((directory / name for name in _WEIGHT_FILES if (directory / name).is_file()), None)
    if weights is None:
        raise MetricError(f"{directory}: no {' or '.join(_WEIGHT_FILES)}")
    if weights.suffix == ".safetensors":
        from safetensors.torch import load_file

        state = load_file(weights)
    else:
        state = torch.load(weights, map_location="cpu", weights_only=True)
    encoder = BertModel(bert_config, add_pooling_layer=True)
    body = {k.removeprefix("bleurt."): v for k, v in state.items()
            if k.startswith("bleurt.") and not k.endswith("position_ids")}
    missing, unexpected = encoder.load_state_dict(body, strict=False)
    missing = [k for k in missing if not k.endswith(("position_ids", "token_type_ids"))]
    if missing or unexpected or "classifier.weight" not in state:
        raise MetricError(f"{weights} does not match a BERT encoder + classifier head "
                          f"(missing {missing[:5]}, unexpected {unexpected[:5]})")
    head = torch.nn.Linear(bert_config.hidden_size, 1)
    head.load_state_dict({"weight": state["classifier.weight"], "bias": state["classifier.bias"]})
    tokenizer = BertTokenizer(vocab=str(directory / "vocab.txt"),
                              do_lower_case=tokenizer_config.get("do_lower_case", True))
    tokenizer.backend_tokenizer.model.max_input_chars_per_word = 200  # BERT's WordpieceTokenizer (HF: 100)
    max_seq_length = int(tokenizer_config.get("model_max_length") or config.get("max_seq_length") or 512)
    return (tokenizer, encoder.float().to(device).eval(), head.float().to(device).eval(), max_seq_length,
            bert_config.hidden_act)


def encode_pair(tokenizer: Any, reference: str, candidate: str, max_seq_length: int) -> tuple[list[int], list[int]]:
    """(input ids, segment ids) of ``[CLS] ref [SEP] cand [SEP]``, cut as bleurt's ``_truncate_seq_pair``."""
    ref, cand = tokenizer.tokenize(reference), tokenizer.tokenize(candidate)
    while len(ref) + len(cand) > max_seq_length - 3:
        (ref if len(ref) > len(cand) else cand).pop()
    tokens = [tokenizer.cls_token, *ref, tokenizer.sep_token, *cand, tokenizer.sep_token]
    return tokenizer.convert_tokens_to_ids(tokens), [0] * (len(ref) + 2) + [1] * (len(cand) + 1)


class BLEURT(Metric):
    """Mean BLEURT over segments; references: ``first`` (DART: reference 0), ``max`` or ``mean`` over them."""

    name = "BLEURT"

    def __init__(self, checkpoint: str | Path, *, refs: str = "first", batch_size: int = 100,
                 device: str | None = None) -> None:
        if refs not in ("first", "max", "mean"):
            raise ValueError(f"refs must be 'first', 'max' or 'mean', not {refs!r}")
        self.checkpoint, self.refs = str(checkpoint), refs
        self.batch_size, self.device = batch_size, device_or_default(device)

    def _loaded(self) -> tuple[Any, Any, Any, int, str]:
        return _load(self.checkpoint, self.device)

    def signature(self) -> str:
        _, _, _, max_seq_length, act = self._loaded()
        checkpoint = (model_identity(self.checkpoint) if is_local(self.checkpoint)  # hub: name@snapshot commit
                      else f"{self.checkpoint}@{_checkpoint_dir(self.checkpoint).name[:12]}")
        return format_signature(self.name, {
            "ckpt": checkpoint,
            "maxlen": max_seq_length, "act": act, "refs": {"first": "ref0"}.get(self.refs, self.refs),
            "agg": "mean", "impl": "bleurt-encoding-recipe",
        })

    def pair_scores(self, references: Sequence[str], candidates: Sequence[str]) -> list[float]:
        """BLEURT of each (reference, candidate) pair."""
        import torch

        tokenizer, encoder, head, max_seq_length, _ = self._loaded()
        scores: list[float] = []
        for start in range(0, len(candidates), self.batch_size):
            pairs = [encode_pair(tokenizer, r, c, max_seq_length)
                     for r, c in zip(references[start:start + self.batch_size],
                                     candidates[start:start + self.batch_size], strict=True)]
            width = max(len(ids) for ids, _ in pairs)
            ids = torch.zeros((len(pairs), width), dtype=torch.long)  # BLEURT pads with id 0 and mask 0
            segments = torch.zeros_like(ids)
            mask = torch.zeros_like(ids)
            for row, (token_ids, segment_ids) in enumerate(pairs):
                ids[row, :len(token_ids)] = torch.tensor(token_ids)
                segments[row, :len(token_ids)] = torch.tensor(segment_ids)
                mask[row, :len(token_ids)] = 1
            with torch.no_grad():
                pooled = encoder(input_ids=ids.to(self.device), attention_mask=mask.to(self.device),
                                 token_type_ids=segments.to(self.device)).pooler_output
                scores.extend(head(pooled)[:, 0].float().cpu().tolist())
        return scores

    def corpus_statistics(self, hypotheses: Sequence[str], references: Sequence[Sequence[str]]) -> list[float]:
        check_corpus(hypotheses, references)
        groups = [list(group[:1]) if self.refs == "first" else list(group) for group in references]
        flat = self.pair_scores([r for group in groups for r in group],
                                [h for h, group in zip(hypotheses, groups, strict=True) for _ in group])
        bounds = np.cumsum([0] + [len(group) for group in groups])
        combine = {"first": lambda s: s[0], "max": max, "mean": statistics.fmean}[self.refs]
        return [combine(flat[a:b]) for a, b in pairwise(bounds)]

    def score_from_statistics(self, stats: list[float]) -> Score:
        value = statistics.mean(stats) if stats else 0.0
        return Score(self.name, float(value), self.signature(), {"segments": list(stats)})


def state_dict_from_tf_variables(variables: Mapping[str, np.ndarray]) -> dict[str, Any]:
    """A TF BLEURT checkpoint's variables (``bert/...``, ``dense/...``) as a bleurt-pytorch state dict."""
    import torch

    state = {}
    for name, value in variables.items():
        if name == "global_step" or not name.startswith(("bert/", "dense/")):
            continue
        array = np.asarray(value, dtype=np.float32)
        if name.endswith("/kernel"):
            array = array.T  # TF dense kernels are (in, out); torch Linear weights (out, in)
        if name.startswith("dense/"):
            key = "classifier." + ("weight" if name.endswith("kernel") else "bias")
        else:
            key = name.removeprefix("bert/")
            for old, new in _BERT_TO_TORCH:
                key = key.replace(old, new)
            if key.startswith("embeddings.") and not key.startswith("embeddings.LayerNorm"):
                key += ".weight"  # word_embeddings, position_embeddings, token_type_embeddings
            key = "bleurt." + key
        state[key] = torch.from_numpy(np.ascontiguousarray(array))
    return state


def save_converted_checkpoint(variables: Mapping[str, np.ndarray], bert_config: Mapping[str, Any],
                              bleurt_config: Mapping[str, Any], vocab_file: str | Path, out_dir: str | Path) -> Path:
    """Write a TF BLEURT checkpoint's variables and configs as a directory ``BLEURT`` loads."""
    from safetensors.torch import save_file

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    config = {**bert_config, "model_type": "bleurt", "hidden_act": "gelu_new",  # TF BERT's tanh GELU
              "max_seq_length": bleurt_config["max_seq_length"]}
    (out / "config.json").write_text(json.dumps(config, indent=2) + "\n")
    (out / "tokenizer_config.json").write_text(json.dumps({
        "do_lower_case": bleurt_config.get("do_lower_case", True),
        "model_max_length": bleurt_config["max_seq_length"]}, indent=2) + "\n")
    shutil.copyfile(vocab_file, out / "vocab.txt")
    save_file(state_dict_from_tf_variables(variables), out / "model.safetensors")
    return out
