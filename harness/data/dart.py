"""DART v1.1.1 (Nan et al. 2021) from the official release JSON (or XML), or the hub's `dart`.

Two releases share the name v1.1.1 (`version`): "2020-07", the files the Prefix-Tuning paper trained
and tested on (its test set has 5,160 triple sets), and "2021-04", the repository's current files
(5,097 test triple sets), which is also what the hub serves. Their dev sets are the same 2,768
triple sets. Each version has its own official test references, `all-delex-reference{0,1,2}.lex`
of DART's evaluation/ (tokenised; the 2021 ones lowercased), read by `run_eval_on_dart.sh`.

Sources are triple sets linearised as the Prefix-Tuning code does (`LineByLineTriplesTextDataset`
and `read_triples_files`): `subj : rel : obj | subj : rel : obj`, relations lowercased, no leading
separator (unlike its WebNLG reader). Train and dev hold one row per (triple set, annotation);
annotations with empty text are dropped (the repo trained on them as empty targets; its test
reader skipped them). Test rows, one per triple set in file order, carry every non-empty annotation
in `references` and, in `official_references`, line i of the three reference files: exactly what
the official scorer reads, "" where a file's line is empty (multi-bleu.perl counts those as
0-length references; BLEURT and MoverScore read reference 0 only; metrics notes §4).
"""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from pathlib import Path

from harness.data.output import write_prepared
from harness.data.sources import KNOBS, Knobs, ReleaseFile, check_params, hub_rows, official_file, one_of
from harness.data.splits import selection_record
from harness.data.webnlg import join_triples, parse_triple
from harness.errors import ConfigError, DataError

NAME = "dart"
FOLDER = "dart"
FORMAT_VERSION = 1
REPO = "the Yale-LILY/dart repository (github.com/Yale-LILY/dart)"
LICENCE = "MIT"


@dataclass(frozen=True)
class Version:
    data: str  # folder under <root>/dart/ holding dart-v1.1.1-full-{train,dev,test}.{json,xml}
    references: str  # folder holding all-delex-reference{0,1,2}.lex
    test_inputs: int  # triple sets in the test split = lines of each reference file
    where: str  # which commit of the repository has these files


VERSIONS = {
    "2020-07": Version(
        "v1.1.1_2020-07_prefixtuning", "references_2020-07", 5160, "its history as of July 2020 (what the paper used)"
    ),
    "2021-04": Version("v1.1.1_2021-04_current", "references_2021-08", 5097, "its main branch (April 2021 data)"),
}
DEFAULT_VERSION = "2020-07"  # the paper's
N_REFS = 3
# sha256 of the files held where this loader was written; train/test JSON of either version were not
# (their hash is recorded in the manifest, unchecked).
SHA256 = {
    "v1.1.1_2020-07_prefixtuning/dart-v1.1.1-full-dev.json": (
        "5038f3543b6d59b94ac4e3f69d15a0b01d8578913f862142e7c560200dd6e434"
    ),
    "v1.1.1_2020-07_prefixtuning/dart-v1.1.1-full-dev.xml": (
        "aaf2c99f9210955e3431d29872753d773d861452af1d698929a1424704bb708e"
    ),
    "v1.1.1_2021-04_current/dart-v1.1.1-full-dev.json": (
        "56606eac12baa7f0ddb81c61890f9f1a95bace4df8f8989852786358fe5d2b88"
    ),
    "v1.1.1_2021-04_current/dart-v1.1.1-full-dev.xml": (
        "5f9333abea903fae4edfdd6fc2884854597b3f0d377d21229689fe86e97b7e6e"
    ),
    "v1.1.1_2021-04_current/dart-v1.1.1-full-test.xml": (
        "4f6994d633030278798c114555549a13202780fe0d78ee2e7ac7dcce45a8e233"
    ),
    "references_2020-07/all-delex-reference0.lex": "b8917327ef6e607dc6d01d9253660ef2a28b6b4770d88b97805b4dd99dbf6a64",
    "references_2020-07/all-delex-reference1.lex": "beb177830b3ef40d11c172034118d97fd2cb1eb57c42229048a7d2d09a8832fe",
    "references_2020-07/all-delex-reference2.lex": "3c606596700661c88341aa382ba694b7a184027192fbeaef7a419ef532e481cf",
    "references_2021-08/all-delex-reference0.lex": "07dd2cc064c58c8abed6690a8882ce48c2e61acc8c873f38756ce62a61d591bf",
    "references_2021-08/all-delex-reference1.lex": "1b073f35536ebb3985cbb3c2f53c5cde23d8170089e115097f980ef82961830a",
    "references_2021-08/all-delex-reference2.lex": "a5a11705b9d451843c7550dc4b7bc0084a7512c450e3635601924b325e3301d3",
}
DEV_SIZE = (2768, 6980)  # (triple sets, annotations), both versions

# The hub's parquet export of `dart` (2021-04 files; main holds a loading script, which `datasets` >= 4
# no longer runs). Not checked against the live hub from here (no network): `hub_id` overrides it.
HUB_ID, HUB_REVISION, HUB_DATA_DIR = "Yale-LILY/dart", "refs/convert/parquet", "default"
HUB_VERSION = "2021-04"
HUB_SPLITS = {"train": "train", "dev": "validation", "test": "test"}
HUB_NAME = f"{HUB_ID} (the {HUB_VERSION} files)"  # how error messages name it

PARAMS = ("version", *KNOBS)


@dataclass(frozen=True)
class TripleSet:
    index: int  # position in its split file
    triples: tuple[tuple[str, str, str], ...]
    annotations: tuple[tuple[str, str], ...]  # (source, text), file order


def linearize(triples: tuple[tuple[str, str, str], ...]) -> str:
    return join_triples(triples, lowercase_relations=True)


# --- official files ---------------------------------------------------------------------


def how_to_get(root: Path, version: str, relpath: str) -> str:
    v = VERSIONS[version]
    if relpath.startswith(v.references):
        what = f"evaluation/dart_reference/{Path(relpath).name}"
    else:
        what = f"data/v1.1.1/{Path(relpath).stem}.json (or the .xml beside it)"
    return f"Download {what} from {REPO}, {v.where}, into {root / FOLDER / Path(relpath).parent}."


def split_file(root: Path, version: str, split: str) -> tuple[Path, dict]:
    """The JSON of a split, or its XML when only that is there; checked against the pinned sha256."""
    stem = f"{VERSIONS[version].data}/dart-v1.1.1-full-{split}"
    relpath = next(
        (f"{stem}{ext}" for ext in (".json", ".xml") if (root / FOLDER / f"{stem}{ext}").is_file()), f"{stem}.json"
    )
    return official_file(
        root,
        ReleaseFile(f"{FOLDER}/{relpath}", sha256=SHA256.get(relpath)),
        what=f"DART {version} {split}",
        how_to_get=how_to_get(root, version, relpath),
        hub_id=HUB_NAME,
    )


def read_split(path: Path) -> list[TripleSet]:
    """Triple sets of a release JSON (list of {tripleset, annotations}) or XML (entries of mtriple/lex)."""
    try:
        if path.suffix == ".json":
            rows = json.loads(path.read_text(encoding="utf-8"))
            return [
                TripleSet(
                    i,
                    tuple(_triple(t, path) for t in row["tripleset"]),
                    tuple((a["source"], a["text"]) for a in row["annotations"]),
                )
                for i, row in enumerate(rows)
            ]
        entries = ET.parse(path).getroot().iter("entry")
        return [
            TripleSet(
                i,
                tuple(parse_triple(t.text or "", f"{path} entry {node.get('eid')}") for t in node.iter("mtriple")),
                tuple((lex.get("comment", ""), lex.text or "") for lex in node.iter("lex")),
            )
            for i, node in enumerate(entries)
        ]
    except (ValueError, KeyError, TypeError, ET.ParseError) as exc:
        raise DataError(
            f"{path} is not in the DART release format ({exc!r}); replace it with the official file."
        ) from None


def _triple(triple: list, path: Path) -> tuple[str, str, str]:
    if len(triple) != 3:
        raise DataError(f"malformed triple {triple!r} in {path}: expected [subject, relation, object].")
    return triple[0], triple[1], triple[2]


def read_references(root: Path, version: str) -> tuple[list[list[str]], dict]:
    """[[ref0, ref1, ref2] per test input] from the official .lex files (CRLF or LF), and their records."""
    columns, inputs = [], {}
    for k in range(N_REFS):
        relpath = f"{VERSIONS[version].references}/all-delex-reference{k}.lex"
        path, inputs[relpath] = official_file(
            root,
            ReleaseFile(f"{FOLDER}/{relpath}", sha256=SHA256.get(relpath)),
            what=f"DART {version} test reference {k}",
            how_to_get=how_to_get(root, version, relpath),
            hub_id=HUB_NAME,
        )
        lines = path.read_text(encoding="utf-8").split("\n")
        columns.append([line.rstrip("\r") for line in (lines[:-1] if lines[-1] == "" else lines)])
    if len({len(c) for c in columns}) != 1:
        raise DataError(f"the DART {version} reference files have {[len(c) for c in columns]} lines; they must agree.")
    return [list(refs) for refs in zip(*columns, strict=True)], inputs


def from_hub_row(index: int, row: dict) -> TripleSet:
    annotations = row["annotations"]
    return TripleSet(
        index,
        tuple(_triple(t, Path(HUB_ID)) for t in row["tripleset"]),
        tuple(zip(annotations["source"], annotations["text"], strict=True)),
    )


# --- params -----------------------------------------------------------------------------


def normalize_params(params: dict | None) -> tuple[str, Knobs]:
    """(version, the shared knobs); ConfigError naming any bad key or value."""
    params = check_params("DART", params, PARAMS)
    version = one_of("DART", "version", params.get("version") or DEFAULT_VERSION, VERSIONS)
    knobs = Knobs.from_params("DART", params)
    if knobs.source == "hub" and version != HUB_VERSION:
        raise ConfigError(
            f"DART version {version!r} is not on the hub, which serves the {HUB_VERSION} files; use "
            f"`version: {HUB_VERSION}` with `source: hub`, or `source: files` with the {version} release files."
        )
    return version, knobs


def variant_name(params: dict | None) -> str:
    """Folder name of a data variant: "full" (the paper's 2020-07 files), "full-2021-04", "full-tr200-te50"."""
    version, knobs = normalize_params(params)
    return ("full" if version == DEFAULT_VERSION else f"full-{version}") + knobs.suffix()


# --- prepare ----------------------------------------------------------------------------


def load(root: Path, version: str, knobs: Knobs) -> tuple[dict[str, list[TripleSet]], dict]:
    """Triple sets of train/dev/test and the manifest records of where they came from."""
    splits, inputs = {}, {}
    for split, hub_split in HUB_SPLITS.items():
        if knobs.source == "hub":
            rows, inputs[split] = hub_rows(
                knobs.hub_id or HUB_ID, hub_split, data_dir=HUB_DATA_DIR, revision=HUB_REVISION
            )
            splits[split] = [from_hub_row(i, row) for i, row in enumerate(rows)]
        else:
            path, inputs[split] = split_file(root, version, split)
            splits[split] = read_split(path)
    found = (len(splits["dev"]), sum(len(t.annotations) for t in splits["dev"]))
    if found != DEV_SIZE:
        raise DataError(
            f"DART dev has {found[0]} triple sets / {found[1]} texts, v1.1.1 has {DEV_SIZE}: another release."
        )
    return splits, inputs


def prepare(params: dict | None, root: Path, out_dir: Path) -> dict:
    """Write train/dev/dev_grouped/test JSONL and manifest.json for one variant into `out_dir`."""
    version, knobs = normalize_params(params)
    splits, inputs = load(root, version, knobs)
    official_refs, inputs["references"] = read_references(root, version)
    if len(official_refs) != len(splits["test"]):
        raise DataError(
            f"the DART {version} test split has {len(splits['test'])} triple sets but its reference files "
            f"{len(official_refs)} lines: they are not the same release (the {version} test set has "
            f"{VERSIONS[version].test_inputs})."
        )

    pairs = {
        split: [(t, k) for t in splits[split] for k, (_, text) in enumerate(t.annotations) if text.strip()]
        for split in ("train", "dev")
    }
    picked = {split: knobs.sample(split, len(pairs[split]), NAME) for split in ("train", "dev")}
    n_test = knobs.first_examples(len(splits["test"]), f"the DART {version} test set")

    dev_selected = [pairs["dev"][i] for i in picked["dev"]]
    dev_groups: dict[TripleSet, list[int]] = {}  # the selected dev pairs per triple set
    for tripleset, k in dev_selected:
        dev_groups.setdefault(tripleset, []).append(k)
    outputs = {
        "train.jsonl": [_pair_row("train", *pairs["train"][i]) for i in picked["train"]],
        "dev.jsonl": [_pair_row("dev", t, k) for t, k in dev_selected],
        "dev_grouped.jsonl": [
            {"id": f"dev-{t.index}", "source": linearize(t.triples), "references": [t.annotations[k][1] for k in ks]}
            for t, ks in dev_groups.items()
        ],
        "test.jsonl": [
            {
                "id": f"test-{t.index}",
                "source": linearize(t.triples),
                "references": [text for _, text in t.annotations if text.strip()],
                "official_references": official_refs[t.index],
            }
            for t in splits["test"][:n_test]
        ],
    }
    manifest = {
        "dataset": NAME,
        "split": variant_name(params),
        "params": {"version": version, **vars(knobs)},
        "format_version": FORMAT_VERSION,
        "source": knobs.source,
        "inputs": inputs,
        "selection": {
            "train": selection_record("train pairs (non-empty text)", picked["train"], len(pairs["train"])),
            "dev": selection_record("dev pairs (non-empty text)", picked["dev"], len(pairs["dev"])),
            "test": {"source": "test triple sets", "total": len(splits["test"]), "first": n_test},
        },
    }
    return write_prepared(out_dir, outputs, manifest)


def _pair_row(split: str, tripleset: TripleSet, k: int) -> dict:
    return {
        "id": f"{split}-{tripleset.index}-{k}",
        "source": linearize(tripleset.triples),
        "target": tripleset.annotations[k][1],
    }


def describe() -> dict:
    """What this loader needs and offers (for `python -m harness datasets`)."""
    return {
        "name": NAME,
        "versions": {
            name: {
                "data": f"<data_root>/{FOLDER}/{v.data}/dart-v1.1.1-full-{{train,dev,test}}.json (or .xml)",
                "references": f"<data_root>/{FOLDER}/{v.references}/all-delex-reference{{0,1,2}}.lex",
                "test_triple_sets": v.test_inputs,
                "from": f"{REPO}, {v.where}",
            }
            for name, v in VERSIONS.items()
        },
        "default_version": DEFAULT_VERSION,
        "files": {relpath: {"sha256": sha} for relpath, sha in SHA256.items()},
        "dev": {"triple_sets": DEV_SIZE[0], "texts": DEV_SIZE[1]},
        "expected_under": f"<data_root>/{FOLDER}/",
        "hub": f"{HUB_ID}@{HUB_REVISION} ({HUB_DATA_DIR}; version {HUB_VERSION})",
        "licence": LICENCE,
        "params": list(PARAMS),
        "official_references": "line i of all-delex-reference{0,1,2}.lex, '' where empty (run_eval_on_dart.sh)",
        "outputs": ["train.jsonl", "dev.jsonl", "dev_grouped.jsonl", "test.jsonl", "manifest.json"],
    }
