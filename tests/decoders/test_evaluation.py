"""The reconstruction metrics table: perfect reconstructions score perfectly, the rows and columns are the papers'."""

import numpy as np
import pandas as pd

from voxelflow.decoders.evaluation import candidate_sets, reconstruction_table
from voxelflow.figures import metrics_table


def test_perfect_reconstructions_score_one_and_blends_are_their_own_rows():
    truth = np.random.default_rng(0).random((5, 24, 24, 3))
    sets = candidate_sets(truth, truth[:, ::3, ::3], size=24)
    assert list(sets) == ["reconstruction", "low-level", "blend 0.75/0.25"]
    assert np.allclose(sets["blend 0.75/0.25"], 0.75 * sets["reconstruction"] + 0.25 * sets["low-level"])
    table = reconstruction_table(truth, sets, lambda images: images.reshape(len(images), -1), "pixels", {})
    perfect = table.set_index("images").loc["reconstruction"]
    assert np.isclose(perfect["PixCorr"], 1) and np.isclose(perfect["SSIM"], 1)
    assert perfect["two-way pixels (target)"] == 1.0
    assert np.isnan(perfect["AlexNet(2)"]) and np.isnan(perfect["SwAV"])  # no weights: unavailable, not faked
    assert table.set_index("images").loc["low-level", "PixCorr"] < 1


def test_metrics_table_figure_writes_unavailable_and_integers():
    table = pd.DataFrame({"subject": ["subj01"], "n_candidates": [100], "PixCorr": [0.12345], "SwAV": [np.nan]})
    fig = metrics_table(table, "t")
    texts = {cell.get_text().get_text() for cell in fig.axes[0].tables[0].get_celld().values()}
    assert {"subj01", "100", "0.123", "unavailable"} <= texts
