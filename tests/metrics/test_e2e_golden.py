"""The E2E suite against measure_scores.py's own numbers (golden bundle in the shared data dir).

Each system is scored once per module; the challenge TSVs of tgen/slug/chen/adapt load to the
very same inputs as the plain-text golden files, so their scores are reused, not recomputed.
"""

from __future__ import annotations

import csv
import json
import random
from pathlib import Path

import pytest

from metrics._paraphrase import cut_table
from metrics.bleu import BLEU
from metrics.cider import CIDEr
from metrics.meteor import MeteorProcess
from metrics.nist import NIST
from metrics.ptb import ptb_tokenize_corpus
from metrics.suites.e2e import load_e2e, score_e2e

GOLDEN = ["tgen", "slug", "chen", "adapt"]
SHARED = ["adapt", "chen", "slug", "tgen", "tuda", "zhang"]  # official_scores_shared.tsv
COCO = ["METEOR", "ROUGE_L", "CIDEr"]
KEYS = ["BLEU", "NIST", *COCO]


@pytest.fixture(scope="module")
def golden(data_dir: Path, java: str) -> dict[str, dict]:
    """Per golden system: inputs, our scores, and official.json."""
    root = data_dir / "golden" / "e2e"
    out = {}
    for system in GOLDEN:
        hyps, refs = load_e2e(root / system / "hyp.txt", root / "refs.txt")
        out[system] = {
            "inputs": (hyps, refs),
            "scores": score_e2e(hyps, refs),
            "official": json.loads((root / system / "official.json").read_text()),
        }
    return out


@pytest.fixture(scope="module")
def shared(data_dir: Path, golden: dict[str, dict]) -> dict[str, dict]:
    """The six systems of official_scores_shared.tsv, read from the challenge TSVs + testset_w_refs.csv."""
    table = data_dir / "golden" / "e2e" / "official_scores_shared.tsv"
    official = {row["File"].removesuffix(".tsv"): row for row in csv.DictReader(table.open(), delimiter="\t")}
    out = {}
    for system in SHARED:
        inputs = load_e2e(data_dir / "system_outputs" / "e2e_challenge" / "outputs" / f"{system}.tsv",
                          data_dir / "e2e" / "official" / "testset_w_refs.csv")
        reuse = golden.get(system)
        same = reuse is not None and reuse["inputs"] == inputs
        scores = reuse["scores"] if same else score_e2e(*inputs)
        out[system] = {"inputs": inputs, "scores": scores, "official": official[system], "reused": same}
    return out


@pytest.mark.parametrize("system", GOLDEN)
def test_golden_matches_measure_scores(golden: dict, system: str) -> None:
    ours, official = golden[system]["scores"], golden[system]["official"]["scores"]
    # BLEU/NIST: the Perl script prints 4 decimals; COCO scorers: full floats.
    assert round(ours["BLEU"], 4) == official["BLEU"]
    assert round(ours["NIST"], 4) == official["NIST"]
    for key in COCO:
        assert ours[key] == pytest.approx(official[key], abs=1e-6), key


@pytest.mark.parametrize("system", SHARED)
def test_challenge_tsv_matches_official_table(shared: dict, system: str) -> None:
    ours, official = shared[system]["scores"], shared[system]["official"]
    assert {key: round(ours[key], 4) for key in KEYS} == {key: float(official[key]) for key in KEYS}


@pytest.mark.parametrize("system", GOLDEN)
def test_challenge_tsv_loads_like_golden_text(shared: dict, system: str) -> None:
    # refs.txt is measure_scores.load_data(testset_w_refs.csv, <system>.tsv): same inputs, same scores.
    assert shared[system]["reused"]


@pytest.mark.parametrize("system", GOLDEN)
def test_pymteval_nist_matches_option_p(golden: dict, system: str) -> None:
    hyps, refs = golden[system]["inputs"]
    expected = golden[system]["official"]["python_mteval_option_-p"]["NIST"]
    assert NIST("pymteval").corpus_score(hyps, refs).value == pytest.approx(expected, abs=1e-6)


def test_signature_names_settings(golden: dict) -> None:
    signature = golden["tgen"]["scores"]["signature"]
    assert set(signature) == set(KEYS)
    assert "impl:mteval-v13a-sig-e2e" in signature["NIST"] and "case:lc" in signature["BLEU"]
    assert "meteor-1.5-coco." in signature["METEOR"] and "ptb-corenlp-3.4.1." in signature["CIDEr"]
    assert "beta:1.2" in signature["ROUGE_L"] and "sigma:6.0" in signature["CIDEr"]


def test_all_challenge_outputs_load(data_dir: Path) -> None:
    """Every primary system file (quotes, BOMs, CR and \\r\\r\\n endings) gives 630 aligned segments."""
    refs_csv = data_dir / "e2e" / "official" / "testset_w_refs.csv"
    files = sorted((data_dir / "system_outputs" / "e2e_challenge" / "outputs").glob("*.tsv"))
    assert len(files) == 21
    for path in files:
        hyps, refs = load_e2e(path, refs_csv)
        assert len(hyps) == len(refs) == 630, path.name
        assert sum(len(group) for group in refs) == 4693
        assert all("\r" not in h and not h.startswith('"') for h in hyps), path.name


def test_references_as_hypotheses_score_high(golden: dict) -> None:
    hyps, refs = golden["tgen"]["inputs"]
    firsts = [group[0] for group in refs]
    assert BLEU().corpus_score(firsts, refs).value == pytest.approx(1.0)
    tok_hyps, tok_refs = ptb_tokenize_corpus(firsts, refs)
    cider = CIDEr()
    perfect = cider.score_from_statistics(cider.statistics_from_tokens(tok_hyps, tok_refs)).value
    assert perfect > 1.5 * golden["tgen"]["scores"]["CIDEr"]


def test_segment_order_does_not_matter(golden: dict) -> None:
    hyps, refs = golden["tgen"]["inputs"]
    order = list(range(len(hyps)))
    random.Random(13).shuffle(order)
    shuffled = score_e2e([hyps[i] for i in order], [refs[i] for i in order])
    original = golden["tgen"]["scores"]
    for key in ("BLEU", "NIST", "METEOR"):  # corpus statistics are sums: exactly equal
        assert shuffled[key] == original[key], key
    for key in ("ROUGE_L", "CIDEr"):  # means of per-segment floats: equal up to summation order
        assert shuffled[key] == pytest.approx(original[key], rel=1e-12), key


def test_cut_paraphrase_table_gives_the_same_meteor_statistics(golden: dict) -> None:
    """The speed-up must not move a number: full table vs the table cut to the test references."""
    _, refs = golden["tgen"]["inputs"]
    segments = slice(0, 200)
    tokens = {system: ptb_tokenize_corpus(*golden[system]["inputs"]) for system in ("tgen", "adapt")}
    with MeteorProcess(cut_table(tokens["tgen"][1])) as cut, MeteorProcess() as full:
        for hyps, tok_refs in tokens.values():
            hyps, tok_refs = hyps[segments], tok_refs[segments]
            assert cut.statistics(hyps, tok_refs) == full.statistics(hyps, tok_refs)
