"""Rule report: see video_pipeline.workflow.steps.report."""

from video_pipeline.workflow.steps import report

report(snakemake)  # noqa: F821 (defined by Snakemake)
