"""The workflow through a real SLURM: sbatch jobs, the same table as a local run, retries, resume after scancel.

Needs a running SLURM (CI starts one with .ci/slurm/start.sh). Skipped where there is none, unless
HARNESS_REQUIRE_SLURM=1 (CI sets it), which turns a missing cluster into a failure.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
import yaml
from safetensors.torch import load_file

ROOT = Path(__file__).resolve().parents[2]
SNAKEMAKE = [sys.executable, "-m", "snakemake", "--snakefile", str(ROOT / "Snakefile")]
SLURM_FLAGS = [
    "--profile",
    str(ROOT / "workflow" / "profiles" / "slurm"),
    # A CI cluster without accounting: poll squeue often, and keep the job logs to inspect them.
    "--slurm-init-seconds-before-status-checks",
    "1",
    "--seconds-between-status-checks",
    "2",
    "--slurm-no-account",
    "--jobs",
    "4",
]
TIMEOUT = 600  # no Snakemake call may hang CI


def _slurm_up() -> bool:
    if not shutil.which("sbatch"):
        return False
    probe = subprocess.run(["sinfo", "-h", "-o", "%T"], capture_output=True, text=True, timeout=20)
    return probe.returncode == 0 and any(state in probe.stdout for state in ("idle", "mix", "alloc"))


@pytest.fixture(scope="module", autouse=True)
def slurm():
    if not _slurm_up():
        if os.environ.get("HARNESS_REQUIRE_SLURM") == "1":
            pytest.fail("HARNESS_REQUIRE_SLURM=1 but no SLURM answers: start one with .ci/slurm/start.sh DIR")
        pytest.skip("no SLURM cluster here (CI starts one with .ci/slurm/start.sh)")


def tiny_config(results_dir: Path, *, broken: bool = False, steps: int = 2, checkpoint_every: int = 0) -> dict:
    """Two real cells on a tiny model and 20 real E2E rows; optionally a third whose loss diverges."""
    data_dir = os.environ.get("HARNESS_DATA_DIR", str(ROOT.parent / "shared" / "data"))
    methods = {
        "finetune": {"type": "finetune", "paper_method": "FT-FULL"},
        "prefix": {"type": "prefix", "length": 2, "mid_dim": 16, "paper_method": "PREFIX(0.1%)"},
    }
    if broken:  # fails at run time (NaN loss at step 2), after the config has been accepted
        methods["diverges"] = {"type": "prefix", "length": 2, "mid_dim": 16, "train": {"lr": 1e30}}
    return {
        "name": "slurm-test",
        "results_dir": str(results_dir),
        "data_dir": data_dir,
        "datasets": {"e2e": {"split": "full", "train_rows": 20, "dev_rows": 4, "test_mrs": 4}},
        "models": {"tiny": {"source": "tiny:gpt2", "paper_model": "GPT-2 M"}},
        "methods": methods,
        "seeds": [1],
        "train": {
            "lr": 1e-3,
            "epochs": 1,
            "max_steps": steps,
            "batch_size": 10,
            "checkpoint_every": checkpoint_every,
            "log_every": 1,
            "max_length": 64,
        },
        "decode": {"strategy": "greedy", "max_new_tokens": 6, "min_new_tokens": 1, "batch_size": 4},
        # One job per cell: these tests are about SLURM's retries and pre-emption of one cell's jobs; packed
        # jobs (on by default where training asks for a GPU, as here) are tested in test_packed_workflow.py.
        "packing": {"enabled": False},
        "resources": {
            stage: {"mem_mb": 1000, "runtime": 20, "gpus": 1 if stage in ("train", "generate") else 0}
            for stage in ("prepare", "train", "generate", "score", "report")
        },
    }


def start_snakemake(workdir: Path, config: dict, *extra: str, name: str = "config.yaml") -> subprocess.Popen:
    (workdir / name).write_text(yaml.safe_dump(config))
    return subprocess.Popen(
        [*SNAKEMAKE, "--directory", str(workdir), "--configfile", str(workdir / name), *extra],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def finish(proc: subprocess.Popen) -> subprocess.CompletedProcess:
    try:
        out, err = proc.communicate(timeout=TIMEOUT)
    finally:
        if proc.poll() is None:
            proc.kill()
    return subprocess.CompletedProcess(proc.args, proc.returncode, out, err)


def run_snakemake(workdir: Path, config: dict, *extra: str, name: str = "config.yaml") -> subprocess.CompletedProcess:
    return finish(start_snakemake(workdir, config, *extra, name=name))


def job_counts(output: str) -> dict[str, int]:
    stats = output.split("Job stats:")[1]
    return {m[1]: int(m[2]) for m in re.finditer(r"^(\w+)\s+(\d+)$", stats, re.MULTILINE) if m[1] != "total"}


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """The same grid locally and on SLURM (the SLURM grid has a third cell, whose training diverges)."""
    local, cluster = tmp_path_factory.mktemp("local"), tmp_path_factory.mktemp("slurm")
    # Started together: most of each job is Python importing torch, and the two runs overlap well.
    local_proc = start_snakemake(
        local, tiny_config(local / "results"), "--profile", str(ROOT / "workflow" / "profiles" / "local")
    )
    slurm_proc = start_snakemake(cluster, tiny_config(cluster / "results", broken=True), *SLURM_FLAGS)
    return local, finish(local_proc), cluster, finish(slurm_proc)


def test_jobs_go_through_sbatch_and_a_failing_cell_is_retried_then_reported(runs):
    local, local_run, cluster, slurm_run = runs
    assert local_run.returncode == 0, local_run.stderr[-3000:]
    log = slurm_run.stdout + slurm_run.stderr
    # The diverging cell fails, is retried once (profile: retries: 1), then the run reports the failure...
    assert slurm_run.returncode != 0
    job_ids = re.findall(r"SLURM jobid[: ]+(\d+)", log)
    assert len(job_ids) >= 9, log[-3000:]  # prepare + 2 x (train, generate, score) + 2 attempts of the failing train
    assert re.search(r"Error in rule train", log)
    failing = [line for line in log.splitlines() if "harness train" in line and "/diverges-" in line]
    assert len(failing) >= 2, "the failing cell's training was not retried"
    # ...while the good cells finish.
    scores = sorted((cluster / "results" / "cells").rglob("scores.json"))
    assert len(scores) == 2 and not any("/diverges-" in str(p) for p in scores)


def test_second_run_redoes_only_the_failed_cell_and_the_table_equals_the_local_one(runs):
    local, _, cluster, _ = runs
    plan = run_snakemake(cluster, tiny_config(cluster / "results", broken=True), *SLURM_FLAGS, "--dry-run")
    assert plan.returncode == 0, plan.stderr[-3000:]
    assert job_counts(plan.stdout) == {"train": 1, "generate": 1, "score": 1, "aggregate": 1, "table": 1, "all": 1}
    # Dropping the failing method leaves the good cells' ids unchanged: only the report is made.
    fixed = run_snakemake(cluster, tiny_config(cluster / "results"), *SLURM_FLAGS, name="fixed.yaml")
    assert fixed.returncode == 0, fixed.stderr[-3000:]
    assert "rule train:" not in fixed.stdout + fixed.stderr
    table = (cluster / "results" / "table.md").read_text()
    assert table == (local / "results" / "table.md").read_text()


def _running_train_job(method: str) -> str | None:
    """The SLURM id of a running training job of `method` (the plugin puts rule and wildcards in the comment)."""
    rows = subprocess.run(["squeue", "-h", "-t", "R", "-o", "%i|%k"], capture_output=True, text=True).stdout
    for line in rows.splitlines():
        job_id, comment = line.split("|", 1)
        if comment.startswith("rule_train_") and f"_{method}-" in comment:
            return job_id
    return None


def test_scancel_mid_training_resumes_from_the_checkpoint_with_the_same_result(tmp_path):
    """A pre-empted training job is retried by Snakemake, resumes from its last checkpoint, and ends
    bit-identical to an uninterrupted run of the same cell."""
    steps = 40
    config = tiny_config(tmp_path / "results", steps=steps, checkpoint_every=2)
    config["methods"] = {"prefix": config["methods"]["prefix"]}
    cells = tmp_path / "results" / "cells"
    proc = start_snakemake(tmp_path, config, *SLURM_FLAGS, "--until", "train")  # decoding is not under test
    try:
        deadline, cancelled = time.time() + 300, None
        while time.time() < deadline and cancelled is None:
            job_id = _running_train_job("prefix")
            if job_id and cells.exists() and next(cells.rglob("checkpoint/checkpoint.pt"), None):
                subprocess.run(["scancel", job_id], check=True)
                cancelled = job_id
            time.sleep(0.3)
        assert cancelled, "no training job with a checkpoint to cancel"
    finally:
        done = finish(proc)
    out = done.stdout + done.stderr
    assert done.returncode == 0, out[-3000:]
    assert re.search(rf"\b{cancelled}\b", out), "the cancelled job is not in Snakemake's log"
    cell_dir = next(cells.rglob("state")).parent
    train_logs = list((tmp_path / "results" / "logs" / "train").rglob("*.log"))
    assert any("resuming" in log.read_text() for log in train_logs), out[-3000:]
    assert len((cell_dir / "train_log.jsonl").read_text().splitlines()) == steps  # each step once, over two jobs

    # The same cell trained in one go, in this process, on the data the workflow prepared.
    from harness.cells import cells_for, prepared_dir
    from harness.config import load_config
    from harness.train import train_cell

    loaded = load_config(tmp_path / "config.yaml")
    (cell,) = cells_for(loaded)
    train_cell(cell, prepared_dir(loaded, cell.dataset, cell.split), tmp_path / "reference")
    ours = load_file(str(cell_dir / "state" / "export.safetensors"))
    theirs = load_file(str(tmp_path / "reference" / "state" / "export.safetensors"))
    assert ours.keys() == theirs.keys() and all(torch.equal(ours[k], theirs[k]) for k in ours)
