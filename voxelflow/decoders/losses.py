"""MindEye's contrastive losses: BiMixCo (voxel mixup with soft InfoNCE targets) and soft-CLIP.

Embeddings are (batch, ...) tensors, flattened per sample and L2-normalised inside each loss, so
token-grid (b, t, d) and pooled (b, d) targets are handled alike. Temperatures divide cosine similarities.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F


def _unit(x: torch.Tensor) -> torch.Tensor:
    return F.normalize(x.flatten(1).float(), dim=-1)


def mixco(voxels: torch.Tensor, beta: float = 0.15, prob: float = 0.5,
          generator: torch.Generator | None = None) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Mix a random `prob` fraction of the samples with a random partner (MixCo on voxels).

    voxels: (b, n_voxels). Returns the mixed voxels (b, n_voxels), the partner index `perm` (b,) and
    the weight `lam` (b,) of each sample's own voxels: lam ~ Beta(beta, beta) for mixed samples, 1 otherwise.
    """
    b = len(voxels)
    perm = torch.randperm(b, generator=generator).to(voxels.device)
    lam = torch.distributions.Beta(beta, beta).sample((b,)).to(voxels.device)
    mixed = torch.rand(b, generator=generator).to(voxels.device) < prob
    lam = torch.where(mixed, lam, torch.ones_like(lam))
    shape = (b,) + (1,) * (voxels.ndim - 1)
    return voxels * lam.view(shape) + voxels[perm] * (1 - lam.view(shape)), perm, lam


def mixco_targets(perm: torch.Tensor, lam: torch.Tensor) -> torch.Tensor:
    """(b, b) soft targets of the mixed samples: row i puts lam_i on image i and 1 - lam_i on image perm_i."""
    b = len(perm)
    targets = torch.diag(lam)
    targets[torch.arange(b, device=perm.device), perm] += 1 - lam
    return targets


def mixco_nce(brain: torch.Tensor, images: torch.Tensor, perm: torch.Tensor, lam: torch.Tensor,
              temperature: float = 0.006) -> torch.Tensor:
    """Bidirectional InfoNCE with MixCo's soft targets (brain -> image and image -> brain, averaged).

    brain: embeddings of the mixed voxels (b, ...); images: the unmixed targets (b, ...).
    """
    logits = _unit(brain) @ _unit(images).T / temperature
    targets = mixco_targets(perm, lam)
    brain_to_image = -(F.log_softmax(logits, dim=-1) * targets).sum(-1).mean()
    image_to_brain = -(F.log_softmax(logits.T, dim=-1) * targets.T).sum(-1).mean()
    return (brain_to_image + image_to_brain) / 2


def soft_clip_loss(brain: torch.Tensor, images: torch.Tensor, temperature: float = 0.005) -> torch.Tensor:
    """Soft-CLIP: cross-entropy of the brain -> image logits against softmax of the image -> image
    similarities, in both directions. Minimal (equal to the targets' entropy) when brain == images."""
    b, v = _unit(brain), _unit(images)
    targets = F.softmax(v @ v.T / temperature, dim=-1)
    logits = b @ v.T / temperature
    brain_to_image = -(F.log_softmax(logits, dim=-1) * targets).sum(-1).mean()
    image_to_brain = -(F.log_softmax(logits.T, dim=-1) * targets).sum(-1).mean()
    return (brain_to_image + image_to_brain) / 2


def cosine_anneal(start: float, end: float, n: int) -> torch.Tensor:
    """(n,) values going from `start` to `end` along half a cosine (soft-CLIP's temperature schedule)."""
    if n <= 1:
        return torch.full((max(n, 0),), float(end))
    return end + (start - end) * (1 + torch.cos(torch.linspace(0, torch.pi, n))) / 2
