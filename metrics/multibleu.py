"""Corpus BLEU exactly as Moses ``multi-bleu.perl [-lc] ref0 ref1 ... < hyp`` computes it.

The BLEU of the WebNLG 2017 challenge (``-lc``) and of DART's ``run_eval_on_dart.sh`` (cased).

* Tokens: Perl's ``split``/``split(' ', ...)`` on byte strings, i.e. runs of ASCII whitespace
  (space, \\t, \\n, \\r, \\f, \\v); a CR left by CRLF files is whitespace too. No other tokenisation.
* ``-lc``: Perl's ``lc`` on undecoded bytes lowercases ASCII letters only.
* References: line i of every reference file, in order. **An empty line is a reference of length
  0**: it takes part in the brevity penalty's closest-length choice (ties go to the shorter
  length), which is why sacreBLEU and nltk, which skip empty references, give a lower BLEU.
* Counts: 1-4-grams, clipped by the largest count in any one reference; corpus sums; no smoothing
  (a zero precision counts as log = -9999999999, so BLEU is 0).
* BLEU = BP * exp(mean log precision), BP = exp(1 - ref_len / hyp_len) when hyp_len < ref_len.

The value is a fraction (0-1) like every score of this package; ``details["line"]`` is the line
the script prints (``BLEU = 58.06, ...``: 100 x BLEU with 2 decimals), byte for byte.
"""

from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass

from .base import Metric, Score, format_signature

__all__ = ["MultiBLEU", "MultiBLEUStats", "perl_tokens", "sum_statistics"]

_PERL_SPACE = re.compile("[ \t\n\r\f\x0b]+")
_ASCII_LOWER = str.maketrans("ABCDEFGHIJKLMNOPQRSTUVWXYZ", "abcdefghijklmnopqrstuvwxyz")
_NO_LOG = -9999999999  # the script's my_log(0)


def perl_tokens(text: str, lowercase: bool = False) -> list[str]:
    """The words of ``split(' ', $line)`` (after ``lc`` when ``lowercase``)."""
    if lowercase:
        text = text.translate(_ASCII_LOWER)
    return _PERL_SPACE.sub(" ", text).strip(" ").split(" ") if text.strip(" \t\n\r\f\x0b") else []


@dataclass(frozen=True)
class MultiBLEUStats:
    hyp_len: int
    ref_len: int
    correct: tuple[int, ...]  # clipped matches, n = 1..4
    total: tuple[int | None, ...]  # hypothesis n-grams, n = 1..4; None: no segment had one (Perl undef)


def sum_statistics(segments: Sequence[MultiBLEUStats], max_n: int = 4) -> MultiBLEUStats:
    """Corpus statistics of some segments (the script's running sums; an n-gram order that no
    segment has stays undefined)."""
    hyp_len = ref_len = 0
    correct = [0] * max_n
    total: list[int | None] = [None] * max_n
    for stats in segments:
        hyp_len += stats.hyp_len
        ref_len += stats.ref_len
        for n in range(max_n):
            correct[n] += stats.correct[n]
            if stats.total[n] is not None:
                total[n] = (total[n] or 0) + stats.total[n]
    return MultiBLEUStats(hyp_len, ref_len, tuple(correct), tuple(total))


def _ngrams(words: list[str], n: int) -> Counter:
    return Counter(zip(*(words[i:] for i in range(n)), strict=False))


class MultiBLEU(Metric):
    """multi-bleu.perl; ``references[i]`` holds line i of each reference file ('' for an empty line)."""

    name = "BLEU"
    max_n = 4

    def __init__(self, lowercase: bool = False) -> None:
        self.lowercase = lowercase

    def signature(self) -> str:
        return format_signature(self.name, {
            "impl": "multi-bleu.perl", "case": "lc" if self.lowercase else "mixed", "tok": "whitespace",
            "nrefs": "var", "n": self.max_n, "bp": "closest-shorter,empty-refs-len0", "smooth": "none",
        })

    def segment_statistics(self, hypotheses: Sequence[str],
                           references: Sequence[Sequence[str]]) -> list[MultiBLEUStats]:
        """One MultiBLEUStats per segment: ``sum_statistics`` of any subset is that subset's corpus statistics."""
        out = []
        for hyp, group in zip(hypotheses, references, strict=True):
            words = perl_tokens(hyp, self.lowercase)
            closest_diff, closest_len = 9999, 9999
            best: list[Counter] = [Counter() for _ in range(self.max_n)]
            for ref in group:
                ref_words = perl_tokens(ref, self.lowercase)
                diff = abs(len(words) - len(ref_words))
                if diff < closest_diff:
                    closest_diff, closest_len = diff, len(ref_words)
                elif diff == closest_diff and len(ref_words) < closest_len:
                    closest_len = len(ref_words)
                for n in range(self.max_n):
                    best[n] |= _ngrams(ref_words, n + 1)  # | keeps the larger count per n-gram
            correct = [0] * self.max_n
            total: list[int | None] = [None] * self.max_n
            for n in range(self.max_n):
                counts = _ngrams(words, n + 1)
                if counts:
                    total[n] = sum(counts.values())
                    correct[n] = sum(min(c, best[n][g]) for g, c in counts.items() if g in best[n])
            out.append(MultiBLEUStats(len(words), closest_len, tuple(correct), tuple(total)))
        return out

    def corpus_statistics(self, hypotheses: Sequence[str], references: Sequence[Sequence[str]]) -> MultiBLEUStats:
        return sum_statistics(self.segment_statistics(hypotheses, references))

    def score_from_statistics(self, stats: MultiBLEUStats) -> Score:
        precisions = [c / t if t else 0.0 for c, t in zip(stats.correct, stats.total, strict=True)]
        details = {"precisions": precisions, "hyp_len": stats.hyp_len, "ref_len": stats.ref_len}
        if stats.ref_len == 0:  # the script prints this line and exits with status 1
            details.update(bp=0.0, line="BLEU = 0, 0/0/0/0 (BP=0, ratio=0, hyp_len=0, ref_len=0)")
            return Score(self.name, 0.0, self.signature(), details)
        if stats.hyp_len == 0:  # the script dies on a division by zero; no output can score anything
            details.update(bp=0.0, line=None)
            return Score(self.name, 0.0, self.signature(), details)
        bp = math.exp(1 - stats.ref_len / stats.hyp_len) if stats.hyp_len < stats.ref_len else 1
        logs = [math.log(p) if p else _NO_LOG for p in precisions]
        value = bp * math.exp((logs[0] + logs[1] + logs[2] + logs[3]) / 4)  # the script's order of operations
        line = "BLEU = %.2f, %.1f/%.1f/%.1f/%.1f (BP=%.3f, ratio=%.3f, hyp_len=%d, ref_len=%d)" % (  # noqa: UP031
            100 * value, *(100 * p for p in precisions), bp, stats.hyp_len / stats.ref_len,
            stats.hyp_len, stats.ref_len)
        details.update(bp=float(bp), line=line)
        return Score(self.name, value, self.signature(), details)
