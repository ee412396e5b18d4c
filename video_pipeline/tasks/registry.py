"""Task registry: `@register_task` on a `Task` subclass registers it under `Task.name`."""

from __future__ import annotations

from video_pipeline.registry import Registry, RegistryError
from video_pipeline.tasks.base import Task

TASKS: Registry[type[Task]] = Registry("task", base_cls=Task)


def register_task(cls: type[Task]) -> type[Task]:
    TASKS.check(cls)
    if not cls.name:
        raise RegistryError(f"{cls.__qualname__} must set a non-empty `name` to be registered")
    return TASKS.add(cls.name, cls)


def get_task_class(name: str) -> type[Task]:
    import video_pipeline.tasks  # noqa: F401  (built-ins register on import)

    return TASKS.get(name)


def available_tasks() -> list[str]:
    import video_pipeline.tasks  # noqa: F401

    return TASKS.names()
