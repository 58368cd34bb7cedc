"""Shared-subject decoding (MindEye2) on a 4-subject mini-NSD: per-subject adapters, a new subject decoded from one
session, the few-data table, and session subsets."""

from dataclasses import replace

import numpy as np
import pandas as pd
import pytest
import torch

from voxelflow.decoders.contrastive import ContrastiveConfig, ContrastiveDecoder
from voxelflow.decoders.few_data import SCRATCH, SHARED, DecoderSetup, decoding_curve, encoding_curve, few_data_summary
from voxelflow.encoders.backbones import GaborBackbone
from voxelflow.encoders.features import extract_features, load_features
from voxelflow.errors import InputError
from voxelflow.mininsd import MiniNSDConfig, write_mininsd
from voxelflow.nsd_study import NSDStudy
from voxelflow.preprocess import preprocess_subject
from voxelflow.responses import first_sessions, training_pairs

SUBJECTS = ["subj01", "subj02", "subj03", "subj04"]
SMALL = ContrastiveConfig(hidden=256, n_blocks=1, projector_hidden=256, epochs=100, lr=1e-3, batch_size=32)


@pytest.fixture(scope="module")
def study(tmp_path_factory):
    """Four subjects who share the planted tuning in their own voxel grids: 60 test + 300 own images, 6 sessions
    of ~150 trials, single trials kept; their Gabor features."""
    root = tmp_path_factory.mktemp("shared")
    write_mininsd(root, MiniNSDConfig(n_subjects=4, n_shared=60, n_unique=300, n_sessions=6, fewer_sessions={},
                                      grid=(20, 24, 16), seed=5))
    nsd = NSDStudy(root)
    responses = {s: preprocess_subject(nsd.subject(s), keep_trials=True) for s in SUBJECTS}
    ids = np.unique(np.concatenate([r.image_ids for r in responses.values()]))
    extract_features(GaborBackbone(), nsd.layout.stimuli, ids, root / "gabor.h5", device="cpu")
    features = {s: load_features(root / "gabor.h5", r.image_ids).pooled for s, r in responses.items()}
    return responses, features


@pytest.fixture(scope="module")
def shared(study):
    """A decoder pretrained on subj02-04: the held-out subj01 has never been seen."""
    responses, features = study
    datasets = {s: training_pairs(responses[s], features[s]) for s in SUBJECTS[1:]}
    return ContrastiveDecoder(SMALL, device="cpu").fit_subjects(datasets)


def test_first_sessions_average_only_those_trials_and_keep_the_test_set(study):
    data = study[0]["subj01"]
    subset = first_sessions(data, 1)
    trials = data.trials
    in_first = trials.session == 1
    assert np.array_equal(subset.image_ids[~subset.is_test], np.unique(trials.image_ids[in_first]))
    repeated = next(i for i in np.unique(trials.image_ids[in_first]) if (trials.image_ids[in_first] == i).sum() > 1)
    row = np.searchsorted(subset.image_ids, repeated)
    expected = trials.responses[in_first & (trials.image_ids == repeated)].mean(0)
    np.testing.assert_allclose(subset.responses[row], expected, rtol=1e-5, atol=1e-6)
    assert subset.repeats[row] == (trials.image_ids[in_first] == repeated).sum()
    assert set(subset.trials.session) == {1}
    np.testing.assert_array_equal(subset.responses[subset.is_test], data.responses[data.is_test])
    np.testing.assert_array_equal(subset.noise_ceiling, data.noise_ceiling)
    assert first_sessions(data, "all") is data and first_sessions(data, 99) is data
    with pytest.raises(InputError, match="needs its single trials; set preprocess.keep_trials: true"):
        first_sessions(replace(data, trials=None), 2)


def test_each_subject_has_its_own_adapter_into_one_trunk(shared, study):
    responses, features = study
    assert shared.subjects_ == ["subj02", "subj03", "subj04"]
    assert {name: a.in_features for name, a in shared.model_.adapters.items()} == {
        s: responses[s].responses.shape[1] for s in SUBJECTS[1:]}
    test = responses["subj02"].is_test
    assert shared.embed(responses["subj02"].responses[test], "subj02").shape == (test.sum(), 1, 768)
    with pytest.raises(InputError, match="reads 3 subjects .* name one"):
        shared.embed(responses["subj02"].responses[test])
    with pytest.raises(InputError, match="no adapter for subj01"):
        shared.embed(responses["subj01"].responses[test], "subj01")
    # pretrained on three subjects, each of them is decoded far above chance (1/60)
    for s in SUBJECTS[1:]:
        test = responses[s].is_test
        assert shared.retrieve(responses[s].responses[test], features[s][test], subject=s)["brain_to_image"] > 0.15


def test_a_new_subject_is_decoded_from_one_session_by_reusing_the_other_subjects(shared, study):
    """The known answer: one session of subj01 is too little for a decoder trained from scratch, while the trunk
    pretrained on the other three subjects, with a ridge-initialised adapter, decodes it about as well as a
    from-scratch decoder trained on all six sessions."""
    responses, features = study
    table = pd.concat([
        encoding_curve(responses["subj01"], [1, "all"], features["subj01"],
                       {"alphas": [1e2, 1e3, 1e4], "cv": 3, "device": "cpu"}, rois=["V1"]),
        decoding_curve(responses["subj01"], [1, "all"], features["subj01"], DecoderSetup(SMALL, shared))])
    table["subject"] = "subj01"
    print(table.to_string())
    values = table.set_index(["family", "method", "sessions", "metric", "roi"])
    b2i = values.xs(("decoding", "brain_to_image", ""), level=("family", "metric", "roi"))
    scratch_1, shared_1, scratch_all = (b2i.loc[key] for key in ((SCRATCH, 1), (SHARED, 1), (SCRATCH, 6)))
    # observed (2 threads): scratch 0.02, shared 0.35 after one session; scratch 0.25 after all six
    assert shared_1["value"] - scratch_1["value"] > 3 * np.hypot(shared_1["se"], scratch_1["se"])
    assert shared_1["value"] > scratch_all["value"] - 2 * np.hypot(shared_1["se"], scratch_all["se"])
    two_way = values.xs(("decoding", "two_way_identification", ""), level=("family", "metric", "roi"))["value"]
    assert two_way[(SHARED, 1)] > two_way[(SCRATCH, 1)] + 0.1
    ridge = values.xs(("encoding", "ridge", "median_nna"), level=("family", "method", "metric"))["value"]
    assert ridge[(6, "all voxels")] > ridge[(1, "all voxels")] and ridge[(1, "V1")] > 20  # percent of the ceiling
    assert set(table["n_train"][table["sessions"] == 1]) == {len(np.unique(
        responses["subj01"].trials.image_ids[responses["subj01"].trials.session == 1]))}
    summary = few_data_summary([table, table.assign(subject="subj09", value=table["value"] + 0.1)])
    row = summary[(summary["method"] == SHARED) & (summary["sessions"] == 1) & (summary["metric"] == "brain_to_image")]
    assert row["n_subjects"].item() == 2 and np.isclose(row["value"].item(), shared_1["value"] + 0.05)
    assert np.isclose(row["se"].item(), 0.05)  # sd of (x, x + 0.1) / sqrt(2)


def test_fine_tuning_only_the_adapter_leaves_the_shared_trunk_as_pretrained(shared, study):
    responses, features = study
    subset = first_sessions(responses["subj01"], 1)
    X, Y = training_pairs(subset, features["subj01"][np.isin(responses["subj01"].image_ids, subset.image_ids)])
    tuned = ContrastiveDecoder(replace(SMALL, epochs=3), device="cpu").fit(X, Y, "subj01", shared, train="adapter")
    before, after = shared.model_.state_dict(), tuned.model_.state_dict()
    trunk = [key for key in after if not key.startswith("adapters.")]
    assert trunk and all(torch.equal(before[key], after[key]) for key in trunk)
    assert list(tuned.model_.adapters) == ["subj01"] and tuned.target_mean_ is shared.target_mean_
    with pytest.raises(InputError, match="architecture differs from decoders.contrastive: hidden 256 != 128"):
        ContrastiveDecoder(replace(SMALL, hidden=128), device="cpu").fit(X, Y, "subj01", shared)
    with pytest.raises(InputError, match="needs a pretrained decoder"):
        ContrastiveDecoder(SMALL, device="cpu").fit(X, Y, train="adapter")


def test_the_shared_decoder_round_trips_with_its_latent_map(shared, study, tmp_path):
    responses = study[0]
    shared.save(tmp_path / "shared.pt")
    loaded = ContrastiveDecoder.load(tmp_path / "shared.pt", device="cpu")
    test = responses["subj03"].is_test
    np.testing.assert_allclose(loaded.embed(responses["subj03"].responses[test], "subj03"),
                               shared.embed(responses["subj03"].responses[test], "subj03"), rtol=1e-5, atol=1e-5)
    embeddings = study[1]["subj01"][:5]
    np.testing.assert_allclose(loaded.latent(embeddings), shared.latent(embeddings), rtol=1e-5)
    assert loaded.latent(embeddings).shape == (5, SMALL.hidden)
