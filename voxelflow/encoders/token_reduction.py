"""How a backbone's tokens are stored: all of them, pooled to a spatial grid, or projected on principal components.

A backbone's config entry may say `tokens: all` (the default), `tokens: {grid: 8}` (the spatial tokens average-
pooled to an 8 x 8 grid, class token kept) or `tokens: {pca: 256, fit_images: 1000}` (every token projected on the
256 leading principal components of the layer's tokens over the first `fit_images` training images, never test
images). NSD scale: DINOv2 ViT-B/14 at 434 px has 962 tokens of 768 values, 1.5 MB per image in float16 when all
are kept; the README's table gives each option's cost.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from voxelflow.errors import InputError


@dataclass(frozen=True)
class TokenReduction:
    """method: "all", "grid" or "pca"; grid: cells per side; components: principal components kept;
    fit_images: training images the PCA is fitted on."""

    method: str = "all"
    grid: int = 0
    components: int = 0
    fit_images: int = 1000

    @classmethod
    def from_spec(cls, spec, where: str) -> TokenReduction:
        """From a backbone entry's `tokens` value (None, "all", {grid: g} or {pca: k[, fit_images: n]})."""
        if spec in (None, "all"):
            return cls()
        if isinstance(spec, dict) and set(spec) == {"grid"} and int(spec["grid"]) >= 1:
            return cls("grid", grid=int(spec["grid"]))
        if isinstance(spec, dict) and "pca" in spec and set(spec) <= {"pca", "fit_images"} and int(spec["pca"]) >= 1:
            return cls("pca", components=int(spec["pca"]), fit_images=int(spec.get("fit_images", 1000)))
        raise InputError(f"{where}.tokens must be all, {{grid: cells per side}} or {{pca: components}}, got {spec!r}")

    def as_dict(self) -> dict:
        return {"all": {"method": "all"}, "grid": {"method": "grid", "grid": self.grid},
                "pca": {"method": "pca", "components": self.components, "fit_images": self.fit_images}}[self.method]


def grid_pool(tokens: torch.Tensor, n_prefix: int, grid: int, where: str) -> torch.Tensor:
    """tokens (n, n_prefix + side^2, d), spatial tokens row-major -> (n, n_prefix + min(grid, side)^2, d): the
    spatial tokens averaged over a grid x grid partition (adaptive average pooling), prefix tokens kept."""
    n, t, d = tokens.shape
    side = math.isqrt(t - n_prefix)
    if side * side != t - n_prefix:
        raise InputError(f"{where}: tokens: grid needs a square map of spatial tokens, but the layer has "
                         f"{t - n_prefix} (plus {n_prefix} prefix tokens)")
    if grid >= side:
        return tokens
    spatial = tokens[:, n_prefix:].transpose(1, 2).reshape(n, d, side, side)
    pooled = F.adaptive_avg_pool2d(spatial.float(), grid).flatten(2).transpose(1, 2).to(tokens.dtype)
    return torch.cat([tokens[:, :n_prefix], pooled], dim=1)


class TokenCovariance:
    """Streaming mean and covariance of token vectors (float64), for a PCA fitted without holding the tokens."""

    def __init__(self):
        self.count, self.total, self.outer = 0, None, None

    def add(self, tokens: torch.Tensor) -> None:
        """tokens (..., d): every vector is one observation."""
        x = tokens.reshape(-1, tokens.shape[-1]).double()
        if self.total is None:
            self.total = torch.zeros(x.shape[1], dtype=torch.float64, device=x.device)
            self.outer = torch.zeros(x.shape[1], x.shape[1], dtype=torch.float64, device=x.device)
        self.count += len(x)
        self.total += x.sum(0)
        self.outer += x.T @ x

    def principal_components(self, k: int) -> tuple[torch.Tensor, torch.Tensor]:
        """mean (d,) and the k leading components (k, d) float32, each with a positive largest entry (a sign
        convention, so the same data give the same projections)."""
        mean = self.total / self.count
        covariance = self.outer / self.count - torch.outer(mean, mean)
        _, vectors = torch.linalg.eigh(covariance)
        components = vectors[:, -k:].flip(1).T
        signs = torch.sign(components.gather(1, components.abs().argmax(1, keepdim=True)))
        return mean.float(), (components * signs).float()


def project(tokens: torch.Tensor, mean: torch.Tensor, components: torch.Tensor) -> torch.Tensor:
    """tokens (n, t, d) -> (n, t, k): centred and projected on `components` (k, d)."""
    return (tokens.float() - mean) @ components.T
