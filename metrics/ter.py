"""TER exactly as tercom 0.7.25 (``java -jar tercom.7.25.jar -h hyp -r ref``) computes it, in Python.

WebNLG 2017 and DART score TER with tercom's defaults; sacreBLEU's ``TER`` is a re-implementation
that differs from it by up to 7e-4 on those files. This module follows tercom step for step:

* **Input.** A line is ``text (id)``; tercom keeps ``text`` with Java's ``trim()`` (every character
  <= U+0020 goes from both ends). Java's ``.`` does not match line terminators, so a hypothesis
  containing \\n, \\r, U+0085, U+2028 or U+2029 is an "invalid line": tercom skips that segment
  (it adds no edits and no words), and such a reference is dropped.
* **Defaults.** Case-insensitive (Java ``toLowerCase``), no mteval normalisation, punctuation kept;
  tokens are the pieces of Java's ``split("\\\\s+")`` ([ \\t\\n\\x0b\\f\\r] only).
* **Edit distance.** tercom's beam search (width 20), not a full DP: column by column over the
  hypothesis, cells worse than the previous column's best diagonal cost + 20 are not expanded, and
  ties go to match/substitution, then insertion, then deletion. Its alignment decides which words
  count as errors, and so which shifts are tried.
* **Shifts.** Phrases of 1-10 words that occur in the reference, contain a hypothesis error, and
  move to a reference position that has an error, at most 50 words away; candidates are tried from
  the longest down, each kept only if it lowers the edit distance below the best so far (a shift
  costs 1, so a shift that saves exactly one edit is taken too), with tercom's early stop; the best
  shift is applied and the search repeats until none helps.
* **Several references.** Each reference is scored on its own; the segment takes the edits of the
  first reference with the fewest edits and the *average* length of all its references. Empty
  strings: no hypothesis words -> edits = words = reference length; an empty reference -> edits =
  hypothesis length, 0 words.
* **Corpus.** Total TER = sum of edits / sum of average reference lengths, summed in segment order
  in doubles, as tercom does.

Speed (tercom: 13 s on DART's 5,097 segments; sacreBLEU's port: 4 min). The exact (unbounded) edit
distance, computed bit-parallel (Myers/Hyyro) from the first changed word of a shifted hypothesis, is
a lower bound of tercom's beam search, so most shift candidates are ruled out without a search; when
the exact path stays within the beam of every column's minimum -- always so for a distance within the
beam -- the beam search provably expands it cell for cell, so its value and its backtrace (tercom's
tie order: diagonal, insertion, deletion) are read off the exact DP instead. Only the rest goes
through the beam search itself, column by column with columns cached by hypothesis prefix. References
that cannot beat the best one so far (bag-of-words bound) are skipped, and segments are spread over
worker processes. tests/metrics/test_webnlg_golden.py checks all of this against a literal port.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from multiprocessing import get_context

from .base import Metric, Score, check_corpus, format_signature

__all__ = ["TER", "TERStats", "segment_ter", "tercom_text", "tercom_tokens"]

BEAM_WIDTH = 20
MAX_SHIFT_SIZE = 10
MAX_SHIFT_DIST = 50

# Java String.trim() removes every char <= U+0020; Java regex \s is [ \t\n\x0B\f\r].
_JAVA_TRIM = "".join(chr(c) for c in range(0x21))
_JAVA_SPACE = re.compile("[ \t\n\x0b\f\r]+")
# Characters that Java's "." does not match (default Pattern flags): tercom rejects such lines.
_JAVA_LINE_TERMINATORS = re.compile("[\n\r\u0085\u2028\u2029]")


@dataclass(frozen=True)
class TERStats:
    """One segment: tercom's best-reference edits and its average reference length."""

    edits: float
    ref_words: float
    scored: bool = True  # False: tercom would skip the line (invalid hypothesis line)


def tercom_text(text: str) -> str | None:
    """The text tercom keeps from ``text (id)``, or None when tercom rejects the line."""
    if _JAVA_LINE_TERMINATORS.search(text):
        return None
    return text.strip(_JAVA_TRIM)


def tercom_tokens(text: str, case_sensitive: bool = False) -> tuple[str, ...]:
    """tercom's tokens of a (trimmed, non-empty) text."""
    if not case_sensitive:
        text = text.lower()
    return tuple(_JAVA_SPACE.split(text))


# --- tercom's beam-search edit distance, cached by hypothesis prefix -------------------------

_UNSET = 1 << 40  # tercom's -1 ("no path yet"); larger than any beam limit, so it is never expanded
_TERCOM_INF = 999999  # tercom's INF: the beam limit of a column that had no diagonal step


class _Column:
    """The beam search's state before column j (j = hypothesis words consumed so far).

    ``scores``/``ops``: column j as the previous column left it (match, substitution, insertion);
    ``last_best``/``first_good``/``last_good``: tercom's beam bookkeeping. ``children`` maps the
    next hypothesis word to the state before column j+1, ``ops_final`` holds column j's operations
    once its deletions are in (the same whatever the next word), ``end``/``end_ops`` the distance
    and last column when the hypothesis ends here.
    """

    __slots__ = ("scores", "ops", "last_best", "first_good", "last_good", "parent", "ops_final", "children",
                 "end", "end_ops")

    def __init__(self, scores: list[int], ops: list[str], last_best: int, first_good: int, last_good: int,
                 parent: _Column | None) -> None:
        self.scores = scores
        self.ops = ops
        self.last_best = last_best
        self.first_good = first_good
        self.last_good = last_good
        self.parent = parent
        self.ops_final: list[str] | None = None
        self.children: dict[int, _Column] = {}
        self.end: int | None = None
        self.end_ops: list[str] | None = None


class _BeamSearch:
    """tercom's MinEditDist against one fixed reference, for many (shifted) hypotheses.

    tercom fills its DP column by column over the hypothesis, so the state after a prefix does not
    depend on what follows: a trie of columns lets shifted hypotheses reuse their common prefix.
    """

    def __init__(self, ref: tuple[int, ...], beam: int) -> None:
        self.ref = ref
        self.beam = beam
        scores = [_UNSET] * (len(ref) + 1)
        scores[0] = 0
        self.root = _Column(scores, ["0"] * (len(ref) + 1), _TERCOM_INF, 0, 0, None)

    def _advance(self, node: _Column, word: int) -> _Column:
        """One iteration of tercom's outer loop (column j -> j+1) for hypothesis word ``word``."""
        ref = self.ref
        n_ref = len(ref)
        col = node.scores[:]
        ops = node.ops[:]
        last_good = node.last_good
        limit = node.last_best + self.beam  # cells worse than this are not expanded
        # The first cell within the beam (cells above it expand nothing, so it is its own value).
        first = node.first_good
        while first <= last_good and first <= n_ref and col[first] > limit:
            first += 1
        if first > last_good or first > n_ref:  # tercom would index S[-1] and crash; unreachable
            raise RuntimeError("tercom's beam search lost every cell")
        nxt = [_UNSET] * (n_ref + 1)
        nops = ["0"] * (n_ref + 1)
        best = _TERCOM_INF
        after = first + 1
        for i in range(first, n_ref):
            if i > last_good:
                break
            score = col[i]
            if score > limit:
                continue
            cost = score + 1
            # nxt[i + 1] is still empty: the diagonal step from i is its first candidate
            if ref[i] == word:
                nxt[i + 1] = score
                nops[i + 1] = " "
                if score < best:
                    best = score
            else:
                nxt[i + 1] = cost
                nops[i + 1] = "S"
                if cost < best:
                    best = cost
            if col[i + 1] > cost:
                col[i + 1] = cost
                ops[i + 1] = "D"
                if i >= last_good:
                    last_good = i + 1
            if nxt[i] > cost:  # ties keep the diagonal step
                nxt[i] = cost
                nops[i] = "I"
            after = i + 1
        else:  # the last reference row: no diagonal step, no deletion below
            if n_ref <= last_good and col[n_ref] <= limit:
                cost = col[n_ref] + 1
                if nxt[n_ref] > cost:
                    nxt[n_ref] = cost
                    nops[n_ref] = "I"
                after = n_ref + 1
        node.ops_final = ops
        return _Column(nxt, nops, best, first, after, node)

    def _finish(self, node: _Column) -> None:
        """tercom's last iteration (no beam, deletions only): the distance and the last column."""
        n_ref = len(self.ref)
        col = node.scores[:]
        ops = node.ops[:]
        last_good = node.last_good
        for i in range(node.first_good, n_ref + 1):
            if i > last_good:
                break
            score = col[i]
            if score == _UNSET or i == n_ref:
                continue
            if col[i + 1] > score + 1:
                col[i + 1] = score + 1
                ops[i + 1] = "D"
                if i >= last_good:
                    last_good = i + 1
        if col[n_ref] == _UNSET:
            raise RuntimeError("tercom's beam search did not reach the end of the reference")
        node.end, node.end_ops = col[n_ref], ops

    def distance(self, hyp: Sequence[int]) -> tuple[int, _Column]:
        """(edit distance, end node) of ``hyp``."""
        node = self.root
        children = node.children
        for word in hyp:
            child = children.get(word)
            if child is None:
                child = children[word] = self._advance(node, word)
            node = child
            children = node.children
        if node.end is None:
            self._finish(node)
        return node.end, node  # type: ignore[return-value]

    def alignment(self, node: _Column) -> str:
        """tercom's backtrace of the path that ends at ``node``."""
        columns = [node.end_ops]
        walker = node.parent
        while walker is not None:
            columns.append(walker.ops_final)
            walker = walker.parent
        columns.reverse()  # columns[j]: final operations of column j
        i, j = len(self.ref), len(columns) - 1
        path = []
        while i > 0 or j > 0:
            op = columns[j][i]  # type: ignore[index]
            path.append(op)
            if op == " " or op == "S":
                i -= 1
                j -= 1
            elif op == "D":
                i -= 1
            elif op == "I":
                j -= 1
            else:
                raise RuntimeError(f"tercom's backtrace reached an empty cell ({i}, {j})")
        path.reverse()
        return "".join(path)


# --- shifts -----------------------------------------------------------------------------------


def _word_matches(hyp: Sequence[int], ref: Sequence[int]) -> dict[tuple, list[int]]:
    """tercom's BuildWordMatches: every reference n-gram (<= MAX_SHIFT_SIZE + 1 words) made of words
    that occur in the hypothesis -> its start positions, ascending."""
    present = set(hyp)
    found: dict[tuple, list[int]] = {}
    n_ref = len(ref)
    for start in range(n_ref):
        if ref[start] not in present:
            continue
        end = start
        while end < n_ref and end - start <= MAX_SHIFT_SIZE and ref[end] in present:
            found.setdefault(tuple(ref[start:end + 1]), []).append(start)
            end += 1
    return found


def _errors(path: str, hyp_len: int, ref_len: int) -> tuple[list[int], list[int], list[int]]:
    """tercom's FindAlignErr, as running counts of wrong hypothesis / reference words (herr_count[k]:
    errors among the first k words) and the hypothesis position each reference word is aligned to."""
    herr = [0] * (hyp_len + 1)
    rerr = [0] * (ref_len + 1)
    ralign = [0] * ref_len
    h = r = -1
    for op in path:
        if op == " ":
            h += 1
            r += 1
            ralign[r] = h
            herr[h + 1] = herr[h]
            rerr[r + 1] = rerr[r]
        elif op == "S":
            h += 1
            r += 1
            ralign[r] = h
            herr[h + 1] = herr[h] + 1
            rerr[r + 1] = rerr[r] + 1
        elif op == "I":
            h += 1
            herr[h + 1] = herr[h] + 1
        else:  # "D"
            r += 1
            ralign[r] = h
            rerr[r + 1] = rerr[r] + 1
    return herr, rerr, ralign


def _candidate_shifts(cur: tuple[int, ...], matches: dict, herr: list[int], rerr: list[int], ralign: list[int],
                      max_dist: int) -> list[list[tuple[int, int, int]]]:
    """tercom's GatherAllPossShifts: (start, end, new location) by phrase length - 1, in its order."""
    by_size: list[list[tuple[int, int, int]]] = [[] for _ in range(MAX_SHIFT_SIZE + 1)]
    hyp_len = len(cur)
    for start in range(hyp_len):
        targets = matches.get(cur[start:start + 1])
        if targets is None:
            continue
        for moveto in targets:  # some place in the reference within reach
            there = ralign[moveto]
            if start != there and there - start <= max_dist and start - there - 1 <= max_dist:
                break
        else:
            continue
        for end in range(start, min(hyp_len, start + MAX_SHIFT_SIZE)):
            targets = matches.get(cur[start:end + 1])
            if targets is None:
                break
            if herr[end + 1] == herr[start]:  # no wrong word in the phrase: try a longer one
                continue
            size = end - start
            ok = False
            for moveto in targets:
                there = ralign[moveto]
                if start <= there <= end or there - start > max_dist or start - there > max_dist:
                    continue
                ok = True
                if rerr[moveto + size + 1] == rerr[moveto]:  # the target words are all right already
                    continue
                found = by_size[size]
                for roff in range(-1, size + 1):
                    if roff == -1 and moveto == 0:
                        found.append((start, end, -1))
                        continue
                    newloc = ralign[moveto + roff]
                    if start != newloc and (roff == 0 or newloc != there):
                        found.append((start, end, newloc))
            if not ok:
                break
    return by_size


def _perform_shift(words: tuple, start: int, end: int, newloc: int) -> tuple:
    """tercom's PerformShift: words[start..end] moved to just after position ``newloc`` (-1: front)."""
    if newloc == -1:
        return words[start:end + 1] + words[:start] + words[end + 1:]
    if newloc < start:
        return words[:newloc + 1] + words[start:end + 1] + words[newloc + 1:start] + words[end + 1:]
    if newloc > end:
        return words[:start] + words[end + 1:newloc + 1] + words[start:end + 1] + words[newloc + 1:]
    k = newloc - start  # inside the moved phrase: tercom's own wrap-around rule
    return words[:start] + words[end + 1:end + 1 + k] + words[start:end + 1] + words[end + 1 + k:]


class _Levenshtein:
    """Exact (unbounded) word edit distance to one reference, bit-parallel (Myers 1999 / Hyyro 2001).

    tercom's beam search can only find an alignment as costly or costlier, so this is a cheap lower
    bound that rules most shift candidates out before the beam search runs on them. ``states(words)``
    keeps the state after every prefix, so a shifted hypothesis restarts where it first differs.
    """

    def __init__(self, ref: Sequence[int], vocab_size: int) -> None:
        self.mask = (1 << len(ref)) - 1
        self.high = 1 << (len(ref) - 1)
        self.peq = [0] * vocab_size  # word id -> bit mask of its reference positions
        for i, word in enumerate(ref):
            self.peq[word] |= 1 << i
        self.start = (self.mask, 0, len(ref))

    def states(self, words: Sequence[int], known: list[tuple[int, int, int]] | None = None,
               same: int = 0) -> list[tuple[int, int, int]]:
        """The state before each word of ``words`` and after the last one (the first ``same`` + 1
        taken from ``known``, the states of a hypothesis that starts with the same ``same`` words)."""
        keep = known[:same + 1] if known is not None else [self.start]
        pv, mv, score = keep[-1]
        peq, mask, high = self.peq, self.mask, self.high
        for word in words[len(keep) - 1:]:
            eq = peq[word]
            xv = eq | mv
            xh = (((eq & pv) + pv) ^ pv) | eq
            ph = mv | ((xh | pv) ^ mask)  # bits above the mask are dropped by the shift below
            mh = pv & xh
            if ph & high:
                score += 1
            elif mh & high:
                score -= 1
            ph = ((ph << 1) | 1) & mask  # row 0 of the DP grows by one per hypothesis word
            mh = (mh << 1) & mask
            pv = mh | ((xv | ph) ^ mask)
            mv = ph & xv
            keep.append((pv, mv, score))
        return keep

    def distance(self, words: Sequence[int], states: list[tuple[int, int, int]], same: int) -> int:
        """Distance of ``words``, whose first ``same`` words are those ``states`` was built on."""
        pv, mv, score = states[same]
        peq, mask, high = self.peq, self.mask, self.high
        for k in range(same, len(words)):
            eq = peq[words[k]]
            xv = eq | mv
            xh = (((eq & pv) + pv) ^ pv) | eq
            ph = mv | ((xh | pv) ^ mask)
            mh = pv & xh
            if ph & high:
                score += 1
            elif mh & high:
                score -= 1
            ph = ((ph << 1) | 1) & mask
            pv = ((mh << 1) & mask) | ((xv | ph) ^ mask)
            mv = ph & xv
        return score


    def alignment(self, ref: Sequence[int], words: Sequence[int], states: list[tuple[int, int, int]],
                  beam: int) -> str | None:
        """tercom's alignment, read off the exact DP, or None when its beam search may have pruned it.

        tercom's path takes, from each cell, the first of its cheapest predecessors in its update
        order (diagonal, insertion, deletion). The beam search finds that same path when it expands
        every cell of the exact path with its exact value: true when, in every column j > 0 but the
        last, the path's cells are within ``beam`` of the column's exact minimum (the beam search's
        column best is never below it). Column j of the exact DP is ``j`` plus the running sum of
        ``states[j]``'s vertical deltas.
        """

        i, j = len(ref), len(words)
        value = states[j][2]
        highest = list(range(j + 1))  # the path's largest value in each column (row 0: F(0, j) = j)
        highest[j] = value
        path = []
        while i > 0 and j > 0:
            pv, mv, _ = states[j - 1]
            low = (1 << i) - 1
            left = j - 1 + (pv & low).bit_count() - (mv & low).bit_count()  # F(i, j - 1)
            bit = 1 << (i - 1)
            diagonal = left - 1 if pv & bit else left + 1 if mv & bit else left  # F(i - 1, j - 1)
            same = ref[i - 1] == words[j - 1]
            if diagonal + (not same) == value:
                path.append(" " if same else "S")
                i, j, value = i - 1, j - 1, diagonal
                highest[j] = value
            elif left + 1 == value:
                path.append("I")
                j, value = j - 1, left
                highest[j] = value
            else:
                path.append("D")
                i, value = i - 1, value - 1
        path.extend("I" * j)  # along row 0
        path.extend("D" * i)  # down column 0
        for column in range(1, len(words)):
            if highest[column] > beam:  # else within the beam of any column minimum (>= 0)
                pv, mv, _ = states[column]
                if highest[column] > _column_minimum(pv, mv, column) + beam:
                    return None
        path.reverse()
        return "".join(path)


def _nibble_table() -> list[tuple[int, int]]:
    """(sum, lowest prefix sum) of 4 vertical deltas, keyed by (their +1 bits << 4) | their -1 bits."""
    table = []
    for key in range(256):
        total = lowest = 0
        for bit in range(4):
            total += (key >> (4 + bit) & 1) - (key >> bit & 1)
            lowest = min(lowest, total)
        table.append((total, lowest))
    return table


_NIBBLES = _nibble_table()


def _column_minimum(pv: int, mv: int, column: int) -> int:
    """The smallest value of an exact DP column: ``column`` (its row 0) plus the lowest running sum of
    its vertical deltas (+1 bits ``pv``, -1 bits ``mv``), four rows at a time."""
    total = lowest = 0
    while pv or mv:
        step, low = _NIBBLES[(pv & 15) << 4 | (mv & 15)]
        if total + low < lowest:
            lowest = total + low
        total += step
        pv >>= 4
        mv >>= 4
    return column + lowest


def _ter_pair(hyp: tuple[int, ...], ref: tuple[int, ...], exact: _Levenshtein, states: list[tuple[int, int, int]],
              beam: int, max_dist: int) -> int:
    """tercom's TER(hyp, ref) edits (alignment edits + number of shifts) for two non-empty token lists;
    ``exact`` is the bit-parallel distance to ``ref`` and ``states`` its run over ``hyp``."""
    searches: list[_BeamSearch] = []  # tercom's beam search, built when a distance exceeds the beam

    def beam_search() -> _BeamSearch:
        if not searches:
            searches.append(_BeamSearch(ref, beam))
        return searches[0]

    def align(words: tuple[int, ...], states: list[tuple[int, int, int]]) -> tuple[int, str]:
        """tercom's edit distance and alignment of ``words``."""
        path = exact.alignment(ref, words, states, beam)
        if path is not None:
            return states[-1][2], path
        search = beam_search()
        value, node = search.distance(words)
        return value, search.alignment(node)

    cur = hyp
    edits, path = align(cur, states)
    matches = _word_matches(hyp, ref)
    if not matches:  # no hypothesis word occurs in the reference: nothing can move
        return edits
    known: dict[tuple, int] = {}  # shifted hypothesis -> its exact distance
    shifts = 0
    while True:
        herr, rerr, ralign = _errors(path, len(cur), len(ref))
        by_size = _candidate_shifts(cur, matches, herr, rerr, ralign, max_dist)
        best_edits, best_words = edits, None
        for size in range(len(by_size) - 1, -1, -1):
            # tercom's early stop: no shift of this size can fix more than 2 * size words
            maxfix = 2 * (size + 1)
            if best_words is not None and edits - (1 + best_edits) >= maxfix:
                break
            stop = False
            for start, end, newloc in by_size[size]:
                if best_words is not None and edits - (1 + best_edits) >= maxfix:
                    stop = True
                    break
                words = _perform_shift(cur, start, end, newloc)
                same = 0 if newloc == -1 else newloc + 1 if newloc < start else start
                value = known.get(words)
                if value is None:
                    value = known[words] = exact.distance(words, states, same)
                # A shift costs 1; tercom keeps it when its edits + 1 beat the best (edits + cost),
                # and the very first one also when it only breaks even: both mean fewer edits.
                # The beam search never beats the exact distance, and finds it when the exact path
                # stays within the beam (always so when the distance itself is within it).
                if value >= best_edits:
                    continue
                if value > beam and exact.alignment(ref, words, exact.states(words, states, same), beam) is None:
                    value = beam_search().distance(words)[0]
                if value < best_edits:
                    best_edits, best_words = value, words
            if stop:
                break
        if best_words is None:
            return edits + shifts
        shifts += 1
        cur = best_words
        states = exact.states(cur)
        edits, path = align(cur, states)


def _bag_bound(hyp: Sequence, ref: Sequence) -> int:
    """A lower bound on TER edits whatever the shifts: unmatched words of the longer side."""
    pool: dict = {}
    for word in ref:
        pool[word] = pool.get(word, 0) + 1
    common = 0
    for word in hyp:
        left = pool.get(word, 0)
        if left:
            pool[word] = left - 1
            common += 1
    return max(len(hyp), len(ref)) - common


def segment_ter(hypothesis: str, references: Sequence[str], case_sensitive: bool = False,
                beam: int = BEAM_WIDTH, max_dist: int = MAX_SHIFT_DIST) -> TERStats:
    """tercom's score_all_refs for one segment (texts as they stand before `` (id)``)."""
    hyp_text = tercom_text(hypothesis)
    if hyp_text is None:
        return TERStats(0.0, 0.0, scored=False)
    refs = [text for text in map(tercom_text, references) if text is not None]
    if not refs:
        raise ValueError(f"no usable reference for hypothesis {hypothesis[:80]!r} "
                         "(tercom stops with 'No reference for segment')")
    if not case_sensitive:
        hyp_text = hyp_text.lower()
        refs = [ref.lower() for ref in refs]
    hyp_words = tercom_tokens(hyp_text, True) if hyp_text else ()
    ref_words = [tercom_tokens(text, True) if text else () for text in refs]
    total_words = 0.0
    # tercom keeps the first reference with the fewest edits. Known values first (TERnullstr), then the
    # others from the closest (exact distance) on, skipping those that cannot do as well (bag bound).
    edits: list[float | None] = [None] * len(refs)
    for k, (text, words) in enumerate(zip(refs, ref_words, strict=True)):
        if not hyp_text or not text:  # tercom's TERnullstr
            edits[k] = float(len(words)) if not hyp_text else float(len(hyp_words))
            total_words += float(len(words)) if not hyp_text else 0.0
        else:
            total_words += float(len(words))
    vocab: dict[str, int] = {}
    hyp_ids = tuple(vocab.setdefault(w, len(vocab)) for w in hyp_words)
    ref_ids = [tuple(vocab.setdefault(w, len(vocab)) for w in words) for words in ref_words]
    pending = []
    for k, value in enumerate(edits):
        if value is None:
            exact = _Levenshtein(ref_ids[k], len(vocab))
            states = exact.states(hyp_ids)
            pending.append((states[-1][2], k, exact, states))
    pending.sort(key=lambda item: item[:2])
    for _, k, exact, states in pending:
        known = [(value, i) for i, value in enumerate(edits) if value is not None]
        if known:
            best_value, best_index = min(known)
            bound = _bag_bound(hyp_ids, ref_ids[k])
            if bound > best_value or (bound == best_value and k > best_index):
                continue  # cannot be the first reference with the fewest edits
        edits[k] = _ter_pair(hyp_ids, ref_ids[k], exact, states, beam, max_dist)
    best_value = min(value for value in edits if value is not None)
    return TERStats(float(best_value), total_words / len(refs))


def _segments(job: tuple) -> list[TERStats]:
    hypotheses, references, case_sensitive, beam, max_dist = job
    return [segment_ter(h, r, case_sensitive, beam, max_dist) for h, r in zip(hypotheses, references, strict=True)]


def _workers() -> int:
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not on Linux
        return max(1, os.cpu_count() or 1)


class TER(Metric):
    """tercom 0.7.25's corpus TER; ``corpus_statistics`` gives one TERStats per segment.

    ``references[i]``: the references tercom would see for segment i (the official WebNLG / DART
    scripts leave empty reference lines out; an empty string here is an empty reference).
    """

    name = "TER"

    def __init__(self, case_sensitive: bool = False, beam: int = BEAM_WIDTH, max_shift_dist: int = MAX_SHIFT_DIST,
                 workers: int | None = None) -> None:
        self.case_sensitive = case_sensitive
        self.beam = beam
        self.max_shift_dist = max_shift_dist
        self.workers = workers

    def signature(self) -> str:
        return format_signature(self.name, {
            "impl": "tercom-0.7.25-py", "case": "mixed" if self.case_sensitive else "lc", "norm": "no",
            "punct": "yes", "tok": "java-split", "beam": self.beam, "shift-size": MAX_SHIFT_SIZE,
            "shift-dist": self.max_shift_dist, "nrefs": "var", "reflen": "avg",
        })

    def corpus_statistics(self, hypotheses: Sequence[str], references: Sequence[Sequence[str]]) -> list[TERStats]:
        return self.submit(hypotheses, references)()

    def submit(self, hypotheses: Sequence[str], references: Sequence[Sequence[str]]) -> Callable[[], list[TERStats]]:
        """Start scoring now; the returned function waits for (or, with one worker, computes) the statistics.

        Worker processes are forked here, so a caller can start threads (a Meteor JVM) afterwards.
        """
        check_corpus(hypotheses, references)
        settings = (self.case_sensitive, self.beam, self.max_shift_dist)
        workers = min(self.workers or _workers(), max(1, len(hypotheses) // 200))
        if workers <= 1:
            job = (list(hypotheses), [list(r) for r in references], *settings)
            return lambda: _segments(job)
        # Interleaved chunks balance long and short segments; the order is restored below.
        chunks = [(list(hypotheses[k::workers]), [list(r) for r in references[k::workers]], *settings)
                  for k in range(workers)]
        pool = ProcessPoolExecutor(workers, mp_context=get_context("fork" if os.name == "posix" else "spawn"))
        futures = [pool.submit(_segments, chunk) for chunk in chunks]

        def collect() -> list[TERStats]:
            try:
                parts = [future.result() for future in futures]
            finally:
                pool.shutdown(cancel_futures=True)
            stats: list[TERStats] = [None] * len(hypotheses)  # type: ignore[list-item]
            for k, part in enumerate(parts):
                stats[k::workers] = part
            return stats

        return collect

    def score_from_statistics(self, stats: Sequence[TERStats]) -> Score:
        edits = words = 0.0
        for segment in stats:  # tercom's running double sums, in segment order
            edits += segment.edits
            words += segment.ref_words
        if words == 0:
            value = float("nan") if edits == 0 else float("inf")  # Java's x / 0.0
        else:
            value = edits / words
        skipped = sum(1 for s in stats if not s.scored)
        details = {"edits": edits, "ref_words": words, "segments": len(stats), "skipped_segments": skipped}
        return Score(self.name, value, self.signature(), details)
