import nibabel as nib
import numpy as np
import pandas as pd
import pytest

from voxelflow import figures


def test_roi_bars_are_subject_means_with_one_dot_per_subject(tmp_path):
    table = pd.DataFrame({
        "subject": ["s1", "s2", "s1", "s2", "s1", "s2"],
        "model": ["ridge-a", "ridge-a", "ridge-a", "ridge-a", "ridge-b", "ridge-b"],
        "roi": ["V1", "V1", "FFA", "FFA", "V1", "V1"],
        "median_nna": [10.0, 30.0, 5.0, 7.0, 50.0, 70.0],
    })
    fig = figures.roi_bar_plot(table)
    ax = fig.axes[0]
    heights = sorted(round(p.get_height(), 6) for p in ax.patches if not np.isnan(p.get_height()))
    assert heights == [6.0, 20.0, 60.0]  # ridge-b has no FFA bar
    assert sum(len(c.get_offsets()) for c in ax.collections) == 6
    figures.save_figure(fig, str(tmp_path / "bars.png"))
    assert (tmp_path / "bars.png").read_bytes()[:4] == b"\x89PNG"


def test_volume_figures_render(tmp_path):
    shape, affine = (10, 12, 8), np.diag([1.8, 1.8, 1.8, 1.0])
    ijk = np.argwhere(np.ones(shape, bool))[::7]
    values = np.linspace(-0.5, 0.9, len(ijk))
    background = nib.Nifti1Image(np.ones(shape, np.float32), affine)
    for name, fig in [("map", figures.accuracy_map(values, ijk, shape, affine, background, "r")),
                      ("glass", figures.glass_brain(values, ijk, shape, affine, "r"))]:
        figures.save_figure(fig, str(tmp_path / f"{name}.png"))
        assert (tmp_path / f"{name}.png").stat().st_size > 1000


def test_scatter_figures_plot_every_point(tmp_path):
    rng = np.random.default_rng(0)
    fig = figures.r_vs_noise_ceiling(rng.random(50), rng.random(50) * 80, {"V1": np.arange(50) < 10})
    assert len(fig.axes[0].collections[1].get_offsets()) == 10
    fig = figures.predicted_vs_measured(rng.random((30, 3)), rng.random((30, 3)), ["a", "b", "c"])
    assert [ax.get_title() for ax in fig.axes[:3]] == ["a", "b", "c"]


def test_token_grid_drops_a_class_token_and_rejects_non_grids():
    att = np.arange(2 * 17, dtype=float).reshape(2, 17)
    np.testing.assert_array_equal(figures.token_grid(att)[1], att[1, 1:].reshape(4, 4))
    np.testing.assert_array_equal(figures.token_grid(att[:, 1:])[0], att[0, 1:].reshape(4, 4))
    with pytest.raises(ValueError, match="7 tokens form no square grid"):
        figures.token_grid(np.ones((1, 7)))


def test_routing_and_paired_scatter_render(tmp_path):
    rng = np.random.default_rng(0)
    fig = figures.attention_routing(rng.random((3, 4, 4)), ["a-lh", "a-rh", "rest-lh"],
                                    rng.integers(0, 255, (2, 16, 16, 3), dtype=np.uint8))
    assert len(fig.axes) == 9 and fig.axes[3].get_ylabel() == "a-rh"
    r_a, r_b = rng.random(40), rng.random(40)
    fig = figures.paired_scatter(r_a, r_b, {"V1": np.arange(40) < 20, "FFA": np.arange(40) >= 20}, "ridge", "tf")
    assert fig.axes[0].get_title() == f"V1: median diff {np.median(r_b[:20] - r_a[:20]):+.2f}"
    figures.save_figure(fig, str(tmp_path / "pair.png"))
