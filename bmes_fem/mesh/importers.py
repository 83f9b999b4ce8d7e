"""Import of external meshes: any meshio-readable tetrahedral mesh with a tag map, and closed STL surfaces.

Both paths build a gmsh model on rank 0 (discrete entities, named physical groups) and distribute it
with DOLFINx like the parametric geometries, so names, tags and partitioning behave the same.

- Tag map: a region (boundary) is the set of tetrahedra (triangles) whose tag is one of the mapped
  integers; every tetrahedron must be mapped. Orientation: a tetrahedron whose signed volume
  det[x1-x0, x2-x0, x3-x0] / 6 has the opposite sign of the majority is inverted; |V| <= 1e-12 x mean
  |V| is degenerate. Either is a MeshError.
- STL: every edge must be shared by exactly two triangles (closed, manifold). gmsh fills the surface
  with tetrahedra (the STL triangles are kept); each surface facet gets the first boundary name whose
  rules all hold at its midpoint / outward normal, else ``periosteal``.
- Unit: without ``geometry.unit`` the file is read in mm and its bounding box must span 5 mm to 0.6 m,
  else ConfigError suggesting a unit; an explicit unit (mm, cm, m) is taken as it is.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from mpi4py import MPI

from bmes_fem.config.geometry import (
    DEFAULT_MESH_UNIT,
    MESH_UNITS_TO_M,
    MeshFileBase,
    MeshioFile,
    SelectBox,
    Selection,
    SelectSphere,
    StlSurface,
    TagMap,
)
from bmes_fem.errors import ConfigError, MeshError
from bmes_fem.inputs.files import input_file
from bmes_fem.inputs.foreign import reading
from bmes_fem.lazy import lazy_module
from bmes_fem.mesh.domain import DEGENERATE_RELATIVE_VOLUME, Domain
from bmes_fem.mesh.meshing import BOUNDARY_TAGS, REGION_TAGS, MeshSizes, mesh_on_root

gmsh = lazy_module("gmsh")
meshio = lazy_module("meshio")

MESHIO_FILE = "a meshio-readable tetrahedral mesh (.vtu, .xdmf, .inp, .med, ...)"
STL_FILE = "a closed surface as an STL file"
BONE_EXTENT_M = (0.005, 0.6)  # largest bounding-box side of a plausible bone mesh
FIRST_EXTRA_TAG = 100  # physical-group tags for names outside REGION_TAGS / BOUNDARY_TAGS


def check_extent(lower: np.ndarray, upper: np.ndarray, geometry: MeshFileBase, *, source: str) -> None:
    """When ``geometry.unit`` is left out (mm): ConfigError unless the largest side of the bounding box
    [lower, upper] (metres) spans 5 mm .. 0.6 m. An explicit unit is taken as it is."""
    if geometry.unit is not None:
        return
    sides_m = np.asarray(upper) - np.asarray(lower)
    largest_m = float(sides_m.max())
    low_m, high_m = BONE_EXTENT_M
    if low_m <= largest_m <= high_m:
        return
    in_file = largest_m / MESH_UNITS_TO_M[DEFAULT_MESH_UNIT]
    fitting = [unit for unit, to_m in MESH_UNITS_TO_M.items() if low_m <= in_file * to_m <= high_m]
    hint = f"is the unit '{fitting[0]}'? set geometry.unit: {fitting[0]}" if fitting else "set geometry.unit to the file's unit"
    sides = " x ".join(f"{v * 1e3:.4g}" for v in sides_m)
    raise ConfigError(
        f"geometry.unit is not set, so mesh '{source}' is read in {DEFAULT_MESH_UNIT} and spans {sides} mm; expected a bone "
        f"{low_m * 1e3:g} mm to {high_m * 1e3:g} mm across ({hint}; an explicit unit skips this check)"
    )


def _finite_points(points_in_file: np.ndarray, what: str, source: str) -> np.ndarray:
    """The points of a mesh file; MeshError if it has none or one is not finite."""
    if not len(points_in_file):
        raise MeshError(f"{what} '{source}' has no points; expected a mesh")
    bad = np.flatnonzero(~np.all(np.isfinite(points_in_file), axis=1))
    if bad.size:
        coordinates = tuple(points_in_file[bad[0]].tolist())
        raise MeshError(f"{what} '{source}': point {bad[0]} has the coordinates {coordinates}; expected finite numbers")
    return points_in_file


def signed_volumes(points: np.ndarray, tets: np.ndarray) -> np.ndarray:
    """V = det[x1 - x0, x2 - x0, x3 - x0] / 6 for each tetrahedron (rows of vertex indices)."""
    corners = points[tets]
    return np.linalg.det(corners[:, 1:, :] - corners[:, :1, :]) / 6.0


def check_orientation(points: np.ndarray, tets: np.ndarray, source: str) -> None:
    """MeshError naming the inverted (minority sign) and degenerate tetrahedra, 0-based file order."""
    volumes = signed_volumes(points, tets)
    threshold = DEGENERATE_RELATIVE_VOLUME * np.abs(volumes).mean()
    degenerate = np.flatnonzero(np.abs(volumes) <= threshold)
    majority = 1.0 if np.count_nonzero(volumes > threshold) >= np.count_nonzero(volumes < -threshold) else -1.0
    inverted = np.flatnonzero(volumes * majority < -threshold)
    problems = [
        f"{len(cells)} {what} tetrahedra (first: {cells[:5].tolist()})"
        for what, cells in (("inverted", inverted), ("degenerate", degenerate))
        if len(cells)
    ]
    if problems:
        raise MeshError(
            f"mesh file '{source}': {' and '.join(problems)} of {len(tets)}; expected positive-volume tetrahedra "
            f"of one orientation"
        )


def _tag_array(mesh: meshio.Mesh, tag_map: TagMap, source: str) -> str:
    """The cell-data array holding the tags: ``tag_map.cell_data`` or the only integer array."""
    integer = [name for name, arrays in mesh.cell_data.items() if all(np.issubdtype(a.dtype, np.integer) for a in arrays)]
    if tag_map.cell_data is not None:
        if tag_map.cell_data not in mesh.cell_data:
            raise MeshError(
                f"mesh file '{source}': geometry.tag_map.cell_data = '{tag_map.cell_data}' is not in the file "
                f"(cell-data arrays: {', '.join(sorted(mesh.cell_data)) or 'none'})"
            )
        return tag_map.cell_data
    if len(integer) != 1:
        raise MeshError(
            f"mesh file '{source}': found integer cell-data arrays [{', '.join(integer)}]; set geometry.tag_map.cell_data "
            f"to the one holding the region and boundary tags"
        )
    return integer[0]


def _cells_by_name(
    cells: np.ndarray, tags: np.ndarray, names: dict[str, int | tuple[int, ...]], key: str, source: str
) -> dict[str, np.ndarray]:
    """Rows of ``cells`` whose tag is mapped to each name; MeshError for a mapped tag absent from the file."""
    present = set(np.unique(tags).tolist())
    selected = {}
    for name, wanted in names.items():
        wanted = (wanted,) if isinstance(wanted, int) else tuple(wanted)
        missing = [t for t in wanted if t not in present]
        if missing:
            raise MeshError(
                f"mesh file '{source}': {key}.{name} = {list(wanted)}: tag(s) {missing} do not occur in the file "
                f"(its {key.rsplit('.', 1)[-1]} tags: {sorted(present)})"
            )
        selected[name] = cells[np.isin(tags, wanted)]
    return selected


def _group_tag(name: str, known: dict[str, int], index: int) -> int:
    return known.get(name, FIRST_EXTRA_TAG + index)


def _add_discrete_model(points: np.ndarray, regions: dict[str, np.ndarray], boundaries: dict[str, np.ndarray]) -> None:
    """Discrete gmsh entities (one per name) holding the given tetrahedra / triangles, as physical groups."""
    node_tags = np.arange(1, len(points) + 1)
    for dim, element_type, groups, known in ((3, 4, regions, REGION_TAGS), (2, 2, boundaries, BOUNDARY_TAGS)):
        for index, (name, cells) in enumerate(groups.items()):
            entity = gmsh.model.addDiscreteEntity(dim)
            if dim == 3 and index == 0:
                gmsh.model.mesh.addNodes(3, entity, node_tags, points.ravel())
            gmsh.model.mesh.addElementsByType(entity, element_type, [], (cells + 1).ravel())
            gmsh.model.addPhysicalGroup(dim, [entity], _group_tag(name, known, index), name)


def read_meshio_file(comm: MPI.Comm, geometry: MeshioFile) -> Domain:
    """Read a tetrahedral mesh with meshio on rank 0, map its tags to names and distribute it."""
    source = str(geometry.path)

    def build():
        path = input_file(geometry.path, "mesh file", MESHIO_FILE, error=MeshError)
        with reading(path, "mesh file", "by meshio", MESHIO_FILE, error=MeshError):
            mesh = meshio.read(path)
        points = _finite_points(mesh.points, "mesh file", source) * geometry.scale_to_m
        check_extent(points.min(axis=0), points.max(axis=0), geometry, source=source)
        array = _tag_array(mesh, geometry.tag_map, source)
        by_type: dict[str, tuple[list, list]] = {"tetra": ([], []), "triangle": ([], [])}
        for block, tags in zip(mesh.cells, mesh.cell_data[array], strict=True):
            if block.type in by_type:
                by_type[block.type][0].append(block.data)
                by_type[block.type][1].append(tags)
        if not by_type["tetra"][0]:
            raise MeshError(f"mesh file '{source}' has no linear tetrahedra (cell types: {[b.type for b in mesh.cells]})")
        tets, tet_tags = (np.concatenate(parts) for parts in by_type["tetra"])
        check_orientation(points, tets, source)
        regions = _cells_by_name(tets, tet_tags, geometry.tag_map.regions, "geometry.tag_map.regions", source)
        mapped = np.zeros(len(tets), dtype=bool)
        for wanted in geometry.tag_map.regions.values():
            mapped |= np.isin(tet_tags, wanted)
        if not mapped.all():
            unmapped = sorted(set(np.unique(tet_tags[~mapped]).tolist()))
            raise MeshError(
                f"mesh file '{source}': tetrahedra with tags {unmapped} are in no geometry.tag_map.regions entry "
                f"(mapped: {dict(geometry.tag_map.regions)}); expected every volume tag mapped to a region"
            )
        boundaries = {}
        if geometry.tag_map.boundaries:
            if not by_type["triangle"][0]:
                raise MeshError(f"mesh file '{source}': geometry.tag_map.boundaries is set but the file has no triangles")
            triangles, triangle_tags = (np.concatenate(parts) for parts in by_type["triangle"])
            boundaries = _cells_by_name(
                triangles, triangle_tags, geometry.tag_map.boundaries, "geometry.tag_map.boundaries", source
            )
        _add_discrete_model(mesh.points, regions, boundaries)

    return mesh_on_root(comm, source, build, None, unit_to_m=geometry.scale_to_m)


def _edge_counts(triangles: np.ndarray) -> np.ndarray:
    """How many triangles share each distinct (undirected) edge."""
    edges = np.sort(np.concatenate([triangles[:, [0, 1]], triangles[:, [1, 2]], triangles[:, [2, 0]]]), axis=1)
    _, counts = np.unique(edges, axis=0, return_counts=True)
    return counts


def check_closed(triangles: np.ndarray, source: str) -> None:
    """MeshError unless every edge of the triangulation is shared by exactly two triangles."""
    counts = _edge_counts(triangles)
    open_edges, non_manifold = int(np.count_nonzero(counts == 1)), int(np.count_nonzero(counts > 2))
    if open_edges or non_manifold:
        raise MeshError(
            f"STL '{source}' is not a closed surface: {open_edges} edges belong to one triangle only (holes) and "
            f"{non_manifold} to more than two; expected a closed, manifold (watertight) surface"
        )


def _selected(rule: Selection, midpoints_m: np.ndarray, normals: np.ndarray) -> np.ndarray:
    if isinstance(rule, SelectBox):
        return np.all((midpoints_m >= rule.min) & (midpoints_m <= rule.max), axis=1)
    if isinstance(rule, SelectSphere):
        return np.linalg.norm(midpoints_m - np.asarray(rule.centre), axis=1) <= rule.radius
    axis = np.asarray(rule.axis) / np.linalg.norm(rule.axis)
    return normals @ axis >= np.cos(rule.half_angle)


def boundary_names(
    rules: dict[str, tuple[Selection, ...]], midpoints_m: np.ndarray, normals: np.ndarray
) -> np.ndarray:
    """Per facet: the first name whose rules all hold, else 'periosteal'."""
    names = np.full(len(midpoints_m), "periosteal", dtype=object)
    free = np.ones(len(midpoints_m), dtype=bool)
    for name, name_rules in rules.items():
        hit = free.copy()
        for rule in name_rules:
            hit &= _selected(rule, midpoints_m, normals)
        names[hit] = name
        free &= ~hit
    return names


def _outward_normals(coords: np.ndarray, triangles: np.ndarray, tets: np.ndarray) -> np.ndarray:
    """Unit normals of boundary triangles pointing away from the tetrahedron that owns each of them."""
    n = len(coords)
    faces = np.concatenate([tets[:, [1, 2, 3]], tets[:, [0, 2, 3]], tets[:, [0, 1, 3]], tets[:, [0, 1, 2]]])
    opposite = np.concatenate([tets[:, 0], tets[:, 1], tets[:, 2], tets[:, 3]])

    def key(rows):
        s = np.sort(rows, axis=1).astype(np.int64)
        return (s[:, 0] * n + s[:, 1]) * n + s[:, 2]

    face_keys = key(faces)
    order = np.argsort(face_keys)
    where = order[np.searchsorted(face_keys, key(triangles), sorter=order)]
    a, b, c = (coords[triangles[:, i]] for i in range(3))
    normals = np.cross(b - a, c - a)
    inward = np.einsum("ij,ij->i", normals, coords[opposite[where]] - a) > 0
    normals[inward] *= -1
    return normals / np.linalg.norm(normals, axis=1)[:, None]


def _node_index(node_tags: np.ndarray) -> np.ndarray:
    """Lookup array: gmsh node tag -> row in the node coordinate array."""
    index = np.full(int(node_tags.max()) + 1, -1, dtype=np.int64)
    index[node_tags] = np.arange(len(node_tags))
    return index


def read_stl_surface(comm: MPI.Comm, geometry: StlSurface, sizes: MeshSizes, *, save_path: Path | None = None) -> Domain:
    """Fill a closed STL surface with tetrahedra (gmsh, sizes in metres) and name its boundary facets by rules."""
    source = str(geometry.path)

    def build():
        path = input_file(geometry.path, "STL file", STL_FILE, error=MeshError)
        with reading(path, "STL file", "by gmsh", STL_FILE, error=MeshError):
            gmsh.merge(str(path))
        node_tags, coords, _ = gmsh.model.mesh.getNodes()
        coords = _finite_points(coords.reshape(-1, 3), "STL file", source) * geometry.scale_to_m
        check_extent(coords.min(axis=0), coords.max(axis=0), geometry, source=source)
        _, triangle_nodes = gmsh.model.mesh.getElementsByType(2)
        check_closed(_node_index(node_tags)[triangle_nodes.reshape(-1, 3)], source)
        surfaces = [tag for _, tag in gmsh.model.getEntities(2)]
        volume = gmsh.model.geo.addVolume([gmsh.model.geo.addSurfaceLoop(surfaces)])
        gmsh.model.geo.synchronize()
        gmsh.model.addPhysicalGroup(3, [volume], REGION_TAGS["trabecular"], "trabecular")

    def name_boundaries():
        node_tags, coords, _ = gmsh.model.mesh.getNodes()
        index = _node_index(node_tags)
        coords = coords.reshape(-1, 3) * geometry.scale_to_m
        triangles = index[gmsh.model.mesh.getElementsByType(2)[1].reshape(-1, 3)]
        tets = index[gmsh.model.mesh.getElementsByType(4)[1].reshape(-1, 4)]
        names = boundary_names(geometry.boundaries, coords[triangles].mean(axis=1), _outward_normals(coords, triangles, tets))
        for i, name in enumerate([*geometry.boundaries, "periosteal"]):
            chosen = triangles[names == name]
            if not len(chosen):
                raise MeshError(f"STL '{source}': the rules of geometry.boundaries.{name} select no surface facet")
            entity = gmsh.model.addDiscreteEntity(2)
            gmsh.model.mesh.addElementsByType(entity, 2, [], node_tags[chosen].ravel())
            gmsh.model.addPhysicalGroup(2, [entity], _group_tag(name, BOUNDARY_TAGS, i), name)

    scaled = MeshSizes(sizes.global_m, sizes.zones)
    return mesh_on_root(
        comm, source, build, scaled, unit_to_m=geometry.scale_to_m, save_path=save_path, after_meshing=name_boundaries
    )
