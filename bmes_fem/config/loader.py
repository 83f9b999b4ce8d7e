"""Reading a case: YAML (UTF-8) into a validated :class:`Config`, with parameter overrides by dotted path.

Every problem raises :class:`ConfigError` with one line naming the file, the key, the value and what
was expected: a missing, empty, binary or non-YAML file, an unknown key, a wrong unit, a non-finite or
non-physical number, a section the analysis does not use. Relative input paths (mesh files,
waveforms, masks) are taken relative to the config file's folder.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from bmes_fem.config.case import Config
from bmes_fem.config.messages import first_error
from bmes_fem.errors import ConfigError
from bmes_fem.inputs.files import input_file, read_text


def set_dotted(data: dict, path: str, value: Any, source: str = "<overrides>", create: bool = False) -> None:
    """Set ``data[a][b][0][c] = value`` for ``path = "a.b.0.c"``; ConfigError if a step does not exist.

    The last key may be new (a key the file leaves at its default). ``create``: a missing section on
    the way is created (the schema then judges the key); list indices must always exist.
    """
    parts = path.split(".")
    node: Any = data
    for depth, part in enumerate(parts):
        last = depth == len(parts) - 1
        where = ".".join(parts[:depth]) or "the top level"
        if isinstance(node, list):
            if not part.isdigit() or int(part) >= len(node):
                raise ConfigError(f"{source}: parameter path '{path}': '{where}' is a list of {len(node)}; '{part}' is not an index in it")
            key: Any = int(part)
        elif isinstance(node, dict):
            key = part
            if not last and key not in node and create:
                node[key] = {}
            if not last and key not in node:
                raise ConfigError(f"{source}: parameter path '{path}': '{where}' has no key '{part}' (keys: {', '.join(map(str, node))})")
        else:
            raise ConfigError(f"{source}: parameter path '{path}': '{where}' = {node!r} is a value, not a section")
        if last:
            node[key] = value
        else:
            node = node[key]


def parse_config(
    data: Mapping | None,
    source: str = "<config>",
    *,
    base_dir: Path | None = None,
    read_inputs: bool = True,
    overrides: Mapping[str, Any] | None = None,
) -> Config:
    """Validate a mapping (as read from YAML) into a :class:`Config`.

    ``base_dir``: the folder relative input paths are taken from (None: the current directory).
    ``overrides``: dotted parameter paths and values applied first (``{"fluid.target_pressure": "28 mmHg"}``).
    ``read_inputs``: False skips opening input files (reloading a finished case).
    """
    if data is None:
        raise ConfigError(f"{source}: the config is empty; expected a mapping of sections (e.g. 'case: my_case')")
    if not isinstance(data, Mapping):
        raise ConfigError(f"{source}: expected a mapping of sections at the top level, got {type(data).__name__}")
    data = copy.deepcopy(dict(data))
    for path, value in (overrides or {}).items():
        set_dotted(data, path, value, source, create=True)
    try:
        return Config.model_validate(data, context={"base_dir": base_dir, "read_inputs": read_inputs})
    except ValidationError as err:
        raise ConfigError(first_error(err.errors(), source, Config)) from None


def read_yaml(path: str | Path, what: str = "config file", expected: str = "a YAML file, e.g. configs/femoral_head_bmes.yaml") -> Any:
    """The YAML document of a UTF-8 file; ConfigError naming the file (as ``what``) if it is missing, a directory,
    binary or invalid."""
    path = input_file(path, what, expected, may_be_empty=True)
    text = read_text(path, what, expected)
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as err:
        raise ConfigError(f"{what} '{path}' is not valid YAML: {err}".replace("\n", " ")) from None


def load_config(path: str | Path, overrides: Mapping[str, Any] | None = None, *, read_inputs: bool = True) -> Config:
    """Read and validate a YAML case file; relative input paths are relative to its folder."""
    path = Path(path)
    return parse_config(read_yaml(path), str(path), base_dir=path.parent, read_inputs=read_inputs, overrides=overrides)


def with_overrides(config: Config, overrides: Mapping[str, Any], source: str = "<overrides>") -> Config:
    """A copy of ``config`` with parameters replaced by dotted path, validated again (paths checked)."""
    return parse_config(config.to_dict(), source, overrides=overrides)
