"""WebNLG challenge 2017 (Gardent et al. 2017) from the official XML release or the hub's `web_nlg`.

Sources are the modified triple sets linearised as the Prefix-Tuning code does (Li & Liang 2021,
`LineByLineWebNLGTextDataset`): `subj : rel : obj` per triple, values as written in the XML
(underscores and quotes kept). That code writes ' | ' before EVERY triple, the first included, so
each of its training sources starts with ' | '; its test reader (`read_webnlg_files`) does the same
for every example but the first, which gets no separator at all. `linearization: prefix-tuning`
(default) writes the training form for train, dev and test alike (the example-0 slip is not
copied); `linearization: clean` writes `s : r : o | s2 : r2 : o2`.

Training and dev pairs keep only lexicalisations marked comment="good", as that code does (77 train
and 10 dev texts are "toFix"). Test rows, one per input in natural-sorted entry-id order (the
official scorer's order), keep every reference in XML order in `references`; `official_references`
are the first three, the only ones the challenge scripts read (metrics notes §3). `category` and
`seen` (one of the 10 training categories) let scoring report the paper's S / U / A columns from one
run; `test_subset: seen|unseen` writes only that part.
"""

from __future__ import annotations

import hashlib
import re
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from pathlib import Path

from harness.data import paths
from harness.data.output import write_prepared
from harness.data.sources import KNOBS, Knobs, ReleaseFile, check_params, hub_rows, official_file, one_of
from harness.data.splits import selection_record
from harness.errors import DataError
from harness.io import sha256_file

NAME = "webnlg"
FOLDER = "webnlg2017"
FORMAT_VERSION = 1
RELEASE = (
    "the WebNLG 2017 challenge release: folder webnlg_challenge_2017/ of the webnlg-dataset repository "
    "(gitlab.com/shimorina/webnlg-dataset, commit 587fa698bec705efbefe72a235a6019c2b9b8b6c, the archive "
    "the Hugging Face `web_nlg` loader downloads)"
)
LICENCE = "CC BY-NC-SA 4.0"

# train/ and dev/ are 52 XML files each (<n>triples/<n>triple(s)_..._<category>_<split>_challenge.xml);
# one sha256 over their relative paths and contents (tree_sha256) pins each folder.
TREE_PATTERN = "*triples/*.xml"
TREE_SHA256 = {
    "train": "56aa97204d6dfdbb1149a01f18df11d4e5e0f5ff8c5a872a8f383804228bd574",
    "dev": "705a71249299a8dc6e2f09def9087a8a3603d4f743a8ed89c7d2700305e6f859",
}
TEST_FILE = "test/testdata_with_lex.xml"  # seen + unseen inputs with their references
TEST_SHA256 = "43287905cbfe47697232d569ea6ff072d598282da2ea022bc435ca26b943cd93"
SIZES = {"train": (6940, 18102), "dev": (872, 2268), "test": (1862, 4928)}  # (entries, lexicalisations)
SEEN_CATEGORIES = (
    "Airport", "Astronaut", "Building", "City", "ComicsCharacter",
    "Food", "Monument", "SportsTeam", "University", "WrittenWork",
)  # fmt: skip
UNSEEN_CATEGORIES = ("Artist", "Athlete", "CelestialBody", "MeanOfTransportation", "Politician")
TEST_COUNTS = {"seen": 971, "unseen": 891}
OFFICIAL_REFS = 3  # webnlg-automatic-evaluation's *_3ref scripts read references 0-2 only

# The hub's parquet export of `web_nlg` (its main branch holds a loading script, which `datasets` >= 4
# no longer runs); `datasets` names the split in the dev/ folder "validation". Not checked against the
# live hub from here (no network): `hub_id` overrides the name.
HUB_ID, HUB_REVISION, HUB_DATA_DIR = "webnlg-challenge/web_nlg", "refs/convert/parquet", "webnlg_challenge_2017"
HUB_SPLITS = {"train": "train", "dev": "validation", "test": "test"}

LINEARIZATIONS = ("prefix-tuning", "clean")
TEST_SUBSETS = ("all", "seen", "unseen")
PARAMS = ("linearization", "test_subset", *KNOBS)


@dataclass(frozen=True)
class Entry:
    split: str
    eid: str
    category: str
    size: int
    triples: tuple[tuple[str, str, str], ...]
    lexes: tuple[tuple[str, str], ...]  # (comment, text), XML order

    @property
    def key(self) -> str:
        """Unique within a split: entry ids restart in every (size, category) file."""
        return f"{self.size}-{self.category}-{self.eid}"

    @property
    def seen(self) -> bool:
        return self.category in SEEN_CATEGORIES


# --- text -------------------------------------------------------------------------------


def join_triples(
    triples: tuple[tuple[str, str, str], ...], *, leading_separator: bool = False, lowercase_relations: bool = False
) -> str:
    """`s : r : o | s2 : r2 : o2`, with ' | ' also before the first triple when `leading_separator`."""
    parts = [f"{s} : {r.lower() if lowercase_relations else r} : {o}" for s, r, o in triples]
    return "".join(" | " + part for part in parts) if leading_separator else " | ".join(parts)


def linearize(triples: tuple[tuple[str, str, str], ...], style: str = "prefix-tuning") -> str:
    """The source string of a triple set (see the module docstring for the two styles)."""
    return join_triples(triples, leading_separator=style == "prefix-tuning")


def parse_triple(text: str, where: str) -> tuple[str, str, str]:
    """`subj | rel | obj` -> (subj, rel, obj); DataError if it does not have exactly three parts."""
    parts = text.strip().split(" | ")
    if len(parts) != 3:
        raise DataError(f"malformed triple {text!r} in {where}: expected `subject | property | object`.")
    return parts[0], parts[1], parts[2]


def clean_text(text: str | None) -> str:
    """A lexicalisation as one line: line breaks become spaces, outer whitespace goes."""
    return " ".join((text or "").split("\n")).strip()


# --- official files ---------------------------------------------------------------------


def official_dir(root: Path) -> Path:
    return root / FOLDER


def how_to_get(root: Path) -> str:
    return f"Put {RELEASE} at {official_dir(root)}, keeping its train/, dev/ and test/ folders."


def tree_sha256(folder: Path) -> tuple[str, list[Path]]:
    """One sha256 over the relative paths and contents of `folder`'s challenge XML files, sorted."""
    files = sorted(folder.glob(TREE_PATTERN))
    digest = hashlib.sha256()
    for path in files:
        digest.update(f"{path.relative_to(folder).as_posix()}\t{sha256_file(path)}\n".encode())
    return digest.hexdigest(), files


def check_official_files(root: Path) -> dict:
    """Checksum records of the official XML; DataError naming the folder or file that is missing or differs."""
    folder = official_dir(root)
    inputs = {}
    for split, expected in TREE_SHA256.items():
        actual, files = tree_sha256(folder / split)
        if not files:
            raise DataError(
                f"WebNLG 2017 {split} not found: expected the {split} XML files at {folder / split}/{TREE_PATTERN}. "
                f"{how_to_get(root)} Or point {paths.ENV_VAR} (or the config's data_dir) at a folder holding "
                f"{FOLDER}/, or set `source: hub` to load {HUB_ID} from the Hugging Face hub."
            )
        if actual != expected:
            raise DataError(
                f"checksum mismatch for the WebNLG {split} XML files under {folder / split} ({len(files)} files): "
                f"tree sha256 {actual}, expected {expected}. They are not the official 2017 release: replace "
                f"the folder. {how_to_get(root)}"
            )
        inputs[f"{split}/{TREE_PATTERN}"] = {"path": str(folder / split), "tree_sha256": expected, "files": len(files)}
    _, inputs[TEST_FILE] = official_file(
        root,
        ReleaseFile(f"{FOLDER}/{TEST_FILE}", sha256=TEST_SHA256),
        what="WebNLG 2017 test (with references)",
        how_to_get=how_to_get(root),
        hub_id=HUB_ID,
    )
    return inputs


def read_xml(path: Path, split: str) -> list[Entry]:
    """The entries of one challenge XML file, in file order."""
    try:
        benchmark = ET.parse(path).getroot()
    except ET.ParseError as exc:
        raise DataError(f"{path} is not valid XML ({exc}); replace it with the official file.") from None
    entries = []
    for node in benchmark.iter("entry"):
        where = f"{path} entry {node.get('eid')}"
        triples = tuple(parse_triple(t.text or "", where) for t in node.find("modifiedtripleset").iter("mtriple"))
        lexes = tuple((lex.get("comment", ""), clean_text(lex.text)) for lex in node.iter("lex"))
        entries.append(Entry(split, node.get("eid"), node.get("category"), int(node.get("size")), triples, lexes))
    return entries


def read_official(root: Path) -> dict[str, list[Entry]]:
    folder = official_dir(root)
    entries = {
        split: [e for path in sorted((folder / split).glob(TREE_PATTERN)) for e in read_xml(path, split)]
        for split in ("train", "dev")
    }
    entries["test"] = read_xml(folder / TEST_FILE, "test")
    return entries


def from_hub_row(row: dict, split: str) -> Entry:
    """An entry of the hub's `web_nlg` (webnlg_challenge_2017) as the XML reader builds it."""
    where = f"{HUB_ID} {split} entry {row['eid']}"
    mtriples = row["modified_triple_sets"]["mtriple_set"]
    lex = row["lex"]
    return Entry(
        split,
        row["eid"],
        row["category"],
        int(row["size"]),
        tuple(parse_triple(t, where) for t in (mtriples[0] if mtriples else [])),
        tuple((c, clean_text(t)) for c, t in zip(lex["comment"], lex["text"], strict=True)),
    )


def read_hub(hub_id: str) -> tuple[dict[str, list[Entry]], dict]:
    entries, records = {}, {}
    for split, hub_split in HUB_SPLITS.items():
        rows, records[split] = hub_rows(hub_id, hub_split, data_dir=HUB_DATA_DIR, revision=HUB_REVISION)
        entries[split] = [from_hub_row(row, split) for row in rows]
    return entries, records


def natural_key(text: str) -> tuple:
    """Sort key putting "Id10" after "Id9": digit runs compare as numbers (the official scorer's order)."""
    return tuple(int(part) if part.isdigit() else part for part in re.split(r"(\d+)", text))


def canonical_order(entries: dict[str, list[Entry]], origin: str) -> dict[str, list[Entry]]:
    """Train/dev by (size, category, entry id) -- the release's file order, which the Prefix-Tuning JSON
    keeps -- and test by natural entry id; DataError if the counts are not the 2017 release's."""
    ordered = {
        split: sorted(rows, key=lambda e: (e.size, e.category, natural_key(e.eid)))
        for split, rows in entries.items()
        if split != "test"
    }
    ordered["test"] = sorted(entries["test"], key=lambda e: natural_key(e.eid))
    for split, (n_entries, n_lexes) in SIZES.items():
        rows = ordered[split]
        found = (len(rows), sum(len(e.lexes) for e in rows))
        if found != (n_entries, n_lexes):
            raise DataError(
                f"{origin} WebNLG {split} has {found[0]} entries / {found[1]} texts, the 2017 release "
                f"{n_entries} / {n_lexes}: it is another version of WebNLG."
            )
    unknown = sorted({e.category for e in ordered["test"]} - set(SEEN_CATEGORIES) - set(UNSEEN_CATEGORIES))
    if unknown:
        raise DataError(f"{origin} WebNLG test has categories {unknown} that are neither seen nor unseen in 2017.")
    return ordered


# --- params -----------------------------------------------------------------------------


def normalize_params(params: dict | None) -> tuple[dict, Knobs]:
    """(WebNLG's own params with defaults filled in, the shared knobs); ConfigError naming any bad one."""
    params = check_params("WebNLG", params, PARAMS)
    own = {
        "linearization": params.get("linearization") or "prefix-tuning",
        "test_subset": params.get("test_subset") or "all",
    }
    one_of("WebNLG", "linearization", own["linearization"], LINEARIZATIONS)
    one_of("WebNLG", "test_subset", own["test_subset"], TEST_SUBSETS)
    return own, Knobs.from_params("WebNLG", params)


def variant_name(params: dict | None) -> str:
    """Folder name of a data variant: "full", "unseen", "full-clean", "seen-tr200-dv50-te50"."""
    own, knobs = normalize_params(params)
    name = "full" if own["test_subset"] == "all" else own["test_subset"]
    if own["linearization"] != "prefix-tuning":
        name += f"-{own['linearization']}"
    return name + knobs.suffix()


# --- prepare ----------------------------------------------------------------------------


def prepare(params: dict | None, root: Path, out_dir: Path) -> dict:
    """Write train/dev/dev_grouped/test JSONL and manifest.json for one variant into `out_dir`."""
    own, knobs = normalize_params(params)
    if knobs.source == "hub":
        hub_id = knobs.hub_id or HUB_ID
        raw, inputs = read_hub(hub_id)
        entries = canonical_order(raw, f"the hub's {hub_id}")
    else:
        inputs = check_official_files(root)
        entries = canonical_order(read_official(root), f"the XML under {official_dir(root)}")
    style, subset = own["linearization"], own["test_subset"]

    pairs = {
        split: [(e, k) for e in entries[split] for k, (comment, _) in enumerate(e.lexes) if comment == "good"]
        for split in ("train", "dev")
    }
    picked = {split: knobs.sample(split, len(pairs[split]), NAME) for split in ("train", "dev")}
    test_pool = [i for i, e in enumerate(entries["test"]) if subset == "all" or e.seen == (subset == "seen")]
    test_idx = test_pool[: knobs.first_examples(len(test_pool), f"the WebNLG test set ({subset})")]

    dev_selected = [pairs["dev"][i] for i in picked["dev"]]
    dev_groups: dict[Entry, list[int]] = {}  # the selected dev pairs per input, as E2E groups MRs
    for entry, k in dev_selected:
        dev_groups.setdefault(entry, []).append(k)
    outputs = {
        "train.jsonl": [_pair_row(*pairs["train"][i], style) for i in picked["train"]],
        "dev.jsonl": [_pair_row(e, k, style) for e, k in dev_selected],
        "dev_grouped.jsonl": [
            {"id": f"dev-{e.key}", "source": linearize(e.triples, style), "references": [e.lexes[k][1] for k in ks]}
            for e, ks in dev_groups.items()
        ],
        "test.jsonl": [_test_row(entries["test"][i], style) for i in test_idx],
    }
    manifest = {
        "dataset": NAME,
        "split": variant_name(params),
        "params": {**own, **vars(knobs)},
        "format_version": FORMAT_VERSION,
        "source": knobs.source,
        "inputs": inputs,
        "selection": {
            "train": selection_record("train pairs (comment=good)", picked["train"], len(pairs["train"])),
            "dev": selection_record("dev pairs (comment=good)", picked["dev"], len(pairs["dev"])),
            "test": selection_record(f"test inputs, natural eid order ({subset})", test_idx, len(entries["test"])),
        },
    }
    return write_prepared(out_dir, outputs, manifest)


def _pair_row(entry: Entry, k: int, style: str) -> dict:
    return {
        "id": f"{entry.split}-{entry.key}-{k}",
        "source": linearize(entry.triples, style),
        "target": entry.lexes[k][1],
    }


def _test_row(entry: Entry, style: str) -> dict:
    references = [text for _, text in entry.lexes]
    return {
        "id": f"test-{entry.eid}",
        "source": linearize(entry.triples, style),
        "references": references,
        "official_references": references[:OFFICIAL_REFS],
        "category": entry.category,
        "seen": entry.seen,
    }


def describe() -> dict:
    """What this loader needs and offers (for `python -m harness datasets`)."""
    return {
        "name": NAME,
        "files": {
            f"{split}/{TREE_PATTERN}": {"tree_sha256": sha, "entries": SIZES[split][0], "texts": SIZES[split][1]}
            for split, sha in TREE_SHA256.items()
        }
        | {TEST_FILE: {"sha256": TEST_SHA256, "entries": SIZES["test"][0], "texts": SIZES["test"][1], **TEST_COUNTS}},
        "expected_under": f"<data_root>/{FOLDER}/",
        "release": RELEASE,
        "hub": f"{HUB_ID}@{HUB_REVISION} ({HUB_DATA_DIR})",
        "licence": LICENCE,
        "params": list(PARAMS),
        "linearizations": list(LINEARIZATIONS),
        "test_subsets": list(TEST_SUBSETS),
        "seen_categories": list(SEEN_CATEGORIES),
        "unseen_categories": list(UNSEEN_CATEGORIES),
        "official_references": f"the first {OFFICIAL_REFS} of each input (webnlg-automatic-evaluation)",
        "outputs": ["train.jsonl", "dev.jsonl", "dev_grouped.jsonl", "test.jsonl", "manifest.json"],
    }
