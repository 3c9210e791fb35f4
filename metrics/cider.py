"""CIDEr-D as coco-caption's ``Cider`` computes it (E2E's official CIDEr).

1..4-gram tf-idf vectors; document frequency counts the test segments whose reference group
contains the n-gram, idf = log(N segments) - log(max(1, df)); the hypothesis vector is clipped
(min(hyp, ref) * ref) before the cosine; Gaussian length penalty with sigma = 6 where the
"length" is the number of bigrams (a coco quirk); mean over n, mean over references, x10, then
mean over segments. The arithmetic follows coco's order (and its libm/numpy calls), so the
result is the same float, at a fraction of the time.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from .base import Score, count_ngrams, format_signature
from .ptb import PTBMetric, ptb_signature

__all__ = ["CIDEr", "CIDErStats"]

Vector = tuple[list[dict[tuple[str, ...], float]], list[float], int]  # per-n tf-idf, per-n norm, "length"


@dataclass(frozen=True)
class CIDErStats:
    hypotheses: list[Counter]
    references: list[list[Counter]]


class CIDEr(PTBMetric):
    name = "CIDEr"

    def __init__(self, max_n: int = 4, sigma: float = 6.0) -> None:
        self.max_n = max_n
        self.sigma = sigma

    def signature(self) -> str:
        return format_signature(self.name, {
            "impl": "coco-cider-d", "n": self.max_n, "sigma": self.sigma, "idf": "test-ref-groups",
            "clip": "yes", "scale": 10, "tok": ptb_signature(),
        })

    def statistics_from_tokens(self, hypotheses: list[str], references: list[list[str]]) -> CIDErStats:
        # coco's precook uses str.split() (any whitespace), unlike its ROUGE-L (split(" ")).
        return CIDErStats(
            [count_ngrams(hyp.split(), self.max_n) for hyp in hypotheses],
            [[count_ngrams(ref.split(), self.max_n) for ref in group] for group in references],
        )

    def score_from_statistics(self, stats: CIDErStats) -> Score:
        df: Counter = Counter()
        for group in stats.references:
            df.update({ngram for counts in group for ngram in counts})
        idf_base = float(np.log(float(len(stats.references))))
        log_df: dict[int, float] = {}  # np.log per distinct df value: same bits, far fewer calls

        def to_vector(counts: Counter) -> Vector:
            vec: list[dict[tuple[str, ...], float]] = [{} for _ in range(self.max_n)]
            norm = [0.0] * self.max_n
            length = 0
            for ngram, tf in counts.items():
                d = df.get(ngram, 0)
                if d not in log_df:
                    log_df[d] = float(np.log(max(1.0, float(d))))
                n = len(ngram) - 1
                value = float(tf) * (idf_base - log_df[d])
                vec[n][ngram] = value
                norm[n] += value**2  # C pow(), as numpy's scalar power in coco
                if n == 1:
                    length += tf
            return vec, [math.sqrt(x) for x in norm], length

        scores = [self._segment(to_vector(hyp), [to_vector(r) for r in group])
                  for hyp, group in zip(stats.hypotheses, stats.references, strict=True)]
        value = float(np.mean(np.array(scores))) if scores else 0.0
        return Score(self.name, value, self.signature(), {"segment_scores": scores})

    def _segment(self, hyp: Vector, refs: Sequence[Vector]) -> float:
        vec, norm, length = hyp
        total = np.zeros(self.max_n)
        for ref_vec, ref_norm, ref_length in refs:
            delta = float(length - ref_length)
            penalty = math.e ** (-(delta**2) / (2 * self.sigma**2))
            sims = np.zeros(self.max_n)
            for n in range(self.max_n):
                acc = 0.0
                ref_n = ref_vec[n]
                for ngram, value in vec[n].items():
                    ref_value = ref_n.get(ngram, 0.0)
                    acc += min(value, ref_value) * ref_value
                if norm[n] != 0 and ref_norm[n] != 0:
                    acc /= norm[n] * ref_norm[n]
                sims[n] = acc * penalty
            total += sims
        return float(np.mean(total)) / len(refs) * 10.0
