"""GLUE MRPC and QQP as T5 scores them, and Lester et al.'s QQP <-> MRPC zero-shot transfer.

t5/data/glue_utils.py ``GLUE_METRICS``: both tasks report F1 of the positive class ("equivalent",
"duplicate"; ``f1_score_with_invalid``) and accuracy, on label words matched exactly (an
unparseable prediction is wrong: for F1 it counts as the opposite of the gold label). ``average``
is their mean, which is how the GLUE leaderboard counts a two-metric task in its score.

Transfer (prompt-tuning's data/glue_transfer.py): a model trained on one task answers in that
task's words, and each prediction is rewritten into the test task's words before scoring, with
``qqp_to_mrpc`` / ``mrpc_to_qqp``: ``prediction.replace("duplicate", "equivalent")`` (or back). The
replacement is a substring one, so "not_duplicate" becomes "not_equivalent", and a prediction
already in the test task's words stays valid, as in the official postprocessor.

References: a prepared ``test.jsonl`` (its ``label`` is the test task's word; its ``references``
are in the training task's words, which tell which task the model was trained on) or the official
GLUE ``dev.tsv``, read by the harness's own GLUE reader.
"""

from __future__ import annotations

import argparse
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from ..base import format_signature
from ..classification import Accuracy, BinaryF1
from ._files import read_predictions

__all__ = ["LABELS", "add_arguments", "check_label_map", "load_golds", "run", "score_glue", "translate"]

# T5's label classes (TFDS glue), in class order: index 1 is F1's positive class.
LABELS: dict[str, tuple[str, str]] = {
    "mrpc": ("not_equivalent", "equivalent"),
    "qqp": ("not_duplicate", "duplicate"),
}


def translate(prediction: str, trained_on: str, task: str) -> str:
    """prompt-tuning's ``qqp_to_mrpc`` / ``mrpc_to_qqp``: the training task's positive word -> the test task's."""
    return prediction.replace(LABELS[trained_on][1], LABELS[task][1])


def check_label_map(label_map: Mapping[str, str], trained_on: str, task: str) -> None:
    """A prepared transfer variant's ``label_map`` must be the pairing ``translate`` applies."""
    expected = dict(zip(LABELS[trained_on], LABELS[task], strict=True))
    if dict(label_map) != expected:
        raise ValueError(f"the label map {dict(label_map)} is not the {trained_on} -> {task} mapping {expected}")


def score_glue(hypotheses: Sequence[str], golds: Sequence[str], task: str,
               trained_on: str | None = None) -> dict[str, Any]:
    """F1, accuracy and their average (percentages) of ``task``'s gold words ``golds``.

    ``trained_on`` (another task): the predictions are in its words and are translated first.
    """
    for name in (task, trained_on or task):
        if name not in LABELS:
            raise ValueError(f"unknown GLUE task {name!r}; known: {', '.join(LABELS)}")
    if isinstance(hypotheses, str) or len(hypotheses) != len(golds):
        raise ValueError(f"{len(hypotheses)} predictions but {len(golds)} gold labels; they must match one to one")
    match = "exact"
    if trained_on is not None and trained_on != task:
        hypotheses = [translate(h, trained_on, task) for h in hypotheses]
        match = f"{trained_on}_to_{task}+exact"
    labels = LABELS[task]
    references = [[gold] for gold in golds]
    f1, accuracy = BinaryF1(labels, match=match), Accuracy(labels, match=match)
    stats = accuracy.corpus_statistics(hypotheses, references)
    scores = {"f1": f1.score_from_statistics(stats), "accuracy": accuracy.score_from_statistics(stats)}
    result: dict[str, Any] = {name: score.value for name, score in scores.items()}
    result["average"] = (result["f1"] + result["accuracy"]) / 2
    signatures = {name: score.signature for name, score in scores.items()}
    signatures["average"] = format_signature("average", {"of": "f1+accuracy"})
    return {**result, "signature": signatures}


def _task_of(words: set[str], what: str) -> str:
    for task, labels in LABELS.items():
        if words <= set(labels):
            return task
    raise ValueError(f"the {what} words {sorted(words)} are not the labels of one of {', '.join(LABELS)}")


def load_golds(task: str, path: str | Path) -> tuple[list[str], str | None]:
    """(gold words of ``task``, the task the prepared rows were trained on or None) from test.jsonl or dev.tsv."""
    # The harness's readers (imported only here); the TSV one knows QUOTE_NONE, the BOM, skipped rows.
    from harness.data.glue import read_tsv
    from harness.io import read_jsonl

    path = Path(path)
    if path.suffix == ".tsv":
        pairs, _ = read_tsv(task, path)
        return [pair.label for pair in pairs], None
    rows = read_jsonl(path)
    if not rows:
        raise ValueError(f"{path} has no rows")
    golds = [row.get("label") for row in rows]
    if None in golds:
        raise ValueError(f"{path}: row {golds.index(None)} has no label; use the test.jsonl that "
                         "`python -m harness prepare` writes")
    if _task_of(set(golds), "label") != task:
        raise ValueError(f"{path} holds {_task_of(set(golds), 'label')} labels, not {task}'s")
    trained_on = _task_of({word for row in rows for word in row["references"]}, "reference")
    return golds, trained_on


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The suite's command-line options (``python -m metrics glue ...``)."""
    parser.add_argument("--task", required=True, choices=list(LABELS), help="the task of the test set")
    parser.add_argument("--trained-on", choices=list(LABELS),
                        help="the task whose words the predictions use (zero-shot transfer); default: the "
                             "prepared test.jsonl's, else --task")
    parser.add_argument("--hyp", required=True, type=Path, help="predictions, one label word per line")
    parser.add_argument("--ref", required=True, type=Path, help="a prepared test.jsonl or the official dev.tsv")


def run(args: argparse.Namespace) -> dict[str, Any]:
    golds, prepared_for = load_golds(args.task, args.ref)
    if args.trained_on and prepared_for and args.trained_on != prepared_for:
        raise ValueError(f"{args.ref} was prepared for a model trained on {prepared_for}, not {args.trained_on}")
    hypotheses = read_predictions(args.hyp)
    if len(hypotheses) != len(golds):
        raise ValueError(f"{args.hyp} has {len(hypotheses)} predictions but {args.ref} has {len(golds)} examples; "
                         "they must match one to one")
    return score_glue(hypotheses, golds, args.task, args.trained_on or prepared_for)
