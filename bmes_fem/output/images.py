"""Results back in image space: NIfTI images on the input grid, the lesion slice figure, the Dice overlap.

Written when the case has image inputs (a label image, a CT or a mask lesion), next to ``fields.vtu``, on
the grid and with the affine of the first image input (bmes_fem.imaging.inputs), so they overlay the
inputs in 3D Slicer or ITK-SNAP (bmes_fem.imaging.resample: values at voxel centres, 0 outside the mesh):

- ``image_pressure_mmHg.nii.gz``: p [mmHg];  ``image_chi.nii.gz``: the lesion indicator;
- ``image_excess_fluid.nii.gz``: the excess fluid content (a volume fraction), the quantity that makes
  oedema bright on fluid-sensitive MRI (docs/model.md, "Excess fluid content"):
  zeta - zeta_h = alpha div u + S (p - p0),  S = 1/M + c_vasc (c_vasc in marrow);
- ``image_risk_index.nii.gz``: R of the containing cell (0 outside trabecular bone);
- ``image_drained_bulk_modulus_MPa.nii.gz``: K_dr of the skeleton in the containing cell (E / (3 (1 - 2 nu))
  when isotropic; the Reuss bound when transversely isotropic): the patient's CT stiffness with the lesion.

The predicted oedema is where zeta - zeta_h exceeds ``image_output.excess_fluid_threshold`` (default: half its
peak in the bone); its Dice
coefficient against the union of the mask lesions (voxels >= 0.5) goes into summary.json with the
volumes and centroids of the predicted oedema, the mask and the risk zone on the grid.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import ufl
from dolfinx import fem
from mpi4py import MPI

from bmes_fem.config.case import Config
from bmes_fem.imaging.figures import SliceImages, plot_lesion_slices
from bmes_fem.imaging.inputs import has_image_inputs, image_inputs, reference_grid
from bmes_fem.imaging.resample import ImageSampler, dice, write_nifti
from bmes_fem.imaging.volume import ImageVolume, read_volume
from bmes_fem.inputs.masks import read_mask
from bmes_fem.output.files import FIGURES_DIR
from bmes_fem.output.outputs import Output
from bmes_fem.post.analysis import StateAnalysis
from bmes_fem.solve.state import State
from bmes_fem.units import PA_PER_MMHG

IMAGE_FILES = {
    "pressure_mmHg": "image_pressure_mmHg.nii.gz",
    "chi": "image_chi.nii.gz",
    "excess_fluid": "image_excess_fluid.nii.gz",
    "risk_index": "image_risk_index.nii.gz",
    "drained_bulk_modulus_MPa": "image_drained_bulk_modulus_MPa.nii.gz",
}
SLICE_FIGURE = FIGURES_DIR / "lesion_slices.png"
MASK_LEVEL = 0.5
HALF_MAXIMUM = 0.5
PA_PER_MPA = 1e6


def excess_fluid_threshold(config: Config, excess_in_bone: np.ndarray) -> float | None:
    """``image_output.excess_fluid_threshold``, or half the peak excess fluid in the bone (None if it is not positive)."""
    if config.image_output.excess_fluid_threshold is not None:
        return config.image_output.excess_fluid_threshold
    peak = float(excess_in_bone.max()) if excess_in_bone.size else 0.0
    return HALF_MAXIMUM * peak if peak > 0 else None


def excess_fluid(state: State, target_pressure_Pa: float) -> fem.Function:
    """zeta - zeta_h = alpha div u + S (p - p0) as a DG1 function (exact for P2 u, P1 p, DG0 alpha and S)."""
    mesh = state.domain.mesh
    space = fem.functionspace(mesh, ("DG", 1))
    tissue = state.tissue
    expression = tissue.biot_coefficient * ufl.div(state.displacement) + tissue.storage * (state.pressure - target_pressure_Pa)
    field = fem.Function(space, name="excess_fluid")
    field.interpolate(fem.Expression(expression, space.element.interpolation_points))
    return field


def _cell_bulk_modulus_MPa(state: State) -> np.ndarray:
    """The drained bulk modulus K_dr of each owned cell [MPa] (at its midpoint)."""
    space = fem.functionspace(state.domain.mesh, ("DG", 0))
    modulus = fem.Function(space)
    modulus.interpolate(fem.Expression(state.tissue.elasticity.drained_bulk_modulus(), space.element.interpolation_points))
    n_owned = state.domain.mesh.topology.index_map(3).size_local
    return modulus.x.array[space.dofmap.list[:n_owned, 0]] / PA_PER_MPA


def _centroid_mm(grid: ImageVolume, mask: np.ndarray) -> list[float] | None:
    return grid.world_mm(np.argwhere(mask).mean(axis=0)[:, None])[:, 0].tolist() if mask.any() else None


class ImageResults(Output):
    """The module's images, figure and summary entries; collective, files on rank 0."""

    name = "images"

    def __init__(self, config: Config) -> None:
        self.config = config

    def finish(self, final: StateAnalysis, folder: Path) -> dict:
        config, state = self.config, final.state
        comm = state.domain.mesh.comm
        grid = reference_grid(config)
        sampler = ImageSampler(state.domain, grid)
        pressure_mmHg = fem.Function(state.pressure.function_space)
        pressure_mmHg.x.array[:] = state.pressure.x.array / PA_PER_MMHG
        images = {
            "pressure_mmHg": sampler.function(pressure_mmHg),
            "chi": sampler.function(state.tissue.chi),
            "excess_fluid": sampler.function(excess_fluid(state, config.fluid.target_pressure)),
            "risk_index": sampler.cell_values(final.cells.risk_index),
            "drained_bulk_modulus_MPa": sampler.cell_values(_cell_bulk_modulus_MPa(state)),
        }
        inside = sampler.inside()
        summary = self._ct_summary(state) if config.ct_material is not None else {}
        if comm.rank == 0:
            for name, image in images.items():
                write_nifti(folder / IMAGE_FILES[name], image, grid.affine)
            summary |= self._overlap(grid, images, inside)
            if config.output.figures and config.image_output.figures:
                plot_lesion_slices(self._slice_images(grid, images, inside), folder / SLICE_FIGURE, config.case)
                summary["figure"] = str(SLICE_FIGURE)
        summary = comm.bcast(summary, root=0)
        return {"images": {"grid_shape": list(grid.values.shape), "files": sorted(IMAGE_FILES.values()), **summary}}

    def _lesion_mask(self, grid: ImageVolume) -> np.ndarray:
        """Union of the mask lesions at level 0.5 (all False without one)."""
        masks = [read_mask(lesion.mask, lesion.label).values >= MASK_LEVEL for lesion in self.config.lesions if lesion.kind == "mask"]
        return np.logical_or.reduce(masks) if masks else np.zeros(grid.values.shape, dtype=bool)

    def _risk_zone(self, images: dict) -> np.ndarray:
        return images["risk_index"] >= min(self.config.risk.critical_indices, default=1.0)

    def _overlap(self, grid: ImageVolume, images: dict, inside: np.ndarray) -> dict:
        """Volumes and centroids of the predicted oedema, the mask and the risk zone; the Dice coefficient."""
        threshold = excess_fluid_threshold(self.config, images["excess_fluid"][inside])
        predicted = inside & (images["excess_fluid"] > threshold) if threshold is not None else np.zeros_like(inside)
        mask, risk = self._lesion_mask(grid), self._risk_zone(images)
        voxel_mm3 = grid.voxel_volume_mm3()
        has_mask = any(lesion.kind == "mask" for lesion in self.config.lesions)
        return {
            "excess_fluid_threshold": threshold,
            "excess_fluid_max": float(images["excess_fluid"][inside].max()) if inside.any() else None,
            "predicted_oedema_volume_mm3": float(np.count_nonzero(predicted)) * voxel_mm3,
            "predicted_oedema_centroid_mm": _centroid_mm(grid, predicted),
            "mask_volume_mm3": float(np.count_nonzero(mask)) * voxel_mm3 if has_mask else None,
            "mask_centroid_mm": _centroid_mm(grid, mask),
            "dice_predicted_oedema_vs_mask": dice(predicted, mask) if has_mask else None,
            "risk_zone_volume_mm3": float(np.count_nonzero(risk)) * voxel_mm3,
            "risk_zone_centroid_mm": _centroid_mm(grid, risk),
        }

    def _slice_images(self, grid: ImageVolume, images: dict, inside: np.ndarray) -> SliceImages:
        ct = self.config.ct_material
        background = read_volume(ct.image, "CT image") if ct is not None else grid
        risk_at = min(self.config.risk.critical_indices, default=1.0)
        return SliceImages(
            grid.affine, background.values.astype(float), "CT" if ct is not None else f"{image_inputs(self.config)[0][0]}",
            images["excess_fluid"], inside, self._lesion_mask(grid), self._risk_zone(images), f"risk zone R >= {risk_at:g}",
        )  # fmt: skip

    def _ct_summary(self, state: State) -> dict:
        """The CT calibration and the trabecular cells' density, BV/TV and modulus (volume-weighted means) (collective)."""
        from bmes_fem.imaging.calibration import read_ct
        from bmes_fem.imaging.material import integrate_cells

        ct = self.config.ct_material
        volume, calibration = read_ct(ct)
        material = integrate_cells(state.domain, ct, volume, calibration, "trabecular")
        mesh = state.domain.mesh
        corners = mesh.geometry.x[mesh.geometry.dofmaps[0][material.cells, :4]]
        weights = np.abs(np.linalg.det(corners[:, 1:] - corners[:, :1]))
        comm = mesh.comm

        def mean(values: np.ndarray) -> float:
            return comm.allreduce(float(values @ weights), op=MPI.SUM) / comm.allreduce(float(weights.sum()), op=MPI.SUM)

        def extreme(values: np.ndarray, op) -> float:
            return comm.allreduce(float(op(values)) if values.size else (np.inf if op is np.min else -np.inf), op=MPI.MIN if op is np.min else MPI.MAX)

        return {
            "ct_material": {
                "calibration_slope_g_per_cm3_per_HU": calibration.slope_g_per_cm3_per_HU,
                "calibration_intercept_g_per_cm3": calibration.intercept_g_per_cm3,
                "calibration_rod_mean_HU": list(calibration.rod_mean_HU),
                "calibration_rms_residual_g_per_cm3": calibration.rms_residual_g_per_cm3,
                "law": ct.law,
                "integrate": ct.integrate,
                "apparent_density_mean_g_per_cm3": mean(material.apparent_density_g_per_cm3),
                "bone_volume_fraction_mean": mean(material.apparent_density_g_per_cm3) / ct.tissue_density_g_per_cm3,
                "modulus_mean_MPa": mean(material.modulus_MPa),
                "modulus_min_MPa": extreme(material.modulus_MPa, np.min),
                "modulus_max_MPa": extreme(material.modulus_MPa, np.max),
                "raised_to_minimum_density_share": material.raised_share,
            }
        }


def image_outputs(config: Config) -> list[Output]:
    """[ImageResults] when the case has image inputs, else none."""
    return [ImageResults(config)] if has_image_inputs(config) else []
