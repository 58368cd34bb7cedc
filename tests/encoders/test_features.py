"""The features store: round trip, all layers from one pass, resumable streaming extraction, token reduction."""

import h5py
import numpy as np
import pytest
import torch

from voxelflow.encoders.backbones import GaborBackbone, OpenClipBackbone
from voxelflow.encoders.features import extract_features, feature_layers, load_features
from voxelflow.encoders.token_reduction import TokenReduction
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
    with pytest.raises(InputError, match=r"2 images are missing from .*nsd_stimuli\.hdf5; first missing id: 360"):
        extract_features(OpenClipBackbone("vf-tiny-ViT"), NSDLayout(mini_root).stimuli, np.array([1, 360, 999]),
                         tmp_path / "f.h5")
    assert not (tmp_path / "f.h5").exists()
    extract_features(OpenClipBackbone("vf-tiny-ViT"), NSDLayout(mini_root).stimuli, np.array([1, 2]),
                     tmp_path / "g.h5")
    with pytest.raises(InputError, match=r"lacks features of 1 images \(first: 7\)"):
        load_features(tmp_path / "g.h5", np.array([1, 7]))


class _Interrupted(Exception):
    pass


class _CountingBackbone(torch.nn.Module):
    """Wraps a backbone: counts the images it sees, and raises after `fail_after` batches."""

    def __init__(self, backbone, fail_after=None):
        super().__init__()
        self.backbone, self.fail_after, self.images, self.batches = backbone, fail_after, 0, 0
        self.layers, self.n_prefix_tokens = backbone.layers, backbone.n_prefix_tokens

    def forward_layers(self, images):
        if self.fail_after is not None and self.batches == self.fail_after:
            raise _Interrupted
        self.batches += 1
        self.images += len(images)
        return self.backbone.forward_layers(images)


def test_every_layer_is_stored_from_one_pass_and_read_by_name(mini_root, tmp_path):
    stimuli, ids = NSDLayout(mini_root).stimuli, np.arange(0, 40, 3)
    counting = _CountingBackbone(OpenClipBackbone("vf-tiny-ViT", layer="all"))
    extract_features(counting, stimuli, ids, tmp_path / "all.h5", batch_size=8, device="cpu")
    assert counting.images == len(ids)  # one pass serves every layer
    assert feature_layers(tmp_path / "all.h5") == counting.layers == ["blocks.0", "blocks.1"]
    first = load_features(tmp_path / "all.h5", tokens=True, layer="blocks.0")
    extract_features(OpenClipBackbone("vf-tiny-ViT", layer=0), stimuli, ids, tmp_path / "one.h5", device="cpu")
    np.testing.assert_array_equal(first.tokens, load_features(tmp_path / "one.h5", tokens=True).tokens)
    primary = load_features(tmp_path / "all.h5", tokens=True)
    np.testing.assert_array_equal(primary.tokens, load_features(tmp_path / "all.h5", tokens=True,
                                                                layer="blocks.1").tokens)
    assert not np.allclose(primary.tokens, first.tokens)
    with pytest.raises(InputError, match=r"all\.h5 holds no layer 'blocks.7'; it has blocks.0, blocks.1"):
        load_features(tmp_path / "all.h5", tokens=True, layer="blocks.7")


def test_an_interrupted_extraction_resumes_where_it_stopped(mini_root, tmp_path):
    stimuli, ids, out = NSDLayout(mini_root).stimuli, np.arange(30), tmp_path / "f.h5"
    with pytest.raises(_Interrupted):
        extract_features(_CountingBackbone(GaborBackbone(), fail_after=2), stimuli, ids, out, batch_size=8)
    partial = tmp_path / ".f.h5.partial"
    assert not out.exists() and partial.exists()
    with h5py.File(partial) as f:
        assert f.attrs["rows_done"] == 16
    resumed = _CountingBackbone(GaborBackbone())
    extract_features(resumed, stimuli, ids, out, batch_size=8)
    assert resumed.images == 14 and not partial.exists()  # the 14 images after the 16 done
    extract_features(GaborBackbone(), stimuli, ids, tmp_path / "whole.h5", batch_size=8)
    np.testing.assert_array_equal(load_features(out, tokens=True).tokens,
                                  load_features(tmp_path / "whole.h5", tokens=True).tokens)
    with pytest.raises(_Interrupted):
        extract_features(_CountingBackbone(GaborBackbone(), fail_after=1), stimuli, ids, out, batch_size=8)
    other = _CountingBackbone(GaborBackbone(grid=4))  # another backbone: the partial file is not reused
    extract_features(other, stimuli, ids, out, batch_size=8, attrs={"spec": "grid 4"})
    assert other.images == 30


def test_grid_pooling_keeps_the_class_token_and_averages_positions(mini_root, tmp_path):
    stimuli, ids = NSDLayout(mini_root).stimuli, np.arange(6)
    backbone = OpenClipBackbone("vf-tiny-ViT")
    extract_features(backbone, stimuli, ids, tmp_path / "all.h5", device="cpu")
    extract_features(backbone, stimuli, ids, tmp_path / "grid.h5", device="cpu", reduction=TokenReduction("grid", 2))
    full, grid = (load_features(tmp_path / name, tokens=True).tokens for name in ("all.h5", "grid.h5"))
    side = int(np.sqrt(full.shape[1] - 1))
    assert grid.shape == (6, 1 + 4, full.shape[2])
    np.testing.assert_allclose(grid[:, 0], full[:, 0], atol=1e-3)
    spatial = full[:, 1:].reshape(6, side, side, -1)
    np.testing.assert_allclose(grid[:, 1], spatial[:, :side // 2, :side // 2].mean(axis=(1, 2)), atol=2e-3)


def test_pca_is_fitted_on_training_images_only(mini_root, tmp_path):
    stimuli, ids = NSDLayout(mini_root).stimuli, np.arange(40)
    train = ids[ids >= 10]
    extract_features(GaborBackbone(), stimuli, ids, tmp_path / "all.h5")
    extract_features(GaborBackbone(), stimuli, ids, tmp_path / "pca.h5", fit_image_ids=train,
                     reduction=TokenReduction("pca", components=3))
    full = load_features(tmp_path / "all.h5", tokens=True).tokens
    reduced = load_features(tmp_path / "pca.h5", tokens=True).tokens
    with h5py.File(tmp_path / "pca.h5") as f:
        components = f["pca/energy/components"][()]
    train_vectors = full[10:].reshape(-1, full.shape[2]).astype(np.float64)
    eigenvalues, eigenvectors = np.linalg.eigh(np.cov(train_vectors.T, bias=True))
    for k in range(3):  # the leading components of the training tokens, not of all tokens
        assert abs(components[k] @ eigenvectors[:, -1 - k]) > 0.999
    all_vectors = full.reshape(-1, full.shape[2]).astype(np.float64)
    assert abs(components[0] @ np.linalg.eigh(np.cov(all_vectors.T))[1][:, -1]) < 0.9999
    np.testing.assert_allclose(reduced, (full - train_vectors.mean(0)) @ components.T, atol=2e-2)
    assert reduced.shape == (40, full.shape[1], 3)
