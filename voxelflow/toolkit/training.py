"""The one training loop of voxelflow's torch models: steps, validation and early stopping, atomic checkpoints
and exact resume, seeding, autocast, progress bar and log line.

A model's `fit` builds its network, optimizer and schedule, then hands the loop two closures: `step_loss(step)`,
the loss of one optimisation step (drawing its batch with `batches(step)` or `step_rng(seed, step)`), and
optionally `validation_loss()`. Every step is seeded from (seed, step) alone, so a run interrupted and resumed
from its checkpoint ends with the same weights as one that never stopped (on the same threads).
"""

from __future__ import annotations

import copy
import logging
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from tqdm import tqdm

from voxelflow.toolkit.model_files import load_checkpoint, save_checkpoint

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class LoopSettings:
    """steps: optimisation steps in all; eval_every: steps between validations, log lines and checkpoints (an
    epoch's worth for epoch-based models); patience: validations without improvement before stopping (None:
    never; needs a validation loss); clip_grad_norm: max gradient norm (None: no clipping); seed: of every step;
    autocast: bfloat16 autocast on CUDA (never on the CPU); desc: the progress bar's and log line's label."""

    steps: int
    eval_every: int = 1
    patience: int | None = None
    clip_grad_norm: float | None = None
    seed: int = 0
    autocast: bool = False
    desc: str = "training"


def step_seed(seed: int, step: int, stream: int = 0) -> int:
    """The seed of one step (stream 0) or one epoch's shuffle (stream 1): a function of (seed, stream, step)
    only, so resuming replays the same randomness."""
    return int(np.random.SeedSequence([seed, stream, step]).generate_state(1)[0])


def step_rng(seed: int, step: int) -> tuple[torch.Generator, np.random.Generator]:
    """A torch and a numpy generator for one step's random draws (noise, batches, augmentation)."""
    seed = step_seed(seed, step)
    return torch.Generator().manual_seed(seed), np.random.default_rng(seed)


class EpochBatches:
    """Shuffled mini-batches of `n` samples: step s is batch s % steps_per_epoch of epoch s // steps_per_epoch,
    whose permutation is seeded by (seed, epoch). drop_last: leave out the last partial batch (unless it is the
    only one), as contrastive losses want equal batches."""

    def __init__(self, n: int, batch_size: int, seed: int, drop_last: bool = True):
        self.n, self.batch_size, self.seed = n, batch_size, seed
        self.steps_per_epoch = max(1, n // batch_size if drop_last else -(-n // batch_size))
        self._epoch, self._order = -1, None

    def __call__(self, step: int) -> tuple[torch.Tensor, int]:
        """(indices (b,) int64 of this step's samples, epoch)."""
        epoch, index = divmod(step, self.steps_per_epoch)
        if epoch != self._epoch:
            shuffle = torch.Generator().manual_seed(step_seed(self.seed, epoch, stream=1))
            self._order = torch.randperm(self.n, generator=shuffle)
            self._epoch = epoch
        return self._order[index * self.batch_size:(index + 1) * self.batch_size], epoch


def one_cycle(optimizer: torch.optim.Optimizer, lr: float | list[float], total_steps: int, pct_start: float = 0.3):
    """OneCycleLR peaking at `lr` (one per parameter group, or one for all) after `pct_start` of `total_steps`,
    with at least two steps of warm-up and of decay (OneCycleLR divides by zero otherwise); a constant `lr` for
    runs of fewer than 5 steps."""
    if total_steps < 5:
        return torch.optim.lr_scheduler.LambdaLR(optimizer, lambda step: 1.0)
    pct_start = min(max(pct_start, 2 / total_steps), 1 - 2 / total_steps)
    return torch.optim.lr_scheduler.OneCycleLR(optimizer, max_lr=lr, total_steps=total_steps, pct_start=pct_start)


def train(model: torch.nn.Module, optimizer: torch.optim.Optimizer, schedule, step_loss: Callable[[int], torch.Tensor],
          settings: LoopSettings, validation_loss: Callable[[], float] | None = None,
          checkpoint: str | Path | None = None, identity: dict | None = None) -> list[tuple[int, float, float]]:
    """Run `settings.steps` optimisation steps of `step_loss(step)` (a scalar loss; the global torch RNG is seeded
    by (seed, step) first, for dropout) and return the history: (steps done, mean training loss since the last
    evaluation, validation loss or None) at every evaluation.

    With `validation_loss`, the weights of the best evaluation are restored at the end and training stops after
    `patience` evaluations without improvement. With `checkpoint` (a path) the model, optimizer, schedule and
    loop state are written there atomically at every evaluation, tagged with `identity` (settings and a
    fingerprint of the training data): a later call with the same identity resumes from it, one with another
    identity discards it (`model_files.load_checkpoint`). The model is left in eval mode.
    """
    device = next(model.parameters()).device
    history, best, best_state, stale, start = [], float("inf"), None, 0, 0
    saved = load_checkpoint(checkpoint, identity or {}, device)
    if saved is not None:
        model.load_state_dict(saved["model"])
        optimizer.load_state_dict(saved["optimizer"])
        schedule.load_state_dict(saved["schedule"])
        history, best, best_state, stale, start = (saved[key] for key in ("history", "best", "best_state", "stale",
                                                                          "step"))
    running, counted = 0.0, 0
    for step in tqdm(range(start, settings.steps), desc=settings.desc, unit="step", initial=start,
                     total=settings.steps):
        if settings.patience is not None and stale >= settings.patience:
            break
        model.train()
        torch.manual_seed(step_seed(settings.seed, step))
        with torch.autocast(device.type, dtype=torch.bfloat16, enabled=settings.autocast and device.type == "cuda"):
            loss = step_loss(step)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()  # bfloat16 keeps float32's range: no loss scaling needed
        if settings.clip_grad_norm is not None:
            torch.nn.utils.clip_grad_norm_(model.parameters(), settings.clip_grad_norm)
        optimizer.step()
        schedule.step()
        running, counted = running + loss.item(), counted + 1
        if (step + 1) % settings.eval_every and step + 1 != settings.steps:
            continue
        validation = None
        if validation_loss is not None:
            model.eval()
            with torch.no_grad():
                validation = float(validation_loss())
            if validation < best:
                best, best_state, stale = validation, copy.deepcopy(model.state_dict()), 0
            else:
                stale += 1
        history.append((step + 1, running / counted, validation))
        log.info("%s, step %d/%d: training loss %.4f%s", settings.desc, step + 1, settings.steps, running / counted,
                 "" if validation is None else f", validation loss {validation:.4f}")
        running, counted = 0.0, 0
        if checkpoint:
            save_checkpoint(checkpoint, identity or {}, {
                "model": model.state_dict(), "optimizer": optimizer.state_dict(), "schedule": schedule.state_dict(),
                "history": history, "best": best, "best_state": best_state, "stale": stale, "step": step + 1})
    if best_state is not None:
        model.load_state_dict(best_state)
    model.eval()
    return history
