"""Decoding metrics against values computed by hand on small arrays."""

import numpy as np
import pytest

from voxelflow.decoding_metrics import (correlation_distance, pixcorr, resize_images, retrieval_top1, ssim,
                                        two_way_identification)
from voxelflow.errors import InputError


def test_pixcorr_is_the_mean_per_image_pearson_r():
    rng = np.random.default_rng(0)
    a, b = rng.random((2, 4, 4, 3))
    truth = np.stack([a, b])
    predicted = np.stack([0.5 * a + 0.2, 1.0 - b])  # r = +1 and r = -1
    assert pixcorr(truth, predicted) == pytest.approx(0.0, abs=1e-12)
    assert pixcorr(truth, np.stack([a, 0.3 * b])) == pytest.approx(1.0)
    assert correlation_distance(truth, np.stack([a, 1.0 - b])) == pytest.approx(1.0)


def test_ssim_of_constant_images_is_the_luminance_term():
    truth = np.full((2, 16, 16, 3), 0.5)
    predicted = np.full((2, 16, 16, 3), 0.25)
    c1 = (0.01 * 1.0) ** 2  # K1 = 0.01, data range 1; both variances are 0, so the structure term is 1
    expected = (2 * 0.5 * 0.25 + c1) / (0.5 ** 2 + 0.25 ** 2 + c1)
    assert ssim(truth, predicted) == pytest.approx(expected, rel=1e-6)
    assert ssim(truth, truth) == pytest.approx(1.0)


def test_two_way_identification_by_hand():
    real = np.eye(4)[:3]  # three one-hot feature vectors in 4-d: r(e_i, e_j) = -1/3 for i != j
    assert two_way_identification(real, real) == 1.0
    # each prediction is the next image's features: its own truth correlates -1/3, one other 1, one other -1/3
    assert two_way_identification(real, np.roll(real, -1, axis=0)) == 0.0
    mixed = real.copy()
    mixed[2] = real[0]  # predictions 0 and 1 are right (2/2 each); prediction 2 beats none
    assert two_way_identification(real, mixed) == pytest.approx((1 + 1 + 0) / 3)


def test_retrieval_top1_counts_swapped_pairs_and_reports_chance():
    rng = np.random.default_rng(1)
    images = rng.standard_normal((10, 8))
    brain = images.copy()
    brain[[0, 1]] = images[[1, 0]]
    scores = retrieval_top1(brain, images, n_candidates=300, n_draws=3)
    assert scores["n_candidates"] == 10 and scores["chance"] == pytest.approx(0.1)
    assert scores["image_retrieval"] == pytest.approx(0.8) and scores["brain_retrieval"] == pytest.approx(0.8)
    subset = retrieval_top1(images, images, n_candidates=4, n_draws=5)
    assert subset["image_retrieval"] == 1.0 and subset["chance"] == 0.25


def test_resize_and_bad_pairs():
    assert resize_images(np.zeros((2, 8, 8, 3)), 20).shape == (2, 20, 20, 3)
    with pytest.raises(InputError, match="must be paired arrays"):
        pixcorr(np.zeros((3, 4, 4, 3)), np.zeros((2, 4, 4, 3)))
