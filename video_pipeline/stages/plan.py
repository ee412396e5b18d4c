"""Linking staged tasks to their upstream, and the order stages run in.

A staged task's single-task config names its upstream in `task_params.dataset.upstream`:
`{task: {fingerprint, records}}`. The upstream fingerprints are part of the task's
fingerprint (a changed upstream prompt reruns every task after it, and nothing else);
`records` (where the upstream records are read from: a launch output's journals, a
workflow part) is a path, left out of the fingerprint like every path.
"""

from __future__ import annotations

import copy
import json
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from video_pipeline.config.schema import Config, TaskSpec

UPSTREAM = "upstream"  # the key under task_params.dataset
RECORDS = "records"


def upstream_of(cfg: Config) -> dict[str, dict[str, Any]]:
    """{task: {fingerprint, records}} of a staged single-task config; {} otherwise."""
    return dict(cfg.dataset_params.get(UPSTREAM) or {})


def is_staged(cfg: Config) -> bool:
    return UPSTREAM in cfg.dataset_params


FRAMELESS = ("text", "audio")  # datasets that decode no frame: `rewrite`'s, `transcribe`'s


def is_text_only(cfg: Config) -> bool:
    """A task whose dataset decodes no frame (a `rewrite`, a `transcribe`): its model
    needs no vision."""
    from video_pipeline.tasks.registry import get_task_class

    return get_task_class(cfg.run.task).dataset_name in FRAMELESS


def fingerprinted(task_params: dict[str, Any]) -> dict[str, Any]:
    """`task_params` as the fingerprint sees it: the upstream's records paths left out."""
    ds = task_params.get("dataset")
    if not isinstance(ds, dict) or not isinstance(ds.get(UPSTREAM), dict):
        return task_params
    ups = {
        name: {k: v for k, v in up.items() if k != RECORDS} if isinstance(up, dict) else up
        for name, up in ds[UPSTREAM].items()
    }
    return {**task_params, "dataset": {**ds, UPSTREAM: ups}}


def topological(specs: list[TaskSpec]) -> list[int]:
    """Indices of `specs`, each after the tasks of its `after` (stable otherwise)."""
    index = {s.name: i for i, s in enumerate(specs)}
    done: list[int] = []
    seen: set[int] = set()

    def visit(i: int) -> None:
        if i in seen:
            return
        seen.add(i)
        for up in specs[i].after or []:
            visit(index[up])
        done.append(i)

    for i in range(len(specs)):
        visit(i)
    return done


def link(specs: list[TaskSpec], configs: list[Config]) -> list[Config]:
    """`configs` (one per spec) with each staged task's upstream filled in."""
    from video_pipeline.fingerprint import fingerprint

    if all(s.after is None for s in specs):
        return configs
    out = list(configs)
    names = [s.name for s in specs]
    fps: dict[str, str] = {}
    for i in topological(specs):
        spec = specs[i]
        if spec.after is not None:
            ups = {
                up: {
                    "fingerprint": fps[up],
                    RECORDS: out[names.index(up)].data.output_jsonl,
                }
                for up in spec.after
            }
            out[i] = with_upstream(out[i], ups)
        fps[spec.name] = fingerprint(out[i])
    return out


def with_upstream(cfg: Config, ups: dict[str, dict[str, Any]]) -> Config:
    params = copy.deepcopy(cfg.task_params)
    params["dataset"] = {**(params.get("dataset") or {}), UPSTREAM: ups}
    return cfg.model_copy(update={"task_params": params})


def with_records(cfg: Config, records: dict[str, str]) -> Config:
    """A staged config reading its upstream from `records` ({task: path}) instead."""
    ups = {
        name: {**up, RECORDS: records.get(name, up.get(RECORDS))}
        for name, up in upstream_of(cfg).items()
    }
    return with_upstream(cfg, ups) if ups else cfg


def waves(specs: list[TaskSpec], configs: list[Config]) -> list[list[int]]:
    """The order a rank runs the tasks in: groups of task indices, each group run
    together on one engine (one decode shared where their datasets agree).

    A group is a set of tasks of one depth (tasks of `after` all in earlier depths)
    on the same engine settings; within a depth, the group on the engine just used
    comes first, so each change of model loads one engine."""
    depth: dict[str, int] = {}
    for i in topological(specs):
        depth[specs[i].name] = 1 + max((depth[u] for u in specs[i].after or []), default=-1)
    groups: list[list[int]] = []
    last = None
    for d in sorted(set(depth.values())):
        at = [i for i, s in enumerate(specs) if depth[s.name] == d]
        keys: dict[str, list[int]] = {}
        for i in at:
            keys.setdefault(group_key(configs[i]), []).append(i)
        ordered = sorted(keys.values(), key=lambda idx: engine_key(configs[idx[0]]) != last)
        for idx in ordered:
            groups.append(idx)
            last = engine_key(configs[idx[0]])
    return groups


def engine_key(cfg: Config) -> str:
    """Tasks with equal keys share an engine: the same model and engine settings."""
    return json.dumps(cfg.vllm.model_dump(), sort_keys=True, default=str)


def group_key(cfg: Config) -> str:
    """Tasks run together: one engine, and datasets that can share a decode (frames,
    frames and audio, audio alone: data/shared.py `decode_kind`)."""
    from video_pipeline.data.registry import get_dataset_class
    from video_pipeline.data.shared import decode_kind
    from video_pipeline.tasks.registry import get_task_class

    dataset = get_dataset_class(get_task_class(cfg.run.task).dataset_name)
    return engine_key(cfg) + "|" + decode_kind(dataset)
