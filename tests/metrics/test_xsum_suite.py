"""XSUM suite: rouge-score's numbers, reproduced exactly (and faster) on Narayan et al.'s real outputs."""

from __future__ import annotations

import json
import os
import random
from pathlib import Path

import pytest

from metrics.__main__ import main
from metrics.suites.xsum import RougeScore, read_lines, score_xsum

rouge_scorer = pytest.importorskip("rouge_score.rouge_scorer")

# Mean F1 over the 11,334 test summaries from rouge-score 0.1.2 itself:
# RougeScorer(["rouge1", "rouge2", "rougeL"], use_stemmer=True).score(gold, output), averaged with numpy.
DIRECT = {
    "lead": (0.16007520411419454, 0.01582743836325257, 0.11787458089826049),
    "ptgen": (0.2933776546372455, 0.09169901074147396, 0.23044150092248886),
}


@pytest.fixture(scope="module")
def narayan() -> Path:
    root = Path(os.environ.get("HARNESS_DATA_DIR") or Path(__file__).resolve().parents[3] / "shared" / "data")
    folder = root / "system_outputs" / "xsum_narayan2018"
    if not (folder / "gold-test-sentences.txt").is_file():
        reason = f"XSUM system outputs not found under {folder} (set HARNESS_DATA_DIR)"
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(f"{reason} (required when CI=true)")
        pytest.skip(reason)
    return folder


@pytest.mark.parametrize("system", sorted(DIRECT))
def test_rouge_on_narayan_outputs_equals_rouge_score(narayan: Path, system: str) -> None:
    gold = read_lines(narayan / "gold-test-sentences.txt")
    outputs = read_lines(narayan / f"{system}-test-output.txt")
    assert len(gold) == len(outputs) == 11334
    result = score_xsum(outputs, [[g] for g in gold], lsum=True)
    r1, r2, rl = DIRECT[system]
    assert (result["ROUGE-1"], result["ROUGE-2"], result["ROUGE-L"]) == pytest.approx((r1, r2, rl), abs=1e-15)
    assert result["ROUGE-Lsum"] == pytest.approx(rl, abs=1e-15)  # one sentence per line: the same LCS
    assert result["signature"]["ROUGE-1"].startswith("ROUGE-1|impl:rouge-score-0.1.2|stem:porter-nltk-")


def _random_text(rng: random.Random, sentences: int = 1) -> str:
    words = ["The", "cats", "running", "runs", "ran", "dog", "a", "in", "U.S.", "2,000", "-lrb-", "happily", "!"]
    return "\n".join(" ".join(rng.choice(words) for _ in range(rng.randint(0, 9))) for _ in range(sentences))


def test_every_rouge_type_equals_rouge_score_segment_by_segment() -> None:
    rng = random.Random(3)
    hyps = [_random_text(rng, rng.randint(1, 3)) for _ in range(300)]
    refs = [[_random_text(rng, rng.randint(1, 3)) for _ in range(rng.randint(1, 3))] for _ in hyps]
    for rouge_type in ("rouge1", "rouge2", "rougeL", "rougeLsum"):
        direct = rouge_scorer.RougeScorer([rouge_type], use_stemmer=True)
        expected = [direct.score_multi(group, hyp)[rouge_type] for hyp, group in zip(hyps, refs, strict=True)]
        stats = RougeScore(rouge_type).corpus_statistics(hyps, refs)
        assert [tuple(row) for row in stats] == [tuple(s) for s in expected], rouge_type


def test_rouge_lsum_splits_at_the_sentence_separator() -> None:
    hyp, ref = "the cat sat <n> on the mat", "on the mat <n> the cat sat"
    split = score_xsum([hyp], [[ref]], lsum=True, sentence_sep="<n>")
    direct = rouge_scorer.RougeScorer(["rougeLsum"], use_stemmer=True).score(
        ref.replace(" <n> ", "\n"), hyp.replace(" <n> ", "\n"))["rougeLsum"].fmeasure
    assert split["ROUGE-Lsum"] == pytest.approx(direct, abs=1e-15) == 1.0
    assert split["ROUGE-L"] < 1.0  # the LCS over the whole line cannot take both halves
    assert split["signature"]["ROUGE-Lsum"].endswith("sentences:split-at-<n>")


def test_xsum_cli(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "hyp.txt").write_text("the cat sat on the mat\na dog\n")
    (tmp_path / "ref.txt").write_text("a cat sat on the mat\nthe dog barked\n")
    (tmp_path / "short.txt").write_text("one line\n")
    assert main(["xsum", "--hyp", str(tmp_path / "hyp.txt"), "--ref", str(tmp_path / "ref.txt")]) == 0
    printed = json.loads(capsys.readouterr().out)
    assert set(printed) == {"ROUGE-1", "ROUGE-2", "ROUGE-L", "signature"}
    assert main(["xsum", "--hyp", str(tmp_path / "hyp.txt"), "--ref", str(tmp_path / "short.txt")]) == 2
    assert "has 2 lines but" in capsys.readouterr().err
