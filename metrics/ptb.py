"""The COCO caption scorers' tokenisation: Stanford CoreNLP 3.4.1 PTBTokenizer, then punctuation dropped.

coco-caption runs ``PTBTokenizer -preserveLines -lowerCase`` over one caption per line and
removes the tokens in ``PUNCTUATIONS``. Here all hypotheses and references go through ONE Java
call (the tokenizer is line-by-line, so this gives the same tokens as coco's two calls).
"""

from __future__ import annotations

import subprocess
from abc import abstractmethod
from collections.abc import Sequence
from typing import Any

from ._java import JVM_FLAGS, coco_file, java_executable, sha256_file
from .base import Metric, MetricError

__all__ = ["PUNCTUATIONS", "PTBMetric", "ptb_signature", "ptb_tokenize", "ptb_tokenize_corpus"]

JAR = "tokenizer/stanford-corenlp-3.4.1.jar"
PUNCTUATIONS = frozenset(
    ["''", "'", "``", "`", "-LRB-", "-RRB-", "-LCB-", "-RCB-", ".", "?", "!", ",", ":", "-", "--", "...", ";"]
)
# Characters the tokenizer treats as line ends; inside a caption they would shift every later
# line (coco replaces "\n" for the same reason).
_LINE_BREAKS = str.maketrans({c: " " for c in "\n\r\x0b\x0c\u2028\u2029"})


def ptb_signature() -> str:
    return f"ptb-corenlp-3.4.1.{sha256_file(coco_file(JAR))[:12]}-lc-nopunct"


def ptb_tokenize(texts: Sequence[str], timeout: float = 600) -> list[str]:
    """Tokenised, lowercased, punctuation-free versions of ``texts`` (space-joined tokens)."""
    if not texts:
        return []
    # A short-lived JVM: C1 only and the serial collector start faster and leave the other
    # core to the Meteor JVM that loads at the same time.
    command = [java_executable(), "-XX:TieredStopAtLevel=1", "-XX:+UseSerialGC", *JVM_FLAGS, "-cp", str(coco_file(JAR)),
               "edu.stanford.nlp.process.PTBTokenizer", "-preserveLines", "-lowerCase"]
    payload = "".join(text.translate(_LINE_BREAKS) + "\n" for text in texts).encode("utf-8")
    try:
        done = subprocess.run(command, input=payload, capture_output=True, timeout=timeout, check=False)
    except subprocess.TimeoutExpired as err:
        raise MetricError(f"PTBTokenizer did not finish within {timeout:.0f} s") from err
    if done.returncode != 0:
        tail = done.stderr.decode("utf-8", "replace").strip().splitlines()[-3:]
        raise MetricError(f"PTBTokenizer failed (exit {done.returncode}): {' | '.join(tail)}")
    lines = done.stdout.decode("utf-8").split("\n")
    if len(lines) != len(texts) + 1 or lines[-1] != "":
        raise MetricError(f"PTBTokenizer returned {len(lines) - 1} lines for {len(texts)} inputs")
    return [" ".join(w for w in line.rstrip().split(" ") if w not in PUNCTUATIONS) for line in lines[:-1]]


def ptb_tokenize_corpus(
    hypotheses: Sequence[str], references: Sequence[Sequence[str]]
) -> tuple[list[str], list[list[str]]]:
    """Hypotheses and grouped references through a single tokenizer call."""
    flat = list(hypotheses) + [ref for group in references for ref in group]
    tokens = ptb_tokenize(flat)
    hyps, rest = tokens[: len(hypotheses)], iter(tokens[len(hypotheses):])
    return hyps, [[next(rest) for _ in group] for group in references]


class PTBMetric(Metric):
    """A COCO scorer: its statistics are computed on PTB tokens."""

    def corpus_statistics(self, hypotheses: Sequence[str], references: Sequence[Sequence[str]]) -> Any:
        return self.statistics_from_tokens(*ptb_tokenize_corpus(hypotheses, references))

    @abstractmethod
    def statistics_from_tokens(self, hypotheses: list[str], references: list[list[str]]) -> Any:
        """Statistics from already PTB-tokenised text (lets a suite tokenise once for three metrics)."""
