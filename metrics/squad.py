"""SQuAD-style answer scoring: the official normalisation, exact match and token F1, max over gold answers.

One definition serves three official scripts, which share it line for line:

* SQuAD v1.1 ``evaluate-v1.1.py`` (``normalize_answer``, ``exact_match_score``, ``f1_score``,
  ``metric_max_over_ground_truths``);
* the MRQA 2019 shared task's ``mrqa_official_eval.py`` (a copy of it, per dataset file);
* ReCoRD's ``evaluation.py`` (the SuperGLUE ReCoRD scorer, again a copy).

T5's ``qa_utils.normalize_squad`` / ``qa_metrics`` (what Lester et al. ran for ReCoRD and MRQA)
compute the same thing. The normalisation is: lower-case (Unicode ``str.lower``), delete ASCII
punctuation (``string.punctuation`` only: "–", "’", "«" stay), replace the words a / an / the by a
space (``\\b`` is Unicode-aware, as in the Python 3 scripts), and split on any whitespace.

Two edge cases kept from the scripts: an empty normalised prediction against an empty normalised
answer (e.g. "The" vs "a") is an exact match but has F1 0 (no common token); and EM and F1 are
each maximised over the gold answers separately, so they may come from different answers.
Scores are percentages (MRQA's ``100.0 * sum / total``; T5's ``100 * mean``).
"""

from __future__ import annotations

import re
import string
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from .base import Metric, Score, check_corpus, format_signature

__all__ = ["ExactMatch", "QAStats", "TokenF1", "exact_match", "max_over_answers", "normalize_answer", "token_f1"]

_PUNCTUATION = frozenset(string.punctuation)
_ARTICLES = re.compile(r"\b(a|an|the)\b")
NORMALISATION = "squad-v1.1"  # lower, ASCII punctuation, articles, whitespace


def normalize_answer(text: str) -> str:
    """``white_space_fix(remove_articles(remove_punc(lower(s))))``, as the official scripts."""
    text = "".join(ch for ch in text.lower() if ch not in _PUNCTUATION)
    return " ".join(_ARTICLES.sub(" ", text).split())


def exact_match(prediction: str, answer: str) -> bool:
    return normalize_answer(prediction) == normalize_answer(answer)


def token_f1(prediction: str, answer: str) -> float:
    """Bag-of-tokens F1 of the normalised strings; 0 when no token is shared (even if both are empty)."""
    pred_tokens = normalize_answer(prediction).split()
    gold_tokens = normalize_answer(answer).split()
    num_same = sum((Counter(pred_tokens) & Counter(gold_tokens)).values())
    if num_same == 0:
        return 0
    precision = 1.0 * num_same / len(pred_tokens)
    recall = 1.0 * num_same / len(gold_tokens)
    return (2 * precision * recall) / (precision + recall)


def max_over_answers(metric: Callable[[str, str], float], prediction: str, answers: Sequence[str]) -> float:
    """``metric_max_over_ground_truths``: the best score against any gold answer."""
    return max(metric(prediction, answer) for answer in answers)


@dataclass(frozen=True)
class QAStats:
    """Sums of per-question best EM (0/1) and best F1 (0..1), and the number of questions."""

    em: float
    f1: float
    n: int

    def __add__(self, other: QAStats) -> QAStats:
        return QAStats(self.em + other.em, self.f1 + other.f1, self.n + other.n)


class _SQuADMetric(Metric):
    """EM or F1 over questions; ``references[i]`` holds every gold answer of question ``i``."""

    field: str

    def __init__(self, answers: str = "as-given") -> None:
        """``answers`` says where the gold answers came from (e.g. T5-padded ones), for the signature."""
        self.answers = answers

    def signature(self) -> str:
        settings = {"norm": NORMALISATION, "refs": "max", "answers": self.answers, "scale": 100}
        return format_signature(self.name, settings)

    def corpus_statistics(self, hypotheses: Sequence[str], references: Sequence[Sequence[str]]) -> QAStats:
        check_corpus(hypotheses, references)
        em = f1 = 0.0
        for prediction, answers in zip(hypotheses, references, strict=True):
            em += max_over_answers(exact_match, prediction, answers)
            f1 += max_over_answers(token_f1, prediction, answers)
        return QAStats(em, f1, len(hypotheses))

    def score_from_statistics(self, stats: QAStats) -> Score:
        if stats.n == 0:
            raise ValueError(f"{self.name}: nothing to score (no questions)")
        value = 100.0 * getattr(stats, self.field) / stats.n
        return Score(self.name, value, self.signature(), {"questions": stats.n})


class ExactMatch(_SQuADMetric):
    name = "EM"
    field = "em"


class TokenF1(_SQuADMetric):
    name = "F1"
    field = "f1"
