"""A multivariate Gaussian fitted by maximum likelihood (closed form)."""

from __future__ import annotations

import torch

from .. import randomness
from ..distributions import gaussian_log_prob, sample_covariance
from ..validation import as_float_tensor
from .base import DensityModel


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
        self.register_buffer("mean", mean.to(covariance.device))
        self.register_buffer("covariance", covariance)
        self.to(covariance.device)

    @classmethod
    def fit(cls, x) -> "Gaussian":
        """Maximum-likelihood fit to x of shape (N, D): μ = mean, Σ = (1/N) Σ_n (x_n − μ)(x_n − μ)ᵀ.

        Note the 1/N (not 1/(N − 1)): the MLE is the biased covariance. The model is returned in eval mode.
        """
        x = as_float_tensor(x, "x", ndim=2)
        if len(x) <= x.shape[1]:
            raise ValueError(f"x needs more rows than columns for a full-rank covariance, got shape {tuple(x.shape)}")
        return cls(*sample_covariance(x)).eval()

    def check_input(self, x, name: str = "x") -> torch.Tensor:
        return as_float_tensor(x, name, ndim=2, last_dim=len(self.mean)).to(self.device)

    def _log_prob(self, x, context):
        """log N(x; μ, Σ) for each row of x, (B, D) → (B,), in nats (in the model's dtype)."""
        return gaussian_log_prob(x.to(self.mean.dtype), self.mean, torch.linalg.cholesky(self.covariance))

    def _sample(self, n, generator, context):
        """μ + L ε with Σ = L Lᵀ and ε ~ N(0, I); shape (n, D)."""
        eps = randomness.normal((n, len(self.mean)), generator=generator, device=self.device, dtype=self.mean.dtype)
        return self.mean + eps @ torch.linalg.cholesky(self.covariance).T
