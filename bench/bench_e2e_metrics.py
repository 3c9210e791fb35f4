"""Wall time of ``score_e2e`` on the 630 TGen outputs, against a baseline timed in the same run.

    python bench/bench_e2e_metrics.py [--data-dir DIR] [--fresh-cache]

Ours: a cold call (first in the process: JVMs start), then a warm call (Meteor JVM and
tokenisation caches reused), then each metric alone. Meteor loads the paraphrase table cut to
the references, which is built once per reference set and cached; ``--fresh-cache`` times that
one-off build too. Baseline: what measure_scores.py runs for the COCO metrics -- pycocoevalcap's
PTBTokenizer (two calls), Meteor (fresh JVM, full table), Rouge and Cider, one after the other --
plus sacrebleu for BLEU. The Perl mteval that measure_scores.py uses for BLEU/NIST is not
installed, so the baseline has no NIST and is faster than the official script (15.8 s on an idle
2-core machine).
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from metrics._paraphrase import cut_table  # noqa: E402
from metrics.bleu import BLEU  # noqa: E402
from metrics.cider import CIDEr  # noqa: E402
from metrics.meteor import METEOR, MeteorProcess  # noqa: E402
from metrics.nist import NIST  # noqa: E402
from metrics.ptb import ptb_tokenize_corpus  # noqa: E402
from metrics.rouge import ROUGE_L  # noqa: E402
from metrics.suites.e2e import load_e2e, score_e2e  # noqa: E402


def timed(fn: Callable[[], Any]) -> tuple[Any, float]:
    start = time.perf_counter()
    result = fn()
    return result, time.perf_counter() - start


def baseline(hyps: list[str], refs: list[list[str]]) -> tuple[dict[str, float], dict[str, float]]:
    """pycocoevalcap + sacrebleu, sequential, as measure_scores.py runs them."""
    import sacrebleu
    from pycocoevalcap.cider.cider import Cider
    from pycocoevalcap.meteor.meteor import Meteor
    from pycocoevalcap.rouge.rouge import Rouge
    from pycocoevalcap.tokenizer.ptbtokenizer import PTBTokenizer

    seconds: dict[str, float] = {}
    values: dict[str, float] = {}
    streams = [[group[k] if k < len(group) else None for group in refs] for k in range(max(map(len, refs)))]
    bleu, seconds["BLEU"] = timed(lambda: sacrebleu.corpus_bleu(hyps, streams, lowercase=True, tokenize="13a"))
    values["BLEU"] = bleu.score / 100
    gts = {i: [{"caption": r} for r in group] for i, group in enumerate(refs)}
    res = {i: [{"caption": h}] for i, h in enumerate(hyps)}
    (gts, res), seconds["PTB"] = timed(lambda: (PTBTokenizer().tokenize(gts), PTBTokenizer().tokenize(res)))
    for name, make in (("METEOR", Meteor), ("ROUGE_L", Rouge), ("CIDEr", Cider)):
        (value, _), seconds[name] = timed(lambda make=make: make().compute_score(gts, res))
        values[name] = float(value)
    seconds["total"] = sum(seconds.values())
    return values, seconds


def standalone(hyps: list[str], refs: list[list[str]]) -> dict[str, float]:
    """Each of our metrics alone (warm caches), plus a Meteor JVM start-up."""
    seconds: dict[str, float] = {}
    for metric in (BLEU(), NIST()):
        _, seconds[metric.name] = timed(lambda metric=metric: metric.corpus_score(hyps, refs))
    (tok_hyps, tok_refs), seconds["PTB"] = timed(lambda: ptb_tokenize_corpus(hyps, refs))
    for metric in (ROUGE_L(), CIDEr(), METEOR()):
        _, seconds[metric.name] = timed(
            lambda m=metric: m.score_from_statistics(m.statistics_from_tokens(tok_hyps, tok_refs))
        )

    def meteor_start(table: Path | None) -> None:
        with MeteorProcess(table) as process:
            process.statistics(["a"], [["a"]])  # first answer = paraphrase table loaded

    _, seconds["JVM start, cut table"] = timed(lambda: meteor_start(cut_table(tok_refs)))
    _, seconds["JVM start, full table"] = timed(lambda: meteor_start(None))
    return seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--data-dir", type=Path, default=Path(os.environ.get("HARNESS_DATA_DIR") or REPO.parent / "shared" / "data")
    )
    parser.add_argument(
        "--fresh-cache",
        action="store_true",
        help="use an empty cache, so the cold call also builds the cut paraphrase table",
    )
    args = parser.parse_args()
    if args.fresh_cache:
        os.environ["XDG_CACHE_HOME"] = tempfile.mkdtemp(prefix="bench-cache-")
    golden = args.data_dir / "golden" / "e2e"
    hyps, refs = load_e2e(golden / "tgen" / "hyp.txt", golden / "refs.txt")
    print(
        f"tgen: {len(hyps)} outputs, {sum(map(len, refs))} references; {os.cpu_count()} CPUs, "
        f"load average {os.getloadavg()[0]:.2f}"
    )

    cold_marks: dict[str, float] = {}
    ours, _ = timed(lambda: score_e2e(hyps, refs, timings=cold_marks))
    warm_marks: dict[str, float] = {}
    timed(lambda: score_e2e(hyps, refs, timings=warm_marks))
    alone = standalone(hyps, refs)
    base_values, base_seconds = baseline(hyps, refs)

    print("\nscore_e2e, seconds since the call started when each metric was done (metrics overlap):")
    print(f"  {'':8s} {'cold':>7s} {'warm':>7s}   alone (warm)")
    for name in ("BLEU", "NIST", "PTB", "ROUGE_L", "CIDEr", "METEOR", "total"):
        print(f"  {name:8s} {cold_marks[name]:7.2f} {warm_marks[name]:7.2f}   {alone.get(name, float('nan')):7.2f}")
    for name in ("JVM start, cut table", "JVM start, full table"):
        print(f"  Meteor {name} (until the first answer): {alone[name]:.2f} s")

    print("\nbaseline (pycocoevalcap + sacrebleu, sequential; no NIST):")
    for name, value in base_seconds.items():
        print(f"  {name:8s} {value:7.2f}")
    print(
        f"\nspeed-up vs baseline: cold {base_seconds['total'] / cold_marks['total']:.1f}x, "
        f"warm {base_seconds['total'] / warm_marks['total']:.1f}x"
    )

    print("\nvalues (ours | baseline):")
    for name, value in base_values.items():
        same = round(ours[name], 4) == round(value, 4) if name == "BLEU" else ours[name] == value
        print(f"  {name:8s} {ours[name]!r:22} | {value!r:22} {'identical' if same else 'DIFFERENT'}")
    print(f"  {'NIST':8s} {ours['NIST']!r:22} | (Perl mteval not installed)")


if __name__ == "__main__":
    main()
