import numpy as np
import pytest

from voxelflow.errors import InputError
from voxelflow.nsd_study import NSDStudy
from voxelflow.preprocess import preprocess_subject
from voxelflow.responses import read_image_ids, read_responses, write_responses


def test_round_trip_keeps_every_field(mini_root, tmp_path):
    result = preprocess_subject(NSDStudy(mini_root).subject("subj03"))
    path = tmp_path / "subj03" / "responses.h5"
    write_responses(path, result)
    back = read_responses(path)
    for name in ("responses", "image_ids", "split", "repeats", "ijk", "affine", "ncsnr", "ncsnr_estimated",
                 "noise_ceiling"):
        np.testing.assert_array_equal(getattr(back, name), getattr(result, name), err_msg=name)
    assert back.volume_shape == result.volume_shape and back.ncsnr_source == "study"
    assert back.rois.families["floc-faces"] == result.rois.families["floc-faces"]
    np.testing.assert_array_equal(back.rois.mask("FFA"), result.rois.mask("FFA"))
    volume = back.volume(back.ncsnr)
    i, j, k = back.ijk[0]
    assert volume.shape == back.volume_shape and volume[i, j, k] == back.ncsnr[0]
    np.testing.assert_array_equal(read_image_ids(path), result.image_ids)
    np.testing.assert_array_equal(read_image_ids(path, "test"), result.image_ids[result.is_test])
    np.testing.assert_array_equal(read_image_ids(path, "train"), result.image_ids[~result.is_test])


def test_failed_write_leaves_no_file(mini_root, tmp_path):
    result = preprocess_subject(NSDStudy(mini_root).subject("subj03"))
    result.responses = None  # cannot be written
    with pytest.raises(AttributeError):
        write_responses(tmp_path / "responses.h5", result)
    assert list(tmp_path.iterdir()) == []


def test_missing_store_points_to_the_rule(tmp_path):
    with pytest.raises(InputError, match="run the preprocess rule first"):
        read_responses(tmp_path / "responses.h5")
