"""The WebNLG 2017 suite against the challenge scripts' own numbers, and the rules behind them.

Golden: Baseline, GKB_Unimelb (MELBOURNE), ADAPT_Centre and DART's BART-large, scored by
``multi-bleu.perl -lc``, Meteor 1.5 ``-norm -r 3`` and tercom 0.7.25 (golden/webnlg2017). Each
system is scored once per module, all / seen / unseen from one run. The TER rules are also checked
against a literal, unoptimised port of tercom's algorithm (written here, independently of
metrics.ter) on random inputs, so the speed-ups are covered beyond these files.
"""

from __future__ import annotations

import gzip
import json
import os
import random
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from metrics import meteor_plain
from metrics.multibleu import MultiBLEU, perl_tokens
from metrics.suites.webnlg import SPLITS, read_lines, read_seen_mask, score_webnlg
from metrics.ter import TER, _BeamSearch, _Levenshtein, segment_ter
from metrics.webnlg_preprocess import preprocess_hypotheses, preprocess_reference, read_submission

REPO = Path(__file__).resolve().parents[2]
GOLDEN = ["Baseline", "GKB_Unimelb", "ADAPT_Centre", "DART_BART-large"]
CHALLENGE = GOLDEN[:3]  # the challenge's own normalised outputs (BART-large comes from the golden bundle)


def _unavailable(reason: str) -> None:
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(f"{reason} (required when CI=true)")
    pytest.skip(reason)


@pytest.fixture(scope="module")
def webnlg(data_dir: Path) -> dict[str, Path]:
    paths = {"golden": data_dir / "golden" / "webnlg2017",
             "challenge": data_dir / "system_outputs" / "webnlg2017_challenge"}
    needed = [paths["golden"] / "official_all_systems.json", paths["challenge"] / "references"]
    if not all(path.exists() for path in needed):
        _unavailable(f"WebNLG 2017 golden data not found under {data_dir}")
    return paths


@pytest.fixture(scope="module")
def references(webnlg: dict[str, Path]) -> list[list[str]]:
    columns = [read_lines(webnlg["challenge"] / "references" / f"gold-all-cat-reference{k}.lex") for k in range(3)]
    return [list(group) for group in zip(*columns, strict=True)]


@pytest.fixture(scope="module")
def seen(webnlg: dict[str, Path]) -> list[bool]:
    return read_seen_mask(webnlg["golden"] / "test_split.tsv")


def normalised_output(webnlg: dict[str, Path], team: str) -> list[str]:
    if team in CHALLENGE:
        return read_lines(webnlg["challenge"] / "normalized_team_outputs" / f"{team}_all-cat.txt")
    path = webnlg["golden"] / "systems" / team / "hyp_all-cat_preprocessed.txt.gz"
    return gzip.decompress(path.read_bytes()).decode("utf-8").split("\n")[:-1]


@pytest.fixture(scope="module")
def scored(webnlg: dict[str, Path], references: list[list[str]], seen: list[bool], java: str) -> dict[str, dict]:
    official = json.loads((webnlg["golden"] / "official_all_systems.json").read_text())
    out = {}
    for team in GOLDEN:
        lines = json.loads((webnlg["golden"] / "systems" / team / "official.json").read_text())["scores"]
        result = score_webnlg(normalised_output(webnlg, team), references, splits=SPLITS, seen=seen,
                              preprocessed=True)
        out[team] = {"ours": result, "official": official[team], "lines": lines}
    return out


@pytest.mark.parametrize("team", GOLDEN)
@pytest.mark.parametrize("split", SPLITS)
def test_scores_equal_the_challenge_scripts(scored: dict, team: str, split: str) -> None:
    ours, official = scored[team]["ours"][split], scored[team]["official"][split]
    assert f"{100 * ours['BLEU']:.2f}" == f"{official['BLEU']:.2f}"
    for metric in ("METEOR", "TER"):
        assert round(ours[metric], 4) == round(official[metric], 4), metric
        assert ours[metric] == pytest.approx(official[metric], abs=1e-12), metric  # in fact the same double
    details, printed = scored[team]["ours"]["details"][split], scored[team]["lines"][split]
    assert details["BLEU_line"] == printed["BLEU_line"]  # multi-bleu.perl's whole line, byte for byte
    assert (details["TER_edits"], details["TER_avg_ref_words"]) == (printed["TER_edits"], printed["TER_avg_ref_words"])


def test_signatures_name_the_protocol(scored: dict) -> None:
    signature = scored["Baseline"]["ours"]["signature"]
    assert "impl:multi-bleu.perl" in signature["BLEU"] and "case:lc" in signature["BLEU"]
    assert "meteor-1.5-cmu." in signature["METEOR"] and "opts:-l en -norm -r 3" in signature["METEOR"]
    assert "impl:tercom-0.7.25-py" in signature["TER"] and "beam:20" in signature["TER"]
    assert all("hyp:given" in s and s.endswith("version:0.1.0") for s in signature.values())


def test_split_files_are_the_all_cat_files_in_order(webnlg: dict[str, Path], seen: list[bool]) -> None:
    """The official old-cat / new-cat files are the all-cat lines of seen / unseen inputs, in order."""
    refs = webnlg["challenge"] / "references"
    for part, flag in (("old-cat", True), ("new-cat", False)):
        for k in range(3):
            full = read_lines(refs / f"gold-all-cat-reference{k}.lex")
            kept = [x for x, s in zip(full, seen, strict=True) if s == flag]
            assert read_lines(refs / f"gold-{part}-reference{k}.lex") == kept
        for team in CHALLENGE:
            full = normalised_output(webnlg, team)
            outputs = read_lines(webnlg["challenge"] / "normalized_team_outputs" / f"{team}_{part}.txt")
            assert outputs == [x for x, s in zip(full, seen, strict=True) if s == flag]


@pytest.mark.parametrize("team", GOLDEN)
def test_raw_submission_preprocesses_to_the_scored_text(webnlg: dict[str, Path], team: str, tmp_path: Path) -> None:
    raw = tmp_path / "submission.txt"
    raw.write_bytes(gzip.decompress((webnlg["golden"] / "systems" / team / "submission.txt.gz").read_bytes()))
    assert preprocess_hypotheses(read_submission(raw)) == normalised_output(webnlg, team)


PICK = range(0, 1862, 25)  # a subset with both splits and every size (Meteor reuses the whole set's table)


@pytest.fixture(scope="module")
def subset(webnlg: dict[str, Path], references: list[list[str]], seen: list[bool], scored: dict,
           tmp_path_factory: pytest.TempPathFactory) -> dict:
    """GKB_Unimelb on the PICK inputs: raw lines, and the suite's scores from the normalised text."""
    raw = tmp_path_factory.mktemp("gkb") / "final_result.txt"
    raw.write_bytes(gzip.decompress((webnlg["golden"] / "systems" / "GKB_Unimelb" / "submission.txt.gz").read_bytes()))
    lines = read_submission(raw)
    normalised = normalised_output(webnlg, "GKB_Unimelb")
    scores = score_webnlg([normalised[i] for i in PICK], [references[i] for i in PICK], splits=SPLITS,
                          seen=[seen[i] for i in PICK], preprocessed=True)
    return {"raw": [lines[i] for i in PICK], "scores": scores}


def test_cli_scores_a_raw_submission(webnlg: dict[str, Path], scored: dict, tmp_path: Path) -> None:
    """The raw Baseline submission, through the official preprocessing, gives the official numbers."""
    raw = tmp_path / "baseline.txt"
    raw.write_bytes(gzip.decompress((webnlg["golden"] / "systems" / "Baseline" / "submission.txt.gz").read_bytes()))
    refs = [webnlg["challenge"] / "references" / f"gold-all-cat-reference{k}.lex" for k in range(3)]
    done = subprocess.run([sys.executable, "-m", "metrics", "webnlg", "--hyp", raw, "--ref", *refs, "--categories",
                           webnlg["golden"] / "test_split.tsv"], cwd=REPO, capture_output=True, text=True,
                          timeout=600, check=False)
    assert done.returncode == 0, done.stderr
    printed = json.loads(done.stdout)
    for split in SPLITS:
        assert printed[split] == scored["Baseline"]["ours"][split]  # same text as the normalised output
        assert f"{100 * printed[split]['BLEU']:.2f}" == f"{scored['Baseline']['official'][split]['BLEU']:.2f}"
    assert "hyp:evaluation.py" in printed["signature"]["TER"]


def test_cli_wrong_reference_count_and_lengths_exit_2(webnlg: dict[str, Path], tmp_path: Path) -> None:
    refs = [webnlg["challenge"] / "references" / f"gold-all-cat-reference{k}.lex" for k in range(3)]
    hyp = tmp_path / "short.txt"
    hyp.write_text("a\nb\n")
    for args, message in ((refs[:2], "exactly 3 reference files"), (refs, "has 2 lines but")):
        done = subprocess.run([sys.executable, "-m", "metrics", "webnlg", "--hyp", hyp, "--ref", *args,
                               "--preprocessed"], cwd=REPO, capture_output=True, text=True, timeout=120, check=False)
        assert done.returncode == 2 and done.stdout == "" and message in done.stderr
        assert len(done.stderr.strip().splitlines()) == 1


def test_harness_rows_give_the_official_references_and_splits(data_dir: Path, subset: dict,
                                                              references: list[list[str]], seen: list[bool],
                                                              tmp_path: Path) -> None:
    """The harness's prepared WebNLG test rows (XML texts) and its scoring adapter give the challenge's inputs."""
    if not (data_dir / "webnlg2017" / "test" / "testdata_with_lex.xml").is_file():
        _unavailable(f"WebNLG 2017 XML not found under {data_dir / 'webnlg2017'}")
    from harness.data import webnlg as loader
    from harness.io import read_jsonl
    from harness.scoring import ROW_SUITES

    loader.prepare(None, data_dir, tmp_path / "prepared")
    rows = read_jsonl(tmp_path / "prepared" / "test.jsonl")
    padded = [[preprocess_reference(r) for r in row["official_references"]] for row in rows]
    assert [group + [""] * (3 - len(group)) for group in padded] == references
    assert [row["seen"] for row in rows] == seen
    scores = ROW_SUITES["webnlg"](subset["raw"], [rows[i] for i in PICK], {}, {})
    for split in SPLITS:
        for metric in ("BLEU", "METEOR", "TER"):
            assert scores[f"{metric}_{split}"] == subset["scores"][split][metric], (metric, split)
    assert set(scores["signature"]) == {f"{m}_{s}" for m in ("BLEU", "METEOR", "TER") for s in SPLITS}
    assert "ref:evaluation.py" in scores["signature"]["TER_seen"]


def test_cmu_jar_differs_from_the_coco_jar_only_in_its_command_line_class() -> None:
    """The WebNLG/DART jar and E2E's coco jar share every aligner, matcher, normaliser and scorer class,
    so the paraphrase table cut to the references (proven exact with the coco jar) is exact here too."""
    from metrics._java import coco_file

    def entries(relative: str) -> dict[str, int]:
        with zipfile.ZipFile(coco_file(relative)) as jar:
            return {info.filename: info.CRC for info in jar.infolist()}

    cmu, coco = entries(meteor_plain.CMU_JAR), entries("meteor/meteor-1.5.jar")
    assert set(cmu) == set(coco)
    assert {name for name in cmu if cmu[name] != coco[name]} == {"Meteor.class", "META-INF/MANIFEST.MF"}


# --- multi-bleu.perl rules -----------------------------------------------------------------------


def test_multibleu_counts_empty_reference_lines_as_length_zero() -> None:
    stats = MultiBLEU().corpus_statistics(["a b"], [["", "a b c d e"]])
    assert stats.ref_len == 0 and stats.hyp_len == 2  # |2 - 0| < |2 - 5|: the empty line is the closest
    tie = MultiBLEU().corpus_statistics(["a b"], [["a b c", "a"]])
    assert tie.ref_len == 1  # equally close: the shorter length
    assert perl_tokens("ÉCOLE Ab\u00a0c\r", lowercase=True) == ["École", "ab\u00a0c"]  # ASCII-only lc, ASCII spaces
    score = MultiBLEU(lowercase=True).corpus_score(["The cat sat"], [["the cat sat"]])
    assert score.value == 0.0 and score.details["line"].startswith("BLEU = 0.00, 100.0/100.0/100.0/0.0")


# --- tercom rules --------------------------------------------------------------------------------


def test_tercom_input_rules() -> None:
    empty_hyp = segment_ter("", ["a b c", "d e"])
    assert (empty_hyp.edits, empty_hyp.ref_words) == (2.0, 2.5)  # fewest edits: 2 deletions; mean length 2.5
    empty_ref = segment_ter("a b", [""])
    assert (empty_ref.edits, empty_ref.ref_words) == (2.0, 0.0)
    assert segment_ter("The CAT", ["the cat"]).edits == 0.0  # case-insensitive by default
    assert segment_ter("The CAT", ["the cat"], case_sensitive=True).edits == 2.0
    assert segment_ter("\x01a b\x1f ", ["a b"]).edits == 0.0  # Java trim(): every char <= U+0020
    assert segment_ter("a\u00a0b", ["a b"]).edits == 2.0  # Java's \\s has no NBSP: one token "a\u00a0b"
    assert not segment_ter("a\u2028b", ["a b"]).scored  # Java's "." stops at U+2028: tercom skips the line
    dropped = segment_ter("a b", ["a\u2028b", "a c"])
    assert (dropped.edits, dropped.ref_words) == (1.0, 2.0)  # the invalid reference line is not read
    with pytest.raises(ValueError, match="no usable reference"):
        segment_ter("a b", ["a\rb"])
    shifted = segment_ter("c d a b", ["a b c d"])
    assert (shifted.edits, shifted.ref_words) == (1.0, 4.0)  # one shift of "a b" (or "c d")


def test_ter_corpus_sums_edits_over_mean_reference_lengths() -> None:
    ter = TER(workers=1)
    score = ter.corpus_score(["a b", "x y z"], [["a b", "a b c d"], ["x y z"]])
    assert score.details["edits"] == 0.0 and score.details["ref_words"] == 3.0 + 3.0
    assert score.value == 0.0
    assert ter.corpus_score(["a"], [["b"]]).value == 1.0


def _literal_min_edit_dist(hyp: list, ref: list, beam: int) -> tuple[float, str]:
    """tercom 0.7.25's MinEditDist, written out with its S / P matrices (no caching, no tricks)."""
    inf = 999999.0
    big = max(len(hyp), len(ref)) + 2
    S = [[-1.0] * big for _ in range(big)]
    P = [["0"] * big for _ in range(big)]
    S[0][0] = 0.0
    current_best, current_first_good, cur_last_good = inf, 0, 0
    for j in range(len(hyp) + 1):
        last_best, current_best = current_best, inf
        first_good, current_first_good = current_first_good, -1
        last_good, cur_last_good = cur_last_good, -1
        i = first_good
        while i <= len(ref):
            if i > last_good:
                break
            if S[i][j] < 0:
                i += 1
                continue
            score = S[i][j]
            if j < len(hyp) and score > last_best + beam:
                i += 1
                continue
            if current_first_good == -1:
                current_first_good = i
            if i < len(ref) and j < len(hyp):
                if ref[i] == hyp[j]:
                    cost = score
                    if S[i + 1][j + 1] == -1 or cost < S[i + 1][j + 1]:
                        S[i + 1][j + 1], P[i + 1][j + 1] = cost, " "
                    current_best = min(current_best, cost)
                else:
                    cost = score + 1
                    if S[i + 1][j + 1] < 0 or cost < S[i + 1][j + 1]:
                        S[i + 1][j + 1], P[i + 1][j + 1] = cost, "S"
                        current_best = min(current_best, cost)
            cur_last_good = i + 1
            if j < len(hyp) and (S[i][j + 1] < 0 or S[i][j + 1] > score + 1):
                S[i][j + 1], P[i][j + 1] = score + 1, "I"
            if i < len(ref) and (S[i + 1][j] < 0 or S[i + 1][j] > score + 1):
                S[i + 1][j], P[i + 1][j] = score + 1, "D"
                if i >= last_good:
                    last_good = i + 1
            i += 1
    i, j, path = len(ref), len(hyp), []
    while i > 0 or j > 0:
        op = P[i][j]
        path.append(op)
        i, j = (i - 1, j - 1) if op in " S" else (i - 1, j) if op == "D" else (i, j - 1)
    return S[len(ref)][len(hyp)], "".join(reversed(path))


def _literal_ter(hyp: list, ref: list, beam: int = 20, max_size: int = 10, max_dist: int = 50) -> float:
    """tercom's TER(hyp, ref): BuildWordMatches, then CalcBestShift until no shift helps."""
    present = set(hyp)
    rloc: dict[tuple, list[int]] = {}
    for start in range(len(ref)):
        end = start
        while end < len(ref) and end - start <= max_size and ref[end] in present:
            rloc.setdefault(tuple(ref[start:end + 1]), []).append(start)
            end += 1
    edits, path = _literal_min_edit_dist(hyp, ref, beam)
    cur, shifts = list(hyp), 0
    while True:
        herr, rerr, ralign = [False] * len(cur), [False] * len(ref), [0] * len(ref)
        h = r = -1
        for op in path:
            if op in " S":
                h, r = h + 1, r + 1
                ralign[r] = h
                herr[h] = rerr[r] = op == "S"
            elif op == "I":
                h += 1
                herr[h] = True
            else:
                r += 1
                rerr[r], ralign[r] = True, h
        poss: list[list[tuple]] = [[] for _ in range(max_size + 1)]
        for start in range(len(cur)):
            if (cur[start],) not in rloc or not any(
                    start != ralign[m] and ralign[m] - start <= max_dist and start - ralign[m] - 1 <= max_dist
                    for m in rloc[(cur[start],)]):
                continue
            ok, end = True, start
            while ok and end < len(cur) and end < start + max_size:
                cand, ok = tuple(cur[start:end + 1]), False
                if cand in rloc:
                    if not any(herr[start:end + 1]):
                        ok = True
                    else:
                        for m in rloc[cand]:
                            a = ralign[m]
                            if not (a != start and (a < start or a > end) and a - start <= max_dist
                                    and start - a <= max_dist):
                                continue
                            ok = True
                            if not any(rerr[m:m + end - start + 1]):
                                continue
                            for roff in range(-1, end - start + 1):
                                if roff == -1 and m == 0:
                                    poss[end - start].append((start, end, -1))
                                elif start != ralign[m + roff] and (roff == 0 or ralign[m + roff] != a):
                                    poss[end - start].append((start, end, ralign[m + roff]))
                end += 1
        best_cost, best_edits, best = 0.0, edits, None
        for size in range(len(poss) - 1, -1, -1):
            maxfix = 2 * (1 + size)
            fix = edits - (best_cost + best_edits)
            if fix > maxfix or (best_cost != 0 and fix == maxfix):
                break
            for start, end, newloc in poss[size]:
                fix = edits - (best_cost + best_edits)
                if fix > maxfix or (best_cost != 0 and fix == maxfix):
                    break
                block = cur[start:end + 1]
                if newloc == -1:
                    moved = block + cur[:start] + cur[end + 1:]
                elif newloc < start:
                    moved = cur[:newloc + 1] + block + cur[newloc + 1:start] + cur[end + 1:]
                elif newloc > end:
                    moved = cur[:start] + cur[end + 1:newloc + 1] + block + cur[newloc + 1:]
                else:
                    k = newloc - start
                    moved = cur[:start] + cur[end + 1:end + 1 + k] + block + cur[end + 1 + k:]
                value, moved_path = _literal_min_edit_dist(moved, ref, beam)
                gain = (best_edits + best_cost) - (value + 1)
                if gain > 0 or (best_cost == 0 and gain == 0):
                    best, best_cost, best_edits = (moved, moved_path), 1.0, value
        if best is None:
            return edits + shifts
        shifts += 1
        (cur, path), edits = best, best_edits


def _random_pair(rng: random.Random) -> tuple[str, str]:
    vocab = [f"w{k}" for k in range(rng.randint(2, 9))]
    ref = [rng.choice(vocab) for _ in range(rng.randint(1, 45))]
    hyp = list(ref)
    for _ in range(rng.randint(0, 8)):  # local edits and block moves, so that shifts matter
        kind = rng.random()
        if kind < 0.4 and len(hyp) > 2:
            a = rng.randrange(len(hyp))
            b = min(len(hyp), a + rng.randint(1, 4))
            block, hyp = hyp[a:b], hyp[:a] + hyp[b:]
            at = rng.randint(0, len(hyp))
            hyp = hyp[:at] + block + hyp[at:]
        elif kind < 0.7:
            hyp.insert(rng.randint(0, len(hyp)), rng.choice(vocab))
        elif len(hyp) > 1:
            hyp.pop(rng.randrange(len(hyp)))
    return " ".join(hyp), " ".join(ref)


@pytest.mark.parametrize("beam, cases", [(20, 40), (6, 100), (3, 150)])  # small beams prune a lot
def test_ter_equals_a_literal_port_of_tercom(beam: int, cases: int) -> None:
    rng = random.Random(beam)
    for _ in range(cases):
        hyp, ref = _random_pair(rng)
        expected = _literal_ter(hyp.split(), ref.split(), beam=beam)
        assert segment_ter(hyp, [ref], beam=beam).edits == expected, (hyp, ref)


def test_beam_search_and_exact_distance() -> None:
    """The bit-parallel distance equals a plain DP; the beam search (and its path) equals it whenever the
    distance is within the beam, and the exact path stands in for tercom's only when it is tercom's."""
    rng = random.Random(7)
    for _ in range(300):
        hyp, ref = (tuple(int(w[1:]) for w in text.split()) for text in _random_pair(rng))
        plain = list(range(len(ref) + 1))
        for k, word in enumerate(hyp, 1):
            row = [k]
            for i, other in enumerate(ref, 1):
                row.append(min(plain[i] + 1, row[i - 1] + 1, plain[i - 1] + (word != other)))
            plain = row
        exact = _Levenshtein(ref, 10)
        assert exact.distance(hyp, exact.states(()), 0) == plain[-1]
        states = exact.states(hyp)
        for beam in (20, 4, 2):
            search = _BeamSearch(ref, beam)
            value, node = search.distance(hyp)
            literal = _literal_min_edit_dist(list(hyp), list(ref), beam)
            assert (value, search.alignment(node)) == literal
            assert value >= plain[-1] and (value == plain[-1] or plain[-1] > beam)
            shortcut = exact.alignment(ref, hyp, states, beam)  # the exact DP's path, when provably tercom's
            assert shortcut is None or (plain[-1], shortcut) == literal
            assert shortcut is not None or plain[-1] > beam


def test_split_errors_name_the_fix(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="need each input's category"):
        score_webnlg(["a"], [["a"]], splits=["seen"])
    with pytest.raises(ValueError, match="no input is unseen"):
        score_webnlg(["a"], [["a"]], splits=["unseen"], seen=[True])
    with pytest.raises(ValueError, match="1 outputs but 2 categories"):
        score_webnlg(["a"], [["a"]], splits=["seen"], seen=[True, False])
    categories = tmp_path / "categories.txt"
    categories.write_text("Airport\nArtist\nseen\n")
    assert read_seen_mask(categories) == [True, False, True]
    categories.write_text("Airport\nCastle\n")
    with pytest.raises(ValueError, match="'Castle' is not a WebNLG 2017 category"):
        read_seen_mask(categories)
