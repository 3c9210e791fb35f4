"""METEOR 1.5 as WebNLG 2017 and DART run it: the CMU jar in plaintext mode, ``-l en -norm -r N``.

This is a different jar from the one E2E uses (``metrics.meteor``, coco-caption's build driven
over ``-stdio``): the CMU release, which pip ``pycocoevalcap`` ships as
``spice/lib/Meteor-1.5.jar`` (byte-identical to DART's ``evaluation/meteor-1.5/meteor-1.5.jar``).
The official command is ``java -Xmx2G -jar meteor-1.5.jar hyp refs -l en -norm -r N``: ``refs``
holds N lines per segment (empty lines where a segment has fewer references; an empty reference
scores 0, and the best-scoring reference wins, the first one on ties), ``-norm`` tokenises,
normalises punctuation and lowercases, and the "Final score" comes from the corpus sums of the
segments' sufficient statistics (not a mean of segment scores).

Here the same jar runs the same files in the same mode with ``-ssOut`` (per-segment statistics,
the very numbers the plaintext run adds up), on consecutive slices of the corpus in parallel JVMs;
the statistics are summed exactly as ``MeteorStats.addStats`` does (a perfect segment -- all words
matched in one chunk -- adds no chunk), and the jar's own ``EVAL`` (``-stdio``) turns the sums into
the score, so any subset (WebNLG's seen / unseen) is scored from one run. The paraphrase table is
the one DART ships (pycocoevalcap's ``meteor/data/paraphrase-en.gz``, the same bytes), cut to the
entries that can match the references (``metrics._paraphrase``: same statistics, ~1 s to load). That
cut is exact for this jar too: it differs from coco's only in its command-line class (``Meteor``);
the normaliser, aligner, matchers and scorer are the same bytes.
"""

from __future__ import annotations

import os
import subprocess
import tempfile
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from ._java import JVM_FLAGS, coco_file, java_executable, sha256_file
from ._paraphrase import PARAPHRASES, cut_table
from .base import Metric, MetricError, Score, format_signature
from .meteor import JVM_OPTIONS, WORKERS

__all__ = ["CMU_JAR", "METEORPlain", "aggregate_statistics", "meteor_workers", "paraphrase_table"]

CMU_JAR = "spice/lib/Meteor-1.5.jar"
STATS_LENGTH = 23  # MeteorStats.STATS_LENGTH: 4 lengths, 4 modules x 4 match counts, chunks, 2 word matches
_LINE_BREAKS = str.maketrans({"\n": " ", "\r": " "})  # Java's readLine would split the segment there


def aggregate_statistics(stats: Sequence[Sequence[float]]) -> list[float]:
    """Sum per-segment statistics as ``MeteorStats.addStats`` does, in segment order."""
    total = [0.0] * STATS_LENGTH
    for segment in stats:
        test_matches = sum(segment[4:20:4]) + sum(segment[6:20:4])
        ref_matches = sum(segment[5:20:4]) + sum(segment[7:20:4])
        perfect = test_matches == segment[0] and ref_matches == segment[1] and segment[20] == 1.0
        for k, value in enumerate(segment):
            if k != 20 or not perfect:  # a perfect segment's single chunk is not counted
                total[k] += value
    return total


# Reference sets whose cut tables this process has, by their texts: a table cut to a set of references
# keeps every entry that can fire for any subset of them (same scores), so a subset (a split, a
# sample) reuses it instead of scanning the whole table again (seconds).
_TABLES: list[tuple[frozenset[str], Path]] = []


def paraphrase_table(references: Sequence[Sequence[str]]) -> Path:
    """The paraphrase table for these references: a cut one (built or cached), else the whole table."""
    texts = frozenset(text.strip() for group in references for text in group)
    for known, table in _TABLES:
        if texts <= known and table.is_file():
            return table
    try:
        table = cut_table(references)
    except MetricError:  # a table we cannot cut safely: load it whole (slower, same scores)
        return coco_file(PARAPHRASES)
    _TABLES.append((texts, table))
    return table


def meteor_workers() -> int:
    """Meteor JVMs for a suite that runs TER (which takes every core) at the same time: one on a
    machine with two cores or fewer (a second JVM would only add its start-up), else two."""
    return 1 if (os.cpu_count() or 1) <= 2 else min(2, WORKERS)


def _clean(text: str) -> str:
    return text.translate(_LINE_BREAKS)


class METEORPlain(Metric):
    """The CMU Meteor 1.5 jar, plaintext mode, ``-l en -norm -r refs_per_segment``.

    ``references[i]``: the N reference lines of segment i in file order ('' for an empty line);
    shorter groups are padded with empty lines, as the official reference files are.
    """

    name = "METEOR"

    def __init__(self, refs_per_segment: int, workers: int = WORKERS) -> None:
        if refs_per_segment < 1:
            raise ValueError("refs_per_segment (Meteor's -r) must be at least 1")
        self.refs_per_segment = refs_per_segment
        self.workers = max(1, workers)
        self._table: Path | None = None  # the paraphrase table used for the last statistics

    def options(self) -> list[str]:
        return ["-l", "en", "-norm", "-r", str(self.refs_per_segment)]

    def signature(self) -> str:
        return format_signature(self.name, {
            "impl": f"meteor-1.5-cmu.{sha256_file(coco_file(CMU_JAR))[:12]}",
            "para": f"paraphrase-en.{sha256_file(coco_file(PARAPHRASES))[:12]}",
            "opts": " ".join(self.options()), "mode": "plaintext", "modules": "exact,stem,synonym,paraphrase",
            "agg": "corpus-stats",
        })

    def _command(self, table: Path, *files: str) -> list[str]:
        return [java_executable(), *JVM_OPTIONS, *JVM_FLAGS, "-jar", str(coco_file(CMU_JAR)), *files,
                *self.options(), "-a", str(table)]

    def _run_slice(self, table: Path, hypotheses: Sequence[str],
                   references: Sequence[Sequence[str]]) -> list[list[float]]:
        with tempfile.TemporaryDirectory(prefix="meteor-") as tmp:
            hyp_file, ref_file = os.path.join(tmp, "hyp.txt"), os.path.join(tmp, "refs.txt")
            with open(hyp_file, "w", encoding="utf-8", errors="surrogateescape", newline="\n") as out:
                out.writelines(_clean(h) + "\n" for h in hypotheses)
            with open(ref_file, "w", encoding="utf-8", errors="surrogateescape", newline="\n") as out:
                for group in references:
                    out.writelines(_clean(r) + "\n" for r in group)
                    out.write("\n" * (self.refs_per_segment - len(group)))
            done = subprocess.run(self._command(table, hyp_file, ref_file, "-ssOut"), capture_output=True,
                                  timeout=3600, check=False)
        lines = done.stdout.decode("utf-8", "replace").splitlines()
        try:
            stats = [[float(x) for x in line.split()] for line in lines]
        except ValueError:
            stats = []
        if done.returncode != 0 or len(stats) != len(hypotheses) or any(len(s) != STATS_LENGTH for s in stats):
            tail = done.stderr.decode("utf-8", "replace").strip().splitlines()[-3:]
            raise MetricError(f"Meteor (CMU jar, plaintext) failed: exit {done.returncode}, {len(lines)} of "
                              f"{len(hypotheses)} statistics lines. stderr: {' | '.join(tail) or '(empty)'}")
        return stats

    def corpus_statistics(self, hypotheses: Sequence[str], references: Sequence[Sequence[str]]) -> list[list[float]]:
        """Meteor's sufficient statistics, one list of 23 numbers per segment."""
        too_many = [i for i, group in enumerate(references) if len(group) > self.refs_per_segment]
        if too_many:
            raise ValueError(f"segment {too_many[0]} has {len(references[too_many[0]])} references but Meteor "
                             f"runs with -r {self.refs_per_segment}")
        if not hypotheses:
            return []
        table = self._table = paraphrase_table([[_clean(r) for r in group] for group in references])
        size = -(-len(hypotheses) // self.workers)
        slices = [slice(start, start + size) for start in range(0, len(hypotheses), size)]
        with ThreadPoolExecutor(len(slices)) as pool:
            parts = pool.map(lambda part: self._run_slice(table, hypotheses[part], references[part]), slices)
            return [stats for part in parts for stats in part]

    def evaluate(self, subsets: Sequence[Sequence[Sequence[float]]]) -> list[float]:
        """The jar's corpus score of each subset of segment statistics (one JVM, one EVAL each)."""
        table = self._table or cut_table([])  # EVAL only needs the English parameters: any table will do
        command = self._command(table, "-", "-") + ["-stdio"]
        lines = ["EVAL ||| " + " ".join(repr(x) for x in aggregate_statistics(s)) for s in subsets]
        done = subprocess.run(command, input="".join(line + "\n" for line in lines).encode(), capture_output=True,
                              timeout=600, check=False)
        try:
            values = [float(x) for x in done.stdout.decode().split()]
        except ValueError:
            values = []
        if done.returncode != 0 or len(values) != len(lines):
            tail = done.stderr.decode("utf-8", "replace").strip().splitlines()[-3:]
            raise MetricError(f"Meteor (CMU jar) EVAL failed: exit {done.returncode}. "
                              f"stderr: {' | '.join(tail) or '(empty)'}")
        return values

    def scores_from_statistics(self, subsets: Sequence[Sequence[Sequence[float]]]) -> list[Score]:
        signature = self.signature()
        return [Score(self.name, value, signature, {"segments": len(s)})
                for value, s in zip(self.evaluate(subsets), subsets, strict=True)]

    def score_from_statistics(self, stats: Sequence[Sequence[float]]) -> Score:
        return self.scores_from_statistics([stats])[0]
