"""Rule quality: see video_pipeline.workflow.steps.quality."""

from video_pipeline.workflow.steps import quality

quality(snakemake)  # noqa: F821 (defined by Snakemake)
