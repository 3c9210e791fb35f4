"""GLUE loader: MRPC on the real files, a QQP fixture in the official format, the zero-shot transfer pairs, hub path."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from harness import io
from harness.data import glue, prepare, variant_name
from harness.errors import ConfigError, DataError

QQP_HEADER = "id\tqid1\tqid2\tquestion1\tquestion2\tis_duplicate\n"
QQP_TRAIN = [
    "133273\t213221\t213222\tHow is the life of a math student?\tWhich level is enough for the exam jlpt5?\t0\n",
    "402555\t536040\t536041\tHow do I control my emotions?\tHow do you control your emotions?\t1\n",
    '5\t11\t12\tWhat is "deep learning?\tWhat is deep learning?\t1\n',  # an unbalanced quote
    "7\t13\t14\tA row with a missing field\t0\n",  # skipped, as HF's glue builder skips it
    "9\t15\t16\tIs Paris in France?\tIs Paris the capital of France?\t0\n",
]
QQP_DEV = [
    "201359\t303345\t303346\tWhy are African-Americans so beautiful?\tWhy are hispanics so beautiful?\t0\n",
    "263843\t69383\t380476\tHow can I learn Python fast?\tWhat is the fastest way to learn Python?\t1\n",
]


def rows(folder: Path, name: str) -> list[dict]:
    return io.read_jsonl(folder / name)


def counts(manifest: dict) -> dict[str, int]:
    return {name: entry["rows"] for name, entry in manifest["files"].items()}


@pytest.fixture
def root(lester_root: Path, tmp_path: Path) -> Path:
    """The real MRPC files beside a QQP fixture in GLUE's TSV format."""
    root = tmp_path / "root"
    shutil.copytree(lester_root / "glue/MRPC", root / "glue/MRPC")
    (root / "glue/QQP").mkdir()
    (root / "glue/QQP/train.tsv").write_text(QQP_HEADER + "".join(QQP_TRAIN), encoding="utf-8")
    (root / "glue/QQP/dev.tsv").write_text(QQP_HEADER + "".join(QQP_DEV), encoding="utf-8")
    return root


@pytest.fixture(scope="module")
def mrpc(lester_root: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict]:
    folder = tmp_path_factory.mktemp("mrpc")
    return folder, prepare("glue", {"task": "mrpc"}, lester_root, folder)


def test_mrpc_counts_and_strings(mrpc: tuple[Path, dict]) -> None:
    folder, manifest = mrpc
    assert counts(manifest) == {"train.jsonl": 3668, "dev.jsonl": 408, "test.jsonl": 408}
    assert {i["checked"] for i in manifest["inputs"].values()} == {"sha256"}
    assert [i["skipped_rows"] for i in manifest["inputs"].values()] == [0, 0]
    train = rows(folder, "train.jsonl")
    assert sum(r["target"] == "equivalent" for r in train) == 2474
    assert train[0] == {
        "id": "train-0",
        "source": 'sentence1: Amrozi accused his brother, whom he called "the witness", of deliberately distorting '
        'his evidence. sentence2: Referring to him as only "the witness", Amrozi accused his brother of '
        "deliberately distorting his evidence.",
        "target": "equivalent",
        "label": "equivalent",
        "meta": {"idx": 0},
    }
    test = rows(folder, "test.jsonl")
    # QUOTE_NONE: the unbalanced quote opening this sentence stays text; the BOM is not part of the header.
    assert test[0]["source"].endswith(
        'sentence2: "The foodservice pie business does not fit our long-term growth strategy.'
    )
    assert test[0]["references"] == ["equivalent"] == [test[0]["label"]]
    assert manifest["task"]["positive_label"] == "equivalent"


def test_qqp_fixture(root: Path, tmp_path: Path) -> None:
    manifest = prepare("glue", {"task": "qqp"}, root, tmp_path)
    assert counts(manifest) == {"train.jsonl": 4, "dev.jsonl": 2, "test.jsonl": 2}
    assert manifest["inputs"]["qqp/train"]["skipped_rows"] == 1
    assert manifest["inputs"]["qqp/train"]["checked"].startswith("none")
    train = rows(tmp_path, "train.jsonl")
    assert [r["id"] for r in train] == ["train-0", "train-1", "train-2", "train-4"]  # ids count every data row
    assert train[2]["source"] == 'question1: What is "deep learning? question2: What is deep learning?'
    assert train[1]["target"] == "duplicate" and train[0]["target"] == "not_duplicate"


def test_zero_shot_qqp_to_mrpc(root: Path, tmp_path: Path, mrpc: tuple[Path, dict]) -> None:
    manifest = prepare("glue", {"task": "qqp", "eval_task": "mrpc"}, root, tmp_path)
    assert manifest["split"] == "qqp-to-mrpc"
    assert counts(manifest) == {"train.jsonl": 4, "dev.jsonl": 2, "test.jsonl": 408}
    assert manifest["task"]["label_map"] == {"not_duplicate": "not_equivalent", "duplicate": "equivalent"}
    assert manifest["task"]["positive_label"] == "duplicate"
    test = rows(tmp_path, "test.jsonl")
    mrpc_test = rows(mrpc[0], "test.jsonl")
    # MRPC's own inputs and labels; references in the words the QQP-trained model answers with.
    assert [r["source"] for r in test] == [r["source"] for r in mrpc_test]
    assert [r["label"] for r in test] == [r["label"] for r in mrpc_test]
    assert [manifest["task"]["label_map"][r["references"][0]] for r in test] == [r["label"] for r in test]
    assert rows(tmp_path, "train.jsonl")[0]["source"].startswith("question1: ")


def test_zero_shot_mrpc_to_qqp(root: Path, tmp_path: Path) -> None:
    manifest = prepare("glue", {"task": "mrpc", "eval_task": "qqp"}, root, tmp_path)
    assert manifest["split"] == "mrpc-to-qqp"
    assert counts(manifest) == {"train.jsonl": 3668, "dev.jsonl": 408, "test.jsonl": 2}
    test = rows(tmp_path, "test.jsonl")
    assert [(r["references"], r["label"]) for r in test] == [
        (["not_equivalent"], "not_duplicate"),
        (["equivalent"], "duplicate"),
    ]
    assert (
        test[1]["source"]
        == "question1: How can I learn Python fast? question2: What is the fastest way to learn Python?"
    )


# --- variants, manifests and errors -----------------------------------------------------


def test_variant_names() -> None:
    assert variant_name("glue", {"task": "mrpc"}) == "mrpc"
    assert variant_name("glue", {"task": "mrpc", "eval_task": "mrpc"}) == "mrpc"
    assert variant_name("glue", {"task": "qqp", "eval_task": "mrpc", "train_rows": 1000}) == "qqp-to-mrpc-tr1000"


def test_manifests_are_stable_per_seed(lester_root: Path, tmp_path: Path) -> None:
    params = {"task": "mrpc", "train_rows": 200, "dev_rows": 60}
    first = prepare("glue", params, lester_root, tmp_path / "a")
    again = prepare("glue", params, lester_root, tmp_path / "b")
    other = prepare("glue", {**params, "subsample_seed": 4}, lester_root, tmp_path / "c")
    assert first["selection"] == again["selection"] and first["files"] == again["files"]
    assert first["selection"]["train"]["sha256"] != other["selection"]["train"]["sha256"]
    assert first["split"] == "mrpc-tr200-dv60" and other["split"] == "mrpc-tr200-dv60-s4"
    assert counts(first) == {"train.jsonl": 200, "dev.jsonl": 60, "test.jsonl": 408}


def test_missing_qqp_says_where_and_how(lester_root: Path, tmp_path: Path) -> None:
    shutil.copytree(lester_root / "glue/MRPC", tmp_path / "glue/MRPC")
    with pytest.raises(DataError) as info:
        prepare("glue", {"task": "mrpc", "eval_task": "qqp"}, tmp_path, tmp_path / "out")
    message = str(info.value)
    assert str(tmp_path / "glue/QQP/dev.tsv") in message and "QQP-clean.zip" in message
    assert "HARNESS_DATA_DIR" in message and "nyu-mll/glue" in message


def test_wrong_file_is_a_data_error(root: Path, tmp_path: Path) -> None:
    (root / "glue/QQP/train.tsv").write_text("index\tquestion1\tquestion2\n0\ta\tb\n", encoding="utf-8")
    with pytest.raises(DataError, match="header"):
        prepare("glue", {"task": "qqp"}, root, tmp_path)
    (root / "glue/QQP/train.tsv").write_text(QQP_HEADER + "1\t2\t3\ta\tb\t\n", encoding="utf-8")
    with pytest.raises(DataError, match="not 0 or 1"):
        prepare("glue", {"task": "qqp"}, root, tmp_path)


@pytest.mark.parametrize(
    "params, words",
    [
        ({}, ["task", "mrpc", "qqp"]),
        ({"task": "sst2"}, ["sst2", "mrpc"]),
        ({"task": "qqp", "eval_task": "rte"}, ["eval_task", "rte"]),
        ({"task": "qqp", "test_rows": 5}, ["test_rows", "test_examples"]),
    ],
)
def test_bad_params_are_config_errors(params: dict, words: list[str]) -> None:
    with pytest.raises(ConfigError) as info:
        variant_name("glue", params)
    assert all(w in str(info.value) for w in words)


# --- hub --------------------------------------------------------------------------------


def test_hub_path_gives_the_same_files(
    hub_library, write_hub_folder, root: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(hub_library.config, "HF_DATASETS_CACHE", str(tmp_path / "cache"))
    hub = tmp_path / "hub"
    for task in ("mrpc", "qqp"):
        splits = {}
        for split, hub_split in glue.SPLITS.items():
            pairs, _ = glue.read_tsv(task, root / f"glue/{glue.TASKS[task].folder}/{split}.tsv")
            labels = glue.TASKS[task].labels
            splits[hub_split] = [{**dict(p.features), "label": labels.index(p.label), "idx": p.idx} for p in pairs]
        write_hub_folder(hub / task, splits)
    params = {"task": "qqp", "eval_task": "mrpc"}
    from_files = prepare("glue", params, root, tmp_path / "files")
    from_hub = prepare("glue", {**params, "source": "hub", "hub_id": str(hub)}, tmp_path, tmp_path / "hub-out")
    assert from_hub["files"] == from_files["files"]
    assert from_hub["inputs"]["mrpc/dev"]["data_dir"] == "mrpc"
