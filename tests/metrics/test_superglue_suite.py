"""SuperGLUE suite: each T5 rule on hand-computed cases, properties, and the real validation sets.

Real data: `data_dir` (tests/metrics/conftest.py) skips locally and fails in CI when the shared
data folder is missing. BoolQ and ReCoRD are read from their official files (the shared data has
no BoolQ train split and only FewGLUE's 32 ReCoRD rows), the other six tasks are prepared by
`harness.data.prepare`.
"""

from __future__ import annotations

import json
import random
import shutil
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest

from harness import scoring
from harness.data import prepare
from harness.data import superglue as superglue_data
from harness.io import read_jsonl
from metrics.classification import Confusion
from metrics.suites.superglue import LABELS, TASK_METRICS, load_rows, score_superglue, superglue_score, wsc_simple

REPO = Path(__file__).resolve().parents[2]


def rows_of(task: str, golds: list[str], groups: list[str] | None = None) -> list[dict]:
    rows = [{"id": str(i), "references": [g], "label": g} for i, g in enumerate(golds)]
    for row, group in zip(rows, groups or [], strict=False):
        row["group"] = group
    return rows


def values(result: dict) -> dict:
    return {k: v for k, v in result.items() if k != "signature"}


# --- hand-computed cases ----------------------------------------------------------------


def test_accuracy_counts_unparseable_words_as_wrong() -> None:
    # Exact label words, as t5 string_label_to_class_id: case and spaces matter.
    rows = rows_of("boolq", ["True", "True", "False", "False", "True"])
    result = score_superglue("boolq", ["True", "true", "False", "False ", "maybe"], rows)
    assert values(result) == {"accuracy": 40.0}
    assert "invalid:wrong" in result["signature"]["accuracy"] and "match:exact" in result["signature"]["accuracy"]


def test_cb_macro_f1_with_a_class_never_predicted() -> None:
    # entailment: tp 2, 3 gold, 3 predicted -> 4/6; contradiction: tp 2, 2 gold, 3 predicted -> 4/5;
    # neutral: never predicted -> 0.  Macro (2/3 + 4/5 + 0) / 3 = 22/45; accuracy 4/6.
    golds = ["entailment", "entailment", "entailment", "contradiction", "contradiction", "neutral"]
    preds = ["entailment", "entailment", "contradiction", "contradiction", "contradiction", "entailment"]
    result = score_superglue("cb", preds, rows_of("cb", golds))
    assert result["macro_f1"] == pytest.approx(100 * 22 / 45, abs=1e-12)
    assert result["accuracy"] == pytest.approx(100 * 4 / 6, abs=1e-12)
    assert result["average"] == pytest.approx((100 * 22 / 45 + 100 * 4 / 6) / 2, abs=1e-12)
    assert "zero_division:0" in result["signature"]["macro_f1"]


def test_cb_macro_f1_zero_division_and_unparseable() -> None:
    # "maybe" is class -1: a missed entailment, a false positive of no class. Contradiction has no
    # gold and no prediction: F1 0 (sklearn's zero-division value) and it still counts in the mean.
    result = score_superglue("cb", ["maybe", "neutral"], rows_of("cb", ["entailment", "neutral"]))
    assert result["macro_f1"] == pytest.approx(100 / 3, abs=1e-12) and result["accuracy"] == 50.0
    assert "invalid:missed-gold-class" in result["signature"]["macro_f1"]


def test_multirc_em_per_question_vs_f1_over_all_answers() -> None:
    # q1: gold T F T, predicted T F F; q2: gold F F, predicted F F.
    # F1a over all 5 options: tp 1, fn 1, fp 0 -> 2/3.  EM: q1 wrong, q2 right -> 50.
    golds = ["True", "False", "True", "False", "False"]
    groups = ["q1", "q1", "q1", "q2", "q2"]
    result = score_superglue("multirc", ["True", "False", "False", "False", "False"], rows_of("multirc", golds, groups))
    assert result["f1a"] == pytest.approx(200 / 3, abs=1e-12) and result["em"] == 50.0
    # An unparseable answer on a False option is a false positive for F1a (t5 f1_score_with_invalid)
    # and makes its question wrong: tp 1, fn 1, fp 1 -> 2/4; EM 0.
    result = score_superglue("multirc", ["True", "False", "False", "False", "yes"], rows_of("multirc", golds, groups))
    assert result["f1a"] == 50.0 and result["em"] == 0.0
    assert "invalid:opposite-of-gold" in result["signature"]["f1a"] and "per:group" in result["signature"]["em"]


def test_multirc_f1a_all_negative_is_zero() -> None:
    result = score_superglue("multirc", ["False", "False"], rows_of("multirc", ["False", "False"], ["q", "q"]))
    assert result["f1a"] == 0.0 and result["em"] == 100.0  # sklearn: no positive at all -> F1 0


def test_record_max_over_answers() -> None:
    rows = [{"id": "a", "references": ["Bob", "Bob Smith"]}, {"id": "b", "references": ["Paris"]}]
    # "smith": EM 0 with both; F1 vs "Bob Smith" = 2 * 1 * 0.5 / 1.5 = 2/3 (vs "Bob": 0) -> 2/3.
    result = score_superglue("record", ["smith", "the Paris."], rows)
    assert result["em"] == 50.0 and result["f1"] == pytest.approx(100 * (2 / 3 + 1) / 2, abs=1e-12)
    # EM from one answer, F1 from the best: "bob" matches "Bob" exactly.
    assert values(score_superglue("record", ["bob", "Paris"], rows)) == {"f1": 100.0, "em": 100.0, "average": 100.0}
    assert "norm:squad-v1.1" in result["signature"]["em"]


@pytest.mark.parametrize("prediction, referent, named", [
    ("the fuzzy bunny", "bunny", 1),  # either word set may contain the other
    ("bunny", "The fuzzy bunny", 1),
    ("His mother", "mother", 1),  # determiners go: articles, possessives, quantifiers
    ("Bob", "Bob's hat", 0),  # an apostrophe on one side only
    ("Bob's hat", "bob's hat", 1),
    ("the dog.", "the dog", 0),  # punctuation stays: "dog." is not "dog"
    ("the  dog", "dog", 1),  # split on single spaces: "" is a word of the prediction, which still covers "dog"
    ("cat", "the dog", 0),
    ("the", "the dog", -1),  # nothing left: unparseable
    ("", "the dog", -1),
])  # fmt: skip
def test_wsc_simple_follows_t5(prediction: str, referent: str, named: int) -> None:
    assert wsc_simple(prediction, referent) == named


def test_wsc_accuracy_compares_the_postprocessed_answer_with_the_label() -> None:
    rows = [
        {"id": "0", "references": ["the cat"], "label": "True"},
        {"id": "1", "references": ["the dog"], "label": "False"},
        {"id": "2", "references": ["Bob"], "label": "False"},
        {"id": "3", "references": ["Sue"], "label": "False"},
    ]
    # named: 1 (right), 1 (wrong: the candidate is not the referent), -1 (empty: wrong), 0 (right)
    result = score_superglue("wsc", ["cat", "Dog", "", "Ann"], rows)
    assert result["accuracy"] == 50.0 and "match:t5-wsc_simple" in result["signature"]["accuracy"]


def test_superglue_score_averages_two_metric_tasks_first() -> None:
    per_task = {
        "boolq": {"accuracy": 80.0}, "cb": {"macro_f1": 80.0, "accuracy": 90.0}, "copa": {"accuracy": 70.0},
        "multirc": {"f1a": 70.0, "em": 30.0}, "record": {"f1": 60.0, "em": 50.0}, "rte": {"accuracy": 60.0},
        "wic": {"accuracy": 50.0}, "wsc": {"accuracy": 40.0},
    }  # fmt: skip
    score = superglue_score(per_task)
    assert score.value == (80 + 85 + 70 + 50 + 55 + 60 + 50 + 40) / 8 == 61.25
    assert "complete:yes" in score.signature and "tasks:boolq+cb+copa+multirc+record+rte+wic+wsc" in score.signature
    partial = superglue_score({"cb": per_task["cb"], "rte": per_task["rte"]})
    assert partial.value == (85 + 60) / 2 and "complete:no" in partial.signature
    with pytest.raises(ValueError, match="missing"):
        superglue_score({"cb": {"accuracy": 90.0}})


def test_errors_are_clear() -> None:
    with pytest.raises(ValueError, match="2 predictions but 1 test rows"):
        score_superglue("rte", ["entailment", "entailment"], rows_of("rte", ["entailment"]))
    with pytest.raises(ValueError, match="unknown SuperGLUE task"):
        score_superglue("axb", ["x"], rows_of("rte", ["entailment"]))
    with pytest.raises(ValueError, match="have no 'group'"):
        score_superglue("multirc", ["True"], rows_of("multirc", ["True"]))
    with pytest.raises(ValueError, match="must be one of"):
        score_superglue("rte", ["entailment"], rows_of("rte", ["yes"]))


# --- properties -------------------------------------------------------------------------


def synthetic(task: str, n: int, rng: random.Random) -> list[dict]:
    if task == "record":
        return [{"id": str(i), "references": rng.sample(["Ann Lee", "Bob", "the U.S.", "Café Nô"], 2)}
                for i in range(n)]  # fmt: skip
    rows = rows_of(task, [rng.choice(LABELS[task]) for _ in range(n)], [f"q{i // 3}" for i in range(n)])
    if task == "wsc":
        for row in rows:
            row["references"] = [rng.choice(["the cat", "Bob's hat", "a tall man"])]
    return rows


def perfect(task: str, rows: list[dict]) -> list[str]:
    if task == "wsc":
        return [row["references"][0] if row["label"] == "True" else "nobody" for row in rows]
    return [row["references"][-1] for row in rows]


@pytest.mark.parametrize("task", list(LABELS))
def test_perfect_predictions_score_100_and_order_does_not_matter(task: str) -> None:
    rng = random.Random(task)
    rows = synthetic(task, 30, rng)
    assert all(v == 100.0 for v in values(score_superglue(task, perfect(task, rows), rows)).values())
    wrong = ["True", "neutral", "choice2", "Bob", "x"]
    noisy = [p if rng.random() < 0.6 else rng.choice(wrong) for p in perfect(task, rows)]
    order = list(range(len(rows)))
    rng.shuffle(order)
    shuffled = score_superglue(task, [noisy[i] for i in order], [rows[i] for i in order])
    assert values(shuffled) == pytest.approx(values(score_superglue(task, noisy, rows)), abs=1e-9)


def test_labels_are_the_loaders() -> None:
    assert LABELS == {task: spec.labels for task, spec in superglue_data.TASKS.items()}
    assert set(TASK_METRICS) == set(superglue_data.TASKS)


def test_confusion_statistics_add_up() -> None:
    a = Confusion.from_ids(2, [0, 1], [0, -1])
    b = Confusion.from_ids(2, [1], [1])
    assert (a + b).counts == Confusion.from_ids(2, [0, 1, 1], [0, -1, 1]).counts and (a + b).invalid == 1


# --- the real validation sets -----------------------------------------------------------


@pytest.fixture(scope="module")
def prepared(data_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, tuple[Path, dict, list[dict]]]:
    """The six tasks with both official files in the shared data, full test sets: task -> (dir, manifest, rows)."""
    out = {}
    for task in ("cb", "copa", "multirc", "rte", "wic", "wsc"):
        folder = tmp_path_factory.mktemp(task)
        manifest = prepare("superglue", {"task": task, "train_rows": 8, "dev_rows": 8}, data_dir, folder)
        out[task] = folder, manifest, read_jsonl(folder / "test.jsonl")
    return out


def score_cell_suite(task: dict, hypotheses: list[str], rows: list[dict]) -> dict:
    return scoring.ROW_SUITES["superglue"](hypotheses, rows, task, {})


@pytest.mark.parametrize("task", ["cb", "copa", "multirc", "rte", "wic", "wsc"])
def test_gold_answers_score_100_on_the_prepared_sets(prepared: dict, task: str) -> None:
    _, manifest, rows = prepared[task]
    result = score_cell_suite(manifest["task"], perfect(task, rows), rows)
    assert values(result) and all(v == 100.0 for v in values(result).values())


def test_cb_majority_class_baseline(prepared: dict) -> None:
    _, manifest, rows = prepared["cb"]
    assert Counter(r["label"] for r in rows) == {"contradiction": 28, "entailment": 23, "neutral": 5}
    # contradiction: F1 = 2 * 28 / (28 gold + 56 predicted) = 2/3; the other two 0 -> macro 2/9.
    result = score_cell_suite(manifest["task"], ["contradiction"] * 56, rows)
    assert result["accuracy"] == 50.0 and result["macro_f1"] == pytest.approx(200 / 9, abs=1e-12)


def test_multirc_flipped_answers(prepared: dict) -> None:
    _, manifest, rows = prepared["multirc"]
    questions = list(dict.fromkeys(r["group"] for r in rows))
    positives = [i for i, r in enumerate(rows) if r["label"] == "True"]
    assert (len(rows), len(questions), len(positives)) == (4848, 953, 2075)
    # Say False on the first positive option of the first 100 questions that have one: F1a loses
    # 100 true positives (tp P-100, fn 100, fp 0 -> 2(P-100)/(2P-100)); exactly 100 questions go wrong.
    hypotheses = [r["label"] for r in rows]
    flipped = {}
    for i in positives:
        flipped.setdefault(rows[i]["group"], i)
    for i in list(flipped.values())[:100]:
        hypotheses[i] = "False"
    result = score_cell_suite(manifest["task"], hypotheses, rows)
    p = len(positives)
    assert result["f1a"] == pytest.approx(100 * 2 * (p - 100) / (2 * p - 100), abs=1e-12)
    assert result["em"] == pytest.approx(100 * (953 - 100) / 953, abs=1e-12)


def test_wsc_real_rows_with_every_candidate_predicted(prepared: dict) -> None:
    _, manifest, rows = prepared["wsc"]
    # Naming the candidate every time is right exactly on the True rows (38 of 104).
    result = score_cell_suite(manifest["task"], [r["references"][0] for r in rows], rows)
    assert result["accuracy"] == pytest.approx(100 * 38 / 104, abs=1e-12)


def test_boolq_official_file_majority_baseline(data_dir: Path) -> None:
    path = data_dir / "superglue/BoolQ/val.jsonl"
    rows = load_rows("boolq", path)
    raw = [json.loads(line)["label"] for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    assert len(rows) == len(raw) == 3270 and sum(raw) == 2033
    assert score_superglue("boolq", ["True"] * 3270, rows)["accuracy"] == pytest.approx(100 * 2033 / 3270, abs=1e-12)


def test_record_official_rows(data_dir: Path, tmp_path: Path) -> None:
    # FewGLUE's 32 ReCoRD rows keep the official format: read through the official-file path.
    path = data_dir / "superglue/_fewglue_32shot/ReCoRD/dev32.jsonl"
    rows = load_rows("record", path)
    assert len(rows) == 32 and all(r["references"] for r in rows)
    assert values(score_superglue("record", [r["references"][0].upper() + "." for r in rows], rows)) == {
        "f1": 100.0, "em": 100.0, "average": 100.0,
    }
    result = score_superglue("record", ["zzqx"] * 8 + [r["references"][0] for r in rows[8:]], rows)
    assert result["em"] == result["f1"] == 75.0


def test_cli_two_tasks_and_the_average(prepared: dict, data_dir: Path, tmp_path: Path) -> None:
    cb_dir, _, cb_rows = prepared["cb"]
    rte_dir, _, rte_rows = prepared["rte"]
    (tmp_path / "cb.txt").write_text("contradiction\n" * 56, encoding="utf-8")
    (tmp_path / "rte.txt").write_text("".join(r["label"] + "\n" for r in rte_rows), encoding="utf-8")
    shutil.copy(data_dir / "superglue/RTE/val.jsonl", tmp_path / "val.jsonl")  # official file for RTE
    done = subprocess.run(
        [sys.executable, "-m", "metrics", "superglue", "--task", "cb", "rte", "--hyp", tmp_path / "cb.txt",
         tmp_path / "rte.txt", "--ref", cb_dir / "test.jsonl", tmp_path / "val.jsonl"],
        cwd=REPO, capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    printed = json.loads(done.stdout)
    assert printed["tasks"]["rte"]["accuracy"] == 100.0
    assert printed["SuperGLUE"] == pytest.approx(((200 / 9 + 50) / 2 + 100) / 2, abs=1e-12)
    assert "tasks:cb+rte" in printed["signature"]["SuperGLUE"]
    bad = subprocess.run(
        [sys.executable, "-m", "metrics", "superglue", "--task", "cb", "--hyp", tmp_path / "rte.txt",
         "--ref", cb_dir / "test.jsonl"], cwd=REPO, capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert bad.returncode == 2 and "277 predictions" in bad.stderr and "56 cb test rows" in bad.stderr
