import numpy as np
import pytest

from voxelflow.atlases.roi_masks import RoiSet, voxel_labels
from voxelflow.errors import InputError


def _rois():
    volume = np.array([-1, 0, 1, 2, 2, 1, 0]).reshape(7, 1, 1)
    mask = np.array([True] * 7).reshape(7, 1, 1)
    rois = RoiSet()
    rois.add_family("prf-visualrois", voxel_labels(volume, mask), {1: "V1v", 2: "V1d", 7: "hV4"})
    return rois


def test_minus_one_and_zero_are_outside_every_roi():
    labels = voxel_labels(np.array([-1, 0, 3]).reshape(3, 1, 1), np.ones((3, 1, 1), bool))
    assert labels.tolist() == [0, 0, 3]


def test_labels_families_and_unions():
    rois = _rois()
    assert rois.mask("V1v").tolist() == [False, False, True, False, False, True, False]
    assert rois.mask("V1").tolist() == [False, False, True, True, True, True, False]
    assert rois.mask("prf-visualrois").sum() == 4
    assert "V1" in rois.names and "V2" not in rois.names  # V2's labels are absent


def test_subset_keeps_voxel_alignment():
    assert _rois().subset(np.array([1, 1, 0, 1, 1, 1, 1], bool)).mask("V1v").tolist() == [0, 0, 0, 0, 1, 0]


def test_unknown_roi_lists_what_exists():
    with pytest.raises(InputError, match=r"unknown ROI 'V2'; known ROIs are: V1v, V1d, hV4, prf-visualrois, V1"):
        _rois().mask("V2")


def test_present_keeps_named_rois_with_voxels_in_order():
    rois = _rois()
    rois.masks["hV4"][:] = False  # a label this subject has, but with no voxels
    present = rois.present(["V1", "V2", "hV4", "V1v"])
    assert list(present) == ["V1", "V1v"]
    assert present["V1"].sum() == 4
