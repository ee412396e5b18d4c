# Batch vision-language inference over videos: shard -> infer (task x shard) -> merge;
# with clips on: shard -> expand_clips -> clip_shards -> infer -> merge -> rollup (-> summarize).
# Layout and contracts: see README.md; all logic lives in the video_pipeline package.


from snakemake.utils import validate


configfile: f"{workflow.basedir}/config.yaml"


include: "rules/common.smk"


# common.smk has named any bad key in the project's words; the exported JSON Schema
# holds the layered config to the same models. set_default=False: it adds no keys.
validate(config, "schemas/workflow.schema.json", set_default=False)


include: "rules/demo.smk"
include: "rules/shard.smk"
include: "rules/clips.smk"
include: "rules/infer.smk"
include: "rules/merge.smk"
include: "rules/report.smk"


rule all:
    input:
        final_outputs(),
    default_target: True
