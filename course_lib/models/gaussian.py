"""A multivariate Gaussian fitted by maximum likelihood (closed form)."""

from __future__ import annotations

import torch
from torch.distributions import MultivariateNormal

from .base import DensityModel
from ..validation import as_float_tensor, generator_or_none, positive_int


class Gaussian(DensityModel):
    """N(μ, Σ) on R^D. ``mean`` has shape (D,), ``covariance`` shape (D, D), symmetric positive definite."""

    def __init__(self, mean, covariance):
        super().__init__()
        mean = as_float_tensor(mean, "mean", ndim=1)
        covariance = as_float_tensor(covariance, "covariance", ndim=2)
        if covariance.shape != (len(mean), len(mean)):
            raise ValueError(f"covariance must have shape ({len(mean)}, {len(mean)}), got {tuple(covariance.shape)}")
        if not torch.allclose(covariance, covariance.T, atol=1e-6):
            raise ValueError("covariance must be symmetric")
        if torch.linalg.eigvalsh(covariance.double()).min() <= 0:
            raise ValueError("covariance must be positive definite")
        self.register_buffer("mean", mean)
        self.register_buffer("covariance", covariance)

    @classmethod
    def fit(cls, x) -> "Gaussian":
        """Maximum-likelihood fit to x of shape (N, D): μ = mean, Σ = (1/N) Σ_n (x_n - μ)(x_n - μ)ᵀ.

        Note the 1/N (not 1/(N-1)): the MLE is the biased covariance.
        """
        x = as_float_tensor(x, "x", ndim=2)
        if len(x) <= x.shape[1]:
            raise ValueError(f"x needs more rows than columns for a full-rank covariance, got shape {tuple(x.shape)}")
        mean = x.mean(0)
        centered = x - mean
        return cls(mean, centered.T @ centered / len(x))

    def _distribution(self) -> MultivariateNormal:
        return MultivariateNormal(self.mean, covariance_matrix=self.covariance)

    def log_prob(self, x) -> torch.Tensor:
        """log N(x; μ, Σ) for each row of x, shape (B, D) → (B,), in nats."""
        x = as_float_tensor(x, "x", ndim=2, last_dim=len(self.mean))
        return self._distribution().log_prob(x.to(self.mean.dtype))

    def sample(self, n: int, generator: torch.Generator | None = None) -> torch.Tensor:
        """μ + L ε with Σ = L Lᵀ and ε ~ N(0, I); shape (n, D)."""
        n = positive_int(n, "n")
        generator_or_none(generator)
        chol = torch.linalg.cholesky(self.covariance)
        eps = torch.randn(n, len(self.mean), generator=generator, dtype=self.mean.dtype)
        return self.mean + eps @ chol.T
