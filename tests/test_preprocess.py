"""Z-scoring, repeat averaging, the split and the noise ceiling, checked against the planted truth."""

import warnings

import h5py
import nibabel as nib
import numpy as np
import pytest

from voxelflow.mininsd import TrueBrain
from voxelflow.mininsd.true_brain import voxel_rows
from voxelflow.nsd_layout import NSDLayout
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


def _truth(root, subject: str, name: str, ijk=None):
    """A planted per-voxel array of `subject`, at the voxels `ijk` (default: every planted voxel)."""
    with h5py.File(root / "truth/planted.h5") as f:
        values = f[f"{subject}/{name}"][()]
        return values if ijk is None else values[..., voxel_rows(f[f"{subject}/ijk"][()], ijk)]


def _nan_trials(subject):
    """Every trial z-scored per session with NaN where the voxel is invalid in that session, and its image."""
    trials, ids = [], []
    for s in range(len(subject.session_paths)):
        b = subject.read_session(s).astype(np.float64)
        b[:, ~subject.session_validity(s)] = np.nan
        with warnings.catch_warnings():  # all-NaN columns are the point here
            warnings.simplefilter("ignore", RuntimeWarning)
            trials.append((b - np.nanmean(b, 0)) / np.where(np.nanstd(b, 0) > 0, np.nanstd(b, 0), np.nan))
        ids.append(subject.trial_image_ids[s])
    return np.concatenate(trials), np.concatenate(ids)


def test_responses_are_session_zscored_repeat_averages_of_the_valid_trials(subj04):
    _, subject, result = subj04
    trials, ids = _nan_trials(subject)
    kept = voxel_rows(subject.ijk, result.ijk)
    for row in [0, 7, len(result.image_ids) - 1]:
        expected = np.nanmean(trials[ids == result.image_ids[row]][:, kept], 0)
        np.testing.assert_allclose(result.responses[row], np.nan_to_num(expected), atol=1e-4)
        assert result.repeats[row] == (ids == result.image_ids[row]).sum()


def test_invalid_voxels_miss_only_their_sessions_and_voxels_invalid_everywhere_are_dropped(subj04, mini_root, caplog):
    _, subject, result = subj04
    valid = _truth(mini_root, "subj04", "valid")  # (sessions, voxels) as planted
    valid = valid[: len(subject.session_paths)]
    dropped = ~valid.any(0)
    assert dropped.sum() == 3 and len(result.ijk) == subject.n_voxels - 3
    assert not (subject.ijk[dropped][:, None] == result.ijk[None]).all(-1).any()
    np.testing.assert_array_equal(result.valid_sessions, valid.sum(0)[voxel_rows(subject.ijk, result.ijk)])
    # a voxel invalid in one session: its average and noise ceiling use the other sessions' trials only
    partial = np.flatnonzero((~valid).any(0) & valid.any(0))
    assert len(partial) >= 4
    column = np.searchsorted(voxel_rows(subject.ijk, result.ijk), partial[0])
    trials, ids = _nan_trials(subject)
    np.testing.assert_allclose(result.responses[:, column],
                               [np.nanmean(trials[ids == i, partial[0]]) if np.isfinite(trials[ids == i, partial[0]]).any()
                                else 0 for i in result.image_ids], atol=1e-4)
    with caplog.at_level("WARNING"):
        preprocess_subject(subject)
    assert "voxels miss data in some session" in caplog.text and "3 voxels with no valid session dropped" in caplog.text


def test_validity_volumes_are_read_even_where_the_betas_are_not_zero(mini_copy):
    """A copy whose invalid voxels hold non-zero betas: the validity volume alone must keep them out."""
    layout = NSDLayout(mini_copy)
    subject = NSDStudy(mini_copy, betas_format="nifti").subject("subj02")
    plain = preprocess_subject(subject)
    v = voxel_rows(subject.ijk, plain.ijk[plain.valid_sessions == 6][17:18])[0]  # valid in all 6 sessions
    path = layout.valid_session("subj02", 3)
    image = nib.load(path)
    volume = np.asarray(image.dataobj).copy()
    volume[tuple(subject.ijk[v])] = 0
    nib.save(nib.Nifti1Image(volume, image.affine), path)
    marked = preprocess_subject(NSDStudy(mini_copy, betas_format="nifti").subject("subj02"))
    column = np.flatnonzero((marked.ijk == subject.ijk[v]).all(1))[0]
    assert marked.valid_sessions[column] == plain.valid_sessions[column] - 1
    assert not np.allclose(marked.responses[:, column], plain.responses[:, column])


def test_split_puts_exactly_the_shared_images_in_test(subj04):
    study, _, result = subj04
    np.testing.assert_array_equal(np.sort(result.image_ids[result.is_test]),
                                  np.sort(study.design.sharedix[np.isin(study.design.sharedix, result.image_ids)]))
    assert not np.isin(result.image_ids[~result.is_test], study.design.sharedix).any()
    assert set(result.repeats.tolist()) <= {1, 2, 3} and (result.repeats < 3).any()  # fewer sessions


def test_estimated_noise_ceiling_matches_the_planted_one(subj04, mini_root):
    _, _, result = subj04
    true_ncsnr = _truth(mini_root, "subj04", "ncsnr", result.ijk)
    assert result.ncsnr_source == "study"
    np.testing.assert_allclose(result.ncsnr, true_ncsnr, rtol=1e-6)
    # estimate from 120 images x 1-3 repeats: observed r = 0.97, median error 0.05
    assert np.corrcoef(result.ncsnr_estimated, true_ncsnr)[0, 1] > 0.93
    assert np.median(np.abs(result.ncsnr_estimated - true_ncsnr)) < 0.1
    n = result.repeats[result.is_test]
    expected_nc = 100 * true_ncsnr**2 / (true_ncsnr**2 + np.mean(1 / n))
    full = result.valid_sessions == result.valid_sessions.max()
    np.testing.assert_allclose(result.noise_ceiling[full], expected_nc[full], rtol=1e-4, atol=1e-4)
    # voxels that missed a session: fewer repeats behind their test averages, so a lower ceiling
    assert (result.noise_ceiling[~full] <= expected_nc[~full] + 1e-4).all()


def test_responses_carry_the_planted_signal_through_session_drifts(subj04, mini_root):
    study, _, result = subj04
    brain = TrueBrain.from_truth(str(mini_root / "truth/planted.h5"), "subj04", result.ijk)
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


def test_voxel_constant_in_every_session_is_dropped(mini_root, caplog):
    subject = NSDStudy(mini_root).subject("subj01")
    result = preprocess_subject(subject, ncsnr_source="estimated")
    dead = _truth(mini_root, "subj01", "dead")
    assert dead.sum() == 1 and np.isfinite(result.responses).all()
    assert not (subject.ijk[dead][:, None] == result.ijk[None]).all(-1).any()
    assert "constant within a session: 1" in caplog.text
