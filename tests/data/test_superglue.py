"""SuperGLUE loader: counts and T5 strings on the real files, fixtures for BoolQ train and ReCoRD, hub path."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from harness import io
from harness.__main__ import main
from harness.data import DATASETS, prepare, superglue, variant_name
from harness.errors import ConfigError, DataError


def rows(folder: Path, name: str) -> list[dict]:
    return io.read_jsonl(folder / name)


def counts(manifest: dict) -> dict[str, int]:
    return {name: entry["rows"] for name, entry in manifest["files"].items()}


@pytest.fixture(scope="module")
def prepared(lester_root: Path, tmp_path_factory: pytest.TempPathFactory):
    """Each task with both official files here, prepared once: task -> (folder, manifest)."""
    out = {}
    for task in ("cb", "copa", "multirc", "rte", "wic", "wsc"):
        folder = tmp_path_factory.mktemp(task)
        out[task] = folder, prepare("superglue", {"task": task}, lester_root, folder)
    return out


def write_jsonl(path: Path, records: list[dict]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps(r) + "\n" for r in records), encoding="utf-8")
    return path


# --- counts on the real files -----------------------------------------------------------


@pytest.mark.parametrize(
    "task, train, val",
    [("cb", 250, 56), ("rte", 2490, 277), ("copa", 400, 100), ("wic", 5428, 638), ("multirc", 27243, 4848)],
)
def test_counts(prepared: dict, task: str, train: int, val: int) -> None:
    folder, manifest = prepared[task]
    assert counts(manifest) == {"train.jsonl": train, "dev.jsonl": val, "test.jsonl": val}
    assert (manifest["inputs"]["train"]["examples"], manifest["inputs"]["val"]["examples"]) == (train, val)
    assert all(entry["checked"] == "sha256" for entry in manifest["inputs"].values())
    for name in ("train.jsonl", "dev.jsonl", "test.jsonl"):
        ids = [r["id"] for r in rows(folder, name)]
        assert len(set(ids)) == len(ids)


def test_wsc_trains_on_positive_referents_only(prepared: dict) -> None:
    folder, manifest = prepared["wsc"]
    assert counts(manifest) == {"train.jsonl": 259, "dev.jsonl": 38, "test.jsonl": 104}  # Lester: 259 of 554
    assert manifest["inputs"]["train"]["examples"] == 554
    test = rows(folder, "test.jsonl")
    assert sum(r["label"] == "True" for r in test) == 38
    train = rows(folder, "train.jsonl")
    assert all(r["label"] == "True" for r in train)
    # Every source marks exactly one pronoun, and the target is the referent's text.
    for row in train + test:
        assert row["source"].count("*") == 2
    first = test[0]
    assert first["source"].endswith("could take his claim away from *him* .")
    assert first["references"] == ["anyone"] and first["label"] == "False"


def test_wsc_special_cases_and_span_fixes(lester_root: Path) -> None:
    examples = {
        split: superglue.flatten("wsc", superglue.read_jsonl_file(lester_root / f"superglue/WSC/{split}.jsonl"), split)
        for split in ("train", "val")
    }
    special = [(s, e["idx"]) for s, ex in examples.items() for e in ex if e["text"] in superglue.WSC_SPECIAL_INPUTS]
    assert special == [("train", 137), ("train", 453), ("train", 533), ("val", 42)]
    assert superglue.wsc_source(examples["train"][137]).endswith('"Good for *him* ," he said.')
    assert "want to use *it* , but" in superglue.wsc_source(examples["val"][42])
    # wsc.fixed: span texts take the case of the text and lose line breaks (TFDS _fix_wst).
    assert examples["train"][13]["span1_text"] == "The lawyer"
    assert examples["train"][234]["span1_text"] == "willow-towered Canopy Huntertropic wrestles"
    assert all(e["span1_text"] in e["text"] for ex in examples.values() for e in ex)


def test_t5_strings(prepared: dict) -> None:
    first = {task: rows(folder, "train.jsonl")[0] for task, (folder, _) in prepared.items()}
    assert first["cb"]["source"] == (
        "hypothesis: the language was peeled down premise: It was a complex language. Not written down but handed "
        "down. One might say it was peeled down."
    )
    assert first["cb"]["target"] == first["cb"]["label"] == "entailment"
    assert first["copa"]["source"] == (
        "choice1: The sun was rising. choice2: The grass was cut. premise: My body cast a shadow over the grass. "
        "question: cause"
    )
    assert first["copa"]["target"] == "choice1"
    assert first["rte"]["source"].startswith("hypothesis: Weapons of Mass Destruction Found in Iraq. premise: No ")
    assert first["wic"]["source"] == (
        "sentence1: Do you want to come over to my place later? sentence2: A political system with no place for "
        "the less prominent groups. word: place"
    )
    assert first["wic"]["target"] == "False"
    assert first["multirc"]["source"].startswith(
        "question: What did the high-level effort to persuade Pakistan include? answer: Children, Gerd, or "
        "Dorian Popa paragraph: While this process moved along, diplomacy continued its rounds."
    )
    assert first["multirc"]["target"] == "False" and first["multirc"]["meta"] == {
        "idx": {"paragraph": 0, "question": 0, "answer": 0}
    }
    # No task-name prefix anywhere (Lester et al.: "we omit the task name prefix").
    for task, (folder, _) in prepared.items():
        assert not any(r["source"].startswith(f"{task} ") for r in rows(folder, "train.jsonl"))


def test_multirc_markup_is_removed() -> None:
    example = {"question": "Who?", "answer": "<b>Ann</b>", "paragraph": "One.<br>Two <b>bold</b>.", "label": "True"}
    assert superglue.source_text("multirc", example) == "question: Who? answer: Ann paragraph: One. Two bold."


def test_multirc_test_rows_are_grouped_per_question(prepared: dict) -> None:
    folder, manifest = prepared["multirc"]
    test = rows(folder, "test.jsonl")
    assert len({r["group"] for r in test}) == 953 == manifest["selection"]["test"]["total_examples"]
    assert test[0]["group"] == "val-p0-q0" and test[0]["id"] == "val-p0-q0-a0"
    assert [r["references"] for r in test[:4]] == [["False"], ["True"], ["True"], ["False"]]


def test_boolq_with_a_train_fixture(lester_root: Path, tmp_path: Path) -> None:
    # BoolQ's train split is not in the shared data: the official val file with a tiny train file.
    root = tmp_path / "root"
    (root / "superglue" / "BoolQ").mkdir(parents=True)
    shutil.copy(lester_root / "superglue/BoolQ/val.jsonl", root / "superglue/BoolQ/val.jsonl")
    write_jsonl(
        root / "superglue/BoolQ/train.jsonl",
        [
            {"question": "is the sky blue", "passage": "Sky -- The sky is blue.", "idx": 0, "label": True},
            {"question": "is grass red", "passage": "Grass -- Grass is green.", "idx": 1, "label": False},
        ],
    )
    manifest = prepare("superglue", {"task": "boolq"}, root, tmp_path / "out")
    assert counts(manifest) == {"train.jsonl": 2, "dev.jsonl": 3270, "test.jsonl": 3270}
    assert manifest["inputs"]["train"]["checked"].startswith("none")
    assert manifest["inputs"]["val"]["checked"] == "sha256"
    train = rows(tmp_path / "out", "train.jsonl")
    assert train[0] == {
        "id": "train-0",
        "source": "passage: Sky -- The sky is blue. question: is the sky blue",
        "target": "True",
        "label": "True",
        "meta": {"idx": 0},
    }
    test = rows(tmp_path / "out", "test.jsonl")
    assert test[0]["source"].startswith("passage: Ethanol fuel -- All biomass goes through")
    assert test[0]["source"].endswith("question: does ethanol take more energy make that produces")


RECORD_PASSAGE = (
    "Ann Lee met Bob in Paris. Bob Smith said 'hi'\n@highlight\nAnn Lee visits Paris\n@highlight\nBob waves"
)


def record_fixture(root: Path) -> None:
    """ReCoRD in the official format: passage text with @highlight lines, entity spans, answers with text."""

    def span(text: str, after: int = 0) -> dict:
        start = RECORD_PASSAGE.index(text, after)
        return {"start": start, "end": start + len(text) - 1}

    def answer(text: str) -> dict:
        return {**span(text), "text": text}

    def passage(idx: int) -> dict:
        entities = [span("Ann Lee"), span("Bob"), span("Paris"), span("Bob Smith"), span("Ann Lee", 1)]
        return {
            "source": "CNN",
            "passage": {"text": RECORD_PASSAGE, "entities": entities},  # "Ann Lee" twice, as in the release
            "qas": [
                {"query": "@placeholder waved at Ann.", "answers": [answer("Bob Smith"), answer("Bob"), answer("Bob")],
                 "idx": 10 * idx},
                {"query": "@placeholder is in France.", "answers": [answer("Paris")], "idx": 10 * idx + 1},
            ],
            "idx": idx,
        }  # fmt: skip

    write_jsonl(root / "superglue/ReCoRD/train.jsonl", [passage(0), passage(1)])
    write_jsonl(root / "superglue/ReCoRD/val.jsonl", [passage(2)])


def test_record_fixture(tmp_path: Path) -> None:
    record_fixture(tmp_path)
    manifest = prepare("superglue", {"task": "record"}, tmp_path, tmp_path / "out")
    # One training row per distinct gold answer (t5 `record`), one test row per query.
    assert counts(manifest) == {"train.jsonl": 6, "dev.jsonl": 3, "test.jsonl": 2}
    source = (
        "query: @placeholder waved at Ann. entities: Ann Lee, Bob, Bob Smith, Paris passage: Ann Lee met Bob in "
        "Paris. Bob Smith said 'hi' Ann Lee visits Paris. Bob waves"
    )
    train = rows(tmp_path / "out", "train.jsonl")
    assert [(r["id"], r["target"]) for r in train[:3]] == [
        ("train-p0-q0-a0", "Bob"),
        ("train-p0-q0-a1", "Bob Smith"),
        ("train-p0-q1-a0", "Paris"),
    ]
    assert train[0]["source"] == source and "label" not in train[0]
    test = rows(tmp_path / "out", "test.jsonl")
    assert test[0] == {
        "id": "val-p2-q20",
        "source": source,
        "references": ["Bob", "Bob Smith"],
        "meta": {"idx": {"passage": 2, "query": 20}},
    }
    assert manifest["task"]["metrics"] == ["squad_em_f1_max_over_answers"]


def test_record_on_the_fewglue_rows(lester_root: Path, tmp_path: Path) -> None:
    # Real ReCoRD rows (FewGLUE's 32-example sets keep the official format) through the same code.
    fewglue = lester_root / "superglue/_fewglue_32shot/ReCoRD"
    (tmp_path / "superglue/ReCoRD").mkdir(parents=True)
    shutil.copy(fewglue / "train32.jsonl", tmp_path / "superglue/ReCoRD/train.jsonl")
    shutil.copy(fewglue / "dev32.jsonl", tmp_path / "superglue/ReCoRD/val.jsonl")
    manifest = prepare("superglue", {"task": "record"}, tmp_path, tmp_path / "out")
    test = rows(tmp_path / "out", "test.jsonl")
    assert manifest["files"]["test.jsonl"]["rows"] == manifest["inputs"]["val"]["examples"]
    assert all(r["references"] == sorted(set(r["references"])) and r["references"] for r in test)
    assert all("@highlight" not in r["source"] and r["source"].startswith("query: ") for r in test)


# --- variants, manifests and errors -----------------------------------------------------


def test_variant_names() -> None:
    assert variant_name("superglue", {"task": "cb"}) == "cb"
    assert variant_name("superglue", {"task": "multirc", "train_rows": 200, "test_examples": 50}) == (
        "multirc-tr200-te50"
    )
    assert variant_name("superglue", {"task": "boolq", "train_rows": 32, "subsample_seed": 2}) == "boolq-tr32-s2"
    assert variant_name("superglue", {"task": "rte", "source": "hub"}) == "rte"


def test_manifests_are_stable_per_seed(lester_root: Path, tmp_path: Path) -> None:
    params = {"task": "rte", "train_rows": 100, "dev_rows": 30, "test_examples": 20}
    first = prepare("superglue", params, lester_root, tmp_path / "a")
    again = prepare("superglue", params, lester_root, tmp_path / "b")
    other = prepare("superglue", {**params, "subsample_seed": 1}, lester_root, tmp_path / "c")
    assert first["selection"] == again["selection"] and first["files"] == again["files"]
    assert first["selection"]["train"]["sha256"] != other["selection"]["train"]["sha256"]
    assert first["selection"]["dev"]["sha256"] != other["selection"]["dev"]["sha256"]
    assert counts(first) == {"train.jsonl": 100, "dev.jsonl": 30, "test.jsonl": 20}
    assert [r["id"] for r in rows(tmp_path / "a", "train.jsonl")] == [
        f"train-{i}" for i in first["selection"]["train"]["indices"]
    ]
    assert first["split"] == "rte-tr100-dv30-te20" and other["split"] == "rte-tr100-dv30-te20-s1"


def test_test_examples_keeps_whole_multirc_questions(prepared: dict, lester_root: Path, tmp_path: Path) -> None:
    manifest = prepare("superglue", {"task": "multirc", "test_examples": 3}, lester_root, tmp_path)
    test = rows(tmp_path, "test.jsonl")
    assert len({r["group"] for r in test}) == 3
    assert test == rows(prepared["multirc"][0], "test.jsonl")[: len(test)]
    assert manifest["selection"]["test"] == {"source": "val", "total_examples": 953, "first_examples": 3}


def test_missing_file_says_where_and_how(tmp_path: Path) -> None:
    with pytest.raises(DataError) as info:
        prepare("superglue", {"task": "boolq"}, tmp_path, tmp_path / "out")
    message = str(info.value)
    assert str(tmp_path / "superglue/BoolQ/train.jsonl") in message
    assert "https://dl.fbaipublicfiles.com/glue/superglue/data/v2/BoolQ.zip" in message
    assert "HARNESS_DATA_DIR" in message and "source: hub" in message
    assert not (tmp_path / "out").exists()


def test_checksum_mismatch(lester_root: Path, tmp_path: Path) -> None:
    shutil.copytree(lester_root / "superglue/CB", tmp_path / "superglue/CB")
    val = tmp_path / "superglue/CB/val.jsonl"
    val.chmod(0o644)
    val.write_text(val.read_text(encoding="utf-8").replace("contradiction", "neutral", 1), encoding="utf-8")
    with pytest.raises(DataError) as info:
        prepare("superglue", {"task": "cb"}, tmp_path, tmp_path / "out")
    assert str(val) in str(info.value) and superglue.TASKS["cb"].sha256["val.jsonl"] in str(info.value)


@pytest.mark.parametrize(
    "params, words",
    [
        ({}, ["task", "boolq", "wsc"]),
        ({"task": "axb"}, ["axb", "record"]),
        ({"task": "cb", "split": "full"}, ["split", "train_rows"]),
        ({"task": "cb", "train_rows": 0}, ["train_rows"]),
        ({"task": "cb", "source": "tfds"}, ["tfds", "hub"]),
        ({"task": "cb", "subsample_seed": -1}, ["subsample_seed"]),
    ],
)
def test_bad_params_are_config_errors(params: dict, words: list[str]) -> None:
    with pytest.raises(ConfigError) as info:
        variant_name("superglue", params)
    assert all(w in str(info.value) for w in words)


def test_too_many_rows_is_a_config_error(lester_root: Path, tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="only 250"):
        prepare("superglue", {"task": "cb", "train_rows": 251}, lester_root, tmp_path)
    with pytest.raises(ConfigError, match="57"):
        prepare("superglue", {"task": "cb", "test_examples": 57}, lester_root, tmp_path)


def test_unlabelled_file_is_a_data_error(lester_root: Path, tmp_path: Path) -> None:
    # The official test.jsonl put in place of train.jsonl: no labels to train on.
    (tmp_path / "superglue/CB").mkdir(parents=True)
    shutil.copy(lester_root / "superglue/CB/test.jsonl", tmp_path / "superglue/CB/train.jsonl")
    shutil.copy(lester_root / "superglue/CB/val.jsonl", tmp_path / "superglue/CB/val.jsonl")
    with pytest.raises(DataError, match="checksum"):
        prepare("superglue", {"task": "cb"}, tmp_path, tmp_path / "out")
    rows_ = superglue.flatten("cb", superglue.read_jsonl_file(tmp_path / "superglue/CB/train.jsonl"), "x")
    with pytest.raises(DataError, match="no label"):
        superglue.training_rows("cb", "train", rows_)


# --- hub --------------------------------------------------------------------------------


def hub_records(task: str, examples: list[dict]) -> list[dict]:
    """TFDS examples as the hub stores them: labels as class indices."""
    labels = superglue.TASKS[task].labels
    return [{**e, "label": labels.index(e["label"])} if labels else e for e in examples]


def test_hub_path_gives_the_same_files(
    hub_library, write_hub_folder, lester_root: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(hub_library.config, "HF_DATASETS_CACHE", str(tmp_path / "cache"))
    record_fixture(tmp_path / "files")  # nested idx, entity and answer lists
    shutil.copytree(lester_root / "superglue/CB", tmp_path / "files/superglue/CB")  # class labels
    hub = tmp_path / "hub"
    for task in ("cb", "record"):
        folder = tmp_path / "files/superglue" / superglue.TASKS[task].folder
        splits = {
            hub_split: hub_records(task, superglue.flatten(task, superglue.read_jsonl_file(folder / f"{s}.jsonl"), s))
            for s, hub_split in superglue.SPLITS.items()
        }
        write_hub_folder(hub / superglue.TASKS[task].hub_config, splits)
        params = {"task": task, "train_rows": 5}
        from_files = prepare("superglue", params, tmp_path / "files", tmp_path / f"{task}-files")
        from_hub = prepare("superglue", {**params, "source": "hub", "hub_id": str(hub)}, tmp_path, tmp_path / task)
        assert from_hub["files"] == from_files["files"] and from_hub["split"] == from_files["split"]
        assert from_hub["inputs"]["val"]["hub_id"] == str(hub)


def test_hub_without_the_library_says_how(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    import builtins

    real_import = builtins.__import__

    def no_datasets(name: str, *args, **kwargs):
        if name == "datasets":
            raise ImportError("No module named 'datasets'")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_datasets)
    with pytest.raises(DataError, match="pip install datasets"):
        prepare("superglue", {"task": "cb", "source": "hub"}, tmp_path, tmp_path / "out")


# --- registry ---------------------------------------------------------------------------


def test_registry_and_cli_list_the_lester_datasets(capsys: pytest.CaptureFixture) -> None:
    assert {"superglue", "mrqa", "glue"} <= set(DATASETS)
    assert main(["datasets"]) == 0
    listed = {json.loads(line)["name"]: json.loads(line) for line in capsys.readouterr().out.splitlines()}
    assert listed["superglue"]["splits"] == list(superglue.TASKS)
    assert listed["superglue"]["files"]["MultiRC/train.jsonl"]["answer rows"] == 27243
    assert listed["mrqa"]["files"]["in_domain_dev/SQuAD.jsonl.gz"]["questions"] == 10507
    assert "qqp-to-mrpc" in listed["glue"]["splits"]
