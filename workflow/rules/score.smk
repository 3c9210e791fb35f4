# Scoring one cell's generations with the dataset's official-protocol metric suite.


rule score:
    input:
        generations=f"{RESULTS}/cells/{{cell}}/generations.txt",
        test=lambda w: data_path(w.cell, "test.jsonl"),
    output:
        f"{RESULTS}/cells/{{cell}}/scores.json",
    params:
        scoring=spec_digest(CONFIG["scoring"]),
    log:
        f"{RESULTS}/logs/score/{{cell}}.log",
    resources:
        **stage_resources("score"),
    shell:
        "{HARNESS} score --config {CONFIG_SNAPSHOT:q} --cell {wildcards.cell:q} > {log:q} 2>&1"
