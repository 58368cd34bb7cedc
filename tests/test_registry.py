"""The registry loads a saved model from its file's own tag, and names what it cannot read."""

import h5py
import numpy as np
import pytest

from voxelflow.decoders.generator import GeneratorConfig, ImageGenerator
from voxelflow.encoders.linear import LinearEncoder
from voxelflow.encoders.ridge import RidgeEncoder
from voxelflow.encoders.transformer import TransformerConfig, TransformerEncoder
from voxelflow.errors import InputError
from voxelflow.toolkit.contracts import Encoder, Generator
from voxelflow.toolkit.registry import load_encoder, load_generator


def test_encoders_come_back_as_their_own_class(encoding_data, tmp_path):
    d = encoding_data
    ridge = RidgeEncoder(device="cpu").fit(d.pooled[:120], d.responses.responses[:120])
    ridge.save(tmp_path / "ridge.h5")
    transformer = TransformerEncoder(TransformerConfig(d_model=16, n_heads=2, epochs=1), device="cpu")
    transformer.fit(d.tokens[:60], d.responses.responses[:60], d.responses.rois).save(tmp_path / "transformer.pt")
    voxel_models = LinearEncoder(ridge.coef_, ridge.intercept_, ridge.feature_mean_, ridge.feature_scale_)
    voxel_models.name = "in_context"
    voxel_models.save(tmp_path / "in_context.h5")
    loaded = {name: load_encoder(tmp_path / name, device="cpu") for name in ("ridge.h5", "transformer.pt",
                                                                             "in_context.h5")}
    assert type(loaded["ridge.h5"]) is RidgeEncoder and type(loaded["in_context.h5"]) is LinearEncoder
    assert type(loaded["transformer.pt"]) is TransformerEncoder and loaded["transformer.pt"].reads_tokens
    assert all(isinstance(encoder, Encoder) for encoder in loaded.values())
    np.testing.assert_allclose(loaded["ridge.h5"].predict(d.pooled[:3]), ridge.predict(d.pooled[:3]), rtol=1e-6)
    with pytest.raises(InputError, match="is not fitted yet"):
        TransformerEncoder().predict(d.tokens[:2])
    (tmp_path / "other.h5").write_bytes((tmp_path / "ridge.h5").read_bytes())
    with h5py.File(tmp_path / "other.h5", "a") as f:
        f.attrs["encoder"] = "svm"
    with pytest.raises(InputError, match="other.h5 is not a saved voxelflow encoder .its tag is 'svm'"):
        load_encoder(tmp_path / "other.h5")


def test_generators_come_back_from_their_folder(tmp_path):
    images = (np.random.default_rng(0).random((8, 16, 16, 3)) * 255).astype(np.uint8)
    generator = ImageGenerator(GeneratorConfig(image_size=16, channels=(8, 16), steps=2, batch_size=4), device="cpu")
    generator.fit(images, np.random.default_rng(1).random((8, 6))).save(tmp_path / "generator")
    loaded = load_generator(tmp_path / "generator", device="cpu", gradient_checkpointing=True)  # as synthesis loads
    assert type(loaded) is ImageGenerator and isinstance(loaded, Generator) and loaded.embedding_dim == 6
    assert loaded.unet.is_gradient_checkpointing
    (tmp_path / "empty").mkdir()
    with pytest.raises(InputError, match="empty is not a generator folder voxelflow reads"):
        load_generator(tmp_path / "empty")
