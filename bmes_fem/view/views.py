"""The names a user picks pictures by: views, camera presets, slice planes (plain data, cheap to import)."""

#: preset -> (direction from the focal point to the camera, view up); frame: x medial, y anterior, z superior
CAMERAS: dict[str, tuple[tuple[float, float, float], tuple[float, float, float]]] = {
    "anterior": ((0.0, 1.0, 0.0), (0.0, 0.0, 1.0)),
    "lateral": ((-1.0, 0.0, 0.0), (0.0, 0.0, 1.0)),
    "superior": ((0.0, 0.0, 1.0), (0.0, 1.0, 0.0)),
}
VIEWS = ("cutaway", "slices", "isosurfaces", "clusters", "deformed")
CAMERA_VIEWS = ("isosurfaces", "clusters", "deformed")  # the views seen from a camera preset
SLICE_PLANES = {"coronal": (0.0, 1.0, 0.0), "sagittal": (1.0, 0.0, 0.0), "axial": (0.0, 0.0, 1.0)}
