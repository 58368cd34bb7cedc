"""MindEye's contrastive losses: targets, minima and gradients, on hand-checkable cases."""

import numpy as np
import torch

from voxelflow.decoders.losses import cosine_anneal, mixco, mixco_nce, mixco_targets, soft_clip_loss


def test_mixco_targets_put_lambda_on_self_and_the_rest_on_the_partner():
    perm = torch.tensor([1, 0, 2])
    lam = torch.tensor([0.7, 1.0, 0.4])
    expected = torch.tensor([[0.7, 0.3, 0.0],
                             [0.0, 1.0, 0.0],  # unmixed: lam 1, all weight on itself
                             [0.0, 0.0, 1.0]])  # mixed with itself: 0.4 + 0.6 on the diagonal
    assert torch.allclose(mixco_targets(perm, lam), expected)


def test_mixco_mixes_voxels_by_lambda():
    voxels = torch.randn(64, 10)
    mixed, perm, lam = mixco(voxels, prob=0.5, generator=torch.Generator().manual_seed(0))
    assert torch.allclose(mixed, lam[:, None] * voxels + (1 - lam[:, None]) * voxels[perm])
    assert 0.2 < (lam < 1).float().mean() < 0.8  # about half of the batch is mixed
    assert ((lam >= 0) & (lam <= 1)).all()


def test_mixco_nce_without_mixing_is_infonce():
    torch.manual_seed(0)
    brain, images = torch.randn(8, 5), torch.randn(8, 5)
    loss = mixco_nce(brain, images, torch.arange(8), torch.ones(8), temperature=0.1)
    b = torch.nn.functional.normalize(brain, dim=-1)
    v = torch.nn.functional.normalize(images, dim=-1)
    logits = b @ v.T / 0.1
    expected = (torch.nn.functional.cross_entropy(logits, torch.arange(8))
                + torch.nn.functional.cross_entropy(logits.T, torch.arange(8))) / 2
    assert torch.isclose(loss, expected, atol=1e-5)


def test_soft_clip_is_at_its_minimum_when_brain_equals_images():
    torch.manual_seed(0)
    images = torch.randn(6, 3, 4)  # token grids are flattened per sample
    brain = images.clone().requires_grad_(True)
    loss = soft_clip_loss(brain, images, temperature=0.5)
    v = torch.nn.functional.normalize(images.flatten(1), dim=-1)
    p = torch.softmax(v @ v.T / 0.5, dim=-1)
    entropy = -(p * p.log()).sum(-1).mean()  # cross-entropy of p with itself
    assert torch.isclose(loss, entropy, atol=1e-5)
    loss.backward()
    assert brain.grad.abs().max() < 1e-5
    assert soft_clip_loss(torch.randn(6, 3, 4), images, temperature=0.5) > loss


def test_losses_fall_on_a_toy_alignment_problem():
    torch.manual_seed(0)
    voxels = torch.randn(64, 20)
    images = voxels @ torch.randn(20, 8)  # a linear map the model can learn
    model = torch.nn.Linear(20, 8)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-2)
    losses = []
    for step in range(150):
        if step < 75:
            mixed, perm, lam = mixco(voxels, generator=torch.Generator().manual_seed(step))
            loss = mixco_nce(model(mixed), images, perm, lam, temperature=0.1)
        else:
            loss = soft_clip_loss(model(voxels), images, temperature=0.1)
        optimizer.zero_grad()
        loss.backward()
        assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in model.parameters())
        optimizer.step()
        losses.append(loss.item())
    assert np.mean(losses[60:75]) < 0.5 * np.mean(losses[:5])
    assert losses[-1] < losses[75]
    top1 = (torch.nn.functional.normalize(model(voxels), dim=-1)
            @ torch.nn.functional.normalize(images, dim=-1).T).argmax(1)
    assert (top1 == torch.arange(64)).float().mean() > 0.9


def test_cosine_anneal_runs_from_start_to_end():
    values = cosine_anneal(0.004, 0.0075, 5)
    assert np.isclose(values[0], 0.004) and np.isclose(values[-1], 0.0075)
    assert np.isclose(values[2], (0.004 + 0.0075) / 2)
    assert (np.diff(values.numpy()) > 0).all()
