"""Config checks of staged tasks, at load: before any model loads, naming the key."""

from __future__ import annotations

from typing import TYPE_CHECKING

from video_pipeline.stages.template import TEMPLATED, TemplateError, parse

if TYPE_CHECKING:
    from video_pipeline.config.schema import Config, TaskSpec


def structure_problems(specs: list[TaskSpec]) -> list[str]:
    """`after` names listed tasks and makes no cycle; templates name only `after` tasks."""
    errs: list[str] = []
    names = [s.name for s in specs]
    for i, spec in enumerate(specs):
        where = f"tasks[{i}] ({spec.name})"
        for up in spec.after or []:
            if up == spec.name:
                errs.append(f"{where}.after names the task itself")
            elif up not in names:
                errs.append(f"{where}.after: {up!r} is not a task of `tasks` ({', '.join(names)})")
        if "tensor_parallel_size" in spec.vllm:
            errs.append(
                f"{where}.vllm.tensor_parallel_size: every task of a rank runs on the rank's "
                "devices; set it in the vllm section"
            )
        if spec.after is None:
            continue  # a first-stage task's prompt is not a template
        for key in TEMPLATED:
            template = spec.task_params.get(key)
            if not isinstance(template, str):
                continue
            try:
                parse(template, list(spec.after))
            except TemplateError as e:
                errs.append(f"{where}.task_params.{key}: {e}")
    if not errs:
        cycle = find_cycle(specs)
        if cycle:
            errs.append(f"tasks: `after` makes a cycle: {' -> '.join(cycle)}")
    return errs


def find_cycle(specs: list[TaskSpec]) -> list[str] | None:
    after = {s.name: list(s.after or []) for s in specs}
    state: dict[str, int] = {}  # 1: on the path, 2: done

    def visit(name: str, path: list[str]) -> list[str] | None:
        if state.get(name) == 1:
            return [*path[path.index(name) :], name]
        if state.get(name) == 2:
            return None
        state[name] = 1
        for up in after.get(name, []):
            found = visit(up, [*path, name])
            if found:
                return found
        state[name] = 2
        return None

    for s in specs:
        found = visit(s.name, [])
        if found:
            return found
    return None


def field_problems(specs: list[TaskSpec], configs: list[Config]) -> list[str]:
    """Each `{task.result.<field>}` is a field of that task's result schema."""
    from video_pipeline.tasks.registry import get_task_class

    by_name = dict(zip([s.name for s in specs], configs, strict=True))
    errs = []
    for i, spec in enumerate(specs):
        if spec.after is None:
            continue
        for key in TEMPLATED:
            template = spec.task_params.get(key)
            if not isinstance(template, str):
                continue
            for ref in parse(template, list(spec.after)):
                if ref.kind != "result":
                    continue
                up = by_name[ref.source]
                fields = get_task_class(up.run.task)(**up.task_kwargs).result_fields()
                if fields is not None and ref.path[0] not in fields:
                    errs.append(
                        f"tasks[{i}] ({spec.name}).task_params.{key}: {ref.placeholder}: "
                        f"{ref.path[0]!r} is not a field of {ref.source}'s result "
                        f"(task {up.run.task}: {', '.join(fields)})"
                    )
    return errs
