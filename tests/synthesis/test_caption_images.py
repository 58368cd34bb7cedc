"""BrainSCUBA's text-conditioned synthesis: prompts from voxel captions, the mini-NSD's stand-in text-to-image
model, and the known answer that an ROI's caption images drive its planted voxels."""

import numpy as np
import pandas as pd
import pytest

from voxelflow.errors import InputError
from voxelflow.mininsd.prompted_scenes import PromptedScenes, prompt_categories
from voxelflow.nsd_layout import NSDLayout, read_stimuli
from voxelflow.synthesis.caption_images import UNPROMPTED, caption_prompts, images_from_captions, \
    load_text_to_image, read_caption_images, write_caption_images
from voxelflow.synthesis.evaluation import synthesis_table, true_brain_scorer
from voxelflow.synthesis.targets import target_weights

# the stand-in captioner's words for the category ROIs (the word ROI is planted mostly body-preferring)
CAPTIONS = {"floc-faces": "face", "floc-bodies": "body", "floc-places": "place"}


def test_prompts_are_the_best_predicted_voxels_captions_first_repeated_to_fill():
    captions = pd.DataFrame({"roi": ["FFA", "FFA", "FFA", "PPA"], "test_r": [0.2, 0.5, 0.3, 0.4],
                             "caption": ["a man", "a face", "a dog", "a house"]})
    assert caption_prompts(captions, 4) == {"FFA": ["a face", "a dog", "a man", "a face"],
                                            "PPA": ["a house"] * 4}


def test_the_stand_in_reads_category_words_and_nothing_else():
    assert prompt_categories("Two Faces and a body near places") == ["face", "body", "place"]
    assert prompt_categories("a plate of food with words") == ["food", "word"]
    assert prompt_categories("a dog on grass") == [] and prompt_categories("") == []
    scenes = PromptedScenes(32)
    faces, empty = scenes.sample(2, seed=1, prompts=["a face", "a face"]), scenes.sample(2, seed=1)
    assert np.array_equal(empty[0], scenes.sample(2, seed=1, prompts=["", "a body"])[0])  # per-image backgrounds
    changed = np.abs(faces - empty).max(-1) > 0.1  # the face, drawn over the same background
    assert 0.05 < changed.mean() < 0.5
    with pytest.raises(InputError, match="3 prompts for 2 images"):
        scenes.sample(2, prompts=["a", "b", "c"])
    with pytest.raises(InputError, match="take no brain guidance"):
        scenes.sample(2, guide=lambda *a, **k: None)
    with pytest.raises(InputError, match="not a diffusers Stable Diffusion folder"):
        load_text_to_image("/no/such/folder", 32)


def test_images_from_an_rois_captions_drive_its_planted_voxels(encoding_data, tmp_path):
    data = encoding_data
    responses = data.responses
    brain = true_brain_scorer(str(data.root / "truth/planted.h5"), responses.subject, responses.ijk)
    generator = load_text_to_image("mininsd_scenes", 64)
    n_images = 32
    prompts = {roi: [f"a {word}"] * n_images for roi, word in CAPTIONS.items()}
    images = images_from_captions(generator, prompts, n_steps=1, seed=0, text_guidance=7.5)
    write_caption_images(tmp_path / "images.h5", images, prompts, {"subject": "subj01"})
    stored, stored_prompts = read_caption_images(tmp_path / "images.h5")
    assert set(stored) == {*CAPTIONS, UNPROMPTED} and stored_prompts["floc-faces"][0] == "a face"
    np.testing.assert_array_equal(stored["floc-places"], images["floc-places"])

    natural = read_stimuli(NSDLayout(data.root).stimuli, responses.image_ids[data.test])
    weights = {roi: target_weights(responses.rois, roi) for roi in CAPTIONS}
    table = synthesis_table(weights, {roi: images[roi] for roi in CAPTIONS}, images[UNPROMPTED], natural,
                            responses.responses[data.test], {"true brain": brain}, n_natural=8)
    table = table[table["scorer"] == "true brain"].set_index(["target", "images"])
    print(table["mean"].unstack().round(2))

    def z(roi: str, image_set: str) -> float:
        a, b = table.loc[(roi, "synthesized")], table.loc[(roi, image_set)]
        return (a["mean"] - b["mean"]) / np.hypot(a["sem"], b["sem"])

    # measured (z against unprompted, against the other ROIs' images): faces 22.3, 12.1; bodies 9.6, 3.4 (the body
    # voxels are planted with some face tuning); places 32.3, 36.8. The drawing and the true brain are
    # deterministic: no thread-count noise.
    for roi in CAPTIONS:
        assert z(roi, "unguided") > 3 and z(roi, "other targets") > 2.5, roi
