"""A finished case: its resolved config, its folder and its summary (no solver stack needed to read one)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from bmes_fem.config.case import Config
from bmes_fem.config.loader import load_config
from bmes_fem.errors import BmesError
from bmes_fem.output.files import RESOLVED_CONFIG_FILE, SUMMARY_FILE
from bmes_fem.post.quantities import summary_value


@dataclass(frozen=True)
class Result:
    """What `bmes_fem.run_case` returns, or `Result.read` reads back from ``results/<case>/``.

    ``result["pressure.p_lesion_peak_mmHg"]`` reads a summary scalar by its dotted name.
    """

    config: Config
    case_dir: Path
    summary: dict

    def __getitem__(self, name: str) -> object:
        return summary_value(self.summary, name)

    @classmethod
    def read(cls, case_dir: str | Path) -> Result:
        """The result in a finished case folder (its input files are not opened again)."""
        case_dir = Path(case_dir)
        summary_path = case_dir / SUMMARY_FILE
        if not summary_path.is_file():
            raise BmesError(f"results folder {case_dir} has no {SUMMARY_FILE} (expected a folder written by `bmes run`)")
        summary = json.loads(summary_path.read_text())
        return cls(load_config(case_dir / RESOLVED_CONFIG_FILE, read_inputs=False), case_dir, summary)
