"""Regenerate the example meshes in this folder from the project's configs (see README.md).

    .venv/bin/python meshes/make_examples.py
"""

from pathlib import Path

import dolfinx_solver  # noqa: F401  (must precede any dolfinx import)

# isort: split
import meshio
import numpy as np
from mpi4py import MPI

from bmes_fem.config.loader import load_config
from bmes_fem.mesh.build import build_domain

HERE = Path(__file__).resolve().parent
CONFIGS = HERE.parent / "configs"
EXAMPLES = {  # output stem -> (config, mesh overrides)
    "femoral_head_5mm": ("femoral_head_bmes.yaml", {"size": "5 mm", "lesion_size": "2.5 mm"}),
    "femoral_condyle_5mm": ("femoral_condyle_bmes.yaml", {"size": "5 mm", "lesion_size": "2.5 mm"}),
}


def main() -> None:
    for stem, (config_name, mesh) in EXAMPLES.items():
        msh = HERE / f"{stem}.msh"
        build_domain(load_config(CONFIGS / config_name, {"mesh": {**mesh, "save": str(msh)}}), MPI.COMM_SELF)
        tagged = meshio.read(msh)
        meshio.write(
            HERE / f"{stem}.vtu",
            meshio.Mesh(tagged.points, tagged.cells, cell_data={"tag": tagged.cell_data["gmsh:physical"]}),
            binary=True,
        )
        triangles = np.concatenate([block.data for block in tagged.cells if block.type == "triangle"])
        meshio.write(HERE / f"{stem}_surface.stl", meshio.Mesh(tagged.points, [("triangle", triangles)]), binary=True)
        print(f"{stem}: {sum(len(b.data) for b in tagged.cells if b.type == 'tetra')} tetrahedra")


if __name__ == "__main__":
    main()
