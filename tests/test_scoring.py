"""Scoring a cell and gathering scores, with a stand-in suite (the real metric stack is tested in metrics/)."""

import json
from pathlib import Path

import pandas as pd
import pytest
import yaml

from harness import scoring
from harness.__main__ import main
from harness.cells import cell_dir, cells_for, prepared_dir
from harness.config import load_config
from harness.errors import DataError
from harness.io import write_jsonl

QUICKSTART = Path(__file__).resolve().parents[1] / "config" / "quickstart.yaml"


def fake_suite(hypotheses, references, scoring_config):
    # scores that reveal what the suite was given
    return {
        "BLEU": len(hypotheses) / 10,
        "NIST": float(len(references[0])),
        "signature": {"BLEU": f"fake|nist:{scoring_config['nist']}"},
    }


@pytest.fixture
def config_path(tmp_path, monkeypatch):
    monkeypatch.setitem(scoring.SUITES, "e2e", fake_suite)
    monkeypatch.chdir(tmp_path)  # results_dir is relative to the working directory
    raw = yaml.safe_load(QUICKSTART.read_text())
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(raw))
    return path


def test_score_then_aggregate(config_path, tmp_path, capsys):
    config = load_config(config_path)
    cells = cells_for(config)
    tests = [{"id": "t0", "source": "s", "references": ["a", "b"]}, {"id": "t1", "source": "s", "references": ["c"]}]
    write_jsonl(prepared_dir(config, "e2e", cells[0].split) / "test.jsonl", tests)
    for cell in cells:
        cell_dir(config, cell).mkdir(parents=True)
        # an empty generation is a line too; U+2028 inside a line must not split it
        (cell_dir(config, cell) / "generations.txt").write_text("first\u2028still first\n\n", encoding="utf-8")
        assert main(["score", "--config", str(config_path), "--cell", cell.id]) == 0
    record = json.loads((cell_dir(config, cells[0]) / "scores.json").read_text())
    assert record["scores"] == {"BLEU": 0.2, "NIST": 2.0}
    assert record["signatures"] == {"BLEU": "fake|nist:pymteval"}  # the quickstart scores NIST as the paper
    assert record["provenance"]["cell"] == cells[0].id and "packages" in record["provenance"]

    assert main(["aggregate", "--config", str(config_path), "--out", "summary.csv"]) == 0
    summary = pd.read_csv(tmp_path / "summary.csv")
    assert list(summary.columns) == scoring.SUMMARY_COLUMNS
    assert len(summary) == len(cells) * 2 and set(summary["metric"]) == {"BLEU", "NIST"}


def test_line_count_mismatch_is_an_error(config_path, capsys):
    config = load_config(config_path)
    cell = cells_for(config)[0]
    tests = [{"id": "t0", "source": "s", "references": ["a"]}]
    write_jsonl(prepared_dir(config, "e2e", cell.split) / "test.jsonl", tests)
    cell_dir(config, cell).mkdir(parents=True)
    (cell_dir(config, cell) / "generations.txt").write_text("one\ntwo\n")
    with pytest.raises(DataError, match="has 2 lines but .* has 1 test inputs"):
        scoring.score_cell(cell, prepared_dir(config, "e2e", cell.split), cell_dir(config, cell), config["scoring"])
    assert main(["aggregate", "--config", str(config_path), "--out", "summary.csv"]) == 2
    assert "have no scores.json" in capsys.readouterr().err
