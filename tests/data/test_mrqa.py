"""MRQA loader: the real in-domain SQuAD dev set, fixtures for SQuAD train and the out-of-domain sets, hub path."""

from __future__ import annotations

import dataclasses
import gzip
import itertools
import json
import shutil
from pathlib import Path

import pytest

from harness import io
from harness.data import mrqa, prepare, sources, variant_name
from harness.data.t5 import pad_punctuation, squad_answer
from harness.errors import ConfigError, DataError

SQUAD_DEV = "mrqa/in_domain_dev/SQuAD.jsonl.gz"


def rows(folder: Path, name: str) -> list[dict]:
    return io.read_jsonl(folder / name)


def context_line(context: str, qas: list[tuple[str, str, list[str]]]) -> dict:
    """One line of an MRQA release file (tokens and spans as the format has them, not read here)."""
    return {
        "context": context,
        "context_tokens": [[w, i] for i, w in enumerate(context.split())],
        "qas": [
            {
                "qid": qid,
                "question": question,
                "question_tokens": [[w, i] for i, w in enumerate(question.split())],
                "detected_answers": [{"text": answers[0], "char_spans": [[0, 1]], "token_spans": [[0, 0]]}],
                "answers": answers,
            }
            for qid, question, answers in qas
        ],
    }


def write_release(path: Path, dataset: str, split: str, lines: list[dict]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    with gzip.open(path, "wt", encoding="utf-8") as f:
        for record in [{"header": {"dataset": dataset, "split": split}}, *lines]:
            f.write(json.dumps(record) + "\n")
    return path


TRAIN_LINES = [
    context_line(
        "Paris is the capital of France.\nIt lies on the Seine.",
        [("t1", "What is the capital\tof France?", ["Paris"]), ("t2", "Which river?", ["the Seine", "Seine"])],
    ),
    context_line("Café Adriatic serves £20 meals (approx.).", [("t3", "Which café?", ["Café Adriatic"])]),
]
TEXTBOOK_LINES = [
    context_line("[DOC] [TLE] Cells [PAR] A cell is the unit of life.", [("b1", "What is a cell?", ["unit of life"])]),
    context_line("Mitochondria make ATP.", [("b2", "What do mitochondria make?", ["ATP", "A.T.P."])]),
]


@pytest.fixture
def fixture_root(lester_root: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The real SQuAD dev file with fixture SQuAD train and TextbookQA files, their MD5s pinned as if published."""
    root = tmp_path / "root"
    (root / SQUAD_DEV).parent.mkdir(parents=True)
    shutil.copy(lester_root / SQUAD_DEV, root / SQUAD_DEV)
    train = write_release(root / mrqa.TRAIN.file.relpath, "SQuAD", "train", TRAIN_LINES)
    textbook = write_release(root / mrqa.EVAL_SETS["textbookqa"].file.relpath, "TextbookQA", "dev", TEXTBOOK_LINES)
    monkeypatch.setattr(mrqa, "TRAIN", pinned(mrqa.TRAIN, train))
    monkeypatch.setitem(mrqa.EVAL_SETS, "textbookqa", pinned(mrqa.EVAL_SETS["textbookqa"], textbook))
    return root


def pinned(qa_set: mrqa.QASet, path: Path) -> mrqa.QASet:
    return dataclasses.replace(qa_set, file=dataclasses.replace(qa_set.file, md5=sources.md5_file(path)))


@pytest.fixture(scope="module")
def squad_dev(lester_root: Path) -> tuple[dict, list[mrqa.Question]]:
    return mrqa.read_release_file(lester_root / SQUAD_DEV)


# --- the real in-domain dev set ---------------------------------------------------------


def test_squad_dev_count_and_published_md5(lester_root: Path, squad_dev) -> None:
    header, questions = squad_dev
    assert header == {"dataset": "SQuAD", "split": "dev"}
    assert len(questions) == 10507 == mrqa.EVAL_SETS["squad"].questions
    assert len({q.qid for q in questions}) == 10507
    assert sources.md5_file(lester_root / SQUAD_DEV) == mrqa.EVAL_SETS["squad"].file.md5


def test_t5_squad_strings(squad_dev) -> None:
    first = squad_dev[1][0]
    assert mrqa.source_text(first).startswith(
        "question: Which NFL team represented the AFC at Super Bowl 50 ? context: Super Bowl 50 was an American "
        "football game to determine the champion of the National Football League ( NFL ) for the 2015 season ."
    )
    assert mrqa.references(first) == ["Denver Broncos"] * 3
    # RE2's \W is ASCII: T5 pads en dashes and accented letters as punctuation.
    assert pad_punctuation("24–10") == "24 – 10"
    assert pad_punctuation("François") == "Fran ç ois"
    assert squad_answer("Denver Broncos.") == "Denver Broncos ."
    assert pad_punctuation("a\t b\n\nc_d (e)") == "a b c_d ( e ) "


# --- fixtures for the missing files -----------------------------------------------------


def test_fixture_train_and_out_of_domain(fixture_root: Path, tmp_path: Path) -> None:
    manifest = prepare("mrqa", {"eval_sets": ["squad", "textbookqa"]}, fixture_root, tmp_path / "out")
    assert manifest["split"] == "eval-squad+textbookqa"
    assert {n: f["rows"] for n, f in manifest["files"].items()} == {
        "train.jsonl": 3,
        "dev.jsonl": 10507,
        "test.jsonl": 10507 + 2,
    }
    assert manifest["inputs"]["train"]["checked"] == "md5 (published)"
    assert manifest["inputs"]["textbookqa"]["header"] == {"dataset": "TextbookQA", "split": "dev"}
    train = rows(tmp_path / "out", "train.jsonl")
    assert train[0] == {
        "id": "t1",
        "source": "question: What is the capital of France ? context: Paris is the capital of France . It lies on "
        "the Seine .",
        "target": "Paris",
        "meta": {"answers": ["Paris"]},
    }
    assert train[2]["source"] == ("question: Which caf é ? context: Caf é Adriatic serves £ 20 meals ( approx . ) .")
    test = rows(tmp_path / "out", "test.jsonl")
    assert [r["subset"] for r in test].count("textbookqa") == 2
    assert test[-1] == {
        "id": "b2",
        "source": "question: What do mitochondria make ? context: Mitochondria make ATP .",
        "references": ["ATP", "A . T . P ."],
        "subset": "textbookqa",
    }
    assert test[-2]["source"].endswith("context: [ DOC ] [ TLE ] Cells [ PAR ] A cell is the unit of life .")
    assert [r["id"] for r in test[:10507]] == [r["id"] for r in rows(tmp_path / "out", "dev.jsonl")]


def test_full_needs_every_out_of_domain_file(fixture_root: Path, tmp_path: Path) -> None:
    assert variant_name("mrqa", {}) == "full"
    with pytest.raises(DataError) as info:
        prepare("mrqa", {}, fixture_root, tmp_path / "out")
    message = str(info.value)
    assert str(fixture_root / "mrqa/out_of_domain_dev/BioASQ.jsonl.gz") in message
    assert "participants-area.bioasq.org" in message and "source: hub" in message


def test_missing_train_says_where_and_how(lester_root: Path, tmp_path: Path) -> None:
    (tmp_path / SQUAD_DEV).parent.mkdir(parents=True)
    shutil.copy(lester_root / SQUAD_DEV, tmp_path / SQUAD_DEV)
    with pytest.raises(DataError) as info:
        prepare("mrqa", {"eval_sets": ["squad"]}, tmp_path, tmp_path / "out")
    message = str(info.value)
    assert str(tmp_path / "mrqa/train/SQuAD.jsonl.gz") in message
    assert "https://s3.us-east-2.amazonaws.com/mrqa/release/v2/train/SQuAD.jsonl.gz" in message


def test_md5_mismatch(fixture_root: Path, tmp_path: Path) -> None:
    write_release(fixture_root / mrqa.TRAIN.file.relpath, "SQuAD", "train", TRAIN_LINES[:1])
    with pytest.raises(DataError) as info:
        prepare("mrqa", {"eval_sets": ["squad"]}, fixture_root, tmp_path / "out")
    assert "MD5" in str(info.value) and mrqa.TRAIN.file.md5 in str(info.value)


def test_not_a_release_file(tmp_path: Path) -> None:
    path = tmp_path / "x.jsonl.gz"
    path.write_text("not gzip", encoding="utf-8")
    with pytest.raises(DataError, match="not an MRQA 2019 release file"):
        mrqa.read_release_file(path)


# --- variants ---------------------------------------------------------------------------


def test_manifests_are_stable_per_seed(fixture_root: Path, tmp_path: Path) -> None:
    params = {"eval_sets": ["squad"], "train_rows": 2, "dev_rows": 50, "test_examples": 40}
    first = prepare("mrqa", params, fixture_root, tmp_path / "a")
    again = prepare("mrqa", params, fixture_root, tmp_path / "b")
    other = prepare("mrqa", {**params, "subsample_seed": 3}, fixture_root, tmp_path / "c")
    assert first["selection"] == again["selection"] and first["files"] == again["files"]
    assert first["selection"]["dev"]["sha256"] != other["selection"]["dev"]["sha256"]
    assert first["split"] == "eval-squad-tr2-dv50-te40" and other["split"] == "eval-squad-tr2-dv50-te40-s3"
    assert {n: f["rows"] for n, f in first["files"].items()} == {"train.jsonl": 2, "dev.jsonl": 50, "test.jsonl": 40}


@pytest.mark.parametrize(
    "params, words",
    [
        ({"eval_sets": ["newsqa"]}, ["newsqa", "textbookqa"]),
        ({"eval_sets": "squad"}, ["eval_sets", "list"]),
        ({"eval_sets": []}, ["eval_sets"]),
        ({"eval_sets": ["squad", "squad"]}, ["twice"]),
        ({"task": "squad"}, ["task", "eval_sets"]),
    ],
)
def test_bad_params_are_config_errors(params: dict, words: list[str]) -> None:
    with pytest.raises(ConfigError) as info:
        variant_name("mrqa", params)
    assert all(w in str(info.value) for w in words)


# --- hub --------------------------------------------------------------------------------


def hub_rows(subset: str, lines: list[dict]) -> list[dict]:
    """MRQA lines as the hub stores them: one row per question with a `subset` column."""
    return [
        {"subset": subset, "context": line["context"], "qid": qa["qid"], "question": qa["question"],
         "answers": qa["answers"]}
        for line in lines
        for qa in line["qas"]
    ]  # fmt: skip


def test_hub_path_gives_the_same_files(
    hub_library, write_hub_folder, fixture_root: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(hub_library.config, "HF_DATASETS_CACHE", str(tmp_path / "cache"))
    with gzip.open(fixture_root / SQUAD_DEV, "rt", encoding="utf-8") as f:
        squad_dev = [json.loads(line) for line in itertools.islice(f, 1, 40)]
    other = context_line("Irrelevant.", [("x1", "Not NewsQA?", ["no"])])
    hub = write_hub_folder(
        tmp_path / "hub",
        {
            "train": hub_rows("SQuAD", TRAIN_LINES) + hub_rows("NewsQA", [other]),
            "validation": hub_rows("SQuAD", squad_dev),
            "test": hub_rows("TextbookQA", TEXTBOOK_LINES) + hub_rows("DROP", [other]),
        },
    )
    params = {"eval_sets": ["squad", "textbookqa"], "dev_rows": 5, "test_examples": 2}
    from_files = prepare("mrqa", params, fixture_root, tmp_path / "files")
    from_hub = prepare("mrqa", {**params, "source": "hub", "hub_id": str(hub)}, tmp_path, tmp_path / "hub-out")
    assert from_hub["files"]["train.jsonl"] == from_files["files"]["train.jsonl"]
    assert from_hub["files"]["test.jsonl"] == from_files["files"]["test.jsonl"]
    assert from_hub["inputs"]["textbookqa"]["where"] == {"subset": "TextbookQA"}
    assert from_hub["inputs"]["train"]["rows"] == 3
