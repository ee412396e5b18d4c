"""Rule shard: see video_pipeline.workflow.steps.shard."""

from video_pipeline.workflow.steps import shard

shard(snakemake)  # noqa: F821 (defined by Snakemake)
