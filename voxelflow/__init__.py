"""voxelflow: from a visual fMRI study (NSD first) to encoders, decoders and figures.

Layers (kept honest by tests/test_layers.py): the core modules here (study
readers, preprocessing, response store, noise ceiling, atlases, the mini-NSD)
never import model code; `workflow/scripts` wire the layers together.
"""

__version__ = "0.1.0"
