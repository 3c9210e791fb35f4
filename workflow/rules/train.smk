# Training: one job per cell. Only files written when training ends are outputs: Snakemake
# deletes outputs before a job starts, and a retried job must still find its checkpoints
# (state/checkpoint/) and its log (train_log.jsonl) to resume.


rule train:
    input:
        train=lambda w: data_path(w.cell, "train.jsonl"),
        dev=lambda w: data_path(w.cell, "dev.jsonl"),
    output:
        done=f"{RESULTS}/cells/{{cell}}/state/trained.json",
        provenance=f"{RESULTS}/cells/{{cell}}/provenance.json",
    params:
        spec=cell_fingerprint,
    log:
        f"{RESULTS}/logs/train/{{cell}}.log",
    threads: 2
    resources:
        **stage_resources("train"),
    shell:
        "{HARNESS} train --config {CONFIG_SNAPSHOT:q} --cell {wildcards.cell:q} > {log:q} 2>&1"
