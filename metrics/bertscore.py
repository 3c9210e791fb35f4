"""BERTScore through ``bert-score`` 0.3.13, with the two repairs transformers 5 needs to give its numbers.

The scoring itself is bert-score's own code (``bert_cos_score_idf``: greedy cosine matching of
contextual embeddings, special tokens weighted 0, P/R/F per pair, then the maximum of each of P,
R and F separately over a segment's references, optional baseline rescaling) -- what
``bert_score.score`` and the ``bert-score`` CLI run. The model is loaded once per (model, layer,
device) and kept.

Repairs, both no-ops on the transformers 4 that bert-score was written for:

* RoBERTa/GPT-2 tokenizers: bert-score passes ``add_prefix_space=True`` to ``encode``, which the
  slow tokenizers of transformers 4 honoured (`` the`` and ``the`` are different BPE tokens) and
  transformers 5 silently ignores; the tokenizer is loaded with ``add_prefix_space=True`` instead.
  Without this, the official default (roberta-large) gives other numbers than the official CLI.
* empty sentences: bert-score encodes them with ``build_inputs_with_special_tokens([])``, which
  transformers 5 removed; the tokenizer gets that method back (the special tokens alone), so an
  empty candidate scores P = R = F = 0 as in the official tool (DART's empty reference lines too).
"""

from __future__ import annotations

import contextlib
import io
from collections import defaultdict
from collections.abc import Sequence
from functools import cache
from importlib.metadata import version
from itertools import pairwise
from pathlib import Path
from typing import Any

import numpy as np

from ._neural import device_or_default, is_local, model_identity
from .base import Metric, MetricError, Score, check_corpus, format_signature

__all__ = ["BERTScore", "load_bertscore_model"]

DEFAULT_MODEL = "roberta-large"  # bert-score's choice for --lang en; layer 17 from its table


def _repaired_tokenizer(model: str) -> Any:
    from bert_score.utils import get_tokenizer
    from transformers import AutoTokenizer, GPT2Tokenizer, RobertaTokenizer

    tokenizer = get_tokenizer(model, False)  # bert-score's default: use_fast=False
    if isinstance(tokenizer, (GPT2Tokenizer, RobertaTokenizer)) and not getattr(tokenizer, "add_prefix_space", True):
        tokenizer = AutoTokenizer.from_pretrained(model, use_fast=False, add_prefix_space=True)
    if not hasattr(tokenizer, "build_inputs_with_special_tokens"):
        empty = tokenizer.encode("", add_special_tokens=True)

        def build_inputs_with_special_tokens(ids: list[int]) -> list[int]:
            if ids:  # bert-score only ever asks for the empty sentence
                raise NotImplementedError("only the empty sentence is supported")
            return list(empty)

        tokenizer.build_inputs_with_special_tokens = build_inputs_with_special_tokens
    return tokenizer


@cache
def load_bertscore_model(model: str, num_layers: int, device: str) -> tuple[Any, Any]:
    """(tokenizer, model cut to ``num_layers``) as bert-score builds them, in float32 like transformers 4 did."""
    from bert_score.utils import get_model

    try:
        tokenizer = _repaired_tokenizer(model)
        encoder = get_model(model, num_layers, False)
    except OSError as err:
        raise MetricError(f"cannot load BERTScore model {model!r} ({err}); give a hub name that can be "
                          "downloaded or a local model directory (--model DIR)") from err
    return tokenizer, encoder.float().to(device).eval()


class BERTScore(Metric):
    """BERTScore P/R/F1 per segment (max over references); the score is the mean F1 (``component``)."""

    name = "BERTScore"

    def __init__(self, model: str | Path = DEFAULT_MODEL, num_layers: int | None = None, *, idf: bool = False,
                 rescale_with_baseline: bool = False, lang: str | None = None, baseline_path: str | None = None,
                 batch_size: int = 64, device: str | None = None, component: str = "F1") -> None:
        from bert_score.utils import model2layers

        self.model = str(model)
        if num_layers is None:
            if self.model not in model2layers:
                raise MetricError(f"bert-score has no default layer for {self.model!r}: give num_layers "
                                  "(--num-layers; e.g. 6, the last layer, for the packaged MiniLM)")
            num_layers = model2layers[self.model]
        if rescale_with_baseline and lang is None and baseline_path is None:
            raise ValueError("rescale_with_baseline needs lang (bert-score's baseline files) or baseline_path")
        if component not in ("P", "R", "F1"):
            raise ValueError(f"component must be P, R or F1, not {component!r}")
        self.num_layers, self.idf, self.rescale = num_layers, idf, rescale_with_baseline
        self.lang, self.baseline_path = lang, baseline_path
        self.batch_size, self.device, self.component = batch_size, device_or_default(device), component

    def _loaded(self) -> tuple[Any, Any]:
        return load_bertscore_model(self.model, self.num_layers, self.device)

    def signature(self) -> str:
        import transformers

        settings: dict[str, object] = {
            "model": model_identity(self.model), "layer": self.num_layers, "idf": "refs" if self.idf else "no",
            "rescale": self._baseline_file().name if self.rescale else "no", "refs": "max", "agg": "mean",
            # the distribution's version: bert_score.__version__ says 0.3.12 in 0.3.13
            "score": self.component, "impl": f"bert-score-{version('bert-score')}",
            "hf": transformers.__version__,
        }
        return format_signature(self.name, settings)

    def _baseline_file(self) -> Path:
        if self.baseline_path is not None:
            path = Path(self.baseline_path)
        else:
            import bert_score

            path = Path(bert_score.__file__).parent / "rescale_baseline" / str(self.lang) / f"{self.model}.tsv"
        if not path.is_file():
            hint = "a local model has none; " if is_local(self.model) else ""
            raise MetricError(f"no BERTScore rescaling baseline at {path} ({hint}give baseline_path or "
                              "turn rescaling off)")
        return path

    def corpus_statistics(self, hypotheses: Sequence[str], references: Sequence[Sequence[str]]) -> np.ndarray:
        """(segments, 3) array of P, R, F1, each the maximum over the segment's references (as bert-score)."""
        import torch
        from bert_score.utils import bert_cos_score_idf, get_idf_dict

        check_corpus(hypotheses, references)
        if not hypotheses:
            return np.zeros((0, 3))
        tokenizer, encoder = self._loaded()
        cands = [hyp for hyp, group in zip(hypotheses, references, strict=True) for _ in group]
        refs = [ref for group in references for ref in group]
        if self.idf:  # bert_score.score: idf from the (flattened) references being scored
            idf_dict = get_idf_dict(refs, tokenizer, nthreads=0)
        else:
            idf_dict = defaultdict(lambda: 1.0)
            idf_dict[tokenizer.sep_token_id] = 0
            idf_dict[tokenizer.cls_token_id] = 0
        with contextlib.redirect_stderr(io.StringIO()):  # a warning per batch with an empty sentence (DART: many)
            preds = bert_cos_score_idf(encoder, refs, cands, tokenizer, idf_dict, device=self.device,
                                       batch_size=self.batch_size).cpu()
        bounds = np.cumsum([0] + [len(group) for group in references])
        best = torch.stack([preds[start:end].max(dim=0)[0] for start, end in pairwise(bounds)])
        if self.rescale:
            import pandas as pd

            baseline = torch.from_numpy(pd.read_csv(self._baseline_file()).iloc[self.num_layers].to_numpy())[1:]
            best = (best - baseline.float()) / (1 - baseline.float())
        return best.numpy()

    def score_from_statistics(self, stats: np.ndarray) -> Score:
        import torch

        # float32 means, as the bert-score CLI prints them
        means = {name: float(torch.from_numpy(stats[:, k]).mean()) if len(stats) else 0.0
                 for k, name in enumerate(("P", "R", "F1"))}
        return Score(self.name, means[self.component], self.signature(),
                     {**means, "segments": stats[:, ("P", "R", "F1").index(self.component)].tolist()})
