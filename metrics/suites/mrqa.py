"""MRQA 2019 as its official ``mrqa_official_eval.py`` scores it: SQuAD v1.1 EM and F1 per dataset.

Every question's prediction is normalised as SQuAD v1.1 (metrics.squad: lower-case, ASCII
punctuation and the articles a/an/the removed, whitespace collapsed), and EM and F1 are each the
best over the question's gold answers; both are averaged over the questions of one dataset
(``100.0 * sum / total``), never pooled across datasets. Lester et al. ran T5's ``metrics.squad``,
which computes the same numbers.

References: a prepared ``test.jsonl`` (rows carry ``subset``, the dataset; its answers are T5's
punctuation-padded ones, the form the model is trained to output, as Lester et al. scored) or an
official ``<Dataset>.jsonl.gz`` (its raw ``answers``, as the official script reads them).
Predictions: one per line, in the order of the rows, or the official JSON object ``{qid: answer}``;
there, as in the script, a question without a prediction scores 0 (and is reported on stderr).
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from ..squad import ExactMatch, QAStats, TokenF1
from ._files import read_predictions

__all__ = ["add_arguments", "load_rows", "run", "score_mrqa"]

PREPARED = "prepared(t5-padded)"
OFFICIAL = "official"


def score_mrqa(hypotheses: Sequence[str | None], rows: Sequence[Mapping[str, Any]],
               answers: str = PREPARED) -> dict[str, Any]:
    """``{"<subset>/EM": ..., "<subset>/F1": ..., "signature": {...}}`` per dataset, in order of appearance.

    ``rows`` hold ``references`` (all gold answers) and ``subset`` (rows without one are "all");
    a ``None`` hypothesis is an unanswered question (scores 0, as the official script).
    """
    if isinstance(hypotheses, str) or len(hypotheses) != len(rows):
        raise ValueError(f"{len(hypotheses)} predictions but {len(rows)} questions; they must match one to one")
    if not rows:
        raise ValueError("nothing to score (no questions)")
    by_subset: dict[str, tuple[list[str], list[list[str]], list[int]]] = {}
    for i, (hypothesis, row) in enumerate(zip(hypotheses, rows, strict=True)):
        if not row.get("references"):
            raise ValueError(f"question {i} ({row.get('id', 'no id')}) has no gold answers")
        hyps, refs, unanswered = by_subset.setdefault(row.get("subset", "all"), ([], [], [0]))
        if hypothesis is None:
            unanswered[0] += 1
        else:
            hyps.append(hypothesis)
            refs.append(row["references"])
    em, f1 = ExactMatch(answers), TokenF1(answers)
    result: dict[str, Any] = {}
    signatures = {}
    for subset, (hyps, refs, unanswered) in by_subset.items():
        stats = (em.corpus_statistics(hyps, refs) if hyps else QAStats(0.0, 0.0, 0)) + QAStats(0.0, 0.0, unanswered[0])
        for metric in (em, f1):
            key = f"{subset}/{metric.name}"
            result[key] = metric.score_from_statistics(stats).value
            signatures[key] = metric.signature()
    result["signature"] = signatures
    return result


def load_rows(path: str | Path) -> tuple[list[dict], str]:
    """(rows, where the answers come from) from a prepared test.jsonl or an official MRQA .jsonl.gz."""
    # The harness's readers (imported only here).
    from harness.data.mrqa import read_release_file
    from harness.io import read_jsonl

    path = Path(path)
    if path.suffix != ".gz":
        return read_jsonl(path), PREPARED

    header, questions = read_release_file(path)
    subset = header.get("dataset", path.name.split(".")[0])
    return [{"id": q.qid, "references": list(q.answers), "subset": subset} for q in questions], OFFICIAL


def read_hypotheses(path: Path, rows: Sequence[Mapping[str, Any]]) -> list[str | None]:
    """Predictions in row order: from lines, or looked up by question id in the official JSON object."""
    if path.suffix != ".json":
        return list(read_predictions(path))
    with open(path, encoding="utf-8") as handle:
        predictions = json.load(handle)
    if not isinstance(predictions, dict):
        raise ValueError(f"{path}: the official prediction file is one JSON object {{question id: answer}}")
    hypotheses = [predictions.get(row["id"]) for row in rows]
    unanswered = sum(h is None for h in hypotheses)
    if unanswered:
        print(f"{unanswered} unanswered questions will receive score 0.", file=sys.stderr)
    return hypotheses


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The suite's command-line options (``python -m metrics mrqa ...``)."""
    parser.add_argument("--hyp", required=True, type=Path,
                        help="predictions: one per line in row order, or the official JSON {qid: answer}")
    parser.add_argument("--ref", required=True, nargs="+", type=Path,
                        help="a prepared test.jsonl, or one or more official MRQA <Dataset>.jsonl.gz files")


def run(args: argparse.Namespace) -> dict[str, Any]:
    loaded = [load_rows(path) for path in args.ref]
    sources = {source for _, source in loaded}
    if len(sources) > 1:
        raise ValueError("give either a prepared test.jsonl or official .jsonl.gz files, not both")
    rows = [row for part, _ in loaded for row in part]
    hypotheses = read_hypotheses(args.hyp, rows)
    if len(hypotheses) != len(rows):
        raise ValueError(f"{args.hyp} has {len(hypotheses)} predictions but the references have {len(rows)} "
                         "questions; they must match one to one (or use the JSON {qid: answer} format)")
    return score_mrqa(hypotheses, rows, answers=sources.pop())
