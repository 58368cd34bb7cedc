"""Brain -> CLIP image space by contrastive learning (after MindEye), with retrieval.

A residual MLP maps a subject's voxels (n, n_voxels) to the target space of a frozen backbone:
the pooled embedding (n, 1, d) or the token grid (n, t, d). A per-token projector head feeds the
contrastive losses (BiMixCo for the first `mixup_pct` of the epochs, then soft-CLIP with a
cosine-annealed temperature), and retrieval uses its output. The backbone output itself is pulled
towards the targets (z-scored per dimension) by an MSE term; it is what the diffusion prior and the generator consume.
MindEye trains the prior jointly instead; here the prior is fitted afterwards on this output.
"""

from __future__ import annotations

import logging
from dataclasses import asdict
from pathlib import Path

import numpy as np
import torch
from torch import nn

from voxelflow.atomic_output import atomic_output
from voxelflow.decoders.losses import cosine_anneal, mixco, mixco_nce, soft_clip_loss
from voxelflow.decoding_metrics import retrieval_top1
from voxelflow.devices import resolve_device
from voxelflow.errors import InputError
from voxelflow.model_configs import ContrastiveConfig
from voxelflow.toolkit.model_files import data_fingerprint, read_model_file
from voxelflow.toolkit.training import EpochBatches, LoopSettings, one_cycle, step_rng, train

log = logging.getLogger(__name__)


class ResidualBlock(nn.Module):
    def __init__(self, width: int, dropout: float):
        super().__init__()
        self.layer = nn.Sequential(nn.Linear(width, width), nn.LayerNorm(width), nn.GELU(), nn.Dropout(dropout))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.layer(x)


class BrainToClip(nn.Module):
    """voxels (b, n_voxels) -> (backbone output (b, t, d), projector output (b, t, d))."""

    def __init__(self, n_voxels: int, n_tokens: int, dim: int, config: ContrastiveConfig):
        super().__init__()
        self.n_tokens, self.dim = n_tokens, dim
        h = config.hidden
        self.input = nn.Sequential(nn.Linear(n_voxels, h), nn.LayerNorm(h), nn.GELU(), nn.Dropout(config.dropout_input))
        self.blocks = nn.Sequential(*[ResidualBlock(h, config.dropout) for _ in range(config.n_blocks)])
        self.head = nn.Linear(h, n_tokens * dim)
        p = config.projector_hidden
        self.projector = nn.Sequential(nn.LayerNorm(dim), nn.GELU(), nn.Linear(dim, p), nn.LayerNorm(p), nn.GELU(),
                                       nn.Linear(p, p), nn.LayerNorm(p), nn.GELU(), nn.Linear(p, dim))

    def forward(self, voxels: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        out = self.head(self.blocks(self.input(voxels))).view(len(voxels), self.n_tokens, self.dim)
        return out, self.projector(out)


def as_tokens(embeddings: np.ndarray) -> np.ndarray:
    """(n, d) pooled or (n, t, d) token embeddings -> (n, t, d) float32 (pooled becomes t = 1)."""
    embeddings = np.asarray(embeddings, dtype=np.float32)
    if embeddings.ndim == 2:
        return embeddings[:, None, :]
    if embeddings.ndim != 3:
        raise InputError(f"image embeddings must be (n, d) or (n, t, d), got shape {embeddings.shape}")
    return embeddings


def _parameter_groups(model: nn.Module, weight_decay: float) -> list[dict]:
    """AdamW groups: no weight decay on biases and LayerNorm weights (vectors), as in MindEye."""
    decay = [p for p in model.parameters() if p.ndim >= 2]
    no_decay = [p for p in model.parameters() if p.ndim < 2]
    return [{"params": decay, "weight_decay": weight_decay}, {"params": no_decay, "weight_decay": 0.0}]


def training_loss(model: BrainToClip, voxels: torch.Tensor, targets: torch.Tensor, standard: torch.Tensor,
                  config: ContrastiveConfig, soft_clip_temperature: float | None,
                  generator: torch.Generator | None = None) -> torch.Tensor:
    """One batch's loss: BiMixCo (soft_clip_temperature None) or soft-CLIP on the projector output, plus the MSE
    of the MLP output against the z-scored targets. voxels (b, n_voxels); targets, standard (b, t, d)."""
    if soft_clip_temperature is None:
        voxels, perm, lam = mixco(voxels, config.mixco_beta, generator=generator)
        out, projected = model(voxels)
        loss = mixco_nce(projected, targets, perm, lam, config.mixco_temperature)
    else:
        out, projected = model(voxels)
        loss = soft_clip_loss(projected, targets, soft_clip_temperature)
    return loss + config.mse_weight * nn.functional.mse_loss(out.float(), standard)


class ContrastiveDecoder:
    """fit(responses, image_embeddings) / embed / project / retrieve / save / load (the Decoder contract)."""

    def __init__(self, config: ContrastiveConfig | None = None, device: str = "auto",
                 checkpoint: str | Path | None = None):
        self.config = config or ContrastiveConfig()
        self.config.validate()
        self.device = resolve_device(device)
        self.checkpoint = checkpoint  # per-epoch training checkpoint: a rerun resumes from it

    def _voxels(self, responses: np.ndarray) -> torch.Tensor:
        """Responses (n, n_voxels) standardised with the training statistics, as float32; a clear error for
        another voxel count."""
        if responses.ndim != 2 or responses.shape[1] != self.voxel_mean_.shape[0]:
            raise InputError(f"responses have shape {responses.shape}, but the decoder was trained on "
                             f"{self.voxel_mean_.shape[0]} voxels")
        return torch.from_numpy(((responses - self.voxel_mean_) / self.voxel_std_).astype(np.float32))

    def fit(self, responses: np.ndarray, image_embeddings: np.ndarray) -> ContrastiveDecoder:
        """responses (n, n_voxels) z-scored betas; image_embeddings (n, d) or (n, t, d) of the same n images."""
        cfg = self.config
        targets = as_tokens(image_embeddings)
        if responses.ndim != 2 or len(responses) != len(targets) or len(responses) < cfg.batch_size:
            raise InputError(f"responses {responses.shape} and image embeddings {targets.shape} must pair n >= "
                             f"batch_size ({cfg.batch_size}) images")
        if not (np.isfinite(responses).all() and np.isfinite(targets).all()):
            raise InputError("responses or image embeddings contain NaN or infinite values")
        self.voxel_mean_ = responses.mean(0).astype(np.float32)
        self.voxel_std_ = (responses.std(0) + 1e-6).astype(np.float32)
        self.target_mean_ = targets.mean(0)
        self.target_std_ = targets.std(0) + 1e-6
        torch.manual_seed(cfg.seed)
        self.model_ = BrainToClip(responses.shape[1], targets.shape[1], targets.shape[2], cfg).to(self.device)
        X = self._voxels(responses)
        Y = torch.from_numpy(targets)
        Z = torch.from_numpy((targets - self.target_mean_) / self.target_std_)
        mixup_epochs = int(np.ceil(cfg.mixup_pct * cfg.epochs))
        soft_temperatures = cosine_anneal(cfg.soft_clip_temperature_start, cfg.soft_clip_temperature_end,
                                          cfg.epochs - mixup_epochs)
        batches = EpochBatches(len(X), cfg.batch_size, cfg.seed)
        steps = cfg.epochs * batches.steps_per_epoch

        def step_loss(step: int) -> torch.Tensor:
            batch, epoch = batches(step)
            temperature = None if epoch < mixup_epochs else float(soft_temperatures[epoch - mixup_epochs])
            return training_loss(self.model_, X[batch].to(self.device), Y[batch].to(self.device),
                                 Z[batch].to(self.device), cfg, temperature, step_rng(cfg.seed, step)[0])

        optimizer = torch.optim.AdamW(_parameter_groups(self.model_, cfg.weight_decay), lr=cfg.lr, weight_decay=1e-2)
        history = train(self.model_, optimizer, one_cycle(optimizer, cfg.lr, steps, min(0.5, 2 / cfg.epochs)),
                        step_loss, LoopSettings(steps, batches.steps_per_epoch, seed=cfg.seed, autocast=True,
                                                desc="brain -> CLIP"),
                        checkpoint=self.checkpoint,
                        identity={"config": asdict(cfg), "data": data_fingerprint(responses, targets)})
        self.history_ = [loss for _, loss, _ in history]  # mean training loss of each epoch
        log.info("brain -> CLIP: %d epochs, loss %.3f -> %.3f", cfg.epochs, self.history_[0], self.history_[-1])
        return self

    def _run(self, responses: np.ndarray, batch_size: int = 256) -> tuple[np.ndarray, np.ndarray]:
        X = self._voxels(responses)
        outs, projected = [], []
        with torch.no_grad():
            for start in range(0, len(X), batch_size):
                out, proj = self.model_(X[start:start + batch_size].to(self.device))
                outs.append(out.float().cpu())
                projected.append(proj.float().cpu())
        return torch.cat(outs).numpy() * self.target_std_ + self.target_mean_, torch.cat(projected).numpy()

    def embed(self, responses: np.ndarray) -> np.ndarray:
        """responses (n, n_voxels) -> predicted image embeddings (n, t, d) in the target's units (prior input)."""
        return self._run(responses)[0]

    def project(self, responses: np.ndarray) -> np.ndarray:
        """responses (n, n_voxels) -> the projector's retrieval embeddings (n, t, d), compared by cosine."""
        return self._run(responses)[1]

    def retrieve(self, responses: np.ndarray, image_embeddings: np.ndarray, n_candidates: int = 300,
                 n_draws: int = 30, seed: int = 42) -> dict[str, float]:
        """Top-1 image and brain retrieval of the n test images among min(n_candidates, n) (MindEye's protocol)."""
        return retrieval_top1(self.project(responses), as_tokens(image_embeddings), n_candidates, n_draws, seed)

    def save(self, path: str | Path) -> None:
        """Weights, config and normalisation to one torch file, atomically."""
        with atomic_output(path) as tmp:
            torch.save({"decoder": "contrastive", "config": asdict(self.config), "model": self.model_.state_dict(),
                        "shape": (len(self.voxel_mean_), self.model_.n_tokens, self.model_.dim),
                        "voxel_mean": self.voxel_mean_, "voxel_std": self.voxel_std_,
                        "target_mean": self.target_mean_, "target_std": self.target_std_,
                        "history": self.history_}, tmp)
        log.info("wrote brain -> CLIP decoder to %s", path)

    @classmethod
    def load(cls, path: str | Path, device: str = "auto") -> ContrastiveDecoder:
        """Read a decoder written by `save`."""
        saved = read_model_file(path, "decoder", "contrastive", "a contrastive decoder")
        decoder = cls(ContrastiveConfig(**saved["config"]), device=device)
        decoder.model_ = BrainToClip(*saved["shape"], decoder.config)
        decoder.model_.load_state_dict(saved["model"])
        decoder.model_.to(decoder.device).eval()
        decoder.voxel_mean_, decoder.voxel_std_ = saved["voxel_mean"], saved["voxel_std"]
        decoder.target_mean_, decoder.target_std_ = saved["target_mean"], saved["target_std"]
        decoder.history_ = saved["history"]
        return decoder
