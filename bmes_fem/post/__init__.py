"""Post-processing in memory: strains, risk index, summary scalars, clusters, probes."""
