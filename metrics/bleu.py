"""Corpus BLEU exactly as mteval-v13a(-sig).pl computes it (E2E's official BLEU).

Lowercased 13a tokens, 4-grams, counts clipped by the maximum count in any reference, brevity
penalty from the closest reference length (ties go to the shorter one; empty references are
skipped), and the script's "1/2^k" smoothing for a zero n-gram match count.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from .base import Metric, Score, clip_counts, count_ngrams, format_signature
from .tokenizers import tokenize_13a

__all__ = ["BLEU", "BLEUStats"]


@dataclass(frozen=True)
class BLEUStats:
    hyp_len: int
    ref_len: int
    matches: tuple[int, ...]  # clipped n-gram matches, n = 1..max_n
    totals: tuple[int, ...]  # hypothesis n-grams, n = 1..max_n


def closest_ref_length(hyp_len: int, ref_lens: Sequence[int]) -> int:
    """mteval's brevity_penalty_closest folded over the references, first reference first."""
    best = ref_lens[0]
    for length in ref_lens[1:]:
        if length and (abs(hyp_len - length), length) < (abs(hyp_len - best), best):
            best = length
    return best


class BLEU(Metric):
    name = "BLEU"

    def __init__(self, max_n: int = 4, lowercase: bool = True) -> None:
        self.max_n = max_n
        self.lowercase = lowercase

    def signature(self) -> str:
        return format_signature(self.name, {
            "impl": "mteval-v13a", "nrefs": "var", "case": "lc" if self.lowercase else "mixed",
            "tok": "13a", "n": self.max_n, "bp": "closest", "smooth": "mteval-2^-k",
        })

    def corpus_statistics(self, hypotheses: Sequence[str], references: Sequence[Sequence[str]]) -> BLEUStats:
        n_max = self.max_n
        hyp_len = ref_len = 0
        matches = [0] * n_max
        totals = [0] * n_max
        for hyp, group in zip(hypotheses, references, strict=True):
            hyp_tokens = tokenize_13a(hyp, self.lowercase)
            ref_tokens = [tokenize_13a(ref, self.lowercase) for ref in group]
            clipped = clip_counts(count_ngrams(hyp_tokens, n_max), [count_ngrams(t, n_max) for t in ref_tokens])
            for ngram, count in clipped.items():
                matches[len(ngram) - 1] += count
            for n in range(n_max):
                totals[n] += max(len(hyp_tokens) - n, 0)
            hyp_len += len(hyp_tokens)
            ref_len += closest_ref_length(len(hyp_tokens), [len(t) for t in ref_tokens])
        return BLEUStats(hyp_len, ref_len, tuple(matches), tuple(totals))

    def score_from_statistics(self, stats: BLEUStats) -> Score:
        # mteval's bleu_score(), operation for operation (same libm calls, same order).
        bp = math.exp(min(0.0, 1 - stats.ref_len / stats.hyp_len)) if stats.hyp_len > 0 else 0.0
        log_sum = 0.0
        smooth = 1
        precisions = []
        for n, (match, total) in enumerate(zip(stats.matches, stats.totals, strict=True), start=1):
            if total == 0:
                log_prec = 0.0
            elif match == 0:
                smooth *= 2
                log_prec = math.log(1 / (smooth * total))
            else:
                log_prec = math.log(match / total)
            precisions.append(math.exp(log_prec))
            log_sum += log_prec
            value = math.exp(log_sum / n) * bp
        details = {"precisions": precisions, "bp": bp, "hyp_len": stats.hyp_len, "ref_len": stats.ref_len}
        return Score(self.name, value, self.signature(), details)
