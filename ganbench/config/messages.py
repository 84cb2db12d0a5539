"""Pydantic's errors as one line per problem: ``file: run 'x': a.b: problem (allowed:
...) (got ...)``, with discriminated-union tags left out of the path."""

from __future__ import annotations

import difflib
import types
import typing
from collections.abc import Callable, Iterable
from typing import Annotated, Any, Union

from pydantic import BaseModel, ValidationError

from ganbench.config.bounds import clip, echo


def describe(
    err: ValidationError,
    prefix: str | Callable[[str], str],
    root: type[BaseModel],
    overrides: Iterable = (),
) -> str:
    """One line per problem: ``field.path: problem (allowed: ...) (got ...)``, led by
    ``prefix`` (or what ``prefix(path)`` says the field came from); a field a ``--set``
    gave is blamed on that override (``--set model.widht=2: ...``), not on the file."""
    set_values = {p: v for p, v in overrides}
    lines = []
    for e in err.errors():
        path, model = _walk(root, e["loc"])
        choices = _section_names(model, e["loc"])
        text = _problem(e, model, choices)
        if path in set_values:
            lines.append(f"{_override(path, set_values[path])}: {text}")
            continue
        inside = [p for p in set_values if path and p.startswith(f"{path}.")]
        if inside:  # a section's own check, failed by a field a --set changed
            shown = ", ".join(_override(p, set_values[p]) for p in inside)
            lines.append(f"{shown}: {path}: {text}")
            continue
        lead = prefix(path) if callable(prefix) else prefix
        lines.append(f"{lead}{path}: {text}" if path else f"{lead}{text}")
    return "\n".join(lines)


def _override(path: str, value: Any) -> str:
    return f"--set {path}={clip(value) if isinstance(value, str) else echo(value)}"


def closest(word: str, choices: list[str]) -> str:
    """`` (did you mean `width`?)`` for a near miss among ``choices``, else ``""``."""
    lowered = {choice.lower(): choice for choice in choices}  # SRFB is srfb mistyped
    close = difflib.get_close_matches(word.lower(), list(lowered), n=1, cutoff=0.6)
    return f" (did you mean `{lowered[close[0]]}`?)" if close else ""


def _section_names(model: type[BaseModel] | None, loc: tuple[Any, ...]) -> list[str]:
    """The registered names a named section (dataset, model ...) at ``loc`` can take."""
    field = model.model_fields.get(str(loc[-1])) if model is not None and loc else None
    if field is None:
        return []
    members = [m for m in _members(field.annotation) if isinstance(m, type)]
    return [
        m.model_fields["name"].default
        for m in members
        if issubclass(m, BaseModel) and "name" in m.model_fields
    ]


def _problem(e: dict[str, Any], model: type[BaseModel] | None, choices: list[str]) -> str:
    kind, ctx = e["type"], e.get("ctx", {})
    if kind == "extra_forbidden":
        allowed = ", ".join(model.model_fields) if model else "see the README"
        guess = closest(str(e["loc"][-1]), list(model.model_fields) if model else [])
        return f"unknown field{guess} (allowed: {allowed})"
    if kind == "union_tag_invalid":
        tags = ctx.get("expected_tags", "").replace("'", "")
        guess = closest(str(ctx.get("tag")), [t.strip() for t in tags.split(",")])
        return f"unknown {ctx.get('tag')!r}{guess} (choose: {tags})"
    if kind == "union_tag_not_found":
        return "missing name" + (f" (choose: {', '.join(choices)})" if choices else "")
    if kind == "missing":
        return "required field missing"
    message = e["msg"].removeprefix("Value error, ")
    got = e.get("input")
    if kind != "value_error" and not isinstance(got, dict):
        message += f" (got {echo(got)})"
    return message


def _walk(root: type[BaseModel], loc: tuple[Any, ...]) -> tuple[str, type[BaseModel] | None]:
    """Readable dotted path for a pydantic ``loc`` and the model holding its last field.

    Discriminated unions put the tag (e.g. ``srfb``) in ``loc``; it is not printed.
    """
    parts: list[str] = []
    model: type[BaseModel] | None = root
    holder: type[BaseModel] | None = root
    annotation: Any = None
    for item in loc:
        if isinstance(item, int):
            parts[-1:] = [f"{parts[-1] if parts else ''}[{item}]"]
            annotation = _inner(annotation)
            model = _as_model(annotation, None)
            continue
        if model is None and annotation is not None:
            tagged = _as_model(annotation, item)
            if tagged is not None:
                model, annotation = tagged, None
                continue
        parts.append(str(item))
        holder = model
        field = model.model_fields.get(item) if model is not None else None
        annotation = field.annotation if field is not None else None
        model = _as_model(annotation, None) if field is not None else None
    return ".".join(parts), holder


def _members(annotation: Any) -> list[Any]:
    origin = typing.get_origin(annotation)
    if origin is Annotated:
        return _members(typing.get_args(annotation)[0])
    if origin in (Union, types.UnionType):
        return [m for a in typing.get_args(annotation) for m in _members(a)]
    return [annotation]


def _inner(annotation: Any) -> Any:
    for member in _members(annotation):
        args = typing.get_args(member)
        if typing.get_origin(member) in (list, tuple) and args:
            return args[0]
    return None


def _as_model(annotation: Any, tag: Any) -> type[BaseModel] | None:
    models = [m for m in _members(annotation) if isinstance(m, type) and issubclass(m, BaseModel)]
    if tag is None:
        return models[0] if len(models) == 1 else None
    for m in models:
        if m.model_fields.get("name") is not None and m.model_fields["name"].default == tag:
            return m
    return None
