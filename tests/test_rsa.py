"""RSA and topological RSA on the mini-NSD: the known answer (each ROI's RDM is best matched by the stage of the
two-stage backbone its tuning was planted in) and ROI identification across subjects, with rsatoolbox."""

import numpy as np
import pytest
from rsatoolbox.rdm import RDMs, concat

from voxelflow import rsa
from voxelflow.encoders.features import extract_features, feature_layers, load_features
from voxelflow.encoders.stages_backbone import ContrastCategoryBackbone
from voxelflow.errors import InputError
from voxelflow.mininsd.writer import MiniNSDConfig, write_mininsd
from voxelflow.nsd_study import NSDStudy
from voxelflow.preprocess import preprocess_subject

SUBJECTS = ["subj01", "subj02", "subj03", "subj04"]
EARLY = ["V1", "V2", "V3", "hV4"]
CATEGORY = ["floc-faces", "floc-bodies", "floc-places", "floc-words"]


@pytest.fixture(scope="module")
def studies(tmp_path_factory):
    """Four subjects' brain RDMs over 60 shared test images, and the two-stage backbone's layer RDMs: by distance
    (correlation of trial-averaged patterns; crossnobis over the repeats, over the images each subject saw twice)."""
    root = tmp_path_factory.mktemp("rsa")
    write_mininsd(root, MiniNSDConfig(n_subjects=4, n_shared=60, n_unique=100, n_sessions=4, fewer_sessions={},
                                      grid=(20, 24, 16), seed=5))
    nsd = NSDStudy(root)
    responses = [preprocess_subject(nsd.subject(s), keep_trials=True) for s in SUBJECTS]
    every_id = rsa.shared_test_images(responses)
    extract_features(ContrastCategoryBackbone(), nsd.layout.stimuli, every_id, root / "stages.h5", device="cpu")
    out = {}
    for distance, repeats in (("correlation", 1), ("crossnobis", 2)):
        ids = rsa.shared_test_images(responses, min_repeats=repeats)
        features = {layer: load_features(root / "stages.h5", ids, tokens=True, layer=layer).tokens
                    for layer in feature_layers(root / "stages.h5")}
        out[distance] = ({r.subject: rsa.roi_rdms(r, EARLY + CATEGORY, ids, distance) for r in responses},
                         rsa.model_rdms(features, ids, distance))
    return out


@pytest.fixture(scope="module")
def study(studies):
    return studies["correlation"]


@pytest.mark.parametrize("distance, thresholds", [("correlation", None), ("correlation", (0.1, 0.9)),
                                                  ("correlation", (0.0, 0.3)), ("crossnobis", None)])
def test_each_roi_is_matched_by_the_stage_its_tuning_was_planted_in(studies, distance, thresholds):
    brain, models = studies[distance]
    brain = {s: rsa.transformed(r, thresholds) for s, r in brain.items()}
    models = rsa.transformed(models, thresholds)
    for roi in EARLY + CATEGORY:
        table = rsa.compare_models(concat([r.subset("roi", roi) for r in brain.values()]), models,
                                   n_bootstrap=100).set_index("model")
        planted, other = ("contrast_energy", "category_templates") if roi in EARLY else \
            ("category_templates", "contrast_energy")
        margin = table.loc[planted, "mean"] - table.loc[other, "mean"]
        se = np.hypot(table.loc[planted, "se"], table.loc[other, "se"])
        # measured, margin / se: correlation RSA 5.6-11.1, tRSA 0.1-0.9 5.1-10.9, tRSA 0-0.3 3.4-8.1; crossnobis
        # (Euclidean model RDMs) 2.6 (hV4) to 14.9 (its tRSA 0.1-0.9: 2.0-7.9, too close to assert). The planted
        # stage stays below the noise ceiling's upper bound.
        assert margin > (3 if distance == "correlation" else 2) * se, (roi, margin, se)
        assert table.loc[planted, "mean"] < table.loc[planted, "noise_ceiling_upper"]


@pytest.mark.parametrize("distance, thresholds", [("correlation", None), ("correlation", (0.1, 0.9)),
                                                  ("crossnobis", None)])
def test_the_same_roi_is_identified_across_subjects(studies, distance, thresholds):
    brain = {s: rsa.transformed(r, thresholds) for s, r in studies[distance][0].items()}
    table = rsa.roi_identification(brain)
    assert len(table) == 4 * 3 * 8 and np.allclose(table.chance, 1 / 8)
    n, accuracy = len(table), table.identified.mean()
    # measured: 0.79 (RSA), 0.72 (tRSA 0.1-0.9) and 0.89 (crossnobis RSA) against a chance of 0.125 over 96
    # (subject, other, ROI) triples; the category ROIs 0.94, 0.94, 0.96
    assert accuracy > 1 / 8 + 5 * np.sqrt(1 / 8 * 7 / 8 / n)
    category = table[table.roi.isin(CATEGORY)]
    assert category.identified.mean() > 0.9  # each category ROI has its own template; V1-hV4 are alike


def test_crossnobis_is_the_cross_fold_product_of_pattern_differences_and_unbiased():
    rng = np.random.default_rng(0)
    n_voxels = 50
    truth = rng.normal(size=(4, n_voxels))
    truth[1] = truth[0]  # images 0 and 1 evoke the same pattern
    ids, folds = np.tile(np.arange(4), 2), np.repeat([0, 1], 4)
    trials = np.tile(truth, (2, 1)) + rng.normal(size=(8, n_voxels))
    rdm = rsa.crossnobis_rdm(trials, ids, folds, "univariate", {"roi": "x"})
    means = (trials[:4] + trials[4:]) / 2
    sigma = np.sqrt(((trials - np.tile(means, (2, 1))) ** 2).sum(0) / (8 - 4))
    a, b = trials[:4] / sigma, trials[4:] / sigma
    hand = [(a[i] - a[j]) @ (b[i] - b[j]) / n_voxels for i in range(4) for j in range(i + 1, 4)]
    np.testing.assert_allclose(rdm.get_vectors()[0], hand, rtol=1e-10)
    assert list(rdm.rdm_descriptors["roi"]) == ["x"] and "noise" not in rdm.descriptors
    negative = RDMs(np.array([[-0.1, 2.0, 2.1, 1.9, 2.0, 0.05]]))  # (0, 1) and (2, 3) alike, below 0 by noise
    order = list(rsa.rdm_order(negative))
    assert sorted(order) == [0, 1, 2, 3] and abs(order.index(0) - order.index(1)) == 1

    # over repeated experiments of 60 images: crossnobis of the identical pair averages about 0, where the distance
    # of averaged patterns averages 2 sigma^2 / 2 repeats = 1. (Not exactly 0: the noise normalisation is estimated
    # from the same trials; measured bias 0.03 univariate, 0.06 multivariate, se 0.02; it shrinks as 1 / images.)
    truth = np.concatenate([truth, rng.normal(size=(56, n_voxels))])
    ids, folds = np.tile(np.arange(60), 2), np.repeat([0, 1], 60)
    for noise in ("univariate", "multivariate"):
        same, averaged = [], []
        for _ in range(100):
            trials = np.tile(truth, (2, 1)) + rng.normal(size=(120, n_voxels))
            same.append(rsa.crossnobis_rdm(trials, ids, folds, noise, {}).get_vectors()[0, 0])
            averaged.append(np.sum((trials[0] + trials[60] - trials[1] - trials[61]) ** 2) / 4 / n_voxels)
        assert abs(np.mean(same)) < 0.12 and abs(np.mean(averaged) - 1) < 0.1, (noise, np.mean(same))


def test_crossnobis_needs_the_test_trials(encoding_data):
    responses = encoding_data.responses  # preprocessed without keep_trials
    ids = responses.image_ids[responses.is_test][:5]
    with pytest.raises(InputError, match="single trials of the test images: set preprocess.keep_trials: true"):
        rsa.roi_rdms(responses, ["V1"], ids, "crossnobis")


def test_the_geotopological_transform_thresholds_each_rdm_at_its_own_quantiles_and_copies():
    values = np.array([[0.0, 1.0, 2.0, 3.0, 4.0], [10.0, 20.0, 30.0, 40.0, 50.0]])
    rdms = RDMs(values.copy(), rdm_descriptors={"name": ["a", "b"]})
    out = rsa.geotopological(rdms, 0.25, 0.75).get_vectors()  # quantiles 1 and 3; 20 and 40
    np.testing.assert_allclose(out, [[0.0, 0.0, 0.5, 1.0, 1.0], [0.0, 0.0, 0.5, 1.0, 1.0]])
    np.testing.assert_array_equal(rdms.get_vectors(), values)
    with pytest.raises(InputError, match=r"0 <= low < up <= 1, got \(0.5, 0.2\)"):
        rsa.geotopological(rdms, 0.5, 0.2)


def test_rsa_tables_hold_every_analysis_roi_and_model_and_the_identification_summary(study):
    brain, models = study
    comparisons, identification = rsa.rsa_tables(brain, models, [[0.1, 0.9]], n_bootstrap=20)
    assert set(comparisons.analysis) == {"RSA", "tRSA 0.1-0.9"}
    assert len(comparisons) == 2 * 8 * 2 and set(comparisons.model) == {"contrast_energy", "category_templates"}
    same_roi = identification[identification.measure == "same ROI in another subject"].set_index("analysis")
    assert (same_roi.n == 96).all() and (same_roi.accuracy > 0.5).all()
    best_model = identification[identification.measure == "same best model in another subject"]
    assert (best_model.accuracy > 0.9).all() and np.allclose(best_model.chance, 0.5)  # the planted stage, always


def test_one_model_and_one_roi_keep_their_names(study):
    brain, models = study
    single = models.subset("model", "category_templates")
    assert list(single.rdm_descriptors["model"]) == ["category_templates"]
    faces = {s: r.subset("roi", "floc-faces") for s, r in brain.items()}
    comparisons, identification = rsa.rsa_tables(faces, single, [[0.1, 0.9]], n_bootstrap=5)
    assert set(comparisons.roi) == {"floc-faces"} and set(comparisons.model) == {"category_templates"}
    assert list(rsa.model_rdms({"m": np.random.default_rng(0).random((5, 3))}, np.arange(5)).rdm_descriptors[
        "model"]) == ["m"]
