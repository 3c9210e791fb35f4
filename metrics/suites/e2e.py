"""The E2E NLG Challenge protocol: tuetschek/e2e-metrics ``measure_scores.py`` (@1b9c4d8), reproduced.

BLEU and NIST as mteval-v13a-sig.pl (E2E-modified), METEOR / ROUGE_L / CIDEr as the coco-caption
scorers on PTB tokens. File loading follows the script too:

* every line is stripped; a plain file holds one output per line;
* a ``.tsv``/``.csv`` file is a table (tab if the first line has a tab, else comma; CSV quoting),
  optionally with a header (``MR``/``mr``... and ``output``/``ref``...); in tables the script's
  mojibake fixes apply (Ł, Â£ -> £; Ã©, ã© -> é) and blank lines are ignored;
* fields are parsed as CSV, so "..." quotes go but '...' quotes stay part of the text, as in the
  script (the TNT outputs keep theirs; the golden refs.txt keeps "'The Phoenix' is ...");
* references from a table are grouped by identical MR (in the order of the system's MRs when
  the outputs come with MRs -- compared without surrounding quotes --, else in first-appearance
  order); a plain reference file holds groups separated by blank lines, or one reference per
  line if it has no blank line.

One deliberate difference: a UTF-8 byte-order mark is dropped from plain files too (the script
drops it from tables only); it is an encoding marker, not text.
"""

from __future__ import annotations

import argparse
import csv
import re
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from ..base import check_corpus
from ..bleu import BLEU
from ..cider import CIDEr
from ..meteor import METEOR
from ..nist import NIST, VARIANTS
from ..ptb import ptb_tokenize_corpus
from ..rouge import ROUGE_L

__all__ = ["add_arguments", "load_e2e", "load_hypotheses", "load_references", "run", "score_e2e"]

METRICS = ("BLEU", "NIST", "METEOR", "ROUGE_L", "CIDEr")
_FIXES = (("Ł", "£"), ("Â£", "£"), ("Ã©", "é"), ("ã©", "é"))
_MR_HEADER = re.compile(r"(mr|src|source|meaning[_ .-]?rep|da\b|dial(ogue)?[_ .-]act)", re.I)
_TEXT_HEADER = re.compile(r"(out(put)?|ref(erence)?|sys(tem)?|trg|tgt|target|human|text)", re.I)


def _is_table(path: Path) -> bool:
    return path.suffix.lower() in (".tsv", ".csv")


def _mr_key(mr: str) -> str:
    mr = mr.strip()
    if len(mr) >= 2 and mr[0] == mr[-1] and mr[0] in "'\"":
        mr = mr[1:-1].strip()
    return mr


def read_lines(path: str | Path) -> list[str]:
    """Stripped lines; universal newlines, so ``\\r\\r\\n`` endings give an extra blank line, as in the script."""
    with open(path, encoding="utf-8-sig") as handle:  # -sig: a BOM is not part of the first line
        return [line.strip() for line in handle]


def read_table(path: str | Path) -> tuple[list[str], list[str]]:
    """(MRs, texts) from an E2E TSV/CSV file."""
    lines = []
    for line in read_lines(path):
        for bad, good in _FIXES:
            line = line.replace(bad, good)
        if line:
            lines.append(line)
    if not lines:
        raise ValueError(f"{path}: no data")
    rows = list(csv.reader(lines, delimiter="\t" if "\t" in lines[0] else ","))
    mr_col = next((i for i, f in enumerate(rows[0]) if _MR_HEADER.match(f)), None)
    text_col = next((i for i, f in enumerate(rows[0]) if i != mr_col and _TEXT_HEADER.match(f)), None)
    if mr_col is not None and text_col is not None:
        rows = rows[1:]
    else:
        mr_col, text_col = 0, 1
    width = len(rows[0]) if rows else 2
    bad_rows = [i for i, row in enumerate(rows, start=1) if len(row) != width or width < 2]
    if bad_rows:
        raise ValueError(f"{path}: expected {max(width, 2)} columns (MR, text) on every row; "
                         f"wrong on data rows {bad_rows[:10]}")
    return [row[mr_col] for row in rows], [row[text_col] for row in rows]


def load_hypotheses(path: str | Path) -> tuple[list[str], list[str] | None]:
    """(outputs, MRs or None): a table ``MR<TAB>output`` or a plain file with one output per line."""
    path = Path(path)
    if _is_table(path):
        mrs, outputs = read_table(path)
        return outputs, mrs
    return read_lines(path), None


def load_references(path: str | Path, mrs: Sequence[str] | None = None) -> list[list[str]]:
    """Reference groups from ``testset_w_refs.csv``-style tables or ``refs.txt``-style text."""
    path = Path(path)
    if _is_table(path):
        ref_mrs, refs = read_table(path)
        groups: dict[str, list[str]] = {}
        for mr, ref in zip(ref_mrs, refs, strict=True):
            groups.setdefault(mr, []).append(ref)
        if mrs is None:
            return list(groups.values())
        # Order by the system's MRs; compare them without surrounding quotes (the TNT outputs
        # quote their MRs with '...', which CSV parsing keeps).
        by_key = {_mr_key(mr): group for mr, group in groups.items()}
        missing = [i for i, mr in enumerate(mrs, start=1) if _mr_key(mr) not in by_key]
        if missing:
            raise ValueError(f"{path}: no references for the MRs of system lines {missing[:10]}")
        if len(mrs) != len(groups):
            raise ValueError(f"the system has {len(mrs)} outputs but {path} has {len(groups)} reference groups")
        return [by_key[_mr_key(mr)] for mr in mrs]
    texts: list[list[str]] = [[]]
    for line in read_lines(path):
        if line:
            texts[-1].append(line)
        else:
            texts.append([])
    if not texts[-1]:
        texts.pop()
    if len(texts) == 1:  # no blank line at all: a single-reference file
        return [[ref] for ref in texts[0]]
    empty = [i for i, group in enumerate(texts, start=1) if not group]
    if empty:
        raise ValueError(f"{path}: empty reference groups (repeated blank lines) at groups {empty[:10]}")
    return texts


def load_e2e(hyp_path: str | Path, ref_path: str | Path) -> tuple[list[str], list[list[str]]]:
    """Outputs and their reference groups, with a clear error when the counts differ."""
    hypotheses, mrs = load_hypotheses(hyp_path)
    references = load_references(ref_path, mrs)
    if len(hypotheses) != len(references):
        raise ValueError(f"{hyp_path} has {len(hypotheses)} outputs but {ref_path} has "
                         f"{len(references)} reference groups; they must match one to one")
    return hypotheses, references


def score_e2e(
    hypotheses: list[str], references: list[list[str]], nist: str = "mteval", *,
    timings: dict[str, float] | None = None,
) -> dict[str, Any]:
    """The five official E2E scores plus their signatures.

    METEOR (a JVM) runs in a worker thread as soon as the PTB tokens are there, overlapping the
    pure-Python metrics. ``timings`` (if given) receives the wall-clock seconds at which each
    metric finished.
    """
    check_corpus(hypotheses, references)
    if not hypotheses:
        raise ValueError("nothing to score: no hypotheses")
    start = time.perf_counter()
    clock = timings if timings is not None else {}
    nist_metric, meteor = NIST(nist), METEOR()  # NIST(...) validates the variant before any JVM starts
    scores = {}
    with ThreadPoolExecutor(max_workers=2) as pool:
        tokens = pool.submit(ptb_tokenize_corpus, hypotheses, references)

        def run_meteor() -> Any:
            meteor.signature()  # hashes the jars (first run only) while PTB runs
            score = meteor.score_from_statistics(meteor.statistics_from_tokens(*tokens.result()))
            clock[meteor.name] = time.perf_counter() - start
            return score

        meteor_score = pool.submit(run_meteor)
        for metric in (BLEU(), nist_metric):
            scores[metric.name] = metric.corpus_score(hypotheses, references)
            clock[metric.name] = time.perf_counter() - start
        tok_hyps, tok_refs = tokens.result()
        clock["PTB"] = time.perf_counter() - start
        for metric in (ROUGE_L(), CIDEr()):
            scores[metric.name] = metric.score_from_statistics(metric.statistics_from_tokens(tok_hyps, tok_refs))
            clock[metric.name] = time.perf_counter() - start
        scores["METEOR"] = meteor_score.result()
    clock["total"] = time.perf_counter() - start
    result: dict[str, Any] = {name: float(scores[name].value) for name in METRICS}
    result["signature"] = {name: scores[name].signature for name in METRICS}
    return result


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The suite's command-line options (``python -m metrics e2e ...``)."""
    parser.add_argument("--hyp", required=True, type=Path,
                        help="system outputs: one per line, or an E2E table (MR<TAB>output, with header)")
    parser.add_argument("--ref", required=True, type=Path,
                        help="references: testset_w_refs.csv (grouped by MR) or refs.txt (blank-line separated groups)")
    parser.add_argument("--nist", choices=VARIANTS, default="mteval",
                        help="mteval: official E2E NIST (default); pymteval: measure_scores.py -p")


def run(args: argparse.Namespace) -> dict[str, Any]:
    hypotheses, references = load_e2e(args.hyp, args.ref)
    return score_e2e(hypotheses, references, nist=args.nist)
