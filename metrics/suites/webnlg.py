"""The WebNLG 2017 challenge protocol (``webnlg-automatic-evaluation``, as vendored in Yale-LILY/dart).

* Preprocessing (``evaluation.py``, unidecode 1.4.0): system outputs and references are
  transliterated to ASCII, lowercased and split on ``\\W`` (``metrics.webnlg_preprocess``); skip it
  for outputs that are already normalised (``preprocessed=True`` / ``--preprocessed``). Reference
  files are the official ``gold-*-cat-reference{0,1,2}.lex`` (already normalised); raw reference
  texts (e.g. from the XML) are normalised with the reference recipe (``raw_references``).
* Three references per input, **the first three only**, empty where an input has fewer.
* BLEU: ``multi-bleu.perl -lc ref0 ref1 ref2`` (empty reference lines are 0-length references).
* METEOR: Meteor 1.5 (CMU jar) ``-l en -norm -r 3`` on the three reference lines of each input.
* TER: tercom 0.7.25 on the non-empty references (``ref (idN)`` lines), edits of the best one over
  the average reference length.
* Splits: all; seen = the 10 training categories (971 inputs); unseen = MeanOfTransportation,
  CelestialBody, Politician, Athlete, Artist (891). Each split is scored as the official scripts
  score its own files (the all-cat files filtered in order); statistics are computed once per
  segment and summed per split, which gives the same numbers.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from ..base import check_corpus
from ..meteor_plain import METEORPlain, meteor_workers
from ..multibleu import MultiBLEU, sum_statistics
from ..ter import TER
from ..webnlg_preprocess import preprocess_hypothesis, preprocess_reference, read_submission

__all__ = ["SEEN_CATEGORIES", "SPLITS", "UNSEEN_CATEGORIES", "add_arguments", "read_lines", "read_seen_mask",
           "run", "score_webnlg", "seen_from_categories", "with_settings"]

METRICS = ("BLEU", "METEOR", "TER")
SPLITS = ("all", "seen", "unseen")
N_REFS = 3
SEEN_CATEGORIES = ("Astronaut", "Airport", "Monument", "University", "Food", "SportsTeam", "City", "Building",
                   "WrittenWork", "ComicsCharacter")  # evaluation.py's old_categories
UNSEEN_CATEGORIES = ("MeanOfTransportation", "CelestialBody", "Politician", "Athlete", "Artist")  # new_categories


def with_settings(signature: str, settings: dict[str, object]) -> str:
    """``signature`` with suite-level settings (e.g. the preprocessing) added before its version."""
    head, sep, version = signature.rpartition("|version:")
    if not sep:
        head, version = signature, ""
    extra = "".join(f"|{key}:{value}" for key, value in settings.items())
    return f"{head}{extra}{sep}{version}"


def seen_from_categories(categories: Sequence[str]) -> list[bool]:
    """Per input: True for a seen (training) category, False for an unseen one."""
    mask = []
    for i, category in enumerate(categories):
        name = category.strip()
        if name in SEEN_CATEGORIES or name == "seen":
            mask.append(True)
        elif name in UNSEEN_CATEGORIES or name == "unseen":
            mask.append(False)
        else:
            raise ValueError(f"line {i + 1}: {name!r} is not a WebNLG 2017 category (nor 'seen'/'unseen'); "
                             f"seen: {', '.join(SEEN_CATEGORIES)}; unseen: {', '.join(UNSEEN_CATEGORIES)}")
    return mask


def _split_indices(splits: Sequence[str], n: int, seen: Sequence[bool] | None) -> dict[str, list[int]]:
    unknown = [s for s in splits if s not in SPLITS]
    if unknown:
        raise ValueError(f"unknown WebNLG split(s) {unknown}; choose from {', '.join(SPLITS)}")
    if seen is None and any(s != "all" for s in splits):
        raise ValueError("the seen / unseen splits need each input's category: pass a seen mask or a category "
                         "file (--categories, e.g. golden/webnlg2017/test_split.tsv)")
    if seen is not None and len(seen) != n:
        raise ValueError(f"{n} outputs but {len(seen)} categories / seen flags; they must match line for line")
    out = {}
    for split in dict.fromkeys(splits):
        if split == "all":
            out[split] = list(range(n))
        else:
            out[split] = [i for i, flag in enumerate(seen) if flag == (split == "seen")]  # type: ignore[arg-type]
            if not out[split]:
                raise ValueError(f"no input is {split}: drop that split (--split) or check the categories")
    return out


def score_webnlg(
    hypotheses: Sequence[str], references: Sequence[Sequence[str]], *, splits: Sequence[str] = ("all",),
    seen: Sequence[bool] | None = None, preprocessed: bool = False, raw_references: bool = False,
    timings: dict[str, float] | None = None,
) -> dict[str, Any]:
    """BLEU, METEOR and TER per split: ``{split: {metric: value}, "signature": {...}, "details": {...}}``.

    ``references[i]``: the references of input i in file order (at most 3 are used; '' = none).
    ``seen[i]``: whether input i is in a seen category (needed for the seen / unseen splits).
    Values are fractions (BLEU 0.5806 is printed by multi-bleu.perl as 58.06).
    """
    check_corpus(hypotheses, references)
    if not hypotheses:
        raise ValueError("nothing to score: no hypotheses")
    start = time.perf_counter()
    clock = timings if timings is not None else {}
    indices = _split_indices(splits, len(hypotheses), seen)
    hyps = list(hypotheses) if preprocessed else [preprocess_hypothesis(h) for h in hypotheses]
    refs = [[preprocess_reference(r) if raw_references and r else r for r in group[:N_REFS]] for group in references]
    refs = [group + [""] * (N_REFS - len(group)) for group in refs]
    ter_refs = [[r for r in group if r] for group in refs]  # the -3ref.ter file has non-empty references only
    missing = [i for i, group in enumerate(ter_refs) if not group]
    if missing:
        raise ValueError(f"input {missing[0] + 1} has no reference; WebNLG inputs have 1-3 (check the reference files)")

    ter, meteor, bleu = TER(), METEORPlain(N_REFS, meteor_workers()), MultiBLEU(lowercase=True)
    ter_stats = ter.submit(hyps, ter_refs)  # forks its workers before any thread starts
    with ThreadPoolExecutor(max_workers=1) as pool:
        def run_meteor() -> list:
            stats = meteor.corpus_statistics(hyps, refs)
            values = meteor.evaluate([[stats[i] for i in idx] for idx in indices.values()])
            clock["METEOR"] = time.perf_counter() - start
            return values

        meteor_values = pool.submit(run_meteor)
        bleu_segments = bleu.segment_statistics(hyps, refs)
        bleu_scores = {split: bleu.score_from_statistics(sum_statistics([bleu_segments[i] for i in idx]))
                       for split, idx in indices.items()}
        clock["BLEU"] = time.perf_counter() - start
        ter_segments = ter_stats()
        ter_scores = {split: ter.score_from_statistics([ter_segments[i] for i in idx])
                      for split, idx in indices.items()}
        clock["TER"] = time.perf_counter() - start
        meteor_by_split = dict(zip(indices, meteor_values.result(), strict=True))
    clock["total"] = time.perf_counter() - start

    result: dict[str, Any] = {}
    details: dict[str, Any] = {}
    for split in indices:
        result[split] = {"BLEU": bleu_scores[split].value, "METEOR": meteor_by_split[split],
                         "TER": ter_scores[split].value}
        details[split] = {"segments": len(indices[split]), "BLEU_line": bleu_scores[split].details["line"],
                          "TER_edits": ter_scores[split].details["edits"],
                          "TER_avg_ref_words": ter_scores[split].details["ref_words"]}
    prep = {"hyp": "given" if preprocessed else "evaluation.py", "ref": "evaluation.py" if raw_references else "given"}
    result["signature"] = {metric.name: with_settings(metric.signature(), prep) for metric in (bleu, meteor, ter)}
    result["details"] = details
    return result


# --- files and the command line -------------------------------------------------------------


def read_lines(path: str | Path) -> list[str]:
    """Lines as multi-bleu.perl / Meteor / tercom get them: split on \\n, a trailing \\r dropped."""
    with open(path, encoding="utf-8", errors="surrogateescape", newline="") as handle:
        lines = handle.read().split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    return [line[:-1] if line.endswith("\r") else line for line in lines]


def read_seen_mask(path: str | Path) -> list[bool]:
    """Seen flags from a category file: one category (or 'seen'/'unseen') per line, or a TSV with a
    header that has a ``split`` or ``category`` column (e.g. golden/webnlg2017/test_split.tsv)."""
    lines = read_lines(path)
    if lines and "\t" in lines[0]:
        header = lines[0].split("\t")
        column = "split" if "split" in header else "category" if "category" in header else None
        if column is None:
            raise ValueError(f"{path}: a TSV category file needs a 'split' or 'category' column; header: {header}")
        k = header.index(column)
        return seen_from_categories([line.split("\t")[k] for line in lines[1:] if line])
    return seen_from_categories(lines)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The suite's command-line options (``python -m metrics webnlg ...``)."""
    parser.add_argument("--hyp", required=True, type=Path,
                        help="system outputs, one per input in test-set order (Id1..Id1862, or a split's inputs)")
    parser.add_argument("--ref", required=True, type=Path, nargs="+", metavar="FILE",
                        help="the 3 reference files, e.g. gold-all-cat-reference0.lex ...1.lex ...2.lex")
    parser.add_argument("--split", nargs="+", choices=SPLITS, metavar="SPLIT",
                        help="all, seen, unseen (several allowed; default: all, and seen + unseen with --categories)")
    parser.add_argument("--categories", type=Path, metavar="FILE",
                        help="each input's category or seen/unseen, one per line, or test_split.tsv")
    parser.add_argument("--preprocessed", action="store_true",
                        help="the outputs are already normalised (the challenge's teams/<team>_<split>.txt)")
    parser.add_argument("--raw-references", action="store_true",
                        help="the reference files hold raw texts: normalise them as evaluation.py does")


def run(args: argparse.Namespace) -> dict[str, Any]:
    if len(args.ref) != N_REFS:
        raise ValueError(f"WebNLG 2017 is scored against exactly {N_REFS} reference files "
                         f"(gold-all-cat-reference0/1/2.lex); got {len(args.ref)}")
    hypotheses = read_lines(args.hyp) if args.preprocessed else read_submission(args.hyp)
    columns = [read_lines(path) for path in args.ref]
    for path, column in zip(args.ref, columns, strict=True):
        if len(column) != len(hypotheses):
            raise ValueError(f"{args.hyp} has {len(hypotheses)} lines but {path} has {len(column)}; "
                             "outputs and references must match line for line")
    seen = read_seen_mask(args.categories) if args.categories else None
    splits = args.split or (SPLITS if seen is not None else ("all",))
    return score_webnlg(hypotheses, [list(group) for group in zip(*columns, strict=True)], splits=splits,
                        seen=seen, preprocessed=args.preprocessed, raw_references=args.raw_references)
