# Prepared data: one folder per data variant, shared by every cell trained on it.


rule prepare_data:
    output:
        expand(
            "{results}/data/{{dataset}}/{{split}}/{name}",
            results=RESULTS,
            name=["train.jsonl", "dev.jsonl", "test.jsonl", "manifest.json"],
        ),
    params:
        data=lambda w: spec_digest(CONFIG["datasets"][w.dataset]),
        out=lambda w: f"{RESULTS}/data/{w.dataset}/{w.split}",
    log:
        f"{RESULTS}/logs/prepare/{{dataset}}/{{split}}.log",
    resources:
        **stage_resources("prepare"),
    shell:
        "{HARNESS} prepare --config {CONFIG_SNAPSHOT:q} --dataset {wildcards.dataset} "
        "--out {params.out:q} > {log:q} 2>&1"
