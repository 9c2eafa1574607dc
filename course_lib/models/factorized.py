"""The independent-pixels baseline: one categorical distribution per pixel, no dependencies."""

from __future__ import annotations

import torch

from .. import randomness
from ..validation import as_float_tensor, as_level_images, positive_float, positive_int
from .base import DensityModel


class FactorizedCategorical(DensityModel):
    """P(x) = Π_d Cat(x_d; π_d): each pixel on its own, fitted by counting (exact discrete likelihood).

    ``probs`` has shape (*event_shape, levels). Any model that captures dependencies between
    pixels should beat it; it is the bar on the course leaderboard.
    """

    def __init__(self, probs):
        super().__init__()
        probs = as_float_tensor(probs, "probs", ndim=tuple(range(2, 6)))
        if (probs < 0).any() or not torch.allclose(probs.sum(-1), torch.ones((), dtype=probs.dtype), atol=1e-5):
            raise ValueError("probs must be non-negative and sum to 1 over the last dimension")
        self.levels = probs.shape[-1]
        self.register_buffer("probs", probs)
        self.to(probs.device)

    @classmethod
    def fit(cls, x, levels: int, pseudocount: float = 1.0) -> "FactorizedCategorical":
        """Counts of each level per pixel plus ``pseudocount`` (Laplace smoothing); x: (N, *event_shape)."""
        x = as_float_tensor(x, "x", ndim=tuple(range(2, 5)))
        levels = positive_int(levels, "levels", minimum=2)
        pseudocount = positive_float(pseudocount, "pseudocount", allow_zero=True)
        as_level_images(x, "x", x.shape[1:], levels)
        pixels = x.reshape(len(x), -1).long().T  # (P, N): one row of levels per pixel
        counts = torch.zeros(len(pixels), levels, dtype=torch.float64, device=x.device)
        counts.scatter_add_(1, pixels, torch.ones_like(pixels, dtype=torch.float64))  # a histogram per pixel
        counts = (counts + pseudocount).reshape(*x.shape[1:], levels)
        return cls((counts / counts.sum(-1, keepdim=True)).float()).eval()

    def check_input(self, x, name: str = "x") -> torch.Tensor:
        return as_level_images(x, name, self.probs.shape[:-1], self.levels).to(self.device)

    def _log_prob(self, x, context):
        """Σ_d log π_d[x_d] for each example, (B, *event_shape) → (B,), in nats."""
        log_p = torch.log(self.probs).unsqueeze(0).expand(len(x), *self.probs.shape)
        picked = torch.gather(log_p, -1, x.long().unsqueeze(-1)).squeeze(-1)
        return picked.reshape(len(x), -1).sum(1)

    def _sample(self, n, generator, context):
        """Every pixel drawn independently from its categorical; shape (n, *event_shape)."""
        draws = randomness.categorical(self.probs.reshape(-1, self.levels), n, generator=generator)  # (pixels, n)
        return draws.T.reshape(n, *self.probs.shape[:-1]).to(self.probs.dtype)
