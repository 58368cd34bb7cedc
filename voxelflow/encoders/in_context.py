"""In-context voxelwise encoder: a voxel's linear model from a few (image, response) examples (after BraInCoRL).

A set transformer reads, for one voxel, k context tokens (image embedding,
measured response) and emits that voxel's E + 1 hyperweights (linear weights
on the standardized embedding, and a bias). It is meta-trained across the
voxels of several subjects with a random context size per step (MSE on
held-back query images of the same voxels), and applied to a new subject's
voxels with no gradient step. Predicting a new image is then one dot product,
so the generated models are ordinary `LinearEncoder`s.

Choices, against the paper: each context token is a learned function of
(x, y, y * x), which gives attention the response-weighted image sums that a
regression needs from the first layer; the hyperweights are the transformer's
read-out added to a generalized ridge solution on the context whose prior
precision (a spectrum in the eigenbasis of the meta-training images'
covariance) is meta-learned: an empirical-Bayes path that keeps working for
any context size. Without it, a CPU-sized network meta-trained for minutes
learned little more than a population-mean model. The embedding is z-scored per dimension
(meta-training statistics) instead of unit-normed, so that the generated
models are affine in the raw features; there is no positional encoding (the
context is a set) and attention logits are scaled by log(sequence length),
as in BraInCoRL, so that contexts longer than any seen in training still work.
"""

from __future__ import annotations

import logging
import math
from dataclasses import asdict
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from voxelflow.atomic_output import atomic_output
from voxelflow.devices import resolve_device
from voxelflow.encoders.linear import LinearEncoder, check_pair
from voxelflow.errors import InputError
from voxelflow.model_configs import InContextConfig
from voxelflow.toolkit.contracts import check_fitted
from voxelflow.toolkit.model_files import data_fingerprint, read_model_file
from voxelflow.toolkit.training import LoopSettings, step_rng, train

log = logging.getLogger(__name__)


class ContextBlock(nn.Module):
    """Pre-norm self-attention over the set (logits scaled by log n) and a SwiGLU feed-forward: (B, n, width)."""

    def __init__(self, width: int, n_heads: int):
        super().__init__()
        self.n_heads = n_heads
        self.norm1, self.norm2 = nn.LayerNorm(width), nn.LayerNorm(width)
        self.qkv = nn.Linear(width, 3 * width)
        self.out = nn.Linear(width, width)
        self.ff_in = nn.Linear(width, 4 * width)
        self.ff_out = nn.Linear(2 * width, width)

    def _qkv(self, h: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, float]:
        b, n, w = h.shape
        q, k, v = self.qkv(self.norm1(h)).view(b, n, 3, self.n_heads, w // self.n_heads).permute(2, 0, 3, 1, 4)
        return q, k, v, math.log(n) / math.sqrt(w // self.n_heads)

    def forward(self, h: torch.Tensor) -> torch.Tensor:
        q, k, v, scale = self._qkv(h)
        attended = F.scaled_dot_product_attention(q, k, v, scale=scale)  # flash / memory-efficient kernels
        h = h + self.out(attended.transpose(1, 2).reshape(h.shape))
        gate, value = self.ff_in(self.norm2(h)).chunk(2, dim=-1)
        return h + self.ff_out(F.silu(gate) * value)

    def first_token_attention(self, h: torch.Tensor) -> torch.Tensor:
        """Attention of token 0 over all n tokens, averaged over heads: (B, n)."""
        q, k, _, scale = self._qkv(h)
        return torch.softmax((q[:, :, :1] @ k.transpose(-1, -2)) * scale, dim=-1)[:, :, 0].mean(1)


class HyperweightNetwork(nn.Module):
    """Context (k, E) standardized embeddings shared by B voxels, responses (B, k) -> hyperweights (B, E + 1)."""

    def __init__(self, n_features: int, cfg: InContextConfig):
        super().__init__()
        hidden = 2 * cfg.width
        self.image_in = nn.Linear(n_features, 2 * hidden)  # image part and response-gated part, once per image
        self.response_in = nn.Linear(1, hidden)
        self.token_out = nn.Linear(hidden, cfg.width)
        self.registers = nn.Parameter(0.02 * torch.randn(cfg.n_registers, cfg.width))
        self.blocks = nn.ModuleList(ContextBlock(cfg.width, cfg.n_heads) for _ in range(cfg.n_layers))
        self.out_norm = nn.LayerNorm(cfg.width)
        self.head = nn.Linear(cfg.width, n_features + 1)
        # The ridge path's prior precision, U diag(exp(log_prior)) U', with U the population covariance's eigenvectors.
        self.register_buffer("prior_basis", torch.eye(n_features))
        self.log_prior = nn.Parameter(torch.zeros(n_features))
        nn.init.zeros_(self.head.weight)  # the transformer starts as no correction
        nn.init.zeros_(self.head.bias)

    def _tokens(self, context_x: torch.Tensor, context_y: torch.Tensor) -> torch.Tensor:
        image, gated = self.image_in(context_x).chunk(2, dim=-1)  # (k, hidden) each
        y = context_y[..., None]
        tokens = self.token_out(F.gelu(image + y * gated + self.response_in(y)))  # (B, k, width)
        return torch.cat([self.registers.expand(len(tokens), -1, -1), tokens], dim=1)

    def forward(self, context_x: torch.Tensor, context_y: torch.Tensor) -> torch.Tensor:
        h = self._tokens(context_x, context_y)
        for block in self.blocks:
            h = block(h)
        return self.head(self.out_norm(h[:, 0])) + self.ridge_path(context_x, context_y)

    def ridge_path(self, context_x: torch.Tensor, context_y: torch.Tensor) -> torch.Tensor:
        """Generalized ridge on the centred context with the learned prior precision P = U diag(exp(log_prior)) U':
        w = (Xc'Xc + P)^-1 Xc'yc, solved in the primal (E x E) or, for k < E, the dual (k x k) form, once for
        all B voxels. Returns (B, E + 1) = [w; bias]."""
        with torch.autocast(context_x.device.type, enabled=False):
            x, y = context_x.float(), context_y.float()
            x_mean, y_mean = x.mean(0), y.mean(1, keepdim=True)
            xc, yc = x - x_mean, (y - y_mean).T  # (k, E), (k, B)
            basis, inverse_prior = self.prior_basis, torch.exp(-self.log_prior)
            if len(x) >= x.shape[1]:
                w = torch.linalg.solve(xc.T @ xc + (basis / inverse_prior) @ basis.T, xc.T @ yc)
            else:  # push-through identity: (X'X + P)^-1 X' = P^-1 X' (X P^-1 X' + I)^-1
                z = xc @ basis
                kernel = (z * inverse_prior) @ z.T + torch.eye(len(x), device=x.device)
                w = basis @ (inverse_prior[:, None] * (z.T @ torch.linalg.solve(kernel, yc)))
            w = w.T  # (B, E)
            return torch.cat([w, y_mean - w @ x_mean[:, None]], dim=1)

    def context_attention(self, context_x: torch.Tensor, context_y: torch.Tensor) -> torch.Tensor:
        """Attention of the read-out token over the k context tokens in the last block (B, k), summing to 1."""
        h = self._tokens(context_x, context_y)
        for block in self.blocks[:-1]:
            h = block(h)
        weights = self.blocks[-1].first_token_attention(h)[:, self.registers.shape[0]:]
        return weights / weights.sum(1, keepdim=True)


def sample_context(n_available: int, k: int, rng: np.random.Generator) -> np.ndarray:
    """k distinct indices into n_available images, for a context: (k,) int."""
    if not 2 <= k <= n_available:
        raise InputError(f"context size {k} needs 2 to {n_available} images (the subject has {n_available})")
    return rng.choice(n_available, size=k, replace=False)


class InContextEncoder:
    """Estimator around `HyperweightNetwork`.

    meta_fit({subject: (features (n, E), responses (n, V))}) meta-trains on the subjects' training images;
    predict_voxel_models(context_features (k, E), context_responses (k, V)) returns the V voxels' models as a
    `LinearEncoder` (also kept as `voxel_models_`, which predict, predict_torch and score then use).
    Learned: network_, feature_mean_, feature_scale_ (E,), trained_on_ (subject names), history_
    ((step, train loss, validation loss) rows).
    """

    reads_tokens = False  # pooled features (n, E)

    def __init__(self, config: InContextConfig | None = None, device: str = "auto",
                 checkpoint: str | Path | None = None, max_tokens: int = 2 ** 19):
        self.config = config or InContextConfig()
        self.device = resolve_device(device)
        self.checkpoint = checkpoint
        self.max_tokens = max_tokens  # voxels x context images per forward pass at inference

    @property
    def n_features_in_(self) -> int:
        """Feature dimensions (E) the network reads."""
        check_fitted(self, "network_")
        return len(self.feature_mean_)

    # -- meta-training -------------------------------------------------------------------------------------

    def meta_fit(self, datasets: dict[str, tuple[np.ndarray, np.ndarray]]) -> InContextEncoder:
        """Meta-train on each subject's (features (n_images, E), responses (n_images, n_voxels))."""
        cfg = self.config
        cfg.validate()
        if not datasets:
            raise InputError("the in-context encoder needs at least one training subject; none was given")
        for subject, (X, Y) in datasets.items():
            check_pair(X, Y)
            if len(X) < cfg.context_min + cfg.n_query:
                raise InputError(f"{subject} has {len(X)} training images; meta-training needs at least "
                                 f"context_min + n_query = {cfg.context_min + cfg.n_query}")
        widths = {X.shape[1] for X, _ in datasets.values()}
        if len(widths) > 1:
            raise InputError(f"training subjects' features differ in width: {sorted(widths)}")
        torch.manual_seed(cfg.seed)
        rng = np.random.default_rng(cfg.seed)
        device = self.device
        all_x = np.concatenate([X for X, _ in datasets.values()])
        self.feature_mean_ = all_x.mean(0).astype(np.float32)
        self.feature_scale_ = (all_x.std(0) * np.sqrt(all_x.shape[1])).astype(np.float32)
        self.feature_scale_[self.feature_scale_ == 0] = 1.0
        self.trained_on_ = list(datasets)
        self.network_ = HyperweightNetwork(all_x.shape[1], cfg)
        spectrum, basis = np.linalg.eigh(np.cov(self._standardize(all_x).astype(np.float64).T))
        with torch.no_grad():
            self.network_.prior_basis.copy_(torch.as_tensor(basis))
        self.network_.to(device)

        data, val_voxels, train_voxels = [], [], []
        for X, Y in datasets.values():
            data.append((torch.as_tensor(self._standardize(X), device=device),
                         torch.as_tensor(Y, dtype=torch.float32, device=device)))
            order = rng.permutation(Y.shape[1])
            n_val = max(1, Y.shape[1] // 10)
            val_voxels.append(order[:n_val])
            train_voxels.append(order[n_val:] if len(order) > n_val else order)
        validation = self._validation_draws(data, val_voxels, rng)
        weights = np.array([len(v) for v in train_voxels], float)
        self._initialize_prior(data, validation, float(spectrum.mean()))

        # The prior's log-spectrum gets 10x the step size: it has to travel several units in a short training.
        prior = [self.network_.log_prior]
        rest = [p for p in self.network_.parameters() if p is not self.network_.log_prior]
        optimizer = torch.optim.AdamW([{"params": rest}, {"params": prior, "weight_decay": 0.0}], lr=cfg.lr,
                                      weight_decay=cfg.weight_decay)
        schedule = torch.optim.lr_scheduler.OneCycleLR(optimizer, max_lr=[cfg.lr, 10 * cfg.lr],
                                                       total_steps=cfg.steps, pct_start=0.1)
        identity = {"config": asdict(cfg), "data": data_fingerprint(*(a for pair in datasets.values() for a in pair)),
                    "subjects": list(datasets)}
        subject_weights = weights / weights.sum()

        def step_loss(step: int) -> torch.Tensor:
            rng = step_rng(cfg.seed, step)[1]
            s = rng.choice(len(data), p=subject_weights)
            X, Y = data[s]
            k = int(rng.integers(cfg.context_min, min(cfg.context_max, len(X) - cfg.n_query) + 1))
            images = rng.permutation(len(X))
            context, query = images[:k], images[k:k + cfg.n_query]
            voxels = torch.as_tensor(rng.choice(train_voxels[s], size=cfg.batch_voxels), device=device)
            return self._query_loss(X, Y, context, query, voxels)

        self.history_ = train(self.network_, optimizer, schedule, step_loss,
                              LoopSettings(cfg.steps, cfg.eval_every, patience=cfg.patience, clip_grad_norm=1.0,
                                           seed=cfg.seed, autocast=True, desc="in-context meta-training"),
                              lambda: self._validation_loss(data, validation), self.checkpoint, identity)
        return self

    @torch.no_grad()
    def _initialize_prior(self, data, draws, mean_variance: float) -> None:
        """Start the ridge path at the isotropic prior (in images' worth of mean feature variance) that predicts
        the validation draws best, the transformer's correction being zero at the start."""
        losses = {}
        for images_worth in 10.0 ** np.arange(-1, 5):
            self.network_.log_prior.fill_(float(np.log(images_worth * mean_variance)))
            losses[images_worth] = self._validation_loss(data, draws)
        best = min(losses, key=losses.get)
        self.network_.log_prior.fill_(float(np.log(best * mean_variance)))
        log.info("ridge path starts at a prior worth %g images (validation loss %.4f)", best, losses[best])

    def _query_loss(self, X, Y, context, query, voxels) -> torch.Tensor:
        hyper = self.network_(X[context], Y[context][:, voxels].T)  # (B, E + 1)
        predicted = X[query] @ hyper[:, :-1].T + hyper[:, -1]
        return torch.mean((predicted - Y[query][:, voxels]) ** 2)

    def _validation_draws(self, data, val_voxels, rng) -> list[tuple[int, np.ndarray, np.ndarray, np.ndarray]]:
        """Fixed (subject, context, query, voxels) draws at the smallest, middle and largest context size."""
        cfg, draws = self.config, []
        for s, (X, _) in enumerate(data):
            top = min(cfg.context_max, len(X) - cfg.n_query)
            for k in sorted({cfg.context_min, (cfg.context_min + top) // 2, top}):
                images = rng.permutation(len(X))
                draws.append((s, images[:k], images[k:k + cfg.n_query], val_voxels[s]))
        return draws

    @torch.no_grad()
    def _validation_loss(self, data, draws) -> float:
        self.network_.eval()
        losses = []
        for s, context, query, voxels in draws:
            X, Y = data[s]
            for chunk in np.array_split(voxels, max(1, len(voxels) // 256)):
                losses.append(self._query_loss(X, Y, context, query, torch.as_tensor(chunk, device=X.device))
                              .item() * len(chunk) / len(voxels))
        return float(np.sum(losses) / len(draws))

    # -- application to new voxels ---------------------------------------------------------------------------

    def _standardize(self, X: np.ndarray) -> np.ndarray:
        return ((X - self.feature_mean_) / self.feature_scale_).astype(np.float32)

    def _context_tensors(self, context_features: np.ndarray, context_responses: np.ndarray):
        check_pair(context_features, context_responses)
        if context_features.shape[1] != len(self.feature_mean_):
            raise InputError(f"context features have {context_features.shape[1]} dimensions but the in-context "
                             f"encoder was meta-trained on {len(self.feature_mean_)}")
        if len(context_features) < 2:
            raise InputError(f"a context needs at least 2 images, got {len(context_features)}")
        device = next(self.network_.parameters()).device
        X = torch.as_tensor(self._standardize(context_features), device=device)
        Y = torch.as_tensor(context_responses.T, dtype=torch.float32, device=device)  # (V, k)
        return X, Y, max(1, self.max_tokens // len(X))

    @torch.no_grad()
    def predict_voxel_models(self, context_features: np.ndarray, context_responses: np.ndarray) -> LinearEncoder:
        """Each voxel's linear model from k context images: features (k, E), responses (k, n_voxels).

        No gradient step: one forward pass per chunk of voxels (chunked so that voxels x k stays under
        `max_tokens`). Returns the models as a LinearEncoder (coef_ (E, n_voxels)) and keeps it as voxel_models_.
        """
        check_fitted(self, "network_")
        X, Y, chunk = self._context_tensors(context_features, context_responses)
        self.network_.eval()
        device = X.device
        hyper = []
        for i in range(0, len(Y), chunk):
            with torch.autocast(device.type, dtype=torch.bfloat16, enabled=device.type == "cuda"):
                hyper.append(self.network_(X, Y[i:i + chunk]).float().cpu())
        hyper = torch.cat(hyper).numpy()
        self.voxel_models_ = LinearEncoder(hyper[:, :-1].T, hyper[:, -1], self.feature_mean_, self.feature_scale_)
        self.voxel_models_.name = "in_context"
        return self.voxel_models_

    @torch.no_grad()
    def context_attention(self, context_features: np.ndarray, context_responses: np.ndarray) -> np.ndarray:
        """How much each voxel's read-out token attends to each context image (last block): (n_voxels, k)."""
        X, Y, chunk = self._context_tensors(context_features, context_responses)
        self.network_.eval()
        return torch.cat([self.network_.context_attention(X, Y[i:i + chunk]).float().cpu()
                          for i in range(0, len(Y), chunk)]).numpy()

    def _models(self) -> LinearEncoder:
        if not hasattr(self, "voxel_models_"):
            raise InputError("no voxel models yet: call predict_voxel_models(context_features, context_responses)")
        return self.voxel_models_

    def predict(self, X: np.ndarray) -> np.ndarray:
        """Responses (n_images, n_voxels) of the voxels of the last predict_voxel_models call."""
        return self._models().predict(X)

    def predict_torch(self, X: torch.Tensor) -> torch.Tensor:
        """Differentiable predict (n, E) -> (n, n_voxels) with the current voxel models."""
        return self._models().predict_torch(X)

    def score(self, X: np.ndarray, Y: np.ndarray) -> np.ndarray:
        """Pearson r per voxel of the current voxel models: (n_voxels,)."""
        return self._models().score(X, Y)

    # -- persistence -----------------------------------------------------------------------------------------

    def save(self, path: str | Path) -> None:
        """The meta-trained network, its config and the feature standardization, to one torch file, atomically."""
        with atomic_output(path) as tmp:
            torch.save({"encoder": "in_context", "config": asdict(self.config), "model": self.network_.state_dict(),
                        "feature_mean": self.feature_mean_, "feature_scale": self.feature_scale_,
                        "trained_on": self.trained_on_, "history": self.history_}, tmp)
        log.info("wrote in-context encoder (meta-trained on %s) to %s", ", ".join(self.trained_on_), path)

    @classmethod
    def load(cls, path: str | Path, device: str = "auto") -> InContextEncoder:
        """Read a network written by `save`."""
        saved = read_model_file(path, "encoder", "in_context", "an in-context encoder")
        encoder = cls(InContextConfig(**saved["config"]), device=device)
        encoder.feature_mean_, encoder.feature_scale_ = saved["feature_mean"], saved["feature_scale"]
        encoder.trained_on_, encoder.history_ = saved["trained_on"], saved["history"]
        encoder.network_ = HyperweightNetwork(len(encoder.feature_mean_), encoder.config)
        encoder.network_.load_state_dict(saved["model"])
        encoder.network_.to(encoder.device).eval()
        return encoder
