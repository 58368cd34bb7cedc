import numpy as np
from scipy import stats

from voxelflow.encoding_metrics import algonauts_accuracy, fdr_significant, noise_normalized_accuracy, pearson_r, \
    r_p_values, roi_summary


def test_pearson_r_matches_numpy_and_handles_constant_columns():
    rng = np.random.default_rng(0)
    a, b = rng.standard_normal((40, 3)), rng.standard_normal((40, 3))
    a[:, 2] = 1.0
    r = pearson_r(a, b)
    np.testing.assert_allclose(r[:2], [np.corrcoef(a[:, j], b[:, j])[0, 1] for j in range(2)])
    assert r[2] == 0


def test_noise_normalized_accuracy_hand_values():
    nna = noise_normalized_accuracy(np.array([0.5, -0.2, 0.5, 0.9]), np.array([50.0, 50.0, 0.5, 81.0]))
    np.testing.assert_allclose(nna[[0, 1, 3]], [50.0, 0.0, 100.0])  # 0.25 / 0.5; negative r; at the ceiling
    assert np.isnan(nna[2])  # NC below 1 % is left undefined


def test_algonauts_accuracy_hand_values():
    r = np.array([0.5, -0.2, 0.9, 0.3, 0.0, np.nan, 0.1])
    nc = np.array([50.0, 50.0, 64.0, 0.0, 0.0, 40.0, 4.0])  # percent
    # 0.25 / 0.5; negative r -> 0; 0.81 / 0.64 capped at 100; NC 0 -> 1e-14: positive r scores 100, r 0 scores 0;
    # a NaN r (constant prediction) counts as 0; 0.01 / 0.04
    expected = [50.0, 0.0, 100.0, 100.0, 0.0, 0.0, 25.0]
    np.testing.assert_allclose(algonauts_accuracy(r, nc), expected)
    # the challenge score is the mean over every vertex, low-ceiling ones included (NNA leaves NC < 1 % out)
    summary = roi_summary(np.nan_to_num(r), noise_normalized_accuracy(np.nan_to_num(r), nc), np.zeros(7, bool),
                          {"all": np.ones(7, bool)}, nc)["all"]
    assert summary["algonauts_score"] == np.mean(expected) and summary["mean_nna"] != np.mean(expected)


def test_p_values_and_fdr():
    r = np.array([0.5, 0.1])
    expected = [stats.pearsonr(*_pair(x, 30), alternative="greater").pvalue for x in r]
    np.testing.assert_allclose(r_p_values(r, 30), expected, rtol=1e-6)
    # BH at q = 0.05 over 4 tests: thresholds 0.0125, 0.025, 0.0375, 0.05. Sorted p 0.01, 0.03, 0.036, 0.2:
    # 0.03 misses its own threshold but the step-up keeps it because 0.036 passes at rank 3.
    assert fdr_significant(np.array([0.01, 0.036, 0.03, 0.2])).tolist() == [True, True, True, False]
    assert fdr_significant(np.array([0.01, 0.04, 0.03, 0.2])).tolist() == [True, False, False, False]
    assert fdr_significant(np.array([0.03, 0.5])).tolist() == [False, False]  # 0.03 > 0.025


def _pair(r, n):
    """Two samples of length n whose Pearson r is exactly r."""
    rng = np.random.default_rng(1)
    x = rng.standard_normal(n)
    x = (x - x.mean()) / x.std()
    e = rng.standard_normal(n)
    e -= e.mean() + (e @ x) / n * x
    e /= e.std()
    return x, r * x + np.sqrt(1 - r**2) * e
