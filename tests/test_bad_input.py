"""Every bad input gets one clear error naming the file, key or value, and no partial output."""

import gzip
import subprocess
import sys

import nibabel as nib
import numpy as np
import pytest
import yaml
from scipy.io import loadmat, savemat
from snakemake.exceptions import WorkflowError
from snakemake.utils import validate

from voxelflow.config_check import config_problem
from voxelflow.errors import InputError
from voxelflow.nsd_layout import NSDLayout
from voxelflow.nsd_study import NSDStudy
from voxelflow.preprocess import preprocess_subject

SCHEMA = "workflow/schemas/config.schema.yaml"


def test_missing_session_file(mini_copy):
    NSDLayout(mini_copy).betas_session("subj02", 2, "hdf5").unlink()
    with pytest.raises(InputError, match=r"missing betas session file .*subj02.*betas_session02\.hdf5"):
        NSDStudy(mini_copy).subject("subj02")


def test_session_on_another_grid(mini_copy):
    path = NSDLayout(mini_copy).betas_session("subj01", 3, "nifti")
    nib.save(nib.Nifti1Image(np.zeros((10, 10, 10, 60), np.int16), np.eye(4)), path)
    with pytest.raises(InputError, match=r"betas_session03\.nii\.gz have volume shape \(10, 10, 10\) but the ROI masks"):
        NSDStudy(mini_copy, betas_format="nifti").subject("subj01")


def test_truncated_nifti(mini_copy):
    path = NSDLayout(mini_copy).betas_session("subj01", 2, "nifti")
    data = gzip.decompress(path.read_bytes())
    path.write_bytes(gzip.compress(data[: len(data) // 2]))
    subject = NSDStudy(mini_copy, betas_format="nifti").subject("subj01")
    with pytest.raises(InputError, match=r"betas_session02\.nii\.gz is truncated"):
        preprocess_subject(subject)


def test_corrupt_gzip_nifti(mini_copy):
    path = NSDLayout(mini_copy).betas_session("subj01", 4, "nifti")
    raw = bytearray(path.read_bytes())
    raw[len(raw) // 2: len(raw) // 2 + 64] = b"\x00" * 64
    path.write_bytes(bytes(raw))
    with pytest.raises(InputError, match=r"cannot read betas .*betas_session04\.nii\.gz"):
        preprocess_subject(NSDStudy(mini_copy, betas_format="nifti").subject("subj01"))


def test_truncated_hdf5(mini_copy):
    path = NSDLayout(mini_copy).betas_session("subj03", 1, "hdf5")
    path.write_bytes(path.read_bytes()[:5000])
    with pytest.raises(InputError, match=r"cannot read betas .*betas_session01\.hdf5"):
        NSDStudy(mini_copy).subject("subj03")


def test_nan_betas_leave_their_session_out_of_those_voxels(mini_copy, caplog):
    layout = NSDLayout(mini_copy)
    path = layout.betas_session("subj02", 2, "nifti")
    image = nib.load(path)
    data = np.asarray(image.dataobj).astype(np.float32) / 300  # float betas are PSC already
    mask = np.asarray(nib.load(layout.roi("subj02", "nsdgeneral")).dataobj) > 0
    i, j, k = np.argwhere(mask)[[5, 9]].T
    data[i, j, k, 7] = np.nan
    nib.save(nib.Nifti1Image(data, image.affine), path)
    subject = NSDStudy(mini_copy, betas_format="nifti").subject("subj02")
    result = preprocess_subject(subject)
    assert "non-finite betas: 2" in caplog.text
    kept = np.flatnonzero((subject.ijk[:, None] == result.ijk[None]).all(-1).any(1))
    assert {5, 9} <= set(kept.tolist())  # still valid in the other sessions: kept
    assert np.isfinite(result.responses).all()
    assert len(result.ijk) == len(result.ncsnr) == len(result.valid_sessions) == result.responses.shape[1]
    assert result.valid_sessions[np.searchsorted(kept, [5, 9])].tolist() == [5, 5]


def test_unknown_subject(mini_root):
    with pytest.raises(InputError, match=r"unknown subject 'subj09'.*has subj01, subj02, subj03, subj04"):
        NSDStudy(mini_root).subject("subj09")


def test_unknown_roi(mini_root):
    with pytest.raises(InputError, match=r"unknown ROI 'nsdgeneraI' for the voxel mask.*nsdgeneral"):
        NSDStudy(mini_root).subject("subj01", mask_roi="nsdgeneraI")
    rois = NSDStudy(mini_root).subject("subj01").rois
    with pytest.raises(InputError,
                       match=r"unknown ROI 'FFA-9'; did you mean 'FFA-2' or 'FFA-1' or 'FFA'\? known ROIs: .*FFA-1"):
        rois.mask("FFA-9")


def test_design_whose_trial_count_does_not_match_the_betas(mini_copy):
    path = NSDLayout(mini_copy).expdesign
    mat = {k: v for k, v in loadmat(path).items() if not k.startswith("__")}
    mat["stimpattern"][:, 0, 1] = 0  # 59 stimulus trials per session
    savemat(path, mat)
    with pytest.raises(InputError, match=r"betas_session01\.hdf5 hold 60 trials but .*nsd_expdesign\.mat has 59"):
        NSDStudy(mini_copy).subject("subj01")


def test_not_an_nsd_copy(tmp_path):
    with pytest.raises(InputError, match=r"is not an NSD copy: .*nsddata_betas/ppdata does not exist"):
        NSDStudy(tmp_path)


def _config(**changes):
    with open("config.yaml") as f:
        config = yaml.safe_load(f)
    config.update(changes)
    return config


def test_config_typo_is_named():
    config = _config(preprocesss={"zscore_stats": "all"})
    with pytest.raises(WorkflowError, match="preprocesss"):
        validate(config, SCHEMA)


def test_config_wrong_type_is_named():
    config = _config()
    config["preprocess"]["zscore_stats"] = "sessions"
    with pytest.raises(WorkflowError, match="'sessions' is not one of"):
        validate(config, SCHEMA)
    with pytest.raises(WorkflowError, match="'subj1' does not match"):
        validate(_config(subjects=["subj1"]), SCHEMA)


def test_config_problem_is_one_line_naming_the_key():
    config = _config()
    config["preprocess"]["zscore_stats"] = "sessions"
    assert config_problem(config, SCHEMA) == (
        "config.yaml: preprocess.zscore_stats: 'sessions' is not one of ['all', 'train']")
    assert config_problem(_config(), SCHEMA) is None


def test_shipped_config_is_valid_and_gets_defaults():
    config = _config()
    del config["preprocess"]
    validate(config, SCHEMA)
    assert config["preprocess"]["mask_roi"] == "nsdgeneral"


def test_cli_reports_one_line_exits_1_and_writes_nothing(mini_copy, tmp_path):
    NSDLayout(mini_copy).betas_session("subj01", 5, "hdf5").write_bytes(b"not hdf5")
    out = tmp_path / "out" / "responses.h5"
    proc = subprocess.run([sys.executable, "-m", "voxelflow", "preprocess", "--data-root", str(mini_copy),
                           "--subject", "subj01", "--out", str(out)], capture_output=True, text=True)
    assert proc.returncode == 1
    assert "error: cannot read betas" in proc.stderr and "betas_session05.hdf5" in proc.stderr
    assert "Traceback" not in proc.stderr
    assert not out.parent.exists() or not any(out.parent.iterdir())
