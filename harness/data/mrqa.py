"""MRQA 2019 (Fisch et al.) for Lester et al.'s domain-shift table: train on SQuAD, test on 7 dev sets.

Read from the official gzipped JSONL files (a header line, then one context per line with its
questions; MD5s as published in the MRQA README) or from the hub (`mrqa-workshop/mrqa`, one
row per question with a `subset` column):

    <root>/mrqa/train/SQuAD.jsonl.gz                  SQuAD train (86,588 questions)
    <root>/mrqa/in_domain_dev/SQuAD.jsonl.gz          SQuAD dev (10,507): dev.jsonl and the in-domain test
    <root>/mrqa/out_of_domain_dev/<Name>.jsonl.gz     BioASQ, DROP, DuoRC.ParaphraseRC, RACE,
                                                      RelationExtraction, TextbookQA (the OOD tests)

Every question is one example, as t5 `preprocessors.squad` writes it (no task name there):
source `question: <q> context: <c>`, target the first gold answer, and every gold answer kept
as references, with T5's punctuation padding on all of them (see t5.py) after whitespace runs
are made single spaces (prompt-tuning's scripts/mrqa_to_tsv.py).

Deviations from the paper's pipeline, on purpose:
- SQuAD is MRQA's version (86,588 / 10,507 questions) where the paper used TFDS squad v1.1
  (87,599 / 10,570); the issue asks for MRQA's, so in- and out-of-domain share one format.
- prompt-tuning's mrqa_to_tsv.py keeps only the first question of each context and its TSV
  round trip (pandas quotes fields, TF reads them with use_quote_delim=False) adds literal
  quotes around any field holding a `"`; we keep every question and the text as released.
- The target is `answers[0]` (the first annotator's, as TFDS squad's `answers.text[0]`), not
  the first detected span (mrqa_to_tsv.py); it matters only for the OOD sets, which are not trained on.

test.jsonl rows carry `subset` (the eval set's name) so one trained model is scored per set.
"""

from __future__ import annotations

import gzip
import json
from dataclasses import dataclass
from pathlib import Path

from harness.data.output import write_prepared
from harness.data.sources import KNOBS, Knobs, ReleaseFile, check_params, hub_rows, official_file, one_of
from harness.data.splits import selection_record
from harness.data.t5 import squad_answer, squad_inputs
from harness.errors import ConfigError, DataError

NAME = "mrqa"
FORMAT_VERSION = 1
RELEASE_URL = "https://s3.us-east-2.amazonaws.com/mrqa/release/v2/{part}/{file}"
HUB_ID = "mrqa-workshop/mrqa"


@dataclass(frozen=True)
class QASet:
    file: ReleaseFile
    url: str
    hub_split: str
    hub_subset: str  # the `subset` column on the hub (the file header's dataset name)
    questions: int  # as published in the MRQA README


TRAIN = QASet(
    ReleaseFile("mrqa/train/SQuAD.jsonl.gz", md5="efd6a551d2697c20a694e933210489f8"),
    RELEASE_URL.format(part="train", file="SQuAD.jsonl.gz"),
    "train",
    "SQuAD",
    86588,
)


def _ood(file: str, md5: str, subset: str, questions: int, url: str | None = None) -> QASet:
    return QASet(
        ReleaseFile(f"mrqa/out_of_domain_dev/{file}", md5=md5),
        url or RELEASE_URL.format(part="dev", file=file),
        "test",  # the hub's `test` split holds the out-of-domain dev sets
        subset,
        questions,
    )


# Lester et al. Table 1 order: in-domain first, then the six out-of-domain dev sets.
EVAL_SETS = {
    "squad": QASet(
        ReleaseFile("mrqa/in_domain_dev/SQuAD.jsonl.gz", md5="05f3f16c5c31ba8e46ff5fa80647ac46"),
        RELEASE_URL.format(part="dev", file="SQuAD.jsonl.gz"),
        "validation",
        "SQuAD",
        10507,
    ),
    "textbookqa": _ood("TextbookQA.jsonl.gz", "8b52d21381d841f8985839ec41a6c7f7", "TextbookQA", 1503),
    "bioasq": _ood(
        "BioASQ.jsonl.gz", "70752a39beb826a022ab21353cb66e54", "BioASQ", 1504,
        url="http://participants-area.bioasq.org/MRQA2019/ (registration)",
    ),
    "race": _ood("RACE.jsonl.gz", "ba8063647955bbb3ba63e9b17d82e815", "RACE", 674),
    "relation_extraction": _ood(
        "RelationExtraction.jsonl.gz", "266be75954fcb31b9dbfa9be7a61f088", "RelationExtraction", 2948
    ),
    "duorc": _ood("DuoRC.ParaphraseRC.jsonl.gz", "b325c0ad2fa10e699136561ee70c5ddd", "DuoRC", 1501),
    "drop": _ood("DROP.jsonl.gz", "070eb2ac92d2b2fc1b99abeda97ac37a", "DROP", 1503),
}  # fmt: skip
PARAMS = ("eval_sets", *KNOBS)


@dataclass(frozen=True)
class Question:
    qid: str
    question: str
    context: str
    answers: tuple[str, ...]


# --- reading ----------------------------------------------------------------------------


def read_release_file(path: Path) -> tuple[dict, list[Question]]:
    """(header, questions in file order) of an official MRQA .jsonl.gz; DataError if it is not one."""
    try:
        with gzip.open(path, "rt", encoding="utf-8") as f:
            lines = [line for line in f if line.strip()]
        header = json.loads(lines[0])["header"] if lines else None
        questions = [
            Question(qa["qid"], qa["question"], context["context"], tuple(qa["answers"]))
            for context in map(json.loads, lines[1:])
            for qa in context["qas"]
        ]
    except (OSError, EOFError, ValueError, KeyError, TypeError) as exc:  # gzip, JSON and layout errors
        raise DataError(
            f"{path} is not an MRQA 2019 release file (gzipped JSONL, a header line first): {exc}. "
            "Use the file from the MRQA download."
        ) from exc
    if header is None:
        raise DataError(f"{path} is empty; use the file from the MRQA download.")
    return header, questions


def load_questions(qa_set: QASet, what: str, root: Path, knobs: Knobs) -> tuple[list[Question], dict]:
    """The questions of one MRQA file (or hub subset) and the manifest record of their origin."""
    if knobs.source == "hub":
        rows, record = hub_rows(knobs.hub_id or HUB_ID, qa_set.hub_split, where=("subset", qa_set.hub_subset))
        return [Question(r["qid"], r["question"], r["context"], tuple(r["answers"])) for r in rows], record
    path, record = official_file(
        root,
        qa_set.file,
        what=f"MRQA {what}",
        how_to_get=f"Download it from {qa_set.url} into {(root / qa_set.file.relpath).parent}.",
        hub_id=HUB_ID,
    )
    header, questions = read_release_file(path)
    return questions, {**record, "header": header, "questions": len(questions)}


def _clean(text: str) -> str:
    """mrqa_to_tsv.py's normalize_whitespace (`\\s+` -> " "); its outer spaces are dropped later anyway."""
    return " ".join(text.split())


def source_text(q: Question) -> str:
    return squad_inputs(_clean(q.question), _clean(q.context))


def references(q: Question) -> list[str]:
    return [squad_answer(_clean(a)) for a in q.answers]


# --- params and prepare -----------------------------------------------------------------


def normalize_params(params: dict | None) -> tuple[list[str], Knobs]:
    params = check_params(NAME, params, PARAMS)
    eval_sets = params.get("eval_sets")
    if eval_sets is None:
        eval_sets = list(EVAL_SETS)
    if isinstance(eval_sets, str) or not isinstance(eval_sets, list) or not eval_sets:
        raise ConfigError(f"mrqa eval_sets must be a non-empty list drawn from {list(EVAL_SETS)}, got {eval_sets!r}.")
    for name in eval_sets:
        one_of(NAME, "eval set", name, EVAL_SETS)
    if len(set(eval_sets)) != len(eval_sets):
        raise ConfigError(f"mrqa eval_sets lists a set twice: {eval_sets}.")
    return eval_sets, Knobs.from_params(NAME, params)


def variant_name(params: dict | None) -> str:
    """ "full" (SQuAD train, all 7 test sets), or "eval-squad+textbookqa", plus the knobs' suffix."""
    return _variant(*normalize_params(params))


def _variant(eval_sets: list[str], knobs: Knobs) -> str:
    name = "full" if eval_sets == list(EVAL_SETS) else "eval-" + "+".join(eval_sets)
    return name + knobs.suffix()


def prepare(params: dict | None, root: Path, out_dir: Path) -> dict:
    """Write train/dev/test JSONL and manifest.json into `out_dir`."""
    eval_sets, knobs = normalize_params(params)
    train, train_input = load_questions(TRAIN, "SQuAD train", root, knobs)
    squad_dev, dev_input = load_questions(EVAL_SETS["squad"], "SQuAD dev", root, knobs)
    inputs = {"train": train_input, "squad": dev_input}
    tests = {"squad": squad_dev}
    for name in eval_sets:
        if name not in tests:
            tests[name], inputs[name] = load_questions(EVAL_SETS[name], f"{name} dev", root, knobs)

    purpose = f"{NAME}/squad"
    train_idx = knobs.sample("train", len(train), purpose)
    dev_idx = knobs.sample("dev", len(squad_dev), purpose)
    test_rows, test_selection = [], {}
    for name in eval_sets:
        n = knobs.first_examples(len(tests[name]), f"the MRQA {name} dev set")
        test_rows += [
            {"id": q.qid, "source": source_text(q), "references": references(q), "subset": name}
            for q in tests[name][:n]
        ]
        test_selection[name] = {"total_questions": len(tests[name]), "first_questions": n}
    outputs = {
        "train.jsonl": [_pair_row(train[i]) for i in train_idx],
        "dev.jsonl": [_pair_row(squad_dev[i]) for i in dev_idx],
        "test.jsonl": test_rows,
    }
    manifest = {
        "dataset": NAME,
        "split": _variant(eval_sets, knobs),
        "params": {"eval_sets": eval_sets, **vars(knobs)},
        "format_version": FORMAT_VERSION,
        "source": knobs.source,
        "inputs": inputs,
        "selection": {
            "train": selection_record("SQuAD train", train_idx, len(train)),
            "dev": selection_record("SQuAD dev", dev_idx, len(squad_dev)),
            "test": test_selection,
        },
        "task": {"name": "extractive QA", "metrics": ["squad_em", "squad_f1"], "subsets": eval_sets},
    }
    return write_prepared(out_dir, outputs, manifest)


def _pair_row(q: Question) -> dict:
    return {"id": q.qid, "source": source_text(q), "target": references(q)[0], "meta": {"answers": references(q)}}


def describe() -> dict:
    """What this loader needs and offers (for `python -m harness datasets`)."""
    return {
        "name": NAME,
        "splits": ["full", "eval-<set>[+<set>...]"],
        "eval_sets": list(EVAL_SETS),
        "params": list(PARAMS),
        "expected_under": f"<data_root>/{NAME}/{{train,in_domain_dev,out_of_domain_dev}}/",
        "files": {
            qa_set.file.relpath.removeprefix(f"{NAME}/"): {
                "md5": qa_set.file.md5,
                "questions": qa_set.questions,
                "url": qa_set.url,
            }
            for qa_set in (TRAIN, *EVAL_SETS.values())
        },
        "hub": HUB_ID,
        "outputs": ["train.jsonl", "dev.jsonl", "test.jsonl", "manifest.json"],
    }
