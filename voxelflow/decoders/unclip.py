"""Real-run generator: a diffusers Stable unCLIP folder driven by predicted CLIP image embeddings.

`StableUnCLIPImg2ImgPipeline` (stable-diffusion-2-1-unclip: OpenCLIP ViT-H/14 pooled, 1024-d; the -small
checkpoint: CLIP ViT-L/14, 768-d) takes pooled, projected image embeddings through `image_embeds`, so the
decoders' target must be that CLIP tower's pooled embedding (`tokens: false`). The folder is read with
`from_pretrained(local path)`; nothing is fetched. The pipeline has no img2img strength (its `image` is
only CLIP-encoded), so the low-level image is not used with this generator: say `strength: 1`.
Needs the `transformers` package (`pip install -e '.[unclip]'`).
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import torch

from voxelflow.decoders.contrastive import as_tokens
from voxelflow.devices import resolve_device
from voxelflow.errors import InputError
from voxelflow.toolkit.registry import generator_tag

log = logging.getLogger(__name__)

PIPELINE_CLASS = "StableUnCLIPImg2ImgPipeline"


def is_unclip_folder(folder: str | Path) -> bool:
    """True when `folder` is a saved diffusers Stable unCLIP (img2img) pipeline."""
    return generator_tag(folder) == PIPELINE_CLASS


class UnclipGenerator:
    """generate(embeddings (n, d) or (n, 1, d)) -> (n, H, W, 3) in [0, 1], H the pipeline's output size."""

    def __init__(self, pipe, device: str = "auto"):
        """pipe: a diffusers StableUnCLIPImg2ImgPipeline; use `load` for a folder."""
        self.device = resolve_device(device)
        self.pipe = pipe.to(self.device)
        self.pipe.set_progress_bar_config(disable=True)

    @classmethod
    def load(cls, folder: str | Path, device: str = "auto", gradient_checkpointing: bool = False) -> UnclipGenerator:
        """Read a saved pipeline folder with from_pretrained (local files only); float16 on CUDA.
        gradient_checkpointing is accepted for the Generator contract; the pipeline samples without gradients."""
        if not is_unclip_folder(folder):
            raise InputError(f"{folder} is not a saved diffusers {PIPELINE_CLASS} folder")
        try:
            from diffusers import StableUnCLIPImg2ImgPipeline
        except ImportError as err:  # diffusers imports the pipeline lazily; it needs transformers
            raise InputError(f"the unCLIP generator at {folder} needs the transformers package "
                             f"(pip install -e '.[unclip]'): {err}") from None
        dtype = torch.float16 if resolve_device(device).type == "cuda" else torch.float32
        return cls(StableUnCLIPImg2ImgPipeline.from_pretrained(folder, local_files_only=True, dtype=dtype), device)

    @property
    def embedding_dim(self) -> int:
        """d of the pooled CLIP image embeddings the pipeline accepts (1024 for ViT-H, 768 for ViT-L)."""
        return int(self.pipe.image_normalizer.mean.shape[-1])

    @torch.no_grad()
    def generate(self, embeddings: np.ndarray, init_images: np.ndarray | None = None, strength: float = 1.0,
                 n_steps: int = 25, guidance_scale: float = 3.0, seed: int = 0, batch_size: int = 8) -> np.ndarray:
        """The ImageGenerator.generate contract; init_images with strength < 1 are refused (no img2img)."""
        cond = as_tokens(embeddings)
        if cond.shape[1] != 1 or cond.shape[2] != self.embedding_dim:
            raise InputError(f"the unCLIP generator takes pooled {self.embedding_dim}-d image embeddings, got "
                             f"{cond.shape[1:]} per image")
        if init_images is not None and strength < 1:
            raise InputError("the unCLIP generator has no img2img strength: set decoders.reconstruction.strength "
                             "to 1 or low_level_size to 0")
        generator = torch.Generator("cpu").manual_seed(seed)
        out = []
        for start in range(0, len(cond), batch_size):
            batch = torch.from_numpy(cond[start:start + batch_size, 0]).to(self.device, self.pipe.unet.dtype)
            result = self.pipe(image_embeds=batch, prompt=[""] * len(batch), num_inference_steps=n_steps,
                               guidance_scale=guidance_scale, generator=generator, output_type="np")
            out.append(np.asarray(result.images, dtype=np.float32))
        return np.concatenate(out)
