"""Rule demo_whisper: see video_pipeline.workflow.steps.demo_whisper."""

from video_pipeline.workflow.steps import demo_whisper

demo_whisper(snakemake)  # noqa: F821 (defined by Snakemake)
