"""The training-step timer both sides of the comparison use (torch and numpy only, so it imports
in the peers venv, which has no project)."""

from __future__ import annotations

import time

import numpy as np
import torch
from torch import nn

#: Untimed steps before the timed ones (allocator and thread-pool warm-up).
WARMUP = 2


def time_steps(
    net: nn.Module,
    x: torch.Tensor,
    y: torch.Tensor,
    repeats: int,
    budget: float,
    logit_scale: float,
) -> tuple[float, float, int]:
    """Median wall and CPU seconds of a training step, and how many steps were timed.

    One step: zero_grad, forward, ``cross_entropy(logit_scale * out.double(), y)``, backward,
    Adam(lr=0.01) step. ``WARMUP`` untimed steps first; cut short after ``budget`` seconds (a
    single step over budget is kept).
    """
    optimizer = torch.optim.Adam(net.parameters(), lr=0.01)
    walls, cpus = [], []
    spent = 0.0
    for i in range(repeats + WARMUP):
        wall, cpu = time.perf_counter(), time.process_time()
        optimizer.zero_grad()
        out = net(x)
        loss = nn.functional.cross_entropy(logit_scale * out.to(torch.float64), y)
        loss.backward()
        optimizer.step()
        wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
        spent += wall
        if i >= WARMUP or repeats == 0:
            walls.append(wall)
            cpus.append(cpu)
        if spent > budget and walls:
            break
        if i == 0 and spent > budget:  # a single step blew the budget: keep it
            walls.append(wall)
            cpus.append(cpu)
            break
    return float(np.median(walls)), float(np.median(cpus)), len(walls)
