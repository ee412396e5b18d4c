# One job per (task, shard): torchrun with one rank per GPU (or CPU ranks). Journals
# live in work/ and are never outputs, so a failed or killed job keeps its progress.
# With share_decode: one job per shard runs every task, decoding each video once.

if not WF.settings.share_decode:

    rule infer:
        input:
            shard=LAYOUT.shard("{shard}"),
        output:
            part=LAYOUT.part("{task}", "{shard}"),
            errors=LAYOUT.part("{task}", "{shard}", ".errors.jsonl"),
            stats=LAYOUT.part("{task}", "{shard}", ".stats.json"),
        params:
            fingerprint=task_fingerprint,
        log:
            LAYOUT.log("infer", "{task}", "{shard}"),
        benchmark:
            LAYOUT.benchmark("infer", "{task}", "{shard}")
        threads: WF.settings.ranks_per_job
        resources:
            gpu=WF.settings.gpus_per_job,
        conda:
            SOFTWARE
        script:
            "../scripts/infer.py"

else:

    rule infer:
        input:
            shard=LAYOUT.shard("{shard}"),
        output:
            parts=[LAYOUT.part(t, "{shard}") for t in WF.task_names],
            errors=[LAYOUT.part(t, "{shard}", ".errors.jsonl") for t in WF.task_names],
            stats=[LAYOUT.part(t, "{shard}", ".stats.json") for t in WF.task_names],
        params:
            fingerprints=all_fingerprints,
        log:
            LAYOUT.log("infer", SHARED, "{shard}"),
        benchmark:
            LAYOUT.benchmark("infer", SHARED, "{shard}")
        threads: WF.settings.ranks_per_job
        resources:
            gpu=WF.settings.gpus_per_job,
        conda:
            SOFTWARE
        script:
            "../scripts/infer.py"
