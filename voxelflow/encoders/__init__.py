"""Image -> voxel models: frozen backbones, feature extraction, and the encoders fitted on them."""
