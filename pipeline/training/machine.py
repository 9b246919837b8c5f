"""What a run's times were measured on: the machine, and how busy its cores were at the end of
the run. Reports state both, so that a reader can tell a slow method from a shared machine."""

from __future__ import annotations

import functools
import os
from pathlib import Path

import torch


@functools.cache
def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return "unknown CPU"


def describe(device: str) -> str:
    """e.g. 'Intel(R) Xeon(R) ..., 2 cores' or 'NVIDIA H200; Intel(R) Xeon(R) ..., 16 cores' (params'
    runtime.device: a GPU is named when the run could use one)."""
    cpu = f"{_cpu_model()}, {os.cpu_count()} cores"
    if device != "cpu" and torch.cuda.is_available():
        return f"{torch.cuda.get_device_name(0)}; {cpu}"
    return cpu


def load() -> dict[str, float]:
    """The 1-minute load average now, the core count (the load includes the run's own threads: a
    quiet machine reads at most about its core count while a run trains), and the threads PyTorch
    computes with (OMP_NUM_THREADS): another count sums in another order, as another CPU does."""
    one_minute = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    return {
        "load_avg_1m": round(one_minute, 2),
        "cpu_cores": float(os.cpu_count() or 1),
        "torch_threads": float(torch.get_num_threads()),
    }
