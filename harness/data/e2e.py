"""E2E NLG Challenge (Novikova et al. 2017) from the official release CSVs.

Sources are linearised as in the Prefix-Tuning code (Li & Liang 2021):
`name[The Vaults], eatType[pub]` -> `name : The Vaults | Type : pub`, with three keys renamed
and the MR's slot order kept. Unlike that code, slot values and references are NOT
PTB-tokenised: they are the CSV text (the repo's files read `£ 20 - 25` where the CSV has
`£20-25`), so a model is trained on and scored against the official references.

Outputs (see docs/contracts.md): train.jsonl and dev.jsonl, one row per (MR, reference);
test.jsonl and dev_grouped.jsonl, one row per unique MR with all its references in
first-appearance order, which is how e2e-metrics' measure_scores groups testset_w_refs.csv.
"""

from __future__ import annotations

import csv
import re
import tempfile
import zipfile
from dataclasses import dataclass
from pathlib import Path

from harness.data import paths
from harness.data.output import write_prepared
from harness.data.splits import sample_indices, selection_record
from harness.errors import ConfigError, DataError

NAME = "e2e"
URL = "https://github.com/tuetschek/e2e-dataset/releases/download/v1.0.0/e2e-dataset.zip"
# Bump when the content of the prepared files changes for the same params.
FORMAT_VERSION = 1

# Official release v1.0.0 (the files in the zip above); checked on every prepare.
FILES = {"train": "trainset.csv", "dev": "devset.csv", "test": "testset_w_refs.csv"}
SHA256 = {
    "trainset.csv": "f27d48df45815288ab15619d47a79028c300fbb7f42e373668aba0b98c1d57c6",
    "devset.csv": "fc26b78cdb849c80545f513b223d1e051138b43882eeb79e3eb153e689c864f9",
    "testset_w_refs.csv": "edc8db685e39bb9824d5bd70c18b1c9b0412d14b527aa960e2d1c8251ee15ccd",
}
SIZES = {  # (rows, unique MRs)
    "trainset.csv": (42061, 4862),
    "devset.csv": (4672, 547),
    "testset_w_refs.csv": (4693, 630),
}

# The Prefix-Tuning code's key names; every other key is kept as written in the MR.
KEY_NAMES = {"eatType": "Type", "familyFriendly": "family friendly", "priceRange": "price"}
_SLOT = re.compile(r"([^\[\],]+)\[([^\]]*)\]")

SPLITS = ("full", "lowdata", "fraction")
PARAMS = ("split", "size", "fraction", "subsample_seed", "train_rows", "dev_rows", "test_mrs")
PAPER_LOWDATA_SIZES = (50, 100, 200, 500)  # Li & Liang 2021, sec. 7.3: 5 samples per size
PAPER_FRACTIONS = (0.1, 0.2, 0.4, 0.6, 0.8)  # data-efficiency figure
LOWDATA_DEV_RATIO = 0.3  # the paper's dev split is 30% of the low-data training size


@dataclass(frozen=True)
class Pair:
    index: int  # 0-based data row in the CSV (header excluded)
    mr: str
    ref: str


# --- text -------------------------------------------------------------------------------


def parse_mr(mr: str) -> list[tuple[str, str]]:
    """`name[X], eatType[Y]` -> [("name", "X"), ("eatType", "Y")]; DataError if anything is left over."""
    slots = [(m.group(1).strip(), m.group(2)) for m in _SLOT.finditer(mr)]
    if not slots or ", ".join(f"{k}[{v}]" for k, v in slots) != mr.strip():
        raise DataError(f"malformed E2E meaning representation {mr!r}: expected `key[value], key[value]...`.")
    return slots


def linearize(mr: str) -> str:
    """The Prefix-Tuning source string for an MR: `name : X | Type : Y | ...` (values untokenised)."""
    return " | ".join(f"{KEY_NAMES.get(k, k)} : {v}" for k, v in parse_mr(mr))


def clean_ref(text: str) -> str:
    """The CSV reference, with line breaks made spaces and outer whitespace stripped.

    Two training references contain `\\r\\n`; three training and one dev reference end in a
    space. Everything else (internal double spaces, £, é) is kept as written. One reference
    must be one line, and a trailing space would be learned as part of the target.
    """
    return re.sub(r"\s*[\r\n]+\s*", " ", text).strip()


# --- official files ---------------------------------------------------------------------


def official_dir(root: Path) -> Path:
    return root / NAME / "official"


def ensure_official_files(root: Path) -> dict[str, Path]:
    """Paths of the three official CSVs under `root`, downloading them if absent; checksums verified."""
    folder = official_dir(root)
    missing = [name for name in SHA256 if not (folder / name).is_file()]
    if missing:
        _download(folder, missing)
    for name, expected in SHA256.items():
        paths.verify_sha256(
            folder / name,
            expected,
            f"This is not the official E2E release file: delete it to have it downloaded again from {URL}, "
            f"or replace it with the release's {name}.",
        )
    return {split: folder / name for split, name in FILES.items()}


def _download(folder: Path, names: list[str]) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=folder, prefix=".download-") as tmp:
        zip_path = Path(tmp) / "e2e-dataset.zip"
        try:
            paths.fetch(URL, zip_path, sha256=None)  # the zip has no published hash; the CSVs do
        except (DataError, OSError) as exc:
            cause = exc.__cause__ or exc  # the network error itself, not fetch's temp-file path
            raise DataError(
                f"E2E data not found: expected {', '.join(str(folder / n) for n in names)}, and downloading "
                f"{URL} failed ({cause}). Download and unzip that release into {folder}, or "
                f"`export {paths.ENV_VAR}=/path/to/data` (or pass data_dir) so that e2e/official/ under it "
                f"holds {', '.join(SHA256)}."
            ) from exc
        with zipfile.ZipFile(zip_path) as archive:
            members = {Path(m).name: m for m in archive.namelist() if Path(m).name in names}
            for name in names:
                if name not in members:
                    raise DataError(f"{URL} has no {name}; put the official {name} into {folder} by hand.")
                extracted = Path(archive.extract(members[name], tmp))
                paths.verify_sha256(
                    extracted,
                    SHA256[name],
                    f"The release at {URL} changed; put the v1.0.0 {name} into {folder} by hand.",
                    label=f"{name} in {URL}",
                )
                extracted.replace(folder / name)


def read_pairs(path: Path) -> list[Pair]:
    """The (MR, reference) rows of an official CSV, in file order."""
    # utf-8-sig: tolerate a BOM, as measure_scores does; newline="" lets csv handle quoted line breaks.
    with open(path, encoding="utf-8-sig", newline="") as f:
        rows = list(csv.reader(f))
    if not rows or [h.strip().lower() for h in rows[0]] != ["mr", "ref"]:
        raise DataError(f"{path} does not start with the header `mr,ref`; use the official release file.")
    return [Pair(i, mr, ref) for i, (mr, ref) in enumerate(rows[1:])]


def group_by_mr(pairs: list[Pair]) -> dict[str, list[Pair]]:
    """Pairs grouped per identical MR, groups in first-appearance order (dicts keep insertion order)."""
    groups: dict[str, list[Pair]] = {}
    for pair in pairs:
        groups.setdefault(pair.mr, []).append(pair)
    return groups


# --- params -----------------------------------------------------------------------------


def normalize_params(params: dict | None) -> dict:
    """Validated params with defaults filled in; ConfigError naming any bad key or value."""
    params = dict(params or {})
    unknown = sorted(set(params) - set(PARAMS))
    if unknown:
        raise ConfigError(f"unknown E2E data parameter(s) {unknown}; allowed: {list(PARAMS)}.")
    p = {key: params.get(key) for key in PARAMS}
    p["split"] = p["split"] or "full"
    p["subsample_seed"] = 0 if p["subsample_seed"] is None else p["subsample_seed"]
    if p["split"] not in SPLITS:
        raise ConfigError(f"unknown E2E split {p['split']!r}; known splits: {list(SPLITS)}.")
    for key in ("size", "train_rows", "dev_rows", "test_mrs"):
        if p[key] is not None and not _positive_int(p[key]):
            raise ConfigError(f"E2E parameter {key} must be a positive integer, got {p[key]!r}.")
    if not _positive_int(p["subsample_seed"]) and p["subsample_seed"] != 0:
        raise ConfigError(f"E2E subsample_seed must be an integer >= 0, got {p['subsample_seed']!r}.")
    if (p["split"] == "lowdata") != (p["size"] is not None):
        raise ConfigError(
            f"E2E `size` goes with split 'lowdata' and only with it (got split={p['split']!r}, "
            f"size={p['size']!r}); the paper's sizes are {list(PAPER_LOWDATA_SIZES)}."
        )
    if (p["split"] == "fraction") != (p["fraction"] is not None):
        raise ConfigError(
            f"E2E `fraction` goes with split 'fraction' and only with it (got split={p['split']!r}, "
            f"fraction={p['fraction']!r}); the paper's fractions are {list(PAPER_FRACTIONS)}."
        )
    fraction = p["fraction"]
    if fraction is not None and not (isinstance(fraction, (int, float)) and 0 < fraction < 1):
        raise ConfigError(f"E2E fraction must be a number in (0, 1), got {p['fraction']!r}.")
    return p


def _positive_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value > 0


def variant_name(params: dict | None) -> str:
    """Folder name of a data variant: "full", "lowdata-100-s0", "fraction-0.2-s0", "full-tr200-te50"."""
    p = normalize_params(params)
    seed = p["subsample_seed"]
    if p["split"] == "lowdata":
        name = f"lowdata-{p['size']}-s{seed}"
    elif p["split"] == "fraction":
        name = f"fraction-{p['fraction']:g}-s{seed}"
    else:
        name = "full"
    for key, tag in (("train_rows", "tr"), ("dev_rows", "dv"), ("test_mrs", "te")):
        if p[key] is not None:
            name += f"-{tag}{p[key]}"
    # On `full` the seed only matters through train_rows/dev_rows; 0 is left implicit there.
    if p["split"] == "full" and seed != 0 and (p["train_rows"] or p["dev_rows"]):
        name += f"-s{seed}"
    return name


# --- selection --------------------------------------------------------------------------


def select(params: dict, n_train: int, n_dev: int, n_test_mrs: int) -> tuple[list[int], list[int], int]:
    """Train row indices, dev row indices and the number of test MRs for normalised `params`.

    Low-data and fraction samples are of training examples (rows), as in the paper, each drawn
    independently per (split, size/fraction, seed); train_rows/dev_rows then take a seeded
    sample of those rows. All index lists are sorted (file order).
    """
    seed, split = params["subsample_seed"], params["split"]
    train, dev = list(range(n_train)), list(range(n_dev))
    if split == "lowdata":
        size = params["size"]
        n_dev_rows = max(1, round(LOWDATA_DEV_RATIO * size))
        train = sample_indices(train, size, seed=seed, purpose=f"e2e/lowdata-{size}/train")
        dev = sample_indices(dev, n_dev_rows, seed=seed, purpose=f"e2e/lowdata-{size}/dev")
    elif split == "fraction":
        fraction = params["fraction"]
        n_train_rows = max(1, round(fraction * n_train))
        train = sample_indices(train, n_train_rows, seed=seed, purpose=f"e2e/fraction-{fraction:g}/train")
    if params["train_rows"]:
        train = sample_indices(train, params["train_rows"], seed=seed, purpose="e2e/train_rows")
    if params["dev_rows"]:
        dev = sample_indices(dev, params["dev_rows"], seed=seed, purpose="e2e/dev_rows")
    test_mrs = params["test_mrs"] or n_test_mrs
    if test_mrs > n_test_mrs:
        raise ConfigError(f"E2E test_mrs={test_mrs} but the test set has {n_test_mrs} unique MRs; lower it.")
    return train, dev, test_mrs


# --- prepare ----------------------------------------------------------------------------


def prepare(params: dict | None, root: Path, out_dir: Path) -> dict:
    """Write train/dev/dev_grouped/test JSONL and manifest.json for one variant into `out_dir`."""
    p = normalize_params(params)
    files = ensure_official_files(root)
    train_pairs, dev_pairs, test_pairs = (read_pairs(files[s]) for s in ("train", "dev", "test"))
    dev_mr_ids = {mr: k for k, mr in enumerate(group_by_mr(dev_pairs))}
    test_groups = list(group_by_mr(test_pairs).items())
    train_idx, dev_idx, n_test = select(p, len(train_pairs), len(dev_pairs), len(test_groups))

    dev_selected = [dev_pairs[i] for i in dev_idx]
    dev_groups = group_by_mr(dev_selected).items()
    outputs = {
        "train.jsonl": [_pair_row("train", train_pairs[i]) for i in train_idx],
        "dev.jsonl": [_pair_row("dev", pair) for pair in dev_selected],
        # ids of MRs and test groups index the full file's MRs, so they are stable across variants.
        "dev_grouped.jsonl": [_group_row(f"dev-mr{dev_mr_ids[mr]}", mr, g) for mr, g in dev_groups],
        "test.jsonl": [_group_row(f"test-{k}", mr, g) for k, (mr, g) in enumerate(test_groups[:n_test])],
    }
    pairs_by_split = {"train": train_pairs, "dev": dev_pairs, "test": test_pairs}
    manifest = {
        "dataset": NAME,
        "split": variant_name(p),
        "params": p,
        "format_version": FORMAT_VERSION,
        "source_url": URL,
        "inputs": {
            # Checksums were verified by ensure_official_files: no need to hash again.
            path.name: {"path": str(path), "sha256": SHA256[path.name], "rows": len(pairs_by_split[split])}
            for split, path in files.items()
        },
        "selection": {
            "train": selection_record(FILES["train"], train_idx, len(train_pairs)),
            "dev": selection_record(FILES["dev"], dev_idx, len(dev_pairs)),
            "test": {"source": FILES["test"], "total_mrs": len(test_groups), "first_mrs": n_test},
        },
    }
    return write_prepared(out_dir, outputs, manifest)


def _pair_row(split: str, pair: Pair) -> dict:
    return {"id": f"{split}-{pair.index}", "source": linearize(pair.mr), "target": clean_ref(pair.ref)}


def _group_row(row_id: str, mr: str, group: list[Pair]) -> dict:
    return {"id": row_id, "source": linearize(mr), "references": [clean_ref(p.ref) for p in group]}


def describe() -> dict:
    """What this loader needs and offers (for `python -m harness datasets`)."""
    return {
        "name": NAME,
        "files": {
            name: {"sha256": SHA256[name], "rows": rows, "unique_mrs": mrs}
            for name, (rows, mrs) in SIZES.items()
        },
        "expected_under": f"<data_root>/{NAME}/official/",
        "download_url": URL,
        "licence": "CC BY-SA 4.0",
        "splits": list(SPLITS),
        "params": list(PARAMS),
        "paper_lowdata_sizes": list(PAPER_LOWDATA_SIZES),
        "paper_fractions": list(PAPER_FRACTIONS),
        "outputs": ["train.jsonl", "dev.jsonl", "dev_grouped.jsonl", "test.jsonl", "manifest.json"],
    }
