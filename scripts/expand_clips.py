"""Rule expand_clips: see video_pipeline.workflow.steps.expand_clips."""

from video_pipeline.workflow.steps import expand_clips

expand_clips(snakemake)  # noqa: F821 (defined by Snakemake)
