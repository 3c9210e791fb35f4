"""SuperGLUE as T5 (and so Lester et al.) score its validation sets, task by task, and the benchmark score.

Per task, t5/data/glue_utils.py ``SUPERGLUE_METRICS`` with t5/evaluation/metrics.py (see
metrics.classification and metrics.squad); predictions are label words, matched exactly:

* BoolQ, COPA, RTE, WiC: accuracy.
* CB: macro-F1 over the 3 classes (``mean_multiclass_f1(num_classes=3)``) and accuracy.
* MultiRC: F1a, the binary F1 of "True" over every answer option (``multirc_f1_over_all_answers``),
  and EM, the share of questions with every answer option right (``mean_group_metric(all_match)``).
* ReCoRD: EM and F1, each the max over the query's gold answers (``deduplicate_metric(squad)``,
  one row per query), with the SQuAD normalisation of ReCoRD's official ``evaluation.py``.
* WSC: a free-text prediction is turned into True/False by T5's ``postprocessors.wsc_simple``
  (below), then accuracy against the example's label.

An unparseable prediction (not one of the task's words) is wrong; see the signatures.
``superglue_score`` is the leaderboard's average: a task with two metrics counts with their mean,
then every task counts the same (the diagnostics AX-b and AX-g are not part of the score).

WSC, t5 ``postprocessors.wsc_simple``: both the prediction and the candidate referent are stripped,
lower-cased, split on single spaces, and the determiners in ``DETERMINERS`` (articles, possessives,
demonstratives, quantifiers) are dropped. An empty prediction is -1 (wrong for either label). If
exactly one of the two contains an apostrophe ("Bob" vs "Bob's hat") the prediction does not name
the candidate; otherwise it does when either word set contains the other ("fuzzy bunny" names
"bunny"). Punctuation is not removed: "the dog." does not name "dog".

References: ``python -m metrics superglue`` reads a prepared ``test.jsonl`` (``python -m harness
prepare``) or the official ``val.jsonl``; both go through the harness's own readers
(harness.data.superglue: TFDS's flattening and WSC span fixes), so both give the same rows.
"""

from __future__ import annotations

import argparse
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from ..base import Score, format_signature
from ..classification import INVALID, Accuracy, BinaryF1, Confusion, ExactMatchPerGroup, MacroF1
from ..squad import ExactMatch, TokenF1
from ._files import read_predictions

__all__ = ["LABELS", "TASK_METRICS", "add_arguments", "load_rows", "run", "score_superglue", "superglue_score",
           "wsc_simple"]

# T5's label classes (TFDS super_glue 1.0.2), in class order; ReCoRD answers are free text.
LABELS: dict[str, tuple[str, ...]] = {
    "boolq": ("False", "True"),
    "cb": ("entailment", "contradiction", "neutral"),
    "copa": ("choice1", "choice2"),
    "multirc": ("False", "True"),
    "record": (),
    "rte": ("entailment", "not_entailment"),
    "wic": ("False", "True"),
    "wsc": ("False", "True"),
}
# The metrics of each task, in the leaderboard's order; a task's score is their mean.
TASK_METRICS: dict[str, tuple[str, ...]] = {
    "boolq": ("accuracy",),
    "cb": ("macro_f1", "accuracy"),
    "copa": ("accuracy",),
    "multirc": ("f1a", "em"),
    "record": ("f1", "em"),
    "rte": ("accuracy",),
    "wic": ("accuracy",),
    "wsc": ("accuracy",),
}
DETERMINERS = frozenset({
    "a", "an", "few", "her", "his", "each", "every", "many", "much", "my", "our", "some", "that", "the", "their",
    "these", "this", "those", "which", "whose", "your",
})  # fmt: skip


def _wsc_clean(text: str) -> str:
    return " ".join(word for word in text.strip().lower().split(" ") if word not in DETERMINERS)


def wsc_simple(prediction: str, referent: str) -> int:
    """t5 ``postprocessors.wsc_simple``: 1 if the prediction names the candidate referent, 0 if not, -1 if empty."""
    prediction = _wsc_clean(prediction)
    if not prediction:
        return INVALID
    referent = _wsc_clean(referent)
    if ("'" in prediction) != ("'" in referent):
        return 0
    prediction_words, referent_words = set(prediction.split(" ")), set(referent.split(" "))
    return int(prediction_words <= referent_words or referent_words <= prediction_words)


def _field(rows: Sequence[Mapping[str, Any]], key: str, task: str) -> list:
    missing = [i for i, row in enumerate(rows) if key not in row]
    if missing:
        raise ValueError(f"{task}: test rows {missing[:5]} have no {key!r}; use the test.jsonl that "
                         "`python -m harness prepare` writes, or the official labelled val.jsonl")
    return [row[key] for row in rows]


def score_superglue(task: str, hypotheses: Sequence[str], rows: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """The T5 metrics of one SuperGLUE task on its test rows, plus ``average`` for two-metric tasks.

    ``rows`` are test.jsonl rows: ``references`` (the gold word; ReCoRD: every gold answer; WSC: the
    candidate referent), ``label`` (WSC's True/False) and ``group`` (MultiRC's question).
    Values are percentages; ``signature`` maps each metric to its signature.
    """
    if task not in LABELS:
        raise ValueError(f"unknown SuperGLUE task {task!r}; known: {', '.join(LABELS)}")
    if isinstance(hypotheses, str) or len(hypotheses) != len(rows):
        raise ValueError(f"{task}: {len(hypotheses)} predictions but {len(rows)} test rows; they must match one to one")
    if not rows:
        raise ValueError(f"{task}: nothing to score (no test rows)")
    labels = LABELS[task]
    references = _field(rows, "references", task)
    scores: dict[str, Score] = {}
    if task == "record":
        stats = ExactMatch().corpus_statistics(hypotheses, references)
        scores = {"f1": TokenF1().score_from_statistics(stats), "em": ExactMatch().score_from_statistics(stats)}
    elif task == "multirc":
        scores["f1a"] = BinaryF1(labels).corpus_score(hypotheses, references)
        scores["em"] = ExactMatchPerGroup(labels).corpus_score(hypotheses, references, _field(rows, "group", task))
    elif task == "wsc":
        golds = [labels.index(label) if label in labels else INVALID for label in _field(rows, "label", task)]
        if INVALID in golds:
            raise ValueError(f"wsc: test row {golds.index(INVALID)} has a label that is not True/False")
        named = [wsc_simple(h, group[0]) for h, group in zip(hypotheses, references, strict=True)]
        metric = Accuracy(labels, match="t5-wsc_simple")
        scores["accuracy"] = metric.score_from_statistics(Confusion.from_ids(len(labels), golds, named))
    else:
        stats = Accuracy(labels).corpus_statistics(hypotheses, references)
        if task == "cb":
            scores["macro_f1"] = MacroF1(labels).score_from_statistics(stats)
        scores["accuracy"] = Accuracy(labels).score_from_statistics(stats)
    names = TASK_METRICS[task]
    result: dict[str, Any] = {name: scores[name].value for name in names}
    signatures = {name: scores[name].signature for name in names}
    if len(names) > 1:  # the task's score in the SuperGLUE average
        result["average"] = sum(result[name] for name in names) / len(names)
        signatures["average"] = format_signature("average", {"of": "+".join(names)})
    return {**result, "signature": signatures}


def superglue_score(per_task: Mapping[str, Mapping[str, float]]) -> Score:
    """The SuperGLUE leaderboard score: the mean over tasks of each task's mean metric.

    ``per_task`` maps task -> its ``score_superglue`` result (at least ``TASK_METRICS[task]``).
    All 8 tasks make the benchmark score; fewer give their average, and the signature lists them.
    """
    if not per_task:
        raise ValueError("no tasks to average")
    unknown = sorted(set(per_task) - set(TASK_METRICS))
    if unknown:
        raise ValueError(f"unknown SuperGLUE tasks {unknown}; known: {', '.join(TASK_METRICS)}")
    tasks = [task for task in TASK_METRICS if task in per_task]  # leaderboard order
    task_scores = {}
    for task in tasks:
        missing = [name for name in TASK_METRICS[task] if name not in per_task[task]]
        if missing:
            raise ValueError(f"{task}: the SuperGLUE score needs {list(TASK_METRICS[task])}, missing {missing}")
        task_scores[task] = sum(per_task[task][name] for name in TASK_METRICS[task]) / len(TASK_METRICS[task])
    value = sum(task_scores.values()) / len(task_scores)
    settings = {"tasks": "+".join(tasks), "complete": "yes" if len(tasks) == len(TASK_METRICS) else "no",
                "task_score": "mean-of-metrics", "average": "macro-over-tasks"}
    return Score("SuperGLUE", value, format_signature("SuperGLUE", settings), {"task_scores": task_scores})


def load_rows(task: str, path: str | Path) -> list[dict]:
    """Test rows from a prepared ``test.jsonl`` or from the official SuperGLUE ``val.jsonl``.

    Both go through the harness's readers (imported only here), so the official file gives exactly
    the rows that ``prepare`` writes.
    """
    from harness.data.superglue import evaluation_examples, flatten, read_jsonl_file
    from harness.io import iter_jsonl, read_jsonl

    first = next(iter_jsonl(path), None)
    if first is None:
        raise ValueError(f"{path} has no rows")
    if "references" in first:
        return read_jsonl(path)
    examples = flatten(task, read_jsonl_file(Path(path)), str(path))
    missing = [ex["idx"] for ex in examples if task != "record" and ex.get("label") is None]
    if missing or (task == "record" and not all(ex["answers"] for ex in examples)):
        raise ValueError(f"{path} has no gold labels (is it the unlabelled test.jsonl?); score the val.jsonl")
    return [row for group in evaluation_examples(task, "val", examples) for row in group]


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The suite's command-line options (``python -m metrics superglue ...``)."""
    parser.add_argument("--task", required=True, nargs="+", choices=list(LABELS), metavar="TASK",
                        help=f"one or more of {', '.join(LABELS)}; with several, also the SuperGLUE average")
    parser.add_argument("--hyp", required=True, nargs="+", type=Path,
                        help="predictions, one per line (per answer option for MultiRC), one file per task")
    parser.add_argument("--ref", required=True, nargs="+", type=Path,
                        help="a prepared test.jsonl or the official val.jsonl, one file per task")


def run(args: argparse.Namespace) -> dict[str, Any]:
    if not len(args.task) == len(args.hyp) == len(args.ref):
        raise ValueError(f"give one --hyp and one --ref per --task: {len(args.task)} tasks, "
                         f"{len(args.hyp)} --hyp, {len(args.ref)} --ref")
    if len(set(args.task)) != len(args.task):
        raise ValueError(f"a task is given twice: {args.task}")
    results = {}
    for task, hyp, ref in zip(args.task, args.hyp, args.ref, strict=True):
        hypotheses, rows = read_predictions(hyp), load_rows(task, ref)
        if len(hypotheses) != len(rows):
            raise ValueError(f"{hyp} has {len(hypotheses)} predictions but {ref} has {len(rows)} {task} test rows; "
                             "they must match one to one")
        results[task] = score_superglue(task, hypotheses, rows)
    if len(results) == 1:
        return results[args.task[0]]
    average = superglue_score(results)
    return {"tasks": results, "SuperGLUE": average.value, "signature": {"SuperGLUE": average.signature}}
