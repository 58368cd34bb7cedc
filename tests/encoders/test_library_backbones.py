"""timm models and Hugging Face vision towers as backbones: the same tokens as calling the library directly, the
model's own preprocessing, several layers from one pass, local weights only, one clear error per bad setting."""

import pytest
import torch

from voxelflow.encoders.backbones import ImagePreprocess, build_backbone
from voxelflow.encoders.library_backbones import HuggingFaceBackbone, TimmBackbone
from voxelflow.errors import InputError

TINY_DINO = {"depth": 3, "embed_dim": 32, "num_heads": 2, "img_size": 56}


@pytest.fixture(scope="module")
def images():
    return torch.rand(2, 3, 56, 56, generator=torch.Generator().manual_seed(0))


def test_timm_dinov2_with_registers_gives_class_and_patch_tokens_of_each_block_as_timm_does(images, tmp_path):
    import timm

    torch.manual_seed(3)
    trained = timm.create_model("vit_base_patch14_reg4_dinov2", **TINY_DINO).eval()
    torch.save(trained.state_dict(), tmp_path / "dino.pth")
    backbone = build_backbone("dino", {"type": "timm", "model": "vit_base_patch14_reg4_dinov2", "layer": [0, -1],
                                       "pretrained": str(tmp_path / "dino.pth"), "model_args": TINY_DINO})
    assert backbone.layers == ["blocks.0", "blocks.2"] and backbone.n_prefix_tokens == 1
    with torch.no_grad():
        pooled, layers = backbone.forward_layers(images)
        x = (images - torch.tensor(timm.data.IMAGENET_DEFAULT_MEAN).view(1, 3, 1, 1)) / \
            torch.tensor(timm.data.IMAGENET_DEFAULT_STD).view(1, 3, 1, 1)  # 56 px in, crop_pct 1: no resize
        blocks = [x := trained.patch_embed(x)]
        x = trained._pos_embed(x)
        for block in trained.blocks:
            x = block(x)
            blocks.append(x)
        reference_pooled = trained.forward_head(trained.norm(x), pre_logits=True)
    assert layers["blocks.0"].shape == (2, 1 + 16, 32)  # 4 x 4 patches; the 4 registers dropped
    torch.testing.assert_close(layers["blocks.0"], torch.cat([blocks[1][:, :1], blocks[1][:, 5:]], dim=1))
    torch.testing.assert_close(layers["blocks.2"], torch.cat([blocks[3][:, :1], blocks[3][:, 5:]], dim=1))
    torch.testing.assert_close(pooled, reference_pooled)
    assert torch.equal(backbone(images)[1], layers["blocks.2"])  # the primary layer is the last listed


def test_timm_preprocessing_follows_the_models_data_config():
    backbone = TimmBackbone("resnet18", layer="all")
    assert backbone.layers == ["act1", "layer1", "layer2", "layer3", "layer4"]
    pre = backbone.preprocess  # timm's resnet18 data config: 224 px, crop_pct 0.95, bicubic, ImageNet statistics
    assert (pre.resize, pre.crop, pre.interpolation, pre.square) == (int(224 / 0.95), 224, "bicubic", False)
    pooled, layers = backbone.forward_layers(torch.rand(1, 3, 300, 400))
    assert layers["layer4"].shape == (1, 7 * 7, 512) and pooled.shape == (1, 512)


def test_a_cnn_stage_gives_positions_as_tokens(images):
    import timm

    backbone = TimmBackbone("resnet18", layer=2, seed=1)
    torch.manual_seed(1)
    reference = timm.create_model("resnet18").eval()
    with torch.no_grad():
        tokens = backbone(images)[1]
        feature_map = reference.forward_intermediates(backbone.preprocess(images), indices=[2],
                                                      intermediates_only=True)[0]
    torch.testing.assert_close(tokens, feature_map.flatten(2).transpose(1, 2))


def _save_hf(folder, config, processor):
    from transformers import AutoModel, CLIPVisionModelWithProjection

    torch.manual_seed(5)
    clip = config.model_type == "clip_vision_model"
    model = (CLIPVisionModelWithProjection(config) if clip else AutoModel.from_config(config)).eval()
    model.save_pretrained(folder)
    processor.save_pretrained(folder)
    return model


def test_huggingface_dinov2_folder_gives_its_hidden_states_and_pooler_output(images, tmp_path):
    from transformers import BitImageProcessor, Dinov2Config

    config = Dinov2Config(hidden_size=32, num_hidden_layers=3, num_attention_heads=2, intermediate_size=64,
                          image_size=56, patch_size=14)
    processor = BitImageProcessor(size={"shortest_edge": 64}, crop_size={"height": 56, "width": 56},
                                  image_mean=[0.485, 0.456, 0.406], image_std=[0.229, 0.224, 0.225])
    model = _save_hf(tmp_path, config, processor)
    backbone = build_backbone("hf", {"type": "huggingface", "path": str(tmp_path), "layer": "all"})
    assert backbone.layers == ["blocks.0", "blocks.1", "blocks.2"]
    assert (backbone.preprocess.resize, backbone.preprocess.crop) == (64, 56)
    batch = torch.rand(2, 3, 56, 56)
    with torch.no_grad():
        pooled, layers = backbone.forward_layers(batch)
        reference = model(pixel_values=backbone.preprocess(batch), output_hidden_states=True)
    for i in range(3):
        torch.testing.assert_close(layers[f"blocks.{i}"], reference.hidden_states[i + 1])
    torch.testing.assert_close(pooled, reference.pooler_output)


def test_huggingface_clip_tower_pools_to_the_projected_image_embedding(tmp_path):
    from transformers import CLIPImageProcessor, CLIPVisionConfig

    config = CLIPVisionConfig(hidden_size=32, num_hidden_layers=2, num_attention_heads=2, intermediate_size=64,
                              image_size=32, patch_size=8, projection_dim=16)
    model = _save_hf(tmp_path, config, CLIPImageProcessor(size={"shortest_edge": 32},
                                                          crop_size={"height": 32, "width": 32}))
    backbone = HuggingFaceBackbone(str(tmp_path), layer=0)
    batch = torch.rand(2, 3, 32, 32)
    with torch.no_grad():
        pooled, tokens = backbone(batch)
        reference = model(pixel_values=backbone.preprocess(batch), output_hidden_states=True)
    torch.testing.assert_close(pooled, reference.image_embeds)
    torch.testing.assert_close(tokens, reference.hidden_states[1])
    assert pooled.shape == (2, 16) and tokens.shape == (2, 1 + 16, 32)


def test_huggingface_random_model_from_config_is_seeded_and_differentiable():
    spec = {"type": "huggingface", "config": {"model_type": "dinov2", "hidden_size": 32, "num_hidden_layers": 2,
                                                 "num_attention_heads": 2, "intermediate_size": 64,
                                                 "image_size": 28, "patch_size": 14}}
    pixels = torch.rand(1, 3, 40, 40, requires_grad=True)
    pooled, tokens = build_backbone("a", spec)(pixels)
    with torch.no_grad():
        again = build_backbone("b", spec)(pixels)[0]
    torch.testing.assert_close(pooled, again)
    (pooled ** 2).sum().backward()  # (a plain sum of a layer norm's output has no gradient)
    assert tokens.shape == (1, 1 + 4, 32) and pixels.grad.abs().sum() > 0


def test_bad_weights_folders_and_layers_are_named(tmp_path):
    from transformers import BitImageProcessor, CLIPImageProcessor, CLIPVisionConfig, Dinov2Config

    with pytest.raises(InputError, match=r"weights .*absent\.pth do not exist"):
        TimmBackbone("vit_small_patch16_224", pretrained=str(tmp_path / "absent.pth"))
    torch.save(torch.nn.Linear(2, 2).state_dict(), tmp_path / "linear.pth")
    with pytest.raises(InputError, match=r"weights .*linear\.pth do not fit timm resnet18"):
        TimmBackbone("resnet18", pretrained=str(tmp_path / "linear.pth"))
    with pytest.raises(InputError, match="unknown timm model 'vit_huge_nonsense'"):
        TimmBackbone("vit_huge_nonsense")
    with pytest.raises(InputError, match=r"timm resnet18: layer 9 does not exist: it has 5 layers"):
        TimmBackbone("resnet18", layer=[1, 9])
    with pytest.raises(InputError, match=r"backbone folder .*empty has no config.json"):
        HuggingFaceBackbone(str(tmp_path / "empty"))
    _save_hf(tmp_path / "clip", CLIPVisionConfig(hidden_size=32, num_hidden_layers=1, num_attention_heads=2,
                                                 intermediate_size=64, image_size=32, patch_size=8),
             CLIPImageProcessor())
    dino_config = (tmp_path / "dino").mkdir() or Dinov2Config(hidden_size=32, num_hidden_layers=1,
                                                               num_attention_heads=2, intermediate_size=64)
    dino_config.save_pretrained(tmp_path / "dino")
    BitImageProcessor().save_pretrained(tmp_path / "dino")
    (tmp_path / "dino" / "model.safetensors").write_bytes((tmp_path / "clip" / "model.safetensors").read_bytes())
    with pytest.raises(InputError, match=r"weights in .*dino do not fit Dinov2Model: \d+ weights missing"):
        HuggingFaceBackbone(str(tmp_path / "dino"))


def test_preprocessing_resizes_the_shorter_side_then_crops_the_centre():
    pre = ImagePreprocess(resize=4, crop=2, mean=(0, 0, 0), std=(1, 1, 1), interpolation="bilinear")
    image = torch.arange(8 * 16, dtype=torch.float32).view(1, 1, 8, 16).expand(1, 3, 8, 16)
    out = pre(image)
    assert out.shape == (1, 3, 2, 2)
    resized = torch.nn.functional.interpolate(image, size=(4, 8), mode="bilinear", antialias=True)
    torch.testing.assert_close(out, resized[..., 1:3, 3:5])
