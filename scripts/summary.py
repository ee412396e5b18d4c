"""Rule summary: see video_pipeline.workflow.steps.summary."""

from video_pipeline.workflow.steps import summary

summary(snakemake)  # noqa: F821 (defined by Snakemake)
