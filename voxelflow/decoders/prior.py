"""Diffusion prior (DALL-E 2 style, as in MindEye): brain embedding -> a CLIP image embedding the generator accepts.

A small non-causal transformer denoiser reads [brain tokens ; timestep token ; noisy image tokens]
and predicts the clean image tokens (x0). A diffusers scheduler adds the noise in training and runs
the reverse process in sampling; the brain tokens are dropped (replaced by a learned null token)
with probability `cond_drop`, which gives classifier-free guidance at sampling time.
All embeddings are (n, t, d) float32 in the target backbone's units.
"""

from __future__ import annotations

import logging
from dataclasses import asdict
from pathlib import Path

import numpy as np
import torch
from diffusers import DDPMScheduler
from torch import nn

from voxelflow.atomic_output import atomic_output
from voxelflow.decoders.contrastive import as_tokens
from voxelflow.devices import resolve_device
from voxelflow.errors import InputError
from voxelflow.model_configs import PriorConfig
from voxelflow.toolkit.model_files import data_fingerprint, read_model_file
from voxelflow.toolkit.training import EpochBatches, LoopSettings, one_cycle, step_rng, train

log = logging.getLogger(__name__)


class PriorDenoiser(nn.Module):
    """(noisy x_t (b, t, d), timestep (b,), brain (b, t, d), keep (b,) bool) -> predicted x0 (b, t, d)."""

    def __init__(self, n_tokens: int, dim: int, config: PriorConfig):
        super().__init__()
        w = config.width
        self.n_tokens, self.dim = n_tokens, dim
        self.brain_in = nn.Linear(dim, w)
        self.image_in = nn.Linear(dim, w)
        self.time = nn.Embedding(config.timesteps, w)
        self.null_brain = nn.Parameter(torch.zeros(n_tokens, w))
        self.position = nn.Parameter(torch.randn(2 * n_tokens + 1, w) * 0.02)
        layer = nn.TransformerEncoderLayer(w, config.n_heads, 4 * w, dropout=0.0, batch_first=True, norm_first=True)
        self.transformer = nn.TransformerEncoder(layer, config.n_layers, enable_nested_tensor=False)
        self.out = nn.Sequential(nn.LayerNorm(w), nn.Linear(w, dim))

    def forward(self, noisy: torch.Tensor, timestep: torch.Tensor, brain: torch.Tensor,
                keep: torch.Tensor) -> torch.Tensor:
        cond = torch.where(keep[:, None, None], self.brain_in(brain), self.null_brain.expand(len(brain), -1, -1))
        sequence = torch.cat([cond, self.time(timestep)[:, None], self.image_in(noisy)], dim=1) + self.position
        return self.out(self.transformer(sequence)[:, -self.n_tokens:])


class DiffusionPrior:
    """fit(brain_embeddings, image_embeddings) / sample(brain_embeddings) / save / load."""

    def __init__(self, config: PriorConfig | None = None, device: str = "auto", checkpoint: str | Path | None = None):
        self.config = config or PriorConfig()
        self.config.validate()
        self.device = resolve_device(device)
        self.checkpoint = checkpoint  # per-epoch training checkpoint: a rerun resumes from it
        self.scheduler = DDPMScheduler(num_train_timesteps=self.config.timesteps, beta_schedule="squaredcos_cap_v2",
                                       prediction_type="sample", clip_sample=False)

    @property
    def embedding_shape(self) -> tuple[int, int]:
        """(t, d) of the embeddings the prior reads and writes."""
        return self.model_.n_tokens, self.model_.dim

    def _standard(self, embeddings: np.ndarray) -> np.ndarray:
        return ((embeddings - self.mean_) / self.std_).astype(np.float32)

    def fit(self, brain_embeddings: np.ndarray, image_embeddings: np.ndarray) -> DiffusionPrior:
        """brain_embeddings: (n, t, d) decoder outputs; image_embeddings: (n, t, d) or (n, d) targets."""
        cfg = self.config
        brain, target = as_tokens(brain_embeddings), as_tokens(image_embeddings)
        if brain.shape != target.shape:
            raise InputError(f"brain embeddings {brain.shape} and image embeddings {target.shape} must match")
        self.mean_, self.std_ = target.mean(0), target.std(0) + 1e-6  # (t, d): both inputs live in target units
        torch.manual_seed(cfg.seed)
        self.model_ = PriorDenoiser(target.shape[1], target.shape[2], cfg).to(self.device)
        B, Y = torch.from_numpy(self._standard(brain)), torch.from_numpy(self._standard(target))
        batches = EpochBatches(len(Y), cfg.batch_size, cfg.seed)
        steps = cfg.epochs * batches.steps_per_epoch

        def step_loss(step: int) -> torch.Tensor:
            batch, _ = batches(step)
            generator = step_rng(cfg.seed, step)[0]
            clean, cond = Y[batch].to(self.device), B[batch].to(self.device)
            t = torch.randint(0, cfg.timesteps, (len(batch),), generator=generator).to(self.device)
            noise = torch.randn(clean.shape, generator=generator).to(self.device)
            keep = (torch.rand(len(batch), generator=generator) >= cfg.cond_drop).to(self.device)
            return nn.functional.mse_loss(self.model_(self.scheduler.add_noise(clean, noise, t), t, cond, keep), clean)

        optimizer = torch.optim.AdamW(self.model_.parameters(), lr=cfg.lr, weight_decay=1e-2)
        history = train(self.model_, optimizer, one_cycle(optimizer, cfg.lr, steps), step_loss,
                        LoopSettings(steps, batches.steps_per_epoch, seed=cfg.seed, desc="diffusion prior"),
                        checkpoint=self.checkpoint,
                        identity={"config": asdict(cfg), "data": data_fingerprint(brain, target)})
        self.history_ = [loss for _, loss, _ in history]  # mean training loss of each epoch
        log.info("diffusion prior: %d epochs, loss %.3f -> %.3f", cfg.epochs, self.history_[0], self.history_[-1])
        return self

    @torch.no_grad()
    def sample(self, brain_embeddings: np.ndarray, n_steps: int | None = None, guidance_scale: float = 1.0,
               seed: int = 0) -> np.ndarray:
        """(n, t, d) brain embeddings -> (n, t, d) sampled image embeddings; the same seed gives the same output.

        guidance_scale 1 is plain conditional sampling (MindEye's cond_scale = 1); larger values push
        away from the unconditional prediction.
        """
        brain = as_tokens(brain_embeddings)
        if brain.shape[1:] != self.embedding_shape:
            raise InputError(f"brain embeddings have shape {brain.shape[1:]} per image, the prior expects "
                             f"{self.embedding_shape}")
        cond = torch.from_numpy(self._standard(brain)).to(self.device)
        generator = torch.Generator().manual_seed(seed)
        x = torch.randn(cond.shape, generator=generator).to(self.device)
        self.scheduler.set_timesteps(n_steps or self.config.timesteps)
        keep, drop = torch.ones(len(x), dtype=torch.bool, device=self.device), torch.zeros(len(x), dtype=torch.bool,
                                                                                          device=self.device)
        for t in self.scheduler.timesteps:
            step = torch.full((len(x),), int(t), device=self.device)
            x0 = self.model_(x, step, cond, keep)
            if guidance_scale != 1.0:
                x0_free = self.model_(x, step, cond, drop)
                x0 = x0_free + guidance_scale * (x0 - x0_free)
            x = self.scheduler.step(x0, t, x, generator=generator).prev_sample
        return x.cpu().numpy() * self.std_ + self.mean_

    def save(self, path: str | Path) -> None:
        """Weights, config and scale to one torch file, atomically."""
        with atomic_output(path) as tmp:
            torch.save({"decoder": "prior", "config": asdict(self.config), "model": self.model_.state_dict(),
                        "shape": self.embedding_shape, "mean": self.mean_, "std": self.std_,
                        "history": self.history_}, tmp)

    @classmethod
    def load(cls, path: str | Path, device: str = "auto") -> DiffusionPrior:
        """Read a prior written by `save`."""
        saved = read_model_file(path, "decoder", "prior", "a diffusion prior")
        prior = cls(PriorConfig(**saved["config"]), device=device)
        prior.model_ = PriorDenoiser(*saved["shape"], prior.config)
        prior.model_.load_state_dict(saved["model"])
        prior.model_.to(prior.device).eval()
        prior.mean_, prior.std_, prior.history_ = saved["mean"], saved["std"], saved["history"]
        return prior
