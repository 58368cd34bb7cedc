"""Image generator conditioned on image embeddings: a diffusers `UNet2DConditionModel` in pixel space.

The embedding tokens (n, t, d) are the UNet's cross-attention context. The demo trains a small one on
the study's training images conditioned on the decoder's target backbone (`fit`); `save` writes a
diffusers folder (`unet/`, `scheduler/`, `voxelflow_generator.json`) and `load` reads it with
`from_pretrained(local path)`, so a generator trained elsewhere at full size drops in the same way.
Sampling is DDIM with classifier-free guidance; an init image with `strength` < 1 gives img2img
(the low-level path): the init is noised to the step `strength` of the way through and denoised from there.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from dataclasses import asdict
from functools import partial
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from diffusers import DDIMScheduler, UNet2DConditionModel

from voxelflow.atomic_output import atomic_output
from voxelflow.decoders.contrastive import as_tokens
from voxelflow.decoders.sampling import denoising_loop
from voxelflow.devices import resolve_device
from voxelflow.errors import InputError
from voxelflow.images import resize_images
from voxelflow.model_configs import GeneratorConfig
from voxelflow.toolkit.model_files import data_fingerprint
from voxelflow.toolkit.registry import GENERATOR_FILE
from voxelflow.toolkit.tensor_images import from_model_range, to_model_range
from voxelflow.toolkit.training import LoopSettings, one_cycle, step_rng, train

log = logging.getLogger(__name__)



def build_unet(config: GeneratorConfig, embedding_dim: int) -> UNet2DConditionModel:
    """A small UNet: plain ResNet blocks at full resolution, cross-attention to the embedding tokens at the
    lowest; their mean is also added to the timestep embedding of every block (as unCLIP conditions on
    image embeddings), which is what makes a small model learn the conditioning quickly."""
    config.validate()
    n = len(config.channels)
    return UNet2DConditionModel(
        sample_size=config.image_size, in_channels=3, out_channels=3, layers_per_block=1,
        block_out_channels=tuple(config.channels),
        down_block_types=("DownBlock2D",) * (n - 1) + ("CrossAttnDownBlock2D",),
        up_block_types=("CrossAttnUpBlock2D",) + ("UpBlock2D",) * (n - 1),
        cross_attention_dim=embedding_dim, attention_head_dim=16, norm_num_groups=8,
        class_embed_type="projection", projection_class_embeddings_input_dim=embedding_dim)


class ImageGenerator:
    """fit(images, embeddings) / generate(embeddings, init_images, strength) / save(folder) / load(folder)."""

    def __init__(self, config: GeneratorConfig | None = None, device: str = "auto",
                 checkpoint: str | Path | None = None):
        self.config = config or GeneratorConfig()
        self.device = resolve_device(device)
        self.checkpoint = checkpoint  # training checkpoint (every 5 % of the steps): a rerun resumes from it
        # x0-prediction: a small, briefly trained model then returns the conditional mean image (blurry but
        # right), where noise prediction returns noise.
        self.scheduler = DDIMScheduler(num_train_timesteps=1000, beta_schedule="squaredcos_cap_v2", clip_sample=True,
                                       prediction_type="sample")

    @property
    def embedding_dim(self) -> int:
        """d of the (n, t, d) embeddings the UNet cross-attends to."""
        return self.unet.config.cross_attention_dim

    @property
    def image_size(self) -> int:
        """Side of the generated images in pixels."""
        return self.unet.config.sample_size

    def _unet(self, x: torch.Tensor, t: torch.Tensor, context: torch.Tensor) -> torch.Tensor:
        return self.unet(x, t, encoder_hidden_states=context, class_labels=context.mean(1)).sample

    def _denoise(self, x: torch.Tensor, t: torch.Tensor, context: torch.Tensor, guidance_scale: float) -> torch.Tensor:
        """The classifier-free-guided x0 prediction for x (b, 3, S, S) at timestep t, context (b, t, d)."""
        if guidance_scale == 1:
            return self._unet(x, t, context)
        free, conditioned = self._unet(torch.cat([x, x]), t, torch.cat([torch.zeros_like(context), context])).chunk(2)
        return free + guidance_scale * (conditioned - free)

    def fit(self, images: np.ndarray, embeddings: np.ndarray) -> ImageGenerator:
        """images (n, H, W, 3) uint8; embeddings (n, d) or (n, t, d) of the same images (the conditioning)."""
        cfg = self.config
        cond = as_tokens(embeddings)
        if len(images) != len(cond) or images.ndim != 4 or images.shape[-1] != 3:
            raise InputError(f"images {images.shape} and embeddings {cond.shape} must pair n RGB images")
        self.embedding_scale = float(cond.std()) or 1.0
        torch.manual_seed(cfg.seed)
        self.unet = build_unet(cfg, cond.shape[2]).to(self.device)
        X = to_model_range(images, cfg.image_size)
        C = torch.from_numpy(cond / self.embedding_scale)

        def step_loss(step: int) -> torch.Tensor:
            generator = step_rng(cfg.seed, step)[0]
            batch = torch.randint(0, len(X), (cfg.batch_size,), generator=generator)
            clean = X[batch]
            if torch.rand(1, generator=generator).item() < 0.5:  # horizontal flips: the scenes have no handedness
                clean = clean.flip(-1)
            context = C[batch] * (torch.rand(len(batch), 1, 1, generator=generator) >= cfg.cond_drop)
            noise = torch.randn(clean.shape, generator=generator)
            t = torch.randint(0, self.scheduler.config.num_train_timesteps, (len(batch),), generator=generator)
            noisy = self.scheduler.add_noise(clean, noise, t)
            predicted = self._unet(noisy.to(self.device), t.to(self.device), context.to(self.device))
            return F.mse_loss(predicted, clean.to(self.device))

        optimizer = torch.optim.AdamW(self.unet.parameters(), lr=cfg.lr, weight_decay=1e-2)
        history = train(self.unet, optimizer, one_cycle(optimizer, cfg.lr, cfg.steps, pct_start=0.1), step_loss,
                        LoopSettings(cfg.steps, max(1, cfg.steps // 20), seed=cfg.seed, desc="generator"),
                        checkpoint=self.checkpoint,
                        identity={"config": asdict(cfg), "data": data_fingerprint(images, cond)})
        self.history_ = [(step, loss) for step, loss, _ in history]  # (steps done, mean loss since the last)
        log.info("generator: %d steps, loss %.4f -> %.4f", cfg.steps, self.history_[0][1], self.history_[-1][1])
        return self

    @torch.no_grad()
    def generate(self, embeddings: np.ndarray, init_images: np.ndarray | None = None, strength: float = 1.0,
                 n_steps: int = 25, guidance_scale: float = 3.0, seed: int = 0,
                 batch_size: int = 64, guide: Callable | None = None) -> np.ndarray:
        """embeddings (n, d) or (n, t, d) -> images (n, S, S, 3) float32 in [0, 1], S = the generator's size.

        init_images (n, H, W, 3): the low-level start; strength 1 ignores it, 0 returns it unchanged.
        The same seed gives the same images. guide: see `sampling.denoising_loop` (brain guidance,
        `voxelflow.synthesis.guidance.BrainGuidance`).
        """
        cond = as_tokens(embeddings)
        if cond.shape[2] != self.embedding_dim:
            raise InputError(f"embeddings have size {cond.shape[2]}, but the generator is conditioned on "
                             f"{self.embedding_dim}-d embeddings")
        if not 0 <= strength <= 1:
            raise InputError(f"img2img strength must be in [0, 1], got {strength}")
        size = self.image_size
        generator = torch.Generator().manual_seed(seed)
        noise = torch.randn((len(cond), 3, size, size), generator=generator)
        self.scheduler.set_timesteps(n_steps)
        timesteps = self.scheduler.timesteps
        start = n_steps - int(round(n_steps * strength)) if init_images is not None else 0
        if init_images is not None:
            if len(init_images) != len(cond):
                raise InputError(f"{len(init_images)} init images for {len(cond)} embeddings")
            if start == n_steps:
                return resize_images(init_images, size)
            noise = self.scheduler.add_noise(to_model_range(init_images, size), noise, timesteps[start:start + 1])
        out = []
        for lo in range(0, len(cond), batch_size):
            x = noise[lo:lo + batch_size].to(self.device)
            context = torch.from_numpy(cond[lo:lo + batch_size] / self.embedding_scale).to(self.device)
            x0_at = partial(self._denoise, context=context, guidance_scale=guidance_scale)
            x = denoising_loop(self.scheduler, x, timesteps[start:], x0_at, guide)
            out.append(from_model_range(x).permute(0, 2, 3, 1).float().cpu())
        return torch.cat(out).numpy()

    def sample(self, n: int, n_steps: int = 25, seed: int = 0, batch_size: int = 64,
               guide: Callable | None = None) -> np.ndarray:
        """n unconditional images (n, S, S, 3) float32 in [0, 1] (the zero embedding, as trained with
        `cond_drop`); the same seed gives the same images."""
        return self.generate(np.zeros((n, 1, self.embedding_dim), np.float32), n_steps=n_steps, guidance_scale=1.0,
                             seed=seed, batch_size=batch_size, guide=guide)

    def save(self, folder: str | Path) -> None:
        """A diffusers folder: unet/ and scheduler/ (save_pretrained) and voxelflow_generator.json."""
        with atomic_output(folder) as tmp:
            tmp = Path(tmp)
            self.unet.save_pretrained(tmp / "unet")
            self.scheduler.save_pretrained(tmp / "scheduler")
            (tmp / GENERATOR_FILE).write_text(json.dumps({"embedding_scale": self.embedding_scale,
                                                          "config": asdict(self.config)}, indent=1))
        log.info("wrote generator to %s", folder)

    @classmethod
    def load(cls, folder: str | Path, device: str = "auto", gradient_checkpointing: bool = False) -> ImageGenerator:
        """Read a generator folder with diffusers' from_pretrained (local files only, never a hub);
        gradient_checkpointing: recompute the UNet's activations in the backward pass (guided sampling)."""
        folder = Path(folder)
        if not (folder / GENERATOR_FILE).is_file():
            raise InputError(f"{folder} is not a voxelflow generator folder (no {GENERATOR_FILE})")
        meta = json.loads((folder / GENERATOR_FILE).read_text())
        config = meta["config"]
        generator = cls(GeneratorConfig(**{**config, "channels": tuple(config["channels"])}), device=device)
        generator.unet = UNet2DConditionModel.from_pretrained(folder / "unet", local_files_only=True)
        generator.unet.to(generator.device).eval()
        if gradient_checkpointing:
            generator.unet.enable_gradient_checkpointing()
        generator.scheduler = DDIMScheduler.from_pretrained(folder / "scheduler", local_files_only=True)
        generator.embedding_scale = meta["embedding_scale"]
        return generator
