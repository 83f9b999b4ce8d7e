"""Pictures of finished cases (pyvista, matplotlib): no solver stack is imported here."""
