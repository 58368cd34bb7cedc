"""Real-run synthesis generator: a local diffusers Stable Diffusion folder, sampled with or without prompts.

Without prompts as BrainDiVE: the empty prompt, no classifier-free guidance, DDIM; brain guidance decodes the
predicted clean latent through the VAE (with gradient) to images for the encoder. With prompts (BrainSCUBA's
captions), classifier-free guidance mixes the prompted and the empty-prompt predictions. The folder is diffusers'
`save_pretrained` layout (unet/, vae/, scheduler/, text_encoder/, tokenizer/), read with
`from_pretrained(local path)`; nothing is fetched. Half precision on CUDA; gradient checkpointing of the
VAE decoder and the UNet (used when the guidance takes gradients through them) trades time for memory.
Needs the `transformers` package (`pip install -e '.[pipelines]'`) for the text encoder.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from functools import partial
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


def clip_text_encoder(tokenizer, text_encoder) -> Callable[[list[str]], torch.Tensor]:
    """prompts (n,) -> the CLIP text model's last hidden states (n, tokens, width), padded to the tokenizer's
    length as the Stable Diffusion pipelines condition their UNet (on the CPU: a few prompts per batch)."""
    text_encoder = text_encoder.eval().requires_grad_(False)

    @torch.no_grad()
    def encode(prompts: list[str]) -> torch.Tensor:
        ids = tokenizer(prompts, padding="max_length", max_length=tokenizer.model_max_length, truncation=True,
                        return_tensors="pt").input_ids
        return text_encoder(ids)[0]
    return encode


class StableDiffusionGenerator:
    """sample(n, ...) -> (n, S, S, 3) images in [0, 1], S = the UNet's latent size x the VAE's upsampling."""

    def __init__(self, unet, vae, scheduler_config: dict, encode_text: Callable[[list[str]], torch.Tensor],
                 device: str = "auto", gradient_checkpointing: bool = False):
        """unet, vae: diffusers models; scheduler_config: the pipeline's scheduler config (its prediction_type is
        the UNet's); encode_text: prompts (n,) -> the UNet's text conditioning (n, tokens, width), e.g.
        `clip_text_encoder`. Use `load` for a folder."""
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
        self.encode_text = encode_text
        self.empty_prompt = self.encode_prompts([""])
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
        return cls(UNet2DConditionModel.from_pretrained(folder / "unet", **local),
                   AutoencoderKL.from_pretrained(folder / "vae", **local),
                   dict(DDIMScheduler.load_config(folder / "scheduler")),
                   clip_text_encoder(CLIPTokenizer.from_pretrained(folder / "tokenizer", **local),
                                     CLIPTextModel.from_pretrained(folder / "text_encoder", **local)),
                   device, gradient_checkpointing)

    @torch.no_grad()
    def encode_prompts(self, prompts: list[str]) -> torch.Tensor:
        """The text conditioning (n, tokens, width) of `prompts` on the generator's device and dtype."""
        return self.encode_text(prompts).to(self.device, self.dtype)

    @property
    def image_size(self) -> int:
        """Side of the generated images in pixels."""
        return self.unet.config.sample_size * 2 ** (len(self.vae.config.block_out_channels) - 1)

    def decode(self, latents: torch.Tensor) -> torch.Tensor:
        """Clean latents (b, c, s, s) -> images (b, 3, S, S) float32 in [0, 1], differentiably."""
        return from_model_range(self.vae.decode(latents.to(self.dtype) / self.latent_scale).sample.float())

    def _x0(self, x: torch.Tensor, t: torch.Tensor, context: torch.Tensor | None = None,
            text_guidance: float = 1.0) -> torch.Tensor:
        """The clean-latent prediction at x (b, c, s, s), step t: under the empty prompt (context None), or under
        `context` (b, tokens, width) with classifier-free guidance of weight `text_guidance` (1: none)."""
        alpha_bar = float(self.scheduler.alphas_cumprod[t])
        empty = self.empty_prompt.expand(len(x), -1, -1)
        if context is None or text_guidance == 1.0:
            x_in, contexts = x, empty if context is None else context
        else:  # one UNet pass over [unconditional; conditional], as the diffusers pipelines batch it
            x_in, contexts = torch.cat([x, x]), torch.cat([empty, context])
        x0 = x0_from_model_output(self.unet(x_in.to(self.dtype), t, encoder_hidden_states=contexts).sample, x_in,
                                  alpha_bar, self.prediction_type)
        if len(x0) == len(x):
            return x0
        # x0 is affine in the noise prediction, so guidance on x0 equals guidance on epsilon
        unconditional, conditional = x0.chunk(2)
        return unconditional + text_guidance * (conditional - unconditional)

    @torch.no_grad()
    def sample(self, n: int, n_steps: int = 50, seed: int = 0, batch_size: int = 4, guide=None,
               prompts: list[str] | None = None, text_guidance: float = 7.5) -> np.ndarray:
        """n images (n, S, S, 3) float32 in [0, 1]; the same seed gives the same starting noise whatever the
        prompts; guide: see `voxelflow.decoders.sampling.denoising_loop`; prompts: one per image (None: the empty
        prompt), with classifier-free guidance of weight text_guidance (Stable Diffusion's default 7.5)."""
        if prompts is not None and len(prompts) != n:
            raise InputError(f"sample: {len(prompts)} prompts for {n} images (one prompt per image)")
        channels, size = self.unet.config.in_channels, self.unet.config.sample_size
        noise = torch.randn((n, channels, size, size), generator=torch.Generator().manual_seed(seed))
        self.scheduler.set_timesteps(n_steps)
        out = []
        for lo in range(0, n, batch_size):
            x = noise[lo:lo + batch_size].to(self.device, self.dtype) * self.scheduler.init_noise_sigma
            context = None if prompts is None else self.encode_prompts(prompts[lo:lo + batch_size])
            x0_at = partial(self._x0, context=context, text_guidance=text_guidance)
            latents = denoising_loop(self.scheduler, x, self.scheduler.timesteps, x0_at, guide,
                                     decode=self.decode, clip=None)
            out.append(self.decode(latents).permute(0, 2, 3, 1).cpu())
        return torch.cat(out).numpy()
