"""The model: tissue fields and the lesion, weak forms, boundary conditions, loads, closed forms."""
