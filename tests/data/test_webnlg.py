"""WebNLG 2017 loader against the real XML, the Prefix-Tuning JSON, the golden scorer files and a local hub copy."""

from __future__ import annotations

import csv
import gzip
import json
import re
import shutil
from pathlib import Path

import pytest

from harness import io
from harness.data import DATASETS, prepare, variant_name, webnlg
from harness.errors import ConfigError, DataError


@pytest.fixture(scope="session")
def webnlg_full(generation_root: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict]:
    out = tmp_path_factory.mktemp("webnlg-full")
    return out, prepare("webnlg", {}, generation_root, out)


@pytest.fixture(scope="session")
def entries(generation_root: Path) -> dict[str, list[webnlg.Entry]]:
    return webnlg.canonical_order(webnlg.read_official(generation_root), "test")


def rows(folder: Path, name: str) -> list[dict]:
    return io.read_jsonl(folder / name)


# --- the official files -----------------------------------------------------------------


def test_official_counts(entries: dict[str, list[webnlg.Entry]]) -> None:
    for split, (n_entries, n_texts) in {"train": (6940, 18102), "dev": (872, 2268), "test": (1862, 4928)}.items():
        assert (len(entries[split]), sum(len(e.lexes) for e in entries[split])) == (n_entries, n_texts)
    test = entries["test"]
    assert (sum(e.seen for e in test), sum(not e.seen for e in test)) == (971, 891)
    assert {e.category for e in test if not e.seen} == set(webnlg.UNSEEN_CATEGORIES)
    assert {e.category for e in entries["train"]} | {"City"} == set(webnlg.SEEN_CATEGORIES) | {"City"}
    assert not {e.category for e in entries["train"] + entries["dev"]} & set(webnlg.UNSEEN_CATEGORIES)


def test_xml_equals_prefix_tuning_json(generation_root: Path, entries: dict[str, list[webnlg.Entry]]) -> None:
    """dev.json is what the paper's code read: same entries, same order, same triples and texts."""
    data = json.loads((generation_root / "webnlg2017" / "dev.json").read_text(encoding="utf-8"))["entries"]
    theirs = [entry[str(i + 1)] for i, entry in enumerate(data)]
    assert len(theirs) == len(entries["dev"])
    for ours, their in zip(entries["dev"], theirs, strict=True):
        assert (ours.eid, ours.category, ours.size) == (their["xml_id"], their["category"], int(their["size"]))
        assert ours.triples == tuple((t["subject"], t["property"], t["object"]) for t in their["modifiedtripleset"])
        assert ours.lexes == tuple((lex["comment"], lex["lex"]) for lex in their["lexicalisations"])
        # LineByLineWebNLGTextDataset: temp_triples += ' | ' before every triple, then 'subj : rel : obj'.
        repo_source = "".join(
            " | " + "{} : {} : {}".format(t["subject"], t["property"], t["object"]) for t in their["modifiedtripleset"]
        )
        assert webnlg.linearize(ours.triples) == repo_source


def test_linearization_styles() -> None:
    triples = (("Aarhus", "leaderName", "Jacob_Bundsgaard"), ("Aarhus_Airport", "cityServed", '"Aarhus, Denmark"'))
    assert (
        webnlg.linearize(triples)
        == ' | Aarhus : leaderName : Jacob_Bundsgaard | Aarhus_Airport : cityServed : "Aarhus, Denmark"'
    )
    assert (
        webnlg.linearize(triples, "clean")
        == 'Aarhus : leaderName : Jacob_Bundsgaard | Aarhus_Airport : cityServed : "Aarhus, Denmark"'
    )
    assert webnlg.join_triples(triples[:1], lowercase_relations=True) == "Aarhus : leadername : Jacob_Bundsgaard"
    with pytest.raises(DataError, match="malformed triple"):
        webnlg.parse_triple("Aarhus | leaderName", "here")


# --- the prepared full variant ----------------------------------------------------------


def test_full_variant(webnlg_full: tuple[Path, dict]) -> None:
    folder, manifest = webnlg_full
    assert manifest["split"] == "full"
    counts = {name: f["rows"] for name, f in manifest["files"].items()}
    # 77 train and 10 dev texts are comment="toFix"; one dev input has only such texts.
    assert counts == {"train.jsonl": 18025, "dev.jsonl": 2258, "dev_grouped.jsonl": 871, "test.jsonl": 1862}
    for name, entry in manifest["files"].items():
        assert io.sha256_file(folder / name) == entry["sha256"]
        assert len({r["id"] for r in rows(folder, name)}) == entry["rows"]
    train = rows(folder, "train.jsonl")
    assert train[0] == {
        "id": "train-1-Airport-Id1-0",
        "source": ' | Aarhus_Airport : cityServed : "Aarhus, Denmark"',
        "target": "The Aarhus is the airport of Aarhus, Denmark.",
    }
    assert all(r["target"] and "\n" not in r["target"] for r in train)
    grouped = rows(folder, "dev_grouped.jsonl")
    assert [t for g in grouped for t in g["references"]] == [r["target"] for r in rows(folder, "dev.jsonl")]


def test_test_rows_follow_the_official_scorer(generation_root: Path, webnlg_full: tuple[Path, dict]) -> None:
    """Order, seen/unseen and references 0-2 equal the golden files made by the challenge scripts."""
    test = rows(webnlg_full[0], "test.jsonl")
    golden = generation_root / "golden" / "webnlg2017"
    with open(golden / "test_split.tsv", encoding="utf-8") as f:
        split = list(csv.DictReader(f, delimiter="\t"))
    assert [r["id"] for r in test] == [f"test-{s['eid']}" for s in split]
    assert [r["category"] for r in test] == [s["category"] for s in split]
    assert [r["seen"] for r in test] == [s["split"] == "seen" for s in split]
    assert [len(r["references"]) for r in test] == [int(s["n_refs_in_xml"]) for s in split]
    assert all(r["official_references"] == r["references"][:3] for r in test)
    refs = [
        gzip.open(golden / "refs" / f"gold-all-cat-reference{k}.lex.gz", "rt", encoding="utf-8").read().split("\n")
        for k in range(3)
    ]

    def evaluation_py(text: str) -> str:  # its preprocessing, for ASCII text (it runs unidecode first)
        return " ".join(" ".join(re.split(r"(\W)", text.lower())).split())

    checked = 0
    for i, row in enumerate(test):
        for k in range(3):
            ours = row["official_references"][k] if k < len(row["official_references"]) else ""
            if ours.isascii():
                assert evaluation_py(ours) == refs[k][i]
                checked += 1
    assert checked > 0.95 * 3 * 1862  # 5,382 of the 5,586 reference slots are ASCII


def test_test_subsets(generation_root: Path, webnlg_full: tuple[Path, dict], tmp_path: Path) -> None:
    everything = rows(webnlg_full[0], "test.jsonl")
    manifest = prepare("webnlg", {"test_subset": "unseen"}, generation_root, tmp_path)
    assert manifest["split"] == "unseen"
    test = rows(tmp_path, "test.jsonl")
    assert test == [r for r in everything if not r["seen"]] and len(test) == 891
    assert manifest["files"]["train.jsonl"] == webnlg_full[1]["files"]["train.jsonl"]


def test_variant_names() -> None:
    assert variant_name("webnlg", {}) == "full"
    assert variant_name("webnlg", {"test_subset": "unseen", "linearization": "clean"}) == "unseen-clean"
    assert variant_name("webnlg", {"train_rows": 200, "dev_rows": 50, "test_examples": 50}) == "full-tr200-dv50-te50"
    assert variant_name("webnlg", {"train_rows": 200, "subsample_seed": 2, "source": "hub"}) == "full-tr200-s2"


def test_quick_knobs_are_seeded(generation_root: Path, tmp_path: Path) -> None:
    params = {"train_rows": 30, "dev_rows": 10, "test_examples": 5, "linearization": "clean"}
    first = prepare("webnlg", params, generation_root, tmp_path / "a")
    again = prepare("webnlg", params, generation_root, tmp_path / "b")
    other = prepare("webnlg", {**params, "subsample_seed": 1}, generation_root, tmp_path / "c")
    assert first["selection"] == again["selection"] and first["files"] == again["files"]
    assert first["selection"]["train"]["sha256"] != other["selection"]["train"]["sha256"]
    assert [first["files"][n]["rows"] for n in ("train.jsonl", "dev.jsonl", "test.jsonl")] == [30, 10, 5]
    assert not rows(tmp_path / "a", "train.jsonl")[0]["source"].startswith(" | ")


@pytest.mark.parametrize(
    "params, words",
    [
        ({"linearisation": "clean"}, ["linearisation", "linearization"]),
        ({"linearization": "tidy"}, ["tidy", "prefix-tuning"]),
        ({"test_subset": "new"}, ["new", "unseen"]),
        ({"train_rows": 0}, ["train_rows"]),
        ({"source": "web"}, ["source"]),
    ],
)
def test_bad_params_are_config_errors(params: dict, words: list[str]) -> None:
    with pytest.raises(ConfigError) as info:
        variant_name("webnlg", params)
    assert all(w in str(info.value) for w in words)


def test_too_many_test_examples(generation_root: Path, tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="891"):
        prepare("webnlg", {"test_subset": "unseen", "test_examples": 900}, generation_root, tmp_path)


# --- missing and changed files ----------------------------------------------------------


def test_missing_release_says_where_and_how(tmp_path: Path) -> None:
    with pytest.raises(DataError) as info:
        prepare("webnlg", {}, tmp_path / "root", tmp_path / "out")
    message = str(info.value)
    assert str(tmp_path / "root" / "webnlg2017" / "train") in message
    assert "webnlg-dataset" in message and "HARNESS_DATA_DIR" in message and webnlg.HUB_ID in message
    assert not (tmp_path / "out").exists()


def test_changed_xml_is_a_checksum_error(generation_root: Path, tmp_path: Path) -> None:
    folder = tmp_path / "webnlg2017"
    folder.mkdir()
    shutil.copytree(generation_root / "webnlg2017" / "dev", folder / "dev")
    for name in ("train", "test"):
        (folder / name).symlink_to(generation_root / "webnlg2017" / name)
    changed = next((folder / "dev").glob("1triples/*Airport*.xml"))
    changed.chmod(0o644)
    changed.write_text(changed.read_text(encoding="utf-8").replace("Aarhus", "Arhus", 1), encoding="utf-8")
    with pytest.raises(DataError) as info:
        prepare("webnlg", {}, tmp_path, tmp_path / "out")
    assert "checksum mismatch" in str(info.value) and str(folder / "dev") in str(info.value)
    assert webnlg.TREE_SHA256["dev"] in str(info.value)


# --- the hub path -----------------------------------------------------------------------


def hub_row(entry: webnlg.Entry) -> dict:
    """An entry in the schema of the hub's web_nlg (webnlg_challenge_2017)."""
    return {
        "category": entry.category,
        "size": entry.size,
        "eid": entry.eid,
        "modified_triple_sets": {"mtriple_set": [[" | ".join(t) for t in entry.triples]]},
        "lex": {"comment": [c for c, _ in entry.lexes], "lid": [f"Id{k + 1}" for k in range(len(entry.lexes))],
                "text": [t for _, t in entry.lexes]},
    }  # fmt: skip


def test_hub_path_gives_the_official_files(
    hub_library, write_hub_folder, entries, webnlg_full: tuple[Path, dict], tmp_path: Path
) -> None:
    # Shuffled, as a hub export need not keep the release's order: the loader restores it.
    splits = {"train": entries["train"][::-1], "validation": entries["dev"][::-1], "test": entries["test"][::-1]}
    hub = write_hub_folder(
        tmp_path / "hub" / webnlg.HUB_DATA_DIR, {name: [hub_row(e) for e in es] for name, es in splits.items()}
    )
    manifest = prepare("webnlg", {"source": "hub", "hub_id": str(hub.parent)}, tmp_path / "no-files", tmp_path / "out")
    assert manifest["split"] == "full" and manifest["source"] == "hub"
    assert {n: f["sha256"] for n, f in manifest["files"].items()} == {
        n: f["sha256"] for n, f in webnlg_full[1]["files"].items()
    }
    assert manifest["inputs"]["test"]["rows"] == 1862


def test_hub_with_another_release_is_refused(hub_library, write_hub_folder, entries, tmp_path: Path) -> None:
    splits = {"train": entries["train"][:10], "validation": entries["dev"], "test": entries["test"]}
    hub = write_hub_folder(
        tmp_path / "hub" / webnlg.HUB_DATA_DIR, {name: [hub_row(e) for e in es] for name, es in splits.items()}
    )
    with pytest.raises(DataError, match="another version"):
        prepare("webnlg", {"source": "hub", "hub_id": str(hub.parent)}, tmp_path, tmp_path / "out")


def test_registry_and_describe() -> None:
    assert DATASETS["webnlg"] is webnlg
    info = json.loads(json.dumps(webnlg.describe()))
    assert info["files"]["test/testdata_with_lex.xml"]["seen"] == 971
