"""One mini-NSD subject with enough training images for encoders, and its Gabor features."""

from dataclasses import dataclass

import numpy as np
import pytest

from voxelflow.encoders.backbones import GaborBackbone
from voxelflow.encoders.features import extract_features, load_features
from voxelflow.mininsd import MiniNSDConfig, write_mininsd
from voxelflow.nsd_study import NSDStudy
from voxelflow.preprocess import preprocess_subject
from voxelflow.responses import ResponseSet


@dataclass
class EncodingData:
    responses: ResponseSet
    pooled: np.ndarray  # (n_images, 768) Gabor features, rows aligned with responses.image_ids
    tokens: np.ndarray  # (n_images, 64, 12) the 8 x 8 grid cells
    root: object

    @property
    def train(self) -> np.ndarray:
        return ~self.responses.is_test

    @property
    def test(self) -> np.ndarray:
        return self.responses.is_test


@pytest.fixture(scope="session")
def encoding_data(tmp_path_factory) -> EncodingData:
    """subj01 of a mini-NSD with 300 training and 60 test images."""
    root = tmp_path_factory.mktemp("encoding")
    write_mininsd(root, MiniNSDConfig(subjects=["subj01"], n_shared=60, n_unique=300, n_sessions=6,
                                      fewer_sessions={}, grid=(20, 24, 16), seed=11))
    study = NSDStudy(root)
    responses = preprocess_subject(study.subject("subj01"))
    extract_features(GaborBackbone(), study.layout.stimuli, responses.image_ids, root / "gabor.h5", device="cpu")
    features = load_features(root / "gabor.h5", responses.image_ids, tokens=True)
    return EncodingData(responses, features.pooled, features.tokens, root)
