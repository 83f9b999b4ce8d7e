"""Patient images in and out: CT and label volumes (NIfTI or a DICOM series), CT to per-cell bone density and
modulus, a label image to a tagged tetrahedral mesh, and results resampled onto the input grid (docs/images.md).

Every volume is held in RAS+ world coordinates in mm (NIfTI's convention; a DICOM series, in LPS, is
converted on reading); the mesh is the same world frame in metres.
"""

import dolfinx_solver  # noqa: F401  (orders MPI ahead of the compiled bindings; must precede any dolfinx import)
