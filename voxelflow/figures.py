"""Figures of encoding, decoding and synthesis results. Each function takes data and returns a matplotlib Figure; none fits models.

Rendering is offline (Agg). Volumes are drawn in the subject's own space with
the study's affine (nilearn), over the subject's mean EPI or brain mask.
"""

from __future__ import annotations

import textwrap

import matplotlib
import matplotlib.patches

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402 - after choosing the backend
import nibabel as nib  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402
from nilearn import plotting  # noqa: E402

from voxelflow.atomic_output import atomic_output  # noqa: E402
from voxelflow.images import resize_images, to_uint8  # noqa: E402
from voxelflow.responses import scatter_to_volume  # noqa: E402


def roi_bar_plot(table: pd.DataFrame, value: str = "median_nna",
                 ylabel: str = "noise-normalised accuracy (%)") -> Figure:
    """Bars: mean over subjects of `value` per ROI (x) and model (one bar per model); dots: subjects.

    table: one row per (subject, model, roi) with columns subject, model, roi and `value`.
    """
    rois = list(dict.fromkeys(table["roi"]))
    models = list(dict.fromkeys(table["model"]))
    width = 0.8 / len(models)
    fig, ax = plt.subplots(figsize=(max(6, 1.1 * len(rois) * max(1, len(models) / 2)), 4))
    for m, model in enumerate(models):
        rows = table[table["model"] == model]
        x = np.arange(len(rois)) + (m - (len(models) - 1) / 2) * width
        means = [rows.loc[rows["roi"] == roi, value].mean() for roi in rois]
        ax.bar(x, means, width, label=model, alpha=0.8)
        for xi, roi in zip(x, rois):
            dots = rows.loc[rows["roi"] == roi, value].to_numpy()
            ax.scatter(np.full(len(dots), xi), dots, color="black", s=10, zorder=3)
    ax.set_xticks(np.arange(len(rois)), rois, rotation=30, ha="right")
    ax.set_ylabel(ylabel)
    ax.axhline(0, color="grey", lw=0.5)
    ax.legend(frameon=False, fontsize="small")
    fig.tight_layout()
    return fig


def volume_background(data_root: str, space: str, subject: str, fallback: str | None = None) -> nib.Nifti1Image:
    """What a subject's volume maps are drawn over: NSD's mean EPI, else its brain mask, else `fallback` (a study
    table's voxel mask)."""
    from pathlib import Path

    from voxelflow.errors import InputError
    from voxelflow.nsd_layout import NSDLayout

    layout = NSDLayout(data_root, space)
    for path in (layout.mean_epi(subject), layout.brainmask(subject), fallback):
        if path is not None and Path(path).is_file():
            return nib.load(path)
    raise InputError(f"no background for {subject}'s maps: neither {layout.mean_epi(subject)} nor "
                     f"{layout.brainmask(subject)} exists")


def _volume_image(values: np.ndarray, ijk: np.ndarray, shape: tuple, affine: np.ndarray) -> nib.Nifti1Image:
    return nib.Nifti1Image(scatter_to_volume(np.nan_to_num(values), ijk, shape, fill=0.0), affine)


def accuracy_map(values: np.ndarray, ijk: np.ndarray, shape: tuple, affine: np.ndarray,
                 background: nib.Nifti1Image, title: str) -> Figure:
    """Per-voxel values (n_voxels,) as axial slices over `background`, in the subject's space."""
    fig = plt.figure(figsize=(10, 3))
    image = _volume_image(values, ijk, shape, affine)
    finite = values[np.isfinite(values)]
    vmax = float(np.percentile(np.abs(finite), 99)) if len(finite) else 1.0
    plotting.plot_stat_map(image, bg_img=background, display_mode="z", cut_coords=6, figure=fig, title=title,
                           vmax=vmax or 1.0, colorbar=True, draw_cross=False, annotate=False)
    return fig


def glass_brain(values: np.ndarray, ijk: np.ndarray, shape: tuple, affine: np.ndarray, title: str) -> Figure:
    """Maximum-intensity projections of per-voxel values (n_voxels,), subject space."""
    fig = plt.figure(figsize=(8, 3))
    finite = values[np.isfinite(values)]
    vmax = float(np.percentile(np.abs(finite), 99)) if len(finite) else 1.0
    plotting.plot_glass_brain(_volume_image(values, ijk, shape, affine), figure=fig, title=title, colorbar=True,
                              plot_abs=False, vmax=vmax or 1.0, annotate=False)
    return fig


def layer_hierarchy(table: pd.DataFrame, backbone: str, value: str = "median_nna") -> Figure:
    """The field's hierarchy figure: `value` per ROI across a backbone's layers, one line per ROI (mean ± se over
    subjects). table: rows of `layer_sweep.layer_table` with a subject column."""
    layers = list(dict.fromkeys(table.sort_values("depth")["layer"]))
    fig, ax = plt.subplots(figsize=(max(5, 0.6 * len(layers) + 3), 3.6))
    for roi, rows in table.groupby("roi", sort=False):
        stats = rows.groupby("depth")[value].agg(["mean", "sem", "count"])
        ax.errorbar(stats.index, stats["mean"], yerr=stats["sem"].where(stats["count"] > 1, 0.0), marker="o",
                    ms=3, capsize=2, label=roi)
    ax.set_xticks(range(len(layers)), layers, rotation=30 if len(layers) > 4 else 0, ha="right" if len(layers) > 4
                  else "center")
    ax.axhline(0, color="grey", lw=0.5)
    ax.set_xlabel(f"{backbone} layer (shallow to deep)")
    ax.set_ylabel("noise-normalized acc. (%)" if value.endswith("nna") else value)
    n_subjects = table["subject"].nunique()
    spread = f"mean ± se over {n_subjects} subjects" if n_subjects > 1 else table["subject"].iloc[0]
    ax.set_title(f"Ridge on each layer of {backbone}\n{value} per ROI ({spread})", fontsize="medium")
    ax.legend(frameon=False, fontsize="small", bbox_to_anchor=(1.0, 1.0), loc="upper left")
    fig.tight_layout()
    return fig


def best_layer_maps(maps: list[tuple[np.ndarray, np.ndarray, tuple, np.ndarray, nib.Nifti1Image, str]],
                    layers: list[str]) -> Figure:
    """Each voxel's best layer (1-based, NaN: no layer predicts it) as axial slices, one row per subject.
    maps: (best (n_voxels,), ijk, volume shape, affine, background image, title) per subject."""
    fig, axes = plt.subplots(len(maps), 1, figsize=(10, 2.6 * len(maps)), squeeze=False)
    colours = matplotlib.colors.ListedColormap(plt.get_cmap("viridis")(np.linspace(0, 1, len(layers))))
    for ax, (best, ijk, shape, affine, background, title) in zip(axes[:, 0], maps):
        plotting.plot_img(_volume_image(best, ijk, shape, affine), bg_img=background, display_mode="z", cut_coords=6,
                          axes=ax, title=title, cmap=colours, vmin=0.5, vmax=len(layers) + 0.5, threshold=0.5,
                          colorbar=False, draw_cross=False, annotate=False, black_bg=False)
    handles = [matplotlib.patches.Patch(color=colours(i), label=f"{i + 1}: {name}") for i, name in enumerate(layers)]
    fig.legend(handles=handles, loc="upper center", ncol=min(len(layers), 6), frameon=False, fontsize="small",
               title="best layer per voxel (blank: no layer predicts it)", title_fontsize="small")
    return fig


def r_vs_noise_ceiling(r: np.ndarray, noise_ceiling: np.ndarray, groups: dict[str, np.ndarray]) -> Figure:
    """Scatter of test r (n_voxels,) against the noise ceiling (percent), coloured by ROI group.

    The dashed curve r = sqrt(NC / 100) is the best any model can reach.
    """
    fig, ax = plt.subplots(figsize=(5, 4.5))
    ax.scatter(noise_ceiling, r, s=3, color="lightgrey", label="all voxels")
    for name, mask in groups.items():
        ax.scatter(noise_ceiling[mask], r[mask], s=5, label=name)
    nc = np.linspace(0, max(100, float(np.nanmax(noise_ceiling))), 200)
    ax.plot(nc, np.sqrt(nc / 100), "k--", lw=1, label="ceiling")
    ax.set_xlabel("noise ceiling (% variance)")
    ax.set_ylabel("test r")
    ax.legend(frameon=False, fontsize="x-small", markerscale=3)
    fig.tight_layout()
    return fig


def predicted_vs_measured(predicted: np.ndarray, measured: np.ndarray, titles: list[str]) -> Figure:
    """One scatter per voxel: predicted (n_test, k) against measured (n_test, k) test responses."""
    k = predicted.shape[1]
    cols = min(k, 4)
    rows = int(np.ceil(k / cols))
    fig, axes = plt.subplots(rows, cols, figsize=(3 * cols, 3 * rows), squeeze=False)
    for j, ax in enumerate(axes.ravel()):
        if j >= k:
            ax.axis("off")
            continue
        ax.scatter(measured[:, j], predicted[:, j], s=6)
        lo = min(measured[:, j].min(), predicted[:, j].min())
        hi = max(measured[:, j].max(), predicted[:, j].max())
        ax.plot([lo, hi], [lo, hi], "k--", lw=0.8)
        ax.set_title(titles[j], fontsize="small")
        ax.set_xlabel("measured")
        ax.set_ylabel("predicted")
    fig.tight_layout()
    return fig


def save_figure(fig: Figure, path: str) -> None:
    """Save as PNG (150 dpi) and release the figure's memory."""
    with atomic_output(path) as tmp:
        fig.savefig(tmp, dpi=150, format="png")
    plt.close(fig)


def token_grid(attention: np.ndarray) -> np.ndarray:
    """Attention over tokens (..., t) as a square patch grid (..., s, s), dropping a leading class token."""
    t = attention.shape[-1]
    side = int(round(np.sqrt(t)))
    if side * side != t:
        side = int(round(np.sqrt(t - 1)))
        if side * side != t - 1:
            raise ValueError(f"{t} tokens form no square grid (with or without a class token)")
        attention = attention[..., 1:]
    return attention.reshape(*attention.shape[:-1], side, side)


def attention_routing(grids: np.ndarray, names: list[str], examples: np.ndarray) -> Figure:
    """One row per query group: its attention grid (n_groups, s, s) alone, then over each example image.

    examples: (k, H, W, 3) uint8. Attention is averaged over test images by the caller.
    """
    k = len(examples)
    fig, axes = plt.subplots(len(names), k + 1, figsize=(1.8 * (k + 1), 1.8 * len(names)), squeeze=False)
    for row, (grid, name) in enumerate(zip(grids, names)):
        axes[row, 0].imshow(grid, cmap="magma")
        axes[row, 0].set_ylabel(name, fontsize="small")
        for col, image in enumerate(examples, start=1):
            h, w = image.shape[:2]
            axes[row, col].imshow(image)
            axes[row, col].imshow(grid, cmap="magma", alpha=0.55, extent=(0, w, h, 0), interpolation="bilinear")
    for ax in axes.ravel():
        ax.set_xticks([])
        ax.set_yticks([])
    axes[0, 0].set_title("attention", fontsize="small")
    fig.tight_layout()
    return fig


def paired_scatter(r_a: np.ndarray, r_b: np.ndarray, groups: dict[str, np.ndarray], label_a: str,
                   label_b: str) -> Figure:
    """Per ROI: voxel test r of model a (x) against model b (y), with the diagonal and the median difference."""
    cols = min(4, len(groups))
    rows = int(np.ceil(len(groups) / cols))
    fig, axes = plt.subplots(rows, cols, figsize=(3 * cols, 3 * rows), squeeze=False)
    for ax, (name, mask) in zip(axes.ravel(), groups.items()):
        ax.scatter(r_a[mask], r_b[mask], s=5)
        lo, hi = min(r_a.min(), r_b.min()), max(r_a.max(), r_b.max())
        ax.plot([lo, hi], [lo, hi], "k--", lw=0.8)
        ax.set_title(f"{name}: median diff {np.median(r_b[mask] - r_a[mask]):+.2f}", fontsize="small")
        ax.set_xlabel(f"{label_a} r")
        ax.set_ylabel(f"{label_b} r")
    for ax in axes.ravel()[len(groups):]:
        ax.axis("off")
    fig.tight_layout()
    return fig


def few_shot_curves(table: pd.DataFrame, value: str = "mean_nna") -> Figure:
    """Accuracy against context size k, one panel per ROI, a line (mean ± sd over repeats) per method.

    table: rows of `few_shot.few_shot_table`. Context sizes beyond the largest seen in meta-training
    (column k_trained_max) are shaded: that part of the curve is test-time scaling.
    """
    rois = list(dict.fromkeys(table["roi"]))
    columns = min(4, len(rois))
    rows = int(np.ceil(len(rois) / columns))
    fig, axes = plt.subplots(rows, columns, figsize=(3.2 * columns, 2.8 * rows), squeeze=False, sharex=True)
    k_max = table["k_trained_max"].iloc[0]
    for ax, roi in zip(axes.flat, rois):
        for method, part in table[table["roi"] == roi].groupby("method", sort=False):
            stats = part.groupby("k")[value].agg(["mean", "std"]).fillna(0.0)
            ax.plot(stats.index, stats["mean"], marker="o", ms=3, label=method)
            ax.fill_between(stats.index, stats["mean"] - stats["std"], stats["mean"] + stats["std"], alpha=0.2)
        ax.axvspan(k_max, table["k"].max(), color="grey", alpha=0.12, lw=0)
        ax.set_xscale("log")
        ax.set_title(roi, fontsize="medium")
        ax.axhline(0, color="grey", lw=0.5)
    for ax in axes.flat[len(rois):]:
        ax.set_visible(False)
    for ax in axes[:, 0]:
        ax.set_ylabel("noise-normalized acc. (%)" if value.endswith("nna") else value)
    for ax in axes[-1]:
        ax.set_xlabel("context images k")
    axes.flat[0].legend(frameon=False, fontsize="small", title="shaded: k beyond meta-training",
                        title_fontsize="x-small")
    fig.tight_layout()
    return fig


def few_data_curves(summary: pd.DataFrame, subjects: list[str], target: str) -> Figure:
    """Accuracy against the held-out subjects' training sessions, encoders and decoders side by side: median
    noise-normalized accuracy of all voxels, top-1 retrieval (brain -> image solid, image -> brain dashed) and
    two-way identification of the decoded embeddings; mean ± se per method.

    summary: rows of `few_data.few_data_summary`; subjects: the held-out subjects it averages; target: the decoders'
    backbone (the encoders' features too).
    """
    panels = [("encoding", "median_nna", "noise-normalized acc. (%)", "encoding (all voxels)"),
              ("decoding", ("brain_to_image", "image_to_brain"), "top-1 retrieval", "retrieval among test images"),
              ("decoding", "two_way_identification", "two-way identification", "decoded embeddings")]
    fig, axes = plt.subplots(1, 3, figsize=(11, 3.2))
    for ax, (family, metrics, ylabel, title) in zip(axes, panels):
        part = summary[summary["family"] == family]
        if family == "encoding":
            part = part[part["roi"] == "all voxels"]
        for color, (method, rows) in zip(plt.rcParams["axes.prop_cycle"].by_key()["color"],
                                         part.groupby("method", sort=False)):
            for metric, style in zip(np.atleast_1d(metrics), ("-", "--")):
                line = rows[rows["metric"] == metric].sort_values("sessions")
                ax.errorbar(line["sessions"], line["value"], yerr=line["se"].fillna(0.0), color=color, ls=style,
                            marker="o", ms=3, capsize=2, label=method if style == "-" else None)
        if metrics == "two_way_identification":
            ax.axhline(0.5, color="grey", lw=0.5)
        ax.set_xscale("log")
        sessions = sorted(set(summary["sessions"]))
        ax.set_xticks(sessions, [str(n) for n in sessions])
        ax.minorticks_off()
        ax.set_xlabel("training sessions of the held-out subject")
        ax.set_ylabel(ylabel)
        ax.set_title(title, fontsize="medium")
        ax.legend(frameon=False, fontsize="small", title="solid: brain -> image, dashed: image -> brain"
                  if isinstance(metrics, tuple) else None, title_fontsize="x-small")
    spread = "mean ± se over subjects" if len(subjects) > 1 else "± binomial se over test images"
    fig.suptitle(f"Few-data curves on {target}: held out {', '.join(subjects)} ({spread})", fontsize="medium")
    fig.tight_layout()
    return fig


def selectivity_heatmap(table: pd.DataFrame) -> Figure:
    """Prompt x ROI heatmap of predicted relative responses (rows of `in_context_probes.text_selectivity`);
    the top-ranked ROI of each prompt is outlined."""
    grid = table.pivot(index="prompt", columns="roi", values="selectivity")
    grid = grid.loc[list(dict.fromkeys(table["prompt"])), list(dict.fromkeys(table["roi"]))]
    fig, ax = plt.subplots(figsize=(1.0 + 0.8 * grid.shape[1], 1.0 + 0.5 * grid.shape[0]))
    vmax = float(np.nanmax(np.abs(grid.values))) or 1.0
    image = ax.imshow(grid.values, cmap="RdBu_r", vmin=-vmax, vmax=vmax, aspect="auto")
    for i, j in enumerate(np.nanargmax(grid.values, axis=1)):
        ax.add_patch(plt.Rectangle((j - 0.5, i - 0.5), 1, 1, fill=False, lw=2, color="k"))
    ax.set_xticks(range(grid.shape[1]), grid.columns, rotation=30, ha="right")
    ax.set_yticks(range(grid.shape[0]), grid.index)
    fig.colorbar(image, ax=ax, label="predicted response vs prompt mean")
    fig.tight_layout()
    return fig


def image_rows(images: np.ndarray, row_titles: list[str], cell_titles: list[list[str]] | None = None) -> Figure:
    """A grid of images (n_rows, n_cols, H, W, 3) uint8, a title per row (and optionally per cell)."""
    n_rows, n_cols = images.shape[:2]
    fig, axes = plt.subplots(n_rows, n_cols, figsize=(1.3 * n_cols + 1.2, 1.4 * n_rows), squeeze=False)
    for i in range(n_rows):
        for j in range(n_cols):
            axes[i, j].imshow(images[i, j])
            axes[i, j].set_xticks([])
            axes[i, j].set_yticks([])
            if cell_titles is not None:
                axes[i, j].set_title(cell_titles[i][j], fontsize="x-small")
        axes[i, 0].set_ylabel(row_titles[i], fontsize="small", rotation=0, ha="right", va="center")
    fig.tight_layout()
    return fig


def synthesis_grid(images: np.ndarray, label: str, natural: np.ndarray, natural_label: str) -> Figure:
    """Synthesized uint8 images (n, S, S, 3), in rows as wide as the natural images (m, H, W, 3) below them,
    resized to their size; white where a row has no image."""
    n_cols = len(natural)
    n_rows = -(-len(images) // n_cols)
    cells = np.full((n_rows + 1, n_cols, *natural.shape[1:]), 255, np.uint8)
    resized = to_uint8(resize_images(images, natural.shape[1]))
    cells[:-1].reshape(-1, *natural.shape[1:])[:len(images)] = resized
    cells[-1] = natural
    return image_rows(cells, [label] + [""] * (n_rows - 1) + [natural_label])


def metrics_table(table: pd.DataFrame, title: str) -> Figure:
    """A table figure of `table` (rows as given; floats to 3 decimals, integers as they are, NaN as
    'unavailable')."""
    return metrics_tables([(title, table, "")])


def metrics_tables(sections: list[tuple[str, pd.DataFrame, str]]) -> Figure:
    """Tables stacked top to bottom, each (title, table, caption): the title above it, the caption (e.g. the
    metric protocol it follows) wrapped below it. Cells as `metrics_table` writes them."""
    def cell(value) -> str:
        if isinstance(value, str | int | np.integer | bool | np.bool_):
            return str(value)
        return "unavailable" if pd.isna(value) else f"{value:.3f}"

    width = max(1.15 * len(table.columns) + 1 for _, table, _ in sections)
    wraps = [textwrap.wrap(caption, int(width * 14)) for _, _, caption in sections]
    heights = [0.45 * len(table) + 1.2 + 0.16 * len(lines) for (_, table, _), lines in zip(sections, wraps)]
    fig, axes = plt.subplots(len(sections), 1, figsize=(width, sum(heights)), squeeze=False,
                             gridspec_kw={"height_ratios": heights})
    for ax, (title, table, _), lines in zip(axes[:, 0], sections, wraps):
        ax.axis("off")
        cells = [[cell(value) for value in row] for row in table.itertuples(index=False)]
        labels = [textwrap.fill(str(column), 14) for column in table.columns]  # long names on two lines
        grid = ax.table(cellText=cells, colLabels=labels, loc="upper center", cellLoc="center")
        grid.auto_set_font_size(False)
        grid.set_fontsize(8)
        grid.scale(1, 1.4)
        for (row, _), box in grid.get_celld().items():
            if row == 0:
                box.set_height(box.get_height() * max(label.count("\n") + 1 for label in labels))
        ax.set_title(title, fontsize="small")
        if lines:
            ax.text(0.5, 0.0, "\n".join(lines), transform=ax.transAxes, ha="center", va="top", fontsize=6.5)
    fig.tight_layout()
    return fig


def reconstruction_grid(truth: np.ndarray, sets: dict[str, np.ndarray], image_ids: np.ndarray,
                        n_rows: int) -> Figure:
    """The first `n_rows` test images (truth (n, H, W, 3) in [0, 1]) beside each candidate set (name -> images
    of the same size), one row per image titled by its NSD id."""
    rows = min(n_rows, len(image_ids))
    columns = ["test image", *sets]
    grid = np.stack([truth[:rows], *(images[:rows] for images in sets.values())], axis=1)
    return image_rows(to_uint8(grid), [f"#{i}" for i in image_ids[:rows]], [columns] * rows)


def synthesis_responses(table: pd.DataFrame, image_sets: list[str]) -> Figure:
    """Per scorer (a panel): the mean target response (+- s.e.m.) of each image set (bars) for each target (x).

    table: rows (target, images, scorer, mean, sem), as `voxelflow.synthesis.evaluation.synthesis_table` writes.
    """
    scorers = [s for s in dict.fromkeys(table["scorer"]) if s != "measured"]
    targets = list(dict.fromkeys(table["target"]))
    width = 0.8 / len(image_sets)
    fig, axes = plt.subplots(1, len(scorers), figsize=(max(4.0, 0.9 * len(targets) + 1.2) * len(scorers), 3.6),
                             squeeze=False)
    for ax, scorer in zip(axes[0], scorers):
        rows = table[table["scorer"] == scorer].set_index(["target", "images"])
        for k, image_set in enumerate(image_sets):
            keys = [(t, image_set) for t in targets]
            means = [rows["mean"].get(key, np.nan) for key in keys]
            sems = [rows["sem"].get(key, np.nan) for key in keys]
            ax.bar(np.arange(len(targets)) + (k - (len(image_sets) - 1) / 2) * width, means, width, yerr=sems,
                   label=image_set, alpha=0.85, capsize=2)
        ax.set_xticks(np.arange(len(targets)), targets, rotation=30, ha="right")
        ax.axhline(0, color="grey", lw=0.5)
        ax.set_title(scorer, fontsize="small")
        ax.set_ylabel("mean target response (z)")
    axes[0, -1].legend(frameon=False, fontsize="x-small")
    fig.tight_layout()
    return fig


def rdm_panels(rdms: dict[str, np.ndarray], order: np.ndarray, title: str) -> Figure:
    """Square RDMs (name -> (n, n)) side by side, patterns in `order`, each scaled to its own rank percentiles so
    that RDMs of different measures share one colour scale."""
    columns = min(6, len(rdms))
    rows = int(np.ceil(len(rdms) / columns))
    fig, axes = plt.subplots(rows, columns, figsize=(2.2 * columns, 2.3 * rows + 0.4), squeeze=False)
    for ax, (name, rdm) in zip(axes.flat, rdms.items()):
        square = rdm[np.ix_(order, order)]
        upper = square[np.triu_indices(len(square), 1)]
        ranks = np.searchsorted(np.sort(upper), square) / max(1, len(upper))
        ax.imshow(ranks, cmap="viridis", vmin=0, vmax=1, interpolation="nearest")
        ax.set_title(textwrap.shorten(name, 28), fontsize="small")
        ax.set_xticks([])
        ax.set_yticks([])
    for ax in axes.flat[len(rdms):]:
        ax.set_visible(False)
    fig.suptitle(title, fontsize="medium")
    fig.tight_layout()
    return fig


def rsa_model_bars(table: pd.DataFrame) -> Figure:
    """Model-ROI comparisons with noise ceilings: one panel per analysis (RSA, each tRSA threshold pair), ROIs on x,
    a bar per model (mean ± bootstrap se over images), the noise ceiling as a grey band per ROI.
    table: rows analysis, roi, model, mean, se, noise_ceiling_lower, noise_ceiling_upper."""
    analyses = list(dict.fromkeys(table["analysis"]))
    rois = list(dict.fromkeys(table["roi"]))
    models = list(dict.fromkeys(table["model"]))
    width = 0.8 / len(models)
    fig, axes = plt.subplots(len(analyses), 1, figsize=(max(7, 0.9 * len(rois) * max(1, len(models) / 3)),
                                                        2.8 * len(analyses)), squeeze=False, sharex=True)
    for ax, analysis in zip(axes[:, 0], analyses):
        part = table[table["analysis"] == analysis]
        for r, roi in enumerate(rois):
            ceiling = part[part["roi"] == roi].iloc[0]
            ax.fill_between([r - 0.45, r + 0.45], ceiling["noise_ceiling_lower"], ceiling["noise_ceiling_upper"],
                            color="grey", alpha=0.3, lw=0)
        for m, model in enumerate(models):
            rows = part[part["model"] == model].set_index("roi").reindex(rois)
            x = np.arange(len(rois)) + (m - (len(models) - 1) / 2) * width
            ax.bar(x, rows["mean"], width, yerr=rows["se"], label=model, capsize=1.5, alpha=0.85)
        ax.axhline(0, color="grey", lw=0.5)
        ax.set_ylabel(f"{part['method'].iloc[0]} with brain RDM")
        ax.set_title(analysis, fontsize="medium")
    axes[-1, 0].set_xticks(np.arange(len(rois)), rois, rotation=30, ha="right")
    axes[0, 0].legend(frameon=False, fontsize="x-small", title="grey: noise ceiling", title_fontsize="x-small",
                      loc="upper left", bbox_to_anchor=(1.0, 1.0))
    fig.tight_layout()
    return fig


def identification_bars(table: pd.DataFrame) -> Figure:
    """RSA against tRSA: accuracy of identifying the same ROI in another subject and agreement on the best model,
    per analysis (mean ± binomial se), with chance. table: rows analysis, measure, accuracy, se, chance."""
    measures = list(dict.fromkeys(table["measure"]))
    fig, axes = plt.subplots(1, len(measures), figsize=(4.2 * len(measures), 3.4), squeeze=False)
    for ax, measure in zip(axes[0], measures):
        part = table[table["measure"] == measure]
        ax.bar(np.arange(len(part)), part["accuracy"], yerr=part["se"], capsize=3, color="tab:blue", alpha=0.8)
        ax.scatter(np.arange(len(part)), part["chance"], marker="_", s=400, color="black", label="chance", zorder=3)
        ax.set_xticks(np.arange(len(part)), part["analysis"], rotation=20, ha="right")
        ax.set_ylim(0, 1)
        ax.set_title(measure, fontsize="medium")
        ax.legend(frameon=False, fontsize="small")
    fig.tight_layout()
    return fig


def caption_words(words: pd.DataFrame, subject: str) -> Figure:
    """BrainSCUBA's figure: the most frequent caption words of each ROI's voxels (share of its captions), one
    panel per ROI. words: rows of `voxel_captions.word_counts`."""
    rois = list(dict.fromkeys(words["roi"]))
    fig, axes = plt.subplots(1, max(1, len(rois)), figsize=(2.8 * max(1, len(rois)), 3.2), squeeze=False)
    for ax, roi in zip(axes[0], rois):
        part = words[words["roi"] == roi].head(8).iloc[::-1]
        ax.barh(part["word"], part["share"], color="tab:purple", alpha=0.8)
        ax.set_xlim(0, 1)
        ax.set_title(roi, fontsize="medium")
        ax.set_xlabel("share of voxel captions")
    fig.suptitle(f"{subject}: words in the captions of each ROI's voxels (BrainSCUBA)", fontsize="medium")
    fig.tight_layout()
    return fig
