"""Shared fixtures: a small mini-NSD written once per test session, in both betas formats, and one
subject with enough training images for encoders, with its Gabor features."""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest

from voxelflow.encoders.backbones import GaborBackbone
from voxelflow.encoders.features import extract_features, load_features
from voxelflow.mininsd import MiniNSDConfig, write_mininsd
from voxelflow.nsd_study import NSDStudy
from voxelflow.preprocess import preprocess_subject
from voxelflow.responses import ResponseSet

SMALL = dict(
    n_subjects=4,
    n_shared=40,
    n_unique=80,
    n_sessions=6,
    fewer_sessions={"subj04": 5},
    grid=(20, 24, 16),
    betas_format="both",
    seed=3,
)


@pytest.fixture(scope="session")
def mini_config() -> MiniNSDConfig:
    return MiniNSDConfig(**SMALL)


@pytest.fixture(scope="session")
def mini_root(tmp_path_factory, mini_config) -> Path:
    """A read-only small mini-NSD (4 subjects, 40 shared + 80 own images, 6 sessions of 60 trials)."""
    root = tmp_path_factory.mktemp("mininsd")
    write_mininsd(root, mini_config)
    return root


@pytest.fixture()
def mini_copy(tmp_path, mini_root) -> Path:
    """A private copy of the small mini-NSD that a test may damage."""
    root = tmp_path / "study"
    shutil.copytree(mini_root, root)
    return root


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
    write_mininsd(root, MiniNSDConfig(n_subjects=1, n_shared=60, n_unique=300, n_sessions=6,
                                      fewer_sessions={}, grid=(20, 24, 16), seed=11))
    study = NSDStudy(root)
    responses = preprocess_subject(study.subject("subj01"))
    extract_features(GaborBackbone(), study.layout.stimuli, responses.image_ids, root / "gabor.h5", device="cpu")
    features = load_features(root / "gabor.h5", responses.image_ids, tokens=True)
    return EncodingData(responses, features.pooled, features.tokens, root)


@pytest.fixture()
def interrupt_training(monkeypatch):
    """interrupt_training(n): the training loop raises KeyboardInterrupt right after its n-th checkpoint (as a
    killed job stops), once; later fits in the test run on."""
    from voxelflow.toolkit import training

    def arm(saves: int) -> None:
        real, count = training.save_checkpoint, []

        def save(*args, **kwargs):
            real(*args, **kwargs)
            count.append(1)
            if len(count) == saves:
                raise KeyboardInterrupt
        monkeypatch.setattr(training, "save_checkpoint", save)
    return arm
