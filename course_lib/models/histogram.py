"""Histogram density estimation on a regular grid, in any dimension (stored sparsely)."""

from __future__ import annotations

import math

import torch

from .base import DensityModel
from ..validation import as_float_tensor, finite_float, generator_or_none, positive_float, positive_int


class HistogramDensity(DensityModel):
    """Piecewise-constant density on [low, high)^D split into ``bins`` bins per dimension.

    p(x) = (c(x) + α) / ((N + α M) · V): c(x) training points share x's bin, M = bins^D bins
    of volume V each, α = ``pseudocount``. With α = 0 an empty bin has density 0 (log p = -inf).
    Only occupied bins are stored, so D can be large — which is how the curse of
    dimensionality shows: M grows as bins^D while the occupied bins stay ≤ N.
    """

    def __init__(self, data, bins: int, low: float, high: float, pseudocount: float = 0.0):
        super().__init__()
        data = as_float_tensor(data, "data", ndim=2)
        self.bins = positive_int(bins, "bins")
        self.low, self.high = finite_float(low, "low"), finite_float(high, "high")
        if self.high <= self.low:
            raise ValueError(f"high must be > low, got low={low}, high={high}")
        self.pseudocount = positive_float(pseudocount, "pseudocount", allow_zero=True)
        if ((data < self.low) | (data >= self.high)).any():
            raise ValueError(f"data must lie in [low, high) = [{self.low}, {self.high})")
        self.dim, self.n = data.shape[1], len(data)
        self.width = (self.high - self.low) / self.bins
        cells, counts = torch.unique(self._cell(data), dim=0, return_counts=True)
        self.register_buffer("cells", cells)
        self.register_buffer("counts", counts)
        self._count_of = {tuple(c.tolist()): int(k) for c, k in zip(cells, counts)}

    @property
    def log_num_bins(self) -> float:
        return self.dim * math.log(self.bins)

    def _cell(self, x: torch.Tensor) -> torch.Tensor:
        return torch.floor((x - self.low) / self.width).long().clamp(0, self.bins - 1)

    def count(self, x) -> torch.Tensor:
        """Number of training points in the bin of each row of x, shape (B, D) → (B,)."""
        x = as_float_tensor(x, "x", ndim=2, last_dim=self.dim)
        return torch.tensor([self._count_of.get(tuple(c.tolist()), 0) for c in self._cell(x)])

    def log_prob(self, x) -> torch.Tensor:
        """Log-density of each row of x, shape (B, D) → (B,), in nats (-inf outside the support)."""
        x = as_float_tensor(x, "x", ndim=2, last_dim=self.dim)
        counts = self.count(x).double()
        alpha = self.pseudocount
        log_total = torch.logaddexp(torch.tensor(math.log(self.n), dtype=torch.float64),
                                    torch.tensor(math.log(alpha) + self.log_num_bins if alpha > 0 else -math.inf,
                                                 dtype=torch.float64))
        log_p = torch.log(counts + alpha) - log_total - self.dim * math.log(self.width)
        inside = ((x >= self.low) & (x < self.high)).all(dim=1)
        return torch.where(inside, log_p, torch.tensor(-math.inf, dtype=torch.float64)).to(x.dtype)

    def sample(self, n: int, generator: torch.Generator | None = None) -> torch.Tensor:
        """Choose a bin with probability (c + α)/(N + αM), then a uniform point inside it; shape (n, D)."""
        n = positive_int(n, "n")
        generator_or_none(generator)
        # (c + α)/(N + αM) is a two-part mixture: occupied bins in proportion to c, or any bin uniformly.
        alpha_mass = self.pseudocount * math.exp(self.log_num_bins) if self.pseudocount else 0.0
        uniform = torch.rand(n, generator=generator) < alpha_mass / (self.n + alpha_mass)
        picked = self.cells[torch.multinomial(self.counts.double(), n, replacement=True, generator=generator)]
        anywhere = torch.randint(0, self.bins, (n, self.dim), generator=generator)
        cell = torch.where(uniform[:, None], anywhere, picked)
        return self.low + (cell + torch.rand(n, self.dim, generator=generator)) * self.width
