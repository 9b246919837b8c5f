"""Batched input path: uint8 images -> normalised float batches, with per-sample random
crops and flips applied to the whole batch at once (no Python loop over images), on any device."""

from __future__ import annotations

import torch
import torch.nn.functional as F


def random_crop(x: torch.Tensor, padding: int, gen: torch.Generator) -> torch.Tensor:
    """Zero-pad by `padding` and cut a random HxW window per sample, as one gather."""
    if padding == 0:
        return x
    b, _, h, w = x.shape
    padded = F.pad(x, (padding, padding, padding, padding))
    dy = torch.randint(0, 2 * padding + 1, (b,), generator=gen, device=gen.device).to(x.device)
    dx = torch.randint(0, 2 * padding + 1, (b,), generator=gen, device=gen.device).to(x.device)
    rows = (dy[:, None] + torch.arange(h, device=x.device))[:, None, :, None]  # [B,1,H,1]
    cols = (dx[:, None] + torch.arange(w, device=x.device))[:, None, None, :]  # [B,1,1,W]
    batch = torch.arange(b, device=x.device)[:, None, None, None]
    chan = torch.arange(x.shape[1], device=x.device)[None, :, None, None]
    return padded[batch, chan, rows, cols]


def random_hflip(x: torch.Tensor, gen: torch.Generator) -> torch.Tensor:
    flip = torch.rand(x.shape[0], generator=gen, device=gen.device).to(x.device) < 0.5
    return torch.where(flip[:, None, None, None], x.flip(3), x)


class InputPipeline:
    """Turns a batch of uint8 images (already on the device) into the model's input."""

    def __init__(self, mean: torch.Tensor, std: torch.Tensor, device: torch.device,
                 crop_padding: int = 0, hflip: bool = False, channels_last: bool = False):
        self.mean = (mean * 255.0).view(1, -1, 1, 1).to(device)
        self.inv_std = (1.0 / (std * 255.0)).view(1, -1, 1, 1).to(device)
        self.crop_padding = crop_padding
        self.hflip = hflip
        self.memory_format = torch.channels_last if channels_last else torch.contiguous_format

    def __call__(self, images: torch.Tensor, gen: torch.Generator | None = None) -> torch.Tensor:
        """Augment (when `gen` is given) on uint8, then normalise to float32."""
        if gen is not None:
            images = random_crop(images, self.crop_padding, gen)
            if self.hflip:
                images = random_hflip(images, gen)
        x = (images.float() - self.mean) * self.inv_std
        return x.contiguous(memory_format=self.memory_format)
