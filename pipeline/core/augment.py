"""Batched input paths: uint8 images -> normalised float batches, with per-sample random
augmentations applied to the whole batch at once (no Python loop over images), on any device.
InputPipeline serves supervised training (crop and flip); TwoViews serves SimCLR (resized crop,
flip, colour jitter)."""

from __future__ import annotations

import math

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

    def __init__(
        self,
        mean: torch.Tensor,
        std: torch.Tensor,
        device: torch.device,
        crop_padding: int = 0,
        hflip: bool = False,
        channels_last: bool = False,
    ):
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


def _uniform(n: int, lo: float, hi: float, gen: torch.Generator, device: torch.device) -> torch.Tensor:
    return (torch.rand(n, generator=gen, device=gen.device) * (hi - lo) + lo).to(device)


def random_resized_crop(
    x: torch.Tensor,
    gen: torch.Generator,
    min_scale: float = 0.2,
    ratio: tuple[float, float] = (3 / 4, 4 / 3),
    hflip: bool = True,
) -> torch.Tensor:
    """SimCLR's crop as one batched affine resample: per sample, a window of area in
    [min_scale, 1] of the image and aspect ratio in `ratio` (log-uniform), at a random position,
    resized back to HxW (bilinear), mirrored with probability 1/2. x: float [B, C, H, W]."""
    b, device = x.shape[0], x.device
    area = _uniform(b, min_scale, 1.0, gen, device)
    log_r = _uniform(b, math.log(ratio[0]), math.log(ratio[1]), gen, device)
    w = torch.sqrt(area * log_r.exp()).clamp(max=1.0)  # window size as a fraction of the side
    h = torch.sqrt(area / log_r.exp()).clamp(max=1.0)
    cx = _uniform(b, -1.0, 1.0, gen, device) * (1.0 - w)  # centre, in [-1, 1] grid coordinates
    cy = _uniform(b, -1.0, 1.0, gen, device) * (1.0 - h)
    sign = torch.ones(b, device=device)
    if hflip:
        sign = torch.where(_uniform(b, 0.0, 1.0, gen, device) < 0.5, -sign, sign)
    theta = torch.zeros(b, 2, 3, device=device)
    theta[:, 0, 0], theta[:, 0, 2] = w * sign, cx
    theta[:, 1, 1], theta[:, 1, 2] = h, cy
    grid = F.affine_grid(theta, list(x.shape), align_corners=False)
    return F.grid_sample(x, grid, mode="bilinear", padding_mode="reflection", align_corners=False)


def shift_hue(x: torch.Tensor, shift: torch.Tensor) -> torch.Tensor:
    """Rotate each RGB image's hue by `shift` turns ([B], in [-0.5, 0.5]) through HSV, keeping
    saturation and value, as torchvision's adjust_hue does per image. x: float [B, 3, H, W] in [0, 1]."""
    r, g, b = x.unbind(1)
    value, lowest = x.amax(dim=1), x.amin(dim=1)
    chroma = value - lowest
    safe = torch.where(chroma > 0, chroma, torch.ones_like(chroma))
    # Which channel is the largest decides the hue sector; ties go to red, then green.
    red_max, green_max = value == r, (value == g) & (value != r)
    sector = torch.where(red_max, (g - b) / safe, torch.where(green_max, 2 + (b - r) / safe, 4 + (r - g) / safe))
    hue = torch.where(chroma > 0, sector / 6, torch.zeros_like(sector))
    hue = (hue + shift.view(-1, 1, 1)) % 1.0
    saturation = chroma / torch.where(value > 0, value, torch.ones_like(value))
    # Back to RGB in closed form: channel n of (5, 3, 1) is v - v*s*clamp(min(k, 4 - k), 0, 1),
    # k = (n + 6*hue) mod 6.
    n = torch.tensor([5.0, 3.0, 1.0], device=x.device).view(1, 3, 1, 1)
    k = (n + 6 * hue[:, None]) % 6
    return value[:, None] * (1 - saturation[:, None] * torch.minimum(k, 4 - k).clamp(0.0, 1.0))


def colour_jitter(
    x: torch.Tensor, gen: torch.Generator, strength: float = 0.4, p: float = 0.8, p_gray: float = 0.2
) -> torch.Tensor:
    """SimCLR's colour distortion, per sample, on float images in [0, 1]: with probability p,
    brightness and contrast (and for RGB saturation) scaled by factors in [1 - strength,
    1 + strength] and the hue rotated by up to strength / 4 of a turn (SimCLR's 0.8s : 0.2s), then
    for RGB a random grayscale with probability p_gray. The four run in a fixed order, where
    torchvision draws a random one."""
    b, c, device = x.shape[0], x.shape[1], x.device
    apply = (_uniform(b, 0.0, 1.0, gen, device) < p).view(b, 1, 1, 1)
    factor = lambda: _uniform(b, 1.0 - strength, 1.0 + strength, gen, device).view(b, 1, 1, 1)
    gray = lambda t: (t * torch.tensor([0.299, 0.587, 0.114], device=device).view(1, 3, 1, 1)).sum(1, keepdim=True)
    y = x * factor()
    luma = (gray(y) if c == 3 else y).mean(dim=(1, 2, 3), keepdim=True)
    y = (y - luma) * factor() + luma
    if c == 3:
        y = gray(y) + (y - gray(y)) * factor()
        hue = strength / 4
        y = shift_hue(y.clamp(0.0, 1.0), _uniform(b, -hue, hue, gen, device))
    y = torch.where(apply, y, x).clamp(0.0, 1.0)
    if c == 3:
        to_gray = (_uniform(b, 0.0, 1.0, gen, device) < p_gray).view(b, 1, 1, 1)
        y = torch.where(to_gray, gray(y).expand_as(y), y)
    return y


class TwoViews:
    """SimCLR's input path: two independently augmented views of each uint8 image, normalised."""

    def __init__(
        self,
        mean: torch.Tensor,
        std: torch.Tensor,
        device: torch.device,
        min_scale: float = 0.2,
        jitter: float = 0.4,
        channels_last: bool = False,
    ):
        self.mean = mean.view(1, -1, 1, 1).to(device)
        self.inv_std = (1.0 / std).view(1, -1, 1, 1).to(device)
        self.min_scale = min_scale
        self.jitter = jitter
        self.memory_format = torch.channels_last if channels_last else torch.contiguous_format

    def view(self, images: torch.Tensor, gen: torch.Generator) -> torch.Tensor:
        x = random_resized_crop(images.float() / 255.0, gen, self.min_scale)
        if self.jitter > 0:
            x = colour_jitter(x, gen, self.jitter)
        return ((x - self.mean) * self.inv_std).contiguous(memory_format=self.memory_format)

    def __call__(self, images: torch.Tensor, gen: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
        return self.view(images, gen), self.view(images, gen)
