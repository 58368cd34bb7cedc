"""Images that drive chosen brain regions: encoder-guided diffusion (after BrainDiVE)."""
