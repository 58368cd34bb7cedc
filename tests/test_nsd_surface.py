"""NSD on fsaverage: the surface mini-NSD in NSD's fsaverage layout, read by the NSD reader, preprocessed into a
vertex response store, with the planted truth recovered as on volumes; the surface maps."""

import h5py
import nibabel as nib
import numpy as np
import pytest

from voxelflow.errors import InputError
from voxelflow.mininsd.true_brain import TrueBrain
from voxelflow.mininsd.writer import MiniNSDConfig, write_mininsd
from voxelflow.nsd_layout import NSDLayout
from voxelflow.nsd_study import NSDStudy
from voxelflow.preprocess import PreprocessOptions, preprocess_study_subject
from voxelflow.responses import read_responses, write_responses
from voxelflow.surface_figures import SurfaceRow, surface_maps, surface_mesh, to_hemispheres

N = 10242  # fsaverage5's vertices a hemisphere


@pytest.fixture(scope="module")
def root(tmp_path_factory):
    root = tmp_path_factory.mktemp("surface")
    write_mininsd(root, MiniNSDConfig(n_subjects=2, n_shared=30, n_unique=60, n_sessions=3, fewer_sessions={},
                                      grid=(18, 22, 14), seed=4, surface=True))
    return root


@pytest.fixture(scope="module")
def subj01(root):
    return preprocess_study_subject(root, "subj01", PreprocessOptions(space="fsaverage", keep_trials=True))


def test_the_surface_mini_nsd_is_in_nsds_fsaverage_layout(root):
    layout = NSDLayout(root, "fsaverage")
    betas = nib.load(layout.surface_betas_session("subj02", 3, "rh"))
    assert betas.shape == (N, 1, 1, 90) and betas.get_data_dtype().str[1:] == "f4"  # MGH: big-endian float32
    labels = nib.load(layout.surface_label("lh", "floc-faces")).get_fdata().ravel()
    assert labels.shape == (N,) and set(np.unique(labels)) <= {0, 1, 2, 3, 4, 5}
    assert layout.surface_label_table("floc-faces").read_text().splitlines()[1] == "1 OFA"
    assert nib.load(layout.surface_ncsnr("subj01", "lh")).shape[0] == N


def test_vertices_carry_hemisphere_vertex_and_the_planted_signal(root, subj01, tmp_path):
    assert subj01.on_surface and subj01.ijk is None and subj01.attrs["space"] == "fsaverage"
    truth = h5py.File(root / "truth/planted.h5")["fsaverage/subj01"]
    assert len(subj01.vertex) == len(truth["ijk"])  # every nsdgeneral vertex
    np.testing.assert_array_equal(subj01.location_keys, truth["ijk"][()])
    np.testing.assert_allclose(subj01.ncsnr, truth["ncsnr"][()], rtol=1e-6)  # the study's ncsnr.mgh
    # the estimate from 30 test x 3 repeats and 60 training images tracks the planted SNR (measured r 0.97)
    assert np.corrcoef(subj01.ncsnr_estimated, truth["ncsnr"][()])[0, 1] > 0.9
    brain = TrueBrain.from_truth(str(root / "truth/planted.h5"), "subj01", subj01.location_keys, surface=True)
    with h5py.File(NSDLayout(root).stimuli) as f:
        signal = brain(f["imgBrick"][subj01.image_ids])
    good = subj01.ncsnr > 0.8
    r = [np.corrcoef(subj01.responses[:, v], signal[:, v])[0, 1] for v in np.flatnonzero(good)]
    assert np.median(r) > 0.8  # as on volumes: a 3-repeat average of ncsnr > 0.8
    # ROIs by the fsaverage labels, each vertex with its hemisphere; floc-words lies in the left hemisphere only
    words = subj01.rois.mask("floc-words")
    assert words.sum() > 100 and set(subj01.hemisphere[words]) == {"lh"}
    assert set(subj01.hemisphere[subj01.rois.mask("V1")]) == {"lh", "rh"}
    write_responses(tmp_path / "r.h5", subj01)
    back = read_responses(tmp_path / "r.h5", test_trials=True)
    assert back.on_surface and back.volume_shape is None and back.test_trials is not None
    np.testing.assert_array_equal(back.vertex, subj01.vertex)
    with pytest.raises(InputError, match="on a surface"):
        back.volume(back.ncsnr)


def test_missing_hemisphere_and_unknown_mask_family_are_named(root, tmp_path):
    import shutil

    copy = tmp_path / "study"
    shutil.copytree(root, copy)
    layout = NSDLayout(copy, "fsaverage")
    with pytest.raises(InputError, match="fsaverage label families: HCP_MMP1"):
        NSDStudy(copy, "fsaverage").subject("subj01", mask_roi="nsdgeneralRSC")
    layout.surface_betas_session("subj01", 2, "rh").unlink()
    with pytest.raises(InputError, match=r"missing fsaverage betas file .*rh\.betas_session02\.mgh"):
        NSDStudy(copy, "fsaverage").subject("subj01")


def test_surface_maps_place_each_value_at_its_vertex(subj01):
    maps = to_hemispheres(np.arange(4.0), np.array(["lh", "rh", "rh", "lh"]), np.array([5, 0, 7, 20000]), N)
    assert maps["left"][5] == 0 and maps["right"][0] == 1 and maps["right"][7] == 2
    assert np.isfinite(maps["left"]).sum() == 1  # vertex 20000 lies beyond fsaverage5: a finer mesh's
    mesh = surface_mesh(None, N)
    assert mesh.n_vertices == N and mesh.source == "nilearn fsaverage5"
    figure = surface_maps([SurfaceRow("ncsnr", subj01.ncsnr, subj01.hemisphere, subj01.vertex, cmap="hot", vmin=0)],
                          mesh, "subj01")
    assert len(figure.axes) == 6 + 1  # six views and a colour bar


def test_a_surface_study_table_reads_as_the_fsaverage_reader(root, subj01, tmp_path):
    from voxelflow.preprocess import preprocess_subject
    from voxelflow.study_table import StudyTable, export_table

    table = StudyTable(export_table(root, tmp_path / "study.yaml", ["subj01"], space="fsaverage"))
    assert table.space == "fsaverage"
    from_table = preprocess_subject(table.subject("subj01"), test_ids=table.test_ids("subj01"), keep_trials=True)
    np.testing.assert_array_equal(from_table.vertex, subj01.vertex)
    np.testing.assert_array_equal(from_table.hemisphere, subj01.hemisphere)
    np.testing.assert_array_equal(from_table.split, subj01.split)
    np.testing.assert_allclose(from_table.responses, subj01.responses, atol=1e-6)
    np.testing.assert_allclose(from_table.ncsnr, subj01.ncsnr)
    np.testing.assert_array_equal(from_table.rois.mask("floc-words"), subj01.rois.mask("floc-words"))
