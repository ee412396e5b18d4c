import os
import re
import sys

# The package that holds the logic sits next to this workflow; jobs inherit the path.
sys.path.insert(0, workflow.basedir)

from video_pipeline.workflow.settings import (
    SHARED,
    load_workflow,
    missing_input_message,
    missing_model_message,
    with_local_input,
)
from video_pipeline.workflow.summary import print_summary

# The whole config is validated here, when the DAG is parsed: a bad key fails before
# any job starts, naming the key path, the bad value and what is allowed. A remote
# input is then copied under outdir (the shard jobs read the copy).
WF = with_local_input(load_workflow(config))
LAYOUT = WF.layout
DEMO_INPUT = "demo/input.jsonl"  # written by rule demo_inputs (configs/demo.yaml)
DEMO_TEXT_MODEL = "demo/tiny-qwen3-text"  # rule demo_text_model (configs/stages.yaml)
DEMO_WHISPER = "demo/tiny-whisper"  # rule demo_whisper (configs/transcribe.yaml)

if not os.path.exists(WF.settings.input) and WF.settings.input != DEMO_INPUT:
    sys.exit(missing_input_message(WF.settings.input))
if missing_model_message(WF):
    sys.exit(missing_model_message(WF))
SOFTWARE = "../envs/video-pipeline.yaml"


# Cheap steps run on the submitting machine, not as cluster jobs.
localrules:
    all,
    summary,
    quality,
    demo_inputs,
    clip_shards,


wildcard_constraints:
    task="|".join(map(re.escape, WF.task_names)),
    shard=r"\d{5}",


def final_outputs():
    page = [LAYOUT.report()] if WF.settings.report else []
    return [LAYOUT.result(t) for t in WF.task_names] + clip_outputs() + [LAYOUT.summary(), *page]


def clip_outputs():
    """With clips on: each task's roll-up per video, and its summaries if asked for."""
    suffixes = [".videos.jsonl"] if WF.clips.enabled else []
    suffixes += [".summary.jsonl"] if WF.clips.summary else []
    return [LAYOUT.result(t, s) for t in WF.task_names for s in suffixes]


def shard_outputs(suffix):
    """Input function: the finished shards of a task, one file per shard."""
    return lambda wildcards: [LAYOUT.part(wildcards.task, s, suffix) for s in WF.shards]


def upstream_parts(wildcards):
    """Input function: the parts of the same shard of the tasks in the task's `after`
    (not their merged results), so stages pipeline across shards."""
    if WF.settings.share_decode:
        return []
    parts = [LAYOUT.part(up, wildcards.shard) for up in WF.after(wildcards.task)]
    if WF.configs[wildcards.task].vllm.model in (DEMO_TEXT_MODEL, DEMO_WHISPER):
        parts.append(WF.configs[wildcards.task].vllm.model)  # the demo builds it first
    return parts


def task_fingerprint(wildcards):
    """What identifies a task's answers; a change reruns its jobs (params trigger)."""
    return WF.fingerprint(wildcards.task)


def summary_fingerprint(wildcards):
    """What identifies a task's summaries; a change reruns its summary pass."""
    return WF.summary_fingerprint(wildcards.task)


def all_fingerprints(wildcards):
    """share_decode: a change of any task's answers reruns the shard's job (the other
    tasks resume from their journals, so only the changed task is run again)."""
    return " ".join(f"{t}={WF.fingerprint(t)}" for t in WF.task_names)


def quality_thresholds(wildcards):
    """The task's quality settings: a change reruns its checks, never its inference."""
    return WF.quality_settings(wildcards.task)


onsuccess:
    print_summary([LAYOUT.result(t, ".stats.json") for t in WF.task_names])
