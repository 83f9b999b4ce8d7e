"""A DOLFINx mesh with named cell regions and boundaries, built from a gmsh model.

Coordinates are in metres. Names come from gmsh physical groups: 3D groups are regions
(cell tags), 2D groups are boundaries (facet tags).
"""

from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import dolfinx
import dolfinx.io.gmsh
import numpy as np
from mpi4py import MPI

from bmes_fem.errors import MeshError
from bmes_fem.inputs.files import input_file
from bmes_fem.inputs.foreign import reading
from bmes_fem.lazy import lazy_module

gmsh = lazy_module("gmsh")

DEGENERATE_RELATIVE_VOLUME = 1e-12
GMSH_FILE = "a gmsh .msh file with physical groups naming the regions (3D) and boundaries (2D)"


@dataclass(frozen=True)
class Domain:
    """Mesh (in metres), its cell and facet tags, and the physical-group names mapping to tag values."""

    mesh: dolfinx.mesh.Mesh
    cell_tags: dolfinx.mesh.MeshTags
    facet_tags: dolfinx.mesh.MeshTags
    regions: dict[str, int]
    boundaries: dict[str, int]
    source: str

    def region_id(self, name: str) -> int:
        """Cell tag value of region `name`; MeshError if the mesh has no such region."""
        self.require(regions=[name])
        return self.regions[name]

    def boundary_id(self, name: str) -> int:
        """Facet tag value of boundary `name`; MeshError if the mesh has no such boundary."""
        self.require(boundaries=[name])
        return self.boundaries[name]

    def require(self, regions: Iterable[str] = (), boundaries: Iterable[str] = ()) -> None:
        """Raise one MeshError listing every missing region and boundary name."""
        problems = []
        for kind, wanted, available in (
            ("region", regions, self.regions),
            ("boundary", boundaries, self.boundaries),
        ):
            missing = [name for name in wanted if name not in available]
            if missing:
                problems.append(
                    f"no {kind} {', '.join(repr(n) for n in missing)} "
                    f"(available {kind} names: {', '.join(sorted(available)) or 'none'})"
                )
        if problems:
            raise MeshError(f"mesh {self.source}: " + "; ".join(problems))


def cell_volumes_m3(mesh: dolfinx.mesh.Mesh) -> np.ndarray:
    """Signed volumes of the locally owned tetrahedra (sign depends on vertex order)."""
    if mesh.topology.cell_type != dolfinx.mesh.CellType.tetrahedron:
        raise MeshError(f"cell volume check supports tetrahedra only, got {mesh.topology.cell_type.name}")
    num_owned = mesh.topology.index_map(mesh.topology.dim).size_local
    corners = mesh.geometry.x[mesh.geometry.dofmaps[0][:num_owned, :4]]
    edges = corners[:, 1:, :] - corners[:, :1, :]
    return np.linalg.det(edges) / 6.0


def check_cell_volumes(mesh: dolfinx.mesh.Mesh, source: str) -> None:
    """Raise MeshError on every rank if any cell has |volume| <= 1e-12 * the mean |volume| (collective)."""
    volumes = np.abs(cell_volumes_m3(mesh))
    comm = mesh.comm
    total_m3 = comm.allreduce(float(volumes.sum()), op=MPI.SUM)
    count = comm.allreduce(volumes.size, op=MPI.SUM)
    if count == 0:
        raise MeshError(f"mesh {source}: has no cells")
    threshold_m3 = DEGENERATE_RELATIVE_VOLUME * total_m3 / count
    degenerate = comm.allreduce(int(np.count_nonzero(volumes <= threshold_m3)), op=MPI.SUM)
    if degenerate:
        raise MeshError(
            f"mesh {source}: {degenerate} of {count} cells are degenerate "
            f"(|volume| <= {DEGENERATE_RELATIVE_VOLUME:g} x mean cell volume)"
        )


def domain_from_gmsh_model(comm: MPI.Comm, model, *, scale_to_m: float, source: str) -> Domain:
    """Distribute the gmsh `model` (present on rank 0 of `comm`, None elsewhere) as a Domain.

    Coordinates are multiplied by `scale_to_m`; degenerate cells raise MeshError.
    """
    try:
        data = dolfinx.io.gmsh.model_to_mesh(model, comm, rank=0, gdim=3)
    except RuntimeError as err:  # raised on every rank (untagged or doubly tagged cells)
        raise MeshError(f"mesh {source}: {err}") from err
    return _domain_from_mesh_data(data, scale_to_m=scale_to_m, source=source)


def read_gmsh_file(comm: MPI.Comm, path: Path, *, scale_to_m: float, source: str | None = None) -> Domain:
    """Read a gmsh ``.msh`` file whose physical groups name the regions (3D) and boundaries (2D) (collective).

    Rank 0 reads it, quietly; an unusable file (bmes_fem.inputs.files, or gmsh cannot parse it, or no 3D
    physical group holds elements) is one MeshError naming it, raised on every rank. ``source``: the name later
    messages give the mesh (default: the path).
    """
    from bmes_fem.mesh.meshing import mesh_on_root  # meshing builds on this module

    def build() -> None:
        checked = input_file(path, "mesh file", GMSH_FILE, error=MeshError)
        gmsh.option.setNumber("General.Terminal", 0)
        with reading(checked, "mesh file", "as a gmsh mesh", GMSH_FILE, error=MeshError):
            gmsh.merge(str(checked))
        volumes = [entity for _, tag in gmsh.model.getPhysicalGroups(3) for entity in gmsh.model.getEntitiesForPhysicalGroup(3, tag)]
        if not any(len(gmsh.model.mesh.getElements(3, entity)[1]) for entity in volumes):
            raise MeshError(f"mesh file '{checked}' has no 3D elements in a physical group; expected {GMSH_FILE}")

    return mesh_on_root(comm, source or str(path), build, None, unit_to_m=scale_to_m)


def _domain_from_mesh_data(data: dolfinx.io.gmsh.MeshData, *, scale_to_m: float, source: str) -> Domain:
    mesh = data.mesh
    mesh.geometry.x[:] *= scale_to_m
    check_cell_volumes(mesh, source)
    tdim = mesh.topology.dim
    groups = data.physical_groups
    regions = {name: group.tag for name, group in groups.items() if group.dim == tdim}
    boundaries = {name: group.tag for name, group in groups.items() if group.dim == tdim - 1}
    facet_tags = data.facet_tags
    if facet_tags is None:
        empty = np.empty(0, dtype=np.int32)
        facet_tags = dolfinx.mesh.meshtags(mesh, tdim - 1, empty, empty)
    return Domain(mesh, data.cell_tags, facet_tags, regions, boundaries, source)
