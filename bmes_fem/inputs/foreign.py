"""Reading a file through a third-party library (meshio, gmsh, nibabel) without letting it end the process.

meshio prints what went wrong and calls ``sys.exit(1)`` on a file it cannot parse; gmsh raises a bare
Exception and writes its log to the terminal; nibabel raises many exception types. Here the library's
Python-level output is captured while it reads, and SystemExit or any exception becomes one error line
that names the file, the library and its message (what the library printed, when it raised without a
message). gmsh's own terminal log is switched off by the caller (``General.Terminal``).
"""

from __future__ import annotations

import contextlib
import io
import re
from collections.abc import Iterator
from pathlib import Path

from bmes_fem.errors import BmesError, ConfigError

_UNPRINTABLE = re.compile(r"[^\x20-\x7e]+")
MAX_DETAIL_CHARS = 300  # of the library's message in the error line


def _one_line(text: str) -> str:
    """Printable ASCII on one line (library messages may quote the binary bytes they choked on)."""
    return _UNPRINTABLE.sub(" ", text).strip()


@contextlib.contextmanager
def reading(path: Path, what: str, reader: str, expected: str, *, error: type[BmesError] = ConfigError) -> Iterator[None]:
    """Run the ``with`` body (a library reading ``path``) quietly: anything but a BmesError it raises,
    SystemExit included, becomes ``error``: "<what> '<path>' could not be read <reader>: <message>"
    (``reader``: "by meshio", "as a gmsh mesh", ...)."""
    printed = io.StringIO()
    try:
        with contextlib.redirect_stdout(printed), contextlib.redirect_stderr(printed):
            yield
    except BmesError:
        raise
    except (Exception, SystemExit) as err:
        message = "" if isinstance(err, SystemExit) else _one_line(str(err))
        detail = message or "; ".join(filter(None, map(_one_line, printed.getvalue().splitlines()))) or type(err).__name__
        detail = detail if len(detail) <= MAX_DETAIL_CHARS else detail[: MAX_DETAIL_CHARS - 3] + "..."
        raise error(f"{what} '{path}' could not be read {reader}: {detail}; expected {expected}") from None
