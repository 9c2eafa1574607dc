"""Parzen-window / kernel density estimation with a Gaussian kernel (Parzen, 1962; Rosenblatt, 1956)."""

from __future__ import annotations

import math

import torch

from .base import DensityModel
from ..validation import as_float_tensor, generator_or_none, positive_float, positive_int


class GaussianKDE(DensityModel):
    """p(x) = 1/N Σ_n N(x; x_n, h² I): one isotropic Gaussian bump of width h on every data point.

    ``data`` has shape (N, *event_shape); examples are flattened to D = prod(event_shape) numbers.
    ``bandwidth`` h is in the units of the data.
    """

    def __init__(self, data, bandwidth: float):
        super().__init__()
        data = as_float_tensor(data, "data", ndim=tuple(range(2, 6)))
        self.bandwidth = positive_float(bandwidth, "bandwidth")
        self.event_shape = tuple(data.shape[1:])
        self.register_buffer("centers", data.reshape(len(data), -1).clone())

    @property
    def dim(self) -> int:
        return self.centers.shape[1]

    def log_prob(self, x, chunk: int = 1024) -> torch.Tensor:
        """Log-density of each example of x, shape (B, *event_shape) → (B,), in nats."""
        x = as_float_tensor(x, "x")
        if tuple(x.shape[1:]) != self.event_shape:
            raise ValueError(f"x must have shape (B, {', '.join(map(str, self.event_shape))}), got {tuple(x.shape)}")
        flat = x.reshape(len(x), -1).to(self.centers)  # the centres' device and dtype
        h2 = self.bandwidth ** 2
        log_norm = math.log(len(self.centers)) + 0.5 * self.dim * math.log(2 * math.pi * h2)
        out = []
        for part in torch.split(flat, chunk):   # bounded memory: a (chunk, N) distance matrix at a time
            sq_dist = torch.cdist(part, self.centers).pow(2)
            out.append(torch.logsumexp(-sq_dist / (2 * h2), dim=1) - log_norm)
        return torch.cat(out)

    def sample(self, n: int, generator: torch.Generator | None = None) -> torch.Tensor:
        """Pick a data point uniformly, add N(0, h² I) noise; shape (n, *event_shape)."""
        n = positive_int(n, "n")
        generator_or_none(generator)
        index = torch.randint(0, len(self.centers), (n,), generator=generator)
        noise = torch.randn(n, self.dim, generator=generator, dtype=self.centers.dtype)
        return (self.centers[index] + self.bandwidth * noise).reshape(n, *self.event_shape)


def select_bandwidth(train, val, bandwidths) -> tuple[float, torch.Tensor]:
    """The bandwidth (from ``bandwidths``) with the best mean held-out log-likelihood on ``val``.

    Returns (best bandwidth, mean validation log-likelihood for each candidate, nats per example).
    The training log-likelihood cannot choose h: it grows without bound as h → 0.
    """
    candidates = as_float_tensor(torch.as_tensor(bandwidths, dtype=torch.float64), "bandwidths", ndim=1)
    if (candidates <= 0).any():
        raise ValueError("bandwidths must all be > 0")
    scores = torch.stack([GaussianKDE(train, float(h)).log_prob(val).mean() for h in candidates])
    scores = scores.cpu()
    return float(candidates[scores.argmax()]), scores
