# Regenerates the paper tables for one config:
#   snakemake --profile workflow/profiles/local --configfile config/quickstart.yaml
# The rules live in workflow/rules/ (one file per stage); each calls `python -m harness ...`.

include: "workflow/rules/common.smk"
include: "workflow/rules/data.smk"
include: "workflow/rules/train.smk"
include: "workflow/rules/generate.smk"
include: "workflow/rules/score.smk"
include: "workflow/rules/report.smk"


rule all:
    input:
        TABLE_MD,
        TABLE_TEX,
        SUMMARY_CSV,
        # Every cell's scores are targets too: Snakemake does not rebuild a missing intermediate file whose
        # downstream outputs are up to date, so a deleted scores.json would otherwise never come back.
        [cell_path(cell_id, "scores.json") for cell_id in CELLS],
    default_target: True
