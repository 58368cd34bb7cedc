"""The reader reads NSD's layout as shipped: both betas formats, the design, ROIs and ncsnr."""

import h5py
import nibabel as nib
import numpy as np
import pandas as pd

from voxelflow.nsd_study import NSDStudy


def test_subjects_sessions_and_trials(mini_root):
    study = NSDStudy(mini_root)
    assert study.subjects == ["subj01", "subj02", "subj03", "subj04"]
    full, short = study.subject("subj01"), study.subject("subj04")
    assert len(full.session_paths) == 6 and len(short.session_paths) == 5
    assert [len(ids) for ids in short.trial_image_ids] == [60] * 5


def test_nifti_and_hdf5_betas_agree_and_are_percent_signal_change(mini_root):
    nifti = NSDStudy(mini_root, betas_format="nifti").subject("subj02")
    hdf5 = NSDStudy(mini_root, betas_format="hdf5").subject("subj02")
    assert nifti.session_paths[0].name == "betas_session01.nii.gz"
    assert hdf5.session_paths[0].name == "betas_session01.hdf5"
    a, b = nifti.read_session(2), hdf5.read_session(2)
    assert a.shape == (60, nifti.n_voxels) and a.dtype == np.float32
    np.testing.assert_array_equal(a, b)
    raw = np.asarray(nib.load(nifti.session_paths[2]).dataobj)[nifti.mask].T
    np.testing.assert_allclose(a, raw / 300.0, rtol=1e-6)


def test_trial_images_follow_the_design_and_the_stim_info_csv(mini_root):
    study = NSDStudy(mini_root)
    subject = study.subject("subj03")
    ids = np.concatenate(subject.trial_image_ids)
    table = pd.read_csv(study.layout.stim_info, index_col=0)
    for r in range(3):
        trials = table["subject3_rep%d" % r].to_numpy()
        shown = np.flatnonzero(trials)
        np.testing.assert_array_equal(ids[trials[shown] - 1], shown)


def test_voxels_rois_and_ncsnr_match_the_planted_truth(mini_root):
    subject = NSDStudy(mini_root).subject("subj01")
    with h5py.File(mini_root / "truth/planted.h5") as f:
        truth_ijk, kind = f["subj01/ijk"][()], f["subj01/kind"][()].astype(str)
        truth_ncsnr = f["subj01/ncsnr"][()]
    np.testing.assert_array_equal(subject.ijk, truth_ijk)
    np.testing.assert_allclose(subject.ncsnr, truth_ncsnr, rtol=1e-6)
    assert np.array_equal(subject.rois.mask("V1"), kind == "V1")
    assert subject.rois.families["floc-faces"][:3] == ["OFA", "FFA-1", "FFA-2"]
    assert subject.rois.mask("nsdgeneral").all()


def test_another_mask_roi_selects_its_voxels(mini_root):
    study = NSDStudy(mini_root)
    visual = study.subject("subj01", mask_roi="prf-visualrois")
    general = study.subject("subj01")
    assert visual.n_voxels == general.rois.mask("prf-visualrois").sum()
