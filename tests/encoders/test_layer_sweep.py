"""The layer sweep's known answer: on the mini-NSD, a ridge per layer of the two-stage backbone finds the contrast
stage best in V1-hV4 (whose planted tuning is pRF contrast energy) and the template stage best in the category
ROIs (planted category detectors), voxel by voxel."""

import numpy as np
import pytest

from voxelflow.encoders.features import extract_features
from voxelflow.encoders.layer_sweep import best_layer, layer_table, read_layer_scores, sweep_layers, \
    write_layer_scores
from voxelflow.encoders.stages_backbone import ContrastCategoryBackbone
from voxelflow.nsd_layout import NSDLayout

EARLY = ["V1", "V2", "V3", "hV4"]
CATEGORY = ["floc-faces", "floc-bodies", "floc-places", "floc-words"]


@pytest.fixture(scope="module")
def sweep(encoding_data):
    path = encoding_data.root / "stages.h5"
    extract_features(ContrastCategoryBackbone(), NSDLayout(encoding_data.root).stimuli,
                     encoding_data.responses.image_ids, path, device="cpu")
    return sweep_layers(path, encoding_data.responses, alphas=np.logspace(0, 7, 8), cv=5, device="cpu")


def test_each_roi_is_best_predicted_by_the_stage_its_tuning_was_planted_in(sweep, encoding_data):
    responses = encoding_data.responses
    assert list(sweep) == ["contrast_energy", "category_templates"]
    nna = np.stack([scores.nna for scores in sweep.values()])
    best = best_layer(nna)
    masks = responses.rois.present(EARLY + CATEGORY, responses.subject)
    for roi, mask in masks.items():
        difference = nna[0, mask] - nna[1, mask]  # paired over the ROI's voxels
        difference = difference[np.isfinite(difference)]
        z = difference.mean() / (difference.std() / np.sqrt(len(difference)))
        # measured: z 21 (hV4) to 44 (V1) for the early ROIs, -29 (words) to -66 (bodies) for the category ROIs;
        # the voxels whose best layer is the planted one: 87-96 %
        expected_stage = 1 if roi in EARLY else 2
        assert (z > 10) if roi in EARLY else (z < -10), (roi, z)
        assert np.mean(best[mask] == expected_stage) > 0.8, roi
    table = layer_table(sweep, responses, EARLY + CATEGORY)
    v1 = table[table.roi == "V1"].set_index("layer")
    assert v1.loc["contrast_energy", "median_nna"] > 50 > v1.loc["category_templates", "median_nna"]
    assert set(table.depth) == {0, 1} and len(table) == 2 * len(masks)


def test_layer_scores_round_trip(sweep, tmp_path):
    write_layer_scores(tmp_path / "layers.h5", sweep, {"subject": "subj01"})
    read = read_layer_scores(tmp_path / "layers.h5")
    assert list(read) == list(sweep)
    for layer, scores in sweep.items():
        for name in ("r", "nna", "p", "significant"):
            np.testing.assert_array_equal(getattr(read[layer], name), getattr(scores, name))
        assert read[layer].n_test == scores.n_test


def test_best_layer_is_one_based_and_undefined_where_no_layer_predicts():
    nna = np.array([[10.0, -5.0, np.nan, 3.0],
                    [20.0, -1.0, np.nan, 1.0],
                    [5.0, -2.0, np.nan, np.nan]])
    np.testing.assert_array_equal(best_layer(nna), [2, np.nan, np.nan, 1])
