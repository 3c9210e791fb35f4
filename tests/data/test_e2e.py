"""E2E loader against the real official files, the Prefix-Tuning repo's files and the golden refs."""

from __future__ import annotations

import json
import shutil
import zipfile
from pathlib import Path

import pytest

from harness import io
from harness.data import DATASETS, e2e, paths, prepare, variant_name
from harness.errors import ConfigError, DataError

# The Prefix-Tuning files PTB-tokenise slot values as well as references; these three price
# values are the only slot values that tokenisation changes (checked over all dev/test lines).
PTB_PRICE_VALUES = {
    "price : less than £20": "price : less than £ 20",
    "price : £20-25": "price : £ 20 - 25",
    "price : more than £30": "price : more than £ 30",
}


def ptb_values(source: str) -> str:
    for ours, theirs in PTB_PRICE_VALUES.items():
        source = source.replace(ours, theirs)
    return source


def measure_scores_fix_chars(text: str) -> str:
    """The character fixes e2e-metrics' measure_scores applies when it reads references."""
    return text.replace("Ł", "£").replace("Â£", "£").replace("Ã©", "é").replace("ã©", "é")


def official(root: Path, name: str) -> list[e2e.Pair]:
    return e2e.read_pairs(root / "e2e" / "official" / name)


def prepared(folder: Path, name: str) -> list[dict]:
    return io.read_jsonl(folder / name)


# --- the official files -----------------------------------------------------------------


@pytest.mark.parametrize(
    "name, rows, mrs",
    [("trainset.csv", 42061, 4862), ("devset.csv", 4672, 547), ("testset_w_refs.csv", 4693, 630)],
)
def test_official_sizes(shared_root: Path, name: str, rows: int, mrs: int) -> None:
    pairs = official(shared_root, name)
    assert (len(pairs), len({p.mr for p in pairs})) == (rows, mrs) == e2e.SIZES[name]


@pytest.mark.parametrize(
    "csv_name, pt_name", [("devset.csv", "src1_valid.txt"), ("testset_w_refs.csv", "src1_test.txt")]
)
def test_linearisation_matches_prefix_tuning_files(shared_root: Path, csv_name: str, pt_name: str) -> None:
    # The repo's files are the CSVs row for row (same order; their references are the CSV
    # references PTB-tokenised), so line i's source is the linearisation of row i's MR.
    pairs = official(shared_root, csv_name)
    lines = (shared_root / "e2e" / "prefixtuning_format" / pt_name).read_text(encoding="utf-8").splitlines()
    assert len(lines) == len(pairs)
    theirs = [line.split("||", 1)[0] for line in lines]
    ours = [e2e.linearize(p.mr) for p in pairs]
    assert [ptb_values(s) for s in ours] == theirs
    # Without the price tokenisation the strings differ exactly where a price value is tokenised.
    assert [a == b for a, b in zip(ours, theirs, strict=True)] == [
        not any(v in s for v in PTB_PRICE_VALUES) for s in ours
    ]


def test_linearize_renames_keys_and_keeps_order() -> None:
    mr = "name[The Vaults], eatType[pub], priceRange[more than £30], familyFriendly[yes], near[Café Adriatic]"
    assert e2e.linearize(mr) == (
        "name : The Vaults | Type : pub | price : more than £30 | family friendly : yes"
        " | near : Café Adriatic"
    )


@pytest.mark.parametrize("mr", ["name[X], eatType", "name[X] eatType[pub]", "name[X]], area[y]", ""])
def test_malformed_mr_is_a_data_error(mr: str) -> None:
    with pytest.raises(DataError, match="malformed"):
        e2e.parse_mr(mr)


def test_clean_ref_only_touches_line_breaks_and_ends() -> None:
    assert (
        e2e.clean_ref("It is near The Bakers.\r\n  This coffee shop ")
        == "It is near The Bakers. This coffee shop"
    )
    assert e2e.clean_ref("Prices start at £30.  Café") == "Prices start at £30.  Café"


# --- the prepared full variant ----------------------------------------------------------


def test_full_variant_counts(e2e_full: tuple[Path, dict]) -> None:
    folder, manifest = e2e_full
    assert manifest["split"] == "full"
    assert {name: f["rows"] for name, f in manifest["files"].items()} == {
        "train.jsonl": 42061,
        "dev.jsonl": 4672,
        "dev_grouped.jsonl": 547,
        "test.jsonl": 630,
    }
    assert sum(len(r["references"]) for r in prepared(folder, "dev_grouped.jsonl")) == 4672
    for name, entry in manifest["files"].items():
        assert io.sha256_file(folder / name) == entry["sha256"]
    assert {n: i["sha256"] for n, i in manifest["inputs"].items()} == e2e.SHA256
    assert json.loads((folder / "manifest.json").read_text(encoding="utf-8")) == manifest


def test_rows_are_one_line_with_unique_ids(e2e_full: tuple[Path, dict]) -> None:
    folder, _ = e2e_full
    for name, field in [("train.jsonl", "target"), ("dev.jsonl", "target")]:
        rows = prepared(folder, name)
        assert len({r["id"] for r in rows}) == len(rows)
        assert all("\n" not in r[field] and r[field] == r[field].strip() and r[field] for r in rows)
    train = prepared(folder, "train.jsonl")
    assert (
        train[0]["target"] == "The Vaults pub near Café Adriatic has a 5 star rating.  Prices start at £30."
    )


def test_test_groups_equal_golden_refs(shared_root: Path, e2e_full: tuple[Path, dict]) -> None:
    folder, _ = e2e_full
    golden = shared_root / "golden" / "e2e"
    groups = [
        block.split("\n")
        for block in golden.joinpath("refs.txt").read_text(encoding="utf-8").strip().split("\n\n")
    ]
    mrs = golden.joinpath("mrs.txt").read_text(encoding="utf-8").splitlines()
    test = prepared(folder, "test.jsonl")
    assert (len(groups), sum(map(len, groups))) == (630, 4693)
    assert [[measure_scores_fix_chars(r) for r in row["references"]] for row in test] == groups
    assert test[0]["references"] == groups[0]
    assert [row["source"] for row in test] == [e2e.linearize(mr) for mr in mrs]
    assert [row["id"] for row in test] == [f"test-{k}" for k in range(630)]


# --- variants ---------------------------------------------------------------------------


def test_variant_names() -> None:
    assert variant_name("e2e", {}) == "full"
    assert variant_name("e2e", {"split": "lowdata", "size": 100}) == "lowdata-100-s0"
    assert variant_name("e2e", {"split": "fraction", "fraction": 0.2}) == "fraction-0.2-s0"
    assert variant_name("e2e", {"train_rows": 200, "test_mrs": 50}) == "full-tr200-te50"
    assert variant_name("e2e", {"train_rows": 200, "subsample_seed": 3}) == "full-tr200-s3"
    assert variant_name("e2e", {"split": "lowdata", "size": 50, "subsample_seed": 4, "dev_rows": 5}) == (
        "lowdata-50-s4-dv5"
    )


def test_lowdata_is_deterministic_per_seed(shared_root: Path, tmp_path: Path) -> None:
    params = {"split": "lowdata", "size": 50, "subsample_seed": 0}
    first = prepare("e2e", params, shared_root, tmp_path / "a")
    again = prepare("e2e", params, shared_root, tmp_path / "b")
    other = prepare("e2e", {**params, "subsample_seed": 1}, shared_root, tmp_path / "c")
    assert first["selection"] == again["selection"] and first["files"] == again["files"]
    assert first["selection"]["train"]["sha256"] != other["selection"]["train"]["sha256"]
    assert first["selection"]["dev"]["sha256"] != other["selection"]["dev"]["sha256"]
    assert (first["files"]["train.jsonl"]["rows"], first["files"]["dev.jsonl"]["rows"]) == (50, 15)
    assert first["files"]["test.jsonl"]["rows"] == 630
    indices = first["selection"]["train"]["indices"]
    assert [r["id"] for r in prepared(tmp_path / "a", "train.jsonl")] == [f"train-{i}" for i in indices]


def test_quick_grid_knobs(shared_root: Path, tmp_path: Path, e2e_full: tuple[Path, dict]) -> None:
    manifest = prepare("e2e", {"train_rows": 20, "dev_rows": 9, "test_mrs": 5}, shared_root, tmp_path)
    assert manifest["split"] == "full-tr20-dv9-te5"
    assert [manifest["files"][n]["rows"] for n in ("train.jsonl", "dev.jsonl", "test.jsonl")] == [20, 9, 5]
    # test_mrs keeps the golden order: the first N MRs of the full test set.
    assert prepared(tmp_path, "test.jsonl") == prepared(e2e_full[0], "test.jsonl")[:5]
    dev = prepared(tmp_path, "dev.jsonl")
    grouped = prepared(tmp_path, "dev_grouped.jsonl")
    assert sum(len(g["references"]) for g in grouped) == 9
    assert [t for g in grouped for t in g["references"]] == [r["target"] for r in dev]


def test_fraction_size(shared_root: Path, tmp_path: Path) -> None:
    manifest = prepare("e2e", {"split": "fraction", "fraction": 0.1}, shared_root, tmp_path)
    assert manifest["files"]["train.jsonl"]["rows"] == round(0.1 * 42061)
    assert manifest["files"]["dev.jsonl"]["rows"] == 4672


@pytest.mark.parametrize(
    "params, words",
    [
        ({"splits": "full"}, ["splits", "train_rows"]),
        ({"split": "few"}, ["few", "lowdata"]),
        ({"split": "lowdata"}, ["size"]),
        ({"size": 50}, ["size", "lowdata"]),
        ({"split": "fraction", "fraction": 1.5}, ["fraction"]),
        ({"train_rows": 0}, ["train_rows"]),
        ({"test_mrs": True}, ["test_mrs"]),
        ({"subsample_seed": -1}, ["subsample_seed"]),
    ],
)
def test_bad_params_are_config_errors(params: dict, words: list[str]) -> None:
    with pytest.raises(ConfigError) as info:
        variant_name("e2e", params)
    assert all(w in str(info.value) for w in words)


def test_too_many_rows_is_a_config_error(shared_root: Path, tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="only 50"):
        prepare("e2e", {"split": "lowdata", "size": 50, "train_rows": 60}, shared_root, tmp_path)
    with pytest.raises(ConfigError, match="630"):
        prepare("e2e", {"test_mrs": 631}, shared_root, tmp_path)


def test_unknown_dataset_lists_known_ones(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="e2e"):
        prepare("e3e", {}, tmp_path, tmp_path)
    assert "e2e" in DATASETS


# --- files: location, download, checksums, atomic writes --------------------------------


def test_data_root_precedence(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("HARNESS_DATA_DIR", str(tmp_path / "env"))
    assert paths.data_root(tmp_path / "explicit") == tmp_path / "explicit"
    assert paths.data_root(None) == tmp_path / "env"
    monkeypatch.delenv("HARNESS_DATA_DIR")
    monkeypatch.setenv("HOME", str(tmp_path))
    assert paths.data_root(None) == tmp_path / ".cache" / "harness" / "data"


def test_missing_files_without_network(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    def offline(url: str, dest: Path, sha256: str | None) -> Path:
        raise DataError(f"could not download {url}: no network")

    monkeypatch.setattr(paths, "fetch", offline)
    with pytest.raises(DataError) as info:
        prepare("e2e", {}, tmp_path / "root", tmp_path / "out")
    message = str(info.value)
    assert str(tmp_path / "root" / "e2e" / "official" / "trainset.csv") in message
    assert "HARNESS_DATA_DIR" in message and e2e.URL in message
    assert not (tmp_path / "out").exists()


def test_download_extracts_and_verifies(
    shared_root: Path, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    def fake_release(url: str, dest: Path, sha256: str | None) -> Path:
        with zipfile.ZipFile(dest, "w") as archive:
            for name in [*e2e.SHA256, "testset.csv", "README.md"]:
                archive.write(shared_root / "e2e" / "official" / name, f"e2e-dataset/{name}")
        return dest

    monkeypatch.setattr(paths, "fetch", fake_release)
    folder = e2e.official_dir(tmp_path)
    files = e2e.ensure_official_files(tmp_path)
    assert sorted(p.name for p in folder.iterdir()) == sorted(e2e.SHA256)  # no zip or temp dir left
    assert all(io.sha256_file(p) == e2e.SHA256[p.name] for p in files.values())


def test_checksum_mismatch_is_a_data_error(shared_root: Path, tmp_path: Path) -> None:
    folder = e2e.official_dir(tmp_path)
    shutil.copytree(e2e.official_dir(shared_root), folder)
    (folder / "devset.csv").chmod(0o644)
    with open(folder / "devset.csv", "a", encoding="utf-8") as f:
        f.write('"name[X]",extra row\n')
    with pytest.raises(DataError) as info:
        prepare("e2e", {}, tmp_path, tmp_path / "out")
    assert "devset.csv" in str(info.value) and e2e.SHA256["devset.csv"] in str(info.value)


def test_fetch_verifies_checksum(tmp_path: Path) -> None:
    src = tmp_path / "src.txt"
    src.write_text("payload", encoding="utf-8")
    good = io.sha256_file(src)
    assert paths.fetch(src.as_uri(), tmp_path / "ok.txt", good).read_text(encoding="utf-8") == "payload"
    with pytest.raises(DataError, match=good):
        paths.fetch(src.as_uri(), tmp_path / "bad.txt", "0" * 64)
    assert not (tmp_path / "bad.txt").exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ok.txt", "src.txt"]


def test_outputs_leave_no_temp_files(e2e_full: tuple[Path, dict]) -> None:
    folder, manifest = e2e_full
    assert sorted(p.name for p in folder.iterdir()) == sorted([*manifest["files"], "manifest.json"])


def test_failed_write_keeps_previous_file(tmp_path: Path) -> None:
    path = tmp_path / "train.jsonl"
    io.write_jsonl(path, [{"id": "a"}])
    before = path.read_bytes()

    def rows_then_crash():
        yield {"id": "b"}
        raise RuntimeError("killed mid-write")

    with pytest.raises(RuntimeError):
        io.write_jsonl(path, rows_then_crash())
    assert path.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["train.jsonl"]


def test_describe() -> None:
    info = e2e.describe()
    assert info["download_url"] == e2e.URL
    assert info["files"]["testset_w_refs.csv"]["unique_mrs"] == 630
