import numpy as np
import pytest

from voxelflow.encoders.backbones import OpenClipBackbone
from voxelflow.encoders.features import extract_features, load_features
from voxelflow.errors import InputError
from voxelflow.nsd_layout import NSDLayout


def test_round_trip_and_batch_size_does_not_change_features(mini_root, tmp_path):
    stimuli = NSDLayout(mini_root).stimuli
    ids = np.array([17, 3, 250, 4, 99])
    backbone = OpenClipBackbone("vf-tiny-ViT")
    extract_features(backbone, stimuli, ids, tmp_path / "b1.h5", batch_size=1, device="cpu")
    extract_features(backbone, stimuli, ids, tmp_path / "b64.h5", batch_size=64, device="cpu")
    one, many = load_features(tmp_path / "b1.h5", tokens=True), load_features(tmp_path / "b64.h5", tokens=True)
    np.testing.assert_array_equal(one.image_ids, [3, 4, 17, 99, 250])
    np.testing.assert_allclose(one.pooled, many.pooled, atol=2e-3)  # float16 storage
    np.testing.assert_allclose(one.tokens, many.tokens, atol=2e-3)
    picked = load_features(tmp_path / "b1.h5", np.array([250, 3]))
    np.testing.assert_array_equal(picked.image_ids, [250, 3])
    np.testing.assert_array_equal(picked.pooled, one.pooled[[4, 0]])


def test_missing_images_are_named(mini_root, tmp_path):
    with pytest.raises(InputError, match=r"2 images are missing from .*nsd_stimuli\.hdf5 \(it holds 360\); first missing id: 360"):
        extract_features(OpenClipBackbone("vf-tiny-ViT"), NSDLayout(mini_root).stimuli, np.array([1, 360, 999]),
                         tmp_path / "f.h5")
    assert not (tmp_path / "f.h5").exists()
    extract_features(OpenClipBackbone("vf-tiny-ViT"), NSDLayout(mini_root).stimuli, np.array([1, 2]),
                     tmp_path / "g.h5")
    with pytest.raises(InputError, match=r"lacks features of 1 images \(first: 7\)"):
        load_features(tmp_path / "g.h5", np.array([1, 7]))
