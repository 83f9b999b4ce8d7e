"""Validated readers of the input files a case names, one module per kind.

- `files`: any input path (missing, a directory, empty, unreadable) and text (UTF-8, no NUL bytes);
- `tables`: numeric CSV tables (the waveform of a load history builds on it, bmes_fem.config.histories);
- `masks`: NIfTI lesion masks (soft masks in [0, 1] or integer label images);
- `foreign`: reads through meshio, gmsh and nibabel that never end the process nor print.

Each problem is one ConfigError (or MeshError for meshes) naming the file, the place in it, the value
and what was expected.
"""
