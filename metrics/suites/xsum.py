"""The XSUM protocol of Li & Liang (2021): ROUGE-1/2/L F1 from Google's ``rouge-score`` with stemming.

Per segment, ``RougeScorer(types, use_stemmer=True).score(reference, summary)`` (rouge-score's
tokenizer: lower-case, non-alphanumerics to spaces, Porter stemmer on words longer than 3
characters); with several references, ``score_multi`` (the reference with the best F, per type).
The corpus score is the mean F1 over segments, as a fraction (papers print x100).

The Prefix-Tuning code reports Hugging Face's ``calculate_rouge``: the same per-segment scores fed
to ``BootstrapAggregator`` (unseeded), whose ``mid`` is the median of 1,000 bootstrap means -- within
a few thousandths of a point of the plain mean on XSUM's 11,334 summaries.

``rougeLsum`` (summary-level LCS over sentences) is an option: sentences are the lines of a
summary, or pieces split at ``sentence_sep`` (e.g. ``<n>``), since a file holds one summary per line.

Narayan et al. (2018) scored XSUM with the Perl ROUGE-1.5.5; ``bench/bench_neural.py`` prints how
rouge-score compares with their numbers on their own outputs.
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from functools import cache, lru_cache
from importlib.metadata import version
from pathlib import Path
from typing import Any

import numpy as np

from ..base import Metric, Score, check_corpus, format_signature
from ..rouge import lcs_length

__all__ = ["ROUGE_TYPES", "RougeScore", "add_arguments", "run", "score_xsum"]

ROUGE_TYPES = ("rouge1", "rouge2", "rougeL")
_NAMES = {"rouge1": "ROUGE-1", "rouge2": "ROUGE-2", "rougeL": "ROUGE-L", "rougeLsum": "ROUGE-Lsum"}


@cache
def _tokenizer(stemmer: bool) -> Any:
    """rouge-score's DefaultTokenizer, remembering each text's tokens and each word's stem (nltk's Porter
    stemmer is most of rouge-score's time): the same tokens, several times faster."""
    from nltk.stem import porter
    from rouge_score import tokenize, tokenizers

    class RememberingStemmer:
        stem = staticmethod(lru_cache(maxsize=1 << 20)(porter.PorterStemmer().stem))

    class RememberingTokenizer(tokenizers.Tokenizer):
        @lru_cache(maxsize=1 << 18)  # noqa: B019 -- one instance per stemmer setting, kept for the process
        def tokenize(self, text: str) -> list[str]:
            return tokenize.tokenize(text, RememberingStemmer if stemmer else None)

    return RememberingTokenizer()


def _score_lcs(target: list[str], prediction: list[str]) -> Any:
    """rouge_scorer._score_lcs with the bit-parallel LCS length of ``metrics.rouge`` (its DP table is the
    slow part of rouge-score; the length, hence every float, is the same)."""
    from rouge_score import scoring

    if not target or not prediction:
        return scoring.Score(precision=0, recall=0, fmeasure=0)
    lcs = lcs_length(target, prediction)
    precision, recall = lcs / len(prediction), lcs / len(target)
    return scoring.Score(precision=precision, recall=recall, fmeasure=scoring.fmeasure(precision, recall))


class RougeScore(Metric):
    """Mean F1 (or P / R) of one rouge-score type over segments."""

    def __init__(self, rouge_type: str = "rougeL", *, stemmer: bool = True, component: str = "fmeasure") -> None:
        if rouge_type not in _NAMES:
            raise ValueError(f"rouge_type must be one of {', '.join(_NAMES)}, not {rouge_type!r}")
        if component not in ("precision", "recall", "fmeasure"):
            raise ValueError(f"component must be precision, recall or fmeasure, not {component!r}")
        self.rouge_type, self.stemmer, self.component = rouge_type, stemmer, component
        self.name = _NAMES[rouge_type]

    def signature(self) -> str:
        return format_signature(self.name, {
            "impl": f"rouge-score-{version('rouge-score')}", "stem": f"porter-nltk-{version('nltk')}"
            if self.stemmer else "no", "score": self.component, "refs": "max-F", "agg": "mean",
        })

    def corpus_statistics(self, hypotheses: Sequence[str], references: Sequence[Sequence[str]]) -> np.ndarray:
        """(segments, 3): precision, recall, F1 per segment (best-F reference)."""
        from rouge_score import rouge_scorer

        check_corpus(hypotheses, references)
        tokenizer = _tokenizer(self.stemmer)
        if self.rouge_type == "rougeL":
            def pair(target: str, prediction: str) -> Any:
                return _score_lcs(tokenizer.tokenize(target), tokenizer.tokenize(prediction))
        else:
            scorer = rouge_scorer.RougeScorer([self.rouge_type], tokenizer=tokenizer)

            def pair(target: str, prediction: str) -> Any:
                return scorer.score(target, prediction)[self.rouge_type]
        rows = []
        for hyp, group in zip(hypotheses, references, strict=True):
            # score_multi: the reference with the best F (the first of equals, as np.argmax)
            rows.append(tuple(max((pair(ref, hyp) for ref in group), key=lambda s: s.fmeasure)))
        return np.array(rows, dtype=np.float64).reshape(-1, 3)

    def score_from_statistics(self, stats: np.ndarray) -> Score:
        column = ("precision", "recall", "fmeasure").index(self.component)
        value = float(np.mean(stats[:, column])) if len(stats) else 0.0
        return Score(self.name, value, self.signature(), {"segments": stats[:, column].tolist()})


def score_xsum(hypotheses: Sequence[str], references: Sequence[Sequence[str]], *, lsum: bool = False,
               sentence_sep: str | None = None, stemmer: bool = True) -> dict[str, Any]:
    """ROUGE-1/2/L mean F1 (and ROUGE-Lsum when ``lsum``), each with its signature."""
    check_corpus(hypotheses, references)
    if not hypotheses:
        raise ValueError("nothing to score: no hypotheses")
    result: dict[str, Any] = {}
    signatures = {}
    for rouge_type in ROUGE_TYPES + (("rougeLsum",) if lsum else ()):
        hyps, refs = hypotheses, references
        if rouge_type == "rougeLsum" and sentence_sep:
            hyps = [h.replace(sentence_sep, "\n") for h in hypotheses]
            refs = [[r.replace(sentence_sep, "\n") for r in group] for group in references]
        score = RougeScore(rouge_type, stemmer=stemmer).corpus_score(hyps, refs)
        result[score.name] = score.value
        signatures[score.name] = score.signature + (f"|sentences:split-at-{sentence_sep}" if rouge_type ==
                                                     "rougeLsum" and sentence_sep else "")
    result["signature"] = signatures
    return result


def read_lines(path: str | Path) -> list[str]:
    with open(path, encoding="utf-8") as handle:
        return [line.rstrip("\r\n") for line in handle]


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The suite's command-line options (``python -m metrics xsum ...``)."""
    parser.add_argument("--hyp", required=True, type=Path, help="summaries, one per line")
    parser.add_argument("--ref", required=True, type=Path, nargs="+",
                        help="reference summaries, one per line; several files = several references")
    parser.add_argument("--rouge-lsum", action="store_true", help="also ROUGE-Lsum (summary-level LCS)")
    parser.add_argument("--sentence-sep", metavar="STR",
                        help="for ROUGE-Lsum: split summaries into sentences at STR (e.g. '<n>')")
    parser.add_argument("--no-stemmer", action="store_true", help="rouge-score without the Porter stemmer")


def run(args: argparse.Namespace) -> dict[str, Any]:
    hypotheses = read_lines(args.hyp)
    streams = [read_lines(path) for path in args.ref]
    for path, stream in zip(args.ref, streams, strict=True):
        if len(stream) != len(hypotheses):
            raise ValueError(f"{args.hyp} has {len(hypotheses)} lines but {path} has {len(stream)}; "
                             "give one reference line per summary")
    references = [list(group) for group in zip(*streams, strict=True)]
    return score_xsum(hypotheses, references, lsum=args.rouge_lsum, sentence_sep=args.sentence_sep,
                      stemmer=not args.no_stemmer)
