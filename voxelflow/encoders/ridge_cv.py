"""K-fold ridge with one alpha per target, solved in feature space (n_samples >= n_features).

For each fold the training Gram matrix and cross-products are derived from the
full ones by subtracting the validation rows, so X^T X and X^T Y are formed
once. One eigendecomposition of the (p, p) Gram matrix per fold then gives every
alpha's solution:

    B(alpha) = V diag(1 / (s + alpha)) V^T X_c^T Y_c

with X_c, Y_c centred by the fold's training means (an unpenalised intercept, as
himalaya's fit_intercept). Validation errors are summed over folds per target
and alpha; the refit on all samples uses each target's best alpha. Cost: about
n_folds * n_alphas * n_val * p * t multiply-adds for the validation predictions
plus two (n, p, t) products, and no (n_alphas, n, t) tensor is ever held.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch


@dataclass
class RidgeCVResult:
    """best_alphas (t,), cv_r2 (t,) (R^2 summed over folds at the best alpha), coef (p, t), intercept (t,)."""

    best_alphas: torch.Tensor
    cv_r2: torch.Tensor
    coef: torch.Tensor
    intercept: torch.Tensor


def _eigh(gram: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    s, V = torch.linalg.eigh(gram)
    return s.clamp_min(0), V


def ridge_cv_gram(X: torch.Tensor, Y: torch.Tensor, alphas: torch.Tensor, folds: list[tuple],
                  targets_batch: int = 4096) -> RidgeCVResult:
    """Fit ridge with per-target alphas chosen by K-fold CV.

    X (n, p) float32, Y (n, t) float32 on one device; alphas (k,); folds: list of
    (train_index, val_index) integer arrays. Gram matrices and eigendecompositions
    are float64; the large products are float32, in batches of `targets_batch` targets.
    """
    n, p = X.shape
    t = Y.shape[1]
    device = X.device
    alphas = alphas.to(device=device, dtype=torch.float64)
    X64 = X.double()
    gram_all = X64.T @ X64
    x_sum = X64.sum(0)
    errors = torch.zeros(len(alphas), t, dtype=torch.float64, device=device)
    total = torch.zeros(t, dtype=torch.float64, device=device)
    for _, val in folds:  # the training part is all rows minus `val`
        val = torch.as_tensor(val, device=device)
        n_train = n - len(val)
        Xv, Xv64 = X[val], X64[val]
        mu = (x_sum - Xv64.sum(0)) / n_train
        s, V = _eigh(gram_all - Xv64.T @ Xv64 - n_train * torch.outer(mu, mu))
        A = ((Xv64 - mu) @ V).float()  # validation rows in the eigenbasis
        Vf = V.float()
        for start in range(0, t, targets_batch):
            b = slice(start, min(start + targets_batch, t))
            Yb, Yv = Y[:, b], Y[val, b]
            nu = (Yb.sum(0) - Yv.sum(0)) / n_train
            cross = X.T @ Yb - Xv.T @ Yv - n_train * torch.outer(mu.float(), nu)
            Q = Vf.T @ cross  # (p, tb)
            total[b] += ((Yv - nu) ** 2).sum(0).double()
            for j, alpha in enumerate(alphas):
                predicted = (A / (s + alpha).float()) @ Q + nu
                errors[j, b] += ((Yv - predicted) ** 2).sum(0).double()
    best = errors.argmin(0)
    best_alphas = alphas[best]
    cv_r2 = 1 - errors.gather(0, best[None])[0] / total.clamp_min(1e-12)

    mu, nu = X64.mean(0), Y.mean(0)
    s, V = _eigh(gram_all - n * torch.outer(mu, mu))
    coef = torch.empty(p, t, dtype=torch.float32, device=device)
    for start in range(0, t, targets_batch):
        b = slice(start, min(start + targets_batch, t))
        cross = (X.T @ Y[:, b]).double() - n * torch.outer(mu, nu[b].double())
        coef[:, b] = (V @ ((V.T @ cross) / (s[:, None] + best_alphas[None, b]))).float()
    intercept = nu - mu.float() @ coef
    return RidgeCVResult(best_alphas.float(), cv_r2.float(), coef, intercept)
