"""CUDA runs of the same code paths; deselected by default (`make test-gpu` runs them on a GPU machine)."""

import numpy as np
import pytest
import torch

from voxelflow.encoders.backbones import OpenClipBackbone
from voxelflow.encoders.features import extract_features, load_features
from voxelflow.encoders.ridge import RidgeEncoder
from voxelflow.encoders.transformer import TransformerConfig, TransformerEncoder
from voxelflow.nsd_layout import NSDLayout

pytestmark = [pytest.mark.gpu, pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")]


def test_ridge_on_cuda_matches_the_cpu(encoding_data):
    data = encoding_data
    X, Y = np.vstack([data.pooled] * 3), np.vstack([data.responses.responses] * 3)  # n >= p: the Gram solver
    cpu = RidgeEncoder(device="cpu").fit(X, Y)
    gpu = RidgeEncoder(device="cuda").fit(X, Y)
    # the same alpha wherever the CV scores of two alphas are not tied to float precision (observed on an H200: 2 of
    # 1194 voxels picked a neighbouring alpha, with CV R^2 equal to 1e-4), and the same predictions there
    same = gpu.best_alphas_ == cpu.best_alphas_
    assert same.mean() > 0.99
    np.testing.assert_allclose(gpu.cv_scores_, cpu.cv_scores_, atol=1e-3)
    np.testing.assert_allclose(gpu.predict(data.pooled[:10])[:, same], cpu.predict(data.pooled[:10])[:, same],
                               atol=1e-3)


def test_half_precision_features_stay_close_to_float32(mini_root, tmp_path):
    ids, stimuli = np.arange(40), NSDLayout(mini_root).stimuli
    extract_features(OpenClipBackbone("vf-tiny-ViT"), stimuli, ids, tmp_path / "cpu.h5", device="cpu")
    extract_features(OpenClipBackbone("vf-tiny-ViT"), stimuli, ids, tmp_path / "gpu.h5", device="cuda")
    cpu, gpu = load_features(tmp_path / "cpu.h5").pooled, load_features(tmp_path / "gpu.h5").pooled
    assert np.corrcoef(cpu.ravel(), gpu.ravel())[0, 1] > 0.999


@pytest.mark.parametrize("spec", [
    {"type": "timm", "model": "vit_base_patch14_reg4_dinov2", "layer": "all", "tokens": {"grid": 2},
     "model_args": {"depth": 2, "embed_dim": 32, "num_heads": 2, "img_size": 56}},
    {"type": "huggingface", "layer": "all",
     "config": {"model_type": "dinov2", "hidden_size": 32, "num_hidden_layers": 2, "num_attention_heads": 2,
                "intermediate_size": 64, "image_size": 56, "patch_size": 14}},
    {"type": "torchvision", "model": "resnet18", "layer": ["layer2", "layer4"]},
], ids=["timm", "huggingface", "torchvision"])
def test_library_backbones_in_half_precision_match_float32_in_every_layer(mini_root, tmp_path, spec):
    from voxelflow.encoders.backbones import build_backbone
    from voxelflow.encoders.features import feature_layers
    from voxelflow.encoders.token_reduction import TokenReduction

    ids, stimuli = np.arange(40), NSDLayout(mini_root).stimuli
    reduction = TokenReduction.from_spec(spec.get("tokens"), "test")
    for device in ("cpu", "cuda"):
        extract_features(build_backbone("b", spec), stimuli, ids, tmp_path / f"{device}.h5", device=device,
                         reduction=reduction, fit_image_ids=ids)
    for layer in feature_layers(tmp_path / "cpu.h5"):
        cpu, gpu = (load_features(tmp_path / f"{device}.h5", tokens=True, layer=layer).tokens
                    for device in ("cpu", "cuda"))
        assert np.corrcoef(cpu.ravel(), gpu.ravel())[0, 1] > 0.99, layer


def test_transformer_trains_on_cuda(encoding_data):
    data = encoding_data
    encoder = TransformerEncoder(TransformerConfig(d_model=64, epochs=5), device="cuda")
    encoder.fit(data.tokens[data.train], data.responses.responses[data.train], data.responses.rois)
    predicted = encoder.predict(data.tokens[data.test])
    assert np.isfinite(predicted).all() and predicted.shape == data.responses.responses[data.test].shape


def test_brain_to_clip_decoder_trains_with_bfloat16_autocast_on_cuda(encoding_data):
    from voxelflow.decoders.contrastive import ContrastiveConfig, ContrastiveDecoder

    d = encoding_data
    config = ContrastiveConfig(hidden=256, n_blocks=1, projector_hidden=256, epochs=30, lr=1e-3)
    decoder = ContrastiveDecoder(config, device="cuda").fit(d.responses.responses[d.train], d.pooled[d.train])
    result = decoder.retrieve(d.responses.responses[d.test], d.pooled[d.test])
    assert result["brain_to_image"] > 8 * result["chance"]  # the CPU test's bar


def test_guided_stable_diffusion_in_half_precision_on_cuda(tmp_path):
    from tiny_pipelines import write_tiny_stable_diffusion

    from voxelflow.synthesis.guidance import BrainGuidance
    from voxelflow.synthesis.stable_diffusion import StableDiffusionGenerator

    def redness(images):
        return images[:, 0].mean((1, 2)) - images[:, 1:].mean((1, 2, 3))

    generator = StableDiffusionGenerator.load(write_tiny_stable_diffusion(tmp_path), device="cuda",
                                              gradient_checkpointing=True)
    assert generator.unet.dtype == torch.float16
    plain = torch.from_numpy(generator.sample(4, n_steps=6, seed=0)).permute(0, 3, 1, 2)
    guided = generator.sample(4, n_steps=6, seed=0, guide=BrainGuidance(redness, 300.0, through_denoiser=True))
    assert np.isfinite(guided).all()
    assert (redness(torch.from_numpy(guided).permute(0, 3, 1, 2)) > redness(plain) + 0.02).all()


def test_shared_decoder_pretrains_and_starts_a_new_subject_on_cuda(encoding_data):
    from voxelflow.decoders.contrastive import ContrastiveConfig, ContrastiveDecoder

    data = encoding_data
    X, Y, train = data.responses.responses, data.pooled, data.train
    halves = {"subjA": X[:, ::2], "subjB": X[:, 1::2]}  # two "subjects": the voxels split in two grids
    config = ContrastiveConfig(hidden=256, n_blocks=1, projector_hidden=256, epochs=30, lr=1e-3)
    shared = ContrastiveDecoder(config, device="cuda").fit_subjects({"subjA": (halves["subjA"][train], Y[train])})
    new = ContrastiveDecoder(config, device="cuda").fit(halves["subjB"][train][:100], Y[train][:100], "subjB", shared)
    result = new.retrieve(halves["subjB"][data.test], Y[data.test])
    assert new.device.type == "cuda" and result["brain_to_image"] > 5 * result["chance"]
