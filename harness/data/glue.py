"""GLUE MRPC and QQP as T5 text-to-text without the task name, and Lester et al.'s zero-shot transfer.

Read from the official GLUE TSVs (`<root>/glue/MRPC/{train,dev}.tsv`, `<root>/glue/QQP/{train,dev}.tsv`)
or from the hub (`nyu-mll/glue`). The TSVs are read as TFDS/HF `glue` do: tab-separated with
QUOTE_NONE (MRPC has unbalanced quotes) after a UTF-8 BOM; rows with a missing field are
skipped and counted, as HF's builder filters them. Strings are t5 `preprocessors.glue` with the
benchmark name dropped (prompt-tuning's `taskless_glue_*`):

- mrpc  `sentence1: <s1> sentence2: <s2>` -> not_equivalent | equivalent
- qqp   `question1: <q1> question2: <q2>` -> not_duplicate | duplicate

Variants: "mrpc", "qqp" (train, dev and test on one task) and the transfer pairs of Lester et
al. Table 2, "qqp-to-mrpc" and "mrpc-to-qqp" (prompt-tuning's data/glue_transfer.py): train
and dev on the first task, test on the second's validation set in its own input format. The
model answers in the training task's words, so test.jsonl `references` are in those words (T5
translates predictions with `qqp_to_mrpc`/`mrpc_to_qqp`: the same pairing) while `label` keeps
the test set's own word; manifest["task"]["label_map"] maps one to the other.

test.jsonl is the validation set of the test task (GLUE's test labels are hidden; the paper
reports validation), rows `{"id", "source", "references": [word], "label", "meta": {"idx"}}`.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from pathlib import Path

from harness.data.output import write_prepared
from harness.data.sources import KNOBS, Knobs, ReleaseFile, check_params, hub_rows, official_file, one_of
from harness.data.splits import selection_record
from harness.data.t5 import feature_inputs
from harness.errors import DataError

NAME = "glue"
FORMAT_VERSION = 1
HUB_ID = "nyu-mll/glue"
SPLITS = {"train": "train", "dev": "validation"}  # official file stem -> hub split


@dataclass(frozen=True)
class Task:
    folder: str
    header: tuple[str, ...]  # the TSV's header line
    columns: tuple[tuple[str, str], ...]  # (T5 feature name, TSV column), in T5's order
    label_column: str
    labels: tuple[str, ...]  # TFDS class order: index 1 is F1's positive class
    sha256: dict[str, str | None]  # file -> sha256 of the release file we hold (None: not held)
    sizes: dict[str, int]
    how_to_get: str  # {dest}: the folder the task's folder goes into


TASKS = {
    "mrpc": Task(
        "MRPC",
        ("Quality", "#1 ID", "#2 ID", "#1 String", "#2 String"),
        (("sentence1", "#1 String"), ("sentence2", "#2 String")),
        "Quality",
        ("not_equivalent", "equivalent"),
        {
            "train.tsv": "122becc469405bc16f9defcb8715d2a4b7ce600e9d9381e6dc42bfdd1494c51d",
            "dev.tsv": "81c8a1a9e1dfe461dd2c1a4f98f43fe18bece44d2bf9e3d0b245b88e5aa5eaf7",
        },
        {"train": 3668, "dev": 408},
        "Run GLUE's download_glue_data.py --tasks MRPC (it splits the Microsoft release's "
        "msr_paraphrase_train.txt by dev_ids.tsv) and put MRPC/ into {dest}.",
    ),
    "qqp": Task(
        "QQP",
        ("id", "qid1", "qid2", "question1", "question2", "is_duplicate"),
        (("question1", "question1"), ("question2", "question2")),
        "is_duplicate",
        ("not_duplicate", "duplicate"),
        {"train.tsv": None, "dev.tsv": None},
        {"train": 363846, "dev": 40430},
        "Download https://dl.fbaipublicfiles.com/glue/data/QQP-clean.zip and unzip it into {dest}.",
    ),
}
PARAMS = ("task", "eval_task", *KNOBS)


@dataclass(frozen=True)
class Pair:
    idx: int  # data row number in the file (HF's `idx`)
    features: tuple[tuple[str, str], ...]
    label: str


# --- reading ----------------------------------------------------------------------------


def read_tsv(task: str, path: Path) -> tuple[list[Pair], int]:
    """(labelled pairs in file order, number of rows skipped for a missing field) of an official TSV."""
    spec = TASKS[task]
    with open(path, encoding="utf-8-sig", newline="") as f:
        rows = list(csv.reader(f, delimiter="\t", quoting=csv.QUOTE_NONE))
    if not rows or tuple(rows[0]) != spec.header:
        raise DataError(
            f"{path} does not start with GLUE {spec.folder}'s header {list(spec.header)} (got "
            f"{rows[0] if rows else 'an empty file'}); use the official GLUE file."
        )
    column = {name: i for i, name in enumerate(rows[0])}
    pairs, skipped = [], 0
    for n, row in enumerate(rows[1:]):
        if len(row) != len(spec.header):
            skipped += 1
            continue
        label = row[column[spec.label_column]]
        if label not in ("0", "1"):
            raise DataError(f"{path} data row {n}: label {label!r} is not 0 or 1; is this the unlabelled test file?")
        features = tuple((feature, row[column[col]]) for feature, col in spec.columns)
        pairs.append(Pair(n, features, spec.labels[int(label)]))
    return pairs, skipped


def from_hub(task: str, rows: list[dict]) -> list[Pair]:
    spec = TASKS[task]
    return [
        Pair(row["idx"], tuple((feature, row[feature]) for feature, _ in spec.columns), spec.labels[row["label"]])
        for row in rows
        if row["label"] >= 0
    ]


def load_pairs(task: str, split: str, root: Path, knobs: Knobs) -> tuple[list[Pair], dict]:
    """The labelled pairs of one split ("train" or "dev") and the manifest record of their origin."""
    if knobs.source == "hub":
        rows, record = hub_rows(knobs.hub_id or HUB_ID, SPLITS[split], data_dir=task)
        return from_hub(task, rows), record
    spec = TASKS[task]
    name = f"{split}.tsv"
    path, record = official_file(
        root,
        ReleaseFile(f"{NAME}/{spec.folder}/{name}", sha256=spec.sha256[name]),
        what=f"GLUE {spec.folder} {split}",
        how_to_get=spec.how_to_get.format(dest=root / NAME),
        hub_id=HUB_ID,
    )
    pairs, skipped = read_tsv(task, path)
    return pairs, {**record, "pairs": len(pairs), "skipped_rows": skipped}


# --- params and prepare -----------------------------------------------------------------


def normalize_params(params: dict | None) -> tuple[str, str, Knobs]:
    params = check_params(NAME, params, PARAMS)
    task = one_of(NAME, "task", params.get("task"), TASKS, "Name the training task with `task:`.")
    eval_task = one_of(NAME, "eval_task", params.get("eval_task") or task, TASKS)
    return task, eval_task, Knobs.from_params(NAME, params)


def _variant(task: str, eval_task: str, knobs: Knobs) -> str:
    return (task if eval_task == task else f"{task}-to-{eval_task}") + knobs.suffix()


def variant_name(params: dict | None) -> str:
    """Folder name of a data variant: "mrpc", "qqp-to-mrpc", "qqp-tr1000-te100"."""
    return _variant(*normalize_params(params))


def _pair_row(split: str, pair: Pair) -> dict:
    return {
        "id": f"{split}-{pair.idx}",
        "source": feature_inputs(pair.features),
        "target": pair.label,
        "label": pair.label,
        "meta": {"idx": pair.idx},
    }


def prepare(params: dict | None, root: Path, out_dir: Path) -> dict:
    """Write train/dev/test JSONL and manifest.json of one variant into `out_dir`."""
    task, eval_task, knobs = normalize_params(params)
    train, train_input = load_pairs(task, "train", root, knobs)
    dev, dev_input = load_pairs(task, "dev", root, knobs)
    inputs = {f"{task}/train": train_input, f"{task}/dev": dev_input}
    if eval_task == task:
        test = dev
    else:
        test, inputs[f"{eval_task}/dev"] = load_pairs(eval_task, "dev", root, knobs)

    # The test task's label i is the training task's label i (0: not a paraphrase, 1: paraphrase).
    label_map = dict(zip(TASKS[task].labels, TASKS[eval_task].labels, strict=True))
    to_train_words = {v: k for k, v in label_map.items()}
    purpose = f"{NAME}/{task}"
    train_idx = knobs.sample("train", len(train), purpose)
    dev_idx = knobs.sample("dev", len(dev), purpose)
    n_test = knobs.first_examples(len(test), f"the {eval_task} validation set")
    outputs = {
        "train.jsonl": [_pair_row("train", train[i]) for i in train_idx],
        "dev.jsonl": [_pair_row("dev", dev[i]) for i in dev_idx],
        "test.jsonl": [
            {
                "id": f"dev-{pair.idx}",
                "source": feature_inputs(pair.features),
                "references": [to_train_words[pair.label]],
                "label": pair.label,
                "meta": {"idx": pair.idx},
            }
            for pair in test[:n_test]
        ],
    }
    manifest = {
        "dataset": NAME,
        "split": _variant(task, eval_task, knobs),
        "params": {"task": task, "eval_task": eval_task, **vars(knobs)},
        "format_version": FORMAT_VERSION,
        "source": knobs.source,
        "inputs": inputs,
        "selection": {
            "train": selection_record(f"{task}/train", train_idx, len(train)),
            "dev": selection_record(f"{task}/dev", dev_idx, len(dev)),
            "test": {"source": f"{eval_task}/dev", "total_examples": len(test), "first_examples": n_test},
        },
        "task": {
            "name": task,
            "eval_task": eval_task,
            "labels": list(TASKS[task].labels),
            "positive_label": TASKS[task].labels[1],
            "label_map": label_map,
            "metrics": ["f1", "accuracy"],  # T5's GLUE_METRICS for both (f1_score_with_invalid)
        },
    }
    return write_prepared(out_dir, outputs, manifest)


def describe() -> dict:
    """What this loader needs and offers (for `python -m harness datasets`)."""
    return {
        "name": NAME,
        "splits": [*TASKS, "qqp-to-mrpc", "mrpc-to-qqp"],
        "params": list(PARAMS),
        "expected_under": f"<data_root>/{NAME}/{{MRPC,QQP}}/{{train,dev}}.tsv",
        "files": {
            f"{spec.folder}/{name}": {"sha256": sha, "pairs": spec.sizes[name.removesuffix(".tsv")]}
            for spec in TASKS.values()
            for name, sha in spec.sha256.items()
        },
        "hub": HUB_ID,
        "test_set": "the validation set of the test task (GLUE test labels are hidden)",
        "outputs": ["train.jsonl", "dev.jsonl", "test.jsonl", "manifest.json"],
    }
