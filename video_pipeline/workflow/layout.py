"""Where the workflow's files live under `outdir`; one place for rules and steps alike.

    shards/{shard}.jsonl               the input, split by key hash (rows carry __key)
    work/{task}/{shard}/               journals, per-rank stats, the job's launch config
    clips/rows/{shard}.jsonl           with clips on: a shard's clip rows (+ probes/)
    clips/{shard}.jsonl                the clip rows the infer jobs run, by clip-key hash
    parts/{task}/{shard}.jsonl         a finished shard (+ .errors.jsonl, .stats.json)
    results/{task}.jsonl               a finished task (+ .errors.jsonl, .stats.json)
    results/{task}.videos.jsonl        with clips on: one line per video, clips in order
    results/{task}.summary.jsonl       with clips.summary: one summary per video
    work/{task}/summary/               the summary pass's rows, journals and config
    summary.tsv                        one line per task
    report/index.html                  the browsable report (with `report: true`)
    logs/, benchmarks/                 per rule, mirroring the outputs

Journals are never Snakemake outputs: Snakemake deletes the outputs of a failed job,
and the journals are what a rerun resumes from.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Layout:
    outdir: str

    @staticmethod
    def shard_name(i: int) -> str:
        return f"{i:05d}"

    def _p(self, *parts: str) -> str:
        return "/".join([self.outdir.rstrip("/") or ".", *parts])

    def inputs(self) -> str:
        """Where a remote input is copied to."""
        return self._p("inputs")

    def shard(self, shard: str) -> str:
        return self._p("shards", f"{shard}.jsonl")

    def clip_rows(self, shard: str) -> str:
        """The clip rows of input shard `shard` (its videos' clips, in row order)."""
        return self._p("clips", "rows", f"{shard}.jsonl")

    def clip_probes(self, shard: str) -> str:
        return self._p("clips", "probes", f"{shard}.jsonl")

    def clip_shard(self, shard: str) -> str:
        """The clip rows infer job `shard` runs: every clip whose key hashes to it."""
        return self._p("clips", f"{shard}.jsonl")

    def summary_stem(self, task: str) -> str:
        """`data.output_jsonl` whose summary pass journals in work/{task}/summary/."""
        return self._p("work", task, "summary", f"{task}.jsonl")

    def work_dir(self, task: str, shard: str) -> str:
        return self._p("work", task, shard)

    def journal_stem(self, task: str, shard: str) -> str:
        """`data.output_jsonl` of a job: its journals are `<stem>.rank{r}.jsonl`."""
        return self._p("work", task, shard, f"{task}.jsonl")

    def job_config(self, task: str, shard: str) -> str:
        return self._p("work", task, shard, "config.yaml")

    def attempts(self, task: str, shard: str) -> str:
        return self._p("work", task, shard, "attempts.jsonl")

    def part_strips(self, task: str, shard: str) -> str:
        """A part's thumbnails (strips.py): beside its journals, not in parts/, where
        every file is a rule's output (`--forcerun parts/{task}/*`)."""
        return self._p("work", task, shard, f"{task}.part.strips")

    def part(self, task: str, shard: str, suffix: str = ".jsonl") -> str:
        return self._p("parts", task, f"{shard}{suffix}")

    def result(self, task: str, suffix: str = ".jsonl") -> str:
        return self._p("results", f"{task}{suffix}")

    def summary(self) -> str:
        return self._p("summary.tsv")

    def report(self) -> str:
        return self._p("report", "index.html")

    def log(self, rule: str, *parts: str) -> str:
        """logs/<rule>.log, or logs/<rule>/<parts...>.log for a rule with wildcards."""
        if not parts:
            return self._p("logs", f"{rule}.log")
        return self._p("logs", rule, *parts[:-1], f"{parts[-1]}.log")

    def benchmark(self, rule: str, *parts: str) -> str:
        return self._p("benchmarks", rule, *parts[:-1], f"{parts[-1]}.tsv")
