"""Running case configs through the studies machinery (bmes_fem.studies): each case in its own process, locally
or on Dask, keyed by the hash of its physics (equal physics run once; a rerun reuses every finished case, so an
interrupted validation or calibration resumes).

The configs become one study of named cases, written to ``<results-dir>/<name>/`` (``cases/<key>/``,
``table.csv``, ``table.md``, ``logs/``) by `bmes_fem.studies.runner.run_study`. Every run gets `RUN_SETTINGS`
(no figures; probes in mmHg, as `bmes_fem.validation.measurements.read_probe_series` reads them). Runs that
share a key share a folder, so each gets the union of their probes (the output section is not in the key).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bmes_fem.config.case import Config
from bmes_fem.config.loader import with_overrides
from bmes_fem.errors import BmesError
from bmes_fem.post.quantities import summary_quantities
from bmes_fem.studies.executor import OK, Executor
from bmes_fem.studies.report import CASES_DIR
from bmes_fem.studies.runner import StudyRun, run_study
from bmes_fem.studies.schema import StudyFile
from bmes_fem.studies.study import Case, Parameter, Study, case_key

RUN_SETTINGS = {"output.figures": False, "output.pressure_unit": "mmHg"}
WALL_TIME = "wall_time_s.total"


@dataclass(frozen=True)
class Runs:
    """The finished study: each label's case folder (None if it failed or did not run) and its error."""

    run: StudyRun
    folders: dict[str, Path | None]
    errors: dict[str, str]

    @property
    def interrupted(self) -> bool:
        return self.run.interrupted

    def folder(self, label: str) -> Path:
        """The case folder of ``label``; BmesError with the case's error if it did not finish."""
        folder = self.folders[label]
        if folder is None:
            raise BmesError(f"case '{label}' did not finish: {self.errors[label] or 'not run'}")
        return folder


def _merged_probes(configs: Mapping[str, Config]) -> dict[str, Config]:
    """Each config with RUN_SETTINGS and the probes of every config of the same key (by name; first point kept)."""
    prepared = {label: with_overrides(config, RUN_SETTINGS, source=f"run '{label}'") for label, config in configs.items()}
    probes: dict[str, dict[str, Any]] = {}
    for config in prepared.values():
        group = probes.setdefault(case_key(config), {})
        for probe in config.output.probes:
            group.setdefault(probe.name, probe.model_dump(mode="json"))
    return {
        label: config if len(probes[case_key(config)]) == len(config.output.probes)
        else with_overrides(config, {"output.probes": list(probes[case_key(config)].values())}, source=f"run '{label}'")
        for label, config in prepared.items()
    }  # fmt: skip


def run_configs(
    name: str,
    configs: Mapping[str, Config],
    executor: Executor,
    results_dir: Path,
    source: Path,
    quantities: Sequence[str] = (WALL_TIME,),
    parameters: Sequence[Parameter] = (),
    values: Mapping[str, dict[str, Any]] | None = None,
) -> Runs:
    """Run ``configs`` (label -> config; labels as study case names) as the study ``name`` of named cases.

    ``quantities`` go into the study table (each must be reported by every config); ``parameters`` and
    ``values`` (label -> {path: SI value}) give the table its parameter columns.
    """
    prepared = _merged_probes(configs)
    first = next(iter(prepared.values()))
    spec = StudyFile.model_validate(
        {"name": name, "base": str(source), "quantities": list(quantities), "plots": False, "cases": [{"name": label} for label in prepared]}
    )
    cases = tuple(Case(label, {}, config, case_key(config), dict((values or {}).get(label, {}))) for label, config in prepared.items())
    registry = summary_quantities(first)
    study = Study(Path(source), spec, first, tuple(parameters), cases, {q: registry[q] for q in quantities})
    run = run_study(study, executor, results_dir)
    folders = {row.case.label: run.folder / CASES_DIR / row.case.key if row.status == OK else None for row in run.rows}
    return Runs(run, folders, {row.case.label: row.error for row in run.rows})
