"""Meteor's English paraphrase table cut down to what one reference set can use: same scores, fast start.

Loading all 5.3 M entries of ``paraphrase-en.gz`` costs the Meteor JVM 5-9 s; the cut table loads
in about a second.

Why the scores cannot change: Meteor's ``ParaphraseMatcher`` fires for an entry only when one of
its two phrases equals a contiguous span of the normalised, lowercased reference words (and the
other a span of the hypothesis). Keeping every entry whose first or second phrase occurs in the
references therefore keeps every entry that can fire, and the kept entries stay in file order, so
candidate matches come out in the same order. References are normalised by the jar's own
``edu.cmu.meteor.util.Normalizer`` with punctuation kept, as ``-norm`` scoring does. (Meteor ships
this rule as its ``FilterParaphrase`` tool, but that tool normalises with punctuation removed, which
can drop entries that ``-norm`` scoring uses; hence this re-implementation.)

A cut table depends only on the references, so it is built once per reference set (a 5-10 s
scan of the full table) and cached under ``$XDG_CACHE_HOME/prompt-peft-harness/meteor``. A table
that Java would read differently from Python (CR or vertical-tab characters, invalid UTF-8, a
truncated entry) is refused with a MetricError; the caller then loads the full table.
"""

from __future__ import annotations

import gzip
import hashlib
import os
import subprocess
import tempfile
from collections.abc import Iterable, Sequence
from pathlib import Path

from ._java import JVM_FLAGS, coco_file, java_executable, sha256_file
from .base import MetricError

__all__ = ["cut_table"]

JAR = "meteor/meteor-1.5.jar"
PARAPHRASES = "meteor/data/paraphrase-en.gz"
# Phrases in the official table have at most 7 words; a longer one is kept without looking.
MAX_SPAN = 8


def _cache_dir() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "prompt-peft-harness" / "meteor"


def _normalize(lines: Sequence[str]) -> list[str]:
    """Meteor's own English normalisation (punctuation kept), one output line per input line."""
    command = [java_executable(), "-XX:TieredStopAtLevel=1", *JVM_FLAGS, "-Dsun.stdout.encoding=UTF-8",
               "-cp", str(coco_file(JAR)), "edu.cmu.meteor.util.Normalizer", "en", "true"]
    payload = "".join(line + "\n" for line in lines).encode("utf-8")
    done = subprocess.run(command, input=payload, capture_output=True, timeout=600, check=False)
    out = done.stdout.decode("utf-8").split("\n")
    if done.returncode != 0 or len(out) != len(lines) + 1:
        tail = done.stderr.decode("utf-8", "replace").strip().splitlines()[-2:]
        raise MetricError(f"Meteor's normalizer failed (exit {done.returncode}): {' | '.join(tail)}")
    return out[:-1]


def _spans(lines: Iterable[str]) -> set[bytes]:
    """Every contiguous word span (up to MAX_SPAN words) of the lines, as Meteor's tokens would join.

    The empty phrase is included: an entry with an empty side could match anywhere, so it is kept.
    """
    spans: set[bytes] = {b""}
    for line in lines:
        for variant in {line, line.lower()}:  # Meteor lowercases after normalising (in Java)
            words = variant.encode("utf-8").split()
            for i in range(len(words)):
                for j in range(i + 1, min(i + MAX_SPAN, len(words)) + 1):
                    spans.add(b" ".join(words[i:j]))
    return spans


def _occurs(phrase: bytes, spans: set[bytes]) -> bool:
    words = phrase.split()  # Meteor tokenises table lines on whitespace runs
    return len(words) > MAX_SPAN or b" ".join(words) in spans  # too long to check: keep it


def _kept(lines: list[bytes], spans: set[bytes]) -> list[bytes]:
    """The entries (probability, phrase, paraphrase line triples) with a phrase in the references."""
    kept = []
    for i in range(0, len(lines), 3):
        if _occurs(lines[i + 1], spans) or _occurs(lines[i + 2], spans):
            kept.extend(lines[i:i + 3])
    return kept


def _write_cut(spans: set[bytes], target: Path) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.NamedTemporaryFile(dir=target.parent, suffix=".tmp", delete=False) as tmp:
        try:
            with gzip.open(coco_file(PARAPHRASES), "rb") as table, gzip.open(tmp, "wb", compresslevel=1) as out:
                pending: list[bytes] = []
                tail = b""
                while spans:  # no references: no entry can fire, the cut table is empty
                    chunk = table.read(1 << 24)
                    if b"\r" in chunk or b"\x0b" in chunk:  # Java splits lines / words differently there
                        raise MetricError("paraphrase table has \\r or \\v characters; cannot cut it safely")
                    lines = (tail + chunk).split(b"\n")
                    tail = lines.pop() if chunk else b""  # the last line may continue in the next chunk
                    pending.extend(line for line in lines if chunk or line)
                    whole = len(pending) - len(pending) % 3
                    try:  # bytes are compared; Java compares decoded text: the same only for valid UTF-8
                        b"\n".join(pending[:whole]).decode("utf-8")
                    except UnicodeDecodeError as err:
                        raise MetricError("paraphrase table is not valid UTF-8; cannot cut it safely") from err
                    kept = _kept(pending[:whole], spans)
                    if kept:
                        out.write(b"\n".join(kept) + b"\n")
                    pending = pending[whole:]
                    if not chunk:
                        break
                if pending:
                    raise MetricError("paraphrase table ends inside an entry; cannot cut it safely")
        except BaseException:
            os.unlink(tmp.name)
            raise
    os.replace(tmp.name, target)


def cut_table(references: Sequence[Sequence[str]]) -> Path:
    """Path of the cut paraphrase table for these (PTB-tokenised) references, built if needed."""
    pieces = sorted({piece.strip() for group in references for ref in group for piece in ref.split("|||")})
    digest = hashlib.sha256()
    for part in (sha256_file(coco_file(JAR)), sha256_file(coco_file(PARAPHRASES)), *pieces):
        digest.update(part.encode("utf-8") + b"\n")
    name = f"paraphrase-en.cut-{digest.hexdigest()[:24]}.gz"
    spans: set[bytes] | None = None
    for directory in (_cache_dir(), Path(tempfile.gettempdir()) / "prompt-peft-harness-meteor"):
        target = directory / name
        if target.is_file():
            return target
        if spans is None:
            spans = _spans(_normalize(pieces)) if any(pieces) else set()  # no words: nothing can match
        try:
            _write_cut(spans, target)
            return target
        except OSError:  # cache not writable: build it in the temp dir instead
            continue
    raise MetricError(f"could not write a cut paraphrase table to {_cache_dir()} or the temp dir")
