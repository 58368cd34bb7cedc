"""The denoising loop shared by every generator: x0 predictions handed to a diffusers scheduler's `step`.

Each generator supplies `x0_at(x_t, t)`, its prediction of the clean sample (pixels or latents), and a
scheduler configured with `prediction_type="sample"`, so what `step` receives is the `pred_original_sample`.
A `guide` (brain guidance, `voxelflow.synthesis.guidance.BrainGuidance`) may replace that prediction at
any step; `decode` maps clean samples to images in [0, 1] for it, and `clip` is the range the scheduler
clips x0 to (pixel space) or None (latents).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from functools import partial

import torch

from voxelflow.errors import InputError
from voxelflow.toolkit.tensor_images import from_model_range


def x0_from_model_output(output: torch.Tensor, x_t: torch.Tensor, alpha_bar: float, prediction_type: str
                         ) -> torch.Tensor:
    """A denoiser's output (epsilon, v or sample prediction) at x_t -> the predicted clean sample (DDIM eq. 12)."""
    a, s = math.sqrt(alpha_bar), math.sqrt(1 - alpha_bar)
    if prediction_type == "epsilon":
        return (x_t - s * output) / a
    if prediction_type == "v_prediction":
        return a * x_t - s * output
    if prediction_type == "sample":
        return output
    raise InputError(f"unknown scheduler prediction_type {prediction_type!r} (epsilon, v_prediction or sample)")


def denoising_loop(scheduler, x: torch.Tensor, timesteps: torch.Tensor,
                   x0_at: Callable[[torch.Tensor, torch.Tensor], torch.Tensor], guide: Callable | None = None,
                   decode: Callable[[torch.Tensor], torch.Tensor] = from_model_range,
                   clip: float | None = 1.0) -> torch.Tensor:
    """Run `scheduler` (prediction_type "sample") from x over `timesteps`; returns the final clean sample.

    guide(index, x_t, denoise, alpha_bar, decode=..., clip=...) -> x0, when given, replaces `x0_at` at
    every step (it decides itself which steps it changes).
    """
    for index, t in enumerate(timesteps):
        if guide is None:
            x0 = x0_at(x, t)
        else:
            x0 = guide(index, x, partial(x0_at, t=t), float(scheduler.alphas_cumprod[t]), decode=decode, clip=clip)
        x = scheduler.step(x0, t, x).prev_sample
    return x
