# One job per (task, shard): torchrun with one rank per GPU (or CPU ranks). Journals
# live in work/ and are never outputs, so a failed or killed job keeps its progress.
# With share_decode: one job per shard runs every task, decoding each video once.

# The tasks one job writes, and the name of its log: "{task}" is the wildcard.
JOB_TASKS = WF.task_names if WF.settings.share_decode else ["{task}"]
JOB_NAME = SHARED if WF.settings.share_decode else "{task}"


rule infer:
    input:
        shard=WF.job_input("{shard}"),  # with clips on: the clip rows dealt to it
        upstream=upstream_parts,  # a staged task: its `after` tasks' parts of the shard
    output:
        parts=[LAYOUT.part(t, "{shard}") for t in JOB_TASKS],
        errors=[LAYOUT.part(t, "{shard}", ".errors.jsonl") for t in JOB_TASKS],
        stats=[LAYOUT.part(t, "{shard}", ".stats.json") for t in JOB_TASKS],
    params:
        fingerprint=all_fingerprints if WF.settings.share_decode else task_fingerprint,
    log:
        LAYOUT.log("infer", JOB_NAME, "{shard}"),
    benchmark:
        LAYOUT.benchmark("infer", JOB_NAME, "{shard}")
    threads: WF.settings.ranks_per_job
    resources:
        gpu=WF.settings.gpus_per_job,
    conda:
        SOFTWARE
    script:
        "../scripts/infer.py"
