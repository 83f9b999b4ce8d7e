"""Config parsing: units, defaults, body weights, round trips."""

from __future__ import annotations

import math
import re
from pathlib import Path

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
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
        ({"lesion_effects": {"venous_pressure": "65 mmHg"}}, "lesion_effects.venous_pressure = 65 mmHg"),  # above p_c 61.17
        ({"load": {"force": "2 m"}}, "load.force"),
        ({"case": "../escape"}, "case"),
        ({"solver": {"preset": "hypre"}}, "solver.preset"),
    ],
)
def test_non_physical_or_unsafe_values_name_the_key(data, fragment):
    with pytest.raises(ConfigError, match=None) as error:
        parse_config(data, "case.yaml")
    assert fragment in str(error.value) and str(error.value).startswith("case.yaml: ")


def _leaves(node, path=()):
    """(dotted path, value) of every scalar in a resolved config dict."""
    if isinstance(node, dict):
        for key, value in node.items():
            yield from _leaves(value, (*path, str(key)))
    elif isinstance(node, list) and node and isinstance(node[0], (dict, list)):
        for index, value in enumerate(node):
            yield from _leaves(value, (*path, str(index)))
    else:
        yield ".".join(path), node


RESOLVED = Config().to_dict()
LEAVES = dict(_leaves(RESOLVED))
QUANTITY_LEAVES = sorted(path for path, value in LEAVES.items() if isinstance(value, str) and value.endswith((" Pa", " m", " kg", " rad", " N")))
NUMBER_LEAVES = sorted(path for path, value in LEAVES.items() if isinstance(value, (int, float)) and not isinstance(value, bool))
SECTIONS = sorted({path.rsplit(".", 1)[0] for path in LEAVES if "." in path})


def _set(data: dict, path: str, value) -> dict:
    from bmes_fem.config.loader import set_dotted

    data = __import__("copy").deepcopy(data)
    set_dotted(data, path, value)
    return data


bad_configs = st.one_of(
    # a number that is not finite
    st.builds(_set, st.just(RESOLVED), st.sampled_from(NUMBER_LEAVES + QUANTITY_LEAVES), st.sampled_from([math.inf, -math.inf, math.nan])),
    st.builds(
        _set, st.just(RESOLVED), st.sampled_from(QUANTITY_LEAVES),
        st.sampled_from(["inf mmHg", "nan Pa", "-inf mm"]) | st.sampled_from(["3 kg*m", "2 s*s", "7 K"]),
    ),
    # a key that does not exist, at the top or in any section
    st.builds(
        lambda section, key: _set(RESOLVED, f"{section}.{key}" if section else key, 1.0),
        st.sampled_from(["", *SECTIONS]), st.from_regex(r"\Aunknown_[a-z]{1,8}\Z"),
    ),
    # a structure where a scalar belongs, or text where a number belongs
    st.builds(_set, st.just(RESOLVED), st.sampled_from(NUMBER_LEAVES + QUANTITY_LEAVES),
              st.sampled_from([{"a": 1}, [1, 2, 3, 4], "not a number", "25 mmHgx"])),
)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(bad_configs)
def test_generated_bad_configs_raise_config_error_and_nothing_else(data):
    with pytest.raises(ConfigError) as error:
        parse_config(data, "generated.yaml")
    assert "\n" not in str(error.value) and str(error.value).startswith("generated.yaml: ")


@pytest.mark.parametrize(
    ("content", "fragment"),
    [
        (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\xff\xfe", "is not UTF-8 text"),
        (b"", "the config is empty"),
        (b"# only a comment\n", "the config is empty"),
        (b"case: [unclosed\n", "is not valid YAML"),
        (b"- a list\n- of things\n", "expected a mapping of sections"),
        (b"lesion_effects: {filtration_factor: .inf}\n", "lesion_effects.filtration_factor"),
        (b"transient: {time: {time_step: 0.1 s}}\n", "section 'transient' is used by analysis: transient only"),
    ],
)
def test_unreadable_or_empty_files_are_config_errors(tmp_path, content, fragment):
    from bmes_fem.config.loader import load_config

    path = tmp_path / "case.yaml"
    path.write_bytes(content)
    with pytest.raises(ConfigError, match=None) as error:
        load_config(path)
    assert fragment in str(error.value) and "\n" not in str(error.value)


def test_input_paths_are_relative_to_the_config_file_and_not_reopened_when_reloading(tmp_path):
    from bmes_fem.config.loader import load_config

    folder = tmp_path / "inputs"
    folder.mkdir()
    (folder / "wave.csv").write_text("time_s,fraction\n0,0\n1,1\n")
    config_file = folder / "gait.yaml"
    config_file.write_text(
        "boundary_conditions:\n  - {boundary: cut, kind: clamped}\n"
        "  - {boundary: articular, kind: joint_contact, history: {kind: waveform, waveform: {path: wave.csv}}}\n"
    )
    config = load_config(config_file)
    assert config.boundary_conditions[1].history.waveform.path == folder / "wave.csv"
    resolved = tmp_path / "config.resolved.yaml"
    resolved.write_text(config.to_yaml())
    (folder / "wave.csv").unlink()
    with pytest.raises(ConfigError, match="does not exist"):
        load_config(resolved)
    assert load_config(resolved, read_inputs=False) == config


def test_overrides_by_dotted_path_are_validated():
    from bmes_fem.config.loader import with_overrides

    config = with_overrides(Config(), {"lesion_effects.venous_outflow_factor": 0.2, "lesions.0.semi_axes": ["5 mm", "5 mm", "5 mm"]})
    assert config.lesion_effects.venous_outflow_factor == 0.2 and config.lesions[0].semi_axes == pytest.approx((0.005,) * 3)
    with pytest.raises(ConfigError, match=r"unknown key 'lesion_effects\.nope' \(allowed here: bone_volume_fraction"):
        with_overrides(Config(), {"lesion_effects.nope.x": 1.0})
    with pytest.raises(ConfigError, match=r"'lesions' is a list of 1; '3' is not an index"):
        with_overrides(Config(), {"lesions.3.centre": [0, 0, 0]})


CONDYLE = Path(__file__).resolve().parents[1] / "configs" / "femoral_condyle_bmes.yaml"


def _condyle_with(change) -> dict:
    data = yaml.safe_load(CONDYLE.read_text())
    change(data)
    return data


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        (lambda d: d["geometry"].update(knd=d["geometry"].pop("kind")),
         r"^x: key 'geometry\.kind' is missing; expected one of femoral_head, .* \(the key 'knd' looks like a misspelt 'kind'\); "
         r"the other keys fit kind: femoral_condyle$"),
        (lambda d: d["geometry"].pop("kind"), r"^x: key 'geometry\.kind' is missing; .*the other keys fit kind: femoral_condyle$"),
        (lambda d: d["geometry"].update(kind="femoral_condyl"),
         r"^x: key 'geometry\.kind' = 'femoral_condyl': expected one of .*; did you mean 'femoral_condyle'\?$"),
        (lambda d: d["geometry"].update(condyle_widht=d["geometry"].pop("condyle_width")),
         r"^x: unknown key 'geometry\.condyle_widht' \(allowed here: articular_height, condyle_height, .*\); "
         r"did you mean 'condyle_width'\?$"),
        (lambda d: d.update(boundary_conditions=[{"boundary": "cut", "knd": "clamped"}]),
         r"^x: key 'boundary_conditions\.0\.kind' is missing; expected one of clamped, .* \(the key 'knd' looks like a misspelt 'kind'\)$"),
        (lambda d: d.update(boundary_conditions=[{"boundary": "cut", "kind": "clampd"}]),
         r"^x: key 'boundary_conditions\.0\.kind' = 'clampd': expected one of clamped, .*; did you mean 'clamped'\?$"),
    ],
    ids=["misspelt_kind_key", "missing_kind", "misspelt_kind_value", "misspelt_condyle_key", "bc_kind_key", "bc_kind_value"],
)
def test_a_wrong_or_missing_kind_is_named_before_the_keys_that_fail_because_of_it(change, expected):
    """The discriminator the user wrote (or left out) is the error, not 'unknown key geometry.condyle_spacing (+9 more)'."""
    with pytest.raises(ConfigError) as error:
        parse_config(_condyle_with(change), "x")
    assert re.match(expected, str(error.value)), str(error.value)


def test_a_geometry_without_kind_whose_keys_are_the_heads_is_the_head():
    assert parse_config({"geometry": {"head_radius": "22 mm"}}).geometry.kind == "femoral_head"
