"""Config parsing: units, defaults, body weights, round trips."""

from __future__ import annotations

import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bmes_fem.config.case import Config
from bmes_fem.config.loader import parse_config
from bmes_fem.errors import ConfigError
from bmes_fem.units import PA_PER_MMHG, STANDARD_GRAVITY_M_PER_S2, to_si


@given(st.floats(min_value=-1e4, max_value=1e4, allow_nan=False))
def test_mmHg_and_kPa_strings_become_pascal(value):
    assert to_si(f"{value!r} mmHg", "pressure") == pytest.approx(value * 133.322387415, rel=1e-12, abs=1e-9)
    assert to_si(f"{value!r} kPa", "pressure") == pytest.approx(value * 1e3, rel=1e-12, abs=1e-9)


def test_bare_numbers_are_si():
    config = parse_config({"fluid": {"target_pressure": 3000.0}, "geometry": {"head_radius": 0.025}})
    assert config.fluid.target_pressure == 3000.0 and config.geometry.head_radius == 0.025


def test_body_weight_uses_the_configured_body_mass():
    config = parse_config({"load": {"body_mass": "80 kg", "force": "2.5 BW"}})
    assert config.load.force == pytest.approx(2.5 * 80 * STANDARD_GRAVITY_M_PER_S2)
    assert parse_config({"load": {"force": "1.2 kN"}}).load.force == pytest.approx(1200.0)


def test_angles_and_lengths_convert():
    config = parse_config({"geometry": {"head_radius": "2.3 cm", "articular_half_angle": "90 deg"}})
    assert config.geometry.head_radius == pytest.approx(0.023)
    assert config.geometry.articular_half_angle == pytest.approx(math.pi / 2)


def test_defaults_reproduce_the_literature_calibration_inputs():
    fluid = Config().fluid
    assert fluid.effective_capillary_pressure() / PA_PER_MMHG == pytest.approx(30.55)
    assert fluid.target_pressure / PA_PER_MMHG == pytest.approx(25.0)


def test_resolved_yaml_round_trips():
    import yaml

    config = parse_config({"fluid": {"target_pressure": "22.5 mmHg"}, "load": {"force": "3 BW"}})
    assert parse_config(yaml.safe_load(config.to_yaml())) == config


@pytest.mark.parametrize(
    ("data", "fragment"),
    [
        ({"lesions": [{"semi_axes": ["1 mm", "0 mm", "1 mm"]}]}, "lesions.0.semi_axes.1"),
        ({"fluid": {"reflection_coefficient": 1.5}}, "fluid.reflection_coefficient"),
        ({"lesion_effects": {"venous_pressure": "60 mmHg"}}, "lesion_effects.venous_pressure = 60 mmHg"),
        ({"load": {"force": "2 m"}}, "load.force"),
        ({"case": "../escape"}, "case"),
        ({"solver": {"preset": "hypre"}}, "solver.preset"),
    ],
)
def test_non_physical_or_unsafe_values_name_the_key(data, fragment):
    with pytest.raises(ConfigError, match=None) as error:
        parse_config(data, "case.yaml")
    assert fragment in str(error.value) and str(error.value).startswith("case.yaml: ")
