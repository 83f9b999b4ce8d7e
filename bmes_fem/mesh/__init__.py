"""Domains: parametric bone and verification geometries meshed with gmsh, imported meshes, quality."""
