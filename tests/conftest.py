"""Shared fixtures: a small mini-NSD written once per test session, in both betas formats."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from voxelflow.mininsd import MiniNSDConfig, write_mininsd

SMALL = dict(
    subjects=["subj01", "subj02", "subj03", "subj04"],
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
