"""Voxelwise ridge regression with one alpha per voxel (himalaya, torch backend)."""

from __future__ import annotations

import logging

import numpy as np
import torch
from himalaya.backend import set_backend
from himalaya.kernel_ridge import KernelRidgeCV
from sklearn.model_selection import KFold

from voxelflow.devices import resolve_device
from voxelflow.encoders.linear import LinearEncoder, check_pair
from voxelflow.encoders.ridge_cv import ridge_cv_gram

log = logging.getLogger(__name__)


class RidgeEncoder(LinearEncoder):
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

    name = "ridge"
    _EXTRA_STATE = ("best_alphas_", "cv_scores_")

    def __init__(self, alphas=tuple(np.logspace(0, 7, 8)), cv: int = 5, device: str = "auto",
                 n_targets_batch: int | None = None, seed: int = 0):
        super().__init__()
        self.alphas = alphas
        self.cv = cv
        self.device = resolve_device(device)
        self.n_targets_batch = n_targets_batch
        self.seed = seed

    def fit(self, X: np.ndarray, Y: np.ndarray) -> RidgeEncoder:
        """X (n_images, n_features), Y (n_images, n_voxels) -> self."""
        check_pair(X, Y)
        self.feature_mean_ = X.mean(0)
        self.feature_scale_ = X.std(0)
        self.feature_scale_[self.feature_scale_ == 0] = 1.0
        device = self.device
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

    def _hyper_attrs(self) -> dict:
        return {"cv": self.cv, "seed": self.seed, "alphas": np.asarray(self.alphas)}

    @classmethod
    def _from_attrs(cls, attrs: dict) -> RidgeEncoder:
        return cls(alphas=tuple(attrs["alphas"]), cv=int(attrs["cv"]), seed=int(attrs["seed"]))
