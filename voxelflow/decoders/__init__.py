"""Voxel -> image models: contrastive brain -> CLIP (MindEye), diffusion prior, generator, reconstruction."""
