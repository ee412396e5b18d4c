"""Config problems as messages: pydantic's errors in the project's words.

Every message names the key path, the value found and what is allowed
(`vision.fps must be > 0, got -1.0`); all problems of a config are reported at once.
"""

from __future__ import annotations

import types
import typing
from dataclasses import dataclass
from typing import Any, Literal, get_args, get_origin

import annotated_types as at
from pydantic import BaseModel, ValidationError
from pydantic.fields import FieldInfo
from pydantic_core import PydanticCustomError

PROBLEMS = "config_problems"  # error type of a validator's own, fully worded messages


class ConfigError(ValueError):
    """A config that cannot run; `problems` holds one message per bad key."""

    def __init__(self, problems: list[str], source: str | None = None) -> None:
        self.problems = problems
        where = f" in {source}" if source else ""
        lines = "\n".join(f"  - {p}" for p in problems)
        super().__init__(f"invalid config{where}:\n{lines}")


@dataclass(frozen=True)
class Says:
    """How a field's constraint reads: `{key} must {must}{note}, got {value:{fmt}}`.

    `must` defaults to `be {bound}` (`be >= 1`, `be in (0, 1]`); one without `{bound}`
    also replaces the type's wording (`be an integer`). `got=False` leaves the value out.
    """

    must: str = ""
    note: str = ""
    fmt: str = ""
    got: bool = True


def problem_error(problems: list[str], relative: bool = False) -> PydanticCustomError:
    """A validator's messages, carried through pydantic unchanged; `relative` ones
    (`must be ...`) follow the key path of where they were raised."""
    ctx = {"problems": problems, "relative": relative}
    return PydanticCustomError(PROBLEMS, "{problems}", ctx)


def problems(
    err: ValidationError,
    model: type[BaseModel],
    data: Any,
    prefix: str = "",
    unknown: typing.Callable[[str, list[str]], str] | None = None,
) -> list[str]:
    """One message per error of `err`, raised validating `data` as `model`.

    Keys are named under `prefix`; `unknown(key, allowed)` words an unknown key of the
    top level (default: `prefix.key is not a known key`).
    """
    out: list[str] = []
    for e in err.errors(include_url=False):
        if e["type"] == PROBLEMS:
            path = _locate(e, model, data, prefix)[0] if e["ctx"]["relative"] else ""
            found = [f"{path} {p}" if path else p for p in e["ctx"]["problems"]]
        else:
            found = [_message(e, model, data, prefix, unknown)]
        out += [p for p in found if p not in out]
    return out


def _locate(e: dict, model: type[BaseModel], data: Any, prefix: str) -> tuple:
    """(key path, field, its type, the value given, the rest of the error's location):
    the deepest model field the error is under (not inside a list or mapping value)."""
    cls: Any = model
    field: FieldInfo | None = None
    parts = [prefix] if prefix else []
    value = data
    loc = list(e["loc"])
    while loc:
        step = loc[0]
        inner = _model_of(cls)
        if inner is not None and isinstance(step, str) and step in inner.model_fields:
            field = inner.model_fields[step]
            cls = field.annotation
        elif isinstance(step, int) and _model_of(_item_type(cls)) is not None:
            cls = _item_type(cls)
            field = None
        else:
            break
        loc.pop(0)
        parts.append(f"[{step}]" if isinstance(step, int) else str(step))
        value = value.get(step) if isinstance(value, dict) else _item(value, step)
    return ".".join(parts).replace(".[", "["), field, cls, value, loc


def _message(e: dict, model: type[BaseModel], data: Any, prefix: str, unknown: Any) -> str:
    path, field, cls, value, loc = _locate(e, model, data, prefix)
    parts = path.split(".") if path else []
    kind = e["type"]
    if kind == "extra_forbidden":
        key, owner = str(loc[-1] if loc else e["loc"][-1]), _model_of(cls) or model
        allowed = list(owner.model_fields)
        if len(e["loc"]) == 1 and unknown is not None:
            return unknown(key, allowed)
        close = [k for k in allowed if k.startswith(key[:3])]
        hint = f" (did you mean {', '.join(close)}?)" if close else ""
        where = f"{path}.{key}" if path else key
        return f"{where} is not a known key{hint}; allowed: {', '.join(allowed)}"
    if kind == "missing":
        return f"{path} is required"
    if kind in ("model_type", "model_attributes_type") or (
        kind == "dict_type" and len(parts) == 1 and field is not None
    ):
        return f"{path} must be a mapping, got {type(value).__name__}"
    says = _says(field)
    value = _as_declared(value, field)
    if kind in _BOUNDS or (says.must and "{bound}" not in says.must):
        must = (says.must or "be {bound}").format(bound=_bound(field))
        fmt = says.fmt if isinstance(value, (int, float)) else ""
        shown = repr(value) if isinstance(value, str) else f"{value:{fmt}}"
    else:
        must = f"be {describe(field.annotation if field else cls, value)}"
        shown = repr(value)
    got = f", got {shown}" if says.got else ""
    return f"{path} must {must}{says.note}{got}"


_BOUNDS = {
    "greater_than",
    "greater_than_equal",
    "less_than",
    "less_than_equal",
    "finite_number",
    "too_short",
    "string_too_short",
    "string_pattern_mismatch",
}


def _item(value: Any, step: Any) -> Any:
    try:
        return value[step]
    except (TypeError, IndexError, KeyError):
        return None


def _item_type(tp: Any) -> Any:
    tp = _strip(tp)
    return get_args(tp)[0] if get_origin(tp) is list else None


def _strip(tp: Any) -> Any:
    """The type under Annotated[...] and `X | None`."""
    if get_origin(tp) is typing.Annotated:
        tp = get_args(tp)[0]
    if get_origin(tp) in (typing.Union, types.UnionType):
        args = [a for a in get_args(tp) if a is not type(None)]
        if len(args) == 1:
            return _strip(args[0])
    return tp


def _model_of(tp: Any) -> type[BaseModel] | None:
    tp = _strip(tp)
    return tp if isinstance(tp, type) and issubclass(tp, BaseModel) else None


def _says(field: FieldInfo | None) -> Says:
    meta = field.metadata if field else []
    return next((m for m in meta if isinstance(m, Says)), Says())


def _as_declared(value: Any, field: FieldInfo | None) -> Any:
    """An int given for a float field reads as the float it became."""
    is_int = isinstance(value, int) and not isinstance(value, bool)
    if (
        is_int
        and field is not None
        and float in (_strip(field.annotation), *get_args(field.annotation))
    ):
        return float(value)
    return value


def _bound(field: FieldInfo | None) -> str:
    """`> 0`, `>= 1` or `in (0, 1]`, from the field's constraints."""
    meta = field.metadata if field else []
    lo = next((m for m in meta if isinstance(m, (at.Gt, at.Ge))), None)
    hi = next((m for m in meta if isinstance(m, (at.Lt, at.Le))), None)
    lo_v = getattr(lo, "gt", getattr(lo, "ge", None))
    hi_v = getattr(hi, "lt", getattr(hi, "le", None))
    if lo is not None and hi is not None:
        left = "(" if isinstance(lo, at.Gt) else "["
        right = ")" if isinstance(hi, at.Lt) else "]"
        return f"in {left}{lo_v}, {hi_v}{right}"
    if lo is not None:
        return f"{'>' if isinstance(lo, at.Gt) else '>='} {lo_v}"
    if hi is not None:
        return f"{'<' if isinstance(hi, at.Lt) else '<='} {hi_v}"
    return "valid"


def describe(tp: Any, value: Any = None) -> str:
    """What a type hint allows, in words (`an integer or null`)."""
    if get_origin(tp) is typing.Annotated:
        tp = get_args(tp)[0]
    origin = get_origin(tp)
    if origin in (typing.Union, types.UnionType):
        return " or ".join("null" if a is type(None) else describe(a, value) for a in get_args(tp))
    if origin is Literal:
        return f"one of {', '.join(map(str, get_args(tp)))}"
    if origin is list:
        (item,) = get_args(tp)
        return f"a list of {getattr(_strip(item), '__name__', item)}"
    if origin is dict:
        key_t, val_t = get_args(tp)
        if val_t is Any or not isinstance(value, dict):
            return "a mapping"
        return f"a mapping of {key_t.__name__} to {getattr(val_t, '__name__', 'mapping')}"
    names = {bool: "true or false", int: "an integer", float: "a number", str: "a string"}
    if tp in names:
        return names[tp]
    if _model_of(tp) is not None:
        return "a mapping"
    return getattr(tp, "__name__", str(tp))
