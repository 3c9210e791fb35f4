"""Corpus NIST (5-grams) in E2E's two flavours, picked by ``variant`` and named in the signature.

``mteval`` (default, the official E2E number): ``mteval-v13a-sig.pl`` as modified by the E2E
organisers for a variable number of references.
  * info(w1..wn) = log2(count(w1..wn-1) / count(w1..wn)) over all reference segments of the
    test set; unigrams use the total number of reference words. (Perl quirk kept: a history
    that is the string "0" is false in Perl, so such bigrams also use the total word count.)
  * matched info, with counts clipped by the per-segment maximum reference count, is divided
    per n by the number of hypothesis n-grams (at least 1) and summed over n = 1..5;
  * length penalty exp(beta * log(min(r, 1))^2), beta = -ln 0.5 / ln(1.5)^2, with
    r = hyp_words / (ref_words / (non_empty_refs / segments)) -- that average reference length
    is the E2E modification.

``pymteval``: e2e-metrics' ``metrics/pymteval.py`` NISTScore (``measure_scores.py -p``, also
GEM-metrics). Its average reference length is the sum over segments of the mean reference
length, and its n-gram totals are len - n + 1 even when negative; we keep both quirks.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from itertools import chain

from .base import Metric, Score, clip_counts, count_ngrams, format_signature
from .tokenizers import tokenize_13a, tokenize_13a_pymteval

__all__ = ["NIST", "NISTStats"]

VARIANTS = ("mteval", "pymteval")


@dataclass(frozen=True)
class NISTStats:
    ref_ngrams: Counter  # every n-gram of every reference, corpus-wide (for the information weights)
    ref_words: int
    matched: Counter  # clipped hypothesis matches per n-gram, summed over segments
    hyp_ngrams: tuple[int, ...]  # number of hypothesis n-grams, n = 1..max_n
    avg_ref_len: float  # already in the variant's definition
    segments: int


def _length_penalty(ratio: float, perl: bool) -> float:
    """exp(-beta log(ratio)^2) below ratio 1, written as each implementation writes it (same bits)."""
    if ratio >= 1:
        return 1.0
    if ratio <= 0:
        return 0.0
    if perl:
        beta = -math.log(0.5) / math.log(1.5) / math.log(1.5)
        return math.exp(-beta * math.log(ratio) * math.log(ratio))
    beta = -math.log(0.5) / math.log(1.5) ** 2
    return math.exp(-beta * math.log(ratio) ** 2)


class NIST(Metric):
    name = "NIST"

    def __init__(self, variant: str = "mteval", max_n: int = 5) -> None:
        if variant not in VARIANTS:
            raise ValueError(f"unknown NIST variant {variant!r}; choose one of {', '.join(VARIANTS)}")
        self.variant = variant
        self.max_n = max_n

    def signature(self) -> str:
        ref_len = "e2e-words/(nonempty-refs/segs)" if self.variant == "mteval" else "sum-of-seg-means"
        impl = "mteval-v13a-sig-e2e" if self.variant == "mteval" else "e2e-pymteval"
        return format_signature(self.name, {
            "impl": impl, "nrefs": "var", "case": "lc", "tok": "13a", "n": self.max_n,
            "info": "test-refs", "reflen": ref_len,
        })

    def corpus_statistics(self, hypotheses: Sequence[str], references: Sequence[Sequence[str]]) -> NISTStats:
        tokenize = tokenize_13a if self.variant == "mteval" else tokenize_13a_pymteval
        clip_at_zero = self.variant == "mteval"
        all_refs: list[tuple[str, ...]] = []
        matched: Counter = Counter()
        hyp_ngrams = [0] * self.max_n
        ref_words = non_empty = 0
        seg_means = []
        for hyp, group in zip(hypotheses, references, strict=True):
            ref_tokens = [tokenize(ref) for ref in group]
            hyp_tokens = tokenize(hyp)
            ref_counts = [count_ngrams(tokens, self.max_n) for tokens in ref_tokens]
            matched.update(clip_counts(count_ngrams(hyp_tokens, self.max_n), ref_counts))
            for n in range(self.max_n):
                total = len(hyp_tokens) - n
                hyp_ngrams[n] += max(total, 0) if clip_at_zero else total
            lengths = [len(tokens) for tokens in ref_tokens]
            ref_words += sum(lengths)
            non_empty += sum(1 for length in lengths if length)
            seg_means.append(sum(lengths) / len(lengths))
            all_refs.extend(ref_tokens)
        # One C-level count over every reference n-gram (Counter.update with a mapping is slow).
        ref_ngrams = Counter(chain.from_iterable(
            zip(*(tokens[i:] for i in range(n)), strict=False) for tokens in all_refs for n in range(1, self.max_n + 1)
        ))
        segments = len(seg_means)
        if self.variant == "mteval":
            avg_ref_len = ref_words / (non_empty / segments) if non_empty else 0.0
        else:
            avg_ref_len = math.fsum(seg_means)
        return NISTStats(ref_ngrams, ref_words, matched, tuple(hyp_ngrams), avg_ref_len, segments)

    def _info(self, ngram: tuple[str, ...], stats: NISTStats) -> float:
        count = stats.ref_ngrams[ngram]
        history = ngram[:-1]
        if self.variant == "mteval":
            denominator = stats.ref_ngrams[history] if history and history != ("0",) else stats.ref_words
            return -math.log(count / denominator) / math.log(2)
        denominator = stats.ref_ngrams[history] if history else stats.ref_words
        return math.log(denominator / count, 2)

    def score_from_statistics(self, stats: NISTStats) -> Score:
        per_n: list[list[float]] = [[] for _ in range(self.max_n)]
        for ngram, hits in stats.matched.items():
            per_n[len(ngram) - 1].append(self._info(ngram, stats) * hits)
        # fsum: exactly rounded, so the score cannot depend on segment order.
        infos = [math.fsum(terms) for terms in per_n]
        if self.variant == "mteval":
            total = 0.0
            for info, count in zip(infos, stats.hyp_ngrams, strict=True):
                total += info / max(count, 1)
        else:
            total = sum(info / count if count else 0.0 for info, count in zip(infos, stats.hyp_ngrams, strict=True))
        ratio = stats.hyp_ngrams[0] / stats.avg_ref_len if stats.avg_ref_len else 0.0
        penalty = _length_penalty(ratio, perl=self.variant == "mteval")
        details = {"info_per_n": infos, "length_penalty": penalty, "length_ratio": ratio}
        return Score(self.name, total * penalty, self.signature(), details)
