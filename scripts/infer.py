"""Rule infer: see video_pipeline.workflow.steps.infer."""

from video_pipeline.workflow.steps import infer

infer(snakemake)  # noqa: F821 (defined by Snakemake)
