"""Shared timing helper of the benchmark scripts (run them as `python benchmarks/NAME.py`)."""

from __future__ import annotations

import time

import numpy as np
import torch


def median_seconds(function, repeats: int, device: torch.device) -> float:
    """Median seconds of ``function()`` over ``repeats`` runs, after one warm-up run (allocation, kernel choice)."""
    function()
    times = []
    for _ in range(repeats):
        if device.type == "cuda":
            torch.cuda.synchronize()
        start = time.perf_counter()
        function()
        if device.type == "cuda":
            torch.cuda.synchronize()
        times.append(time.perf_counter() - start)
    return float(np.median(times))
