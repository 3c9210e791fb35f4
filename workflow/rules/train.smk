# Training: one job per cell; cells that can share a frozen backbone are first trained together by one
# pack job (harness.packs; on by default when training jobs get a GPU), whose result each cell's own job
# then moves into place in seconds (a cell its pack could not train is trained alone there). Only files
# written when training ends are outputs: Snakemake deletes outputs before a job starts, and a retried job
# must still find its checkpoints (state/checkpoint/) and its log (train_log.jsonl) to resume.


rule train:
    input:
        train=lambda w: data_path(w.cell, "train.jsonl"),
        dev=lambda w: data_path(w.cell, "dev.jsonl"),
        # ancient(): the pack only orders the jobs; a later pack run must not make this cell look outdated.
        pack=lambda w: [ancient(pack_marker_path(w.cell))] if w.cell in PACK_OF else [],
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


# One job trains, then decodes, every member of a pack. Its output is only a marker (member -> "ok" or the
# error it met), so a member that fails inside the pack costs no other member its result.
rule train_pack:
    input:
        train=lambda w: [data_path(c.id, "train.jsonl") for c in PACKS[w.pack]],
        test=lambda w: [data_path(c.id, "test.jsonl") for c in PACKS[w.pack]],
    output:
        f"{RESULTS}/packs/{{pack}}.json",
    wildcard_constraints:
        pack=ids_regex(PACKS),
    params:
        spec=pack_fingerprint,
        cells=lambda w: " ".join(shlex.quote(c.id) for c in PACKS[w.pack]),
    log:
        f"{RESULTS}/logs/train_pack/{{pack}}.log",
    threads: 2
    resources:
        **stage_resources("train"),
    shell:
        "{HARNESS} train-pack --config {CONFIG_SNAPSHOT:q} --pack {wildcards.pack:q} --cells {params.cells}"
        " > {log:q} 2>&1"
