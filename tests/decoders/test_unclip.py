"""The real-run generator: a Stable unCLIP folder (tiny, random, in diffusers' layout) loaded with from_pretrained
and driven by the decoders' predicted embeddings."""

import numpy as np
import pytest
from tiny_pipelines import EMBEDDING_DIM, write_tiny_unclip

from voxelflow.decoders.contrastive import ContrastiveConfig, ContrastiveDecoder
from voxelflow.decoders.prior import DiffusionPrior, PriorConfig
from voxelflow.decoders.reconstruction import reconstruct
from voxelflow.decoders.unclip import UnclipGenerator
from voxelflow.errors import InputError
from voxelflow.toolkit.registry import load_generator


@pytest.fixture(scope="module")
def unclip_folder(tmp_path_factory):
    return write_tiny_unclip(tmp_path_factory.mktemp("unclip"))


@pytest.fixture(scope="module")
def decoder_and_prior(encoding_data):
    d = encoding_data
    targets = d.pooled[:, :EMBEDDING_DIM]  # stands in for a 16-d CLIP space
    X = d.responses.responses
    decoder = ContrastiveDecoder(ContrastiveConfig(hidden=32, n_blocks=0, projector_hidden=32, epochs=2),
                                 device="cpu").fit(X[d.train], targets[d.train])
    prior = DiffusionPrior(PriorConfig(width=32, n_layers=1, n_heads=2, timesteps=10, epochs=1), device="cpu")
    prior.fit(decoder.embed(X[d.train]), targets[d.train])
    return decoder, prior, X[d.test][:2]


def test_unclip_folder_reconstructs_with_the_seed(unclip_folder, decoder_and_prior):
    generator = load_generator(unclip_folder, device="cpu")
    assert isinstance(generator, UnclipGenerator) and generator.embedding_dim == EMBEDDING_DIM
    decoder, prior, X = decoder_and_prior
    first = reconstruct(X, decoder, prior, generator, n_steps=2, seed=5)
    assert first.images.shape == (2, 16, 16, 3) and first.images.dtype == np.float32
    assert np.array_equal(first.images, reconstruct(X, decoder, prior, generator, n_steps=2, seed=5).images)
    assert not np.array_equal(first.images, reconstruct(X, decoder, prior, generator, n_steps=2, seed=6).images)


def test_unclip_refuses_token_grids_and_img2img(unclip_folder):
    generator = UnclipGenerator.load(unclip_folder, device="cpu")
    with pytest.raises(InputError, match="takes pooled 16-d image embeddings"):
        generator.generate(np.zeros((1, 4, EMBEDDING_DIM), np.float32))
    with pytest.raises(InputError, match="no img2img strength"):
        generator.generate(np.zeros((1, EMBEDDING_DIM), np.float32), init_images=np.zeros((1, 8, 8, 3)), strength=0.5)


def test_prior_of_another_size_than_the_unclip_embedding_is_a_clear_error(unclip_folder, encoding_data):
    d = encoding_data
    X = d.responses.responses
    decoder = ContrastiveDecoder(ContrastiveConfig(hidden=32, n_blocks=0, projector_hidden=32, epochs=1),
                                 device="cpu").fit(X[d.train], d.pooled[d.train])
    prior = DiffusionPrior(PriorConfig(width=32, n_layers=1, n_heads=2, timesteps=10, epochs=1), device="cpu")
    prior.fit(decoder.embed(X[d.train]), d.pooled[d.train])
    with pytest.raises(InputError, match=r"conditioned on 16-d embeddings but the prior produces 768-d"):
        reconstruct(X[:2], decoder, prior, load_generator(unclip_folder, device="cpu"))
