"""The names of the files in a case folder (no solver stack: the pictures read them too)."""

from pathlib import Path

RESOLVED_CONFIG_FILE = "config.resolved.yaml"  # every value used, SI with units; reloads to the same config
SUMMARY_FILE = "summary.json"  # scalars by dotted name (bmes_fem.post.quantities)
FIELDS_FILE = "fields.vtu"  # mesh and fields of the final state, gathered in the input numbering
SURFACE_FILE = "articular_surface.vtp"  # triangles of the 'articular' boundary [m]
RISK_CLUSTERS_FILE = "risk_clusters.csv"  # clusters of trabecular cells with R >= R_crit
PRESSURE_CLUSTERS_FILE = "pressure_clusters.csv"  # clusters of cells whose mean p exceeds a threshold
PROBE_TABLE = "probes.csv"  # per state: time, load fraction, p and u at each probe
PROBE_FIGURE = Path("figures") / "probe_pressure.png"
BOUNDARY_TABLE = "boundaries.csv"  # per state: force through [N] and mean p on each output boundary
PRESSURE_SERIES = "pressure_mmHg.bp"  # VTX (ADIOS2) time series, P1
DISPLACEMENT_SERIES = "displacement_m.bp"  # VTX time series, P2
FIGURES_DIR = Path("figures")
