# Decoding the test inputs with a trained cell. A packed cell was decoded by its pack job already (with its
# siblings, in shared batches): its job only moves that file into place, or decodes it if there is none.


rule generate:
    input:
        trained=f"{RESULTS}/cells/{{cell}}/state/trained.json",
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
        "{HARNESS} generate --config {CONFIG_SNAPSHOT:q} --cell {wildcards.cell:q} > {log:q} 2>&1"
