"""Unit checks of each metric's arithmetic and tokenisation (small inputs; no data dir needed)."""

from __future__ import annotations

import math
import random
from collections import Counter

import pytest

from metrics.base import Score, check_corpus, clip_counts, count_ngrams
from metrics.bleu import BLEU, closest_ref_length
from metrics.cider import CIDEr
from metrics.nist import NIST
from metrics.rouge import ROUGE_L, lcs_length
from metrics.tokenizers import tokenize_13a, tokenize_13a_pymteval


def dp_lcs(a: list[str], b: list[str]) -> int:
    table = [[0] * (len(b) + 1) for _ in range(len(a) + 1)]
    for i, x in enumerate(a, 1):
        for j, y in enumerate(b, 1):
            table[i][j] = table[i - 1][j - 1] + 1 if x == y else max(table[i - 1][j], table[i][j - 1])
    return table[-1][-1]


@pytest.mark.parametrize("text, tokens", [
    ("Hello, World.", ("hello", ",", "world", ".")),
    ("It costs £20-25, i.e. 3.5 stars!",
     ("it", "costs", "£20", "-", "25", ",", "i", ".", "e", ".", "3.5", "stars", "!")),
    ("A&amp;B &quot;x&quot; <skipped>", ("a", "&", "b", '"', "x", '"')),
    ("ÉCOLE Café", ("École", "café")),  # Perl's tr/[A-Z]/[a-z]/ lowercases ASCII only
    ("a\u00a0b\tc", ("a", "b", "c")),  # Perl's \s includes NBSP
    ("", ()),
])
def test_tokenize_13a_follows_the_perl_script(text: str, tokens: tuple[str, ...]) -> None:
    assert tokenize_13a(text) == tokens


def test_pymteval_flavour_keeps_its_quirks() -> None:
    assert tokenize_13a_pymteval("") == ("",)  # "".split(" ") in e2e-metrics' port
    assert tokenize_13a_pymteval("ÉCOLE") == ("école",)  # Python's str.lower


def test_tokenize_13a_equals_sacrebleu_on_ascii() -> None:
    sacrebleu = pytest.importorskip("sacrebleu.tokenizers.tokenizer_13a")
    rng = random.Random(0)
    alphabet = "aB3 .,-'\"&;:!?()/£é0"
    tok = sacrebleu.Tokenizer13a()
    for _ in range(2000):
        text = "".join(rng.choice(alphabet) for _ in range(rng.randint(0, 30)))
        assert tokenize_13a(text) == tuple(tok(text.lower()).split()), text


def test_bit_parallel_lcs_equals_dynamic_programming() -> None:
    rng = random.Random(1)
    for _ in range(500):
        a = [rng.choice("abcd") for _ in range(rng.randint(0, 25))]
        b = [rng.choice("abcde") for _ in range(rng.randint(0, 25))]
        assert lcs_length(a, b) == dp_lcs(a, b)


def test_closest_reference_length_prefers_the_shorter_on_ties_and_skips_empty() -> None:
    assert closest_ref_length(7, [11, 8, 6, 7]) == 7
    assert closest_ref_length(7, [11, 8, 6]) == 6
    assert closest_ref_length(3, [10, 0]) == 10


def test_bleu_hand_computed() -> None:
    score = BLEU().corpus_score(["the cat sat on the mat"], [["the cat sat on a mat", "a cat is on the mat"]])
    # 1-grams 5/6 ('the' clipped to 1: no single reference has it twice), 2-grams 5/5,
    # 3-grams 3/4, 4-grams 1/3; hypothesis and closest reference both 6 words: BP = 1
    expected = math.exp((math.log(5 / 6) + math.log(5 / 5) + math.log(3 / 4) + math.log(1 / 3)) / 4)
    assert score.value == pytest.approx(expected, rel=1e-15)
    assert BLEU().corpus_score([""], [["a b"]]).value == 0.0


def test_nist_perl_zero_history_quirk() -> None:
    nist = NIST()
    stats = nist.corpus_statistics(["0 x"], [["0 x y", "z 0 x"]])
    # Perl tests the history string "0" as false, so count(0 x)/total words is used.
    assert nist._info(("0", "x"), stats) == pytest.approx(-math.log(2 / 6) / math.log(2))
    assert NIST("pymteval")._info(("0", "x"), NIST("pymteval").corpus_statistics(["0 x"], [["0 x y", "z 0 x"]])) == 0.0


def test_nist_variants_differ_in_average_reference_length() -> None:
    hyps, refs = ["a b", "c"], [["a b c d e f", "a b c"], ["c d"]]
    official, python = NIST("mteval").corpus_score(hyps, refs), NIST("pymteval").corpus_score(hyps, refs)
    assert official.details["info_per_n"] == pytest.approx(python.details["info_per_n"], rel=1e-14)
    assert official.details["length_ratio"] == 3 / (11 / (3 / 2))  # words / (ref words / mean refs per segment)
    assert python.details["length_ratio"] == 3 / (4.5 + 2.0)  # words / sum of per-segment mean lengths
    with pytest.raises(ValueError, match="unknown NIST variant"):
        NIST("nltk")


def test_clip_counts() -> None:
    hyp = count_ngrams(("a", "a", "b"), 2)
    clipped = clip_counts(hyp, [Counter({("a",): 1, ("b",): 1}), Counter({("a",): 2})])
    assert clipped == {("a",): 2, ("b",): 1}


def test_rouge_and_cider_equal_pycocoevalcap_bit_for_bit() -> None:
    cider_ref = pytest.importorskip("pycocoevalcap.cider.cider")
    rouge_ref = pytest.importorskip("pycocoevalcap.rouge.rouge")
    rng = random.Random(2)
    words = "a the cat dog sat on mat is near # 20 -lrb- n't".split()
    hyps = [" ".join(rng.choice(words) for _ in range(rng.randint(1, 15))) for _ in range(40)]
    refs = [[" ".join(rng.choice(words) for _ in range(rng.randint(1, 15))) for _ in range(rng.randint(1, 5))]
            for _ in range(40)]
    hyps[0] = ""  # an empty hypothesis scores 0 in both
    gts, res = {i: r for i, r in enumerate(refs)}, {i: [h] for i, h in enumerate(hyps)}
    for ours, theirs in ((ROUGE_L(), rouge_ref.Rouge()), (CIDEr(), cider_ref.Cider())):
        stats = ours.statistics_from_tokens(hyps, refs)
        mine = ours.score_from_statistics(stats)
        value, segments = theirs.compute_score(gts, res)
        assert mine.value == float(value)
        assert mine.details["segment_scores"] == [float(s) for s in segments]


def test_check_corpus_names_the_counts() -> None:
    with pytest.raises(ValueError, match="2 hypotheses but 1 reference groups"):
        check_corpus(["a", "b"], [["a"]])
    with pytest.raises(ValueError, match="segment 0"):
        check_corpus(["a"], [[]])


def test_score_prints_value_and_signature() -> None:
    score = Score("BLEU", 0.65931, "BLEU|case:lc|version:0.1.0")
    assert str(score) == "BLEU = 0.6593  [BLEU|case:lc|version:0.1.0]"
    assert BLEU().signature().startswith("BLEU|impl:mteval-v13a|nrefs:var|case:lc|tok:13a")


def test_ptb_tokenizer_keeps_one_line_per_text(java: str) -> None:
    from metrics.ptb import ptb_tokenize

    texts = ["The Eagle (a pub), £20-£25 isn't \"good\".", "x\u2028y\rz", ""]
    # brackets survive lowercased, £ becomes #, punctuation tokens go; line breaks inside a text
    # must not shift the following lines
    assert ptb_tokenize(texts) == ["the eagle -lrb- a pub -rrb- # 20 # 25 is n't good", "x y z", ""]


def test_cut_table_keeps_entries_with_a_reference_phrase_in_order(tmp_path, monkeypatch: pytest.MonkeyPatch) -> None:
    import gzip

    from metrics import _paraphrase
    from metrics.base import MetricError

    table = tmp_path / "table.gz"
    entries = [(b"0.1", b"big", b"large"), (b"0.2", b"the cat", b"a feline"), (b"0.3", b"dog", b"hound"),
               (b"0.4", b"a  large", b"huge"), (b"0.5", b"x", b"cat sat")]
    table.write_bytes(gzip.compress(b"".join(b"\n".join(e) + b"\n" for e in entries)))
    monkeypatch.setattr(_paraphrase, "coco_file", lambda relative: table)
    spans = _paraphrase._spans(["the cat sat on a large mat"])
    _paraphrase._write_cut(spans, tmp_path / "cut.gz")
    kept = gzip.decompress((tmp_path / "cut.gz").read_bytes()).split(b"\n")[:-1]
    # "large", "the cat", "a  large" (whitespace runs count as one) and "cat sat" occur in the reference
    assert kept == [b"0.1", b"big", b"large", b"0.2", b"the cat", b"a feline", b"0.4", b"a  large", b"huge",
                    b"0.5", b"x", b"cat sat"]
    table.write_bytes(gzip.compress(b"0.1\nbig\r\nlarge\n"))
    with pytest.raises(MetricError, match="cannot cut it safely"):
        _paraphrase._write_cut(spans, tmp_path / "cut2.gz")
