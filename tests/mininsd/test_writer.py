"""The mini-NSD is written in NSD's exact layout and conventions."""

import h5py
import nibabel as nib
import numpy as np
import pandas as pd
import pytest
from scipy.io import loadmat

from voxelflow.errors import InputError
from voxelflow.mininsd import MiniNSDConfig, write_mininsd
from voxelflow.mininsd import writer as writer_module
from voxelflow.nsd_layout import NSDLayout


def test_files_sit_where_nsd_keeps_them(mini_root):
    layout = NSDLayout(mini_root)
    for path in [layout.expdesign, layout.stim_info, layout.stimuli, layout.ncsnr("subj01"),
                 layout.brainmask("subj02"), layout.roi("subj03", "floc-faces"),
                 layout.label_table("subj01", "prf-visualrois"),
                 layout.betas_session("subj01", 6, "nifti"), layout.betas_session("subj01", 6, "hdf5")]:
        assert path.is_file(), path
    assert not layout.betas_session("subj04", 6, "nifti").exists()  # subj04 stopped after 5 sessions
    assert (mini_root / "truth/planted.h5").is_file()  # the truth sits outside the NSD trees


def test_design_is_one_based_with_shared_images_first(mini_root, mini_config):
    mat = loadmat(NSDLayout(mini_root).expdesign)
    order, subjectim, shared = mat["masterordering"], mat["subjectim"], mat["sharedix"]
    per_subject = mini_config.n_shared + mini_config.n_unique
    assert order.shape == (1, 3 * per_subject) and order.min() == 1 and order.max() == per_subject
    assert np.all(np.bincount(order.ravel().astype(int))[1:] == 3)  # every image 3 times over the full design
    assert subjectim.shape == (4, per_subject) and subjectim.min() >= 1
    assert np.all(subjectim[:, : mini_config.n_shared] == shared.ravel())
    assert mat["stimpattern"].reshape(mini_config.n_sessions, -1).sum(1).tolist() == [60] * 6


def test_betas_are_int16_times_300_in_both_formats(mini_root):
    layout = NSDLayout(mini_root)
    nifti = nib.load(layout.betas_session("subj02", 1, "nifti"))
    assert nifti.get_data_dtype() == np.int16 and nifti.shape[3] == 60
    with h5py.File(layout.betas_session("subj02", 1, "hdf5")) as f:
        betas = f["betas"]
        assert betas.dtype == np.int16
        assert betas.shape == (60, *nifti.shape[2::-1])  # (trials, Z, Y, X)
        assert betas.chunks == (60, 1, 1, 1)
        np.testing.assert_array_equal(betas[()].transpose(3, 2, 1, 0), np.asarray(nifti.dataobj))
    assert np.abs(np.asarray(nifti.dataobj)).max() > 300  # stored as PSC x 300, not PSC


def test_roi_volumes_use_minus_one_zero_and_labels(mini_root):
    layout = NSDLayout(mini_root)
    faces = np.asarray(nib.load(layout.roi("subj01", "floc-faces")).dataobj)
    assert set(np.unique(faces)) >= {-1, 0, 1, 2, 3}
    table = layout.label_table("subj01", "floc-faces").read_text().split("\n")
    assert table[:3] == ["0 Unknown", "1 OFA", "2 FFA-1"]


def test_stim_info_csv_lists_each_repeat_trial(mini_root, mini_config):
    table = pd.read_csv(NSDLayout(mini_root).stim_info, index_col=0)
    assert list(table.columns[:8]) == ["cocoId", "cocoSplit", "cropBox", "loss", "nsdId", "flagged",
                                       "BOLD5000", "shared1000"]
    assert table["shared1000"].sum() == mini_config.n_shared
    reps = table[[f"subject1_rep{r}" for r in range(3)]].to_numpy()
    assert sorted(reps[reps > 0]) == list(range(1, 361))  # subj01's 360 trials, 1-based


def test_sizes_that_do_not_split_into_sessions_are_refused(tmp_path):
    with pytest.raises(InputError, match="n_sessions = 7"):
        write_mininsd(tmp_path, MiniNSDConfig(n_shared=10, n_unique=10, n_sessions=7))


def test_a_failed_generation_leaves_nothing_behind(tmp_path, monkeypatch):
    def broken(*args, **kwargs):
        raise RuntimeError("disk full")

    monkeypatch.setattr(writer_module, "_write_subject", broken)
    with pytest.raises(RuntimeError):
        write_mininsd(tmp_path, MiniNSDConfig(n_shared=10, n_unique=10, n_sessions=2, fewer_sessions={}))
    assert list(tmp_path.iterdir()) == []
