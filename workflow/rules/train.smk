# Training: one job per cell. The checkpoint folder state/ is not an output on purpose:
# Snakemake deletes outputs before a job starts, and a retried job must find its checkpoints.


rule train:
    input:
        config=ancient(CONFIG_SNAPSHOT),
        train=lambda w: data_path(w.cell, "train.jsonl"),
        dev=lambda w: data_path(w.cell, "dev.jsonl"),
    output:
        train_log=f"{RESULTS}/cells/{{cell}}/train_log.jsonl",
        provenance=f"{RESULTS}/cells/{{cell}}/provenance.json",
    params:
        spec=cell_fingerprint,
    log:
        f"{RESULTS}/logs/train/{{cell}}.log",
    threads: 2
    resources:
        **stage_resources("train"),
    shell:
        "{HARNESS} train --config {input.config:q} --cell {wildcards.cell:q} > {log:q} 2>&1"
