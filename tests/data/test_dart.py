"""DART v1.1.1 loader: the real dev/test/reference files of both versions, a train fixture in the release format,
the official reference alignment, errors, and the hub path against a local copy."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import pytest

from harness import io
from harness.data import DATASETS, dart, prepare, variant_name
from harness.errors import ConfigError, DataError

V2020, V2021 = dart.VERSIONS["2020-07"], dart.VERSIONS["2021-04"]

# Three triple sets in the release's JSON layout (the train split is not held here); the third has
# an empty annotation, which is dropped.
TRAIN_FIXTURE = [
    {
        "tripleset": [["Mars Hill College", "JOINED", "1973"], ["Mars Hill College", "LOCATION", "Mars Hill, NC"]],
        "subtree_was_extended": True,
        "annotations": [
            {"source": "WikiSQL_decl_sents", "text": "A school from Mars Hill, NC, joined in 1973."},
            {"source": "WikiSQL_decl_sents", "text": "Mars Hill College in Mars Hill, NC joined in 1973."},
        ],
    },
    {
        "tripleset": [["Plymouth", "LEADER_NAME", "Labour"]],
        "subtree_was_extended": False,
        "annotations": [{"source": "webnlg", "text": "Labour leads Plymouth."}],
    },
    {
        "tripleset": [["[TABLECONTEXT]", "[TITLE]", "Jeff Daniels"], ["[TABLECONTEXT]", "YEAR", "1991"]],
        "subtree_was_extended": False,
        "annotations": [{"source": "WikiTableQuestions_mturk", "text": ""}],
    },
]


def dart_root(real: Path, tmp: Path, version: dart.Version, test: list | None = None) -> Path:
    """A data root holding the real files of `version` (linked), the train fixture and, if given, a test JSON."""
    folder = tmp / "dart" / version.data
    folder.mkdir(parents=True)
    for path in (real / "dart" / version.data).iterdir():
        (folder / path.name).symlink_to(path)
    (tmp / "dart" / version.references).symlink_to(real / "dart" / version.references)
    (folder / "dart-v1.1.1-full-train.json").write_text(json.dumps(TRAIN_FIXTURE, indent=2), encoding="utf-8")
    if test is not None:
        (folder / "dart-v1.1.1-full-test.json").write_text(json.dumps(test), encoding="utf-8")
    return tmp


def reference_lines(real: Path, version: dart.Version, k: int) -> list[str]:
    text = (real / "dart" / version.references / f"all-delex-reference{k}.lex").read_text(encoding="utf-8")
    return [line.rstrip("\r") for line in text.split("\n")[:-1]]


@pytest.fixture(scope="session")
def dart_2021(generation_root: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict]:
    """The 2021-04 version prepared from its real dev JSON, test XML and references plus the train fixture."""
    root = dart_root(generation_root, tmp_path_factory.mktemp("dart-root"), V2021)
    out = tmp_path_factory.mktemp("dart-2021")
    return out, prepare("dart", {"version": "2021-04"}, root, out)


# --- the real files ---------------------------------------------------------------------


@pytest.mark.parametrize("version", [V2020, V2021], ids=["2020-07", "2021-04"])
def test_dev_counts_and_json_equals_xml(generation_root: Path, version: dart.Version) -> None:
    folder = generation_root / "dart" / version.data
    from_json = dart.read_split(folder / "dart-v1.1.1-full-dev.json")
    assert (len(from_json), sum(len(t.annotations) for t in from_json)) == (2768, 6980)
    assert dart.read_split(folder / "dart-v1.1.1-full-dev.xml") == from_json


def test_test_xml_and_reference_files(generation_root: Path) -> None:
    test = dart.read_split(generation_root / "dart" / V2021.data / "dart-v1.1.1-full-test.xml")
    assert (len(test), sum(len(t.annotations) for t in test)) == (5097, 12552)
    for version in (V2020, V2021):
        refs, _ = dart.read_references(generation_root, next(k for k, v in dart.VERSIONS.items() if v == version))
        assert len(refs) == version.test_inputs
    refs_2021 = [reference_lines(generation_root, V2021, k) for k in range(3)]
    assert [sum(1 for line in lines if not line) for lines in refs_2021] == [0, 1476, 2570]


# --- a prepared variant -----------------------------------------------------------------


def test_2021_variant(generation_root: Path, dart_2021: tuple[Path, dict]) -> None:
    folder, manifest = dart_2021
    assert manifest["split"] == "full-2021-04"
    counts = {name: f["rows"] for name, f in manifest["files"].items()}
    assert counts == {"train.jsonl": 3, "dev.jsonl": 6980, "dev_grouped.jsonl": 2768, "test.jsonl": 5097}
    assert io.read_jsonl(folder / "train.jsonl") == [
        {
            "id": "train-0-0",
            "source": "Mars Hill College : joined : 1973 | Mars Hill College : location : Mars Hill, NC",
            "target": "A school from Mars Hill, NC, joined in 1973.",
        },
        {
            "id": "train-0-1",
            "source": "Mars Hill College : joined : 1973 | Mars Hill College : location : Mars Hill, NC",
            "target": "Mars Hill College in Mars Hill, NC joined in 1973.",
        },
        {"id": "train-1-0", "source": "Plymouth : leader_name : Labour", "target": "Labour leads Plymouth."},
    ]
    assert manifest["inputs"]["train"]["checked"].startswith("none")
    assert manifest["inputs"]["dev"]["sha256"] == dart.SHA256[f"{V2021.data}/dart-v1.1.1-full-dev.json"]


def test_official_references_are_the_scorer_files(generation_root: Path, dart_2021: tuple[Path, dict]) -> None:
    test = io.read_jsonl(dart_2021[0] / "test.jsonl")
    columns = [reference_lines(generation_root, V2021, k) for k in range(3)]
    assert [r["official_references"] for r in test] == [list(refs) for refs in zip(*columns, strict=True)]
    assert test[0]["references"] == ["Jeff Daniels played in the Hawaii Five-O episode The Flight of the Jewels"]
    assert test[0]["source"] == (
        "Hawaii Five-O : notes : Episode: The Flight of the Jewels | [TABLECONTEXT] : [title] : Jeff Daniels"
        " | [TABLECONTEXT] : title : Hawaii Five-O"
    )

    def letters(text: str) -> str:
        return re.sub(r"[^a-z0-9]", "", text.lower())

    # Reference k is the k-th annotation, lowercased and tokenised (empty where there is none).
    xml = dart.read_split(generation_root / "dart" / V2021.data / "dart-v1.1.1-full-test.xml")
    for row, tripleset in zip(test, xml, strict=True):
        texts = [text for _, text in tripleset.annotations][:3]
        assert [letters(r) for r in row["official_references"]] == [letters(t) for t in texts + [""] * (3 - len(texts))]


def test_paper_version_with_its_test_set(generation_root: Path, tmp_path: Path) -> None:
    """The 2020-07 references have 5,160 lines; a test JSON of that size is read against them."""
    test = [
        {"tripleset": [[f"e{i}", "R", "x"]], "annotations": [{"source": "s", "text": f"t{i}"}]} for i in range(5160)
    ]
    root = dart_root(generation_root, tmp_path, V2020, test=test)
    manifest = prepare("dart", {"test_examples": 3}, root, tmp_path / "out")
    assert manifest["split"] == "full-te3" and manifest["params"]["version"] == "2020-07"
    rows = io.read_jsonl(tmp_path / "out" / "test.jsonl")
    columns = [reference_lines(generation_root, V2020, k) for k in range(3)]
    assert [r["official_references"] for r in rows] == [[c[i] for c in columns] for i in range(3)]
    assert rows[0]["source"] == "e0 : r : x" and rows[0]["references"] == ["t0"]


def test_test_set_of_another_version_is_refused(generation_root: Path, tmp_path: Path) -> None:
    test = [{"tripleset": [["a", "b", "c"]], "annotations": [{"source": "s", "text": "t"}]}] * 10
    root = dart_root(generation_root, tmp_path, V2020, test=test)
    with pytest.raises(DataError, match="5160"):
        prepare("dart", {}, root, tmp_path / "out")


def test_quick_knobs_are_seeded(generation_root: Path, dart_2021: tuple[Path, dict], tmp_path: Path) -> None:
    root = dart_root(generation_root, tmp_path / "root", V2021)
    params = {"version": "2021-04", "dev_rows": 20, "test_examples": 10}
    first = prepare("dart", params, root, tmp_path / "a")
    other = prepare("dart", {**params, "subsample_seed": 1}, root, tmp_path / "b")
    assert first["split"] == "full-2021-04-dv20-te10"
    assert first["selection"]["dev"]["sha256"] != other["selection"]["dev"]["sha256"]
    assert io.read_jsonl(tmp_path / "a" / "test.jsonl") == io.read_jsonl(dart_2021[0] / "test.jsonl")[:10]
    assert first["files"]["train.jsonl"] == dart_2021[1]["files"]["train.jsonl"]


# --- params and errors ------------------------------------------------------------------


def test_variant_names_and_bad_params() -> None:
    assert variant_name("dart", {}) == "full"
    assert variant_name("dart", {"version": "2021-04", "train_rows": 100}) == "full-2021-04-tr100"
    with pytest.raises(ConfigError, match="2021-04"):
        variant_name("dart", {"version": "2020-07", "source": "hub"})
    with pytest.raises(ConfigError, match="2019"):
        variant_name("dart", {"version": "2019"})
    with pytest.raises(ConfigError, match="split"):
        variant_name("dart", {"split": "full"})


def test_missing_train_says_where_and_how(generation_root: Path, tmp_path: Path) -> None:
    with pytest.raises(DataError) as info:
        prepare("dart", {}, generation_root, tmp_path / "out")
    message = str(info.value)
    assert str(generation_root / "dart" / V2020.data / "dart-v1.1.1-full-train.json") in message
    assert "Yale-LILY/dart" in message and "July 2020" in message and "HARNESS_DATA_DIR" in message


def test_changed_reference_file_is_a_checksum_error(generation_root: Path, tmp_path: Path) -> None:
    root = dart_root(generation_root, tmp_path, V2021)
    refs = tmp_path / "dart" / V2021.references
    refs.unlink()
    shutil.copytree(generation_root / "dart" / V2021.references, refs)
    changed = refs / "all-delex-reference1.lex"
    changed.chmod(0o644)
    changed.write_bytes(changed.read_bytes().replace(b"\r\n", b"\n"))
    with pytest.raises(DataError) as info:
        prepare("dart", {"version": "2021-04"}, root, tmp_path / "out")
    assert str(changed) in str(info.value) and dart.SHA256[f"{V2021.references}/all-delex-reference1.lex"] in str(
        info.value
    )


# --- the hub path -----------------------------------------------------------------------


def hub_row(tripleset: dart.TripleSet) -> dict:
    """A triple set in the schema of the hub's dart."""
    return {
        "tripleset": [list(t) for t in tripleset.triples],
        "subtree_was_extended": False,
        "annotations": {"source": [s for s, _ in tripleset.annotations], "text": [t for _, t in tripleset.annotations]},
    }


def test_hub_path_gives_the_official_files(
    hub_library, write_hub_folder, generation_root: Path, dart_2021: tuple[Path, dict], tmp_path: Path
) -> None:
    folder = generation_root / "dart" / V2021.data
    splits = {
        "train": [dart.TripleSet(i, *t) for i, t in enumerate(
            (tuple(map(tuple, r["tripleset"])), tuple((a["source"], a["text"]) for a in r["annotations"]))
            for r in TRAIN_FIXTURE)],
        "validation": dart.read_split(folder / "dart-v1.1.1-full-dev.json"),
        "test": dart.read_split(folder / "dart-v1.1.1-full-test.xml"),
    }  # fmt: skip
    hub = write_hub_folder(
        tmp_path / "hub" / dart.HUB_DATA_DIR, {name: [hub_row(t) for t in ts] for name, ts in splits.items()}
    )
    # The hub has no reference files: they still come from the data root.
    root = tmp_path / "root"
    (root / "dart").mkdir(parents=True)
    (root / "dart" / V2021.references).symlink_to(generation_root / "dart" / V2021.references)
    manifest = prepare("dart", {"version": "2021-04", "source": "hub", "hub_id": str(hub.parent)}, root, tmp_path / "o")
    assert {n: f["sha256"] for n, f in manifest["files"].items()} == {
        n: f["sha256"] for n, f in dart_2021[1]["files"].items()
    }
    assert manifest["inputs"]["dev"]["rows"] == 2768


def test_registry_and_describe() -> None:
    assert DATASETS["dart"] is dart
    info = json.loads(json.dumps(dart.describe()))
    assert info["versions"]["2020-07"]["test_triple_sets"] == 5160 and info["default_version"] == "2020-07"
