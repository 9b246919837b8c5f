"""Where and how a run computes: the device, the torchrun world, bf16 autocast, channels-last
memory and torch.compile. A task places its model and data through the runtime and never asks
which device it is on."""

from __future__ import annotations

import contextlib

import torch
from torch import nn
from torch.nn.parallel import DistributedDataParallel

from ..core.errors import UserError
from . import distributed, gpus
from .settings import RuntimeConfig


def resolve_device(name: str, world: distributed.World = distributed.World()) -> torch.device:
    """runtime.device as a torch device. Under torchrun, auto and cuda mean this rank's GPU (LOCAL_RANK);
    otherwise auto on a multi-GPU machine takes a GPU no other stage holds (pipeline/training/gpus.py)."""
    if name == "auto":
        name = "cuda" if torch.cuda.is_available() else "cpu"
        if name == "cuda" and world.size == 1 and torch.cuda.device_count() > 1:
            name = f"cuda:{gpus.claim(torch.cuda.device_count())}"  # one stage per GPU
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise UserError(f"runtime.device = {name!r} but no CUDA device is available: set runtime.device to auto or cpu")
    if name == "cuda" and world.size > 1:
        name = f"cuda:{world.local_rank}"
    device = torch.device(name)
    if device.type == "cuda" and device.index is not None and device.index >= torch.cuda.device_count():
        raise UserError(
            f"runtime.device = {name!r} but this machine has {torch.cuda.device_count()} CUDA "
            f"device(s): pick cuda:0 to cuda:{torch.cuda.device_count() - 1}"
        )
    return device


class Runtime:
    """params.yaml's `runtime` section (shared by every stage) resolved for this process."""

    def __init__(self, settings: RuntimeConfig, device: torch.device | None = None):
        self.world = distributed.setup(settings.device)
        self.device = device or resolve_device(settings.device, self.world)
        self.on_cuda = self.device.type == "cuda"
        if self.on_cuda:
            # Batch shapes are fixed, so cuDNN's one-off search for the fastest kernels pays off.
            torch.backends.cudnn.benchmark = True
        self.amp = self.on_cuda and settings.amp
        # NHWC on CPU too: oneDNN's convolutions and pooling run about twice as fast in it for
        # these CNNs (a default-study cell: 14.2 s -> 8.9 s; benchmarks/overhead.py).
        self.channels_last = settings.channels_last
        self.compile = settings.compile
        self.eval_batch_size = settings.eval_batch_size

    def place(
        self, model: nn.Module, compiled: list[nn.Module] | None = None, dynamic: bool | None = False
    ) -> tuple[nn.Module, nn.Module]:
        """The model on the device (channels-last on CUDA; `compiled`, default the model itself,
        compiled when runtime.compile says so; `dynamic` as torch.compile's, None for inputs whose
        shapes vary, such as text batches cut to their longest text), and the module the training forward passes go
        through: under torchrun, DistributedDataParallel, which averages the gradients over the
        ranks during backward; otherwise the model itself."""
        model = model.to(self.device)
        if self.channels_last:
            model = model.to(memory_format=torch.channels_last)
        if self.compile:
            # In place (Module.compile), so state_dict keys and checkpoints stay as without it.
            for module in compiled or [model]:
                module.compile(dynamic=dynamic)
        net = (
            model
            if self.world.size == 1
            else DistributedDataParallel(model, device_ids=[self.device.index] if self.on_cuda else None)
        )
        return model, net

    def to_device(self, x: torch.Tensor) -> torch.Tensor:
        """A host tensor on the device (through pinned memory on CUDA, without blocking)."""
        return (x.pin_memory() if self.on_cuda else x).to(self.device, non_blocking=True)

    def autocast(self):
        if self.amp:
            return torch.autocast("cuda", dtype=torch.bfloat16)
        return contextlib.nullcontext()

    def synchronize(self) -> None:
        """Wait for the device's queued work (so that a timing measures it)."""
        if self.on_cuda:
            torch.cuda.synchronize(self.device)
