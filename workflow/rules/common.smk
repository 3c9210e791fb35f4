# Config -> cells, and the paths every rule shares. The harness package computes everything;
# this file only names it for the rules.

import re
import shlex
import sys

from snakemake.exceptions import WorkflowError
from snakemake.utils import validate

from harness.cells import cell_dir, cells_for, prepared_dir, spec_digest
from harness.config import save_config, validate_config
from harness.packs import pack_marker, packs_for
from harness.paper import paper_files


if not config:
    raise WorkflowError("no config: pass one, e.g. --configfile config/quickstart.yaml")

# The workflow template's check (fills the schema's defaults into `config`), then the same
# function `python -m harness` uses, which also asks the dataset loaders and the method
# registry about their own keys: both see one config.
validate(config, "../schemas/config.schema.yaml")
CONFIG = validate_config(config)

RESULTS = CONFIG["results_dir"]
CELLS = {cell.id: cell for cell in cells_for(CONFIG)}
# Packs of cells that train together (only cells without a result; {} when packing is off).
PACKS = packs_for(CONFIG)
PACK_OF = {cell.id: pack_id for pack_id, members in PACKS.items() for cell in members}

# Jobs read this copy, not the YAML: --config overrides reach them, and editing the YAML
# during a long run cannot change what a queued job does. It is written while the Snakefile
# is parsed (only if its content changed) rather than by a rule: a rule that re-ran whenever
# the config changed would make Snakemake skip the params check of every job reading it.
# Jobs need not list it as an input: it exists before any job starts.
CONFIG_SNAPSHOT = f"{RESULTS}/config.json"
save_config(CONFIG, CONFIG_SNAPSHOT)

SUMMARY_CSV = f"{RESULTS}/summary.csv"
TABLE_MD = f"{RESULTS}/table.md"
TABLE_TEX = f"{RESULTS}/table.tex"
HARNESS = f"{shlex.quote(sys.executable)} -m harness"

def ids_regex(ids):
    """A wildcard constraint matching exactly these ids (and nothing when there are none)."""
    return "|".join(re.escape(i) for i in ids) or "(?!)"


wildcard_constraints:
    dataset="|".join(sorted({c.dataset for c in CELLS.values()})),
    split="|".join(re.escape(s) for s in sorted({c.split for c in CELLS.values()})),
    cell=ids_regex(CELLS),


def pack_marker_path(cell_id):
    return str(pack_marker(CONFIG, PACK_OF[cell_id]))


def pack_fingerprint(wildcards):
    """Re-run a pack when any member's spec (or data parameters) changed."""
    return spec_digest([fingerprint(c.id) for c in PACKS[wildcards.pack]])


def cell_path(cell_id, name):
    return str(cell_dir(CONFIG, CELLS[cell_id]) / name)


def data_path(cell_id, name):
    cell = CELLS[cell_id]
    return str(prepared_dir(CONFIG, cell.dataset, cell.split) / name)


def fingerprint(cell_id):
    cell = CELLS[cell_id]
    return spec_digest([cell.spec(), CONFIG["datasets"][cell.dataset]])


def cell_fingerprint(wildcards):
    """A changed cell spec (or data parameters) changes this param, so Snakemake re-runs the job."""
    return fingerprint(wildcards.cell)


def stage_resources(stage):
    """Snakemake resources of one stage from config.resources.

    `gpu` is what the SLURM executor plugin turns into --gpus (0 requests none).
    """
    spec = CONFIG["resources"][stage]
    resources = {"mem_mb": spec["mem_mb"], "runtime": spec["runtime"], "gpu": spec["gpus"]}
    if spec.get("gpu_model") and spec["gpus"]:
        resources["gpu_model"] = spec["gpu_model"]
    return resources
