"""Published numbers, read from results/paper/*.csv (never written in code)."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from harness.errors import ConfigError, DataError

PAPER_DIR = Path(__file__).resolve().parents[1] / "results" / "paper"
COLUMNS = ["paper", "version", "table", "dataset", "split", "model", "method", "metric", "value", "unit"]
VERSION_NAMES = {"acl": "ACL 2021", "arxiv-v1": "arXiv v1"}
# Factor that takes a score from our scorers (fractions, like the official scripts) to the printed unit.
UNIT_SCALE = {"percent": 100.0, "fraction": 1.0, "raw": 1.0}


def paper_files(paper_dir: Path = PAPER_DIR) -> list[Path]:
    return sorted(Path(paper_dir).glob("*.csv"))


def paper_results(paper: str, version: str, paper_dir: Path = PAPER_DIR) -> pd.DataFrame:
    """All published numbers of one paper version, one row per value, with `number` = float(value).

    `value` stays the printed text, so a table can show it with the paper's own precision.
    """
    frames = [_read(path) for path in paper_files(paper_dir)]
    if not frames:
        raise DataError(f"no paper CSV in {paper_dir}; restore results/paper/ from the repository.")
    everything = pd.concat(frames, ignore_index=True)
    rows = everything[(everything["paper"] == paper) & (everything["version"] == version)].copy()
    if rows.empty:
        known = sorted(set(zip(everything["paper"], everything["version"], strict=True)))
        raise ConfigError(f"no published numbers for paper {paper!r} version {version!r}; known: {known}.")
    rows["number"] = rows["value"].astype(float)
    return rows.reset_index(drop=True)


def decimals(value: str) -> int:
    """Digits after the decimal point of a printed number ("8.71" -> 2, "68" -> 0)."""
    return len(value.split(".", 1)[1]) if "." in value else 0


def _read(path: Path) -> pd.DataFrame:
    # dtype=str keeps "46.0" as printed; keep_default_na=False keeps "" from becoming NaN.
    frame = pd.read_csv(path, dtype=str, keep_default_na=False)
    missing = [c for c in COLUMNS if c not in frame.columns]
    if missing:
        raise DataError(f"{path} lacks column(s) {missing}; its header must be {','.join(COLUMNS)}.")
    unknown_units = sorted(set(frame["unit"]) - set(UNIT_SCALE))
    if unknown_units:
        raise DataError(f"{path} has unknown unit(s) {unknown_units}; use one of {sorted(UNIT_SCALE)}.")
    return frame[COLUMNS]
