"""Brain guidance plugged into a diffusion sampling loop (BrainDiVE's classifier guidance).

At a guided step the predicted clean image x0 goes through the objective (backbone + voxel model +
target weights: the mean predicted response of the target); its gradient is folded into the noise
prediction as in classifier guidance, eps' = eps - sqrt(1 - abar) * scale * grad_{x_t}, which for an
x0-predicting sampler is x0' = x0 + scale * (1 - abar) / sqrt(abar) * grad_{x_t}. The guided x0 is what
the scheduler's `step` receives as the model output (its `pred_original_sample`).
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np
import torch

from voxelflow.errors import InputError
from voxelflow.toolkit.tensor_images import from_model_range

Objective = Callable[[torch.Tensor], torch.Tensor]  # images (b, 3, H, W) in [0, 1] -> (b,) to maximise


def encoder_objective(backbone: torch.nn.Module, encoder, weights: np.ndarray) -> Objective:
    """images -> weights . encoder(backbone(images)): the target's mean predicted response, differentiably.

    encoder: any `voxelflow.toolkit.contracts.Encoder` (its `predict_torch` reads the backbone's token grid when
    it `reads_tokens`, the pooled features otherwise). weights: (n_voxels,) from `targets.target_weights`.
    """
    if not hasattr(encoder, "predict_torch"):
        raise InputError(f"{type(encoder).__name__} has no differentiable predict_torch: it cannot guide synthesis")
    backbone = backbone.eval().requires_grad_(False)

    def objective(images: torch.Tensor) -> torch.Tensor:
        pooled, grid = backbone(images)
        predicted = encoder.predict_torch((grid if encoder.reads_tokens else pooled).float())
        return predicted @ torch.as_tensor(weights, device=predicted.device, dtype=predicted.dtype)
    return objective


class BrainGuidance:
    """The guide of `sampling.denoising_loop`: the x0 prediction moved up the objective's gradient.

    scale >= 0 (0 = unguided sampling); every: guide one step in `every` (cheaper); through_denoiser: take the
    gradient with respect to x_t through the denoiser (BrainDiVE) rather than with respect to x0 (cheaper, no
    backward through the UNet; grad_{x_t} is then approximated by grad_{x0} / sqrt(abar)).
    """

    def __init__(self, objective: Objective, scale: float, every: int = 1, through_denoiser: bool = False):
        if not (isinstance(scale, int | float) and math.isfinite(scale) and scale >= 0):
            raise InputError(f"guidance scale must be a finite number >= 0, got {scale!r}")
        if every < 1:
            raise InputError(f"guidance every must be at least 1, got {every}")
        self.objective, self.scale, self.every, self.through_denoiser = objective, float(scale), every, through_denoiser

    def __call__(self, index: int, x_t: torch.Tensor, denoise: Callable[[torch.Tensor], torch.Tensor],
                 alpha_bar: float, decode: Callable[[torch.Tensor], torch.Tensor] = from_model_range,
                 clip: float | None = 1.0) -> torch.Tensor:
        """The guided clean-sample prediction at x_t (b, ...); decode: clean samples -> images (b, 3, H, W) in
        [0, 1] (through the VAE for latents); clip: the range the scheduler clips x0 to, None for latents."""
        if self.scale == 0 or index % self.every:
            with torch.no_grad():
                return denoise(x_t)
        with torch.enable_grad():
            if self.through_denoiser:
                leaf = x_t.detach().requires_grad_(True)
                x0 = denoise(leaf)
            else:
                with torch.no_grad():
                    x0 = denoise(x_t)
                leaf = x0 = x0.detach().requires_grad_(True)
            value = self.objective(decode(x0)).float().sum()
            (grad,) = torch.autograd.grad(value, leaf)
        if not self.through_denoiser:
            grad = grad / math.sqrt(alpha_bar)
        guided = x0.detach() + self.scale * (1 - alpha_bar) / math.sqrt(alpha_bar) * grad.to(x0.dtype)
        # clamped to the image range: a DDIM step clips x0 but derives its noise from the unclipped one, which
        # would turn a large guided shift into a step against the gradient
        return guided if clip is None else guided.clamp(-clip, clip)
