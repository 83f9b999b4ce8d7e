"""Exceptions raised on bad input or failed solves; the CLI prints them as one line and exits 1."""


class BmesError(Exception):
    """Base class: the message names the key or file, the value, and what was expected."""


class ConfigError(BmesError):
    """A configuration key is unknown, has the wrong unit, or a non-physical value."""


class MeshError(BmesError):
    """A mesh lacks a named physical group, or has inverted or degenerate cells."""


class SolverError(BmesError):
    """A linear solve did not converge."""
