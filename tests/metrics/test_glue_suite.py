"""GLUE suite: MRPC / QQP F1 and accuracy, the QQP <-> MRPC translation, and the real MRPC dev set."""

from __future__ import annotations

import json
import random
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from harness import scoring
from harness.data import glue as glue_data
from harness.data import prepare
from harness.io import read_jsonl
from metrics.suites.glue import LABELS, check_label_map, score_glue, translate

REPO = Path(__file__).resolve().parents[2]
EQ, NOT_EQ = "equivalent", "not_equivalent"


def values(result: dict) -> dict:
    return {k: v for k, v in result.items() if k != "signature"}


# --- hand-computed cases ----------------------------------------------------------------


def test_f1_of_the_positive_class_and_accuracy_with_unparseable_words() -> None:
    golds = [EQ, EQ, EQ, NOT_EQ, NOT_EQ, NOT_EQ, NOT_EQ]
    preds = [EQ, NOT_EQ, "Equivalent", EQ, NOT_EQ, "yes", NOT_EQ]
    # tp 1; fn 2 (a "not", and "Equivalent", unparseable on a positive = the opposite label);
    # fp 2 (an "equivalent", and "yes" on a negative).  F1 = 2 / (3 gold + 3 predicted); accuracy 3/7.
    result = score_glue(preds, golds, "mrpc")
    assert result["f1"] == pytest.approx(100 / 3, abs=1e-12) and result["accuracy"] == pytest.approx(300 / 7, abs=1e-12)
    assert result["average"] == pytest.approx((100 / 3 + 300 / 7) / 2, abs=1e-12)
    signature = result["signature"]["f1"]
    assert "positive:equivalent" in signature and "invalid:opposite-of-gold" in signature
    assert "invalid:wrong" in result["signature"]["accuracy"]


def test_transfer_translates_the_training_words_as_prompt_tuning() -> None:
    golds = [EQ, NOT_EQ, EQ, EQ, NOT_EQ]
    # "duplicate" -> equivalent (tp), "not_duplicate" -> not_equivalent (tn), "equivalent" has no
    # "duplicate" in it and stays valid (tp), "Duplicate" stays unparseable (fn), "duplicates" ->
    # "equivalents", unparseable (fp).  F1 = 4 / (3 + 3); accuracy 3/5.
    result = score_glue(["duplicate", "not_duplicate", "equivalent", "Duplicate", "duplicates"], golds, "mrpc", "qqp")
    assert values(result) == pytest.approx({"f1": 200 / 3, "accuracy": 60.0, "average": (200 / 3 + 60) / 2})
    assert "match:qqp_to_mrpc+exact" in result["signature"]["f1"]
    assert translate("not_equivalent", "mrpc", "qqp") == "not_duplicate"
    assert values(score_glue(["equivalent", "not_equivalent"], ["duplicate", "not_duplicate"], "qqp", "mrpc")) == {
        "f1": 100.0, "accuracy": 100.0, "average": 100.0,
    }


def test_label_map_of_the_manifest_is_checked() -> None:
    check_label_map({"not_duplicate": NOT_EQ, "duplicate": EQ}, "qqp", "mrpc")
    check_label_map({NOT_EQ: NOT_EQ, EQ: EQ}, "mrpc", "mrpc")
    with pytest.raises(ValueError, match="is not the qqp -> mrpc mapping"):
        check_label_map({"not_duplicate": EQ, "duplicate": NOT_EQ}, "qqp", "mrpc")


def test_errors() -> None:
    with pytest.raises(ValueError, match="unknown GLUE task"):
        score_glue([EQ], [EQ], "sst2")
    with pytest.raises(ValueError, match="2 predictions but 1 gold"):
        score_glue([EQ, EQ], [EQ], "mrpc")
    with pytest.raises(ValueError, match="must be one of"):
        score_glue(["duplicate"], ["duplicate"], "mrpc")


def test_labels_are_the_loaders() -> None:
    assert LABELS == {task: spec.labels for task, spec in glue_data.TASKS.items()}


# --- properties -------------------------------------------------------------------------


@pytest.mark.parametrize("task, trained_on", [("mrpc", None), ("qqp", None), ("mrpc", "qqp"), ("qqp", "mrpc")])
def test_perfect_predictions_score_100_and_order_does_not_matter(task: str, trained_on: str | None) -> None:
    rng = random.Random(f"{task}{trained_on}")
    golds = [rng.choice(LABELS[task]) for _ in range(50)]
    words = dict(zip(LABELS[task], LABELS[trained_on or task], strict=True))
    perfect = [words[g] for g in golds]
    assert values(score_glue(perfect, golds, task, trained_on)) == {"f1": 100.0, "accuracy": 100.0, "average": 100.0}
    noisy = [p if rng.random() < 0.7 else rng.choice([*LABELS[trained_on or task], "x"]) for p in perfect]
    order = list(range(len(golds)))
    rng.shuffle(order)
    shuffled = score_glue([noisy[i] for i in order], [golds[i] for i in order], task, trained_on)
    assert values(shuffled) == pytest.approx(values(score_glue(noisy, golds, task, trained_on)), abs=1e-9)


# --- the real MRPC dev set --------------------------------------------------------------


def test_mrpc_gold_and_majority_class(data_dir: Path, tmp_path: Path) -> None:
    manifest = prepare("glue", {"task": "mrpc", "train_rows": 8, "dev_rows": 8}, data_dir, tmp_path)
    rows = read_jsonl(tmp_path / "test.jsonl")
    suite = scoring.ROW_SUITES["glue"]
    assert len(rows) == 408 and sum(r["label"] == EQ for r in rows) == 279
    gold = suite([r["references"][0] for r in rows], rows, manifest["task"], {})
    assert values(gold) == {"f1": 100.0, "accuracy": 100.0, "average": 100.0}
    # Always "equivalent": accuracy 279/408, F1 = 2 * 279 / (279 gold + 408 predicted).
    majority = suite([EQ] * 408, rows, manifest["task"], {})
    assert majority["accuracy"] == pytest.approx(100 * 279 / 408, abs=1e-12)
    assert majority["f1"] == pytest.approx(100 * 2 * 279 / (279 + 408), abs=1e-12)
    assert (round(majority["accuracy"], 1), round(majority["f1"], 1)) == (68.4, 81.2)  # GLUE's majority baseline


QQP_HEADER = "id\tqid1\tqid2\tquestion1\tquestion2\tis_duplicate\n"


@pytest.fixture
def qqp_to_mrpc(data_dir: Path, tmp_path: Path) -> tuple[Path, dict, list[dict]]:
    """Lester et al.'s QQP -> MRPC variant: a tiny QQP fixture to train on, the real MRPC dev set to test on."""
    root = tmp_path / "root"
    (root / "glue/QQP").mkdir(parents=True)
    (root / "glue/MRPC").mkdir(parents=True)
    shutil.copy(data_dir / "glue/MRPC/dev.tsv", root / "glue/MRPC/dev.tsv")
    lines = ["1\t1\t2\tHow do I cook rice?\tHow is rice cooked?\t1\n", "2\t3\t4\tWhat is AI?\tWho is Ada?\t0\n"]
    for name in ("train.tsv", "dev.tsv"):
        (root / "glue/QQP" / name).write_text(QQP_HEADER + "".join(lines), encoding="utf-8")
    out = tmp_path / "out"
    manifest = prepare("glue", {"task": "qqp", "eval_task": "mrpc"}, root, out)
    return out, manifest, read_jsonl(out / "test.jsonl")


def test_transfer_on_real_mrpc_through_the_manifest(qqp_to_mrpc: tuple[Path, dict, list[dict]]) -> None:
    _, manifest, rows = qqp_to_mrpc
    assert manifest["task"]["label_map"] == {"not_duplicate": NOT_EQ, "duplicate": EQ}
    suite = scoring.ROW_SUITES["glue"]
    answers = [r["references"][0] for r in rows]  # the model's words: QQP's
    assert set(answers) == {"duplicate", "not_duplicate"}
    assert values(suite(answers, rows, manifest["task"], {})) == {"f1": 100.0, "accuracy": 100.0, "average": 100.0}
    # 40 positives answered "not_duplicate": tp 239, fn 40, fp 0 -> F1 2*239/(279+239); accuracy 368/408.
    positives = [i for i, r in enumerate(rows) if r["label"] == EQ][:40]
    for i in positives:
        answers[i] = "not_duplicate"
    result = suite(answers, rows, manifest["task"], {})
    assert result["f1"] == pytest.approx(100 * 2 * 239 / (279 + 239), abs=1e-12)
    assert result["accuracy"] == pytest.approx(100 * 368 / 408, abs=1e-12)


def run_cli(*args: str | Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "metrics", "glue", *map(str, args)], cwd=REPO,
                          capture_output=True, text=True, timeout=120, check=False)


def test_cli_official_tsv_and_prepared_transfer(qqp_to_mrpc: tuple[Path, dict, list[dict]], data_dir: Path,
                                                tmp_path: Path) -> None:
    out, _, rows = qqp_to_mrpc
    hyp = tmp_path / "qqp_words.txt"
    hyp.write_text("".join(r["references"][0] + "\n" for r in rows), encoding="utf-8")
    # Official dev.tsv: the transfer must be named; the prepared test.jsonl says it itself.
    done = run_cli("--task", "mrpc", "--trained-on", "qqp", "--hyp", hyp, "--ref", data_dir / "glue/MRPC/dev.tsv")
    assert done.returncode == 0, done.stderr
    assert values(json.loads(done.stdout)) == {"f1": 100.0, "accuracy": 100.0, "average": 100.0}
    done = run_cli("--task", "mrpc", "--hyp", hyp, "--ref", out / "test.jsonl")
    assert done.returncode == 0 and "qqp_to_mrpc" in json.loads(done.stdout)["signature"]["f1"]
    done = run_cli("--task", "mrpc", "--trained-on", "mrpc", "--hyp", hyp, "--ref", out / "test.jsonl")
    assert done.returncode == 2 and "trained on qqp, not mrpc" in done.stderr
    # Without --trained-on, QQP words on the official MRPC file are all unparseable.
    done = run_cli("--task", "mrpc", "--hyp", hyp, "--ref", data_dir / "glue/MRPC/dev.tsv")
    assert json.loads(done.stdout)["accuracy"] == 0.0
