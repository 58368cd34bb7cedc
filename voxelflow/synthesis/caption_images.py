"""Images from an ROI's voxel captions (BrainSCUBA's text-conditioned synthesis), stored for scoring.

Each ROI's images are prompted by the captions of its best-predicted voxels, best first (one caption an image,
cycling when there are fewer captions than images); the same seeds without a prompt are the baseline, so the
scoring (`evaluation.synthesis_table`, as for BrainDiVE's images) tells what the words added.
"""

from __future__ import annotations

from itertools import cycle, islice
from pathlib import Path

import h5py
import numpy as np
import pandas as pd

from voxelflow.atomic_output import atomic_output
from voxelflow.errors import InputError
from voxelflow.file_reading import open_hdf5
from voxelflow.images import to_uint8

UNPROMPTED = "unprompted"
STAND_IN = "mininsd_scenes"


def caption_prompts(captions: pd.DataFrame, n_images: int) -> dict[str, list[str]]:
    """captions (rows roi, test_r, caption, as `caption_voxels` writes) -> ROI -> n_images prompts: its voxels'
    captions in order of test r, best first, repeated from the start when the ROI has fewer voxels than images."""
    prompts = {}
    for roi, part in captions.groupby("roi", sort=False):
        ordered = part.sort_values("test_r", ascending=False, kind="stable")["caption"].astype(str).tolist()
        prompts[roi] = list(islice(cycle(ordered), n_images))
    return prompts


def load_text_to_image(generator: str, image_size: int, device: str = "auto"):
    """The text-to-image generator of captions.synthesis.generator: a local diffusers Stable Diffusion folder, or
    `mininsd_scenes` (the mini-NSD's stand-in, `PromptedScenes`, at image_size pixels)."""
    if generator == STAND_IN:
        from voxelflow.mininsd.prompted_scenes import PromptedScenes

        return PromptedScenes(image_size)
    from voxelflow.synthesis.stable_diffusion import StableDiffusionGenerator, is_stable_diffusion_folder

    if not is_stable_diffusion_folder(generator):
        raise InputError(f"captions.synthesis.generator: {generator} is not a diffusers Stable Diffusion folder "
                         f"(model_index.json with unet, vae and text_encoder): captions need a text-conditioned "
                         f"generator")
    return StableDiffusionGenerator.load(generator, device=device)


def images_from_captions(generator, prompts: dict[str, list[str]], n_steps: int, seed: int, text_guidance: float,
                         batch_size: int = 4) -> dict[str, np.ndarray]:
    """ROI -> its images (n, S, S, 3) uint8 from its prompts, and UNPROMPTED -> the same seeds with the empty
    prompt; every ROI starts from the same noise, so ROIs differ by their words alone."""
    n_images = {len(p) for p in prompts.values()}
    if len(n_images) != 1:
        raise InputError(f"images_from_captions: every ROI needs as many prompts, got {sorted(n_images)}")
    n = n_images.pop()
    images = {roi: to_uint8(generator.sample(n, n_steps=n_steps, seed=seed, batch_size=batch_size, prompts=p,
                                             text_guidance=text_guidance)) for roi, p in prompts.items()}
    images[UNPROMPTED] = to_uint8(generator.sample(n, n_steps=n_steps, seed=seed, batch_size=batch_size))
    return images


def write_caption_images(path: str | Path, images: dict[str, np.ndarray], prompts: dict[str, list[str]],
                         attrs: dict) -> None:
    """Per ROI (and UNPROMPTED) a group with images (n, S, S, 3) uint8 and their prompts, atomically."""
    with atomic_output(path) as tmp, h5py.File(tmp, "w") as f:
        for roi, group_images in images.items():
            group = f.create_group(roi)
            group.create_dataset("images", data=group_images)
            group.create_dataset("prompts", data=np.array(prompts.get(roi, [""] * len(group_images)), dtype="S"))
        f.attrs.update(attrs)


def read_caption_images(path: str | Path) -> tuple[dict[str, np.ndarray], dict[str, list[str]]]:
    """(ROI -> images (n, S, S, 3) uint8, ROI -> prompts) written by `write_caption_images`, UNPROMPTED included."""
    with open_hdf5(path, "caption images") as f:
        return ({roi: f[roi]["images"][()] for roi in f},
                {roi: [p.decode() for p in f[roi]["prompts"][()]] for roi in f})
