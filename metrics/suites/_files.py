"""Reading predictions for the classification and QA suites (reference files go through the harness's readers)."""

from __future__ import annotations

from pathlib import Path

__all__ = ["read_predictions"]


def read_predictions(path: str | Path) -> list[str]:
    """One prediction per line, exactly as written: only the line ends go (``\\n``, ``\\r\\n``).

    Nothing is stripped, because the official scorers compare label words exactly; a final
    newline does not make an extra (empty) prediction, but an empty line inside the file does.
    """
    with open(path, encoding="utf-8-sig") as handle:  # universal newlines: \r\n ends a line too
        lines = handle.read().split("\n")
    return lines[:-1] if lines and lines[-1] == "" else lines
