"""The networks of score-based, diffusion and flow-matching models (chapter 08): f(x, t, label) → a tensor
shaped like x (a noise prediction ε̂, a score, or a velocity).

* ``time_embedding``: the sinusoidal features of the time t ∈ [0, 1] (Vaswani et al., 2017; Ho et al., 2020);
* ``MLPDenoiser``: a residual MLP on the flattened input, for 2D toys and 8×8 digits;
* ``UNetDenoiser``: a small U-Net (Ronneberger et al., 2015) for images, e.g. 28×28 MNIST on the GPU path.

Both take an optional class label per example: ``context`` in 0..classes, where the extra value ``classes``
means "no label" — what classifier-free guidance trains with (Ho & Salimans, 2022).
"""

from __future__ import annotations

import math

import torch
from torch import nn

from ..validation import positive_int


def time_embedding(t: torch.Tensor, features: int) -> torch.Tensor:
    """Sinusoidal features of times t (B,) in [0, 1]: (B, features), sin and cos of 1000·t at geometric
    frequencies from 1 to 1/10 000 (so t = 0.001 and t = 0.002 are told apart). ``features`` must be even."""
    if not isinstance(t, torch.Tensor) or t.ndim != 1:
        raise ValueError(f"t must have shape (B,), one time per example, got "
                         f"{tuple(t.shape) if isinstance(t, torch.Tensor) else type(t).__name__}")
    features = _even(features, "features")
    half = features // 2
    frequencies = torch.exp(-math.log(10_000.0) * torch.arange(half, device=t.device, dtype=t.dtype) / half)
    angles = 1000.0 * t[:, None] * frequencies
    return torch.cat([torch.sin(angles), torch.cos(angles)], dim=1)


def _even(value, name: str) -> int:
    value = positive_int(value, name, minimum=2)
    if value % 2:
        raise ValueError(f"{name} must be even (sines and cosines in pairs), got {value}")
    return value


class _Conditioning(nn.Module):
    """Time (and class) → one embedding vector per example (B, features)."""

    def __init__(self, features: int, context_classes: int | None):
        super().__init__()
        self.features = _even(features, "embedding")
        self.context_classes = positive_int(context_classes, "context_classes") if context_classes else None
        self.time = nn.Sequential(nn.Linear(features, features), nn.SiLU(), nn.Linear(features, features))
        # one more row than classes: the "no label" token of classifier-free guidance
        self.label = nn.Embedding(self.context_classes + 1, features) if self.context_classes else None

    def forward(self, t, context):
        embedding = self.time(time_embedding(t, self.features))
        if self.label is not None:
            if context is None:
                context = torch.full((len(t),), self.context_classes, dtype=torch.long, device=t.device)
            embedding = embedding + self.label(context)
        return embedding


class MLPDenoiser(nn.Module):
    """f(x, t, label) for inputs of any ``shape`` (``(2,)`` points, ``(1, 8, 8)`` images), flattened:
    a linear layer to ``hidden`` units, ``blocks`` residual blocks h ← h + W₂ SiLU(W₁ SiLU(h) + e(t, label)),
    a linear layer back. The last layer starts at zero, so an untrained network predicts 0."""

    def __init__(self, shape, hidden: int = 256, blocks: int = 3, context_classes: int | None = None,
                 embedding: int = 64):
        super().__init__()
        self.shape = tuple(positive_int(s, "shape") for s in shape)
        features = math.prod(self.shape)
        hidden, blocks, embedding = (positive_int(v, name) for v, name in ((hidden, "hidden"), (blocks, "blocks"),
                                                                            (embedding, "embedding")))
        self.conditioning = _Conditioning(embedding, context_classes)
        self.context_classes = self.conditioning.context_classes
        self.input = nn.Linear(features, hidden)
        self.inner = nn.ModuleList(nn.Linear(hidden, hidden) for _ in range(blocks))
        self.embed = nn.ModuleList(nn.Linear(embedding, hidden) for _ in range(blocks))
        self.outer = nn.ModuleList(nn.Linear(hidden, hidden) for _ in range(blocks))
        self.output = nn.Linear(hidden, features)
        nn.init.zeros_(self.output.weight)
        nn.init.zeros_(self.output.bias)

    def forward(self, x: torch.Tensor, t: torch.Tensor, context: torch.Tensor | None = None) -> torch.Tensor:
        """x (B, *shape), t (B,) in [0, 1], context (B,) labels or None → (B, *shape)."""
        e = self.conditioning(t, context)
        h = self.input(x.reshape(len(x), -1))
        for inner, embed, outer in zip(self.inner, self.embed, self.outer):
            h = h + outer(nn.functional.silu(inner(nn.functional.silu(h)) + embed(e)))
        return self.output(nn.functional.silu(h)).reshape(x.shape)


def _groups(channels: int) -> int:
    return math.gcd(channels, 8)


class _ResidualBlock(nn.Module):
    def __init__(self, channels_in: int, channels_out: int, embedding: int):
        super().__init__()
        self.first = nn.Sequential(nn.GroupNorm(_groups(channels_in), channels_in), nn.SiLU(),
                                   nn.Conv2d(channels_in, channels_out, 3, padding=1))
        self.embed = nn.Linear(embedding, channels_out)
        self.second = nn.Sequential(nn.GroupNorm(_groups(channels_out), channels_out), nn.SiLU(),
                                    nn.Conv2d(channels_out, channels_out, 3, padding=1))
        self.skip = nn.Conv2d(channels_in, channels_out, 1) if channels_in != channels_out else nn.Identity()

    def forward(self, x, e):
        h = self.first(x) + self.embed(e)[:, :, None, None]
        return self.skip(x) + self.second(h)


class UNetDenoiser(nn.Module):
    """A small U-Net f(x, t, label) on images (C, H, W): ``depth`` halvings of the resolution (H and W must be
    divisible by 2^depth), channels ``width`` · 2^level, one residual block per level on the way down and up,
    skip connections across. 8×8 digits: depth 1; 28×28 MNIST: depth 2 (28 → 14 → 7)."""

    def __init__(self, image_shape=(1, 8, 8), width: int = 32, depth: int = 1, context_classes: int | None = None,
                 embedding: int = 64):
        super().__init__()
        if len(image_shape) != 3:
            raise ValueError(f"image_shape must be (C, H, W), got {image_shape!r}")
        self.shape = c, h, w = tuple(positive_int(s, "image_shape") for s in image_shape)
        width, depth, embedding = (positive_int(v, name) for v, name in ((width, "width"), (depth, "depth"),
                                                                          (embedding, "embedding")))
        if h % 2 ** depth or w % 2 ** depth:
            raise ValueError(f"image height and width must be divisible by 2^depth = {2 ** depth}, got {h}×{w}")
        self.conditioning = _Conditioning(embedding, context_classes)
        self.context_classes = self.conditioning.context_classes
        widths = [width * 2 ** level for level in range(depth + 1)]
        self.input = nn.Conv2d(c, width, 3, padding=1)
        self.down = nn.ModuleList(_ResidualBlock(widths[i], widths[i], embedding) for i in range(depth))
        self.downsample = nn.ModuleList(nn.Conv2d(widths[i], widths[i + 1], 3, stride=2, padding=1)
                                        for i in range(depth))
        self.middle = _ResidualBlock(widths[-1], widths[-1], embedding)
        self.upsample = nn.ModuleList(nn.Sequential(nn.Upsample(scale_factor=2, mode="nearest"),
                                                    nn.Conv2d(widths[i + 1], widths[i], 3, padding=1))
                                      for i in range(depth))
        self.up = nn.ModuleList(_ResidualBlock(2 * widths[i], widths[i], embedding) for i in range(depth))
        self.output = nn.Sequential(nn.GroupNorm(_groups(width), width), nn.SiLU(), nn.Conv2d(width, c, 3, padding=1))
        nn.init.zeros_(self.output[-1].weight)
        nn.init.zeros_(self.output[-1].bias)

    def forward(self, x: torch.Tensor, t: torch.Tensor, context: torch.Tensor | None = None) -> torch.Tensor:
        """x (B, C, H, W), t (B,) in [0, 1], context (B,) labels or None → (B, C, H, W)."""
        e = self.conditioning(t, context)
        h = self.input(x)
        skips = []
        for block, downsample in zip(self.down, self.downsample):
            h = block(h, e)
            skips.append(h)
            h = downsample(h)
        h = self.middle(h, e)
        for i in reversed(range(len(self.up))):
            h = self.up[i](torch.cat([self.upsample[i](h), skips[i]], dim=1), e)
        return self.output(h)
