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
def study(tmp_path_factory):
    """Four subjects' brain RDMs over 60 shared test images, and the two-stage backbone's layer RDMs."""
    root = tmp_path_factory.mktemp("rsa")
    write_mininsd(root, MiniNSDConfig(n_subjects=4, n_shared=60, n_unique=100, n_sessions=4, fewer_sessions={},
                                      grid=(20, 24, 16), seed=5))
    nsd = NSDStudy(root)
    responses = [preprocess_subject(nsd.subject(s)) for s in SUBJECTS]
    ids = rsa.shared_test_images(responses)
    extract_features(ContrastCategoryBackbone(), nsd.layout.stimuli, ids, root / "stages.h5", device="cpu")
    features = {layer: load_features(root / "stages.h5", ids, tokens=True, layer=layer).tokens
                for layer in feature_layers(root / "stages.h5")}
    return {r.subject: rsa.roi_rdms(r, EARLY + CATEGORY, ids) for r in responses}, rsa.model_rdms(features, ids)


@pytest.mark.parametrize("thresholds", [None, (0.1, 0.9), (0.0, 0.3)], ids=["RSA", "tRSA 0.1-0.9", "tRSA 0-0.3"])
def test_each_roi_is_matched_by_the_stage_its_tuning_was_planted_in(study, thresholds):
    brain, models = study
    brain = {s: rsa.transformed(r, thresholds) for s, r in brain.items()}
    models = rsa.transformed(models, thresholds)
    for roi in EARLY + CATEGORY:
        table = rsa.compare_models(concat([r.subset("roi", roi) for r in brain.values()]), models,
                                   n_bootstrap=100).set_index("model")
        planted, other = ("contrast_energy", "category_templates") if roi in EARLY else \
            ("category_templates", "contrast_energy")
        margin = table.loc[planted, "mean"] - table.loc[other, "mean"]
        se = np.hypot(table.loc[planted, "se"], table.loc[other, "se"])
        # measured: margins 0.25-0.66 (bootstrap se over images 0.05-0.11); the planted stage stays below the
        # noise ceiling's upper bound
        assert margin > 3 * se, (roi, margin, se)
        assert table.loc[planted, "mean"] < table.loc[planted, "noise_ceiling_upper"]


@pytest.mark.parametrize("thresholds", [None, (0.1, 0.9)])
def test_the_same_roi_is_identified_across_subjects(study, thresholds):
    brain = {s: rsa.transformed(r, thresholds) for s, r in study[0].items()}
    table = rsa.roi_identification(brain)
    assert len(table) == 4 * 3 * 8 and np.allclose(table.chance, 1 / 8)
    n, accuracy = len(table), table.identified.mean()
    # measured: 0.79 (RSA) and 0.72 (tRSA 0.1-0.9) against a chance of 0.125 over 96 (subject, other, ROI) triples
    assert accuracy > 1 / 8 + 5 * np.sqrt(1 / 8 * 7 / 8 / n)
    category = table[table.roi.isin(CATEGORY)]
    assert category.identified.mean() > 0.9  # each category ROI has its own template; V1-hV4 are alike


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
