# One job per (task, shard): torchrun with one rank per GPU (or CPU ranks). Journals
# live in work/ and are never outputs, so a failed or killed job keeps its progress.


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
