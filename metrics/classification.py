"""Classification metrics on label words, as T5 scores SuperGLUE and GLUE (t5/evaluation/metrics.py).

A prediction is mapped to its class by exact string match with the task's label words (t5
``postprocessors.string_label_to_class_id``: no case folding, no stripping); anything else is
class -1, "unparseable". Every metric here counts an unparseable prediction as wrong, each the way
T5 does, and its signature says which:

* ``Accuracy``: ``100 * sklearn.metrics.accuracy_score`` -- -1 never equals a gold class;
* ``BinaryF1``: ``f1_score_with_invalid`` -- a -1 becomes the opposite of the gold label (a false
  negative on a positive example, a false positive on a negative one);
* ``MacroF1``: ``mean_multiclass_f1`` = ``100 * sklearn fbeta_score(beta=1, labels=range(k),
  average="macro")`` -- -1 is outside ``labels``, so it is a false negative of the gold class and a
  false positive of none; a class with no true and no predicted example scores 0 (sklearn's
  zero-division value) and still counts in the mean;
* ``ExactMatchPerGroup``: ``mean_group_metric(all_match)`` (MultiRC EM) -- a group is right when
  every prediction in it equals its gold class.

Statistics first: the (gold, predicted) confusion counts, or the per-group outcomes.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Hashable, Sequence
from dataclasses import dataclass

from .base import Metric, Score, check_corpus, format_signature

__all__ = ["Accuracy", "BinaryF1", "Confusion", "ExactMatchPerGroup", "GroupStats", "MacroF1", "class_id"]

INVALID = -1


def class_id(prediction: str, labels: Sequence[str]) -> int:
    """t5 ``string_label_to_class_id``: the index of the label word, or -1."""
    return labels.index(prediction) if prediction in labels else INVALID


@dataclass(frozen=True)
class Confusion:
    """How often each (gold class, predicted class) pair occurred; predicted -1 is unparseable."""

    n_classes: int
    counts: Counter

    @classmethod
    def from_ids(cls, n_classes: int, golds: Sequence[int], predictions: Sequence[int]) -> Confusion:
        if len(golds) != len(predictions):
            raise ValueError(f"{len(predictions)} predictions but {len(golds)} gold labels")
        return cls(n_classes, Counter(zip(golds, predictions, strict=True)))

    def __add__(self, other: Confusion) -> Confusion:
        return Confusion(self.n_classes, self.counts + other.counts)

    @property
    def n(self) -> int:
        return sum(self.counts.values())

    @property
    def correct(self) -> int:
        return sum(count for (gold, pred), count in self.counts.items() if gold == pred)

    @property
    def invalid(self) -> int:
        return sum(count for (_, pred), count in self.counts.items() if pred == INVALID)

    def f1(self, k: int, invalid_as_opposite: bool = False) -> float:
        """sklearn's F1 of class ``k``: 2 tp / (true + predicted), 0 when both are 0.

        ``invalid_as_opposite`` (binary tasks): an unparseable prediction is predicted as the other class.
        """
        tp = self.counts[(k, k)]
        true = sum(count for (gold, _), count in self.counts.items() if gold == k)
        predicted = sum(count for (_, pred), count in self.counts.items() if pred == k)
        if invalid_as_opposite:
            predicted += sum(count for (gold, pred), count in self.counts.items() if pred == INVALID and gold != k)
        denominator = true + predicted
        return 2 * tp / denominator if denominator else 0.0


class ClassificationMetric(Metric):
    """A metric on label words: ``references[i]`` is ``[gold word]``; ``labels`` in class order."""

    invalid_rule: str

    def __init__(self, labels: Sequence[str], match: str = "exact") -> None:
        """``match`` names how predictions became classes when a caller maps them itself (WSC)."""
        if len(labels) < 2 or len(set(labels)) != len(labels):
            raise ValueError(f"labels must be at least two distinct words, got {list(labels)}")
        self.labels = tuple(labels)
        self.match = match

    def settings(self) -> dict[str, object]:
        return {"labels": ",".join(self.labels), "match": self.match, "invalid": self.invalid_rule}

    def signature(self) -> str:
        return format_signature(self.name, {**self.settings(), "scale": 100})

    def gold_ids(self, references: Sequence[Sequence[str]]) -> list[int]:
        golds = []
        for i, group in enumerate(references):
            if len(group) != 1 or group[0] not in self.labels:
                raise ValueError(f"example {i}: the reference must be one of {list(self.labels)}, got {list(group)}")
            golds.append(self.labels.index(group[0]))
        return golds

    def corpus_statistics(self, hypotheses: Sequence[str], references: Sequence[Sequence[str]]) -> Confusion:
        check_corpus(hypotheses, references)
        predictions = [class_id(h, self.labels) for h in hypotheses]
        return Confusion.from_ids(len(self.labels), self.gold_ids(references), predictions)

    def _check(self, stats: Confusion) -> None:
        if stats.n == 0:
            raise ValueError(f"{self.name}: nothing to score (no examples)")
        if stats.n_classes != len(self.labels):
            raise ValueError(f"{self.name}: statistics over {stats.n_classes} classes, metric over {len(self.labels)}")

    def _score(self, value: float, stats: Confusion) -> Score:
        return Score(self.name, value, self.signature(), {"n": stats.n, "invalid": stats.invalid})


class Accuracy(ClassificationMetric):
    name = "accuracy"
    invalid_rule = "wrong"

    def score_from_statistics(self, stats: Confusion) -> Score:
        self._check(stats)
        return self._score(100 * (stats.correct / stats.n), stats)


class BinaryF1(ClassificationMetric):
    """F1 of the positive class, ``labels[1]`` (T5 / GLUE: "equivalent", "duplicate", MultiRC "True")."""

    name = "f1"
    invalid_rule = "opposite-of-gold"

    def __init__(self, labels: Sequence[str], match: str = "exact") -> None:
        super().__init__(labels, match)
        if len(self.labels) != 2:
            raise ValueError(f"BinaryF1 needs two labels (negative, positive), got {list(labels)}")

    def settings(self) -> dict[str, object]:
        return {**super().settings(), "positive": self.labels[1]}

    def score_from_statistics(self, stats: Confusion) -> Score:
        self._check(stats)
        return self._score(100 * stats.f1(1, invalid_as_opposite=True), stats)


class MacroF1(ClassificationMetric):
    """Unweighted mean of the per-class F1 over all ``labels`` (T5's ``mean_<k>class_f1``)."""

    name = "macro_f1"
    invalid_rule = "missed-gold-class"

    def settings(self) -> dict[str, object]:
        return {**super().settings(), "average": "macro", "zero_division": 0}

    def score_from_statistics(self, stats: Confusion) -> Score:
        self._check(stats)
        per_class = [stats.f1(k) for k in range(len(self.labels))]
        score = self._score(100 * (sum(per_class) / len(per_class)), stats)
        return Score(score.name, score.value, score.signature, {**score.details, "per_class_f1": per_class})


@dataclass(frozen=True)
class GroupStats:
    correct: int  # groups whose every prediction is right
    groups: int


class ExactMatchPerGroup(ClassificationMetric):
    """The share of groups (MultiRC: questions) whose predictions are all right; ``groups[i]`` keys row ``i``."""

    name = "em"
    invalid_rule = "wrong"

    def corpus_score(self, hypotheses: Sequence[str], references: Sequence[Sequence[str]],
                     groups: Sequence[Hashable] | None = None) -> Score:
        return self.score_from_statistics(self.corpus_statistics(hypotheses, references, groups))

    def corpus_statistics(self, hypotheses: Sequence[str], references: Sequence[Sequence[str]],
                          groups: Sequence[Hashable] | None = None) -> GroupStats:
        check_corpus(hypotheses, references)
        if groups is None or len(groups) != len(hypotheses):
            raise ValueError(f"{len(hypotheses)} predictions need as many group keys, got "
                             f"{'none' if groups is None else len(groups)}")
        all_right: dict[Hashable, bool] = {}
        golds = self.gold_ids(references)
        for hypothesis, gold, group in zip(hypotheses, golds, groups, strict=True):
            all_right[group] = all_right.get(group, True) and class_id(hypothesis, self.labels) == gold
        return GroupStats(sum(all_right.values()), len(all_right))

    def settings(self) -> dict[str, object]:
        return {**super().settings(), "per": "group"}

    def score_from_statistics(self, stats: GroupStats) -> Score:
        if stats.groups == 0:
            raise ValueError(f"{self.name}: nothing to score (no groups)")
        return Score(self.name, 100.0 * stats.correct / stats.groups, self.signature(), {"groups": stats.groups})
