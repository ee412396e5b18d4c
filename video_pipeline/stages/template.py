"""Prompt templates of staged tasks: `{task.text}`, `{task.result.<field>}`, `{raw.<path>}`.

A template is Python format syntax without conversions or format specs (`{{` and `}}`
are literal braces). Each placeholder is a `Ref`; task names may hold dots, so a
placeholder is matched against the names it may use, the longest first.
"""

from __future__ import annotations

import json
import string
from dataclasses import dataclass
from typing import Any

RAW = "raw"
TEMPLATED = ("prompt", "system")  # the task_params a staged task fills per sample


@dataclass(frozen=True)
class Ref:
    source: str  # an upstream task's name, or "raw"
    kind: str  # "text", "result" or "raw"
    path: tuple[str, ...]  # the field path under result / raw
    placeholder: str  # as written, for messages


class TemplateError(ValueError):
    pass


def parse(template: str, names: list[str]) -> list[Ref]:
    """The placeholders of `template`, each resolved against the task names `names`."""
    try:
        parts = list(string.Formatter().parse(template))
    except ValueError as e:
        raise TemplateError(f"not a valid template ({e}); write {{{{ and }}}} for braces") from None
    refs = []
    for _, field, spec, conversion in parts:
        if field is None:
            continue
        shown = "{" + field + "}"
        if spec or conversion:
            raise TemplateError(f"{shown}: conversions and format specs are not supported")
        refs.append(_ref(field, names, shown))
    return refs


def _ref(field: str, names: list[str], shown: str) -> Ref:
    if field == RAW or field.startswith(RAW + "."):
        path = tuple(field.split(".")[1:])
        if not path or not all(path):
            raise TemplateError(f"{shown}: name a field of the input row, as {{raw.title}}")
        return Ref(RAW, RAW, path, shown)
    for name in sorted(names, key=len, reverse=True):
        if field.startswith(name + "."):
            rest = field[len(name) + 1 :].split(".")
            if rest == ["text"]:
                return Ref(name, "text", (), shown)
            if rest[0] == "result" and len(rest) > 1 and all(rest[1:]):
                return Ref(name, "result", tuple(rest[1:]), shown)
            raise TemplateError(
                f"{shown}: a task's answer is {{{name}.text}} or {{{name}.result.<field>}}"
            )
    listed = ", ".join(names) or "(none)"
    raise TemplateError(
        f"{shown} names no task of `after` ({listed}) and not raw; "
        "a prompt may use only the tasks listed in `after`"
    )


def render(template: str, values: dict[str, str]) -> str:
    """`template` with each placeholder (as written) replaced by `values[placeholder]`."""
    out = []
    for literal, field, _, _ in string.Formatter().parse(template):
        out.append(literal)
        if field is not None:
            out.append(values["{" + field + "}"])
    return "".join(out)


def as_text(value: Any) -> str:
    """A value as it reads in a prompt: strings as they are, lists joined, the rest JSON."""
    if isinstance(value, str):
        return value
    if isinstance(value, list) and all(isinstance(v, (str, int, float)) for v in value):
        return ", ".join(str(v) for v in value)
    return json.dumps(value, ensure_ascii=False)


def lookup(value: Any, path: tuple[str, ...]) -> tuple[bool, Any]:
    """(found, value) of a dotted path into nested mappings."""
    for part in path:
        if not isinstance(value, dict) or part not in value:
            return False, None
        value = value[part]
    return True, value
