"""MoverScore as ``moverscore_v2.word_mover_score`` computes it (Zhao et al. 2019; moverscore 1.0.3, the
module DART's ``evaluation/moverscore.py`` imports), with a configurable encoder and an exact EMD.

The package itself cannot run here (it loads distilbert-base-uncased onto ``cuda:0`` at import and
uses APIs that numpy 2 and transformers 5 removed), so this is its recipe, step by step:

* tokens: ``[CLS] + tokenizer.tokenize(s)[:max_len - 2] + [SEP]`` (WordPiece, lower-cased by the
  uncased tokenizer); embeddings: the **last layer** of the encoder, each sentence with its own
  attention mask;
* weights: idf from a corpus, ``log((N + 1) / (df + 1))`` over token ids with df counted once per
  sentence, ``log(N + 1)`` for unseen ids; DART builds one dictionary from the hypotheses and one
  from the references (``idf="corpus"``); GEM uses 1 for every token (``idf="uniform"``).
  [CLS] and [SEP] keep their weight -- with corpus idf it is log(1) = 0, as they are in every
  sentence;
* removed tokens get weight 0: stop words (DART: none), every token containing ``##`` (v2 always
  drops subword continuations, whatever ``remove_subwords`` says; the ``n_gram`` argument is
  ignored by v2 too, so this is unigram MoverScore) and single-character ``string.punctuation``;
* distances: Euclidean between unit vectors, in float32 as ``batched_cdist_l2`` computes them
  (``sqrt(max(|x|^2 + |y|^2 - 2 x.y, 1e-30))``), so identical sentences score a hair under 1;
* masses: the weights normalised to sum 1 on each side; score = 1 - EMD (the cost of the optimal
  flow from reference tokens to hypothesis tokens).

The EMD is the transportation problem solved exactly (scipy's HiGHS simplex). moverscore_v2 used
pyemd 0.5's FastEMD, which rounds masses and distances to 1e-6 of their maxima and casts the flow
to float32; the two agree to about 1e-6 per segment. One FastEMD behaviour is kept on purpose:
when a side has no mass (an empty hypothesis, or only punctuation, under corpus idf) the flow is
empty and the segment scores **1.0**, as the official script scores it.
"""

from __future__ import annotations

import math
import statistics
import string
from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence
from functools import cache
from pathlib import Path
from typing import Any

import numpy as np

from ._neural import device_or_default, model_identity
from .base import Metric, MetricError, Score, check_corpus, format_signature

__all__ = ["MoverScore", "earth_movers_distance", "idf_weights"]

DEFAULT_MODEL = "distilbert-base-uncased"
_PUNCTUATION = frozenset(string.punctuation)


@cache
def _load(model: str, device: str) -> tuple[Any, Any, int]:
    from transformers import AutoModel, AutoTokenizer

    try:
        tokenizer = AutoTokenizer.from_pretrained(model)
        encoder = AutoModel.from_pretrained(model)
    except OSError as err:
        raise MetricError(f"cannot load MoverScore encoder {model!r} ({err}); give a hub name that can be "
                          "downloaded or a local model directory (--model DIR)") from err
    max_len = tokenizer.model_max_length
    if max_len > 100_000:  # "unset" in the tokenizer config: the position table is the limit
        max_len = encoder.config.max_position_embeddings
    return tokenizer, encoder.float().to(device).eval(), max_len


def idf_weights(token_ids: Iterable[Sequence[int]]) -> defaultdict:
    """moverscore_v2.get_idf_dict: log((N+1)/(df+1)) per id, log(N+1) for ids never seen."""
    counts: Counter = Counter()
    total = 0
    for ids in token_ids:
        counts.update(set(ids))
        total += 1
    idf = defaultdict(lambda: math.log(total + 1))
    idf.update({i: math.log((total + 1) / (c + 1)) for i, c in counts.items()})
    return idf


def earth_movers_distance(supply: np.ndarray, demand: np.ndarray, cost: np.ndarray) -> float:
    """Minimal cost of moving ``supply`` (m) onto ``demand`` (n), both summing to 1, at ``cost`` (m x n) per unit.

    Returns 0 when a side has no mass (no flow at all, as pyemd's FastEMD returns it).
    """
    from scipy.optimize import linprog
    from scipy.sparse import coo_array

    m, n = cost.shape
    if m == 0 or n == 0 or supply.sum() == 0 or demand.sum() == 0:
        return 0.0
    if m == 1:
        return float(demand @ cost[0])
    if n == 1:
        return float(supply @ cost[:, 0])
    # Row sums = supply; column sums = demand for all but the last column (implied, and free of
    # the 1e-16 mismatch between the two totals that would make the full system infeasible).
    cells = np.arange(m * n)
    rows = np.concatenate([cells // n, m + cells % n])
    keep = np.concatenate([np.ones(m * n, bool), cells % n < n - 1])
    matrix = coo_array((np.ones(keep.sum()), (rows[keep], np.concatenate([cells, cells])[keep])),
                       shape=(m + n - 1, m * n))
    result = linprog(cost.ravel(), A_eq=matrix.tocsr(), b_eq=np.concatenate([supply, demand[:-1]]),
                     bounds=(0, None), method="highs")
    if result.status != 0:
        raise MetricError(f"EMD solver failed: {result.message}")
    return float(result.fun)


class MoverScore(Metric):
    """Mean over segments of 1 - EMD(reference tokens -> hypothesis tokens); see the module docstring."""

    name = "MoverScore"

    def __init__(self, model: str | Path = DEFAULT_MODEL, *, idf: str = "corpus", refs: str = "first",
                 stop_words: Iterable[str] = (), batch_size: int = 256, device: str | None = None) -> None:
        if idf not in ("corpus", "uniform"):
            raise ValueError(f"idf must be 'corpus' (DART) or 'uniform' (GEM), not {idf!r}")
        if refs not in ("first", "mean"):
            raise ValueError(f"refs must be 'first' (DART: reference 0 only) or 'mean' (GEM), not {refs!r}")
        self.model, self.idf, self.refs = str(model), idf, refs
        self.stop_words = frozenset(stop_words)
        self.batch_size, self.device = batch_size, device_or_default(device)

    def signature(self) -> str:
        import transformers

        return format_signature(self.name, {
            "model": model_identity(self.model), "layer": "last", "idf": self.idf,
            "stop": len(self.stop_words) if self.stop_words else "none", "subwords": "dropped", "ngram": 1,
            "refs": "ref0" if self.refs == "first" else "mean", "agg": "mean", "emd": "exact",
            "impl": "moverscore_v2-1.0.3-recipe", "hf": transformers.__version__,
        })

    def _token_ids(self, sentences: Iterable[str]) -> dict[str, tuple[list[str], list[int]]]:
        tokenizer, _, max_len = _load(self.model, self.device)
        out = {}
        for sentence in sentences:
            if sentence not in out:
                tokens = [tokenizer.cls_token, *tokenizer.tokenize(sentence)[: max_len - 2], tokenizer.sep_token]
                out[sentence] = (tokens, tokenizer.convert_tokens_to_ids(tokens))
        return out

    def _embeddings(self, encoded: dict[str, tuple[list[str], list[int]]]) -> dict[str, np.ndarray]:
        """Last-layer vectors, scaled to unit length (zero vectors stay zero), per distinct sentence.

        Batches are formed from the sorted distinct sentences, so a sentence's vectors do not depend
        on the order of the corpus.
        """
        import torch

        tokenizer, encoder, _ = _load(self.model, self.device)
        order = sorted(encoded, key=lambda s: (len(encoded[s][1]), s))
        vectors = {}
        for start in range(0, len(order), self.batch_size):
            batch = order[start:start + self.batch_size]
            width = max(len(encoded[s][1]) for s in batch)
            ids = torch.full((len(batch), width), tokenizer.pad_token_id or 0, dtype=torch.long)
            mask = torch.zeros((len(batch), width), dtype=torch.long)
            for row, sentence in enumerate(batch):
                length = len(encoded[sentence][1])
                ids[row, :length] = torch.tensor(encoded[sentence][1])
                mask[row, :length] = 1
            with torch.no_grad():
                hidden = encoder(input_ids=ids.to(self.device), attention_mask=mask.to(self.device))[0].float()
            hidden = (hidden / (torch.norm(hidden, dim=-1, keepdim=True) + 1e-30)).cpu().numpy()
            for row, sentence in enumerate(batch):
                vectors[sentence] = hidden[row, : len(encoded[sentence][1])]
        return vectors

    def _weights(self, tokens: list[str], ids: list[int], idf: defaultdict) -> np.ndarray:
        removed = [t in self.stop_words or "##" in t or t in _PUNCTUATION for t in tokens]
        # float32, as moverscore_v2 pads the idf weights into a float tensor
        return np.array([0.0 if gone else idf[i] for gone, i in zip(removed, ids, strict=True)], np.float32)

    def corpus_statistics(self, hypotheses: Sequence[str], references: Sequence[Sequence[str]]) -> list[float]:
        """Per-segment MoverScore (for ``refs="mean"``: the mean over the segment's references)."""
        check_corpus(hypotheses, references)
        groups = [list(group[:1]) if self.refs == "first" else list(group) for group in references]
        flat_refs = [ref for group in groups for ref in group]
        encoded = self._token_ids([*hypotheses, *flat_refs])
        if self.idf == "corpus":
            idf_hyp = idf_weights(encoded[h][1] for h in hypotheses)
            idf_ref = idf_weights(encoded[r][1] for r in flat_refs)
        else:
            idf_hyp = idf_ref = defaultdict(lambda: 1.0)
        vectors = self._embeddings(encoded)
        scores = []
        for hyp, group in zip(hypotheses, groups, strict=True):
            hyp_weights = self._weights(*encoded[hyp], idf_hyp)
            per_ref = []
            for ref in group:
                ref_weights = self._weights(*encoded[ref], idf_ref)
                r, h = np.flatnonzero(ref_weights), np.flatnonzero(hyp_weights)
                x, y = vectors[ref][r], vectors[hyp][h]
                # batched_cdist_l2's float32 arithmetic on the reference x hypothesis block: for two
                # equal vectors it leaves float32 noise (up to ~3e-4), in the official script too
                cost = (y * y).sum(-1)[None, :] - np.float32(2) * (x @ y.T) + (x * x).sum(-1)[:, None]
                cost = np.sqrt(np.maximum(cost, np.float32(1e-30))).astype(np.float64)
                supply = ref_weights[r] / (ref_weights.sum() + 1e-30)
                demand = hyp_weights[h] / (hyp_weights.sum() + 1e-30)
                per_ref.append(1.0 - earth_movers_distance(supply, demand, cost))
            scores.append(per_ref[0] if len(per_ref) == 1 else statistics.fmean(per_ref))
        return scores

    def score_from_statistics(self, stats: list[float]) -> Score:
        value = statistics.mean(stats) if stats else 0.0  # DART's moverscore.py: statistics.mean
        return Score(self.name, float(value), self.signature(), {"segments": list(stats)})
