"""Where the tunnels of a core decompression lie (bmes_fem.config.geometry.CoreDecompression): NumPy tests on points.

A tunnel is the solid cylinder {x : 0 <= (x - e).a <= L, |(x - e) - ((x - e).a) a| <= r} from its entry e along the
unit axis a to its target at length L, radius r = diameter / 2. The mesh is conforming to the tunnel wall (gmsh
fragments the bone with it), so a cell lies in a tunnel exactly when all its vertices do (to a tolerance of the
vertex placement on the curved wall).
"""

from __future__ import annotations

from collections.abc import Sequence

import dolfinx
import numpy as np

from bmes_fem.config.geometry import Tunnel

VERTEX_TOLERANCE = 1e-6  # relative to the radius: a mesh vertex on the wall counts as inside


def _coordinates(tunnel: Tunnel, points_m: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(axial coordinate from the entry, distance from the axis) [m] of ``points_m`` (n, 3)."""
    relative = np.asarray(points_m, dtype=float) - np.asarray(tunnel.entry)
    axis = np.asarray(tunnel.axis())
    axial = relative @ axis
    return axial, np.linalg.norm(relative - axial[:, None] * axis, axis=1)


def in_tunnels(tunnels: Sequence[Tunnel], points_m: np.ndarray, margin_m: float = 0.0) -> np.ndarray:
    """True where a point lies in some tunnel grown by ``margin_m`` (radius + margin, length + margin at the target)."""
    inside = np.zeros(len(points_m), dtype=bool)
    for tunnel in tunnels:
        axial, radial = _coordinates(tunnel, points_m)
        inside |= (axial >= -margin_m) & (axial <= tunnel.length_m() + margin_m) & (radial <= tunnel.diameter / 2 + margin_m)
    return inside


def tunnel_cells(mesh: dolfinx.mesh.Mesh, tunnels: Sequence[Tunnel]) -> np.ndarray:
    """The local cells (owned and ghost) whose vertices all lie in a tunnel (to VERTEX_TOLERANCE of its radius)."""
    tolerance_m = VERTEX_TOLERANCE * min(tunnel.diameter / 2 for tunnel in tunnels)
    nodes = mesh.geometry.dofmaps[0]
    inside = in_tunnels(tunnels, mesh.geometry.x, tolerance_m)
    return np.flatnonzero(inside[nodes].all(axis=1)).astype(np.int32)
