"""Real NSD's conventions that a reader written against its own copy misses (shared/references/nsd_release_traps.md):
the mini-NSD carries each trap and the reader handles it."""

import logging

import h5py
import nibabel as nib
import numpy as np
import pandas as pd
import pytest
from scipy.io import loadmat, savemat

from voxelflow.errors import InputError
from voxelflow.mininsd.writer import run_sizes
from voxelflow.nsd_layout import NSDLayout
from voxelflow.nsd_study import NSDStudy
from voxelflow.preprocess import PreprocessOptions, preprocess_study_subject
from voxelflow.responses import read_responses, training_pairs, write_responses


def _planted(root, subject, name):
    with h5py.File(root / "truth/planted.h5") as f:
        return f[f"{subject}/{name}"][()]


def test_v1_means_the_prf_maps_although_glasser_and_kastner_name_other_voxels_v1(mini_root):
    rois = NSDStudy(mini_root).subject("subj01").rois
    kind = _planted(mini_root, "subj01", "kind").astype(str)
    for name in ("V1", "V2", "V3", "hV4"):
        assert np.array_equal(rois.mask(name), kind == name), name
    assert not np.array_equal(rois.mask("HCP_MMP1.V1"), rois.mask("V1")) and rois.mask("HCP_MMP1.V1").any()
    assert not np.array_equal(rois.mask("Kastner2015.V1v"), rois.mask("V1v")) and rois.mask("Kastner2015.V1v").any()
    assert rois.resolve("RSC").family == "floc-places"
    with pytest.raises(InputError, match="name one: HCP_MMP1.V3A, Kastner2015.V3A"):
        rois.mask("V3A")


def test_hemispheres_come_from_the_lh_rh_volumes_not_the_sign_of_x(mini_root):
    subject = NSDStudy(mini_root).subject("subj02")
    planted = _planted(mini_root, "subj02", "hemisphere").astype(str)
    np.testing.assert_array_equal(subject.rois.hemisphere, planted)
    x_mm = subject.ijk @ subject.affine[0, :3] + subject.affine[0, 3]
    assert ((x_mm < 0) != (planted == "lh")).sum() > 20  # the trap: scanner x = 0 is off the midline
    assert subject.hemisphere_source == "lh./rh. ROI volumes"
    assert np.array_equal(subject.rois.mask("lh.FFA-1"), subject.rois.mask("FFA-1") & (planted == "lh"))


def test_without_lh_rh_volumes_hemispheres_fall_back_to_x_with_a_warning(mini_copy):
    for path in NSDLayout(mini_copy).roi_dir("subj01").glob("[lr]h.*"):
        path.unlink()
    with pytest.warns(UserWarning, match="hemispheres are taken from the sign of scanner x"):
        subject = NSDStudy(mini_copy).subject("subj01")
    assert subject.hemisphere_source == "scanner x"


def test_transformer_groups_split_by_the_true_hemisphere(mini_root):
    from voxelflow.encoders.transformer import voxel_groups

    rois = NSDStudy(mini_root).subject("subj01").rois
    groups, names = voxel_groups(rois, "streams", rois.hemisphere)
    early_lh = groups == names.index("early-lh")
    np.testing.assert_array_equal(early_lh, rois.mask("lh.streams.early"))


def test_sessions_option_uses_the_first_n_or_a_list_and_is_recorded(mini_root):
    study = NSDStudy(mini_root)
    first3 = study.subject("subj01", sessions=3)
    assert [p.name for p in first3.session_paths] == [f"betas_session0{s}.hdf5" for s in (1, 2, 3)]
    chosen = study.subject("subj01", sessions=[2, 5])
    np.testing.assert_array_equal(chosen.trial_image_ids[1], study.subject("subj01").trial_image_ids[4])
    with pytest.raises(InputError, match="preprocess.sessions names session 9 but subj01 has sessions 1..6"):
        study.subject("subj01", sessions=[1, 9])
    result = preprocess_study_subject(mini_root, "subj01", PreprocessOptions(sessions=3))
    assert result.attrs["sessions"].tolist() == [1, 2, 3]
    assert result.repeats.sum() == 3 * 60


def test_shared_common_tests_on_the_shared_images_every_subject_saw(mini_copy):
    layout = NSDLayout(mini_copy)
    for session in range(2, 6):  # subj04 stopped after its first session
        for fmt in ("nifti", "hdf5"):
            layout.betas_session("subj04", session, fmt).unlink()
    common = PreprocessOptions(test_split="shared-common", common_subjects=["subj01", "subj04"])
    full = preprocess_study_subject(mini_copy, "subj01", PreprocessOptions())
    result = preprocess_study_subject(mini_copy, "subj01", common)
    seen04 = np.concatenate(NSDStudy(mini_copy).subject("subj04").trial_image_ids)
    expected = np.intersect1d(full.image_ids[full.is_test], seen04)
    assert 0 < len(expected) < full.is_test.sum()
    np.testing.assert_array_equal(result.image_ids[result.is_test], expected)
    # the other shared images are in neither split; the training images are the same
    assert not np.isin(result.image_ids, np.setdiff1d(full.image_ids[full.is_test], expected)).any()
    np.testing.assert_array_equal(result.image_ids[~result.is_test], full.image_ids[~full.is_test])
    assert result.attrs["test_split"] == "shared-common"


def test_a_file_of_ids_is_the_test_set(mini_root, tmp_path):
    full = preprocess_study_subject(mini_root, "subj02", PreprocessOptions())
    chosen = full.image_ids[~full.is_test][:7]
    path = tmp_path / "test_ids.txt"
    path.write_text("# 0-based 73k ids\n" + "\n".join(map(str, [*chosen, 10**6])) + "\n")
    result = preprocess_study_subject(mini_root, "subj02", PreprocessOptions(test_split=str(path)))
    np.testing.assert_array_equal(result.image_ids[result.is_test], chosen)
    assert len(result.image_ids) == len(full.image_ids)  # the shared images train here
    with pytest.raises(InputError, match="preprocess.test_split: .*nope.txt is neither"):
        preprocess_study_subject(mini_root, "subj02", PreprocessOptions(test_split=str(tmp_path / "nope.txt")))


def test_single_trials_of_the_training_images_are_kept_and_pair_with_their_images(mini_root, tmp_path):
    result = preprocess_study_subject(mini_root, "subj03", PreprocessOptions(keep_trials=True))
    trials = result.trials
    train_ids = result.image_ids[~result.is_test]
    assert set(trials.image_ids) == set(train_ids) and len(trials.image_ids) == result.repeats[~result.is_test].sum()
    row = np.flatnonzero(result.image_ids == train_ids[0])[0]
    full = result.valid_sessions == result.valid_sessions.max()  # (a missing session's trials are stored as 0)
    np.testing.assert_allclose(trials.responses[trials.image_ids == train_ids[0]].mean(0)[full],
                               result.responses[row][full], atol=1e-5)
    test_ids = result.image_ids[result.is_test]  # the test images' repeats are kept apart (RSA's crossnobis)
    tested = result.test_trials
    assert set(tested.image_ids) == set(test_ids) and len(tested.image_ids) == result.repeats[result.is_test].sum()
    row = np.flatnonzero(result.image_ids == test_ids[0])[0]
    np.testing.assert_allclose(tested.responses[tested.image_ids == test_ids[0]].mean(0)[full],
                               result.responses[row][full], atol=1e-5)
    write_responses(tmp_path / "r.h5", result)
    back = read_responses(tmp_path / "r.h5", trials=True, test_trials=True)
    np.testing.assert_array_equal(back.trials.session, trials.session)
    np.testing.assert_array_equal(back.test_trials.image_ids, tested.image_ids)
    X, Y = training_pairs(back, np.arange(len(back.image_ids)), "trials")
    np.testing.assert_array_equal(back.image_ids[Y], trials.image_ids)
    assert X.shape == trials.responses.shape
    with pytest.raises(InputError, match="set preprocess.keep_trials: true"):
        training_pairs(read_responses(tmp_path / "r.h5"), np.arange(len(back.image_ids)), "trials")


def test_stim_csv_without_the_index_column_or_subject_columns_is_read_by_name(mini_copy, caplog):
    layout = NSDLayout(mini_copy)
    table = pd.read_csv(layout.stim_info, index_col=0)
    table.to_csv(layout.stim_info, index=False)  # no unnamed first column
    NSDStudy(mini_copy).subject("subj02")
    table.drop(columns=[c for c in table.columns if c.startswith("subject")]).to_csv(layout.stim_info)
    with caplog.at_level(logging.INFO):
        NSDStudy(mini_copy).subject("subj02")
    assert "no subject2_rep0..2 columns: trial cross-check skipped" in caplog.text
    shown = np.flatnonzero(table["subject2_rep0"] > 0)
    table.loc[table.index[shown[0]], "subject2_rep0"] = table["subject2_rep0"].iloc[shown[1]]  # another image's trial
    table.to_csv(layout.stim_info)
    with pytest.raises(InputError, match="nsd_stim_info_merged.csv says trial .* of subject 2 showed image"):
        NSDStudy(mini_copy).subject("subj02")


def test_behaviour_file_is_a_cross_check_and_gives_trial_counts_without_stimpattern(mini_copy):
    layout = NSDLayout(mini_copy)
    behavior = pd.read_csv(layout.behavior("subj01"), sep="\t")
    assert list(behavior.columns[:6]) == ["SUBJECT", "SESSION", "RUN", "TRIAL", "73KID", "10KID"]
    mat = {k: v for k, v in loadmat(layout.expdesign).items() if not k.startswith("__")}
    del mat["stimpattern"]
    savemat(layout.expdesign, mat)
    NSDStudy(mini_copy).subject("subj01")  # counts from the behaviour file agree
    behavior[behavior["SESSION"] != 2].to_csv(layout.behavior("subj01"), sep="\t", index=False)
    with pytest.raises(InputError, match=r"betas_session02\.hdf5 hold 60 trials but .*responses.tsv has 0"):
        NSDStudy(mini_copy).subject("subj01")
    layout.behavior("subj01").unlink()
    # neither stimpattern nor a behaviour file: every session must hold as many trials as the first
    path = layout.betas_session("subj01", 3, "hdf5")
    with h5py.File(path, "r+") as f:
        data = f["betas"][:-1]
        del f["betas"]
        f.create_dataset("betas", data=data)
    with pytest.raises(InputError, match=r"betas_session03\.hdf5 hold 59 trials but the first session"):
        NSDStudy(mini_copy).subject("subj01")


def test_the_mini_nsd_ships_the_release_files(mini_root, mini_config):
    layout = NSDLayout(mini_root)
    pattern = loadmat(layout.expdesign)["stimpattern"]
    assert pattern.shape[:2] == (mini_config.n_sessions, 12)  # 12 runs per session
    assert run_sizes(750).tolist() == [63, 62] * 6  # NSD's sessions
    assert run_sizes(45).tolist() == [4, 4, 4, 4, 4, 4, 4, 3, 4, 3, 4, 3]
    for family in ("HCP_MMP1", "Kastner2015", "prf-visualrois", "nsdgeneral"):
        for hemi in ("lh.", "rh.", ""):
            assert layout.roi("subj03", hemi + family).is_file()
    valid = np.asarray(nib.load(layout.valid_session("subj03", 2)).dataobj)
    brain = np.asarray(nib.load(layout.brainmask("subj03")).dataobj) > 0
    planted = _planted(mini_root, "subj03", "valid")
    assert (valid[brain] == 0).sum() == (~planted[1]).sum() > 0
    betas = np.asarray(nib.load(layout.betas_session("subj03", 2, "nifti")).dataobj)
    assert (betas[valid == 0] == 0).all()  # NSD stores invalid betas as 0
