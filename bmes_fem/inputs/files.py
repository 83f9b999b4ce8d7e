"""The checks every input file gets before it is opened, and reading one as text.

A path is usable when it exists, is a regular file (not a directory), is not empty and can be read;
text must be UTF-8 without NUL bytes (a binary file put where text belongs).
"""

from __future__ import annotations

import os
from pathlib import Path

from bmes_fem.errors import BmesError, ConfigError


def input_file(
    path: str | Path, what: str, expected: str, *, error: type[BmesError] = ConfigError, may_be_empty: bool = False
) -> Path:
    """``path`` as a Path if it is a readable, non-empty regular file; else ``error``: "<what> '<path>' is a
    directory, expected <expected>" (or does not exist, is empty, is not readable)."""
    path = Path(path)
    if path.is_dir():
        problem = "is a directory"
    elif not path.exists():
        problem = "does not exist"
    elif not path.is_file():
        problem = "is not a regular file"
    elif not may_be_empty and path.stat().st_size == 0:
        problem = "is empty"
    elif not os.access(path, os.R_OK):
        problem = "is not readable (permission denied)"
    else:
        return path
    raise error(f"{what} '{path}' {problem}, expected {expected}")


def read_text(path: Path, what: str, expected: str, *, error: type[BmesError] = ConfigError) -> str:
    """The UTF-8 text of a checked input file; ``error`` naming the first byte that is not text."""
    try:
        data = path.read_bytes()
    except OSError as err:
        raise error(f"{what} '{path}' could not be read ({err.strerror}), expected {expected}") from None
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as err:
        raise error(f"{what} '{path}' is not UTF-8 text (byte {err.start}: {err.reason}), expected {expected}") from None
    if "\x00" in text:
        raise error(f"{what} '{path}' holds a NUL byte at byte {data.index(0)} (a binary file?), expected {expected}")
    return text
