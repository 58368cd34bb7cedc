"""Reconstruction end to end with tiny components: sizes, seeds, img2img strength, generator folders, errors."""

import numpy as np
import pytest

from voxelflow.decoders.contrastive import ContrastiveConfig, ContrastiveDecoder
from voxelflow.decoders.generator import GeneratorConfig, ImageGenerator
from voxelflow.decoders.low_level import BlurryDecoder
from voxelflow.decoders.prior import DiffusionPrior, PriorConfig
from voxelflow.decoders.reconstruction import read_reconstructions, reconstruct, write_reconstructions
from voxelflow.errors import InputError
from voxelflow.nsd_layout import read_stimuli

TINY_GENERATOR = GeneratorConfig(image_size=16, channels=(8, 16), steps=3, batch_size=8)


@pytest.fixture(scope="module")
def parts(encoding_data):
    d = encoding_data
    X, train = d.responses.responses, d.train
    images = read_stimuli(d.root / "nsddata_stimuli", d.responses.image_ids)
    decoder = ContrastiveDecoder(ContrastiveConfig(hidden=32, n_blocks=0, projector_hidden=32, epochs=2),
                                 device="cpu").fit(X[train], d.pooled[train])
    prior = DiffusionPrior(PriorConfig(width=32, n_layers=1, n_heads=2, timesteps=10, epochs=1), device="cpu")
    prior.fit(decoder.embed(X[train]), d.pooled[train])
    generator = ImageGenerator(TINY_GENERATOR, device="cpu").fit(images[train], d.pooled[train])
    blurry = BlurryDecoder(size=8, device="cpu").fit(X[train], images[train])
    return decoder, prior, generator, blurry, X[d.test][:4], images[d.test][:4]


def test_reconstructions_have_the_generator_size_and_follow_the_seed(parts):
    decoder, prior, generator, blurry, X, _ = parts
    first = reconstruct(X, decoder, prior, generator, blurry, strength=0.5, n_steps=4, seed=3)
    assert first.images.shape == (4, 16, 16, 3)
    assert first.images.min() >= 0 and first.images.max() <= 1
    assert first.blurry.shape == (4, 8, 8, 3)
    assert first.embeddings.shape == (4, 1, decoder.model_.dim)
    again = reconstruct(X, decoder, prior, generator, blurry, strength=0.5, n_steps=4, seed=3)
    assert np.array_equal(first.images, again.images)
    other = reconstruct(X, decoder, prior, generator, blurry, strength=0.5, n_steps=4, seed=4)
    assert not np.allclose(first.images, other.images)


def test_strength_zero_returns_the_low_level_image(parts):
    decoder, prior, generator, blurry, X, _ = parts
    out = reconstruct(X, decoder, prior, generator, blurry, strength=0.0, n_steps=4)
    upsampled = generator.generate(out.embeddings, init_images=out.blurry, strength=0.0)
    assert np.allclose(out.images, upsampled)
    coarse = out.images.reshape(4, 8, 2, 8, 2, 3).mean((2, 4))  # back at 8 x 8 it is the blurry image
    assert np.abs(coarse - out.blurry).mean() < 0.05


def test_generator_folder_round_trip(parts, tmp_path):
    _, _, generator, _, _, _ = parts
    embeddings = np.random.default_rng(0).normal(size=(2, generator.embedding_dim)).astype(np.float32)
    generator.save(tmp_path / "generator")
    assert (tmp_path / "generator" / "unet" / "config.json").is_file()
    loaded = ImageGenerator.load(tmp_path / "generator", device="cpu")
    assert np.allclose(loaded.generate(embeddings, n_steps=3), generator.generate(embeddings, n_steps=3), atol=1e-5)


def test_generator_of_another_embedding_size_is_a_clear_error(parts, encoding_data):
    decoder, prior, _, _, X, images = parts
    other = ImageGenerator(TINY_GENERATOR, device="cpu").fit(images, np.random.default_rng(0).random((4, 7)))
    with pytest.raises(InputError, match="conditioned on 7-d embeddings but the prior produces"):
        reconstruct(X, decoder, prior, other)


def test_responses_with_another_voxel_count_are_a_clear_error(parts):
    decoder, prior, generator, blurry, X, _ = parts
    with pytest.raises(InputError, match="trained on"):
        reconstruct(X[:, 1:], decoder, prior, generator, blurry)
    with pytest.raises(InputError, match="low-level decoder was trained on"):
        blurry.predict(X[:, 1:])


def test_blurry_decoder_round_trip(parts, tmp_path):
    _, _, _, blurry, X, _ = parts
    blurry.save(tmp_path / "blurry.h5")
    assert np.allclose(BlurryDecoder.load(tmp_path / "blurry.h5").predict(X), blurry.predict(X), atol=1e-6)


def test_best_of_n_keeps_the_sample_closest_to_the_retrieval_embedding(parts, tmp_path):
    """MindEye's second-order selection, checked against the samples drawn one seed at a time."""
    decoder, prior, generator, blurry, X, _ = parts
    dim = decoder.model_.dim
    projection = np.random.default_rng(0).standard_normal((16 * 16 * 3, dim))

    def embed(images):  # any fixed map into the target space stands in for the backbone
        return images.reshape(len(images), -1) @ projection

    out = reconstruct(X, decoder, prior, generator, blurry, strength=0.5, n_steps=4, seed=3, n_samples=3,
                      embed=embed)
    samples = [reconstruct(X, decoder, prior, generator, blurry, strength=0.5, n_steps=4, seed=3 + k).images
               for k in range(3)]
    assert np.array_equal(out.images, samples[0])  # the raw row is still the first sample
    reference = decoder.project(X).reshape(len(X), -1)
    reference /= np.linalg.norm(reference, axis=1, keepdims=True)
    similarity = np.stack([np.sum(reference * embed(s) / np.linalg.norm(embed(s), axis=1, keepdims=True), axis=1)
                           for s in samples])  # (sample, image)
    assert np.array_equal(out.best_sample, similarity.argmax(0))
    assert np.array_equal(out.best, np.stack([samples[k][i] for i, k in enumerate(similarity.argmax(0))]))
    assert out.best_sample.any()  # the selection replaced some first samples
    write_reconstructions(tmp_path / "r.h5", np.arange(4), out, {"seed": 3})
    ids, read, attrs = read_reconstructions(tmp_path / "r.h5")
    assert read.n_samples == 3 and attrs["seed"] == 3 and np.array_equal(read.best_sample, out.best_sample)
    assert np.abs(read.best - out.best).max() <= 0.5 / 255 + 1e-6  # stored as 8-bit images
    with pytest.raises(InputError, match="more than one sample needs an embedder"):
        reconstruct(X, decoder, prior, generator, blurry, n_samples=2)
