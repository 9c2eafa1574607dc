"""Probabilistic PCA (Tipping & Bishop, 1999; Roweis, 1998): x = W z + μ + ε, z ~ N(0, I_q), ε ~ N(0, σ² I_D).

The marginal is Gaussian, p(x) = N(x; μ, C) with C = W Wᵀ + σ² I, and the posterior is
p(z | x) = N(M⁻¹ Wᵀ (x - μ), σ² M⁻¹) with M = Wᵀ W + σ² I (q × q). Fitted by the closed form
(eigenvectors of the sample covariance) or by EM. Shapes: W (D, q), μ (D,), σ² a float.
"""

from __future__ import annotations

import math

import torch

from .base import DensityModel
from ..validation import as_float_tensor, generator_or_none, positive_float, positive_int


def sample_covariance(x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Mean (D,) and maximum-likelihood covariance S = (1/N) Σ (x - x̄)(x - x̄)ᵀ (D, D) of x (N, D)."""
    mean = x.mean(0)
    centered = x - mean
    return mean, centered.T @ centered / len(x)


def closed_form(x, q: int) -> tuple[torch.Tensor, torch.Tensor, float]:
    """Maximum-likelihood (W, μ, σ²): σ² = mean of the D - q discarded eigenvalues of S,
    W = U_q (Λ_q - σ² I)^{1/2} with the top-q eigenvectors U_q (up to a rotation of z)."""
    mean, cov = sample_covariance(x)
    eigenvalues, eigenvectors = torch.linalg.eigh(cov)                  # ascending
    eigenvalues, eigenvectors = eigenvalues.flip(0), eigenvectors.flip(1)
    sigma2 = eigenvalues[q:].mean().item()
    w = eigenvectors[:, :q] * torch.sqrt(torch.clamp(eigenvalues[:q] - sigma2, min=0.0))
    return w, mean, sigma2


def em_step(cov: torch.Tensor, w: torch.Tensor, sigma2: float) -> tuple[torch.Tensor, float]:
    """One EM update of (W, σ²) written with the sample covariance S (Tipping & Bishop 1999, eqs. 29–30):
    W ← S W (σ² I + M⁻¹ Wᵀ S W)⁻¹,  σ² ← tr(S - S W M⁻¹ W_newᵀ) / D."""
    d, q = w.shape
    m_inv = torch.linalg.inv(w.T @ w + sigma2 * torch.eye(q, dtype=w.dtype))
    sw = cov @ w
    w_new = sw @ torch.linalg.inv(sigma2 * torch.eye(q, dtype=w.dtype) + m_inv @ w.T @ sw)
    sigma2_new = torch.trace(cov - sw @ m_inv @ w_new.T).item() / d
    return w_new, sigma2_new


class PPCA(DensityModel):
    """The linear-Gaussian latent variable model. Build with parameters, or with ``PPCA.fit``."""

    def __init__(self, w, mean, sigma2: float):
        super().__init__()
        w = as_float_tensor(w, "w", ndim=2)
        mean = as_float_tensor(mean, "mean", ndim=1)
        if w.shape[0] != len(mean):
            raise ValueError(f"w must have {len(mean)} rows (one per data dimension), got shape {tuple(w.shape)}")
        self.register_buffer("w", w.double())
        self.register_buffer("mean", mean.double())
        self.sigma2 = positive_float(sigma2, "sigma2")
        self.log_likelihood_history: list[float] = []

    @classmethod
    def fit(cls, x, q: int, method: str = "closed_form", max_iter: int = 500, tol: float = 1e-6,
            seed: int = 0) -> "PPCA":
        """Fit q latent dimensions to x (N, D) by ``"closed_form"`` or ``"em"`` (from a random W)."""
        x = as_float_tensor(x, "x", ndim=2).double()
        q = positive_int(q, "q")
        if q >= x.shape[1]:
            raise ValueError(f"q must be smaller than the data dimension {x.shape[1]}, got {q}")
        if method == "closed_form":
            return cls(*closed_form(x, q))
        if method != "em":
            raise ValueError(f"method must be 'closed_form' or 'em', got {method!r}")
        max_iter = positive_int(max_iter, "max_iter")
        tol = positive_float(tol, "tol", allow_zero=True)
        mean, cov = sample_covariance(x)
        w = torch.randn(x.shape[1], q, generator=torch.Generator().manual_seed(seed), dtype=x.dtype)
        sigma2 = torch.trace(cov).item() / x.shape[1]
        model = cls(w, mean, sigma2)
        history = [model.log_prob(x).mean().item()]
        for _ in range(max_iter):
            w, sigma2 = em_step(cov, w, sigma2)
            model = cls(w, mean, sigma2)
            history.append(model.log_prob(x).mean().item())
            if history[-1] - history[-2] < tol:
                break
        model.log_likelihood_history = history
        return model

    @property
    def covariance(self) -> torch.Tensor:
        """C = W Wᵀ + σ² I, shape (D, D)."""
        return self.w @ self.w.T + self.sigma2 * torch.eye(len(self.mean), dtype=self.w.dtype)

    def log_prob(self, x) -> torch.Tensor:
        """log N(x; μ, W Wᵀ + σ² I) for each row: (B, D) → (B,), in nats."""
        x = as_float_tensor(x, "x", ndim=2, last_dim=len(self.mean))
        chol = torch.linalg.cholesky(self.covariance)
        solved = torch.linalg.solve_triangular(chol, (x.double() - self.mean).T, upper=False)
        log_det = 2 * torch.log(torch.diagonal(chol)).sum()
        d = len(self.mean)
        return (-0.5 * ((solved ** 2).sum(0) + log_det + d * math.log(2 * math.pi))).to(x.dtype)

    def posterior(self, x) -> tuple[torch.Tensor, torch.Tensor]:
        """p(z | x) = N(M⁻¹ Wᵀ (x - μ), σ² M⁻¹): means (B, q) and the shared covariance (q, q)."""
        x = as_float_tensor(x, "x", ndim=2, last_dim=len(self.mean)).double()
        m = self.w.T @ self.w + self.sigma2 * torch.eye(self.w.shape[1], dtype=self.w.dtype)
        m_inv = torch.linalg.inv(m)
        return (x - self.mean) @ self.w @ m_inv.T, self.sigma2 * m_inv

    def naive_monte_carlo_log_prob(self, x, z) -> torch.Tensor:
        """log (1/K) Σ_k N(x; W z_k + μ, σ² I) for each row of x (B, D), from prior samples z (K, q) → (B,).

        An estimate of log p(x) that ignores the posterior; its error explodes with q (chapter 02).
        """
        x = as_float_tensor(x, "x", ndim=2, last_dim=len(self.mean)).double()
        z = as_float_tensor(z, "z", ndim=2, last_dim=self.w.shape[1]).double()
        means = z @ self.w.T + self.mean                                          # (K, D)
        sq = torch.cdist(x, means) ** 2                                           # (B, K)
        log_lik = -0.5 * sq / self.sigma2 - 0.5 * x.shape[1] * math.log(2 * math.pi * self.sigma2)
        return torch.logsumexp(log_lik, dim=1) - math.log(len(z))

    def sample(self, n: int, generator: torch.Generator | None = None) -> torch.Tensor:
        """z ~ N(0, I_q), then x = W z + μ + σ ε; shape (n, D)."""
        n = positive_int(n, "n")
        generator_or_none(generator)
        z = torch.randn(n, self.w.shape[1], generator=generator, dtype=self.w.dtype)
        noise = torch.randn(n, len(self.mean), generator=generator, dtype=self.w.dtype)
        return z @ self.w.T + self.mean + math.sqrt(self.sigma2) * noise
