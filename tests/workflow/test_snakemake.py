"""The Snakefile on the quickstart config: the DAG it plans, and refusing a bad config."""

import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from harness.cells import cells_for
from harness.config import load_config

ROOT = Path(__file__).resolve().parents[2]
QUICKSTART = ROOT / "config" / "quickstart.yaml"
SNAKEMAKE = [sys.executable, "-m", "snakemake", "--snakefile", str(ROOT / "Snakefile"), "--cores", "2"]


@pytest.fixture(scope="module")
def dry_runs(tmp_path_factory):
    """Both dry runs, started together: each spends seconds importing torch to parse the Snakefile."""
    good, bad = tmp_path_factory.mktemp("good"), tmp_path_factory.mktemp("bad")
    config = yaml.safe_load(QUICKSTART.read_text())
    config["train"]["lrr"] = 1
    (bad / "bad.yaml").write_text(yaml.safe_dump(config))
    runs = {
        "good": (good, QUICKSTART, "--printshellcmds"),
        "bad": (bad, bad / "bad.yaml"),
    }
    procs = {
        name: subprocess.Popen(
            [*SNAKEMAKE, "--directory", str(workdir), "--configfile", str(configfile), "--dry-run", *extra],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for name, (workdir, configfile, *extra) in runs.items()
    }
    results = {}
    for name, proc in procs.items():
        out, err = proc.communicate(timeout=120)
        results[name] = (proc.returncode, out, err, runs[name][0])
    return results


def job_counts(output):
    stats = output.split("Job stats:")[1]
    return {m[1]: int(m[2]) for m in re.finditer(r"^(\w+)\s+(\d+)$", stats, re.MULTILINE) if m[1] != "total"}


def test_dry_run_plans_every_stage_of_every_cell(dry_runs):
    returncode, out, err, workdir = dry_runs["good"]
    assert returncode == 0, err
    cells = [c.id for c in cells_for(load_config(QUICKSTART))]
    assert len(cells) == 4  # 1 dataset x 1 model x 2 methods x 2 seeds
    assert job_counts(out) == {
        "prepare_data": 1,
        "train": 4,
        "generate": 4,
        "score": 4,
        "aggregate": 1,
        "table": 1,
        "all": 1,
    }
    for cell_id in cells:  # the workflow's cells are the CLI's cells
        assert f"train --config results/quickstart/config.json --cell {cell_id} " in out
        assert f"results/quickstart/cells/{cell_id}/scores.json" in out
    assert (
        "prepare --config results/quickstart/config.json --dataset e2e "
        "--out results/quickstart/data/e2e/full-tr200-dv50-te50 "
    ) in out
    assert "output: results/quickstart/table.md, results/quickstart/table.tex" in out
    # parsing wrote the config the jobs read, and nothing else
    written = [p.relative_to(workdir).as_posix() for p in (workdir / "results").rglob("*") if p.is_file()]
    assert written == ["results/quickstart/config.json"]
    assert load_config(workdir / written[0]) == load_config(QUICKSTART)


def test_unknown_config_key_fails_with_the_schema_error(dry_runs):
    returncode, out, err, _ = dry_runs["bad"]
    assert returncode != 0
    assert "Error validating config file" in out + err
    assert "Additional properties are not allowed ('lrr' was unexpected)" in out + err
