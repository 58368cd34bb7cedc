"""Configured synthesis targets (ROI expressions, NIfTI voxel masks) and the score table against hand values."""

import nibabel as nib
import numpy as np
import pytest

from voxelflow.images import resize_images
from voxelflow.errors import InputError
from voxelflow.images import to_uint8
from voxelflow.mininsd.true_brain import TrueBrain
from voxelflow.nsd_layout import NSDLayout, read_stimuli
from voxelflow.synthesis.evaluation import natural_choices, synthesis_table, true_brain_scorer
from voxelflow.synthesis.targets import resolve_target, target_weights


def _mask_file(path, responses, voxels, shape=None, affine=None):
    volume = np.zeros(shape or responses.volume_shape, np.uint8)
    volume[tuple(responses.ijk[voxels].T)] = 1
    nib.save(nib.Nifti1Image(volume, responses.affine if affine is None else affine), path)
    return str(path)


def test_a_mask_file_on_the_subject_grid_selects_its_voxels(encoding_data, tmp_path):
    responses = encoding_data.responses
    faces = responses.rois.mask("floc-faces")
    path = _mask_file(tmp_path / "faces.nii.gz", responses, faces)
    assert np.allclose(resolve_target("mine", {"mask": path}, responses), target_weights(responses.rois, "floc-faces"))
    assert np.allclose(resolve_target("mine", "floc-faces", responses), target_weights(responses.rois, "floc-faces"))


def test_bad_targets_are_clear_errors(encoding_data, tmp_path):
    responses = encoding_data.responses
    with pytest.raises(InputError, match="synthesis.targets.x: unknown ROI 'FFA-9'"):
        resolve_target("x", "FFA-9", responses)
    empty = _mask_file(tmp_path / "empty.nii.gz", responses, np.zeros(len(responses.ijk), bool))
    with pytest.raises(InputError, match="synthesis target 'x': the voxel mask is empty"):
        resolve_target("x", {"mask": empty}, responses)
    shape = tuple(n + 1 for n in responses.volume_shape)
    wrong = _mask_file(tmp_path / "shape.nii.gz", responses, [0], shape=shape)
    with pytest.raises(InputError, match=r"shape.nii.gz has shape .* but subj01's volume is"):
        resolve_target("x", {"mask": wrong}, responses)
    moved = _mask_file(tmp_path / "moved.nii.gz", responses, [0], affine=responses.affine + np.eye(4) * 0.5)
    with pytest.raises(InputError, match="moved.nii.gz is not on subj01's voxel grid"):
        resolve_target("x", {"mask": moved}, responses)
    with pytest.raises(InputError, match="missing.nii.gz does not exist"):
        resolve_target("x", {"mask": str(tmp_path / "missing.nii.gz")}, responses)


def test_synthesis_table_means_by_image_set_and_scorer():
    # 2 voxels; target a reads voxel 0, target b voxel 1. The scorer predicts (brightness, -brightness).
    def images(*levels):
        return np.stack([np.full((4, 4, 3), v, np.uint8) for v in levels])

    def scorer(x):
        b = x.mean((1, 2, 3))
        return np.stack([b, -b], 1)

    weights = {"a": np.array([1.0, 0.0]), "b": np.array([0.0, 1.0])}
    synthesized = {"a": images(10, 30), "b": images(2, 4)}
    natural = images(1, 2, 3, 4)
    measured = np.array([[5.0, 0], [1, 1], [7, 2], [0, 9]])
    table = synthesis_table(weights, synthesized, images(6, 6), natural, measured, {"enc": scorer}, n_natural=2)
    mean = table.set_index(["target", "scorer", "images"])["mean"]
    assert mean["a", "enc", "synthesized"] == 20 and mean["a", "enc", "other targets"] == 3
    assert mean["a", "enc", "unguided"] == 6 and mean["a", "enc", "natural all"] == 2.5
    assert mean["a", "enc", "natural top"] == 2  # measured voxel 0 is highest for natural images 3 and 1
    assert mean["b", "enc", "synthesized"] == -3 and mean["b", "enc", "natural top"] == -3.5  # levels 4 and 3
    assert mean["a", "measured", "natural top"] == 6 and ("a", "measured", "synthesized") not in mean.index
    sem = table.set_index(["target", "scorer", "images"])["sem"]
    assert np.isclose(sem["a", "enc", "synthesized"], np.std([10, 30], ddof=1) / np.sqrt(2))
    top, random = natural_choices(measured[:, 0], 2, seed=0)
    assert list(top) == [2, 0] and len(set(random)) == 2


def test_true_brain_scorer_reads_images_at_any_size(encoding_data):
    """The planted brain scores the stimuli at their own size exactly, and a down-up-sized copy nearly so."""
    d = encoding_data
    truth = str(d.root / "truth/planted.h5")
    images = read_stimuli(NSDLayout(d.root).stimuli, d.responses.image_ids[d.test][:12])
    brain = TrueBrain.from_truth(truth, "subj01")
    score = true_brain_scorer(truth, "subj01")
    assert images.shape[1] == brain.image_size
    np.testing.assert_allclose(score(images), brain(images), rtol=1e-6, atol=1e-6)
    smaller = to_uint8(resize_images(images, brain.image_size // 2))
    r = np.corrcoef(score(smaller).ravel(), brain(images).ravel())[0, 1]
    assert 0.8 < r < 1
