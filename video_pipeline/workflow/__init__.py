"""The Snakemake workflow's logic: its config section, sharding, GPU claims, the infer
step, the per-task merge and the run summary. Rules and scripts only wire these up."""
