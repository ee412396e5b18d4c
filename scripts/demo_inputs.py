"""Rule demo_inputs: see video_pipeline.workflow.steps.demo_inputs."""

from video_pipeline.workflow.steps import demo_inputs

demo_inputs(snakemake)  # noqa: F821 (defined by Snakemake)
