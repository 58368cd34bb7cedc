"""The built-in mini-NSD: a small study in NSD's layout with planted, image-computable responses."""

from voxelflow.mininsd.true_brain import TrueBrain
from voxelflow.mininsd.writer import TRUTH_NAME, MiniNSDConfig, write_mininsd

__all__ = ["TRUTH_NAME", "MiniNSDConfig", "TrueBrain", "write_mininsd"]
