rule merge:
    input:
        parts=shard_outputs(".jsonl"),
        errors=shard_outputs(".errors.jsonl"),
        stats=shard_outputs(".stats.json"),
    output:
        results=LAYOUT.result("{task}"),
        errors=LAYOUT.result("{task}", ".errors.jsonl"),
        stats=LAYOUT.result("{task}", ".stats.json"),
    log:
        LAYOUT.log("merge", "{task}"),
    conda:
        SOFTWARE
    script:
        "../scripts/merge.py"


rule summary:
    input:
        stats=[LAYOUT.result(t, ".stats.json") for t in WF.task_names],
        quality=[LAYOUT.result(t, ".quality.json") for t in WF.task_names],
    output:
        summary=LAYOUT.summary(),
    log:
        LAYOUT.log("summary"),
    conda:
        SOFTWARE
    script:
        "../scripts/summary.py"
