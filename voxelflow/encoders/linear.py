"""Linear voxel models on standardized features: what ridge fits and what the in-context encoder generates."""

from __future__ import annotations

import logging
from pathlib import Path

import h5py
import numpy as np
import torch

from voxelflow.atomic_output import atomic_output
from voxelflow.errors import InputError
from voxelflow.file_reading import open_hdf5
from voxelflow.encoding_metrics import pearson_r
from voxelflow.toolkit.contracts import check_fitted

log = logging.getLogger(__name__)


class LinearEncoder:
    """responses = ((features - feature_mean_) / feature_scale_) @ coef_ + intercept_.

    coef_ (n_features, n_voxels), intercept_ (n_voxels,), feature_mean_ and
    feature_scale_ (n_features,). Subclasses fill these in `fit` and may add
    learned arrays to `_EXTRA_STATE` and hyper-parameters to `_hyper_attrs`.
    """

    name = "linear"
    reads_tokens = False  # pooled features (n, n_features)
    _EXTRA_STATE: tuple[str, ...] = ()

    def __init__(self, coef=None, intercept=None, feature_mean=None, feature_scale=None):
        if coef is not None:
            self.coef_, self.intercept_ = np.asarray(coef, np.float32), np.asarray(intercept, np.float32)
            self.feature_mean_ = np.asarray(feature_mean, np.float32)
            self.feature_scale_ = np.asarray(feature_scale, np.float32)

    @property
    def n_features_in_(self) -> int:
        """Feature dimensions the voxel models read."""
        check_fitted(self, "coef_")
        return self.coef_.shape[0]

    def _standardize(self, X: np.ndarray) -> np.ndarray:
        return ((X - self.feature_mean_) / self.feature_scale_).astype(np.float32)

    def predict(self, X: np.ndarray) -> np.ndarray:
        """Predicted responses (n_images, n_voxels) float32 for features X (n_images, n_features)."""
        check_fitted(self, "coef_")
        if X.ndim != 2 or X.shape[1] != self.coef_.shape[0]:
            raise InputError(f"features are {X.shape} but the encoder was fitted on {self.coef_.shape[0]} dimensions")
        return self._standardize(X) @ self.coef_ + self.intercept_

    def predict_torch(self, X: torch.Tensor) -> torch.Tensor:
        """Differentiable predict for a torch tensor X (n, n_features): (n, n_voxels)."""
        check_fitted(self, "coef_")
        t = {k: torch.as_tensor(getattr(self, k), device=X.device, dtype=X.dtype)
             for k in ("feature_mean_", "feature_scale_", "coef_", "intercept_")}
        return ((X - t["feature_mean_"]) / t["feature_scale_"]) @ t["coef_"] + t["intercept_"]

    def score(self, X: np.ndarray, Y: np.ndarray) -> np.ndarray:
        """Pearson r of prediction and measurement per voxel: (n_voxels,)."""
        check_pair(X, Y)
        return pearson_r(self.predict(X), Y)

    def _hyper_attrs(self) -> dict:
        return {}

    def save(self, path: str | Path) -> None:
        """Write the voxel models (and hyper-parameters) to an HDF5 file, atomically."""
        with atomic_output(path) as tmp, h5py.File(tmp, "w") as f:
            f.attrs.update({"encoder": self.name, **self._hyper_attrs()})
            for name in ("coef_", "intercept_", "feature_mean_", "feature_scale_", *self._EXTRA_STATE):
                f.create_dataset(name, data=getattr(self, name))
        log.info("wrote %s voxel models (%d features x %d voxels) to %s", self.name, *self.coef_.shape, path)

    @classmethod
    def load(cls, path: str | Path) -> LinearEncoder:
        """Read voxel models written by `save` (of this class; LinearEncoder.load reads any linear encoder)."""
        with open_hdf5(path, "voxel models") as f:
            kind = f.attrs.get("encoder")
            if "coef_" not in f or (cls is not LinearEncoder and kind != cls.name):
                raise InputError(f"{path} is not a {cls.name} encoder (it holds {kind!r})")
            encoder = cls._from_attrs(dict(f.attrs))
            for name in ("coef_", "intercept_", "feature_mean_", "feature_scale_", *cls._EXTRA_STATE):
                setattr(encoder, name, f[name][()])
        return encoder

    @classmethod
    def _from_attrs(cls, attrs: dict) -> LinearEncoder:
        return cls()


def check_pair(X: np.ndarray, Y: np.ndarray) -> None:
    """One clear error unless X (n_images, ·) and Y (n_images, ·) pair up and are finite."""
    if X.ndim != 2 or Y.ndim != 2 or len(X) != len(Y):
        raise InputError(f"features {X.shape} and responses {Y.shape} must be (n_images, ·) with the same n_images")
    if not (np.isfinite(X).all() and np.isfinite(Y).all()):
        raise InputError("features or responses contain NaN or infinite values")
