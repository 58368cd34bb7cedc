"""The mini-NSD's two-stage known-answer network: a backbone whose layers match different planted ROIs.

Stage "contrast_energy" is the local contrast energy that the planted V1-hV4 pRFs read (`voxelflow.mininsd.
true_brain.contrast_energy`), averaged on a grid: tokens (n, grid^2, 1). Stage "category_templates" is the planted
category detectors (the largest normalised cross-correlation with each category's template over positions and
three scales, the same templates): tokens (n, 1, n_categories). A layer sweep on it must find the first stage best
in V1 and the second in the category ROIs; the tests and the demo's hierarchy figure rely on that. Written in torch,
so it is differentiable from pixels like any backbone.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from voxelflow.encoders.backbones import Backbone
from voxelflow.mininsd.scenes import CATEGORIES
from voxelflow.mininsd.true_brain import _NCC_STD_FLOOR, CategoryDetectors

_LUMINANCE = (0.299, 0.587, 0.114)
_REDNESS = (1.0, -0.5, -0.5)


def _gaussian_kernel(sigma: float) -> torch.Tensor:
    radius = max(1, int(4 * sigma + 0.5))  # scipy.ndimage.gaussian_filter's truncate=4
    x = torch.arange(-radius, radius + 1, dtype=torch.float64)
    k = torch.exp(-0.5 * (x / sigma) ** 2)
    return (k / k.sum()).float()


class ContrastCategoryBackbone(Backbone):
    """Two stages, "contrast_energy" then "category_templates"; images are resized to `image_size` (the mini-NSD's
    side) first. pooled: both stages' tokens flattened and concatenated (n, grid^2 + n_categories)."""

    layers = ["contrast_energy", "category_templates"]

    def __init__(self, image_size: int = 64, grid: int = 8):
        super().__init__()
        self.image_size, self.grid = image_size, grid
        self.register_buffer("blur", _gaussian_kernel(image_size / 64))
        detectors = CategoryDetectors(image_size)
        self.channels = ["food" == c for c in CATEGORIES]  # food is detected on redness, the rest on luminance
        self.n_scales = [len(detectors.templates[c]) for c in CATEGORIES]
        for c, category in enumerate(CATEGORIES):
            for s, template in enumerate(detectors.templates[category]):
                self.register_buffer(f"template_{c}_{s}", self._normalised(template))

    @staticmethod
    def _normalised(template) -> torch.Tensor:
        t = torch.as_tensor(template, dtype=torch.float32)
        t = t - t.mean()
        return (t / t.norm())[None, None]

    def _contrast_energy(self, lum: torch.Tensor) -> torch.Tensor:
        k, r = self.blur, len(self.blur) // 2
        blurred = torch.cat([lum[..., :r, :].flip(-2), lum, lum[..., -r:, :].flip(-2)], dim=-2)  # scipy's "reflect"
        blurred = torch.cat([blurred[..., :r].flip(-1), blurred, blurred[..., -r:].flip(-1)], dim=-1)
        blurred = F.conv2d(F.conv2d(blurred, k.view(1, 1, -1, 1)), k.view(1, 1, 1, -1))
        return (lum - blurred) ** 2

    @staticmethod
    def _max_ncc(channel: torch.Tensor, template: torch.Tensor) -> torch.Tensor:
        m = template.shape[-1]
        corr = F.conv2d(channel, template)
        mean = F.avg_pool2d(channel, m, stride=1)
        sq = F.avg_pool2d(channel**2, m, stride=1)
        norm = torch.sqrt(torch.clamp(m * m * (sq - mean**2), min=0.0) + 1e-12) + _NCC_STD_FLOOR * m
        return (corr / norm).amax(dim=(1, 2, 3))

    def forward_layers(self, images: torch.Tensor) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        x = F.interpolate(images, size=(self.image_size,) * 2, mode="bilinear", antialias=True, align_corners=False)
        lum = torch.einsum("nchw,c->nhw", x, x.new_tensor(_LUMINANCE))[:, None]
        red = torch.einsum("nchw,c->nhw", x, x.new_tensor(_REDNESS))[:, None]
        energy = F.adaptive_avg_pool2d(self._contrast_energy(lum), self.grid).flatten(1)[..., None]
        detected = torch.stack([torch.stack([self._max_ncc(red if on_red else lum, getattr(self, f"template_{c}_{s}"))
                                             for s in range(n_scales)]).amax(0)
                                for c, (on_red, n_scales) in enumerate(zip(self.channels, self.n_scales))], dim=1)
        tokens = {"contrast_energy": energy, "category_templates": detected[:, None]}
        return torch.cat([energy.flatten(1), detected], dim=1), tokens
