"""Decoding metrics against values computed by hand on small arrays."""

import numpy as np
import pytest

from skimage.color import rgb2gray
from skimage.metrics import structural_similarity

from voxelflow.decoding_metrics import correlation_distance, pixcorr, retrieval_top1, ssim, two_way_identification
from voxelflow.errors import InputError
from voxelflow.images import resize_images


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
    assert scores["brain_to_image"] == pytest.approx(0.8) and scores["image_to_brain"] == pytest.approx(0.8)
    subset = retrieval_top1(images, images, n_candidates=4, n_draws=5)
    assert subset["brain_to_image"] == 1.0 and subset["chance"] == 0.25


def test_column_ssim_is_the_mean_of_one_dimensional_column_ssims():
    """scikit-image <= 0.19 with multichannel=True on a gray (H, W) image (Brain-Diffuser): W 1-D SSIMs, averaged."""
    rng = np.random.default_rng(2)
    truth = rng.random((2, 24, 20, 3))
    predicted = np.clip(truth + 0.3 * rng.standard_normal(truth.shape), 0, 1)
    by_hand = np.mean([np.mean([structural_similarity(rgb2gray(t)[:, c], rgb2gray(p)[:, c], gaussian_weights=True,
                                                      sigma=1.5, use_sample_covariance=False, data_range=1.0)
                                for c in range(20)]) for t, p in zip(truth, predicted)])
    assert ssim(truth, predicted, mode="columns") == pytest.approx(by_hand, rel=1e-10)
    assert abs(ssim(truth, predicted, mode="2d") - by_hand) > 0.01  # a different quantity
    with pytest.raises(InputError, match="SSIM mode"):
        ssim(truth, predicted, mode="3d")


def test_retrieval_directions_on_an_asymmetric_similarity_matrix():
    """Brains 0 and 1 both lie nearest image 0; images are each nearest their own brain. brain -> image: brain 1
    finds image 0, a miss (2/3); image -> brain: image 0 finds brain 0, image 1 brain 1, image 2 brain 2 (3/3)."""
    images = np.array([[1.0, 0.0, 0.0], [0.0, 1.0, 0.0], [0.0, 0.0, 1.0]])
    brain = np.array([[1.0, 0.0, 0.0], [0.9, 0.6, 0.0], [0.0, 0.0, 1.0]])
    # cos(brain 1, image 0) = .83 > cos(brain 1, image 1) = .55; image 1's nearest brain is brain 1 (.55 > 0)
    scores = retrieval_top1(brain, images, n_draws=2)
    assert scores["brain_to_image"] == pytest.approx(2 / 3) and scores["image_to_brain"] == 1.0


def test_resize_and_bad_pairs():
    assert resize_images(np.zeros((2, 8, 8, 3)), 20).shape == (2, 20, 20, 3)
    with pytest.raises(InputError, match="must be paired arrays"):
        pixcorr(np.zeros((3, 4, 4, 3)), np.zeros((2, 4, 4, 3)))
