"""Stages in the workflow: configs/stages.yaml over the demo (a second VLM pass and a
rewrite on the tiny text model that rule demo_text_model builds).

One working directory (module-scoped): dry runs of configs/stages.yaml (two shards) show
what depends on what; one real run of two of its stages (describe, then the rewrite on
the text model; one shard, so two engine start-ups) is checked by several tests, and
dry runs after it show what a changed prompt reruns. The other stages run for real in
tests/e2e/test_stages_e2e.py.
"""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.helpers import REPO
from tests.workflow.smk import jobs_run, read_records, run_snakemake, write_yaml
from video_pipeline.fixtures.videos import write_input_jsonl

pytestmark = pytest.mark.e2e

STAGES = REPO / "configs" / "stages.yaml"
REWRITE = "Title: {raw.meta.id}\nCaption: {describe.text}\nWrite one caption."
UNTITLED = 3  # the row whose meta has no id: t2v_caption's template names raw.meta.id


class Run:
    def __init__(self, workdir: Path, overlay: dict[str, Any], env: dict[str, str]) -> None:
        self.dir, self.out, self.overlay, self.env = workdir, workdir / "out", overlay, env
        self.step = 0

    def snakemake(self, *args: str, targets: tuple[str, ...] = ()) -> subprocess.CompletedProcess:
        self.step += 1
        overlay = write_yaml(self.dir / f"overlay{self.step}.yaml", self.overlay)
        return run_snakemake(
            self.dir, [STAGES, overlay], "--cores", "2", *args, env=self.env, targets=targets
        )

    def merged(self, task: str, part: str | None = None) -> dict[str, dict]:
        """A task's results, or one part of it."""
        stem = self.out / "results" / task if part is None else self.out / "parts" / task / part
        recs = read_records(Path(f"{stem}.jsonl")) + read_records(Path(f"{stem}.errors.jsonl"))
        return {r["__key"]: r for r in recs}


@pytest.fixture(scope="module")
def run(tmp_path_factory, tiny_model: Path, video_dir: Path, sm_env: dict) -> Run:
    workdir = tmp_path_factory.mktemp("wf-stages")
    videos = sorted(video_dir.glob("*.mp4"))[:6]
    rows = workdir / "input.jsonl"
    write_input_jsonl(rows, videos)
    lines = rows.read_text().splitlines()
    untitled = json.loads(lines[UNTITLED])
    del untitled["meta"]["id"]
    lines[UNTITLED] = json.dumps(untitled)
    rows.write_text("\n".join(lines) + "\n")
    overlay = {
        "input": str(rows),
        "outdir": "out",
        "vllm": {"model": str(tiny_model)},
        "run": {"fsync_every": 1},
    }
    return Run(workdir, overlay, sm_env)


def _infer_inputs(proc: subprocess.CompletedProcess) -> dict[tuple[str, str], set[str]]:
    """(task, shard) -> the input files of each infer job of a dry run."""
    out = {}
    for block in re.split(r"\n(?=(?:local)?rule )", proc.stdout + proc.stderr):
        if not block.startswith("rule infer:"):
            continue
        inputs = re.search(r"^\s*input: (.*)$", block, re.M).group(1).split(", ")
        wc = dict(kv.split("=") for kv in re.search(r"wildcards: (.*)", block).group(1).split(", "))
        out[(wc["task"], wc["shard"])] = set(inputs)
    return out


def test_a_downstream_infer_job_needs_the_upstream_parts_of_its_shard_only(run):
    jobs = _infer_inputs(run.snakemake("-n"))
    for shard in ("00000", "00001"):
        parts = {f"out/parts/{t}/{shard}.jsonl" for t in ("describe", "structured_caption")}
        assert parts | {"demo/tiny-qwen3-text"} <= jobs[("t2v_caption", shard)]
        assert not any("results" in f for f in jobs[("t2v_caption", shard)])
        assert f"out/parts/describe/{shard}.jsonl" in jobs[("describe_v2", shard)]
    other = {f for f in jobs[("t2v_caption", "00000")] if "00001" in f}
    assert not other
    # targeting the rewrite builds what it needs, and not describe_v2
    dry = jobs_run(run.snakemake("-n", targets=("out/results/t2v_caption.jsonl",)))
    tasks = {re.search(r"task=([\w.-]+)", j).group(1) for j in dry if j.startswith("infer")}
    assert tasks == {"describe", "structured_caption", "t2v_caption"}
    assert "demo_text_model" in dry


def _two_stages(rewrite: str = REWRITE, describe: str = "Describe this video.") -> list[dict]:
    stages = {t["name"]: t for t in yaml.safe_load(STAGES.read_text())["tasks"]}
    t2v = stages["t2v_caption"]
    t2v.update(after=["describe"], task_params={"prompt": rewrite})
    return [{"name": "describe", "task_params": {"prompt": describe}}, t2v]


@pytest.fixture(scope="module")
def done(run) -> subprocess.CompletedProcess:
    run.overlay.update(num_shards=1, tasks=_two_stages())
    # the rewrite's results: its infer job after describe's part, no describe merge
    return run.snakemake(targets=("out/results/t2v_caption.jsonl",))


def test_every_task_has_each_key_once_and_records_carry_their_upstream(run, done):
    merged = {"describe": run.merged("describe", "00000"), "t2v_caption": run.merged("t2v_caption")}
    assert not (run.out / "results" / "describe.jsonl").exists()  # not needed, not built
    keys = set(merged["describe"])
    assert len(keys) == 6 and set(merged["t2v_caption"]) == keys
    t2v = merged["t2v_caption"]
    untitled = [k for k in keys if "id" not in merged["describe"][k]["raw"]["meta"]]
    assert len(untitled) == 1 and t2v[untitled[0]]["error"]["kind"] == "missing_field"
    for key, rec in t2v.items():
        if key in untitled:
            continue
        up = merged["describe"][key]
        assert rec["status"] == "ok" and rec["task"] == "rewrite", rec
        assert rec["upstream"] == {"describe": {"text": up["text"], "result": up["result"]}}
    assert (run.dir / "demo" / "tiny-qwen3-text" / "config.json").exists()
    assert not (run.dir / "demo" / "tiny-qwen2.5-vl").exists()  # the fixture's model ran


def _changed(run, **prompts: str) -> set[str]:
    """The tasks whose infer jobs a dry run with other prompts would run."""
    run.overlay["tasks"] = _two_stages(**prompts)
    jobs = jobs_run(run.snakemake("-n"))
    return {re.search(r"task=([\w.-]+)", j).group(1) for j in jobs if j.startswith("infer")}


def test_a_changed_prompt_reruns_the_task_and_what_is_after_it(run, done):
    assert _changed(run, rewrite=REWRITE + " Be brief.") == {"t2v_caption"}
    assert _changed(run, describe="Describe it.") == {"describe", "t2v_caption"}
