# Decoding the test inputs with a trained cell.


rule generate:
    input:
        config=ancient(CONFIG_SNAPSHOT),
        trained=f"{RESULTS}/cells/{{cell}}/train_log.jsonl",
        test=lambda w: data_path(w.cell, "test.jsonl"),
    output:
        f"{RESULTS}/cells/{{cell}}/generations.txt",
    params:
        spec=cell_fingerprint,
    log:
        f"{RESULTS}/logs/generate/{{cell}}.log",
    threads: 2
    resources:
        **stage_resources("generate"),
    shell:
        "{HARNESS} generate --config {input.config:q} --cell {wildcards.cell:q} > {log:q} 2>&1"
