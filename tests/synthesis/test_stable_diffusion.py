"""The real-run synthesis generator on a tiny random Stable Diffusion folder; the x0 conversions it relies on."""

import numpy as np
import pytest
import torch
from tiny_pipelines import write_tiny_stable_diffusion

from voxelflow.decoders.sampling import x0_from_model_output
from voxelflow.errors import InputError
from voxelflow.synthesis.guidance import BrainGuidance
from voxelflow.synthesis.stable_diffusion import StableDiffusionGenerator
from voxelflow.toolkit.registry import load_generator


def redness(images: torch.Tensor) -> torch.Tensor:
    return images[:, 0].mean((1, 2)) - images[:, 1:].mean((1, 2, 3))


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    return write_tiny_stable_diffusion(tmp_path_factory.mktemp("sd"))


@pytest.mark.parametrize("prediction_type", ["epsilon", "v_prediction", "sample"])
def test_x0_from_model_output_inverts_the_forward_process(prediction_type):
    x0, eps = torch.randn(2, 4, 3, 3), torch.randn(2, 4, 3, 3)
    alpha_bar = 0.3
    x_t = alpha_bar ** 0.5 * x0 + (1 - alpha_bar) ** 0.5 * eps
    output = {"epsilon": eps, "v_prediction": alpha_bar ** 0.5 * eps - (1 - alpha_bar) ** 0.5 * x0,
              "sample": x0}[prediction_type]
    assert torch.allclose(x0_from_model_output(output, x_t, alpha_bar, prediction_type), x0, atol=1e-5)
    with pytest.raises(InputError, match="unknown scheduler prediction_type 'flow'"):
        x0_from_model_output(output, x_t, alpha_bar, "flow")


def test_stable_diffusion_folder_samples_reproducibly_at_its_resolution(folder):
    generator = load_generator(folder, device="cpu")
    assert isinstance(generator, StableDiffusionGenerator) and generator.image_size == 16
    a = generator.sample(3, n_steps=4, seed=1, batch_size=2)
    assert a.shape == (3, 16, 16, 3) and a.dtype == np.float32 and 0 <= a.min() and a.max() <= 1
    assert np.allclose(a, generator.sample(3, n_steps=4, seed=1), atol=1e-5)  # batches of 2 vs 4: float noise
    assert not np.allclose(a, generator.sample(3, n_steps=4, seed=2))


@pytest.mark.parametrize("through_denoiser", [False, True])
def test_brain_guidance_through_the_vae_raises_the_objective(folder, through_denoiser):
    generator = StableDiffusionGenerator.load(folder, device="cpu", gradient_checkpointing=through_denoiser)
    plain = torch.from_numpy(generator.sample(4, n_steps=6, seed=0)).permute(0, 3, 1, 2)
    guide = BrainGuidance(redness, 300.0, through_denoiser=through_denoiser)
    guided = torch.from_numpy(generator.sample(4, n_steps=6, seed=0, guide=guide)).permute(0, 3, 1, 2)
    assert (redness(guided) > redness(plain) + 0.02).all(), (redness(guided), redness(plain))


def test_prompted_sampling_matches_the_diffusers_pipeline_with_classifier_free_guidance(folder):
    """The captions' text-conditioned synthesis: our loop over x0 predictions against StableDiffusionPipeline's
    own epsilon-space guidance, from the same starting latents."""
    from diffusers import StableDiffusionPipeline

    generator = StableDiffusionGenerator.load(folder, device="cpu")
    prompts = ["a face", "a red house"]
    ours = generator.sample(2, n_steps=5, seed=3, prompts=prompts, text_guidance=7.5)
    pipe = StableDiffusionPipeline.from_pretrained(folder, local_files_only=True, safety_checker=None)
    latents = torch.randn((2, 4, 8, 8), generator=torch.Generator().manual_seed(3))
    theirs = pipe(prompts, num_inference_steps=5, guidance_scale=7.5, latents=latents, output_type="np").images
    assert theirs.shape == ours.shape and np.abs(theirs - ours).max() < 1e-4
    # weight 0 keeps only the empty prompt's prediction: the unprompted images; other prompts, other images
    unprompted = generator.sample(2, n_steps=5, seed=3)
    assert np.allclose(generator.sample(2, n_steps=5, seed=3, prompts=prompts, text_guidance=0.0), unprompted,
                       atol=1e-5)
    assert np.abs(ours - unprompted).max() > 0.05
    with pytest.raises(InputError, match="3 prompts for 2 images"):
        generator.sample(2, n_steps=2, prompts=prompts + ["x"])


def test_a_folder_without_unet_vae_and_text_encoder_is_refused(tmp_path):
    (tmp_path / "model_index.json").write_text('{"unet": ["diffusers", "UNet2DConditionModel"]}')
    with pytest.raises(InputError, match="not a diffusers Stable Diffusion folder"):
        StableDiffusionGenerator.load(tmp_path, device="cpu")
