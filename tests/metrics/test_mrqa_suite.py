"""MRQA suite and the SQuAD answer scoring: hand-computed rules, properties, the real SQuAD dev set."""

from __future__ import annotations

import dataclasses
import gzip
import json
import random
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from harness import scoring
from harness.data import mrqa as mrqa_data
from harness.data import prepare, sources
from harness.io import read_jsonl
from metrics.squad import ExactMatch, QAStats, TokenF1, exact_match, max_over_answers, normalize_answer, token_f1
from metrics.suites.mrqa import score_mrqa

REPO = Path(__file__).resolve().parents[2]
SQUAD_DEV = "mrqa/in_domain_dev/SQuAD.jsonl.gz"


def values(result: dict) -> dict:
    return {k: v for k, v in result.items() if k != "signature"}


# --- normalisation and the per-answer scores --------------------------------------------


@pytest.mark.parametrize("text, normalised", [
    ("The Beatles", "beatles"),
    ("an apple a day", "apple day"),
    ("Theatre and Anthem", "theatre and anthem"),  # articles are whole words only
    ("the.", ""),  # punctuation goes first, then the article
    ("(a) dog", "dog"),
    ("U.S.A.", "usa"),
    ("rock-n-roll", "rocknroll"),  # punctuation is deleted, not replaced by a space
    ("l'homme the_end", "lhomme theend"),  # ' and _ are ASCII punctuation
    ("Café  CRÈME\t\n", "café crème"),  # Unicode lower-casing; any whitespace collapses
    ("24–10", "24–10"),  # an en dash is not ASCII punctuation: it stays
    ("“Hello,” she said", "“hello” she said"),  # so do curly quotes
    ("a\u00a0b", "b"),  # NBSP is a word boundary and whitespace
    ("déjà a vu", "déjà vu"),
    ("éa", "éa"),  # \b is Unicode-aware (Python 3): no boundary inside "éa"
])  # fmt: skip
def test_normalize_answer(text: str, normalised: str) -> None:
    assert normalize_answer(text) == normalised


def test_token_f1_and_exact_match() -> None:
    assert token_f1("Denver", "Denver Broncos") == pytest.approx(2 / 3)  # P 1, R 1/2
    assert token_f1("cat cat", "the cat") == pytest.approx(2 / 3)  # a token counts as often as it is shared
    assert token_f1("The Broncos!", "broncos") == 1.0 and exact_match("The Broncos!", "broncos")
    # Both empty after normalisation: an exact match with F1 0, as in evaluate-v1.1.py.
    assert exact_match("the", "an") and token_f1("the", "an") == 0


def test_max_over_answers_is_taken_per_metric() -> None:
    answers = ["Denver Broncos", "the Broncos of Denver"]
    assert max_over_answers(token_f1, "Denver", answers) == pytest.approx(2 / 3)  # vs 1/2 for the second
    assert max_over_answers(exact_match, "broncos of denver", answers) == 1
    stats = ExactMatch().corpus_statistics(["the", "Denver"], [["a", "x"], answers])
    assert stats == QAStats(1.0, pytest.approx(2 / 3), 2)
    assert TokenF1().score_from_statistics(stats).value == pytest.approx(100 / 3)


def test_padded_references_are_not_raw_answers() -> None:
    # T5 pads punctuation in references ("Levi ' s"); a raw prediction then loses EM and half of F1.
    # tokens [levis, stadium] vs [levi, s, stadium]: P 1/2, R 1/3 -> F1 2/5.
    result = score_mrqa(["Levi's Stadium"], [{"references": ["Levi ' s Stadium"], "subset": "squad"}])
    assert values(result) == {"squad/EM": 0.0, "squad/F1": pytest.approx(40.0)}
    assert "answers:prepared(t5-padded)" in result["signature"]["squad/EM"]


def test_scores_are_per_subset_and_unanswered_questions_score_0() -> None:
    rows = [
        {"id": "1", "references": ["Denver Broncos"], "subset": "squad"},
        {"id": "2", "references": ["1990", "in 1990"], "subset": "squad"},
        {"id": "3", "references": ["red blood cells"], "subset": "bioasq"},
        {"id": "4", "references": ["ATP"], "subset": "squad"},
    ]
    result = score_mrqa(["the Denver Broncos", "1990s", "blood cells", None], rows)
    # squad: EM (1 + 0 + 0) / 3; F1 (1 + 0 + 0) / 3.  bioasq: EM 0, F1 2 * 1 * (2/3) / (5/3) = 4/5.
    assert values(result) == {
        "squad/EM": pytest.approx(100 / 3), "squad/F1": pytest.approx(100 / 3),
        "bioasq/EM": 0.0, "bioasq/F1": pytest.approx(80.0),
    }  # fmt: skip
    assert list(result) == ["squad/EM", "squad/F1", "bioasq/EM", "bioasq/F1", "signature"]


def test_errors() -> None:
    with pytest.raises(ValueError, match="2 predictions but 1 questions"):
        score_mrqa(["a", "b"], [{"references": ["a"]}])
    with pytest.raises(ValueError, match="no gold answers"):
        score_mrqa(["a"], [{"id": "q", "references": []}])


# --- properties -------------------------------------------------------------------------


def test_gold_answers_score_100_and_order_does_not_matter() -> None:
    rng = random.Random(0)
    pool = ["the Eiffel Tower", "24–10", "U.S. Army", "Café", "1 million", "a dog", "Levi ' s", "x"]
    rows = [{"references": rng.sample(pool, 3), "subset": rng.choice(["a", "b", "c"])} for _ in range(60)]
    assert all(v == 100.0 for v in values(score_mrqa([r["references"][1] for r in rows], rows)).values())
    hyps = [rng.choice(pool) + rng.choice(["", " the", " tower"]) for _ in rows]
    order = list(range(len(rows)))
    rng.shuffle(order)
    shuffled = score_mrqa([hyps[i] for i in order], [rows[i] for i in order])
    assert values(shuffled) == pytest.approx(values(score_mrqa(hyps, rows)), abs=1e-9)


# --- the real SQuAD dev set -------------------------------------------------------------


def run_cli(*args: str | Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "metrics", "mrqa", *map(str, args)], cwd=REPO,
                          capture_output=True, text=True, timeout=120, check=False)


def test_official_file_with_its_gold_answers_scores_100(data_dir: Path, tmp_path: Path) -> None:
    with gzip.open(data_dir / SQUAD_DEV, "rt", encoding="utf-8") as f:
        qas = [qa for line in list(f)[1:] for qa in json.loads(line)["qas"]]
    assert len(qas) == 10507
    # Lines, in file order: the first gold answer of each question.
    (tmp_path / "gold.txt").write_text("".join(qa["answers"][0] + "\n" for qa in qas), encoding="utf-8")
    done = run_cli("--hyp", tmp_path / "gold.txt", "--ref", data_dir / SQUAD_DEV)
    assert done.returncode == 0, done.stderr
    printed = json.loads(done.stdout)
    assert (printed["SQuAD/EM"], printed["SQuAD/F1"]) == (100.0, 100.0)
    assert "answers:official" in printed["signature"]["SQuAD/EM"]
    # The official JSON {qid: answer}: 2 of 3 answered right, 10,504 unanswered -> 0 each.
    predictions = {qas[0]["qid"]: qas[0]["answers"][0], qas[1]["qid"]: qas[1]["answers"][-1], qas[2]["qid"]: "zzqx"}
    (tmp_path / "predictions.json").write_text(json.dumps(predictions), encoding="utf-8")
    done = run_cli("--hyp", tmp_path / "predictions.json", "--ref", data_dir / SQUAD_DEV)
    assert done.returncode == 0 and "10504 unanswered" in done.stderr
    printed = json.loads(done.stdout)
    assert printed["SQuAD/EM"] == printed["SQuAD/F1"] == pytest.approx(100.0 * 2 / 10507)


@pytest.fixture
def prepared_squad(data_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[dict, list[dict]]:
    """300 real SQuAD dev questions prepared by harness.data.prepare (SQuAD train is a one-line fixture)."""
    root = tmp_path / "root"
    (root / SQUAD_DEV).parent.mkdir(parents=True)
    shutil.copy(data_dir / SQUAD_DEV, root / SQUAD_DEV)
    train = root / mrqa_data.TRAIN.file.relpath
    train.parent.mkdir(parents=True)
    context = {"context": "Paris is in France.", "qas": [{"qid": "t", "question": "Where?", "answers": ["France"]}]}
    with gzip.open(train, "wt", encoding="utf-8") as f:
        f.write(json.dumps({"header": {"dataset": "SQuAD", "split": "train"}}) + "\n" + json.dumps(context) + "\n")
    pinned = dataclasses.replace(mrqa_data.TRAIN.file, md5=sources.md5_file(train))
    monkeypatch.setattr(mrqa_data, "TRAIN", dataclasses.replace(mrqa_data.TRAIN, file=pinned))
    manifest = prepare("mrqa", {"eval_sets": ["squad"], "test_examples": 300, "dev_rows": 5}, root, tmp_path / "out")
    return manifest, read_jsonl(tmp_path / "out" / "test.jsonl")


def test_prepared_slice_gold_then_flipped(prepared_squad: tuple[dict, list[dict]]) -> None:
    manifest, rows = prepared_squad
    suite = scoring.ROW_SUITES["mrqa"]
    assert len(rows) == 300 and {r["subset"] for r in rows} == {"squad"}
    gold = [r["references"][0] for r in rows]
    assert values(suite(gold, rows, manifest["task"], {})) == {"squad/EM": 100.0, "squad/F1": 100.0}
    # 30 answers replaced by a word no gold answer has: EM = F1 = 270 / 300.
    flipped = ["zzqx" if i % 10 == 3 else g for i, g in enumerate(gold)]
    assert values(suite(flipped, rows, manifest["task"], {})) == {"squad/EM": 90.0, "squad/F1": 90.0}
