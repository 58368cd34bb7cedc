import h5py
import numpy as np

from voxelflow.mininsd import TrueBrain
from voxelflow.mininsd.true_brain import gaussian_prfs
from voxelflow.nsd_study import NSDStudy


def _brain_and_kind(root, subject="subj01"):
    with h5py.File(root / "truth/planted.h5") as f:
        kind = f[subject]["kind"][()].astype(str)
    return TrueBrain.from_truth(str(root / "truth/planted.h5"), subject), kind


def test_prf_voxel_responds_to_contrast_inside_its_receptive_field(mini_root):
    brain, kind = _brain_and_kind(mini_root)
    v = np.flatnonzero(kind == "V1")[0]
    x, y = int(brain.prf_x[v]), int(brain.prf_y[v])
    inside = np.full((1, 64, 64, 3), 128, np.uint8)
    outside = inside.copy()
    inside[0, max(y - 3, 0):y + 3, max(x - 3, 0):x + 3] = 255
    ox, oy = (x + 32) % 64, (y + 32) % 64  # the opposite quadrant
    outside[0, max(oy - 3, 0):oy + 3, max(ox - 3, 0):ox + 3] = 255
    assert brain.raw_response(inside)[0, v] > 5 * brain.raw_response(outside)[0, v]


def test_retinotopy_left_hemisphere_sees_the_right_visual_field(mini_root):
    brain, kind = _brain_and_kind(mini_root)
    with h5py.File(mini_root / "truth/planted.h5") as f:
        ijk, shape = f["subj01"]["ijk"][()], f["subj01"].attrs["volume_shape"]
    early = np.isin(kind, ["V1", "V2", "V3"])
    left = ijk[:, 0] + 0.5 < shape[0] / 2  # voxel centre left of the midline
    assert (brain.prf_x[early & left] > 32).mean() > 0.95
    assert (brain.prf_x[early & ~left] < 32).mean() > 0.95


def test_planted_signal_is_standardised_over_the_subjects_images(mini_root):
    study = NSDStudy(mini_root)
    brain, _ = _brain_and_kind(mini_root)
    with h5py.File(study.layout.stimuli) as f:
        images = f["imgBrick"][np.sort(study.design.subjectim[0])]
    signal = brain(images)
    np.testing.assert_allclose(signal.mean(0), 0, atol=1e-6)
    np.testing.assert_allclose(signal.std(0), 1, atol=1e-6)


def test_prfs_are_normalised_gaussians_centred_where_asked():
    g = gaussian_prfs(np.array([10.5, 40.5]), np.array([20.5, 5.5]), np.array([2.0, 3.0]), 64)
    np.testing.assert_allclose(g.sum(0), 1)
    assert np.unravel_index(g[:, 0].argmax(), (64, 64)) == (20, 10)
    assert np.unravel_index(g[:, 1].argmax(), (64, 64)) == (5, 40)
