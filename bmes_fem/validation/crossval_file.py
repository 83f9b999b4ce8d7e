"""The cross-validation spec of ``bmes validate --cross-validate`` and the rule of which fitted parameters apply to
a validation row.

The spec (default configs/validation/cross_validation.yaml; validated like every file, one line per problem):

    parameters:                          # the fitted parameters, x in [min, max] with a prior
      - {path: fluid.capillary_filtration, min: 3e-9 1/(Pa*s), max: 3e-8 1/(Pa*s), prior: log_uniform}
      - {path: lesion_effects.capillary_pressure, min: 45 mmHg, max: 70 mmHg}        # prior: uniform (default)
    design: {points_per_parameter: 3, minimum: 4, corners: false, seed: 1}          # per case (below)
    surrogate: auto                      # gaussian_process, log_gaussian_process (positive outputs), quadratic, auto (smallest leave-one-out error)
    mcmc: {walkers: 32, steps: 4000, burn: 1000, seed: 1}
    limit_scale: 0.05                    # one-sided limit L: smooth step of width s = limit_scale x |L|

Priors, in unit coordinates t in [0, 1] (the design, the surrogates and the sampler work there; the prior is
uniform in t): ``uniform``: x = min + t (max - min); ``log_uniform`` (uniform in ln x, min > 0): x = min (max /
min)^t.

A fitted parameter applies to a run (`applies`) unless

- the row sets it itself (`bmes_fem.validation.measurements.Validation.fixed`: its ``set`` or an inline case names
  the path or a section holding it, e.g. a cadaver's ``fluid.capillary_filtration: 0``);
- it is a lesion effect (``lesion_effects.*``) and the case has no lesion;
- it is a storage term (``fluid.vascular_storage``, ``tissue.<region>.biot_modulus``) and the case is steady: S
  multiplies dp/dt only, so a steady state does not depend on it.

Each row is run over a design in the parameters that apply to it (its runs: the case, and the reference case of a
ratio): max(``minimum``, ``points_per_parameter`` x k) Latin-hypercube points in [0, 1]^k (seeded), plus the 2^k
corners if ``corners``; a row with no parameter that applies runs once.

Each row's likelihood (`RowLikelihood`): a Gaussian for a mean and SD or a range (read as a 95 % interval), a
smooth step of width ``limit_scale`` x |limit| for a one-sided limit.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, Literal

import numpy as np
from pydantic import Field, model_validator

from bmes_fem.config.case import Config
from bmes_fem.config.schema import Section
from bmes_fem.errors import ConfigError
from bmes_fem.studies.schema import ParameterPath
from bmes_fem.studies.study import Parameter, _interval, case_key
from bmes_fem.studies.study import _parameter as display_parameter
from bmes_fem.validation.calibration_file import MAX_CORNER_PARAMETERS, RANGE_Z, DesignSpec
from bmes_fem.validation.measurements import Validation
from bmes_fem.validation.posterior import McmcSpec
from bmes_fem.validation.schema import read_file

DEFAULT_SPEC = Path(__file__).resolve().parents[2] / "configs" / "validation" / "cross_validation.yaml"
STORAGE_PATHS = re.compile(r"^(fluid\.vascular_storage|tissue\.[a-z_]+\.biot_modulus)$")
LESION_EFFECTS = "lesion_effects."
PRIORS = ("uniform", "log_uniform")


class FittedParameterSpec(Section):
    """A fitted parameter: ``min`` and ``max`` as written in a case file, and its prior between them."""

    path: ParameterPath
    min: Any
    max: Any
    prior: Literal[PRIORS] = "uniform"


class CaseDesign(Section):
    """The design of each row over its k parameters (module docstring)."""

    points_per_parameter: Annotated[int, Field(ge=1)] = 3
    minimum: Annotated[int, Field(ge=4)] = 4
    corners: bool = False
    seed: int = 1

    def unit_points(self, k: int) -> np.ndarray:
        """max(minimum, points_per_parameter x k) Latin-hypercube points in [0, 1]^k, then the corners if asked; one
        point with no coordinate for k = 0."""
        if k == 0:
            return np.zeros((1, 0))
        samples = max(self.minimum, self.points_per_parameter * k)
        return DesignSpec(kind="latin_hypercube", samples=samples, corners=self.corners, seed=self.seed).unit_points(k)


class CrossValidationFile(Section):
    """The spec file (module docstring)."""

    parameters: Annotated[tuple[FittedParameterSpec, ...], Field(min_length=1)]
    design: CaseDesign = CaseDesign()
    surrogate: Literal["auto", "gaussian_process", "log_gaussian_process", "quadratic"] = "auto"
    mcmc: McmcSpec = McmcSpec()
    limit_scale: Annotated[float, Field(gt=0.0)] = 0.05

    @model_validator(mode="after")
    def _unique(self) -> CrossValidationFile:
        paths = [p.path for p in self.parameters]
        repeated = [path for path in paths if paths.count(path) > 1]
        if repeated:
            raise ValueError(f"parameters: '{repeated[0]}' is listed twice (expected each once)")
        return self


@dataclass(frozen=True)
class FittedParameter:
    """A fitted parameter as one SI number x in [low, high] with its prior; t in [0, 1] its unit coordinate."""

    path: str
    low: float
    high: float
    prior: str
    display: Parameter

    def x(self, t: np.ndarray) -> np.ndarray:
        """uniform: x = low + t (high - low); log_uniform: x = low (high / low)^t."""
        t = np.asarray(t, dtype=float)
        if self.prior == "log_uniform":
            return self.low * (self.high / self.low) ** t
        return self.low + t * (self.high - self.low)

    def shown(self, t: np.ndarray) -> np.ndarray:
        """x in the display unit (the unit ``min`` is written in)."""
        return self.x(t) * self.display.scale

    def applies(self, config: Config, fixed: frozenset[str]) -> bool:
        """Whether the parameter applies to a run of ``config`` whose row sets the paths ``fixed`` (module docstring)."""
        if any(self.path == path or self.path.startswith(path + ".") for path in fixed):
            return False
        if self.path.startswith(LESION_EFFECTS) and not config.lesions:
            return False
        return not (STORAGE_PATHS.match(self.path) and config.analysis != "transient")


@dataclass(frozen=True)
class RowLikelihood:
    """The likelihood of a row's model value mu, with the surrogate's variance s^2 added:

    - ``gaussian`` (value +- sd: centre value, width sd; a range [low, high]: centre (low + high) / 2, width
      (high - low) / (2 x 1.96)): log N(centre; mu, width^2 + s^2);
    - ``at_least`` (low only) and ``at_most`` (high only), centre the limit L, width w = limit_scale x |L|: the
      smooth step log Phi((mu - L) / sqrt(w^2 + s^2)), or log Phi((L - mu) / sqrt(w^2 + s^2)).
    """

    kind: Literal["gaussian", "at_least", "at_most"]
    centre: float
    width: float

    @property
    def text(self) -> str:
        """The likelihood in words, for the report: ``N(50, 5.102)``, ``step >= 40 (s 2)``."""
        if self.kind == "gaussian":
            return f"N({self.centre:.4g}, {self.width:.4g})"
        return f"step {'>=' if self.kind == 'at_least' else '<='} {self.centre:.4g} (s {self.width:.4g})"


@dataclass(frozen=True)
class CrossValidationSpec:
    """A checked spec file: the file and its fitted parameters."""

    path: Path
    spec: CrossValidationFile
    parameters: tuple[FittedParameter, ...]

    def applying(self, validation: Validation) -> tuple[tuple[int, ...], tuple[int, ...]]:
        """The indices of the parameters that apply to the row's run and to its reference run (empty without a ratio)."""
        in_run = tuple(i for i, p in enumerate(self.parameters) if p.applies(validation.config, validation.fixed))
        if validation.reference is None:
            return in_run, ()
        return in_run, tuple(i for i, p in enumerate(self.parameters) if p.applies(validation.reference, validation.case_fixed))

    def active(self, validation: Validation) -> tuple[int, ...]:
        """The indices of the row's fitted parameters: those that apply to its run or to its reference run."""
        return tuple(sorted(set().union(*self.applying(validation))))

    def likelihood(self, validation: Validation) -> RowLikelihood:
        """The row's likelihood (`RowLikelihood`); ConfigError naming the file for a one-sided limit of 0."""
        v = validation
        if v.spec.measurement.sd is not None:
            return RowLikelihood("gaussian", v.value, v.high - v.value)
        if math.isfinite(v.low) and math.isfinite(v.high):
            return RowLikelihood("gaussian", 0.5 * (v.low + v.high), (v.high - v.low) / (2.0 * RANGE_Z))
        key, limit = ("low", v.low) if math.isfinite(v.low) else ("high", v.high)
        if limit == 0.0:
            raise ConfigError(f"{v.path}: measurement.{key} = 0: a one-sided limit needs a non-zero value for the width of its smooth step, s = limit_scale x |limit|")
        return RowLikelihood("at_least" if key == "low" else "at_most", limit, self.spec.limit_scale * abs(limit))


def _fitted_parameter(configs: Sequence[Config], spec: FittedParameterSpec, index: int, source: str) -> FittedParameter:
    """Both ends applied to every config and checked by the config schema (as `bmes study` checks bounds on its base)."""
    where = f"{source}: parameters.{index}"
    for config in configs:
        try:
            low, high = _interval(config, spec.path, spec.min, spec.max, where, ("min", "max"))
        except ConfigError as err:
            raise ConfigError(f"{err} (checked on the case '{config.case}' of the validation files)") from None
    if low.ndim:
        raise ConfigError(f"{where}.path: '{spec.path}' is a vector (expected a scalar parameter)")
    if spec.prior == "log_uniform" and not low > 0.0:
        raise ConfigError(f"{where}.min = {spec.min!r}: a log_uniform prior needs min > 0 (it is uniform in ln x)")
    return FittedParameter(spec.path, float(low), float(high), spec.prior, display_parameter(spec.path, spec.min, configs[0].to_dict()))


def load_spec(path: str | Path, validations: Sequence[Validation]) -> CrossValidationSpec:
    """Read and check a spec file against the runs of ``validations``: path, unit and both bounds of each parameter
    on every distinct run config (each end applied and validated); ConfigError (one line naming the file and key)."""
    path = Path(path).resolve()
    spec = read_file(CrossValidationFile, path)
    configs = list({case_key(config): config for v in validations for config in v.configs}.values())
    return CrossValidationSpec(path, spec, tuple(_fitted_parameter(configs, p, i, str(path)) for i, p in enumerate(spec.parameters)))


def check_corners(spec: CrossValidationSpec, validations: list[Validation]) -> None:
    """With ``design.corners``, every row has at most MAX_CORNER_PARAMETERS parameters (2^k corner runs)."""
    if not spec.spec.design.corners:
        return
    for v in validations:
        k = len(spec.active(v))
        if k > MAX_CORNER_PARAMETERS:
            raise ConfigError(f"{spec.path}: design.corners: row {v.name} has {k} fitted parameters (2^{k} corner runs); expected corners: false, or at most {MAX_CORNER_PARAMETERS} parameters per row")
