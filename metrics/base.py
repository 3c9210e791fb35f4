"""What every metric shares: a Score that carries its signature, and the Metric shape.

As in sacreBLEU, a metric first reduces the corpus to sufficient statistics and then turns
those statistics into a number; the signature names every setting that can move that number.
References are grouped per segment (``references[i]`` holds the references of segment ``i``)
because E2E-style data has a variable number of references per input.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar

__all__ = ["MetricError", "Score", "Metric", "check_corpus", "clip_counts", "count_ngrams", "format_signature"]

VERSION = "0.1.0"


class MetricError(RuntimeError):
    """A metric could not run (missing Java, missing jar, a crashed subprocess...).

    The message says what went wrong and how to fix it.
    """


@dataclass(frozen=True)
class Score:
    name: str
    value: float
    signature: str
    details: Mapping[str, Any] = field(default_factory=dict, compare=False, repr=False)

    def __str__(self) -> str:
        return f"{self.name} = {self.value:.4f}  [{self.signature}]"


def format_signature(name: str, settings: Mapping[str, object]) -> str:
    """``name|key:value|...|version:X`` -- sacreBLEU's signature layout."""
    parts = [f"{key}:{value}" for key, value in settings.items()]
    return "|".join([name, *parts, f"version:{VERSION}"])


def check_corpus(hypotheses: Sequence[str], references: Sequence[Sequence[str]]) -> None:
    """Fail early, with counts, instead of silently zipping mismatched inputs."""
    if isinstance(hypotheses, str) or isinstance(references, str):
        raise TypeError("hypotheses must be a list of strings and references a list of lists of strings")
    if len(hypotheses) != len(references):
        raise ValueError(
            f"{len(hypotheses)} hypotheses but {len(references)} reference groups: "
            "give one group of references per hypothesis"
        )
    for i, group in enumerate(references):
        if isinstance(group, str) or len(group) == 0:
            raise ValueError(f"segment {i}: references must be a non-empty list of strings")


def count_ngrams(tokens: Sequence[str], max_n: int) -> Counter:
    """Counts of all 1..max_n-grams (as tuples), inserted n by n, left to right.

    That insertion order is the one coco-caption's ``precook`` produces; CIDEr sums floats in
    this order, so keeping it keeps CIDEr bit-identical.
    """
    counts: Counter = Counter()
    for n in range(1, max_n + 1):
        counts.update(zip(*(tokens[i:] for i in range(n)), strict=False))  # shifted views: shortest wins
    return counts


def clip_counts(hyp_counts: Mapping, ref_counts: Sequence[Mapping]) -> dict:
    """n-gram -> min(hypothesis count, largest count in any single reference), for matched n-grams."""
    best: dict = {}
    for counts in ref_counts:
        for ngram in hyp_counts.keys() & counts.keys():
            if counts[ngram] > best.get(ngram, 0):
                best[ngram] = counts[ngram]
    return {ngram: min(count, best[ngram]) for ngram, count in hyp_counts.items() if ngram in best}


class Metric(ABC):
    """A corpus metric: statistics first, then the score from the statistics."""

    name: ClassVar[str]

    def corpus_score(self, hypotheses: Sequence[str], references: Sequence[Sequence[str]]) -> Score:
        check_corpus(hypotheses, references)
        return self.score_from_statistics(self.corpus_statistics(hypotheses, references))

    @abstractmethod
    def corpus_statistics(self, hypotheses: Sequence[str], references: Sequence[Sequence[str]]) -> Any:
        """Reduce the corpus to what the score needs."""

    @abstractmethod
    def score_from_statistics(self, stats: Any) -> Score:
        """Turn statistics into a Score."""

    @abstractmethod
    def signature(self) -> str:
        """Every setting that changes the number."""
