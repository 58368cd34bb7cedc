"""Image conversions shared by the figures, the decoders and synthesis."""

from __future__ import annotations

import numpy as np


def to_uint8(images: np.ndarray) -> np.ndarray:
    """Images in [0, 1] (any shape) -> uint8, rounded; values outside [0, 1] are clipped."""
    return np.round(np.clip(images, 0, 1) * 255).astype(np.uint8)
