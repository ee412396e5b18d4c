"""Rule rollup: see video_pipeline.workflow.steps.rollup."""

from video_pipeline.workflow.steps import rollup

rollup(snakemake)  # noqa: F821 (defined by Snakemake)
