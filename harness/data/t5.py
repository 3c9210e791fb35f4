"""T5's text-to-text strings (t5/data/preprocessors.py), without the task-name prefix.

Lester et al. (2021) feed T5 the inputs of T5's own preprocessors with their first word, the
task name ("rte", "wsc:", "record", ...), removed: prompt-tuning's `remove_first_text_token`
(regex `^[^ ]* `) on the `taskless_*` tasks. The functions here build those strings directly.

TensorFlow runs the preprocessors' regexes with RE2, whose `\\W` and `\\s` are ASCII-only
(`[^0-9A-Za-z_]` and `[\\t\\n\\f\\r ]`); they are spelled out so Python's Unicode-aware `re`
gives the same strings (T5 pads "ç" in "François" like punctuation, and so do we).
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterable

_RE2_NON_WORD = re.compile(r"([^0-9A-Za-z_])")
_RE2_SPACES = re.compile(r"[\t\n\f\r ]+")


@functools.lru_cache(maxsize=1024)  # MRQA repeats each context for all of its questions
def pad_punctuation(text: str) -> str:
    """t5 `_pad_punctuation`: a space either side of every non-word character, runs of spaces made one.

    Joining the pieces of a split on the (captured) non-word characters with single spaces gives
    exactly the string of T5's substitution ` \\1 `, three times faster.
    """
    return _RE2_SPACES.sub(" ", " ".join(_RE2_NON_WORD.split(text)))


def feature_inputs(features: Iterable[tuple[str, str]]) -> str:
    """t5 `glue` inputs without the benchmark name: `key1: value1 key2: value2` (plain join, as T5)."""
    return " ".join(f"{key}: {value}" for key, value in features)


def squad_inputs(question: str, context: str) -> str:
    """t5 `squad` inputs (no task name in T5 either): `question: <q> context: <c>`, punctuation padded.

    T5 joins the parts with `_string_join` (join on a space, runs of spaces made one). Padded
    text holds single spaces only, so joining its stripped, non-empty parts is the same string,
    without a regex pass over every context. Stripped like `squad_answer`: padding a final "."
    leaves a trailing space.
    """
    parts = ("question:", pad_punctuation(question), "context:", pad_punctuation(context))
    return " ".join(part.strip(" ") for part in parts if part.strip(" "))


def squad_answer(answer: str) -> str:
    """An answer as t5 `squad` writes targets and references (punctuation padded).

    T5 keeps the space that padding leaves after a final punctuation mark ("Broncos . "); its
    SentencePiece tokeniser drops outer whitespace, so stripping it gives the same tokens and a
    clean target line for every other tokeniser.
    """
    return pad_punctuation(answer).strip()
