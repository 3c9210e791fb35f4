"""Score a cell's generations with its dataset's official-protocol suite; gather all scores."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

from harness.cells import Cell, cell_dir
from harness.errors import ConfigError, DataError
from harness.io import atomic_write_json, read_jsonl
from harness.provenance import collect

Suite = Callable[[list[str], list[list[str]], dict], dict]


def _e2e(hypotheses: list[str], references: list[list[str]], scoring: dict) -> dict:
    from metrics.suites.e2e import score_e2e  # imported here: it loads the metric stack

    return score_e2e(hypotheses, references, nist=scoring["nist"])


# dataset -> suite(hypotheses, references, config.scoring) -> {metric: value, ..., "signature": {...}}
SUITES: dict[str, Suite] = {"e2e": _e2e}

# Benchmarks whose official scorer needs more than the references (labels, MultiRC question groups,
# MRQA datasets, the QQP<->MRPC label map) get the test rows and the manifest's "task" entry:
# dataset -> suite(hypotheses, test rows, manifest["task"], config.scoring) -> the same shape.
RowSuite = Callable[[list[str], list[dict], dict, dict], dict]


def _superglue(hypotheses: list[str], rows: list[dict], task: dict, scoring: dict) -> dict:
    from metrics.suites.superglue import score_superglue

    return score_superglue(task["name"], hypotheses, rows)


def _mrqa(hypotheses: list[str], rows: list[dict], task: dict, scoring: dict) -> dict:
    from metrics.suites.mrqa import score_mrqa

    return score_mrqa(hypotheses, rows)


def _glue(hypotheses: list[str], rows: list[dict], task: dict, scoring: dict) -> dict:
    from metrics.suites.glue import check_label_map, score_glue

    check_label_map(task["label_map"], task["name"], task["eval_task"])  # predictions are in task["name"]'s words
    return score_glue(hypotheses, [row["label"] for row in rows], task["eval_task"], trained_on=task["name"])


def _webnlg(hypotheses: list[str], rows: list[dict], task: dict, scoring: dict) -> dict:
    """All / seen / unseen as separate metrics (BLEU_all, METEOR_seen, TER_unseen...): the paper's test-A/S/U."""
    from metrics.suites.webnlg import score_webnlg

    seen = [bool(row["seen"]) for row in rows]
    splits = ["all", *(["seen"] if any(seen) else []), *(["unseen"] if not all(seen) else [])]
    result = score_webnlg(hypotheses, [row["official_references"] for row in rows], splits=splits, seen=seen,
                          raw_references=True)  # the rows hold the XML texts: normalised as evaluation.py does
    scores = {f"{metric}_{split}": value for split in splits for metric, value in result[split].items()}
    scores["signature"] = {f"{metric}_{split}": result["signature"][metric]
                           for split in splits for metric in result[split]}
    return scores


def _dart(hypotheses: list[str], rows: list[dict], task: dict, scoring: dict) -> dict:
    """BLEU / METEOR / TER of run_eval_on_dart.sh after the paper author's lowercasing step."""
    from metrics.suites.dart import score_dart

    # The author lowercased the predictions (tolower.py) and scored them against lowercased references
    # (the 2021 files are; the 2020-07 ones are cased): lowercasing both keeps that case-insensitive match.
    result = score_dart(hypotheses, [row["official_references"] for row in rows], lowercase=True,
                        lowercase_references=True)
    result.pop("details")
    return result


ROW_SUITES: dict[str, RowSuite] = {"superglue": _superglue, "mrqa": _mrqa, "glue": _glue, "webnlg": _webnlg,
                                   "dart": _dart}

SUMMARY_COLUMNS = ["cell_id", "dataset", "split", "model", "method", "seed", "metric", "value"]


def suite_for(dataset: str) -> Suite:
    try:
        return SUITES[dataset]
    except KeyError:
        raise ConfigError(
            f"no scoring suite for dataset {dataset!r}; suites exist for {sorted([*SUITES, *ROW_SUITES])} "
            "(add one to harness.scoring.SUITES)."
        ) from None


def read_generations(path: Path) -> list[str]:
    """One hypothesis per line. Split on "\\n" only: str.splitlines would also split on U+2028 etc."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise DataError(f"{path} not found; run `python -m harness generate` for this cell first.") from None
    lines = text.split("\n")
    return lines[:-1] if lines and lines[-1] == "" else lines


def score_cell(cell: Cell, data_dir: Path, cell_dir: Path, scoring: dict, **provenance: object) -> dict:
    """Score `cell_dir/generations.txt` against `data_dir/test.jsonl`; write and return scores.json.

    `provenance` (e.g. config=...) is recorded with the scores.
    """
    hypotheses = read_generations(Path(cell_dir) / "generations.txt")
    test_path = Path(data_dir) / "test.jsonl"
    if not test_path.is_file():
        raise DataError(f"{test_path} not found; run `python -m harness prepare` for {cell.dataset} first.")
    rows = read_jsonl(test_path)
    references = [row["references"] for row in rows]
    if len(hypotheses) != len(references):
        raise DataError(
            f"{cell_dir}/generations.txt has {len(hypotheses)} lines but {test_path} has {len(references)} "
            "test inputs; the generations are stale or truncated: delete them and generate again."
        )
    if cell.dataset in ROW_SUITES:
        task = json.loads((Path(data_dir) / "manifest.json").read_text(encoding="utf-8")).get("task", {})
        scores = dict(ROW_SUITES[cell.dataset](hypotheses, rows, task, scoring))
    else:
        scores = dict(suite_for(cell.dataset)(hypotheses, references, scoring))
    signatures = scores.pop("signature")
    record = {
        "cell": cell.id,
        "scores": scores,
        "signatures": signatures,
        "n_inputs": len(references),
        "provenance": collect(
            cell=cell.id,
            seed=cell.seed,
            scoring=scoring,
            signatures=signatures,
            **provenance,
        ),
    }
    atomic_write_json(Path(cell_dir) / "scores.json", record)
    return record


def summary_rows(config: dict, cells: list[Cell]) -> list[dict]:
    """Long-form rows (one per cell and metric) from every cell's scores.json."""
    rows, missing = [], []
    for cell in cells:
        path = cell_dir(config, cell) / "scores.json"
        if not path.is_file():
            missing.append(str(path))
            continue
        scores = json.loads(path.read_text(encoding="utf-8"))["scores"]
        for metric, value in scores.items():
            rows.append(
                {
                    "cell_id": cell.id,
                    "dataset": cell.dataset,
                    "split": cell.split,
                    "model": cell.model,
                    "method": cell.method,
                    "seed": cell.seed,
                    "metric": metric,
                    "value": value,
                }
            )
    if missing:
        raise DataError(
            f"{len(missing)} cell(s) have no scores.json, e.g. {missing[0]}; run the workflow (or "
            "`python -m harness score`) for them first."
        )
    return rows
