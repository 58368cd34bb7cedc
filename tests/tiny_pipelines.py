"""Tiny, randomly initialised diffusers pipelines written in diffusers' folder layout (tests only):
Stable unCLIP (the decoders' real-run generator) and Stable Diffusion (synthesis's)."""

from __future__ import annotations

import json
from pathlib import Path

import torch

EMBEDDING_DIM = 16


def _text_tower(folder: Path):
    """A CLIP tokenizer over single letters (vocabulary files written to `folder`) and a 1-layer text encoder."""
    from transformers import CLIPTextConfig, CLIPTextModel, CLIPTokenizer

    letters = "abcdefghijklmnopqrstuvwxyz"
    vocab = {"<|startoftext|>": 0, "<|endoftext|>": 1, **{c: i + 2 for i, c in enumerate(letters)},
             **{f"{c}</w>": i + 28 for i, c in enumerate(letters)}}
    (folder / "vocab.json").write_text(json.dumps(vocab))
    (folder / "merges.txt").write_text("#version: 0.2\n")
    tokenizer = CLIPTokenizer(str(folder / "vocab.json"), str(folder / "merges.txt"), model_max_length=16)
    text = CLIPTextModel(CLIPTextConfig(hidden_size=32, intermediate_size=37, num_hidden_layers=1,
                                        num_attention_heads=2, vocab_size=len(vocab), max_position_embeddings=16,
                                        bos_token_id=0, eos_token_id=1, pad_token_id=1))
    return tokenizer, text


def _vae():
    from diffusers import AutoencoderKL

    return AutoencoderKL(in_channels=3, out_channels=3, latent_channels=4, block_out_channels=(16, 32),
                         down_block_types=("DownEncoderBlock2D",) * 2, up_block_types=("UpDecoderBlock2D",) * 2,
                         norm_num_groups=8, sample_size=16)


def _unet(**extra):
    from diffusers import UNet2DConditionModel

    return UNet2DConditionModel(sample_size=8, in_channels=4, out_channels=4, layers_per_block=1,
                                block_out_channels=(16, 32), norm_num_groups=8,
                                down_block_types=("CrossAttnDownBlock2D", "DownBlock2D"),
                                up_block_types=("UpBlock2D", "CrossAttnUpBlock2D"), cross_attention_dim=32,
                                attention_head_dim=8, **extra)


def _sd_scheduler(**extra):
    from diffusers import DDIMScheduler

    return DDIMScheduler(beta_schedule="scaled_linear", beta_start=0.00085, beta_end=0.012, steps_offset=1,
                         clip_sample=False, **extra)


def write_tiny_unclip(folder: Path) -> Path:
    """Save a StableUnCLIPImg2ImgPipeline of tiny random components to `folder` (16-d image embeddings)."""
    from diffusers import DDPMScheduler, StableUnCLIPImg2ImgPipeline
    from diffusers.pipelines.stable_diffusion.stable_unclip_image_normalizer import StableUnCLIPImageNormalizer
    from transformers import CLIPImageProcessor, CLIPVisionConfig, CLIPVisionModelWithProjection

    torch.manual_seed(0)
    folder.mkdir(parents=True, exist_ok=True)
    tokenizer, text = _text_tower(folder)
    vision = CLIPVisionModelWithProjection(CLIPVisionConfig(hidden_size=32, intermediate_size=37, num_hidden_layers=1,
                                                            num_attention_heads=2, image_size=32, patch_size=8,
                                                            projection_dim=EMBEDDING_DIM))
    pipe = StableUnCLIPImg2ImgPipeline(
        feature_extractor=CLIPImageProcessor(crop_size=32, size=32), image_encoder=vision,
        image_normalizer=StableUnCLIPImageNormalizer(embedding_dim=EMBEDDING_DIM),
        image_noising_scheduler=DDPMScheduler(beta_schedule="squaredcos_cap_v2"), tokenizer=tokenizer,
        text_encoder=text, unet=_unet(class_embed_type="projection",
                                      projection_class_embeddings_input_dim=2 * EMBEDDING_DIM),
        scheduler=_sd_scheduler(), vae=_vae())
    pipe.save_pretrained(folder / "pipeline")
    return folder / "pipeline"


def write_tiny_stable_diffusion(folder: Path, prediction_type: str = "epsilon") -> Path:
    """Save a StableDiffusionPipeline of tiny random components (8 x 8 x 4 latents, 16 x 16 images)."""
    from diffusers import StableDiffusionPipeline

    torch.manual_seed(0)
    folder.mkdir(parents=True, exist_ok=True)
    tokenizer, text = _text_tower(folder)
    pipe = StableDiffusionPipeline(vae=_vae(), text_encoder=text, tokenizer=tokenizer, unet=_unet(),
                                   scheduler=_sd_scheduler(prediction_type=prediction_type), safety_checker=None,
                                   feature_extractor=None, requires_safety_checker=False)
    pipe.save_pretrained(folder / "pipeline")
    return folder / "pipeline"
