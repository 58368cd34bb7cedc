import numpy as np
import pytest

from voxelflow.atlases.roi_masks import RoiSet, hemispheres_from_volumes, voxel_labels
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
    with pytest.raises(InputError, match=r"unknown ROI 'V2'; known ROIs: prf-visualrois, V1, V1v, V1d, hV4"):
        _rois().mask("V2")


def test_misspelled_roi_gets_a_close_match():
    with pytest.raises(InputError, match=r"unknown ROI 'hv4'; did you mean 'hV4'\?"):
        _rois().mask("hv4")


def test_present_keeps_named_rois_with_voxels_in_order_and_refuses_unknown_names(caplog):
    rois = _rois()
    rois.labels["prf-visualrois"][rois.labels["prf-visualrois"] == 7] = 0  # hV4 has no voxels here
    present = rois.present(["V1", "hV4", "V1v"], "subj01")
    assert list(present) == ["V1", "V1v"]
    assert present["V1"].sum() == 4
    assert "subj01: ROI hV4 holds no voxels" in caplog.text
    with pytest.raises(InputError, match="unknown ROI 'FFA-9'"):
        rois.present(["V1", "FFA-9"])


def _nsd_like():
    """Three families as real NSD ships them: Glasser's V1 and Kastner's V1v lie in other voxels than the pRF
    maps' V1v/V1d, and both have a V3A."""
    rois = _rois()
    rois.add_family("HCP_MMP1", np.array([1, 1, 0, 0, 2, 0, 3]), {1: "V1", 2: "V4", 3: "V3A"})
    rois.add_family("Kastner2015", np.array([2, 1, 0, 0, 0, 3, 3]), {1: "V1v", 2: "V1d", 3: "V3A"})
    rois.add_family("floc-places", np.array([0, 0, 0, 0, 0, 0, 1]), {1: "RSC"})
    rois.add_family("HCP_MMP1-copy", np.array([0] * 7), {1: "RSC"})
    rois.hemisphere = np.array(["lh", "lh", "lh", "rh", "rh", "rh", "rh"])
    return rois


def test_plain_names_mean_the_fields_families_even_where_other_families_repeat_them():
    rois = _nsd_like()
    assert rois.mask("V1").tolist() == [False, False, True, True, True, True, False]  # pRF maps, not Glasser's
    assert rois.mask("V1v").tolist() == [False, False, True, False, False, True, False]  # not Kastner's
    assert rois.mask("RSC").tolist() == [False] * 6 + [True]  # floc-places
    assert rois.mask("V4").tolist() == [False] * 4 + [True, False, False]  # only Glasser has a V4
    assert rois.resolve("V1").describe() == {"family": "prf-visualrois", "labels": ["V1v", "V1d"], "hemisphere": None}


def test_qualified_names_reach_every_family():
    rois = _nsd_like()
    assert rois.mask("HCP_MMP1.V1").tolist() == [True, True] + [False] * 5
    assert rois.mask("Kastner2015.V1v").tolist() == [False, True] + [False] * 5
    assert rois.mask("prf-visualrois.V1v").tolist() == rois.mask("V1v").tolist()
    with pytest.raises(InputError, match="family HCP_MMP1 has labels V1, V4, V3A"):
        rois.mask("HCP_MMP1.V2")


def test_a_name_several_families_share_with_no_rule_is_an_error_listing_the_choices():
    with pytest.raises(InputError, match=r"'V3A' is a label of several families \(HCP_MMP1, Kastner2015\); name "
                                         r"one: HCP_MMP1.V3A, Kastner2015.V3A"):
        _nsd_like().mask("V3A")


def test_hemisphere_prefix_keeps_one_hemisphere():
    rois = _nsd_like()
    assert rois.mask("lh.V1").tolist() == [False, False, True] + [False] * 4
    assert rois.mask("rh.HCP_MMP1.V4").tolist() == [False] * 4 + [True, False, False]
    assert rois.resolve("rh.V1").hemisphere == "rh"
    with pytest.raises(InputError, match="no hemisphere labels"):
        _rois().mask("lh.V1")


def test_hemispheres_come_from_the_lh_rh_volumes_and_unplaced_voxels_take_their_neighbours():
    ijk = np.array([[0, 0, 0], [1, 0, 0], [2, 0, 0], [4, 0, 0], [9, 0, 0]])
    lh = [np.array([0, 3, -1, -1, -1])]
    rh = [np.array([-1, -1, -1, 1, 0])]
    assert hemispheres_from_volumes(lh, rh, ijk).tolist() == ["lh", "lh", "lh", "rh", "rh"]  # voxel 2: nearest
