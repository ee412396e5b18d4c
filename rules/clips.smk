# With clips on: each input shard's videos are probed and split into clip rows (a CPU
# job per shard), the clips are dealt out to the infer jobs by clip-key hash, each task
# is rolled up per video after its merge, and with clips.summary a text-only summary
# pass runs per task on the roll-up.


rule expand_clips:
    input:
        shard=LAYOUT.shard("{shard}"),
    output:
        rows=LAYOUT.clip_rows("{shard}"),
        probes=LAYOUT.clip_probes("{shard}"),
    params:
        clips=WF.clip_settings(),
    log:
        LAYOUT.log("expand_clips", "{shard}"),
    threads: 4
    conda:
        SOFTWARE
    script:
        "../scripts/expand_clips.py"


rule clip_shards:
    input:
        rows=[LAYOUT.clip_rows(s) for s in WF.shards],
    output:
        shards=[LAYOUT.clip_shard(s) for s in WF.shards],
    log:
        LAYOUT.log("clip_shards"),
    conda:
        SOFTWARE
    script:
        "../scripts/clip_shards.py"


rule rollup:
    input:
        results=LAYOUT.result("{task}"),
        errors=LAYOUT.result("{task}", ".errors.jsonl"),
        stats=LAYOUT.result("{task}", ".stats.json"),
        rows=[LAYOUT.clip_rows(s) for s in WF.shards],
    output:
        videos=LAYOUT.result("{task}", ".videos.jsonl"),
    log:
        LAYOUT.log("rollup", "{task}"),
    conda:
        SOFTWARE
    script:
        "../scripts/rollup.py"


rule summarize:
    input:
        videos=LAYOUT.result("{task}", ".videos.jsonl"),
    output:
        results=LAYOUT.result("{task}", ".summary.jsonl"),
        errors=LAYOUT.result("{task}", ".summary.errors.jsonl"),
        stats=LAYOUT.result("{task}", ".summary.stats.json"),
    params:
        fingerprint=summary_fingerprint,
    log:
        LAYOUT.log("summarize", "{task}"),
    benchmark:
        LAYOUT.benchmark("summarize", "{task}")
    threads: WF.settings.ranks_per_job
    resources:
        gpu=WF.settings.gpus_per_job,
    conda:
        SOFTWARE
    script:
        "../scripts/summarize.py"
