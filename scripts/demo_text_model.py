"""Rule demo_text_model: see video_pipeline.workflow.steps.demo_text_model."""

from video_pipeline.workflow.steps import demo_text_model

demo_text_model(snakemake)  # noqa: F821 (defined by Snakemake)
