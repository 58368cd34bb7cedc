import numpy as np
import pytest

from voxelflow.noise_ceiling import ncsnr_from_trials, noise_ceiling


def test_noise_ceiling_against_hand_computed_values():
    # ncsnr 0.5, 3 repeats: 100 * 0.25 / (0.25 + 1/3) = 42.857
    np.testing.assert_allclose(noise_ceiling(np.array([0.5]), np.array([3, 3])), [42.857143], rtol=1e-6)
    # ncsnr 1, repeats 1 and 3: mean(1/n) = 2/3, so 100 / (1 + 2/3) = 60
    np.testing.assert_allclose(noise_ceiling(np.array([1.0]), np.array([1, 3])), [60.0], rtol=1e-6)
    np.testing.assert_allclose(noise_ceiling(np.array([0.0]), np.array([3])), [0.0])
    with pytest.raises(ValueError, match="positive"):
        noise_ceiling(np.array([1.0]), np.array([0, 3]))


def test_ncsnr_is_recovered_from_simulated_repeats():
    rng = np.random.default_rng(0)
    true = np.array([0.0, 0.25, 0.5, 1.0, 2.0])
    signal = rng.standard_normal((2000, 1)) * true
    image_ids = np.repeat(np.arange(2000), 3)
    betas = signal[image_ids] + rng.standard_normal((6000, len(true)))
    betas = (betas - betas.mean(0)) / betas.std(0)
    np.testing.assert_allclose(ncsnr_from_trials(betas, image_ids), true, atol=0.06)


def test_constant_voxel_gets_zero_ncsnr():
    betas = np.zeros((30, 1))
    assert ncsnr_from_trials(betas, np.repeat(np.arange(10), 3))[0] == 0
