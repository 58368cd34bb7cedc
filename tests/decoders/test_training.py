"""The decoders' learning-rate schedule: a one-cycle peak at lr, and short runs that do not break it."""

import pytest
import torch

from voxelflow.decoders.training import one_cycle


@pytest.mark.parametrize("total", [1, 2, 3, 4, 5, 6, 10, 100])
def test_one_cycle_runs_any_number_of_steps_and_peaks_at_lr(total):
    optimizer = torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=0.5)
    schedule = one_cycle(optimizer, 0.5, total, pct_start=0.1)
    rates = []
    for _ in range(total):
        rates.append(optimizer.param_groups[0]["lr"])
        optimizer.step()
        schedule.step()
    assert max(rates) == pytest.approx(0.5, rel=1e-6)
    if total >= 5:
        assert rates[0] < 0.5 and rates[-1] < 0.5  # warm-up and decay
