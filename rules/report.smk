# Per task: the quality checks of its results (summary.tsv and the end-of-run table
# show their flags). With `report: true`, `all` also asks for the browsable report.


rule quality:
    input:
        results=LAYOUT.result("{task}"),
        errors=LAYOUT.result("{task}", ".errors.jsonl"),
    output:
        quality=LAYOUT.result("{task}", ".quality.json"),
    params:
        thresholds=quality_thresholds,
    log:
        LAYOUT.log("quality", "{task}"),
    conda:
        SOFTWARE
    script:
        "../scripts/quality.py"


rule report:
    input:
        results=[LAYOUT.result(t) for t in WF.task_names],
        errors=[LAYOUT.result(t, ".errors.jsonl") for t in WF.task_names],
        quality=[LAYOUT.result(t, ".quality.json") for t in WF.task_names],
        stats=[LAYOUT.part(t, s, ".stats.json") for t in WF.task_names for s in WF.shards],
        clips=clip_outputs(),  # a clip task's roll-up and summaries, shown beside its clips
    output:
        index=LAYOUT.report(),
    log:
        LAYOUT.log("report"),
    conda:
        SOFTWARE
    script:
        "../scripts/report.py"
