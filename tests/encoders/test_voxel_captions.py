"""BrainSCUBA's voxel captions: the projection onto natural image embeddings, checked by a known answer on the
mini-NSD (a stand-in captioner naming the nearest category), and a ClipCap-style captioner from a local folder."""

import h5py
import numpy as np
import pandas as pd
import pytest
import torch

from voxelflow.encoders.features import extract_features, load_features
from voxelflow.encoders.ridge import RidgeEncoder
from voxelflow.encoders.stages_backbone import ContrastCategoryBackbone
from voxelflow.encoders.voxel_captions import NearestLabelCaptioner, PrefixCaptioner, category_centroids, \
    project_to_images, voxel_directions, word_counts
from voxelflow.errors import InputError
from voxelflow.mininsd.scenes import CATEGORIES
from voxelflow.mininsd.true_brain import CategoryDetectors, TrueBrain
from voxelflow.nsd_layout import NSDLayout

CATEGORY_ROIS = {"floc-faces": "face", "floc-bodies": "body", "floc-places": "place", "floc-words": "word"}


def test_voxels_are_captioned_with_the_category_their_tuning_was_planted_with(encoding_data):
    data = encoding_data
    responses = data.responses
    path = data.root / "stages-captions.h5"
    extract_features(ContrastCategoryBackbone(), NSDLayout(data.root).stimuli, responses.image_ids, path,
                     device="cpu")
    embeddings = load_features(path, responses.image_ids).pooled
    train = ~responses.is_test
    encoder = RidgeEncoder(device="cpu").fit(embeddings[train], responses.responses[train])
    with h5py.File(data.root / "truth/planted.h5") as f:
        has_category = f["images/has_category"][()][responses.image_ids]
    unit = embeddings[train] / np.linalg.norm(embeddings[train], axis=1, keepdims=True)
    captioner = NearestLabelCaptioner(list(CATEGORIES), category_centroids(embeddings[train], has_category[train],
                                                                           list(CATEGORIES)), origin=unit.mean(0))
    # each voxel's planted preference: its largest category weight times that detector's spread over the images
    brain = TrueBrain.from_truth(str(data.root / "truth/planted.h5"), responses.subject, responses.ijk)
    with h5py.File(NSDLayout(data.root).stimuli) as f:
        detectors = CategoryDetectors(brain.image_size)(f["imgBrick"][np.sort(responses.image_ids[train])])
    preferred = np.array(CATEGORIES)[np.argmax(brain.category_weights * detectors.std(0), axis=1)]
    masks = responses.rois.present(list(CATEGORY_ROIS), responses.subject)
    voxels = np.flatnonzero(np.any(list(masks.values()), axis=0))
    projected = project_to_images(voxel_directions(encoder, voxels), embeddings[train], temperature=1 / 150)
    captions = pd.Series(captioner(projected), index=voxels)
    hits = np.mean(captions.to_numpy() == preferred[voxels])
    chance = max(np.mean(preferred[voxels] == c) for c in CATEGORIES)  # always naming the commonest preference
    # measured: 0.95 of 476 category-ROI voxels named by their planted preference (the commonest one: 0.44)
    assert hits > chance + 5 * np.sqrt(chance * (1 - chance) / len(voxels)), (hits, chance)
    for roi, category in CATEGORY_ROIS.items():  # the mini-NSD's word ROI is planted mostly body-preferring
        if category != "word":
            assert captions[np.flatnonzero(masks[roi])].value_counts().index[0] == category, roi


def test_projection_is_a_softmax_mix_of_the_images_that_the_temperature_sharpens():
    rng = np.random.default_rng(0)
    images = rng.standard_normal((50, 8))
    direction = images[7:8] - images.mean(0)  # the voxel prefers image 7
    sharp = project_to_images(direction, images, temperature=1e-3)
    np.testing.assert_allclose(sharp[0], images[7] / np.linalg.norm(images[7]), atol=1e-6)
    flat = project_to_images(direction, images, temperature=1e6)  # all images alike: the mean direction
    unit = images / np.linalg.norm(images, axis=1, keepdims=True)
    np.testing.assert_allclose(flat[0], unit.mean(0) / np.linalg.norm(unit.mean(0)), atol=1e-5)
    with pytest.raises(InputError, match="temperature must be positive"):
        project_to_images(direction, images, 0.0)


def test_words_are_counted_once_per_caption_without_stopwords():
    captions = pd.DataFrame({"roi": ["FFA", "FFA", "FFA", "PPA"],
                             "caption": ["A face of a man", "a man and a face", "a dog", "A house in a field"]})
    counts = word_counts(captions).set_index(["roi", "word"])
    assert counts.loc[("FFA", "face"), "count"] == 2 and counts.loc[("FFA", "man"), "share"] == pytest.approx(2 / 3)
    assert ("FFA", "a") not in counts.index and counts.loc[("PPA", "house"), "count"] == 1


def _tiny_captioner(folder, embedding_dim=6, prefix_length=2):
    """A random GPT-2 with a 30-token vocabulary of letters, and its prefix map, saved as a captioner folder."""
    import json

    from transformers import GPT2Config, GPT2LMHeadModel, GPT2Tokenizer

    letters = "abcdefghijklmnopqrstuvwxyz"
    vocab = {"<|endoftext|>": 0, **{c: i + 1 for i, c in enumerate(letters)}, "\u0120": 27}
    (folder / "vocab.json").write_text(json.dumps(vocab))
    (folder / "merges.txt").write_text("#version: 0.2\n")
    GPT2Tokenizer(str(folder / "vocab.json"), str(folder / "merges.txt")).save_pretrained(folder)
    torch.manual_seed(0)
    GPT2LMHeadModel(GPT2Config(vocab_size=len(vocab), n_positions=32, n_embd=16, n_layer=1, n_head=2,
                               bos_token_id=0, eos_token_id=0)).save_pretrained(folder)
    prefix = torch.nn.Linear(embedding_dim, prefix_length * 16)
    torch.save(prefix.state_dict(), folder / "prefix_map.pt")
    (folder / "prefix_map.json").write_text(json.dumps({"prefix_length": prefix_length,
                                                        "embedding_dim": embedding_dim}))


def test_a_prefix_captioner_decodes_greedily_what_its_language_model_predicts(tmp_path):
    _tiny_captioner(tmp_path)
    captioner = PrefixCaptioner(tmp_path, max_tokens=5)
    embeddings = np.random.default_rng(1).standard_normal((3, 6)).astype(np.float32)
    captions = captioner(embeddings)
    assert len(captions) == 3 and all(isinstance(c, str) for c in captions)
    with torch.no_grad():  # the first token by hand: the LM's argmax after the mapped prefix
        prefix = captioner.prefix_map(torch.from_numpy(embeddings[:1])).view(1, 2, -1)
        first = captioner.model(inputs_embeds=prefix).logits[0, -1].argmax().item()
    if first != 0:
        assert captions[0].startswith(captioner.tokenizer.decode([first]).strip())
    with pytest.raises(InputError, match="reads 6-dimensional embeddings, not 4"):
        captioner(np.zeros((1, 4), np.float32))
    with pytest.raises(InputError, match="has no prefix_map.pt"):
        (tmp_path / "prefix_map.pt").unlink()
        PrefixCaptioner(tmp_path)
