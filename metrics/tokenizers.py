"""mteval-v13a tokenisation, as the Perl script (default, non-international rules) applies it.

Two flavours, because E2E's two NIST implementations tokenise slightly differently:

* ``tokenize_13a`` -- what ``mteval-v13a-sig.pl`` sees: measure_scores.py writes each segment
  into an SGML file, the script collapses every whitespace run to one space while reading it,
  then tokenises; lowercasing is Perl's ``tr/[A-Z]/[a-z]/``, i.e. ASCII letters only, and
  ``\\s`` is Perl's Unicode whitespace set.
* ``tokenize_13a_pymteval`` -- e2e-metrics' Python port (``measure_scores.py -p``): Python's
  whitespace, Unicode ``str.lower``, and an empty segment becomes one empty token.

On ASCII text the two agree with each other and with ``sacrebleu``'s ``13a`` tokenizer.
"""

from __future__ import annotations

import re
from functools import lru_cache

__all__ = ["tokenize_13a", "tokenize_13a_pymteval"]

# Perl's \s on character strings (the script reads its files as UTF-8).
_PERL_SPACE = re.compile("[\t\n\x0b\x0c\r \x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]+")
_PY_SPACE = re.compile(r"\s+")
_ASCII_LOWER = str.maketrans("ABCDEFGHIJKLMNOPQRSTUVWXYZ", "abcdefghijklmnopqrstuvwxyz")
_ENTITIES = (("&quot;", '"'), ("&amp;", "&"), ("&lt;", "<"), ("&gt;", ">"))
# The script's first rule, s/([\{-\~\[-\` -\&\(-\+\:-\@\/])/ $1 /g, pads single characters
# (space included), so a translation table does the same job at C speed.
_SYMBOLS = "{|}~[\\]^_` !\"#$%&()*+:;<=>?@/"
_PAD_SYMBOLS = str.maketrans({c: f" {c} " for c in _SYMBOLS})
_PUNCT_RULES = (
    (re.compile(r"([^0-9])([\.,])"), r"\1 \2 "),  # period/comma unless preceded by a digit
    (re.compile(r"([\.,])([^0-9])"), r" \1 \2"),  # period/comma unless followed by a digit
    (re.compile(r"([0-9])(-)"), r"\1 \2 "),  # dash after a digit
)


def _unescape(text: str) -> str:
    for entity, char in _ENTITIES:
        text = text.replace(entity, char)
    return text


def _split_punctuation(text: str) -> str:
    text = f" {text} ".translate(_PAD_SYMBOLS)
    for pattern, replacement in _PUNCT_RULES:
        text = pattern.sub(replacement, text)
    return text


@lru_cache(maxsize=1 << 16)  # BLEU and NIST tokenise the same texts; references recur across systems
def tokenize_13a(text: str, lowercase: bool = True) -> tuple[str, ...]:
    """Tokens of ``text`` exactly as mteval-v13a(-sig).pl produces them inside measure_scores.py."""
    # The SGML reader joins whitespace runs before tokenisation, so the script's own
    # "-\n" de-hyphenation never fires there; we do the same.
    text = _unescape(_PERL_SPACE.sub(" ", text).replace("<skipped>", ""))
    if lowercase:
        text = text.translate(_ASCII_LOWER)
    text = _PERL_SPACE.sub(" ", _split_punctuation(text)).strip(" ")
    return tuple(text.split(" ")) if text else ()


@lru_cache(maxsize=1 << 16)
def tokenize_13a_pymteval(text: str, lowercase: bool = True) -> tuple[str, ...]:
    """Tokens as e2e-metrics' ``metrics/pymteval.py`` produces them (``measure_scores.py -p``)."""
    text = _unescape(text.replace("<skipped>", "").replace("-\n", "").replace("\n", " "))
    tokens = _PY_SPACE.sub(" ", _split_punctuation(text)).strip().split(" ")
    return tuple(t.lower() for t in tokens) if lowercase else tuple(tokens)
