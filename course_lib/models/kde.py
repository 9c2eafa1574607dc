"""Parzen-window / kernel density estimation with a Gaussian kernel (Parzen, 1962; Rosenblatt, 1956)."""

from __future__ import annotations

import torch

from .. import randomness
from ..distributions import log_mean_exp, pairwise_diagonal_gaussian_log_prob
from ..validation import as_float_tensor, positive_float, positive_int
from .base import DensityModel


class GaussianKDE(DensityModel):
    """p(x) = 1/N Σ_n N(x; x_n, h² I): one isotropic Gaussian bump of width h on every data point.

    ``data`` has shape (N, *event_shape); examples are flattened to D = prod(event_shape) numbers.
    ``bandwidth`` h is in the units of the data. The centres (N, D) and h (0-dim, chosen from data by
    ``select_bandwidth``) are buffers: they move with ``.to()`` and travel in the ``state_dict``.
    """

    _fitted_buffers = ("centers",)

    def __init__(self, data, bandwidth: float):
        super().__init__()
        data = as_float_tensor(data, "data", ndim=tuple(range(2, 6)))
        self.event_shape = tuple(data.shape[1:])
        self.register_buffer("centers", data.reshape(len(data), -1).clone())
        self.register_buffer("bandwidth", torch.tensor(positive_float(bandwidth, "bandwidth"), dtype=torch.float64))
        self.to(data.device)  # the model lives where its data were given

    @property
    def dim(self) -> int:
        return self.centers.shape[1]

    def check_input(self, x, name: str = "x") -> torch.Tensor:
        x = as_float_tensor(x, name)
        if tuple(x.shape[1:]) != self.event_shape:
            shape = ", ".join(map(str, self.event_shape))
            raise ValueError(f"{name} must have shape (B, {shape}), got {tuple(x.shape)}")
        return x.to(self.device)

    def log_prob(self, x, *, context=None, chunk: int = 1024) -> torch.Tensor:
        """Log-density of each example of x, shape (B, *event_shape) → (B,), in nats; ``chunk`` rows of x
        at a time, so memory stays bounded by a (chunk, N) matrix."""
        chunk = positive_int(chunk, "chunk")
        x = self.check_input(x)
        return self._log_prob(x, self.check_context(context, len(x)), chunk)

    def _log_prob(self, x, context, chunk: int = 1024):
        flat = x.reshape(len(x), -1).to(self.centers.dtype)
        variance = (self.bandwidth ** 2).to(flat.dtype).expand(1, self.dim)
        return torch.cat([log_mean_exp(pairwise_diagonal_gaussian_log_prob(part, self.centers, variance), dim=1)
                          for part in torch.split(flat, chunk)])

    def _sample(self, n, generator, context):
        """Pick a data point uniformly, add N(0, h² I) noise; shape (n, *event_shape)."""
        index = randomness.integers(len(self.centers), (n,), generator=generator, device=self.device)
        noise = randomness.normal((n, self.dim), generator=generator, device=self.device, dtype=self.centers.dtype)
        return (self.centers[index] + self.bandwidth.to(noise.dtype) * noise).reshape(n, *self.event_shape)


def select_bandwidth(train, val, bandwidths) -> tuple[float, torch.Tensor]:
    """The bandwidth (from ``bandwidths``) with the best mean held-out log-likelihood on ``val``.

    Returns (best bandwidth, mean validation log-likelihood for each candidate, nats per example, on the CPU).
    The training log-likelihood cannot choose h: it grows without bound as h → 0.
    """
    candidates = as_float_tensor(torch.as_tensor(bandwidths, dtype=torch.float64), "bandwidths", ndim=1)
    if (candidates <= 0).any():
        raise ValueError("bandwidths must all be > 0")
    train = as_float_tensor(train, "train")
    val = as_float_tensor(val, "val")
    if val.shape[1:] != train.shape[1:]:
        raise ValueError(f"val examples have shape {tuple(val.shape[1:])}, train examples {tuple(train.shape[1:])}")
    val = val.to(train.device)
    scores = torch.stack([GaussianKDE(train, float(h))._log_prob(val, None).mean() for h in candidates]).cpu()
    return float(candidates[scores.argmax()]), scores
