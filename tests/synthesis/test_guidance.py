"""Brain guidance in the sampling loop, and synthesis targets as voxel weights."""

import numpy as np
import pytest
import torch

from voxelflow.atlases.roi_masks import RoiSet
from voxelflow.decoders.generator import GeneratorConfig, ImageGenerator
from voxelflow.encoders.backbones import GaborBackbone
from voxelflow.encoders.ridge import RidgeEncoder
from voxelflow.errors import InputError
from voxelflow.synthesis.guidance import BrainGuidance, encoder_objective
from voxelflow.synthesis.targets import mask_weights, target_weights


@pytest.fixture(scope="module")
def generator():
    rng = np.random.default_rng(0)
    images = rng.integers(0, 255, (16, 16, 16, 3), dtype=np.uint8)
    # trained a little, so that its x0 prediction follows x_t (a random UNet ignores the guided x_t)
    return ImageGenerator(GeneratorConfig(image_size=16, channels=(8, 16), steps=150, batch_size=8, lr=3e-3),
                          device="cpu").fit(images, rng.normal(size=(16, 4)))


def redness(images: torch.Tensor) -> torch.Tensor:
    return images[:, 0].mean((1, 2)) - images[:, 1:].mean((1, 2, 3))


@pytest.mark.parametrize("through_denoiser", [False, True])
def test_guidance_raises_the_objective_and_scale_zero_is_plain_sampling(generator, through_denoiser):
    embeddings = np.random.default_rng(1).normal(size=(4, 4)).astype(np.float32)
    plain = generator.generate(embeddings, n_steps=10, seed=2)
    unguided = generator.generate(embeddings, n_steps=10, seed=2, guide=BrainGuidance(redness, 0.0))
    assert np.array_equal(plain, unguided)
    guided = generator.generate(embeddings, n_steps=10, seed=2,
                                guide=BrainGuidance(redness, 1e4, through_denoiser=through_denoiser))
    red = redness(torch.from_numpy(guided).permute(0, 3, 1, 2)).numpy()
    base = redness(torch.from_numpy(plain).permute(0, 3, 1, 2)).numpy()
    assert (red > base + 0.01).all()  # observed margins 0.015-0.03 (redness's gradient is 0.5 / pixels)


def test_guiding_every_k_steps_moves_less_than_every_step(generator):
    embeddings = np.zeros((2, 4), np.float32)
    score = [redness(torch.from_numpy(generator.generate(embeddings, n_steps=10, seed=0,
                                                         guide=BrainGuidance(redness, 1e4, every=k)))
                     .permute(0, 3, 1, 2)).mean() for k in (1, 3)]
    assert score[0] > score[1]


def test_guided_x0_is_classifier_guidance_folded_into_x0():
    x_t = torch.rand(1, 3, 4, 4) * 1.6 - 0.8  # inside the image range, where the clamp passes gradients
    guided = BrainGuidance(redness, 3.0, through_denoiser=True)(0, x_t, lambda x: x, alpha_bar=0.25)
    grad = torch.full((1, 3, 4, 4), -0.5 / 32)  # d redness / d x for G and B: -0.5 / (2 channels x 16 pixels)
    grad[:, 0] = 0.5 / 16
    assert torch.allclose(guided, (x_t + 3.0 * (1 - 0.25) / 0.5 * grad).clamp(-1, 1))


@pytest.mark.parametrize("scale", [-1.0, float("nan"), float("inf")])
def test_bad_guidance_scale_is_a_clear_error(scale):
    with pytest.raises(InputError, match="guidance scale must be a finite number >= 0"):
        BrainGuidance(redness, scale)


def test_encoder_objective_is_the_weighted_prediction_and_needs_a_gradient_path(encoding_data):
    d = encoding_data
    encoder = RidgeEncoder().fit(d.pooled[d.train], d.responses.responses[d.train])
    weights = target_weights(d.responses.rois, "floc-faces")
    objective = encoder_objective(GaborBackbone(), encoder, weights)
    images = torch.rand(3, 3, 64, 64, requires_grad=True)
    value = objective(images)
    pooled = GaborBackbone()(images.detach())[0].numpy()
    assert np.allclose(value.detach().numpy(), encoder.predict(pooled) @ weights, atol=1e-3)
    value.sum().backward()
    assert images.grad.abs().sum() > 0
    with pytest.raises(InputError, match="no differentiable predict_torch"):
        encoder_objective(GaborBackbone(), object(), weights)


def test_target_weights_for_rois_unions_and_contrasts():
    rois = RoiSet()
    rois.add_family("floc-faces", np.array([1, 1, 2, 0, 0, 0]), {1: "OFA", 2: "FFA-1"})
    rois.add_family("floc-places", np.array([0, 0, 0, 1, 1, 0]), {1: "PPA"})
    assert np.allclose(target_weights(rois, "floc-faces"), [1 / 3, 1 / 3, 1 / 3, 0, 0, 0])
    assert np.allclose(target_weights(rois, "OFA+PPA"), [0.25, 0.25, 0, 0.25, 0.25, 0])
    contrast = target_weights(rois, "floc-faces - floc-places")
    assert np.allclose(contrast, [1 / 3, 1 / 3, 1 / 3, -0.5, -0.5, 0]) and np.isclose(contrast.sum(), 0)
    with pytest.raises(InputError, match="unknown ROI 'EBA'"):
        target_weights(rois, "EBA")
    with pytest.raises(InputError, match="the voxel mask is empty"):
        mask_weights(np.zeros(6, bool), "custom")
