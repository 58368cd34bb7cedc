"""Time optimisation steps of a model and report the process's peak memory (shared by the training benchmarks)."""

from __future__ import annotations

import resource
import time
from collections.abc import Callable

import torch


def time_loss_steps(loss_fn: Callable[[], torch.Tensor], parameters, steps: int, device: torch.device,
                    lr: float = 1e-3) -> dict:
    """Run one warm-up and then `steps` AdamW steps of `loss_fn()` (bfloat16 autocast on CUDA).

    parameters: tensors or AdamW parameter groups. Returns seconds for the timed steps, peak resident memory
    of this process (MiB) and, on CUDA, peak allocated GPU memory (MiB)."""
    optimizer = torch.optim.AdamW(parameters, lr=lr)

    def step():
        with torch.autocast(device.type, dtype=torch.bfloat16, enabled=device.type == "cuda"):
            loss = loss_fn()
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()

    step()  # warm-up: allocates the optimizer state
    if device.type == "cuda":
        torch.cuda.synchronize()
    start = time.perf_counter()
    for _ in range(steps):
        step()
    if device.type == "cuda":
        torch.cuda.synchronize()
    result = {"seconds": time.perf_counter() - start,
              "peak_rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}
    if device.type == "cuda":
        result["peak_gpu_mib"] = torch.cuda.max_memory_allocated() / 2**20
    return result
