"""The study file: YAML validated like a case config (unknown keys are errors, one line naming the key).

    name: oat_lesion                           # results go to <results-dir>/oat_lesion/
    base: ../femoral_head_bmes.yaml            # a case config, relative to this file
    set: {output.figures: false}               # dotted overrides applied to every case
    quantities: [pressure.p_lesion_peak_mmHg]  # dotted summary names (bmes_fem.post.quantities)
    one_at_a_time:
      - {path: lesion_effects.filtration_factor, percent: 20}

Exactly one design: ``cases``, ``grid``, ``one_at_a_time``, ``morris``, ``sobol`` or ``mesh``.
Parameter values are written as in a case file (``"25 mmHg"``, ``0.85``, ``[10 mm, 8 mm, 8 mm]``);
their paths and units are checked against the base config by bmes_fem.studies.design.
"""

from __future__ import annotations

import itertools
from pathlib import Path
from typing import Annotated, Any

from pydantic import Field, ValidationError, field_validator, model_validator

from bmes_fem.config.loader import read_yaml
from bmes_fem.config.messages import first_error
from bmes_fem.config.schema import Section
from bmes_fem.errors import ConfigError

Name = Annotated[str, Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")]
ParameterPath = Annotated[str, Field(pattern=r"^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z0-9_]+)*$")]
Overrides = dict[ParameterPath, Any]
DESIGNS = ("cases", "grid", "one_at_a_time", "morris", "sobol", "mesh")


class NamedCase(Section):
    """One case of a ``cases`` study: a label and its dotted overrides."""

    name: Name
    set: Overrides = {}


class Change(Section):
    """A one-at-a-time parameter: to ``low`` and ``high`` (absolute), or by +-``percent`` of its base value."""

    path: ParameterPath
    low: Any = None
    high: Any = None
    percent: Annotated[float, Field(gt=0.0, lt=100.0)] | None = None

    @model_validator(mode="after")
    def _absolute_or_relative(self) -> Change:
        absolute = self.low is not None and self.high is not None
        if absolute == (self.percent is not None) or (self.low is None) != (self.high is None):
            raise ValueError(f"parameter '{self.path}': give both low and high, or percent (not both)")
        return self


class Range(Section):
    """A parameter of a global sensitivity study, uniform between ``min`` and ``max``."""

    path: ParameterPath
    min: Any
    max: Any


class Morris(Section):
    """Morris elementary effects (Morris 1991): r trajectories of k + 1 points on a p-level grid."""

    parameters: Annotated[tuple[Range, ...], Field(min_length=1)]
    trajectories: Annotated[int, Field(ge=2)] = 4
    levels: Annotated[int, Field(ge=2)] = 4
    seed: int = 0

    @field_validator("levels")
    @classmethod
    def _even(cls, levels: int) -> int:
        if levels % 2:
            raise ValueError("expected an even number of grid levels (4 is usual)")
        return levels


class Sobol(Section):
    """Sobol' indices from Saltelli's scheme (Saltelli 2010): N (k + 2) cases, N a power of 2."""

    parameters: Annotated[tuple[Range, ...], Field(min_length=1)]
    samples: Annotated[int, Field(ge=2)]
    seed: int = 0

    @field_validator("samples")
    @classmethod
    def _power_of_two(cls, samples: int) -> int:
        if samples & (samples - 1):
            raise ValueError("expected a power of 2 (Sobol' sequence), e.g. 64")
        return samples


class MeshSeries(Section):
    """The base case at mesh levels k (sizes / refinement_factor**k), equally spaced, at least three."""

    levels: Annotated[tuple[Annotated[int, Field(ge=0)], ...], Field(min_length=3)]
    refinement_factor: Annotated[float, Field(gt=1.0)] | None = None

    @field_validator("levels")
    @classmethod
    def _equally_spaced(cls, levels: tuple[int, ...]) -> tuple[int, ...]:
        steps = {b - a for a, b in itertools.pairwise(levels)}
        if len(steps) != 1 or min(steps) <= 0:
            raise ValueError("expected increasing, equally spaced levels (e.g. [0, 1, 2])")
        return levels


class StudyFile(Section):
    """The validated study file (paths and units are checked later, against the base config)."""

    name: Name
    base: Path
    set: Overrides = {}
    quantities: Annotated[tuple[str, ...], Field(min_length=1)]
    plots: bool = True
    cases: Annotated[tuple[NamedCase, ...], Field(min_length=1)] | None = None
    grid: Annotated[dict[ParameterPath, Annotated[tuple[Any, ...], Field(min_length=1)]], Field(min_length=1)] | None = None
    one_at_a_time: Annotated[tuple[Change, ...], Field(min_length=1)] | None = None
    morris: Morris | None = None
    sobol: Sobol | None = None
    mesh: MeshSeries | None = None

    @model_validator(mode="after")
    def _one_design(self) -> StudyFile:
        given = [design for design in DESIGNS if getattr(self, design) is not None]
        if len(given) != 1:
            raise ValueError(f"expected exactly one design of {', '.join(DESIGNS)}; got {', '.join(given) or 'none'}")
        listed = {
            "cases": [case.name for case in self.cases or ()],
            "one_at_a_time": [change.path for change in self.one_at_a_time or ()],
            "morris.parameters": [r.path for r in self.morris.parameters] if self.morris else [],
            "sobol.parameters": [r.path for r in self.sobol.parameters] if self.sobol else [],
        }
        for key, names in listed.items():
            repeated = [name for name in names if names.count(name) > 1]
            if repeated:
                raise ValueError(f"{key}: '{repeated[0]}' is listed twice (expected each once)")
        return self

    @property
    def design(self) -> str:
        return next(design for design in DESIGNS if getattr(self, design) is not None)


def read_study(path: Path) -> StudyFile:
    """Read and validate a study file; ConfigError with one line naming the file and the key."""
    path = Path(path)
    data = read_yaml(path, "study file", "a YAML study, e.g. configs/studies/oat_lesion.yaml")
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: expected a mapping with name, base, quantities and one design ({', '.join(DESIGNS)})")
    try:
        return StudyFile.model_validate(data)
    except ValidationError as err:
        raise ConfigError(first_error(err.errors(), str(path), StudyFile)) from None

