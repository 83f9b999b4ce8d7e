"""Every reader of an input file (bmes_fem.inputs and its users): generated bad files end in exactly one
ConfigError or MeshError, on one line, naming the file (and the row, column or voxel where one is at fault);
third-party readers print nothing. One bad file of each kind through the CLI: exit code 1, one
``bmes: error:`` line naming the file, nothing written."""

import dolfinx_solver  # noqa: F401  (must precede any dolfinx import)

# isort: split
from pathlib import Path

import meshio
import nibabel
import numpy as np
import pytest
import yaml
from conftest import box_domain
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from mpi4py import MPI

from bmes_fem.cli import main
from bmes_fem.config.geometry import MeshioFile, StlSurface
from bmes_fem.config.loader import load_config, parse_config
from bmes_fem.errors import ConfigError, MeshError
from bmes_fem.mesh.domain import read_gmsh_file
from bmes_fem.mesh.importers import read_meshio_file, read_stl_surface
from bmes_fem.mesh.meshing import MeshSizes
from bmes_fem.physics.materials import check_masks_meet_the_mesh

# Bad files generated per class (hypothesis max_examples); the report quotes these counts.
EXAMPLES = {"paths": 40, "csv": 300, "masks": 120, "meshes": 200}
CAMPAIGN = settings(deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
HEADERS = (("time_s", "fraction"), ("time_s", "fraction", "dx", "dy", "dz"))


def _one_error(error_class, run, path: Path, *fragments: str) -> str:
    """``run()`` raises exactly ``error_class`` with a one-line message naming ``path`` and every fragment."""
    with pytest.raises(error_class) as info:
        run()
    message = str(info.value)
    assert "\n" not in message, message
    assert str(path) in message, message
    for fragment in fragments:
        assert fragment in message, (fragment, message)
    return message


def _with_joint_waveform(path: Path) -> dict:
    history = {"kind": "waveform", "waveform": {"path": str(path)}}
    return {"boundary_conditions": [{"boundary": "cut", "kind": "clamped"}, {"boundary": "articular", "kind": "joint_contact", "history": history}]}


def _with_mask(path: Path, label: int | None = None) -> dict:
    return {"lesions": [{"kind": "mask", "mask": str(path), "label": label, "smoothing_width": "1 mm"}]}


# ---------------------------------------------------------------- waveform CSV tables


@st.composite
def bad_waveforms(draw) -> tuple[bytes, list[str]]:
    """A valid waveform table with one fault, and the message fragments that place the fault."""
    header = list(draw(st.sampled_from(HEADERS)))
    n_rows = draw(st.integers(2, 6))
    steps = draw(st.lists(st.floats(0.01, 0.5), min_size=n_rows, max_size=n_rows))
    times = np.cumsum(steps) - steps[0]
    rows = []
    for time_s in times:
        row = [repr(float(time_s)), repr(draw(st.floats(0.0, 1.0)))]
        if len(header) == 5:  # directions in the lower half-space: never zero, never opposite
            row += [repr(draw(st.floats(-0.5, 0.5))), repr(draw(st.floats(-0.5, 0.5))), repr(draw(st.floats(-1.0, -0.1)))]
        rows.append(row)
    comments = ["# a comment"] * draw(st.integers(0, 2))
    first = len(comments) + 2  # line number of the first data row
    k = draw(st.integers(0, n_rows - 1))
    column = draw(st.integers(0, len(header) - 1))
    where = [f"row {first + k}"]
    faults = ["non_finite", "empty", "text", "ragged", "binary", "too_few_rows", "time_order", "negative_fraction", "header"]
    fault = draw(st.sampled_from([*faults, "zero_direction"] if len(header) == 5 else faults))
    if fault == "non_finite":
        rows[k][column] = draw(st.sampled_from(["nan", "NaN", "-nan", "inf", "-inf", "Infinity"]))
        expected = [*where, f"column '{header[column]}'", "is not finite"]
    elif fault == "empty":
        rows[k][column] = draw(st.sampled_from(["", " "]))
        expected = [*where, f"column '{header[column]}'", "is empty"]
    elif fault == "text":
        rows[k][column] = draw(st.text("abcdefghijklmnopqrstuvwxyz_-", min_size=1, max_size=6).filter(_not_a_float))
        expected = [*where, f"column '{header[column]}'", "is not a number"]
    elif fault == "ragged":
        rows[k] = rows[k][:-1] if draw(st.booleans()) else [*rows[k], "0.5"]
        expected = [f"row {first + k} has {len(rows[k])} cells"]
    elif fault == "too_few_rows":
        rows = rows[: draw(st.integers(0, 1))]
        expected = [f"has {len(rows)} data row(s); expected at least 2"]
    elif fault == "time_order":
        k = max(k, 1)
        rows[k][0] = repr(float(rows[k - 1][0]) - draw(st.sampled_from([0.0, 0.01, 1.0])))
        expected = [f"row {first + k} has time_s", "time must increase"]
    elif fault == "negative_fraction":
        rows[k][1] = repr(-draw(st.floats(1e-6, 2.0)))
        expected = [*where, "cannot pull"]
    elif fault == "zero_direction":
        rows[k][2:] = draw(st.sampled_from([["0", "0", "0"], ["0.0", "-0.0", "0e3"]]))
        expected = [*where, "(dx, dy, dz) = (0, 0, 0)"]
    elif fault == "header":
        header = [draw(st.sampled_from(["t", "time", "Time_s", "fraction"])), *header[1:]]
        expected = ["the header (row"]
    text = "\n".join([*comments, ",".join(header), *(",".join(row) for row in rows)]) + "\n"
    data = text.encode()
    if fault == "binary":
        at = draw(st.integers(0, len(data)))
        data = data[:at] + draw(st.sampled_from([b"\x00", b"\xff", b"\xfe\xff", b"\x80", b"\xc3(", b"\x89PNG\x00"])) + data[at:]
        expected = ["byte"]
    return data, expected


def _not_a_float(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return True
    return False


@settings(CAMPAIGN, max_examples=EXAMPLES["csv"])
@given(case=bad_waveforms())
def test_generated_bad_waveforms_are_one_config_error_naming_file_and_row(case, tmp_path_factory):
    data, expected = case
    path = tmp_path_factory.getbasetemp() / "generated_wave.csv"
    path.write_bytes(data)
    message = _one_error(ConfigError, lambda: parse_config(_with_joint_waveform(path), "gait.yaml"), path, *expected)
    assert message.startswith("gait.yaml: key 'boundary_conditions.1.history': waveform file ")


def test_a_negative_table_fraction_on_the_joint_contact_names_the_point():
    history = {"kind": "table", "table": [[0, 0.0], [0.5, 1.0], [1.0, -0.2]]}
    data = {"boundary_conditions": [{"boundary": "cut", "kind": "clamped"}, {"boundary": "articular", "kind": "joint_contact", "history": history}]}
    with pytest.raises(ConfigError, match=r"boundary_conditions\.1\.history': table\.2 = \[1 s, -0\.2\]: the joint contact pushes and cannot pull"):
        parse_config(data, "gait.yaml")
    history["table"][2][1] = 0.0
    parse_config(data, "gait.yaml")  # the same table without the pull is accepted
    traction = {"boundary": "articular", "kind": "traction", "value": [0, 0, 1], "history": {**history, "table": [[0, 0], [1, -1]]}}
    parse_config({"boundary_conditions": [{"boundary": "cut", "kind": "clamped"}, traction]})  # a traction may pull


def test_waveform_rows_are_line_numbers_and_directions_are_unit_vectors(tmp_path):
    from bmes_fem.config.histories import Waveform

    path = tmp_path / "wave.csv"
    path.write_text("\ufeff# recorded gait\n\ntime_s, fraction, dx, dy, dz\n0, 0.5, 0, 0, -2\n# mid stance\n1, 1.0, 3, 0, -4\n")
    table = Waveform(path=path).read()
    assert table.lines.tolist() == [4, 6]
    assert table.directions == pytest.approx(np.array([[0.0, 0.0, -1.0], [0.6, 0.0, -0.8]]))
    path.write_text("time_s,fraction,dx,dy,dz\n0,0.5,0,0,-1\n1,1.0,0,0,1\n")
    with pytest.raises(ConfigError, match=r"rows 2 and 3 have opposite directions"):
        Waveform(path=path).read()


# ---------------------------------------------------------------- lesion masks


def _save_nifti(path: Path, data: np.ndarray, affine: np.ndarray) -> None:
    """Write the affine as the sform as it is (nibabel refuses to derive a qform from a singular one)."""
    header = nibabel.Nifti1Header()
    header.set_data_dtype(data.dtype)
    header["sform_code"], header["qform_code"] = 2, 0
    header["srow_x"], header["srow_y"], header["srow_z"] = affine[:3]
    nibabel.save(nibabel.Nifti1Image(data, None, header), path)


@pytest.fixture(scope="module")
def small_box():
    """The cube [0, 20 mm]^3 (2 x 2 x 2 x 6 tetrahedra) the masks are placed in."""
    return box_domain(n=2)


@st.composite
def bad_masks(draw) -> tuple[str, np.ndarray | bytes, np.ndarray, int | None, list[str]]:
    """(fault, voxels or raw bytes, affine, label, message fragments): a usable mask inside the 20 mm cube with one fault."""
    shape = tuple(draw(st.lists(st.integers(3, 6), min_size=3, max_size=3)))
    voxel_mm = np.array(draw(st.lists(st.floats(0.5, 2.0), min_size=3, max_size=3)))
    affine = np.diag([*voxel_mm, 1.0])
    affine[:3, 3] = draw(st.lists(st.floats(2.0, 8.0), min_size=3, max_size=3))  # inside the cube
    fault = draw(st.sampled_from(["non_finite", "out_of_range", "label_image", "missing_label", "all_zero", "singular_affine",
                                  "dimensions", "garbage", "outside_the_mesh"]))  # fmt: skip
    soft = draw(st.booleans()) and fault not in ("label_image", "missing_label")  # a soft mask, or 0/1 voxels
    values = np.zeros(shape, dtype=np.float32 if soft else np.uint8)
    values[tuple(draw(st.integers(0, n - 1)) for n in shape)] = draw(st.floats(0.05, 1.0)) if soft else 1
    label = None
    bad = tuple(draw(st.integers(0, n - 1)) for n in shape)
    expected: list[str] = []
    if fault == "non_finite":
        values = values.astype(np.float32)
        values[bad] = draw(st.sampled_from([np.nan, np.inf, -np.inf]))
        expected = [f"voxel {bad} = ", "expected a finite number in every voxel"]
    elif fault == "out_of_range":
        values = values.astype(np.float32)
        values[bad] = draw(st.sampled_from([1.5, -0.25, 7.75, -3.5]))
        expected = [f"voxel {bad} = ", "lies outside [0, 1]"]
    elif fault == "label_image":
        values = values.astype(draw(st.sampled_from([np.uint8, np.int16, np.float32])))
        values[bad] = draw(st.integers(2, 9))
        expected = ["is an integer label image (labels 0, ", "set this lesion's label"]
    elif fault == "missing_label":
        label = draw(st.integers(2, 9))
        expected = [f"has no voxel with label {label}"]
    elif fault == "all_zero":
        values[:] = 0
        expected = [f"all {values.size} voxels are 0"]
    elif fault == "singular_affine":
        column = draw(st.integers(0, 2))
        broken = draw(st.sampled_from(["zero", "parallel", "nan", "inf"]))
        if broken == "zero":
            affine[:3, column] = 0.0
        elif broken == "parallel":
            affine[:3, column] = 2.0 * affine[:3, (column + 1) % 3]
        else:
            affine[column, column] = np.nan if broken == "nan" else np.inf
        expected = ["has the affine [[", "expected a finite, non-singular"]
    elif fault == "dimensions":
        values = values[..., 0] if draw(st.booleans()) else np.stack([values] * draw(st.integers(1, 3)), axis=-1)
        expected = [f"has shape {values.shape}"]
    elif fault == "garbage":
        return fault, draw(st.binary(min_size=0, max_size=600)), affine, label, []
    elif fault == "outside_the_mesh":
        affine[:3, 3] += draw(st.sampled_from([40.0, -60.0, 1000.0]))  # mm: well clear of the cube and the blur
        expected = ["chi = 0 at every mesh point: the lesion's voxels span [", "the mesh [0, 20] x [0, 20] x [0, 20] mm"]
    return fault, values, affine, label, expected


@settings(CAMPAIGN, max_examples=EXAMPLES["masks"])
@given(case=bad_masks())
def test_generated_bad_masks_are_one_config_error_naming_the_file(case, tmp_path_factory, small_box):
    fault, values, affine, label, expected = case
    path = tmp_path_factory.getbasetemp() / "generated_mask.nii"
    if fault == "garbage":
        path.write_bytes(values)
        expected = ["is empty"] if not values else ["could not be read by nibabel"]
    else:
        _save_nifti(path, values, affine)
    if fault == "outside_the_mesh":
        config = parse_config(_with_mask(path, label))  # a usable mask: it fails only against the mesh
        _one_error(ConfigError, lambda: check_masks_meet_the_mesh(small_box.mesh, config.lesions), path, "lesions.0.mask", *expected)
    else:
        message = _one_error(ConfigError, lambda: parse_config(_with_mask(path, label), "case.yaml"), path, *expected)
        assert message.startswith("case.yaml: key 'lesions.0': lesion mask ")


def test_a_label_picks_the_lesion_from_a_label_image(tmp_path, small_box):
    """Voxels equal to ``label`` are the lesion (chi 1 there, 0 at the other labels); a mask touching the cube passes."""
    from bmes_fem.physics.materials import lesion_indicator

    values = np.zeros((8, 8, 8), dtype=np.int16)
    values[:4], values[4:] = 3, 5
    path = tmp_path / "labels.nii.gz"
    _save_nifti(path, values, np.diag([2.5, 2.5, 2.5, 1.0]))  # voxel centres 0 to 17.5 mm, labels 3 | 5 at x = 8.75 mm
    config = parse_config(_with_mask(path, 5))
    check_masks_meet_the_mesh(small_box.mesh, config.lesions)
    chi = lesion_indicator(config.lesions, np.array([[1e-3, 10e-3, 10e-3], [13.75e-3, 10e-3, 10e-3]]).T)  # >= 4 w from the edges
    assert chi == pytest.approx([0.0, 1.0], abs=1e-5)  # the kernel's weight two voxels (5 w) out: exp(-12.5) = 4e-6
    with pytest.raises(ConfigError, match=r"label = 5 is set, but kind = 'ellipsoid'"):
        parse_config({"lesions": [{"label": 5}]})


@pytest.mark.mpi
def test_a_mask_that_meets_the_mesh_on_one_rank_passes_and_one_beside_it_fails_on_every_rank(tmp_path, small_box):
    """check_masks_meet_the_mesh is collective: a 4 mm lesion in the corner of the cube (on some ranks' part only)
    passes; moved 50 mm away it fails on every rank, with the whole mesh's box (not a rank's part)."""
    values = np.zeros((4, 4, 4), dtype=np.uint8)
    values[:2, :2, :2] = 1
    path = tmp_path / "corner.nii"
    _save_nifti(path, values, np.diag([2.0, 2.0, 2.0, 1.0]))
    check_masks_meet_the_mesh(small_box.mesh, parse_config(_with_mask(path)).lesions)
    affine = np.diag([2.0, 2.0, 2.0, 1.0])
    affine[:3, 3] = 50.0
    _save_nifti(path, values, affine)
    with pytest.raises(ConfigError, match=r"the lesion's voxels span \[50, 52\] x \[50, 52\] x \[50, 52\] mm, the mesh \[0, 20\] x \[0, 20\] x \[0, 20\] mm"):
        check_masks_meet_the_mesh(small_box.mesh, parse_config(_with_mask(path)).lesions)


# ---------------------------------------------------------------- meshes

TET_POINTS_MM = np.array([[0.0, 0.0, 0.0], [10.0, 0.0, 0.0], [0.0, 10.0, 0.0], [0.0, 0.0, 10.0]])
TET_FACES = np.array([[0, 2, 1], [0, 1, 3], [0, 3, 2], [1, 2, 3]])
TET_RULES = {  # the slanted face is articular, the face z = 0 the cut, the rest periosteal
    "articular": [{"kind": "normal_cone", "axis": [1, 1, 1], "half_angle": "10 deg"}],
    "cut": [{"kind": "normal_cone", "axis": [0, 0, -1], "half_angle": "10 deg"}],
}


@pytest.fixture(scope="module")
def good_meshes(tmp_path_factory) -> dict[str, bytes]:
    """One usable file per mesh reader: a tetrahedron as ASCII VTU and STL, a meshed cube as ASCII .msh."""
    import gmsh

    folder = tmp_path_factory.mktemp("good_meshes")
    if MPI.COMM_WORLD.rank == 0:
        tags = {"tag": [np.array([1], dtype=np.int32)]}
        meshio.write(folder / "tet.vtu", meshio.Mesh(TET_POINTS_MM, [("tetra", np.array([[0, 1, 2, 3]]))], cell_data=tags), binary=False)
        meshio.write(folder / "tet.stl", meshio.Mesh(TET_POINTS_MM, [("triangle", TET_FACES)]), binary=False)
        gmsh.initialize(readConfigFiles=False)
        gmsh.option.setNumber("General.Terminal", 0)
        cube = gmsh.model.occ.addBox(0, 0, 0, 10, 10, 10)
        gmsh.model.occ.synchronize()
        gmsh.model.addPhysicalGroup(3, [cube], 1, "trabecular")
        gmsh.option.setNumber("Mesh.MeshSizeMax", 5.0)
        gmsh.model.mesh.generate(3)
        gmsh.write(str(folder / "cube.msh"))
        gmsh.finalize()
    MPI.COMM_WORLD.barrier()
    return {suffix: (folder / name).read_bytes() for suffix, name in ((".vtu", "tet.vtu"), (".stl", "tet.stl"), (".msh", "cube.msh"))}


def _read_mesh(path: Path):
    """The reader the geometry kind of ``path``'s suffix uses (bmes_fem.mesh.build)."""
    if path.suffix == ".vtu":
        return read_meshio_file(MPI.COMM_WORLD, MeshioFile(kind="mesh_file", path=path, unit="mm", tag_map={"regions": {"trabecular": 1}}))
    if path.suffix == ".stl":
        return read_stl_surface(MPI.COMM_WORLD, StlSurface(kind="stl_surface", path=path, unit="mm", boundaries=TET_RULES), MeshSizes(0.004))
    return read_gmsh_file(MPI.COMM_WORLD, path, scale_to_m=1e-3)


def _truncated(data: bytes, suffix: str, fraction: float) -> bytes:
    """The file cut before its last record, so it cannot be whole: before the last vertex of an STL (gmsh reads
    a facet without its end lines), the last element line of a .msh, the closing tag of a VTU."""
    if suffix == ".stl":
        last = data.rfind(b"vertex")
    elif suffix == ".msh":
        last = data.rfind(b"\n", 0, data.rfind(b"$EndElements") - 1) + 1
    else:
        last = data.rfind(b"</VTKFile>")
    return data[: int(fraction * last)]


def test_the_good_meshes_read(good_meshes, tmp_path):
    """The files the campaign corrupts are usable as they are (so each fault below is what the readers catch)."""
    for suffix, data in good_meshes.items():
        path = tmp_path / f"good{suffix}"
        path.write_bytes(data)
        assert _read_mesh(path).mesh.topology.index_map(3).size_global > 0


@settings(CAMPAIGN, max_examples=EXAMPLES["meshes"])
@given(
    suffix=st.sampled_from([".vtu", ".stl", ".msh"]),
    fault=st.sampled_from(["garbage", "truncated"]),
    garbage=st.binary(min_size=1, max_size=1500),
    fraction=st.floats(0.0, 1.0, exclude_max=True),
)
def test_generated_bad_meshes_are_one_mesh_error_naming_the_file_and_print_nothing(
    suffix, fault, garbage, fraction, good_meshes, tmp_path_factory, capfd
):
    capfd.readouterr()
    path = tmp_path_factory.getbasetemp() / f"generated_mesh{suffix}"
    data = garbage if fault == "garbage" else _truncated(good_meshes[suffix], suffix, fraction)
    path.write_bytes(data)
    with pytest.raises(MeshError) as info:
        _read_mesh(path)
    message = str(info.value)
    assert "\n" not in message and str(path) in message, message
    printed = capfd.readouterr()
    assert printed.out == "" and printed.err == "", printed


# ---------------------------------------------------------------- any input path


@settings(CAMPAIGN, max_examples=EXAMPLES["paths"])
@given(kind=st.sampled_from(["config", "waveform", "mask", ".vtu", ".stl", ".msh"]), problem=st.sampled_from(["directory", "missing", "empty"]))
def test_every_input_path_that_is_a_directory_missing_or_empty_is_named(kind, problem, tmp_path_factory):
    folder = tmp_path_factory.mktemp("paths")
    path = folder / {"config": "case.yaml", "waveform": "wave.csv", "mask": "mask.nii.gz"}.get(kind, f"bone{kind}")
    if problem == "directory":
        path.mkdir()
    elif problem == "empty":
        path.touch()
    fragment = {"directory": "is a directory, expected a", "missing": "does not exist, expected a", "empty": "is empty, expected a"}[problem]
    if kind == "config":
        fragment = "the config is empty" if problem == "empty" else fragment  # an empty YAML is an empty config
        _one_error(ConfigError, lambda: load_config(path), path, fragment)
    elif kind == "waveform":
        _one_error(ConfigError, lambda: parse_config(_with_joint_waveform(path)), path, fragment)
    elif kind == "mask":
        _one_error(ConfigError, lambda: parse_config(_with_mask(path)), path, fragment)
    else:
        _one_error(MeshError, lambda: _read_mesh(path), path, fragment)


# ---------------------------------------------------------------- through the CLI


def _cli_error(tmp_path: Path, config: Path | dict, capsys) -> str:
    """``bmes run``: exit code 1, one ``bmes: error:`` line on stderr (returned), nothing under the results folder."""
    if isinstance(config, dict):
        data, config = config, tmp_path / "case.yaml"
        config.write_text(yaml.safe_dump({"output": {"figures": False}, "mesh": {"size": "6 mm", "lesion_size": "3 mm"}, **data}))
    results = tmp_path / "results"
    capsys.readouterr()
    assert main(["run", str(config), "--results-dir", str(results)]) == 1
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("bmes: error: "), lines
    assert not results.exists() or not any(results.iterdir())
    return lines[0]


def test_cli_bad_waveform(tmp_path, capsys):
    wave = tmp_path / "wave.csv"
    wave.write_text("time_s,fraction\n0,0.1\n0.5,nan\n1,0.1\n")
    line = _cli_error(tmp_path, _with_joint_waveform(wave), capsys)
    assert str(wave) in line and "row 3, column 'fraction' = 'nan' is not finite" in line


def test_cli_bad_mask(tmp_path, capsys):
    mask = tmp_path / "mask.nii.gz"
    values = np.ones((4, 4, 4), dtype=np.float32)
    values[1, 2, 3] = np.nan
    _save_nifti(mask, values, np.eye(4))
    line = _cli_error(tmp_path, _with_mask(mask), capsys)
    assert str(mask) in line and "voxel (1, 2, 3) = nan" in line


def test_cli_bad_mesh(tmp_path, capsys):
    vtu = tmp_path / "bone.vtu"
    vtu.write_bytes(b"<?xml version='1.0'?>\n<VTKFile type='UnstructuredGrid'>\x00\x01 not a mesh")
    tag_map = {"regions": {"trabecular": 1}, "boundaries": {"articular": 1, "periosteal": 2, "cut": 3}}
    line = _cli_error(tmp_path, {"geometry": {"kind": "mesh_file", "path": str(vtu), "tag_map": tag_map}}, capsys)
    assert str(vtu) in line and "could not be read by meshio" in line


def test_cli_config_that_is_a_directory(tmp_path, capsys):
    folder = tmp_path / "case.yaml"
    folder.mkdir()
    line = _cli_error(tmp_path, folder, capsys)
    assert line == f"bmes: error: config file '{folder}' is a directory, expected a YAML file, e.g. configs/femoral_head_bmes.yaml"
