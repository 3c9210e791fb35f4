"""SuperGLUE v2 (Wang et al. 2019) as T5 text-to-text, without the task name (Lester et al. 2021).

Read from the official JSONL files (`<root>/superglue/<Task>/{train,val}.jsonl`, as in the
release zips) or from the hub (`aps/super_glue`). Both are first flattened to the examples of
TFDS `super_glue` 1.0.2 (tensorflow_datasets/text/super_glue.py: MultiRC one example per answer,
ReCoRD entities and answers as sorted unique strings, WSC spans repaired as `wsc.fixed`), which
is what T5's preprocessors read. Inputs are then T5's with the first word dropped (see t5.py):

- boolq   `passage: <p> question: <q>` -> False | True (preprocessors.glue: features sorted by name)
- cb      `hypothesis: <h> premise: <p>` -> entailment | contradiction | neutral (glue)
- copa    `choice1: <c1> choice2: <c2> premise: <p> question: cause|effect` -> choice1 | choice2 (glue)
- multirc `question: <q> answer: <a> paragraph: <p>` -> False | True (glue with these fields in this
          order; `<br>` becomes a space and `<b>`, `</b>` go); one row per candidate answer
- record  `query: <q> entities: <e1>, <e2>, ... passage: <p>` -> a gold answer (preprocessors.record:
          each `\n@highlight\n` becomes ". ", or " " after . ? ! " '); one training row per answer
- rte     `hypothesis: <h> premise: <p>` -> entailment | not_entailment (glue)
- wic     `sentence1: <s1> sentence2: <s2> word: <w>` -> False | True (glue, these fields only)
- wsc     `<text with the pronoun marked *it*>` -> the referent's text (preprocessors.wsc_simple)

WSC is generation (T5's `wsc_simple`, prompt-tuning's `taskless_super_glue_wsc_v102_simple_*`):
train.jsonl and dev.jsonl hold only the examples whose candidate IS the referent (259 of 554 in
training); test.jsonl holds every validation example with the candidate as reference and the
True/False label, and a prediction counts as "True" when it names the candidate (T5's
postprocessors.wsc_simple), which is then compared with the label.

Outputs (docs/contracts.md): train.jsonl and dev.jsonl, one row per (source, target) pair:
`{"id", "source", "target", "label"?, "meta": {"idx": ...}}` (`label` for every task but ReCoRD).
test.jsonl is the official validation set, which Lester et al. report (SuperGLUE's test labels
are hidden; the paper also early-stops on it, so dev.jsonl is the same set as pairs):
`{"id", "source", "references": [...], "label"?, "group"?, "meta"}`, where references are the
gold label word (classification), the candidate referent (WSC) or every gold answer (ReCoRD),
and MultiRC rows, one per answer, carry `group` (one per question) for exact match.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path

from harness.data.output import write_prepared
from harness.data.sources import KNOBS, Knobs, ReleaseFile, check_params, hub_rows, official_file, one_of
from harness.data.splits import selection_record
from harness.data.t5 import feature_inputs
from harness.errors import DataError

NAME = "superglue"
FORMAT_VERSION = 1
RELEASE_URL = "https://dl.fbaipublicfiles.com/glue/superglue/data/v2/{folder}.zip"
HUB_ID = "aps/super_glue"
# The hub's parquet export: the main branch only holds a loading script, which `datasets` >= 4
# no longer runs.
HUB_REVISION = "refs/convert/parquet"
SPLITS = {"train": "train", "val": "validation"}  # official file stem -> hub split


@dataclass(frozen=True)
class Task:
    folder: str  # release zip / folder name
    hub_config: str
    labels: tuple[str, ...]  # target words in TFDS class order (a hub label is an index into them)
    features: tuple[str, ...]  # T5's input fields, in T5's order (empty: a special preprocessor)
    metrics: tuple[str, ...]  # T5's SUPERGLUE_METRICS (t5/data/glue_utils.py)
    sha256: dict[str, str | None]  # release file -> sha256 of the file we hold (None: not held)
    sizes: dict[str, int]  # official examples per split, as counted by `size_unit`
    size_unit: str = "examples"


TASKS = {
    "boolq": Task(
        "BoolQ", "boolq", ("False", "True"), ("passage", "question"), ("accuracy",),
        {"train.jsonl": None, "val.jsonl": "0c86a5045886e5795fe9052003873f7d94b88ed3028a33007c51d99e44fd66d9"},
        {"train": 9427, "val": 3270},
    ),
    "cb": Task(
        "CB", "cb", ("entailment", "contradiction", "neutral"), ("hypothesis", "premise"),
        ("mean_multiclass_f1", "accuracy"),
        {"train.jsonl": "32017480d3a10508646e3efd64502c639f13d4d15077f278d2fd0992c33a3126",
         "val.jsonl": "c6125587e9601560cb16ea223c33964c5a915568d2af68a81f651b6ef25395ec"},
        {"train": 250, "val": 56},
    ),
    "copa": Task(
        "COPA", "copa", ("choice1", "choice2"), ("choice1", "choice2", "premise", "question"), ("accuracy",),
        {"train.jsonl": "e74ed25f36119fff954d90900ebbaae277e2cc4864be4b961e7a46c8f67d11a9",
         "val.jsonl": "fa61467cc251010178ed72f8ca82a0fceefc4ca9a85f87ec3b6102955e1a1f1a"},
        {"train": 400, "val": 100},
    ),
    "multirc": Task(
        "MultiRC", "multirc", ("False", "True"), ("question", "answer", "paragraph"),
        ("multirc_f1_over_all_answers", "exact_match_per_question"),
        {"train.jsonl": "bb73d0838618f8269190a2533fead3140607558975ea0df6511fa534e8d3535c",
         "val.jsonl": "d2b480195b15574ac00d52c4479f630bc161a7ab2de77e970fd00652846953ee"},
        {"train": 27243, "val": 4848}, "answer rows",
    ),
    "record": Task(
        "ReCoRD", "record", (), (), ("squad_em_f1_max_over_answers",),
        {"train.jsonl": None, "val.jsonl": None},
        {"train": 100730, "val": 10000}, "queries",
    ),
    "rte": Task(
        "RTE", "rte", ("entailment", "not_entailment"), ("hypothesis", "premise"), ("accuracy",),
        {"train.jsonl": "fdfb03443abe3ec0424b7fc5d1a8863361719bc061338b7a63e56b94d615f201",
         "val.jsonl": "ab990507bf5f35dc176cba7770a72bfa2c50a88ed72b8cc95cfbf9db95ab1af1"},
        {"train": 2490, "val": 277},
    ),
    "wic": Task(
        "WiC", "wic", ("False", "True"), ("sentence1", "sentence2", "word"), ("accuracy",),
        {"train.jsonl": "ce301970aaf361ade6c1d218fe15c50b185b14a4bcb618c5785a8484a46f9943",
         "val.jsonl": "9f7207c88beba42cbc139de4c62ce05b23bffc189b3d561594b160e0c3920c0b"},
        {"train": 5428, "val": 638},
    ),
    "wsc": Task(
        "WSC", "wsc.fixed", ("False", "True"), (), ("accuracy_of_wsc_simple",),
        {"train.jsonl": "0ffaa3fd8d21e58a0805962565d1619aa4819bc3d034255777f606f801ae5a42",
         "val.jsonl": "e5c685ea4bdc347354036a28176459f6feeb0b6870375ecfb3d6ddb1f0e28bef"},
        {"train": 554, "val": 104},
    ),
}  # fmt: skip
PARAMS = ("task", *KNOBS)


# --- official files -> TFDS examples ----------------------------------------------------


def read_jsonl_file(path: Path) -> list[dict]:
    """The JSON objects of a JSONL file; DataError naming the line that is not JSON."""
    rows = []
    with open(path, encoding="utf-8") as f:
        for number, line in enumerate(f, 1):
            if line.strip():
                try:
                    rows.append(json.loads(line))
                except json.JSONDecodeError as exc:
                    raise DataError(f"{path}:{number} is not JSON ({exc}); use the official release file.") from exc
    return rows


def flatten(task: str, rows: list[dict], source: str) -> list[dict]:
    """Official JSONL rows of `task` as TFDS `super_glue` examples (`_generate_examples`)."""
    try:
        if task == "multirc":
            return [
                {
                    "paragraph": row["passage"]["text"],
                    "question": question["question"],
                    "answer": answer["text"],
                    "label": _label(task, answer.get("label")),
                    "idx": {"paragraph": row["idx"], "question": question["idx"], "answer": answer["idx"]},
                }
                for row in rows
                for question in row["passage"]["questions"]
                for answer in question["answers"]
            ]
        if task == "record":
            return [
                {
                    "passage": row["passage"]["text"],
                    "query": qa["query"],
                    "entities": sorted(
                        {row["passage"]["text"][e["start"] : e["end"] + 1] for e in row["passage"]["entities"]}
                    ),
                    "answers": sorted({a["text"] for a in qa.get("answers", [])}),
                    "idx": {"passage": row["idx"], "query": qa["idx"]},
                }
                for row in rows
                for qa in row["qas"]
            ]
        examples = []
        for row in rows:
            example = {**row, **row["target"]} if task == "wsc" else dict(row)
            example["label"] = _label(task, row.get("label"))
            examples.append(fix_wsc(example) if task == "wsc" else example)
        return examples
    except (KeyError, TypeError) as exc:
        raise DataError(
            f"{source} is not in the official SuperGLUE {TASKS[task].folder} format (missing {exc}); "
            "use the release file."
        ) from exc


def _label(task: str, label: object) -> str | None:
    """TFDS's label string: COPA's 0/1 -> choice1/choice2, booleans -> False/True, strings kept."""
    if label is None:
        return None
    if task == "copa":
        return TASKS[task].labels[int(label)]
    if isinstance(label, (bool, int)):  # MultiRC answers are 0/1, the other binary tasks true/false
        return str(bool(label))
    return str(label)


def from_hub(task: str, rows: list[dict]) -> list[dict]:
    """Hub rows (TFDS's schema, labels as class indices, -1 unlabelled) with label strings."""
    labels = TASKS[task].labels
    examples = []
    for row in rows:
        example = dict(row)
        if "label" in example:
            index = example["label"]
            example["label"] = labels[index] if isinstance(index, int) and index >= 0 else None
        examples.append(fix_wsc(example) if task == "wsc" else example)
    return examples


# --- WSC --------------------------------------------------------------------------------

# t5 `_wsc_inputs` special-cases two texts whose pronoun index does not point at the pronoun.
_PONY = (
    "The boy continued to whip the pony , and eventually the pony threw him over. John laughed out quite loud. "
    '"Good for {}," he said.'
)
_PEBBLE = (
    "When they had eventually calmed down a bit , and had gotten home, Mr. Farley put the magic pebble in an iron "
    "safe . Some day they might want to use {} , but really for now, what more could they wish for?"
)
WSC_SPECIAL_INPUTS = {_PONY.format("him") + " ": _PONY.format("X "), _PEBBLE.format("it"): _PEBBLE.format("X")}
WSC_UNFIXABLE = ("Kamenev and Zinoviev", "Kamenev, Zinoviev, and Stalin")  # intervening text


def fix_wsc(example: dict) -> dict:
    """TFDS `_fix_wst` (`wsc.fixed`): make each span text a substring of the text.

    The first letter takes the case of the word at the span index, a final "." and line breaks
    go. (TFDS also special-cases a span "theyscold", which the v2 release does not contain.)
    """
    example = dict(example)
    for span in ("span1", "span2"):
        text, index = example[f"{span}_text"], example[f"{span}_index"]
        if text in example["text"] or text in WSC_UNFIXABLE:
            continue
        words = example["text"].split()
        if not 0 <= index < len(words):
            raise DataError(f"WSC example {example.get('idx')}: {span}_index {index} is outside its text.")
        text = (str.lower if words[index][0].islower() else str.upper)(text[0]) + text[1:]
        text = text.rstrip(".").replace("\n", " ")
        if text not in example["text"]:
            raise DataError(f"WSC example {example.get('idx')}: span {text!r} is not in its text; TFDS fails here too.")
        example[f"{span}_text"] = text
    return example


def wsc_source(example: dict) -> str:
    """t5 `wsc_simple` inputs without "wsc:": the text with the pronoun replaced by `*pronoun*`."""
    text, index, pronoun = example["text"], example["span2_index"], example["span2_text"]
    words = text.split(" ")
    if not 0 < index < len(words):  # T5 asserts this; a pronoun at either end is not handled
        raise DataError(f"WSC example {example.get('idx')}: pronoun index {index} is not inside its text.")
    if text in WSC_SPECIAL_INPUTS:
        blanked = WSC_SPECIAL_INPUTS[text]
    elif words[index] != pronoun:
        raise DataError(f"WSC example {example.get('idx')}: word {index} is {words[index]!r}, not {pronoun!r}.")
    else:
        blanked = " ".join([" ".join(words[:index]), "X", " ".join(words[index + 1 :])])
    return blanked.replace(" X ", f" *{pronoun}* ")


# --- TFDS examples -> rows --------------------------------------------------------------


def record_source(example: dict) -> str:
    """t5 `record` inputs without "record": query, comma-joined entities, passage with highlights as sentences."""
    passage = re.sub(r"(\.|\?|\!|\"|\')\n@highlight\n", r"\1 ", example["passage"])
    passage = re.sub(r"\n@highlight\n", ". ", passage)
    return f"query: {example['query']} entities: {', '.join(example['entities'])} passage: {passage}"


def source_text(task: str, example: dict) -> str:
    if task == "wsc":
        return wsc_source(example)
    if task == "record":
        return record_source(example)
    text = feature_inputs((key, example[key]) for key in TASKS[task].features)
    if task == "multirc":  # t5 `glue` removes MultiRC's HTML markup
        text = re.sub(r"<(/)?b>", "", text.replace("<br>", " "))
    return text


def example_id(task: str, split: str, idx: dict | int) -> str:
    if task == "multirc":
        return f"{split}-p{idx['paragraph']}-q{idx['question']}-a{idx['answer']}"
    if task == "record":
        return f"{split}-p{idx['passage']}-q{idx['query']}"
    return f"{split}-{idx}"


def training_rows(task: str, split: str, examples: list[dict]) -> list[dict]:
    """(source, target) rows as T5 trains on them: ReCoRD one per gold answer, WSC positives only."""
    rows = []
    for ex in examples:
        if task != "record" and ex["label"] is None:
            raise DataError(f"SuperGLUE {task} {split} example {ex['idx']} has no label: is this the test file?")
        row_id, source = example_id(task, split, ex["idx"]), source_text(task, ex)
        if task == "record":
            if not ex["answers"]:
                raise DataError(f"ReCoRD {split} query {ex['idx']} has no answers: is this the test file?")
            rows += [
                {"id": f"{row_id}-a{k}", "source": source, "target": answer, "meta": {"idx": ex["idx"]}}
                for k, answer in enumerate(ex["answers"])
            ]
        elif task == "wsc":
            if ex["label"] == "True":
                rows.append({"id": row_id, "source": source, "target": ex["span1_text"], "label": "True",
                             "meta": {"idx": ex["idx"]}})  # fmt: skip
        else:
            rows.append({"id": row_id, "source": source, "target": ex["label"], "label": ex["label"],
                         "meta": {"idx": ex["idx"]}})  # fmt: skip
    return rows


def evaluation_examples(task: str, split: str, examples: list[dict]) -> list[list[dict]]:
    """test.jsonl rows grouped per scored example (a MultiRC question holds one row per answer)."""
    groups: dict[str, list[dict]] = {}
    for ex in examples:
        row = {"id": example_id(task, split, ex["idx"]), "source": source_text(task, ex)}
        if task == "record":
            row["references"] = ex["answers"]
        elif task == "wsc":
            row |= {"references": [ex["span1_text"]], "label": ex["label"]}
        else:
            row |= {"references": [ex["label"]], "label": ex["label"]}
        key = row["id"]
        if task == "multirc":
            key = row["group"] = f"{split}-p{ex['idx']['paragraph']}-q{ex['idx']['question']}"
        row["meta"] = {"idx": ex["idx"]}
        groups.setdefault(key, []).append(row)
    return list(groups.values())


# --- params and prepare -----------------------------------------------------------------


def normalize_params(params: dict | None) -> tuple[str, Knobs]:
    params = check_params(NAME, params, PARAMS)
    task = one_of(NAME, "task", params.get("task"), TASKS, "Name the task with `task:`.")
    return task, Knobs.from_params(NAME, params)


def variant_name(params: dict | None) -> str:
    """Folder name of a data variant: "cb", "multirc-tr200-te50", "boolq-tr32-s2"."""
    task, knobs = normalize_params(params)
    return task + knobs.suffix()


def load_examples(task: str, split: str, root: Path, knobs: Knobs) -> tuple[list[dict], dict]:
    """TFDS-style examples of one official split ("train" or "val") and the manifest record of their origin."""
    spec = TASKS[task]
    if knobs.source == "hub":
        rows, record = hub_rows(knobs.hub_id or HUB_ID, SPLITS[split], data_dir=spec.hub_config, revision=HUB_REVISION)
        return _checked(task, from_hub(task, rows), record["hub_id"]), record
    name = f"{split}.jsonl"
    path, record = official_file(
        root,
        ReleaseFile(f"{NAME}/{spec.folder}/{name}", sha256=spec.sha256[name]),
        what=f"SuperGLUE {spec.folder} {split}",
        how_to_get=f"Download {RELEASE_URL.format(folder=spec.folder)} and unzip it into {root / NAME}.",
        hub_id=HUB_ID,
    )
    examples = _checked(task, flatten(task, read_jsonl_file(path), str(path)), str(path))
    return examples, {**record, "examples": len(examples)}


def _checked(task: str, examples: list[dict], source: str) -> list[dict]:
    """`examples`, after checking that every label is one of the task's (or absent)."""
    labels = TASKS[task].labels
    for ex in examples:
        if labels and ex["label"] is not None and ex["label"] not in labels:
            raise DataError(f"{source}: {task} example {ex['idx']} has label {ex['label']!r}, not one of {labels}.")
    return examples


def prepare(params: dict | None, root: Path, out_dir: Path) -> dict:
    """Write train/dev/test JSONL and manifest.json of one task into `out_dir`."""
    task, knobs = normalize_params(params)
    train_examples, train_input = load_examples(task, "train", root, knobs)
    val_examples, val_input = load_examples(task, "val", root, knobs)
    train_all = training_rows(task, "train", train_examples)
    dev_all = training_rows(task, "val", val_examples)
    test_groups = evaluation_examples(task, "val", val_examples)

    purpose = f"{NAME}/{task}"
    train_idx = knobs.sample("train", len(train_all), purpose)
    dev_idx = knobs.sample("dev", len(dev_all), purpose)
    n_test = knobs.first_examples(len(test_groups), f"the {task} validation set")
    outputs = {
        "train.jsonl": [train_all[i] for i in train_idx],
        "dev.jsonl": [dev_all[i] for i in dev_idx],
        "test.jsonl": [row for group in test_groups[:n_test] for row in group],
    }
    spec = TASKS[task]
    manifest = {
        "dataset": NAME,
        "split": task + knobs.suffix(),
        "params": {"task": task, **vars(knobs)},
        "format_version": FORMAT_VERSION,
        "source": knobs.source,
        "inputs": {"train": train_input, "val": val_input},
        "selection": {
            "train": selection_record("train", train_idx, len(train_all)),
            "dev": selection_record("val", dev_idx, len(dev_all)),
            "test": {"source": "val", "total_examples": len(test_groups), "first_examples": n_test},
        },
        "task": {"name": task, "labels": list(spec.labels), "metrics": list(spec.metrics)},
    }
    return write_prepared(out_dir, outputs, manifest)


def describe() -> dict:
    """What this loader needs and offers (for `python -m harness datasets`)."""
    return {
        "name": NAME,
        "splits": list(TASKS),
        "params": list(PARAMS),
        "expected_under": f"<data_root>/{NAME}/<Task>/{{train,val}}.jsonl",
        "files": {
            f"{spec.folder}/{name}": {"sha256": sha, spec.size_unit: spec.sizes[name.removesuffix(".jsonl")]}
            for spec in TASKS.values()
            for name, sha in spec.sha256.items()
        },
        "download_url": RELEASE_URL,
        "hub": f"{HUB_ID}@{HUB_REVISION}",
        "test_set": "the official validation set (SuperGLUE test labels are hidden)",
        "outputs": ["train.jsonl", "dev.jsonl", "test.jsonl", "manifest.json"],
    }
