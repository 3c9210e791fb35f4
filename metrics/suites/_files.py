"""Reading the inputs of the classification and QA suites: prediction lines and JSONL rows."""

from __future__ import annotations

import json
from pathlib import Path

__all__ = ["first_json_line", "read_jsonl", "read_predictions"]


def read_predictions(path: str | Path) -> list[str]:
    """One prediction per line, exactly as written: only the line ends go (``\\n``, ``\\r\\n``).

    Nothing is stripped, because the official scorers compare label words exactly; a final
    newline does not make an extra (empty) prediction, but an empty line inside the file does.
    """
    with open(path, encoding="utf-8-sig") as handle:  # universal newlines: \r\n ends a line too
        lines = handle.read().split("\n")
    return lines[:-1] if lines and lines[-1] == "" else lines


def read_jsonl(path: str | Path) -> list[dict]:
    rows = []
    with open(path, encoding="utf-8-sig") as handle:
        for number, line in enumerate(handle, 1):
            if line.strip():
                try:
                    rows.append(json.loads(line))
                except json.JSONDecodeError as err:
                    raise ValueError(f"{path}:{number} is not JSON ({err})") from None
    return rows


def first_json_line(path: str | Path) -> dict:
    """The first JSON object of a JSONL file (to tell a prepared test.jsonl from an official file)."""
    with open(path, encoding="utf-8-sig") as handle:
        for line in handle:
            if line.strip():
                try:
                    record = json.loads(line)
                except json.JSONDecodeError as err:
                    raise ValueError(f"{path} is not JSONL ({err})") from None
                if not isinstance(record, dict):
                    raise ValueError(f"{path}: expected one JSON object per line")
                return record
    raise ValueError(f"{path} is empty")
