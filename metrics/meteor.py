"""METEOR 1.5 (coco-caption's build of the jar, ``-l en -norm``), driven over ``-stdio`` as coco does.

Per segment the wrapper sends ``SCORE ||| ref1 ||| ... ||| hyp`` and gets back Meteor's
sufficient statistics; one ``EVAL ||| stats1 ||| stats2 ...`` line then makes the jar print
every segment score and, last, the corpus score computed from the summed statistics (not a
mean of segment scores).

The JVMs get the paraphrase table cut down to the references (``_paraphrase``: same scores, a
1 s start instead of 5-9 s), split the segments between them, and are kept warm for reuse (per
reference set) until interpreter exit.
"""

from __future__ import annotations

import os
import subprocess
import tempfile
import threading
import weakref
from collections import OrderedDict
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import IO

from ._java import JVM_FLAGS, coco_file, java_executable, sha256_file
from ._paraphrase import JAR, PARAPHRASES, cut_table
from .base import MetricError, Score, format_signature
from .ptb import PTBMetric, ptb_signature

__all__ = ["METEOR", "MeteorProcess", "parallel_statistics", "shared_process", "shared_processes", "shutdown"]

OPTIONS = ["-", "-", "-stdio", "-l", "en", "-norm"]
# coco's heap size. The rest only changes speed, never results (Java floating point is strict):
# a scoring run is too short for the C2 compiler to pay off; C1 alone scored 630 segments in 3-4 s
# cold vs 7-10 s with the defaults on a busy 2-core box, and loads the full table faster too.
JVM_OPTIONS = ["-Xmx2G", "-XX:+UseParallelGC", "-XX:TieredStopAtLevel=1"]


def score_line(hypothesis: str, references: Sequence[str]) -> str:
    """coco's request line, byte for byte (it cleans the hypothesis, not the references)."""
    hypothesis = hypothesis.replace("|||", "").replace("  ", " ")
    return " ||| ".join(("SCORE", " ||| ".join(references), hypothesis))


def _terminate(process: subprocess.Popen, stderr: IO[bytes]) -> None:
    # Nothing to flush: the jar only answers requests, so killing it (even mid-load) is safe.
    if process.poll() is None:
        process.kill()
    process.wait()
    for stream in (process.stdin, process.stdout):
        if stream is not None:
            stream.close()
    stderr.close()


class MeteorProcess:
    """One Meteor JVM in ``-stdio`` mode; thread-safe, usable as a context manager.

    ``paraphrases``: a (cut) paraphrase table; None loads the jar's full default table.
    """

    def __init__(self, paraphrases: Path | None = None) -> None:
        jar = coco_file(JAR)
        self._stderr = tempfile.TemporaryFile()
        table = ["-a", str(paraphrases)] if paraphrases is not None else []
        command = [java_executable(), *JVM_OPTIONS, *JVM_FLAGS, "-jar", str(jar), *OPTIONS, *table]
        # cwd: the jar finds data/paraphrase-en.gz next to itself, as in coco's wrapper.
        self._process = subprocess.Popen(
            command, cwd=jar.parent, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=self._stderr
        )
        self._lock = threading.Lock()
        self._finalizer = weakref.finalize(self, _terminate, self._process, self._stderr)

    def alive(self) -> bool:
        return self._process.poll() is None

    def close(self) -> None:
        self._finalizer()

    def __enter__(self) -> MeteorProcess:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _failure(self, what: str) -> MetricError:
        """The error to raise; the process is stopped, since its replies can no longer be trusted."""
        code = self._process.poll()
        state = f"exited with code {code}" if code is not None else "was stopped"
        tail = []
        if not self._stderr.closed:  # closed when close() already ran
            self._stderr.seek(0)
            tail = self._stderr.read().decode("utf-8", "replace").strip().splitlines()[-3:]
        self.close()
        return MetricError(f"METEOR {what}; the JVM {state}. stderr: {' | '.join(tail) or '(empty)'}")

    def _exchange(self, lines: list[str], answers: int) -> list[str]:
        """Send ``lines`` and read ``answers`` reply lines.

        The writer runs in a thread: with hundreds of requests, Meteor's replies can fill the
        stdout pipe before we finish writing, and a single thread would deadlock.
        """
        if not self.alive():
            raise self._failure("cannot score")
        payload = "".join(line + "\n" for line in lines).encode("utf-8")
        stdin, stdout = self._process.stdin, self._process.stdout
        assert stdin is not None and stdout is not None

        def write() -> None:
            try:
                stdin.write(payload)
                stdin.flush()
            except (OSError, ValueError):  # broken or closed pipe: the reader reports it
                pass

        with self._lock:
            writer = threading.Thread(target=write, daemon=True)
            writer.start()
            replies = []
            for _ in range(answers):
                reply = stdout.readline()
                if not reply:
                    raise self._failure("stopped answering")
                replies.append(reply.decode("utf-8").strip())
            writer.join()
        return replies

    def statistics(self, hypotheses: Sequence[str], references: Sequence[Sequence[str]]) -> list[str]:
        """Meteor's sufficient statistics, one line per segment (inputs already PTB-tokenised)."""
        stats = self._exchange([score_line(h, r) for h, r in zip(hypotheses, references, strict=True)], len(hypotheses))
        for line in stats:
            _floats(line, self)
        return stats

    def evaluate(self, stats: Sequence[str]) -> tuple[float, list[float]]:
        """(corpus score, segment scores) from per-segment statistics."""
        if not stats:
            raise ValueError("METEOR needs at least one segment")
        replies = self._exchange(["EVAL ||| " + " ||| ".join(stats)], len(stats) + 1)
        values = [_floats(reply, self)[0] for reply in replies]
        return values[-1], values[:-1]


def _floats(line: str, process: MeteorProcess) -> list[float]:
    try:
        return [float(x) for x in line.split()]
    except ValueError:
        raise process._failure(f"returned {line[:200]!r}") from None


# Segments are scored independently, so a corpus can be split over several JVMs; two use a
# 2-core machine fully (the cut table makes a JVM cheap to start) without much memory.
WORKERS = max(1, min(2, os.cpu_count() or 1))
_SHARED: OrderedDict[Path | None, list[MeteorProcess]] = OrderedDict()
_SHARED_LOCK = threading.Lock()
_KEEP = 2  # paraphrase tables (reference sets) whose JVMs are kept warm


def shared_processes(paraphrases: Path | None = None, count: int = WORKERS) -> list[MeteorProcess]:
    """``count`` process-wide Meteor JVMs for this paraphrase table, started (or restarted) as needed."""
    with _SHARED_LOCK:
        processes = [process for process in _SHARED.pop(paraphrases, []) if process.alive()]
        processes += [MeteorProcess(paraphrases) for _ in range(count - len(processes))]
        _SHARED[paraphrases] = processes
        while len(_SHARED) > _KEEP:
            for process in _SHARED.popitem(last=False)[1]:
                process.close()
        return processes[:count]


def shared_process(paraphrases: Path | None = None) -> MeteorProcess:
    return shared_processes(paraphrases, 1)[0]


def shutdown() -> None:
    """Stop the shared JVMs now (they are stopped at exit anyway)."""
    with _SHARED_LOCK:
        while _SHARED:
            for process in _SHARED.popitem()[1]:
                process.close()


def parallel_statistics(workers: Sequence[MeteorProcess], hypotheses: Sequence[str],
                        references: Sequence[Sequence[str]]) -> list[str]:
    """Statistics of consecutive slices of the corpus on several JVMs, in corpus order."""
    size = -(-len(hypotheses) // len(workers))
    slices = [slice(start, start + size) for start in range(0, len(hypotheses), size)]
    if len(slices) <= 1:
        return workers[0].statistics(hypotheses, references)
    with ThreadPoolExecutor(len(slices)) as pool:
        parts = pool.map(lambda worker, part: worker.statistics(hypotheses[part], references[part]), workers, slices)
        return [line for part in parts for line in part]


class METEOR(PTBMetric):
    name = "METEOR"

    def __init__(self, process: MeteorProcess | None = None) -> None:
        self._process = process
        self._used: MeteorProcess | None = None  # the JVM that produced the statistics does the EVAL

    def signature(self) -> str:
        return format_signature(self.name, {
            "impl": f"meteor-1.5-coco.{sha256_file(coco_file(JAR))[:12]}",
            "para": f"paraphrase-en.{sha256_file(coco_file(PARAPHRASES))[:12]}",
            "opts": "-l en -norm", "modules": "exact,stem,synonym,paraphrase", "agg": "corpus-stats",
            "tok": ptb_signature(),
        })

    def statistics_from_tokens(self, hypotheses: list[str], references: list[list[str]]) -> list[str]:
        if self._process is not None:
            self._used = self._process
        else:
            try:
                table: Path | None = cut_table(references)
            except MetricError:  # a table we cannot cut safely: load it whole (slower, same scores)
                table = None
            workers = shared_processes(table, WORKERS if table is not None else 1)  # full table: 1 GB per JVM
            self._used = workers[0]
            return parallel_statistics(workers, hypotheses, references)
        return self._used.statistics(hypotheses, references)

    def score_from_statistics(self, stats: list[str]) -> Score:
        # EVAL only sums statistics and applies the English parameters: any table will do.
        process = self._process or self._used or shared_process(cut_table([]))
        value, segments = process.evaluate(stats)
        return Score(self.name, value, self.signature(), {"segment_scores": segments})
