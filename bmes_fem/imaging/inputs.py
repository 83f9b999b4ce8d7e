"""The image inputs of a case (label image, CT, lesion masks): which they are, and that they fit together.

The images of a case share one voxel grid (shape and affine): the MRI lesion mask, the CT and the label
image are registered and resampled onto one grid before the run, and the results are written back on it
(bmes_fem.output.images). A mask lesion must overlap the bone of the label image.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from bmes_fem.config.case import Config
from bmes_fem.config.geometry import SegmentationGeometry
from bmes_fem.errors import ConfigError
from bmes_fem.imaging.volume import ImageVolume, check_same_grid, read_volume
from bmes_fem.inputs.masks import read_mask


def image_inputs(config: Config) -> list[tuple[str, Path]]:
    """(what, path) of each image input: the label image, the CT, each mask lesion, in that order."""
    inputs = []
    if isinstance(config.geometry, SegmentationGeometry):
        inputs.append(("label image", config.geometry.labels))
    if config.ct_material is not None:
        inputs.append(("CT image", config.ct_material.image))
    inputs += [(f"lesions.{i}.mask", lesion.mask) for i, lesion in enumerate(config.lesions) if lesion.kind == "mask"]
    return inputs


def has_image_inputs(config: Config) -> bool:
    return bool(image_inputs(config))


def reference_grid(config: Config) -> ImageVolume:
    """The first image input: its grid is the grid of every image input and of the image outputs."""
    what, path = image_inputs(config)[0]
    return read_volume(path, what)


def check_image_inputs(config: Config) -> None:
    """ConfigError if two image inputs lie on different grids (naming both files and affines), or a mask lesion
    has no voxel in the bone of the label image (naming both files)."""
    inputs = image_inputs(config)
    if len(inputs) < 2:
        return
    first_is, first_path = inputs[0]
    first = read_volume(first_path, first_is)
    for what, path in inputs[1:]:
        check_same_grid(first, read_volume(path, what), first_is, what)
    if not isinstance(config.geometry, SegmentationGeometry):
        return
    bone = np.isin(first.values, config.geometry.bone)
    for index, lesion in enumerate(config.lesions):
        if lesion.kind == "mask" and not np.any(read_mask(lesion.mask, lesion.label).values[bone] > 0):
            raise ConfigError(
                f"lesions.{index}.mask '{lesion.mask}' has no lesion voxel in the bone (labels {list(config.geometry.bone)}) of "
                f"label image '{first.path}'; expected an oedema mask inside the bone"
            )
