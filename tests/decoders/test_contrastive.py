"""Brain -> CLIP decoder and diffusion prior on the mini-NSD: retrieval far above chance, round trips, errors."""

import numpy as np
import pytest

from voxelflow.decoders.contrastive import ContrastiveConfig, ContrastiveDecoder
from voxelflow.decoders.prior import DiffusionPrior, PriorConfig
from voxelflow.errors import InputError

SMALL = ContrastiveConfig(hidden=256, n_blocks=1, projector_hidden=256, epochs=30, lr=1e-3, batch_size=32)


@pytest.fixture(scope="module")
def decoder(encoding_data):
    d = encoding_data
    return ContrastiveDecoder(SMALL, device="cpu").fit(d.responses.responses[d.train], d.pooled[d.train])


def test_retrieval_among_test_images_is_far_above_chance(decoder, encoding_data):
    d = encoding_data
    result = decoder.retrieve(d.responses.responses[d.test], d.pooled[d.test])
    assert result["n_candidates"] == d.test.sum() == 60
    assert np.isclose(result["chance"], 1 / 60)
    # observed 0.35 (image) and 0.43 (brain): 20x and 26x chance
    assert result["brain_to_image"] > 8 * result["chance"]
    assert result["image_to_brain"] > 8 * result["chance"]


def test_training_loss_falls_and_embeddings_track_the_targets(decoder, encoding_data):
    d = encoding_data
    assert decoder.history_[-1] < 0.5 * decoder.history_[0]
    predicted = decoder.embed(d.responses.responses[d.test])
    assert predicted.shape == (d.test.sum(), 1, d.pooled.shape[1])
    mean, std = d.pooled[d.train].mean(0), d.pooled[d.train].std(0) + 1e-6
    r = np.corrcoef((predicted[:, 0] - mean) / std, (d.pooled[d.test] - mean) / std)[:60, 60:]
    print("embedding r", np.diag(r).mean(), "identification", (r.argmax(1) == np.arange(60)).mean())
    assert np.diag(r).mean() > 0.2  # image-specific structure, not only the mean embedding
    assert (r.argmax(1) == np.arange(60)).mean() > 5 / 60


def test_save_load_round_trip(decoder, encoding_data, tmp_path):
    X = encoding_data.responses.responses[:5]
    decoder.save(tmp_path / "decoder.pt")
    loaded = ContrastiveDecoder.load(tmp_path / "decoder.pt", device="cpu")
    assert np.allclose(loaded.project(X), decoder.project(X), atol=1e-6)


def test_wrong_voxel_count_is_a_clear_error(decoder, encoding_data):
    X = encoding_data.responses.responses[:5, :-3]
    with pytest.raises(InputError, match=r"trained on \d+ voxels"):
        decoder.embed(X)


def test_token_grid_targets_give_token_grid_embeddings(encoding_data):
    d = encoding_data
    cfg = ContrastiveConfig(hidden=64, n_blocks=0, projector_hidden=64, epochs=2, batch_size=32)
    decoder = ContrastiveDecoder(cfg, device="cpu").fit(d.responses.responses[d.train], d.tokens[d.train])
    assert decoder.embed(d.responses.responses[:3]).shape == (3, *d.tokens.shape[1:])


def test_prior_maps_brain_embeddings_towards_image_embeddings(decoder, encoding_data, tmp_path):
    d = encoding_data
    brain_train = decoder.embed(d.responses.responses[d.train])
    prior = DiffusionPrior(PriorConfig(width=64, n_layers=2, n_heads=4, epochs=40, lr=1e-3), device="cpu")
    prior.fit(brain_train, d.pooled[d.train])
    assert prior.history_[-1] < 0.5 * prior.history_[0]
    brain_test = decoder.embed(d.responses.responses[d.test])
    sampled = prior.sample(brain_test, n_steps=20, seed=1)
    assert sampled.shape == brain_test.shape
    again = prior.sample(brain_test, n_steps=20, seed=1)
    assert np.array_equal(sampled, again)
    # each sample is closer to its own image's embedding than to the other test images' (identification)
    mean, std = d.pooled[d.train].mean(0), d.pooled[d.train].std(0) + 1e-6
    r = np.corrcoef((sampled[:, 0] - mean) / std, (d.pooled[d.test] - mean) / std)[:60, 60:]
    print("prior sample r", np.diag(r).mean(), "identification", (r.argmax(1) == np.arange(60)).mean())
    assert (r.argmax(1) == np.arange(60)).mean() > 5 / 60
    prior.save(tmp_path / "prior.pt")
    assert np.array_equal(DiffusionPrior.load(tmp_path / "prior.pt", device="cpu").sample(brain_test, 20, seed=1),
                          sampled)
    with pytest.raises(InputError, match="the prior expects"):
        prior.sample(d.tokens[:2])
