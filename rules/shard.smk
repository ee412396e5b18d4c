rule shard:
    input:
        rows=WF.settings.input,
    output:
        shards=[LAYOUT.shard(s) for s in WF.shards],
    params:
        num_shards=WF.settings.num_shards,
        key_fields=list(WF.key_fields),
    log:
        LAYOUT.log("shard"),
    conda:
        SOFTWARE
    script:
        "../scripts/shard.py"
