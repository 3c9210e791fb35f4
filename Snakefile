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
    default_target: True
