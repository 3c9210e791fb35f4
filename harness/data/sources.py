"""Reading a dataset from its official release files or from the Hugging Face hub.

Shared by the loaders that take both routes (superglue, mrqa, glue):

- `official_file` finds one release file under the data root and checks it: against the sha256
  of the file we hold where there is one, against the MD5 its authors published where they did
  (MRQA), and otherwise only records its sha256 in the manifest so two labs can compare.
- `hub_rows` loads one split of a hub dataset with the `datasets` library, imported only
  when asked for (it is an optional extra).
- `Knobs` are the quick-grid parameters every such loader takes (train_rows, dev_rows,
  test_examples, subsample_seed) and the source (files or hub).
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from harness.data import paths
from harness.data.splits import sample_indices
from harness.errors import ConfigError, DataError
from harness.io import sha256_file

SOURCES = ("files", "hub")
KNOBS = ("source", "hub_id", "train_rows", "dev_rows", "test_examples", "subsample_seed")


@dataclass(frozen=True)
class ReleaseFile:
    """One official file: where it sits under the data root and what it must hash to (if known)."""

    relpath: str  # e.g. "superglue/CB/val.jsonl"
    sha256: str | None = None  # of the release file we hold
    md5: str | None = None  # published by the dataset's authors


def official_file(root: Path, spec: ReleaseFile, *, what: str, how_to_get: str, hub_id: str) -> tuple[Path, dict]:
    """(path, manifest record) of a release file; DataError naming the file, its place and the fix.

    `what` names the file for a person ("SuperGLUE CB validation"), `how_to_get` says where the
    release is downloaded from and how to unpack it.
    """
    path = root / spec.relpath
    if not path.is_file():
        raise DataError(
            f"{what} not found: expected {path}. {how_to_get} Or point {paths.ENV_VAR} (or the config's "
            f"data_dir) at a folder holding {spec.relpath}, or set `source: hub` to load {hub_id} from the "
            "Hugging Face hub."
        )
    fix = f"This is not the official {what} file: replace {path} with the release file. {how_to_get}"
    if spec.sha256 is not None:
        paths.verify_sha256(path, spec.sha256, fix)
        return path, {"path": str(path), "sha256": spec.sha256, "checked": "sha256"}
    if spec.md5 is not None:
        actual = md5_file(path)
        if actual != spec.md5:
            raise DataError(f"checksum mismatch for {path}: expected the published MD5 {spec.md5}, got {actual}. {fix}")
        return path, {"path": str(path), "md5": spec.md5, "checked": "md5 (published)"}
    # No published checksum, and not a file this project holds: record what was read.
    return path, {"path": str(path), "sha256": sha256_file(path), "checked": "none (no published checksum)"}


def md5_file(path: Path, chunk_size: int = 1 << 20) -> str:
    digest = hashlib.md5(usedforsecurity=False)
    with open(path, "rb") as f:
        while chunk := f.read(chunk_size):
            digest.update(chunk)
    return digest.hexdigest()


def hub_rows(
    hub_id: str,
    split: str,
    *,
    data_dir: str | None = None,
    revision: str | None = None,
    where: tuple[str, str] | None = None,
) -> tuple[list[dict], dict]:
    """(rows, manifest record) of one split of a hub dataset; `where=(column, value)` keeps matching rows.

    A local folder in the hub's layout is read the same way (its revision is ignored), which is
    how the tests exercise this path without a network.
    """
    try:
        import datasets
    except ImportError:
        raise DataError(
            "`source: hub` needs the Hugging Face `datasets` library, which is not installed: "
            "`pip install datasets` (or the project's `hub` extra), or use the official files "
            "(`source: files`)."
        ) from None
    local = Path(hub_id).expanduser().is_dir()
    kwargs = {"data_dir": data_dir} if data_dir else {}
    if revision and not local:
        kwargs["revision"] = revision
    try:
        table = datasets.load_dataset(hub_id, split=split, **kwargs)
        if where is not None:
            column, value = where
            table = table.filter(lambda v: v == value, input_columns=column)
    except Exception as exc:  # the library raises many types (network, missing config, bad files)
        raise DataError(
            f"could not load split {split!r} of {hub_id}{f' ({data_dir})' if data_dir else ''} from the Hugging "
            f"Face hub: {exc}. Check the name and the network (or HF_HUB_OFFLINE and the cache), or use the "
            "official files (`source: files`)."
        ) from exc
    record = {
        "hub_id": hub_id,
        "data_dir": data_dir,
        "revision": None if local else revision,
        "split": split,
        "rows": table.num_rows,
        "fingerprint": table._fingerprint,  # datasets' hash of the loaded table
    }
    if where is not None:
        record["where"] = {where[0]: where[1]}
    return [dict(row) for row in table], record


# --- quick-grid knobs -------------------------------------------------------------------


@dataclass(frozen=True)
class Knobs:
    """The parameters shared by the hub-or-files loaders, validated."""

    source: str = "files"
    hub_id: str | None = None  # None: the loader's default hub dataset
    train_rows: int | None = None  # seeded sample of train.jsonl rows
    dev_rows: int | None = None  # seeded sample of dev.jsonl rows
    test_examples: int | None = None  # the first N evaluation examples (file order)
    subsample_seed: int = 0

    @classmethod
    def from_params(cls, dataset: str, params: dict) -> Knobs:
        knobs = cls(**{k: params[k] for k in KNOBS if params.get(k) is not None})
        if knobs.source not in SOURCES:
            raise ConfigError(f"{dataset} source must be one of {list(SOURCES)}, got {knobs.source!r}.")
        if knobs.hub_id is not None and not (isinstance(knobs.hub_id, str) and knobs.hub_id):
            raise ConfigError(f"{dataset} hub_id must be a hub dataset name or a local folder, got {knobs.hub_id!r}.")
        for key in ("train_rows", "dev_rows", "test_examples"):
            value = getattr(knobs, key)
            if value is not None and not _positive_int(value):
                raise ConfigError(f"{dataset} parameter {key} must be a positive integer, got {value!r}.")
        seed = knobs.subsample_seed
        if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
            raise ConfigError(f"{dataset} subsample_seed must be an integer >= 0, got {knobs.subsample_seed!r}.")
        return knobs

    def suffix(self) -> str:
        """`-tr200-dv50-te100-s3`: the knobs that change the prepared data, for the variant's name."""
        name = "".join(
            f"-{tag}{value}"
            for tag, value in (("tr", self.train_rows), ("dv", self.dev_rows), ("te", self.test_examples))
            if value is not None
        )
        # The seed only matters through train_rows/dev_rows; 0 is left implicit.
        if self.subsample_seed and (self.train_rows or self.dev_rows):
            name += f"-s{self.subsample_seed}"
        return name

    def sample(self, part: str, n_rows: int, purpose: str) -> list[int]:
        """Row indices kept of `part` ("train" or "dev"): all, or a seeded sample of `{part}_rows`."""
        k = self.train_rows if part == "train" else self.dev_rows
        if k is None:
            return list(range(n_rows))
        return sample_indices(range(n_rows), k, seed=self.subsample_seed, purpose=f"{purpose}/{part}_rows")

    def first_examples(self, n_examples: int, what: str) -> int:
        """How many evaluation examples to keep (from the start): `test_examples`, or all."""
        if self.test_examples is None:
            return n_examples
        if self.test_examples > n_examples:
            raise ConfigError(f"test_examples={self.test_examples} but {what} has {n_examples}; lower it.")
        return self.test_examples


def _positive_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value > 0


def check_params(dataset: str, params: dict | None, allowed: Iterable[str]) -> dict:
    """`params` as a dict; ConfigError naming any key outside `allowed`."""
    params = dict(params or {})
    allowed = list(allowed)
    unknown = sorted(set(params) - set(allowed))
    if unknown:
        raise ConfigError(f"unknown {dataset} data parameter(s) {unknown}; allowed: {allowed}.")
    return params


def one_of(dataset: str, key: str, value: object, known: Iterable[str], hint: str = "") -> str:
    """`value` if it is one of `known`; ConfigError listing them otherwise."""
    known = list(known)
    if value not in known:
        raise ConfigError(f"unknown {dataset} {key} {value!r}; known: {known}.{f' {hint}' if hint else ''}")
    return value  # type: ignore[return-value]
