"""The one resizer: its bilinear methods equal torch's interpolate, PIL's methods equal PIL, sizes and errors."""

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from PIL import Image

from voxelflow.images import resize_images


@pytest.mark.parametrize("shape", [(425, 256), (425, 224), (64, 425), (256, 425), (31, 16), (16, 31), (7, 7)])
@pytest.mark.parametrize("antialias", [True, False])
def test_bilinear_methods_equal_torch_interpolate(shape, antialias):
    n_in, n_out = shape
    images = np.random.default_rng(n_in).random((2, n_in, n_in + 3, 3)).astype(np.float32)
    ours = resize_images(images, n_out, "antialias" if antialias else "no-antialias")
    theirs = F.interpolate(torch.from_numpy(images).permute(0, 3, 1, 2), size=(n_out, n_out), mode="bilinear",
                           align_corners=False, antialias=antialias).permute(0, 2, 3, 1).numpy()
    assert ours.shape == (2, n_out, n_out, 3) and ours.dtype == np.float32
    assert np.abs(ours - np.clip(theirs, 0, 1)).max() < 5e-5  # float32 rounding; 8 bits are 4e-3


def test_pil_methods_equal_pil_on_8_bit_images():
    images = np.random.default_rng(0).integers(0, 256, (2, 40, 40, 3), dtype=np.uint8)
    for method, resample in [("pil-bicubic", Image.BICUBIC), ("pil-bilinear", Image.BILINEAR)]:
        expected = np.stack([np.asarray(Image.fromarray(i).resize((25, 25), resample)) for i in images]) / 255
        assert np.abs(resize_images(images, 25, method) - expected).max() < 1e-6


def test_same_size_is_unchanged_and_unknown_methods_are_refused():
    images = np.random.default_rng(1).random((2, 9, 9, 3)).astype(np.float32)
    for method in ("antialias", "no-antialias", "skimage", "pil-bicubic"):
        assert np.allclose(resize_images(images, 9, method), images)
    assert resize_images(np.zeros((2, 8, 8, 3), np.uint8), 20, "skimage").shape == (2, 20, 20, 3)
    with pytest.raises(ValueError, match="unknown resize method 'nearest'"):
        resize_images(images, 4, "nearest")
