"""Z-scoring, repeat averaging, the split and the noise ceiling, checked against the planted truth."""

import h5py
import numpy as np
import pytest

from voxelflow.mininsd import TrueBrain
from voxelflow.nsd_study import NSDStudy
from voxelflow.preprocess import preprocess_subject, zscore_session


def test_zscore_session_gives_zero_mean_unit_std_and_survives_constant_voxels():
    rng = np.random.default_rng(0)
    betas = (rng.standard_normal((50, 4)) * [1, 2, 3, 0] + [5, -1, 0, 7]).astype(np.float32)
    z = zscore_session(betas)
    np.testing.assert_allclose(z[:, :3].mean(0), 0, atol=1e-5)
    np.testing.assert_allclose(z[:, :3].std(0), 1, atol=1e-5)
    np.testing.assert_array_equal(z[:, 3], 0)


def test_zscore_statistics_can_leave_test_trials_out():
    betas = np.array([[0.0], [2.0], [100.0]], dtype=np.float32)
    z = zscore_session(betas, stats_rows=np.array([True, True, False]))
    np.testing.assert_allclose(z[:, 0], [-1, 1, 99])  # mean 1, std 1 from the first two trials


@pytest.fixture(scope="module")
def subj04(mini_root):
    study = NSDStudy(mini_root)
    subject = study.subject("subj04")
    return study, subject, preprocess_subject(subject)


def test_responses_are_session_zscored_repeat_averages(subj04):
    _, subject, result = subj04
    trials, ids = [], []
    for s in range(len(subject.session_paths)):
        b = subject.read_session(s).astype(np.float64)
        trials.append((b - b.mean(0)) / np.where(b.std(0) > 0, b.std(0), np.inf))
        ids.append(subject.trial_image_ids[s])
    trials, ids = np.concatenate(trials), np.concatenate(ids)
    for row in [0, 7, len(result.image_ids) - 1]:
        expected = trials[ids == result.image_ids[row]].mean(0)
        np.testing.assert_allclose(result.responses[row], expected, atol=1e-4)
        assert result.repeats[row] == (ids == result.image_ids[row]).sum()


def test_split_puts_exactly_the_shared_images_in_test(subj04):
    study, _, result = subj04
    np.testing.assert_array_equal(np.sort(result.image_ids[result.is_test]),
                                  np.sort(study.design.sharedix[np.isin(study.design.sharedix, result.image_ids)]))
    assert not np.isin(result.image_ids[~result.is_test], study.design.sharedix).any()
    assert set(result.repeats.tolist()) <= {1, 2, 3} and (result.repeats < 3).any()  # fewer sessions


def test_estimated_noise_ceiling_matches_the_planted_one(subj04, mini_root):
    _, _, result = subj04
    with h5py.File(mini_root / "truth/planted.h5") as f:
        true_ncsnr = f["subj04/ncsnr"][()]
    assert result.ncsnr_source == "study"
    np.testing.assert_allclose(result.ncsnr, true_ncsnr, rtol=1e-6)
    # estimate from 120 images x 1-3 repeats: observed r = 0.97, median error 0.05
    assert np.corrcoef(result.ncsnr_estimated, true_ncsnr)[0, 1] > 0.93
    assert np.median(np.abs(result.ncsnr_estimated - true_ncsnr)) < 0.1
    n = result.repeats[result.is_test]
    expected_nc = 100 * true_ncsnr**2 / (true_ncsnr**2 + np.mean(1 / n))
    np.testing.assert_allclose(result.noise_ceiling, expected_nc, rtol=1e-4, atol=1e-4)


def test_responses_carry_the_planted_signal_through_session_drifts(subj04, mini_root):
    study, _, result = subj04
    brain = TrueBrain.from_truth(str(mini_root / "truth/planted.h5"), "subj04")
    with h5py.File(study.layout.stimuli) as f:
        signal = brain(f["imgBrick"][result.image_ids])
    good = result.ncsnr > 0.8
    r = [np.corrcoef(result.responses[:, v], signal[:, v])[0, 1] for v in np.flatnonzero(good)]
    # a 3-repeat average of ncsnr > 0.8 has an expected r above 0.8 with the truth
    assert np.median(r) > 0.8


def test_train_statistics_change_only_the_normalisation(mini_root):
    subject = NSDStudy(mini_root).subject("subj02")
    every, train = preprocess_subject(subject), preprocess_subject(subject, zscore_stats="train")
    assert train.attrs["zscore_stats"] == "train"
    assert not np.allclose(every.responses, train.responses)
    v = np.argmax(every.ncsnr)
    assert np.corrcoef(every.responses[:, v], train.responses[:, v])[0, 1] > 0.99


def test_constant_voxel_stays_finite(mini_root):
    result = preprocess_subject(NSDStudy(mini_root).subject("subj01"), ncsnr_source="estimated")
    with h5py.File(mini_root / "truth/planted.h5") as f:
        dead = f["subj01/dead"][()]
    assert np.isfinite(result.responses).all()
    np.testing.assert_array_equal(result.responses[:, dead], 0)
    assert result.ncsnr_source == "estimated" and result.ncsnr[dead] == 0
