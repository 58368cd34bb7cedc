"""Transformer brain encoder: ROI queries that route backbone tokens to voxels (after Adeli, Sun, Kriegeskorte).

Learnable queries, `queries_per_roi` for each (ROI, hemisphere) group of a
partition (e.g. NSD's "streams"), pass through a small transformer decoder:
self-attention among queries, cross-attention to the frozen backbone's tokens
(with learned positional embeddings), a feed-forward block. Each voxel is
predicted by its own linear read-out of its group's output tokens. The
cross-attention weights say which image tokens each ROI draws on.
"""

from __future__ import annotations

import logging
from dataclasses import asdict
from pathlib import Path

import numpy as np
import torch
from torch import nn

from voxelflow.atlases.roi_masks import RoiSet
from voxelflow.atomic_output import atomic_output
from voxelflow.devices import resolve_device
from voxelflow.errors import InputError
from voxelflow.encoding_metrics import pearson_r
from voxelflow.model_configs import TransformerConfig
from voxelflow.toolkit.contracts import check_fitted
from voxelflow.toolkit.model_files import data_fingerprint, read_model_file
from voxelflow.toolkit.training import EpochBatches, LoopSettings, train

log = logging.getLogger(__name__)


class DecoderLayer(nn.Module):
    """Pre-norm decoder block that also returns its cross-attention weights (batch, queries, tokens)."""

    def __init__(self, d_model: int, n_heads: int, d_ff: int, dropout: float):
        super().__init__()
        self.self_attn = nn.MultiheadAttention(d_model, n_heads, dropout=dropout, batch_first=True)
        self.cross_attn = nn.MultiheadAttention(d_model, n_heads, dropout=dropout, batch_first=True)
        self.ff = nn.Sequential(nn.Linear(d_model, d_ff), nn.GELU(), nn.Dropout(dropout), nn.Linear(d_ff, d_model))
        self.norms = nn.ModuleList(nn.LayerNorm(d_model) for _ in range(4))
        self.dropout = nn.Dropout(dropout)

    def forward(self, queries: torch.Tensor, memory: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        q = self.norms[0](queries)
        queries = queries + self.dropout(self.self_attn(q, q, q, need_weights=False)[0])
        routed, weights = self.cross_attn(self.norms[1](queries), self.norms[2](memory), memory,
                                          need_weights=True, average_attn_weights=True)
        queries = queries + self.dropout(routed)
        return queries + self.dropout(self.ff(self.norms[3](queries))), weights


def grid_positions(n_tokens: int, d_model: int) -> torch.Tensor:
    """Fixed 2-D sine-cosine encodings of a square patch grid: (1, n_tokens, d_model).

    A leading class token (n_tokens = side^2 + 1) gets zeros; tokens that form no
    square grid get zeros too (the learned positional embedding then does all the work).
    """
    side = int(round(np.sqrt(n_tokens)))
    extra = 0
    if side * side != n_tokens:
        side, extra = int(round(np.sqrt(n_tokens - 1))), 1
    encoding = torch.zeros(n_tokens, d_model)
    if side * side + extra != n_tokens or d_model % 4:
        return encoding[None]
    y, x = torch.meshgrid(torch.arange(side, dtype=torch.float32), torch.arange(side, dtype=torch.float32),
                          indexing="ij")
    quarter = d_model // 4
    frequencies = 1.0 / (side ** (torch.arange(quarter, dtype=torch.float32) / quarter)) * np.pi / 2
    parts = [f(c.reshape(-1, 1) * frequencies) for c in (x, y) for f in (torch.sin, torch.cos)]
    encoding[extra:] = torch.cat(parts, dim=1)
    return encoding[None]


class BrainTransformer(nn.Module):
    """Tokens (batch, n_tokens, d_tokens) -> voxel responses (batch, n_voxels).

    voxel_group: (n_voxels,) index of each voxel's (ROI, hemisphere) group in 0..n_groups-1.
    """

    def __init__(self, n_tokens: int, d_tokens: int, voxel_group: np.ndarray, n_groups: int, d_model: int,
                 n_layers: int, n_heads: int, queries_per_roi: int, dropout: float):
        super().__init__()
        self.n_groups, self.queries_per_roi = n_groups, queries_per_roi
        self.input = nn.Sequential(nn.LayerNorm(d_tokens), nn.Linear(d_tokens, d_model))
        self.register_buffer("grid_position", grid_positions(n_tokens, d_model))
        self.position = nn.Parameter(torch.randn(1, n_tokens, d_model) * 0.02)  # learned, on top of the grid
        self.queries = nn.Parameter(torch.randn(1, n_groups * queries_per_roi, d_model) * 0.02)
        self.layers = nn.ModuleList(DecoderLayer(d_model, n_heads, 4 * d_model, dropout) for _ in range(n_layers))
        self.out_norm = nn.LayerNorm(d_model)
        n_voxels = len(voxel_group)
        # Read-out rows are stored sorted by group, so each group's voxels are one matrix product.
        order = np.argsort(voxel_group, kind="stable")
        self.group_bounds = np.searchsorted(voxel_group[order], np.arange(n_groups + 1)).tolist()
        self.readout = nn.Parameter(torch.zeros(n_voxels, queries_per_roi * d_model))
        self.bias = nn.Parameter(torch.zeros(n_voxels))
        self.register_buffer("voxel_group", torch.as_tensor(voxel_group, dtype=torch.long))
        self.register_buffer("unsort", torch.as_tensor(np.argsort(order), dtype=torch.long))

    def forward(self, tokens: torch.Tensor, return_attention: bool = False):
        memory = self.input(tokens) + self.grid_position + self.position
        queries = self.queries.expand(len(tokens), -1, -1)
        attention = None
        for layer in self.layers:
            queries, attention = layer(queries, memory)
        out = self.out_norm(queries).reshape(len(tokens), self.n_groups, -1)  # (batch, groups, qpr * d_model)
        b = self.group_bounds
        sorted_pred = torch.cat([out[:, g] @ self.readout[b[g]:b[g + 1]].T for g in range(self.n_groups)], dim=1)
        predicted = sorted_pred[:, self.unsort] + self.bias
        return (predicted, attention) if return_attention else predicted


def voxel_groups(rois: RoiSet, partition: str, hemisphere: np.ndarray | None) -> tuple[np.ndarray, list[str]]:
    """Group index per voxel (n_voxels,) and group names: one per label of `partition` (x hemisphere, from the
    per-voxel "lh"/"rh" `hemisphere` when given), plus "rest" for voxels in none of its labels. Empty groups are
    dropped."""
    if partition not in rois.families:
        raise InputError(f"encoders.transformer.partition {partition!r} is not an ROI family of this subject; "
                         f"families: {', '.join(rois.families)}")
    names = [*rois.families[partition], "rest"]
    label = np.full(rois.n_voxels, len(names) - 1)
    for k, name in enumerate(names[:-1]):
        label[rois.mask(f"{partition}.{name}")] = k
    if hemisphere is not None:
        label = 2 * label + (np.asarray(hemisphere) == "rh")
        names = [f"{name}-{hemi}" for name in names for hemi in ("lh", "rh")]
    used, group = np.unique(label, return_inverse=True)
    return group, [names[u] for u in used]


class TransformerEncoder:
    """Estimator around `BrainTransformer`: fit(tokens, responses, rois), predict, score, save, load (the
    `voxelflow.toolkit.contracts.Encoder` contract, reading tokens).

    Tokens are (n_images, n_tokens, d_tokens) features from `load_features(..., tokens=True)`.
    `rois` (with each voxel's hemisphere, for the hemisphere split) define the query groups.
    Learned: model_ (the torch module), token_mean_, token_std_ (d_tokens,), group_names_, n_features_in_
    (d_tokens), history_.
    """

    reads_tokens = True  # token grids (n, n_tokens, d_tokens)

    def __init__(self, config: TransformerConfig | None = None, device: str = "auto",
                 checkpoint: str | Path | None = None):
        self.config = config or TransformerConfig()
        self.device = resolve_device(device)
        self.checkpoint = checkpoint

    def _normalize(self, tokens: np.ndarray | torch.Tensor) -> torch.Tensor:
        t = torch.as_tensor(tokens, dtype=torch.float32)
        return (t - torch.as_tensor(self.token_mean_)) / torch.as_tensor(self.token_std_)

    def fit(self, tokens: np.ndarray, responses: np.ndarray, rois: RoiSet) -> TransformerEncoder:
        """Train on tokens (n, t, d) and responses (n, n_voxels), early-stopping on a held-out part; `rois` (the
        responses' RoiSet, with each voxel's hemisphere) define the query groups."""
        cfg = self.config
        cfg.validate()
        if tokens.ndim != 3 or len(tokens) != len(responses):
            raise InputError(f"tokens {tokens.shape} and responses {responses.shape} must be (n_images, ...) alike")
        torch.manual_seed(cfg.seed)
        device = self.device
        groups, self.group_names_ = voxel_groups(rois, cfg.partition, rois.hemisphere if cfg.split_hemispheres
                                                 else None)
        self.n_features_in_ = tokens.shape[2]
        self.token_mean_ = tokens.mean((0, 1)).astype(np.float32)
        self.token_std_ = (tokens.std((0, 1)) + 1e-6).astype(np.float32)
        self.model_ = BrainTransformer(tokens.shape[1], tokens.shape[2], groups, len(self.group_names_), cfg.d_model,
                                       cfg.n_layers, cfg.n_heads, cfg.queries_per_roi, cfg.dropout).to(device)
        rng = np.random.default_rng(cfg.seed)
        order = rng.permutation(len(tokens))
        n_val = max(1, int(round(cfg.val_fraction * len(tokens))))
        val, train_images = order[:n_val], torch.as_tensor(order[n_val:])
        X = self._normalize(tokens).to(device)
        Y = torch.as_tensor(responses, dtype=torch.float32, device=device)
        batches = EpochBatches(len(train_images), cfg.batch_size, cfg.seed, drop_last=False)

        def step_loss(step: int) -> torch.Tensor:
            batch = train_images[batches(step)[0]].to(device)
            return torch.mean((self.model_(X[batch]) - Y[batch]) ** 2)

        def validation_loss() -> float:
            return float(torch.mean((self._predict_tensor(X[val]) - Y[val]) ** 2))

        optimizer = torch.optim.AdamW(self.model_.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
        history = train(self.model_, optimizer, torch.optim.lr_scheduler.LambdaLR(optimizer, lambda step: 1.0),
                        step_loss, LoopSettings(cfg.epochs * batches.steps_per_epoch, batches.steps_per_epoch,
                                                patience=cfg.patience, seed=cfg.seed, autocast=True,
                                                desc="transformer encoder"),
                        validation_loss, self.checkpoint, {"config": asdict(cfg), "data": data_fingerprint(tokens,
                                                                                                          responses)})
        # (epoch, training loss, validation loss), epochs from 0
        self.history_ = [(step // batches.steps_per_epoch - 1, loss, val_loss) for step, loss, val_loss in history]
        return self

    @torch.no_grad()
    def _predict_tensor(self, X: torch.Tensor, batch_size: int = 256) -> torch.Tensor:
        self.model_.eval()
        return torch.cat([self.model_(X[i:i + batch_size]).float() for i in range(0, len(X), batch_size)])

    def predict(self, tokens: np.ndarray) -> np.ndarray:
        """Predicted responses (n_images, n_voxels) float32 for tokens (n_images, n_tokens, d_tokens)."""
        check_fitted(self, "model_")
        device = next(self.model_.parameters()).device
        expected = self.model_.position.shape[1:2] + self.model_.input[0].normalized_shape
        if tuple(tokens.shape[1:]) != tuple(expected):
            raise InputError(f"tokens are {tuple(tokens.shape[1:])} per image but the encoder was trained on "
                             f"{tuple(expected)}")
        return self._predict_tensor(self._normalize(tokens).to(device)).cpu().numpy()

    def predict_torch(self, tokens: torch.Tensor) -> torch.Tensor:
        """Differentiable predict for tokens (n, t, d) on the model's device: (n, n_voxels)."""
        check_fitted(self, "model_")
        mean = torch.as_tensor(self.token_mean_, device=tokens.device)
        std = torch.as_tensor(self.token_std_, device=tokens.device)
        return self.model_((tokens - mean) / std)

    @torch.no_grad()
    def attention(self, tokens: np.ndarray) -> np.ndarray:
        """Cross-attention of the last layer, per group: (n_images, n_groups, n_tokens), queries of a group averaged."""
        device = next(self.model_.parameters()).device
        _, weights = self.model_(self._normalize(tokens).to(device), return_attention=True)
        n, _, t = weights.shape
        return weights.reshape(n, len(self.group_names_), -1, t).mean(2).cpu().numpy()

    def score(self, tokens: np.ndarray, responses: np.ndarray) -> np.ndarray:
        """Pearson r per voxel: (n_voxels,)."""
        return pearson_r(self.predict(tokens), responses)

    def save(self, path: str | Path) -> None:
        """Weights, config and normalisation to one torch file, atomically."""
        with atomic_output(path) as tmp:
            torch.save({"encoder": "transformer", "config": asdict(self.config), "model": self.model_.state_dict(),
                        "token_mean": self.token_mean_, "token_std": self.token_std_,
                        "group_names": self.group_names_, "history": self.history_,
                        "shape": (self.model_.position.shape[1], self.model_.input[0].normalized_shape[0]),
                        "n_groups": self.model_.n_groups}, tmp)
        log.info("wrote transformer encoder (%d groups) to %s", self.model_.n_groups, path)

    @classmethod
    def load(cls, path: str | Path, device: str = "auto") -> TransformerEncoder:
        """Read an encoder written by `save`."""
        saved = read_model_file(path, "encoder", "transformer", "a transformer encoder")
        encoder = cls(TransformerConfig(**saved["config"]), device=device)
        cfg = encoder.config
        groups = saved["model"]["voxel_group"].numpy()
        encoder.model_ = BrainTransformer(*saved["shape"], groups, saved["n_groups"], cfg.d_model, cfg.n_layers,
                                          cfg.n_heads, cfg.queries_per_roi, cfg.dropout)
        encoder.model_.load_state_dict(saved["model"])
        encoder.model_.to(encoder.device).eval()
        encoder.n_features_in_ = saved["shape"][1]
        encoder.token_mean_, encoder.token_std_ = saved["token_mean"], saved["token_std"]
        encoder.group_names_, encoder.history_ = saved["group_names"], saved["history"]
        return encoder
