"""Voxelwise ridge regression with one alpha per voxel (himalaya, torch backend)."""

from __future__ import annotations

import logging

from pathlib import Path

import h5py
import numpy as np
import torch
from himalaya.backend import set_backend
from himalaya.kernel_ridge import KernelRidgeCV
from sklearn.model_selection import KFold

from voxelflow.atomic_output import atomic_output
from voxelflow.devices import resolve_device
from voxelflow.encoders.ridge_cv import ridge_cv_gram
from voxelflow.errors import InputError
from voxelflow.metrics import pearson_r


log = logging.getLogger(__name__)


class RidgeEncoder:
    """Features -> voxel responses by ridge regression, alpha chosen per voxel by K-fold CV.

    alphas: grid of L2 penalties (on z-scored features); cv: number of folds
    (shuffled, seeded); device: "auto", "cpu" or "cuda" (himalaya's torch or
    torch_cuda backend: all voxels solved together, in batches of n_targets_batch).
    With at least as many images as features the CV runs in feature space
    (`ridge_cv.ridge_cv_gram`: one Gram matrix, one eigendecomposition per fold);
    with fewer, the dual problem is solved by himalaya's KernelRidgeCV (linear
    kernel) and turned back into primal weights.
    Learned: coef_ (n_features, n_voxels), intercept_ (n_voxels,), best_alphas_
    (n_voxels,), cv_scores_ (n_voxels,) (CV R^2 at the best alpha), feature_mean_,
    feature_scale_ (n_features,).
    """

    def __init__(self, alphas=tuple(np.logspace(0, 7, 8)), cv: int = 5, device: str = "auto",
                 n_targets_batch: int | None = None, seed: int = 0):
        self.alphas = alphas
        self.cv = cv
        self.device = device
        self.n_targets_batch = n_targets_batch
        self.seed = seed

    def _standardize(self, X: np.ndarray) -> np.ndarray:
        return ((X - self.feature_mean_) / self.feature_scale_).astype(np.float32)

    def fit(self, X: np.ndarray, Y: np.ndarray) -> RidgeEncoder:
        """X (n_images, n_features), Y (n_images, n_voxels) -> self."""
        _check_pair(X, Y)
        self.feature_mean_ = X.mean(0)
        self.feature_scale_ = X.std(0)
        self.feature_scale_[self.feature_scale_ == 0] = 1.0
        device = resolve_device(self.device)
        Xs = self._standardize(X)
        folds = list(KFold(self.cv, shuffle=True, random_state=self.seed).split(Xs))
        if len(X) >= X.shape[1]:
            result = ridge_cv_gram(torch.from_numpy(Xs).to(device), torch.from_numpy(Y.astype(np.float32)).to(device),
                                   torch.as_tensor(self.alphas), folds, self.n_targets_batch or 4096)
            for name, value in [("coef_", result.coef), ("intercept_", result.intercept),
                                ("best_alphas_", result.best_alphas), ("cv_scores_", result.cv_r2)]:
                setattr(self, name, value.cpu().numpy())
            return self
        backend = set_backend("torch_cuda" if device.type == "cuda" else "torch", on_error="raise")
        model = KernelRidgeCV(kernel="linear", alphas=np.asarray(self.alphas, dtype=np.float32), fit_intercept=True,
                              cv=folds, solver_params={"n_targets_batch": self.n_targets_batch})
        model.fit(Xs, Y.astype(np.float32))
        # The features are centred, so the linear kernel's centring changes nothing and w = X^T dual_coef.
        self.coef_ = Xs.T @ backend.to_numpy(model.dual_coef_)
        self.intercept_ = backend.to_numpy(model.intercept_)
        self.best_alphas_ = backend.to_numpy(model.best_alphas_)
        self.cv_scores_ = backend.to_numpy(model.cv_scores_)
        return self

    def predict(self, X: np.ndarray) -> np.ndarray:
        """Predicted responses (n_images, n_voxels) float32 for features X (n_images, n_features)."""
        if X.shape[1] != self.coef_.shape[0]:
            raise InputError(f"features have {X.shape[1]} dimensions but the encoder was fitted on {self.coef_.shape[0]}")
        return self._standardize(X) @ self.coef_ + self.intercept_

    def predict_torch(self, X: torch.Tensor) -> torch.Tensor:
        """Differentiable predict for a torch tensor X (n, n_features): (n, n_voxels)."""
        t = {k: torch.as_tensor(getattr(self, k), device=X.device, dtype=X.dtype)
             for k in ("feature_mean_", "feature_scale_", "coef_", "intercept_")}
        return ((X - t["feature_mean_"]) / t["feature_scale_"]) @ t["coef_"] + t["intercept_"]

    def score(self, X: np.ndarray, Y: np.ndarray) -> np.ndarray:
        """Pearson r of prediction and measurement per voxel: (n_voxels,)."""
        _check_pair(X, Y)
        return pearson_r(self.predict(X), Y)

    _STATE = ("coef_", "intercept_", "best_alphas_", "cv_scores_", "feature_mean_", "feature_scale_")

    def save(self, path: str | Path) -> None:
        """Write parameters and hyper-parameters to an HDF5 file, atomically."""
        with atomic_output(path) as tmp, h5py.File(tmp, "w") as f:
            f.attrs.update({"encoder": "ridge", "cv": self.cv, "seed": self.seed})
            f.create_dataset("alphas", data=np.asarray(self.alphas))
            for name in self._STATE:
                f.create_dataset(name, data=getattr(self, name))
        log.info("wrote ridge encoder (%d features x %d voxels) to %s", *self.coef_.shape, path)

    @classmethod
    def load(cls, path: str | Path) -> RidgeEncoder:
        """Read an encoder written by `save`."""
        with h5py.File(path, "r") as f:
            if f.attrs.get("encoder") != "ridge":
                raise InputError(f"{path} is not a ridge encoder")
            encoder = cls(alphas=tuple(f["alphas"][()]), cv=int(f.attrs["cv"]), seed=int(f.attrs["seed"]))
            for name in cls._STATE:
                setattr(encoder, name, f[name][()])
        return encoder


def _check_pair(X: np.ndarray, Y: np.ndarray) -> None:
    if X.ndim != 2 or Y.ndim != 2 or len(X) != len(Y):
        raise InputError(f"features {X.shape} and responses {Y.shape} must be (n_images, ·) with the same n_images")
    if not (np.isfinite(X).all() and np.isfinite(Y).all()):
        raise InputError("features or responses contain NaN or infinite values")
