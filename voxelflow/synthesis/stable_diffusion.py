"""Real-run synthesis generator: a local diffusers Stable Diffusion folder, sampled unconditionally.

As BrainDiVE: the empty prompt, no classifier-free guidance, DDIM; brain guidance decodes the predicted
clean latent through the VAE (with gradient) to images for the encoder. The folder is diffusers'
`save_pretrained` layout (unet/, vae/, scheduler/, text_encoder/, tokenizer/), read with
`from_pretrained(local path)`; nothing is fetched. Half precision on CUDA; gradient checkpointing of the
VAE decoder and the UNet (used when the guidance takes gradients through them) trades time for memory.
Needs the `transformers` package (`pip install -e '.[pipelines]'`) for the text encoder.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path

import numpy as np
import torch

from voxelflow.decoders.sampling import denoising_loop, x0_from_model_output
from voxelflow.devices import resolve_device
from voxelflow.errors import InputError
from voxelflow.toolkit.registry import STABLE_DIFFUSION_PARTS
from voxelflow.toolkit.tensor_images import from_model_range

log = logging.getLogger(__name__)

def is_stable_diffusion_folder(folder: str | Path) -> bool:
    """True when `folder` is a saved diffusers pipeline with a UNet, a VAE and a text encoder (any such pipeline,
    an unCLIP one included, as before: the registry's own dispatch names unCLIP first)."""
    index = Path(folder) / "model_index.json"
    return index.is_file() and all(name in json.loads(index.read_text()) for name in STABLE_DIFFUSION_PARTS)


class StableDiffusionGenerator:
    """sample(n, ...) -> (n, S, S, 3) images in [0, 1], S = the UNet's latent size x the VAE's upsampling."""

    def __init__(self, unet, vae, scheduler_config: dict, empty_prompt: torch.Tensor, device: str = "auto",
                 gradient_checkpointing: bool = False):
        """unet, vae: diffusers models; scheduler_config: the pipeline's scheduler config (its prediction_type is
        the UNet's); empty_prompt: the text encoder's output for "" (1, tokens, width). Use `load` for a folder."""
        from diffusers import DDIMScheduler

        self.device = resolve_device(device)
        self.dtype = torch.float16 if self.device.type == "cuda" else torch.float32
        self.unet = unet.to(self.device, self.dtype).eval().requires_grad_(False)
        self.vae = vae.to(self.device, self.dtype).eval().requires_grad_(False)
        if gradient_checkpointing:
            self.unet.enable_gradient_checkpointing()
            self.vae.enable_gradient_checkpointing()
        self.prediction_type = scheduler_config.get("prediction_type", "epsilon")
        # the loop hands `step` clean-latent predictions (converted from the UNet's own prediction type)
        self.scheduler = DDIMScheduler.from_config(scheduler_config, prediction_type="sample", clip_sample=False)
        self.empty_prompt = empty_prompt.to(self.device, self.dtype)
        self.latent_scale = float(self.vae.config.scaling_factor)

    @classmethod
    def load(cls, folder: str | Path, device: str = "auto", gradient_checkpointing: bool = False
             ) -> StableDiffusionGenerator:
        """Read the UNet, VAE, scheduler config and text tower of a local pipeline folder; encode the empty prompt."""
        folder = Path(folder)
        if not is_stable_diffusion_folder(folder):
            raise InputError(f"{folder} is not a diffusers Stable Diffusion folder (model_index.json naming "
                             f"{', '.join(STABLE_DIFFUSION_PARTS)})")
        try:
            from diffusers import AutoencoderKL, DDIMScheduler, UNet2DConditionModel
            from transformers import CLIPTextModel, CLIPTokenizer
        except ImportError as err:
            raise InputError(f"the Stable Diffusion generator at {folder} needs the transformers package "
                             f"(pip install -e '.[pipelines]'): {err}") from None
        local = {"local_files_only": True}
        tokenizer = CLIPTokenizer.from_pretrained(folder / "tokenizer", **local)
        text_encoder = CLIPTextModel.from_pretrained(folder / "text_encoder", **local).eval()
        ids = tokenizer([""], padding="max_length", max_length=tokenizer.model_max_length, return_tensors="pt")
        with torch.no_grad():
            empty_prompt = text_encoder(ids.input_ids)[0]  # (1, tokens, width)
        return cls(UNet2DConditionModel.from_pretrained(folder / "unet", **local),
                   AutoencoderKL.from_pretrained(folder / "vae", **local),
                   dict(DDIMScheduler.load_config(folder / "scheduler")), empty_prompt, device, gradient_checkpointing)

    @property
    def image_size(self) -> int:
        """Side of the generated images in pixels."""
        return self.unet.config.sample_size * 2 ** (len(self.vae.config.block_out_channels) - 1)

    def decode(self, latents: torch.Tensor) -> torch.Tensor:
        """Clean latents (b, c, s, s) -> images (b, 3, S, S) float32 in [0, 1], differentiably."""
        return from_model_range(self.vae.decode(latents.to(self.dtype) / self.latent_scale).sample.float())

    def _x0(self, x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        context = self.empty_prompt.expand(len(x), -1, -1)
        output = self.unet(x.to(self.dtype), t, encoder_hidden_states=context).sample
        return x0_from_model_output(output, x, float(self.scheduler.alphas_cumprod[t]), self.prediction_type)

    @torch.no_grad()
    def sample(self, n: int, n_steps: int = 50, seed: int = 0, batch_size: int = 4, guide=None) -> np.ndarray:
        """n images (n, S, S, 3) float32 in [0, 1]; the same seed gives the same images; guide: see
        `voxelflow.decoders.sampling.denoising_loop`."""
        channels, size = self.unet.config.in_channels, self.unet.config.sample_size
        noise = torch.randn((n, channels, size, size), generator=torch.Generator().manual_seed(seed))
        self.scheduler.set_timesteps(n_steps)
        out = []
        for lo in range(0, n, batch_size):
            x = noise[lo:lo + batch_size].to(self.device, self.dtype) * self.scheduler.init_noise_sigma
            latents = denoising_loop(self.scheduler, x, self.scheduler.timesteps, self._x0, guide,
                                     decode=self.decode, clip=None)
            out.append(self.decode(latents).permute(0, 2, 3, 1).cpu())
        return torch.cat(out).numpy()
