"""The mesh cache (bmes_fem.mesh.cache): a geometry meshed once is read back, bit for bit, on one or two ranks; a
changed size is another entry; a half-written file is never read; BMES_MESH_CACHE=off writes nothing."""

from __future__ import annotations

import numpy as np
import pytest
from mpi4py import MPI

from bmes_fem.config.loader import parse_config
from bmes_fem.mesh import build
from bmes_fem.mesh.build import build_domain, mesh_sizes
from bmes_fem.mesh.cache import ENVIRONMENT, OFF, cached_mesh_path

COARSE_HEAD = {"mesh": {"size": "8 mm", "lesion_size": "6 mm"}}


def _shared_folder(tmp_path_factory, name: str):
    comm = MPI.COMM_WORLD
    return comm.bcast(tmp_path_factory.mktemp(name) if comm.rank == 0 else None, root=0)


def _gathered_coordinates(domain) -> np.ndarray:
    """Every rank's owned vertex coordinates in input order, gathered (the same array on serial and parallel runs)."""
    mesh = domain.mesh
    owned = mesh.geometry.index_map().size_local
    local = (mesh.geometry.input_global_indices[:owned], mesh.geometry.x[:owned])
    pieces = mesh.comm.allgather(local)
    order = np.concatenate([p[0] for p in pieces])
    return np.concatenate([p[1] for p in pieces])[np.argsort(order)]


@pytest.mark.mpi
def test_a_second_build_reads_the_cached_mesh_bit_for_bit(tmp_path_factory, monkeypatch):
    monkeypatch.setenv(ENVIRONMENT, str(_shared_folder(tmp_path_factory, "cache")))
    config = parse_config(COARSE_HEAD)
    first = build_domain(config)
    path, hit = cached_mesh_path(config.geometry, mesh_sizes(config), MPI.COMM_WORLD)
    assert hit and path.stat().st_size > 10_000
    monkeypatch.setattr(build, "mesh_shape", lambda *args, **kwargs: pytest.fail("meshed again instead of reading the cache"))
    second = build_domain(config)
    assert second.source == first.source == "gmsh:femoral_head"
    assert (second.regions, second.boundaries) == (first.regions, first.boundaries)
    np.testing.assert_array_equal(_gathered_coordinates(second), _gathered_coordinates(first))


def test_another_size_is_another_entry_and_a_temporary_file_is_not_an_entry(tmp_path, monkeypatch):
    monkeypatch.setenv(ENVIRONMENT, str(tmp_path))
    coarse, finer = parse_config(COARSE_HEAD), parse_config({"mesh": {"size": "7 mm", "lesion_size": "6 mm"}})
    path, hit = cached_mesh_path(coarse.geometry, mesh_sizes(coarse), MPI.COMM_SELF)
    assert not hit
    path.with_name(f".{path.stem}.123.msh").write_text("half a mesh")  # another run still writing
    assert cached_mesh_path(coarse.geometry, mesh_sizes(coarse), MPI.COMM_SELF) == (path, False)
    assert cached_mesh_path(finer.geometry, mesh_sizes(finer), MPI.COMM_SELF)[0] != path


def test_off_meshes_without_writing(tmp_path, monkeypatch):
    monkeypatch.setenv(ENVIRONMENT, OFF)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    config = parse_config(COARSE_HEAD)
    assert cached_mesh_path(config.geometry, mesh_sizes(config), MPI.COMM_SELF) == (None, False)
    domain = build_domain(config, MPI.COMM_SELF)
    assert domain.mesh.topology.index_map(3).size_global > 100 and not any(tmp_path.rglob("*.msh"))
