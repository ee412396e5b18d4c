"""Rule clip_shards: see video_pipeline.workflow.steps.clip_shards."""

from video_pipeline.workflow.steps import clip_shards

clip_shards(snakemake)  # noqa: F821 (defined by Snakemake)
