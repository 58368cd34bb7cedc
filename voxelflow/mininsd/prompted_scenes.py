"""The mini-NSD's stand-in text-to-image model: a prompt's category words drawn as objects on a scene background.

It lets the demo run BrainSCUBA's caption -> image -> encoder step without a diffusion model with a text tower,
as the stand-in captioner lets it run the projection without a language model: it checks the plumbing (the
right prompts reach the right ROI's images, and the encoders score them), not a generator.
"""

from __future__ import annotations

import re

import numpy as np

from voxelflow.errors import InputError
from voxelflow.mininsd.scenes import CATEGORIES, render_objects


def prompt_categories(prompt: str) -> list[str]:
    """The mini-NSD categories a prompt names (whole words, singular or plural), in the order they appear."""
    words = re.findall(r"[a-z]+", prompt.lower())
    return list(dict.fromkeys(w.rstrip("s") if w.rstrip("s") in CATEGORIES else w for w in words
                              if w in CATEGORIES or w.rstrip("s") in CATEGORIES))


class PromptedScenes:
    """sample(n, prompts=...) -> (n, S, S, 3) images in [0, 1]: each image the objects its prompt names on a
    random mini-NSD background (an empty prompt: the background alone). The generator contract's other
    arguments (steps, batch size) are accepted and ignored; brain guidance is refused (nothing to differentiate)."""

    def __init__(self, image_size: int):
        self.image_size = image_size

    def sample(self, n: int, n_steps: int = 0, seed: int = 0, batch_size: int = 0, guide=None,
               prompts: list[str] | None = None, text_guidance: float = 1.0) -> np.ndarray:
        """n images (n, S, S, 3) float32 in [0, 1]; the same seed gives the same backgrounds."""
        if guide is not None:
            raise InputError("the mini-NSD's prompted scenes take no brain guidance (use a diffusion generator)")
        prompts = [""] * n if prompts is None else prompts
        if len(prompts) != n:
            raise InputError(f"sample: {len(prompts)} prompts for {n} images (one prompt per image)")
        # one generator per image: image i has the same background whatever its prompt, as diffusion samples
        # share their starting noise
        images = [render_objects(np.random.default_rng([seed, i]), self.image_size, prompt_categories(p))[0]
                  for i, p in enumerate(prompts)]
        return np.stack(images).astype(np.float32) / 255
