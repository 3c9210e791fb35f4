"""``python -m metrics`` as a user runs it (subprocesses), and the Meteor process's failure modes."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from metrics.__main__ import main, write_atomic
from metrics.base import MetricError
from metrics.meteor import MeteorProcess

REPO = Path(__file__).resolve().parents[2]
KEYS = {"BLEU", "NIST", "METEOR", "ROUGE_L", "CIDEr"}


def run_cli(*args: str | Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "metrics", *map(str, args)], cwd=REPO,
                          capture_output=True, text=True, timeout=600, check=False)


@pytest.fixture
def golden_files(data_dir: Path) -> tuple[Path, Path]:
    """TGen's outputs and the test references: the cut Meteor table is shared with the golden tests."""
    golden = data_dir / "golden" / "e2e"
    return golden / "tgen" / "hyp.txt", golden / "refs.txt"


def test_cli_prints_json_and_writes_out_atomically(golden_files: tuple[Path, Path], tmp_path: Path, java: str) -> None:
    hyp, ref = golden_files
    out = tmp_path / "results" / "scores.json"
    done = run_cli("e2e", "--hyp", hyp, "--ref", ref, "--out", out)
    assert done.returncode == 0, done.stderr
    printed = json.loads(done.stdout)
    assert set(printed) == KEYS | {"signature"} and set(printed["signature"]) == KEYS
    assert round(printed["BLEU"], 4) == 0.6593 and round(printed["CIDEr"], 4) == 2.2338
    assert json.loads(out.read_text()) == printed
    assert os.listdir(out.parent) == ["scores.json"]  # no temporary file left behind


def test_cli_nist_option_in_process(golden_files: tuple[Path, Path], capsys: pytest.CaptureFixture, java: str) -> None:
    hyp, ref = golden_files
    assert main(["e2e", "--hyp", str(hyp), "--ref", str(ref), "--nist", "pymteval"]) == 0
    printed = json.loads(capsys.readouterr().out)
    assert "impl:e2e-pymteval" in printed["signature"]["NIST"] and round(printed["NIST"], 4) == 8.5923


def test_cli_wrong_number_of_lines_exits_2(golden_files: tuple[Path, Path], tmp_path: Path) -> None:
    hyp, ref = golden_files
    short = tmp_path / "short.txt"
    short.write_text("\n".join(hyp.read_text(encoding="utf-8").splitlines()[:629]) + "\n", encoding="utf-8")
    done = run_cli("e2e", "--hyp", short, "--ref", ref)
    assert done.returncode == 2 and done.stdout == ""
    assert len(done.stderr.strip().splitlines()) == 1
    assert "629 outputs" in done.stderr and "630 reference groups" in done.stderr and "short.txt" in done.stderr


def test_cli_missing_file_and_bad_option_exit_2(tmp_path: Path) -> None:
    done = run_cli("e2e", "--hyp", tmp_path / "nope.txt", "--ref", tmp_path / "nope.txt")
    assert done.returncode == 2 and len(done.stderr.strip().splitlines()) == 1 and "nope.txt" in done.stderr
    assert run_cli("e2e", "--hyp", "x", "--ref", "y", "--nist", "nltk").returncode == 2


def test_write_atomic_keeps_the_old_file_on_failure(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    target = tmp_path / "scores.json"
    write_atomic(target, "old")

    def fail(*args: object) -> None:
        raise OSError("disk full")

    monkeypatch.setattr(os, "replace", fail)
    with pytest.raises(OSError, match="disk full"):
        write_atomic(target, "new")
    assert target.read_text() == "old" and os.listdir(tmp_path) == ["scores.json"]


def test_missing_java_is_a_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("JAVA_HOME", raising=False)
    monkeypatch.setenv("PATH", "")
    with pytest.raises(MetricError, match="Java was not found"):
        MeteorProcess()


def test_meteor_process_reports_a_dead_jvm(java: str) -> None:
    process = MeteorProcess()
    process.close()
    assert not process.alive()
    with pytest.raises(MetricError, match="METEOR cannot score"):
        process.statistics(["a"], [["a"]])
