"""The Algonauts 2023 release as a study: the surface mini-NSD exported in the release's layout, read back into a
vertex response store, its images, its submission format and its score rows."""

import shutil

import numpy as np
import pytest

from voxelflow.algonauts import AlgonautsLayout, ReleaseImages, image_ids, read_subject, score_rows, \
    score_table, validation_images, write_submission
from voxelflow.errors import InputError
from voxelflow.mininsd.algonauts_export import export_algonauts
from voxelflow.mininsd.writer import MiniNSDConfig, write_mininsd
from voxelflow.nsd_layout import NSDLayout, read_stimuli
from voxelflow.preprocess import PreprocessOptions, preprocess_study_subject


@pytest.fixture(scope="module")
def study(tmp_path_factory):
    root = tmp_path_factory.mktemp("surface")
    write_mininsd(root, MiniNSDConfig(n_subjects=1, n_shared=30, n_unique=60, n_sessions=3, fewer_sessions={},
                                      grid=(18, 22, 14), seed=6, surface=True))
    release = export_algonauts(root, tmp_path_factory.mktemp("algonauts") / "data", ["subj01"])
    return root, release


def test_the_release_reads_back_as_the_surface_responses(study):
    root, release = study
    layout = AlgonautsLayout(release)
    assert layout.subjects() == ["subj01"]
    names = sorted(p.name for p in layout.images_dir("subj01", "train").iterdir())
    assert names[0].startswith("train-0001_nsd-") and len(names) == 60 + 15  # its own and half the shared images
    assert np.load(layout.fmri("subj01", "train", "lh")).dtype == np.float32
    data = read_subject(release, "subj01")
    surface = preprocess_study_subject(root, "subj01", PreprocessOptions(space="fsaverage"))
    np.testing.assert_array_equal(data.image_ids, surface.image_ids)  # ascending
    np.testing.assert_array_equal(data.image_ids[data.is_test], surface.image_ids[surface.is_test][::2])
    np.testing.assert_allclose(data.responses, surface.responses, atol=1e-6)
    np.testing.assert_array_equal(data.vertex, surface.vertex)
    np.testing.assert_allclose(data.noise_ceiling, surface.noise_ceiling, rtol=1e-5)  # stored as a fraction
    assert data.attrs["noise_ceiling_source"] == "release (test images)" and data.on_surface
    np.testing.assert_array_equal(data.rois.mask("FFA-1"), surface.rois.mask("FFA-1"))
    assert (data.repeats == 1).all() and data.trials is None  # the release holds averages only


def test_without_test_fmri_a_seeded_validation_split_is_held_out(study, tmp_path):
    _, release = study
    copy = tmp_path / "release"
    shutil.copytree(release, copy)
    for hemi in ("lh", "rh"):
        AlgonautsLayout(copy).fmri("subj01", "test", hemi).unlink()
    a, b = read_subject(copy, "subj01", validation=0.2, seed=1), read_subject(copy, "subj01", validation=0.2, seed=1)
    assert 5 <= a.is_test.sum() <= 25 and len(a.image_ids) == 75  # about 20 % of the 75 training images
    np.testing.assert_array_equal(a.split, b.split)
    assert not np.array_equal(a.split, read_subject(copy, "subj01", validation=0.2, seed=2).split)
    assert a.attrs["noise_ceiling_source"] == "release's test noise ceiling (validation images)"
    for hemi in ("lh", "rh"):
        AlgonautsLayout(copy).noise_ceiling("subj01", hemi).unlink()
    withheld = read_subject(copy, "subj01", validation=0.2, seed=1)
    assert withheld.attrs["noise_ceiling_source"] == "unavailable" and np.isnan(withheld.noise_ceiling).all()
    np.save(AlgonautsLayout(copy).fmri("subj01", "train", "rh"), np.zeros((59, 3), np.float32))
    with pytest.raises(InputError, match=r"rh_training_fmri\.npy has shape \(59, 3\), but .*training_images holds 75 images"):
        read_subject(copy, "subj01")


def test_the_validation_draw_is_per_image_so_subjects_agree_on_shared_images():
    one, other = np.arange(0, 4000), np.arange(2000, 9000)  # images 2000..3999 seen by both
    a, b = validation_images(one, 0.1), validation_images(other, 0.1)
    np.testing.assert_array_equal(a[2000:], b[:2000])
    assert abs(a.mean() - 0.1) < 0.02 and 150 < a[2000:].sum() < 250  # the common held-out images
    with pytest.raises(InputError, match="at least 2 are needed"):
        validation_images(np.arange(3), 0.01)


def test_release_images_and_the_submission_format(study, tmp_path):
    root, release = study
    test_ids = image_ids(AlgonautsLayout(release), "subj01", "test")
    np.testing.assert_array_equal(read_stimuli(release, test_ids[:4]), read_stimuli(NSDLayout(root).stimuli,
                                                                                       test_ids[:4]))
    assert len(ReleaseImages(release).missing(np.array([test_ids[0], 72999]))) == 1
    data = read_subject(release, "subj01")
    predictions = np.random.default_rng(0).normal(size=(len(test_ids), len(data.vertex)))
    lh, rh = write_submission(tmp_path, "subj01", predictions, data.hemisphere)
    assert lh == tmp_path / "algonauts_2023_challenge_submission/subj01/lh_pred_test.npy"
    left, right = np.load(lh), np.load(rh)
    assert left.dtype == np.float32 and left.shape == (15, (data.hemisphere == "lh").sum())
    np.testing.assert_allclose(np.concatenate([left, right], axis=1), predictions, rtol=1e-6)


def test_score_rows_follow_the_challenge_metric():
    r, nc = np.array([0.5, 0.9, -0.1, 0.3]), np.array([50.0, 64.0, 20.0, 0.0])
    rows = score_rows("subj01", "ridge-clip", r, nc, {"FFA": np.array([True, True, False, False])}, "test", "release")
    everything, ffa = rows
    assert everything["roi"] == "all vertices" and everything["n_vertices"] == 4
    assert everything["algonauts_score"] == pytest.approx((50 + 100 + 0 + 100) / 4)  # 0.25/0.5, capped, 0, NC 0
    assert ffa["algonauts_score"] == pytest.approx(75) and ffa["mean_r"] == pytest.approx(0.7)


def test_the_mean_over_subjects_weighs_every_vertex_alike():
    a = score_rows("subj01", "m", np.array([0.5, 0.5]), np.array([25.0, 25.0]), {}, "test", "release")
    b = score_rows("subj02", "m", np.array([0.0, 0.0, 0.0, 0.0]), np.array([50.0] * 4), {}, "test", "release")
    table = score_table(a + b).set_index("subject")
    assert table.loc["all subjects", "n_vertices"] == 6
    assert table.loc["all subjects", "algonauts_score"] == pytest.approx((2 * 100 + 4 * 0) / 6)  # not (100 + 0) / 2
    assert table.loc["all subjects", "mean_r"] == pytest.approx(1 / 6)
    c = score_rows("subj03", "m", np.array([0.5]), np.array([np.nan]), {}, "validation", "unavailable")
    assert np.isnan(score_table(a + c).set_index("subject").loc["all subjects", "algonauts_score"])
