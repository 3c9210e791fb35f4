"""The DART protocol: Yale-LILY/dart ``evaluation/run_eval_on_dart.sh`` (lexical metrics; neural ones on request).

* BLEU: ``multi-bleu.perl ref0 ref1 ref2 < hyp`` -- **cased** (no ``-lc``); the reference files'
  empty lines are 0-length references for the brevity penalty (BLEU 48.56 for BART-large, not the
  47.59 that skipping them gives).
* METEOR: ``prepare_files.py`` writes each output's non-empty references followed by empty lines up
  to 8, and Meteor 1.5 (CMU jar) runs ``-l en -norm -r 8`` on the raw output file.
* TER: tercom 0.7.25 on ``line.strip() (idN)`` lines of the outputs and of the non-empty references.
* MoverScore, BERTScore, BLEURT (``metrics.suites.dart_neural``) when asked for (``neural=...``,
  or ``--neural`` / a ``--model`` on the command line): they need model weights.
* ``lowercase``: the Prefix-Tuning author's extra step before the script (``tolower.py`` on the
  predictions; its text is not public: we apply ``str.lower()`` to each output line). The DART
  references of the 5,097-input test set are lowercased, so cased outputs lose a lot without it.
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
from ..multibleu import MultiBLEU
from ..ter import TER
from .webnlg import read_lines, with_settings

__all__ = ["add_arguments", "run", "score_dart"]

USES_MODELS = True  # the CLI adds --model/--num-layers/--batch-size/--bleurt-checkpoint (neural metrics)
METRICS = ("BLEU", "METEOR", "TER")
N_REFS = 3
METEOR_REFS = 8  # prepare_files.py pads every output's references to 8 lines


def score_dart(
    hypotheses: Sequence[str], references: Sequence[Sequence[str]], *, lowercase: bool = False,
    lowercase_references: bool = False, neural: dict[str, Any] | None = None,
    timings: dict[str, float] | None = None,
) -> dict[str, Any]:
    """BLEU, METEOR, TER (and the neural metrics if ``neural`` holds their options) with signatures.

    ``references[i]``: line i of each of the three reference files ('' for an empty line).
    ``lowercase``: the tolower step on the outputs; ``lowercase_references`` also lowercases the
    references (the 2021 reference files already are; for cased ones it makes the comparison
    case-insensitive, as lowercased outputs against lowercased references are).
    """
    check_corpus(hypotheses, references)
    if not hypotheses:
        raise ValueError("nothing to score: no hypotheses")
    start = time.perf_counter()
    clock = timings if timings is not None else {}
    hyps = [h.lower() for h in hypotheses] if lowercase else list(hypotheses)
    refs = [[r.lower() for r in group] if lowercase_references else list(group) for group in references]
    present = [[r for r in group if r] for group in refs]  # prepare_files.py skips empty reference lines
    too_many = [i for i, group in enumerate(present) if len(group) > METEOR_REFS]
    if too_many:
        raise ValueError(f"output {too_many[0] + 1} has more than {METEOR_REFS} references (Meteor runs -r 8)")
    missing = [i for i, group in enumerate(present) if not group]
    if missing:
        raise ValueError(f"output {missing[0] + 1} has no reference (check the reference files)")

    ter, meteor, bleu = TER(), METEORPlain(METEOR_REFS, meteor_workers()), MultiBLEU(lowercase=False)
    ter_stats = ter.submit([h.strip() for h in hyps], [[r.strip() for r in group] for group in present])
    with ThreadPoolExecutor(max_workers=1) as pool:
        def run_meteor() -> Any:
            score = meteor.corpus_score(hyps, present)
            clock["METEOR"] = time.perf_counter() - start
            return score

        meteor_score = pool.submit(run_meteor)
        bleu_score = bleu.corpus_score(hyps, refs)
        clock["BLEU"] = time.perf_counter() - start
        ter_score = ter.score_from_statistics(ter_stats())
        clock["TER"] = time.perf_counter() - start
        scores = {"BLEU": bleu_score, "METEOR": meteor_score.result(), "TER": ter_score}
    result: dict[str, Any] = {name: float(score.value) for name, score in scores.items()}
    prep = {"lowercase": "hyp+ref" if lowercase_references and lowercase else "ref" if lowercase_references
            else "hyp" if lowercase else "no"}
    signatures = {name: with_settings(score.signature, prep) for name, score in scores.items()}
    if neural is not None:
        from .dart_neural import score_dart_neural  # imported here: it loads torch and transformers

        extra = score_dart_neural(hyps, refs, **neural)
        signatures.update({name: with_settings(sig, prep) for name, sig in extra.pop("signature").items()})
        result.update(extra)
        clock["neural"] = time.perf_counter() - start
    clock["total"] = time.perf_counter() - start
    result["signature"] = signatures
    result["details"] = {"BLEU_line": bleu_score.details["line"], "TER_edits": ter_score.details["edits"],
                         "TER_avg_ref_words": ter_score.details["ref_words"]}
    return result


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The suite's command-line options (``python -m metrics dart ...``)."""
    parser.add_argument("--hyp", required=True, type=Path, help="system outputs, one per line (CRLF is fine)")
    parser.add_argument("--ref", required=True, type=Path, nargs="+", metavar="FILE",
                        help="the 3 reference files: all-delex-reference0.lex ...1.lex ...2.lex")
    parser.add_argument("--lowercase", action="store_true",
                        help="lowercase the outputs first (the Prefix-Tuning author's tolower.py step)")
    parser.add_argument("--neural", action="store_true",
                        help="also MoverScore and BERTScore (and BLEURT with --bleurt-checkpoint); needs the models")


def run(args: argparse.Namespace) -> dict[str, Any]:
    if len(args.ref) != N_REFS:
        raise ValueError(f"DART is scored against exactly {N_REFS} reference files "
                         f"(all-delex-reference0/1/2.lex); got {len(args.ref)}")
    hypotheses = read_lines(args.hyp)
    columns = [read_lines(path) for path in args.ref]
    for path, column in zip(args.ref, columns, strict=True):
        if len(column) != len(hypotheses):
            raise ValueError(f"{args.hyp} has {len(hypotheses)} lines but {path} has {len(column)}; "
                             "outputs and references must match line for line")
    neural = None
    model_options = {"model": getattr(args, "model", None), "num_layers": getattr(args, "num_layers", None),
                     "batch_size": getattr(args, "batch_size", None),
                     "bleurt_checkpoint": getattr(args, "bleurt_checkpoint", None)}
    if args.neural or model_options["model"] or model_options["bleurt_checkpoint"]:
        neural = model_options
    return score_dart(hypotheses, [list(group) for group in zip(*columns, strict=True)], lowercase=args.lowercase,
                      neural=neural)
