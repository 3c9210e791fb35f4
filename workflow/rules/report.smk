# All cells' scores -> one long-form CSV -> the paper-style table beside the published numbers.


rule aggregate:
    input:
        scores=[cell_path(cell_id, "scores.json") for cell_id in CELLS],
    output:
        SUMMARY_CSV,
    log:
        f"{RESULTS}/logs/aggregate.log",
    resources:
        **stage_resources("report"),
    shell:
        "{HARNESS} aggregate --config {CONFIG_SNAPSHOT:q} --out {output:q} > {log:q} 2>&1"


rule table:
    input:
        summary=SUMMARY_CSV,
        paper=[str(path) for path in paper_files()],
    output:
        md=TABLE_MD,
        tex=TABLE_TEX,
    params:
        # Labels and the paper version only change the table, never a trained cell.
        labels=spec_digest([CONFIG["table"], CONFIG["models"], CONFIG["methods"]]),
    log:
        f"{RESULTS}/logs/table.log",
    resources:
        **stage_resources("report"),
    shell:
        "{HARNESS} table --config {CONFIG_SNAPSHOT:q} --summary {input.summary:q} "
        "--out-md {output.md:q} --out-tex {output.tex:q} > {log:q} 2>&1"
