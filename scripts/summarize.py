"""Rule summarize: see video_pipeline.workflow.steps.summarize."""

from video_pipeline.workflow.steps import summarize

summarize(snakemake)  # noqa: F821 (defined by Snakemake)
