"""The epoch loop the decoders' models share: shuffled mini-batches, AdamW with a one-cycle schedule."""

from __future__ import annotations

from collections.abc import Callable

import torch
from tqdm import tqdm


def train_epochs(batch_loss: Callable[[torch.Tensor, int], torch.Tensor], parameters, n: int, batch_size: int,
                 epochs: int, lr: float, generator: torch.Generator, desc: str, weight_decay: float = 1e-2,
                 pct_start: float = 0.3) -> list[float]:
    """Train for `epochs` passes over `n` samples in shuffled batches (the last partial batch dropped).

    batch_loss(indices (b,), epoch) -> scalar loss of those samples. parameters: tensors or AdamW groups.
    AdamW (weight_decay, unless a group sets its own) with OneCycleLR peaking at `lr` after `pct_start` of
    the steps. Returns the mean loss of each epoch.
    """
    steps_per_epoch = max(1, n // batch_size)
    optimizer = torch.optim.AdamW(parameters, lr=lr, weight_decay=weight_decay)
    schedule = one_cycle(optimizer, lr, epochs * steps_per_epoch, pct_start)
    history = []
    for epoch in tqdm(range(epochs), desc=desc, unit="epoch"):
        order = torch.randperm(n, generator=generator)
        total = 0.0
        for step in range(steps_per_epoch):
            loss = batch_loss(order[step * batch_size:(step + 1) * batch_size], epoch)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            schedule.step()
            total += loss.item()
        history.append(total / steps_per_epoch)
    return history


def one_cycle(optimizer: torch.optim.Optimizer, lr: float, total_steps: int, pct_start: float = 0.3):
    """OneCycleLR peaking at `lr` after `pct_start` of `total_steps`, with at least two steps of warm-up and of
    decay (OneCycleLR divides by zero otherwise); a constant `lr` for runs of fewer than 5 steps."""
    if total_steps < 5:
        return torch.optim.lr_scheduler.LambdaLR(optimizer, lambda step: 1.0)
    pct_start = min(max(pct_start, 2 / total_steps), 1 - 2 / total_steps)
    return torch.optim.lr_scheduler.OneCycleLR(optimizer, max_lr=lr, total_steps=total_steps, pct_start=pct_start)
