"""One line for a schema error: the file, the dotted key the user wrote, the value and what was expected.

Used by every YAML file the tool reads (case, study, validation and calibration files). Pydantic reports a
discriminated union (``geometry``, ``boundary_conditions.N``, ...) with the member's tag inside the location
(``geometry.femoral_condyle.condyle_width``); the line shows the key as written (``geometry.condyle_width``)
and the keys allowed in that member. When the discriminator ``kind`` itself is missing or wrong, the line
names ``<section>.kind`` first, with the tags it may take and a close match of what was written, since every
other key of the section only fails because of it.
"""

from __future__ import annotations

import difflib
import re
import typing
from typing import Annotated, Any, Literal

from pydantic import BaseModel

DISCRIMINATOR = "kind"


def models_in(annotation: Any) -> list[type[BaseModel]]:
    """The pydantic models an annotation holds (through Annotated, unions, Optional, tuple[...], dict[...])."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return [annotation]
    if typing.get_origin(annotation) is Annotated:
        return models_in(typing.get_args(annotation)[0])
    return [model for arg in typing.get_args(annotation) for model in models_in(arg)]


def tag_of(model: type[BaseModel]) -> str | None:
    """The ``kind`` literal that selects ``model`` in a discriminated union (None if it has none)."""
    field = model.model_fields.get(DISCRIMINATOR)
    if field is None or typing.get_origin(field.annotation) is not Literal:
        return None
    tags = typing.get_args(field.annotation)
    return tags[0] if len(tags) == 1 else None


def _section(model: type[BaseModel], location: tuple) -> tuple[tuple, list[type[BaseModel]]]:
    """Walk ``location`` from ``model``: (the location as the user wrote it, the models the last section may be).

    A union member's tag in the location selects that member and is left out of the written location.
    """
    written: list = []
    candidates = [model]
    for part in location:
        by_tag = {tag_of(m): m for m in candidates}
        if len(candidates) > 1 and isinstance(part, str) and part in by_tag:
            candidates = [by_tag[part]]
            continue
        written.append(part)
        if isinstance(part, int):
            continue
        fields = [m.model_fields[part] for m in candidates if part in m.model_fields]
        if not fields:
            break
        candidates = models_in(fields[0].annotation) or candidates
    return tuple(written), candidates


def _close(word: str, choices: typing.Iterable[str]) -> str:
    match = difflib.get_close_matches(str(word), list(choices), n=1, cutoff=0.6)
    return f"; did you mean '{match[0]}'?" if match else ""


def _dotted(location: tuple) -> str:
    return ".".join(str(part) for part in location)


def _missing_discriminator(key: str, value: object, members: list[type[BaseModel]]) -> str:
    """``<key>.kind`` is missing: the tags, a written key close to ``kind``, and the tags whose keys fit."""
    tags = [tag for tag in map(tag_of, members) if tag]
    line = f"key '{key}.{DISCRIMINATOR}' is missing; expected one of {', '.join(tags)}"
    if isinstance(value, dict):
        keys = [str(k) for k in value]
        misspelt = difflib.get_close_matches(DISCRIMINATOR, keys, n=1, cutoff=0.5)
        if misspelt:
            line += f" (the key '{misspelt[0]}' looks like a misspelt '{DISCRIMINATOR}')"
        others = [k for k in keys if k not in misspelt]
        fitting = [tag_of(m) for m in members if others and all(k in m.model_fields for k in others)]
        if 0 < len(fitting) < len(members):
            line += f"; the other keys fit {DISCRIMINATOR}: {' or '.join(t for t in fitting if t)}"
    return line


def describe_error(error: dict, source: str, model: type[BaseModel]) -> str:
    """One line for a pydantic error of ``model`` read from ``source`` (a file name)."""
    location, candidates = _section(model, tuple(error["loc"]))
    key = _dotted(location) or "(top level)"
    value = error.get("input")
    kind = error["type"]
    if kind == "extra_forbidden":
        allowed = sorted({name for m in candidates[:1] for name in m.model_fields})
        return f"{source}: unknown key '{key}' (allowed here: {', '.join(allowed)}){_close(location[-1], allowed)}"
    if kind == "union_tag_not_found":
        return f"{source}: {_missing_discriminator(key, value, candidates)}"
    if kind == "union_tag_invalid":
        tag = error["ctx"]["tag"]
        tags = [t for t in map(tag_of, candidates) if t]
        return f"{source}: key '{key}.{DISCRIMINATOR}' = {tag!r}: expected one of {', '.join(tags)}{_close(tag, tags)}"
    message = re.sub(r"^(Value|Assertion) error, ", "", error["msg"])
    if not location or message.startswith(key):
        return f"{source}: {message}"
    if kind == "missing" or isinstance(value, (dict, list, tuple)):
        return f"{source}: key '{key}': {message}"
    return f"{source}: key '{key}' = {value!r}: {message}"


def first_error(errors: list[dict], source: str, model: type[BaseModel]) -> str:
    """The line of the error that explains the others, with the count of the rest.

    A wrong or missing discriminator comes first (the section's other keys fail because of it), then an
    unknown key (a misspelt key explains a missing one), then the first error pydantic reports.
    """
    rank = {"union_tag_not_found": 0, "union_tag_invalid": 0, "extra_forbidden": 1}
    ordered = sorted(errors, key=lambda e: rank.get(e["type"], 2))
    more = f" (+{len(errors) - 1} more)" if len(errors) > 1 else ""
    return describe_error(ordered[0], source, model) + more
