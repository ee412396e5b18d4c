"""Rule expand: see video_pipeline.workflow.steps.expand."""

from video_pipeline.workflow.steps import expand

expand(snakemake)  # noqa: F821 (defined by Snakemake)
