"""Rule merge: see video_pipeline.workflow.steps.merge."""

from video_pipeline.workflow.steps import merge

merge(snakemake)  # noqa: F821 (defined by Snakemake)
