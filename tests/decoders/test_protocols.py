"""Metric protocols: each reproduces its codebase's image chain, checked against the chain written out by hand."""

import numpy as np
import open_clip
import pandas as pd
import pytest
import torch
import torch.nn.functional as F
from PIL import Image
from skimage.color import rgb2gray
from skimage.metrics import structural_similarity
from torchvision import models
from torchvision.models.feature_extraction import create_feature_extractor

from voxelflow.decoders import metric_networks
from voxelflow.decoders.evaluation import candidate_sets, protocol_summary, reconstruction_table, stored_size
from voxelflow.decoders.protocols import PROTOCOLS, get_protocol
from voxelflow.decoding_metrics import two_way_identification
from voxelflow.encoders.backbones import create_clip
from voxelflow.errors import InputError


def _flat(images):
    return images.reshape(len(images), -1)


def _ssim_2d(a, b):
    return np.mean([structural_similarity(rgb2gray(x), rgb2gray(y), gaussian_weights=True, sigma=1.5,
                                          use_sample_covariance=False, data_range=1.0) for x, y in zip(a, b)])


def _pixcorr(a, b):
    return np.mean([np.corrcoef(x.ravel(), y.ravel())[0, 1] for x, y in zip(a, b)])


@pytest.fixture(scope="module")
def images():
    """Three 425-px 'stimuli' with structure at several scales, and 64-px 'reconstructions' of them."""
    rng = np.random.default_rng(0)
    coarse = rng.random((3, 3, 17, 17)).astype(np.float32)
    truth = F.interpolate(torch.from_numpy(coarse), size=(425, 425), mode="bicubic", align_corners=False)
    truth = (truth + 0.15 * torch.from_numpy(rng.standard_normal((3, 3, 425, 425)).astype(np.float32))).clamp(0, 1)
    recon = F.interpolate(truth, size=(64, 64), mode="bilinear", antialias=True)
    recon = (recon + 0.1 * torch.from_numpy(rng.standard_normal((3, 3, 64, 64)).astype(np.float32))).clamp(0, 1)
    return truth.permute(0, 2, 3, 1).numpy(), recon.permute(0, 2, 3, 1).numpy()


def _table(name, truth, recon, weights=None, **sets):
    protocol = PROTOCOLS[name]
    candidates = candidate_sets(recon, sets.get("blurry"), stored_size(protocol, truth.shape[1]),
                                protocol.stored_resize, sets.get("best"), sets.get("n_samples", 1))
    return reconstruction_table(truth, candidates, _flat, "pixels", weights or {}, "cpu", protocol)


def test_mindeye_256_px_chain_by_hand(images):
    """MindEye stores both at 256 px (tensor Resize, no antialiasing) and upsamples to 425 for PixCorr and SSIM."""
    truth, recon = images

    def resized(x, size):
        return F.interpolate(torch.from_numpy(x).permute(0, 3, 1, 2), size=(size, size), mode="bilinear",
                             align_corners=False, antialias=False).clamp(0, 1).permute(0, 2, 3, 1).numpy()

    t425, r425 = resized(resized(truth, 256), 425), resized(resized(recon, 256), 425)
    row = _table("mindeye2", truth, recon).iloc[0]
    assert row["SSIM"] == pytest.approx(_ssim_2d(t425, r425), abs=1e-5)
    assert row["PixCorr"] == pytest.approx(_pixcorr(t425, r425), abs=1e-5)
    native = _table("voxelflow", truth, recon).iloc[0]
    # the chain moves SSIM by this much on these images (both sides computed independently above and below)
    change = _ssim_2d(t425, r425) - native["SSIM"]
    assert row["SSIM"] - native["SSIM"] == pytest.approx(change, abs=1e-5) and abs(change) > 0.01
    assert _table("mindeye1", truth, recon).iloc[0]["SSIM"] == pytest.approx(row["SSIM"])  # same image chain


def test_brain_diffuser_png_bicubic_and_column_ssim_by_hand(images):
    """Brain-Diffuser: 8-bit PNGs resized to 425 by PIL (bicubic); SSIM under scikit-image 0.17.2 with
    multichannel=True on gray images, i.e. the mean over columns of 1-D SSIMs."""
    truth, recon = images
    png = [Image.fromarray(np.round(r * 255).astype(np.uint8)) for r in recon]
    r425 = np.stack([np.asarray(p.resize((425, 425)), dtype=np.float64) / 255 for p in png])  # PIL's default
    t425 = np.round(truth * 255) / 255
    by_hand = np.mean([np.mean([structural_similarity(rgb2gray(t)[:, c], rgb2gray(r)[:, c], gaussian_weights=True,
                                                      sigma=1.5, use_sample_covariance=False, data_range=1.0)
                                for c in range(425)]) for t, r in zip(t425, r425)])
    row = _table("brain-diffuser", truth, recon).iloc[0]
    assert row["SSIM"] == pytest.approx(by_hand, abs=1e-4)
    assert row["PixCorr"] == pytest.approx(_pixcorr(t425, r425), abs=1e-4)


@pytest.mark.filterwarnings("ignore:NOTE. The nodes obtained by tracing")
def test_brain_diffuser_networks_see_224_px_pil_bilinear(images, tmp_path):
    truth, recon = images
    torch.manual_seed(0)
    alexnet = models.alexnet().eval()
    torch.save(alexnet.state_dict(), tmp_path / "alexnet.pth")
    extractor = create_feature_extractor(alexnet, ["features.4"])
    mean = torch.tensor([0.485, 0.456, 0.406]).view(1, 3, 1, 1)
    std = torch.tensor([0.229, 0.224, 0.225]).view(1, 3, 1, 1)

    def features(x):  # torchvision's resize of a PIL image to (224, 224), to_tensor, normalise
        pil = [Image.fromarray(np.round(i * 255).astype(np.uint8)).resize((224, 224), Image.BILINEAR) for i in x]
        batch = torch.from_numpy(np.stack([np.asarray(p, dtype=np.float32) / 255 for p in pil])).permute(0, 3, 1, 2)
        with torch.no_grad():
            return extractor((batch - mean) / std)["features.4"].flatten(1).numpy()

    bd_recon = np.stack([np.asarray(Image.fromarray(np.round(r * 255).astype(np.uint8)).resize((425, 425)),
                                    dtype=np.float32) / 255 for r in recon])
    row = _table("brain-diffuser", truth, recon, {"alexnet": str(tmp_path / "alexnet.pth")}).iloc[0]
    assert row["AlexNet(2)"] == pytest.approx(two_way_identification(features(truth), features(bd_recon)), abs=1e-6)


def test_each_protocol_marks_the_row_its_paper_reports(images):
    truth, recon = images
    sets = {"blurry": recon[:, ::4, ::4], "best": recon[::-1].copy(), "n_samples": 4}
    headline = {name: _table(name, truth, recon, **sets).query("headline")["images"].tolist() for name in PROTOCOLS}
    assert headline == {"voxelflow": ["reconstruction"], "mindeye1": ["best of 4"],
                        "mindeye2": ["blend 0.75/0.25"], "brain-diffuser": ["reconstruction"]}
    # MindEye2 blends at 256 px, after resizing each set
    me2 = candidate_sets(recon, recon[:, ::4, ::4], 256, "no-antialias")
    assert np.allclose(me2["blend 0.75/0.25"], 0.75 * me2["reconstruction"] + 0.25 * me2["low-level"])


@pytest.mark.filterwarnings("ignore::torch.jit.TracerWarning", "ignore:`torch.jit.trace:FutureWarning")
def test_the_papers_clip_column_reads_a_local_clip_and_feeds_it_openai_normalised_pixels(images, tmp_path,
                                                                                          monkeypatch):
    monkeypatch.setattr(metric_networks, "CLIP_ARCHITECTURE", "vf-tiny-ViT")  # ViT-L/14 in real runs
    clip = create_clip("vf-tiny-ViT", seed=1).eval()
    torch.save(clip.state_dict(), tmp_path / "clip.pt")
    truth, recon = images
    small = truth[:, ::5, ::5][:, :64, :64].copy()
    sizes = {"clip": 64}  # the tiny ViT's input side; the protocols give ViT-L/14 224 px
    scores = metric_networks.network_scores(truth, {"same": truth.copy(), "other": small},
                                            {"clip": str(tmp_path / "clip.pt")}, "cpu", sizes)
    assert scores["same"]["CLIP"] == 1.0

    def embed(x):
        t = F.interpolate(torch.from_numpy(x).permute(0, 3, 1, 2), size=(64, 64), mode="bilinear",
                          antialias=True, align_corners=False)
        mean, std = (torch.tensor(s).view(1, 3, 1, 1) for s in metric_networks.OPENAI_CLIP_STATS)
        with torch.no_grad():
            return clip.encode_image((t - mean) / std).numpy()

    assert scores["other"]["CLIP"] == pytest.approx(two_way_identification(embed(truth), embed(small)))
    # OpenAI ships its CLIP as a TorchScript archive: read as the same weights
    text = open_clip.get_tokenizer("vf-tiny-ViT")(["a photo"])
    traced = torch.jit.trace(clip, (torch.rand(1, 3, 64, 64), text), strict=False, check_trace=False)
    traced.save(str(tmp_path / "openai_style.pt"))
    from_archive = metric_networks.network_scores(truth, {"other": small}, {"clip": str(tmp_path / "openai_style.pt")},
                                                  "cpu", sizes)
    assert from_archive["other"]["CLIP"] == scores["other"]["CLIP"]
    with pytest.raises(InputError, match="decoders.metric_networks.clip"):
        torch.save(models.alexnet().state_dict(), tmp_path / "alexnet.pth")
        metric_networks.network_scores(truth, {"same": truth}, {"clip": str(tmp_path / "alexnet.pth")}, "cpu", sizes)


def test_summary_maps_retrieval_directions_and_averages_the_papers_subjects():
    retrieval = pd.DataFrame({"subject": ["subj01", "subj02", "subj03"], "brain_to_image": [0.2, 0.4, 0.9],
                              "image_to_brain": [0.6, 0.8, 0.1], "chance": 0.01, "n_candidates": 100})
    metrics = pd.DataFrame({"subject": ["subj01", "subj01", "subj02", "subj02", "subj03", "subj03"],
                            "protocol": ["voxelflow", "mindeye2"] * 3, "images": "reconstruction",
                            "headline": True, "PixCorr": [0.1, 0.2, 0.3, 0.4, 0.5, 0.6]})
    me2, averaged = protocol_summary(PROTOCOLS["mindeye2"], retrieval, metrics)
    assert averaged == ["subj01", "subj02"]  # subj03 is not among the papers' subjects 1, 2, 5, 7
    mean = me2.set_index("subject").loc["mean"]
    assert mean["image retrieval [image->brain]"] == pytest.approx(0.7)  # MindEye's FwdRetrieval direction
    assert mean["brain retrieval [brain->image]"] == pytest.approx(0.3)
    assert mean["PixCorr"] == pytest.approx(0.3) and mean["n_candidates"] == 100
    ours, averaged = protocol_summary(PROTOCOLS["voxelflow"], retrieval, metrics)
    assert averaged == ["subj01", "subj02", "subj03"]
    assert ours.set_index("subject").loc["mean", "brain->image retrieval"] == pytest.approx(0.5)
    bd, _ = protocol_summary(PROTOCOLS["brain-diffuser"], retrieval, None)
    assert list(bd.columns) == ["subject"]  # Brain-Diffuser reports no retrieval


def test_captions_say_when_the_test_set_or_subjects_differ_from_the_paper():
    caption = get_protocol("mindeye2").describe(100, "10", ["subj01", "subj02"], 1)
    assert "100 test images" in caption and "the paper used 1000" in caption
    assert "missing subj05, subj07" in caption and "blend 0.75/0.25" in caption
    assert "the paper used" not in get_protocol("mindeye1").describe(982, "37", ["subj01"], 16)
    assert "best of 16 samples" in get_protocol("mindeye1").describe(982, "37", ["subj01"], 16)
    with pytest.raises(InputError, match="unknown protocol 'mindeye3'"):
        get_protocol("mindeye3")
