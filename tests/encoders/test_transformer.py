"""The transformer encoder learns the planted tuning, routes early-visual queries to their hemifield,
and keeps the estimator contract."""

import numpy as np
import pytest

from voxelflow.encoders.ridge import RidgeEncoder
from voxelflow.encoders.transformer import TransformerConfig, TransformerEncoder
from voxelflow.errors import InputError
from voxelflow.figures import token_grid
from voxelflow.encoding_metrics import pearson_r
from voxelflow.mininsd import TrueBrain
from voxelflow.mininsd.true_brain import gaussian_prfs

CATEGORY_ROIS = ("floc-faces", "floc-bodies", "floc-places", "floc-words")


@pytest.fixture(scope="module")
def trained(encoding_data):
    data = encoding_data
    config = TransformerConfig(d_model=64, epochs=30, patience=6)
    encoder = TransformerEncoder(config, device="cpu")
    encoder.fit(data.tokens[data.train], data.responses.responses[data.train], data.responses.rois)
    return encoder


def test_beats_the_mean_response_in_every_roi(trained, encoding_data):
    data = encoding_data
    measured = data.responses.responses[data.test]
    error = ((trained.predict(data.tokens[data.test]) - measured) ** 2).mean(0)
    baseline = ((data.responses.responses[data.train].mean(0) - measured) ** 2).mean(0)
    for roi in ("V1", "V2", "V3", "hV4", *CATEGORY_ROIS):
        mask = data.responses.rois.mask(roi)
        assert np.median(error[mask]) < np.median(baseline[mask]), roi


def test_matches_or_beats_ridge_in_category_rois(trained, encoding_data):
    data = encoding_data
    measured = data.responses.responses[data.test]
    r_transformer = pearson_r(trained.predict(data.tokens[data.test]), measured)
    ridge = RidgeEncoder(device="cpu").fit(data.pooled[data.train], data.responses.responses[data.train])
    r_ridge = pearson_r(ridge.predict(data.pooled[data.test]), measured)
    for roi in CATEGORY_ROIS:
        mask = data.responses.rois.mask(roi)
        # observed median r, transformer vs ridge: faces 0.55/0.21, bodies 0.51/0.20, places 0.57/0.48,
        # words 0.51/0.23
        assert np.median(r_transformer[mask]) > np.median(r_ridge[mask]) + 0.05, roi


def test_retinotopic_queries_attend_where_their_planted_receptive_fields_are(encoding_data):
    data = encoding_data
    rois, left = data.responses.rois, data.responses.hemisphere == "lh"
    config = TransformerConfig(d_model=64, epochs=30, patience=6, partition="prf-visualrois")
    encoder = TransformerEncoder(config, device="cpu")
    encoder.fit(data.tokens[data.train], data.responses.responses[data.train], rois)
    grids = token_grid(encoder.attention(data.tokens[data.test]).mean(0))  # (groups, 8, 8) over the Gabor grid
    brain = TrueBrain.from_truth(str(data.root / "truth/planted.h5"), "subj01", data.responses.ijk)

    def coverage(voxels):  # summed planted pRFs of the voxels, on the 8 x 8 token grid
        prfs = gaussian_prfs(brain.prf_x[voxels], brain.prf_y[voxels], brain.prf_sigma[voxels], 64)
        return prfs.sum(1).reshape(8, 8, 8, 8).sum((1, 3)).ravel()

    groups = [g for g in encoder.group_names_ if not g.startswith("rest")]
    cover = {g: coverage(rois.mask(g.rsplit("-", 1)[0]) & (left if g.endswith("-lh") else ~left)) for g in groups}
    own, others = [], []
    for g in groups:
        attention = grids[encoder.group_names_.index(g)].ravel()
        r = {h: np.corrcoef(attention, c)[0, 1] for h, c in cover.items()}
        own.append(r[g])
        others.append(np.mean([v for h, v in r.items() if h != g]))
    # observed: median correlation with the own group's pRF coverage 0.57, with the other groups' 0.29
    assert np.median(own) > 0.4
    assert np.median(own) > np.median(others) + 0.15


def test_shapes_round_trip_and_seed(trained, encoding_data, tmp_path):
    data = encoding_data
    tokens = data.tokens[data.test][:5]
    predicted = trained.predict(tokens)
    assert predicted.shape == (5, data.responses.responses.shape[1])
    trained.save(tmp_path / "model.pt")
    np.testing.assert_allclose(TransformerEncoder.load(tmp_path / "model.pt", device="cpu").predict(tokens),
                               predicted, atol=1e-6)
    quick = TransformerConfig(d_model=16, n_heads=2, epochs=2, seed=3)
    fits = [TransformerEncoder(quick, device="cpu")
            .fit(data.tokens[:100], data.responses.responses[:100], data.responses.rois).predict(tokens)
            for _ in range(2)]
    np.testing.assert_array_equal(fits[0], fits[1])
    with pytest.raises(InputError, match=r"tokens are \(64, 5\) per image but the encoder was trained on \(64, 12\)"):
        trained.predict(tokens[:, :, :5])


def test_interrupted_training_resumes_from_its_checkpoint(encoding_data, tmp_path, interrupt_training):
    data = encoding_data
    config = TransformerConfig(d_model=16, n_heads=2, epochs=3, patience=10)
    checkpoint = tmp_path / "checkpoint.pt"
    args = (config,)
    interrupt_training(2)  # killed after its second epoch's checkpoint
    with pytest.raises(KeyboardInterrupt):
        TransformerEncoder(*args, device="cpu", checkpoint=checkpoint).fit(data.tokens[:80],
                                                                           data.responses.responses[:80],
                                                                           data.responses.rois)
    resumed = TransformerEncoder(*args, device="cpu", checkpoint=checkpoint)
    resumed.fit(data.tokens[:80], data.responses.responses[:80], data.responses.rois)
    assert [epoch for epoch, *_ in resumed.history_] == [0, 1, 2]
    again = TransformerEncoder(*args, device="cpu", checkpoint=checkpoint)
    again.fit(data.tokens[:80], data.responses.responses[:80], data.responses.rois)  # finished: nothing left to train
    assert len(again.history_) == 3
    np.testing.assert_array_equal(again.predict(data.tokens[:3]), resumed.predict(data.tokens[:3]))


def test_a_checkpoint_of_other_training_data_is_never_resumed(encoding_data, tmp_path):
    data = encoding_data
    config = TransformerConfig(d_model=16, n_heads=2, epochs=3, patience=10)
    checkpoint = tmp_path / "checkpoint.pt"
    old = TransformerEncoder(config, device="cpu", checkpoint=checkpoint)
    old.fit(data.tokens[:80], data.responses.responses[:80], data.responses.rois)
    assert checkpoint.is_file()  # a finished run's checkpoint, as a crashed workflow job would leave it
    changed = data.responses.responses[:80] * 2.0  # e.g. preprocessed with other z-score statistics
    new = TransformerEncoder(config, device="cpu", checkpoint=checkpoint)
    new.fit(data.tokens[:80], changed, data.responses.rois)
    fresh = TransformerEncoder(config, device="cpu").fit(data.tokens[:80], changed, data.responses.rois)
    np.testing.assert_array_equal(new.predict(data.tokens[:3]), fresh.predict(data.tokens[:3]))
    assert not np.allclose(new.predict(data.tokens[:3]), old.predict(data.tokens[:3]))


@pytest.mark.parametrize("change, message", [
    ({"n_heads": 0}, "n_heads must be at least 1"),
    ({"d_model": 30, "n_heads": 4}, r"d_model \(30\) must be divisible by n_heads \(4\)"),
    ({"partition": "floc-cars"}, "partition 'floc-cars' is not an ROI family of this subject"),
])
def test_bad_config_values_are_named(encoding_data, change, message):
    data = encoding_data
    encoder = TransformerEncoder(TransformerConfig(**change), device="cpu")
    with pytest.raises(InputError, match=message):
        encoder.fit(data.tokens[:20], data.responses.responses[:20], data.responses.rois)


def test_predict_torch_matches_predict_and_carries_gradients(trained, encoding_data):
    import torch

    tokens = encoding_data.tokens[:3]
    x = torch.tensor(tokens, requires_grad=True)
    predicted = trained.predict_torch(x)
    np.testing.assert_allclose(predicted.detach().numpy(), trained.predict(tokens), atol=1e-4)
    predicted.mean().backward()
    assert x.grad.abs().sum() > 0
