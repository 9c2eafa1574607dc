"""Histogram density estimation on a regular grid, in any dimension (stored sparsely)."""

from __future__ import annotations

import math

import torch

from .. import randomness
from ..validation import as_float_tensor, finite_float, positive_float, positive_int
from .base import DensityModel


class HistogramDensity(DensityModel):
    """Piecewise-constant density on [low, high)^D split into ``bins`` bins per dimension.

    p(x) = (c(x) + α) / ((N + α M) · V): c(x) training points share x's bin, M = bins^D bins
    of volume V each, α = ``pseudocount``. With α = 0 an empty bin has density 0 (log p = -inf).
    Only occupied bins are stored (buffers ``cells`` (K, D) and ``counts`` (K,)), so D can be large —
    which is how the curse of dimensionality shows: M grows as bins^D while the occupied bins stay ≤ N.
    """

    _fitted_buffers = ("cells", "counts")

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
        self.dim = data.shape[1]
        self.width = (self.high - self.low) / self.bins
        cells, counts = torch.unique(self._cell(data), dim=0, return_counts=True)
        self.register_buffer("cells", cells)
        self.register_buffer("counts", counts)
        self.to(data.device)

    @property
    def log_num_bins(self) -> float:
        """log M = D log(bins)."""
        return self.dim * math.log(self.bins)

    def _cell(self, x: torch.Tensor) -> torch.Tensor:
        return torch.floor((x - self.low) / self.width).long().clamp(0, self.bins - 1)

    def check_input(self, x, name: str = "x") -> torch.Tensor:
        return as_float_tensor(x, name, ndim=2, last_dim=self.dim).to(self.device)

    def count(self, x) -> torch.Tensor:
        """Number of training points in the bin of each row of x, shape (B, D) → (B,)."""
        return self._count(self.check_input(x))

    def _count(self, x: torch.Tensor) -> torch.Tensor:
        cells = self._cell(x)
        # Compare each query's bin with every occupied bin, a few queries at a time (bounded memory).
        rows = max(1, 2**24 // max(1, self.cells.numel()))
        return torch.cat([((part[:, None, :] == self.cells[None]).all(-1).long() * self.counts).sum(1)
                          for part in torch.split(cells, rows)])

    def _log_prob(self, x, context):
        """Log-density of each row of x, (B, D) → (B,), in nats (-inf outside the support)."""
        counts = self._count(x).double()
        alpha = self.pseudocount
        log_n = torch.log(self.counts.sum().double())
        # log(N + αM) without overflowing M = bins^D
        if alpha > 0:
            log_total = torch.logaddexp(log_n, torch.full_like(log_n, math.log(alpha) + self.log_num_bins))
        else:
            log_total = log_n
        log_p = torch.log(counts + alpha) - log_total - self.dim * math.log(self.width)
        inside = ((x >= self.low) & (x < self.high)).all(dim=1)
        return torch.where(inside, log_p, torch.full_like(log_p, -math.inf)).to(x.dtype)

    def _sample(self, n, generator, context):
        """Choose a bin with probability (c + α)/(N + αM), then a uniform point inside it; shape (n, D)."""
        # (c + α)/(N + αM) is a two-part mixture: occupied bins in proportion to c, or any of the M bins
        # uniformly, with probability αM / (N + αM) = sigmoid(log α + log M − log N) (M = bins^D overflows).
        log_n = torch.log(self.counts.sum().double())
        p_anywhere = (torch.sigmoid(math.log(self.pseudocount) + self.log_num_bins - log_n) if self.pseudocount
                      else torch.zeros_like(log_n))
        anywhere_bin = randomness.uniform((n,), generator=generator, device=self.device,
                                          dtype=torch.float64) < p_anywhere
        picked = self.cells[randomness.categorical(self.counts.double(), n, generator=generator)]
        anywhere = randomness.integers(self.bins, (n, self.dim), generator=generator, device=self.device)
        cell = torch.where(anywhere_bin[:, None], anywhere, picked)
        offset = randomness.uniform((n, self.dim), generator=generator, device=self.device)
        return self.low + (cell + offset) * self.width
