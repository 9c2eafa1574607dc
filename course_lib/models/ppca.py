"""Probabilistic PCA (Tipping & Bishop, 1999; Roweis, 1998): x = W z + μ + ε, z ~ N(0, I_q), ε ~ N(0, σ² I_D).

The marginal is Gaussian, p(x) = N(x; μ, C) with C = W Wᵀ + σ² I, and the posterior is
p(z | x) = N(M⁻¹ Wᵀ (x - μ), σ² M⁻¹) with M = Wᵀ W + σ² I (q × q). Fitted by the closed form
(eigenvectors of the sample covariance) or by EM. Shapes: W (D, q), μ (D,), σ² a 0-dim tensor.
"""

from __future__ import annotations

import torch

from .. import randomness
from ..distributions import gaussian_log_prob, log_mean_exp, pairwise_diagonal_gaussian_log_prob, sample_covariance
from ..validation import as_float_tensor, generator_or_none, has_values, positive_float, positive_int
from .base import DensityModel


def _check_q(q, dims: int) -> int:
    q = positive_int(q, "q")
    if q >= dims:
        raise ValueError(f"q must be smaller than the data dimension {dims}, got {q}")
    return q


def closed_form(x: torch.Tensor, q: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Maximum-likelihood (W, μ, σ²) of x (N, D): σ² = mean of the D − q discarded eigenvalues of S,
    W = U_q (Λ_q − σ² I)^{1/2} with the top-q eigenvectors U_q (up to a rotation of z)."""
    x = as_float_tensor(x, "x", ndim=2)
    q = _check_q(q, x.shape[1])
    mean, cov = sample_covariance(x)
    eigenvalues, eigenvectors = _eigen(cov, q)
    sigma2 = eigenvalues[q:].mean()
    w = eigenvectors[:, :q] * torch.sqrt(torch.clamp(eigenvalues[:q] - sigma2, min=0.0))
    return w, mean, sigma2


def _eigen(cov: torch.Tensor, q: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Eigenvalues (descending) and eigenvectors of the sample covariance of x; raises unless x varies in more
    than q directions (else σ², the mean of the D − q smallest eigenvalues, is zero up to rounding)."""
    eigenvalues, eigenvectors = torch.linalg.eigh(cov)                  # ascending
    eigenvalues, eigenvectors = eigenvalues.flip(0), eigenvectors.flip(1)
    if has_values(cov):
        sigma2, largest = eigenvalues[q:].mean().item(), eigenvalues[0].item()
        if sigma2 <= len(cov) * torch.finfo(cov.dtype).eps * max(largest, 0.0):   # matrix_rank's tolerance
            raise ValueError(f"x has too little variance for q={q} latent dimensions: it varies in at most {q} "
                             f"directions (the {len(cov) - q} smallest eigenvalues of its covariance average "
                             f"{sigma2:.3g}), so the noise variance σ² would be 0; use a smaller q or data of higher rank")
    return eigenvalues, eigenvectors


def _check_sigma2(sigma2):
    """σ² > 0: a number or a 0-dim tensor (kept as a tensor)."""
    if not isinstance(sigma2, torch.Tensor):
        return positive_float(sigma2, "sigma2")
    if sigma2.dim() != 0:
        raise ValueError(f"sigma2 must be a number or a 0-dim tensor, got shape {tuple(sigma2.shape)}")
    if has_values(sigma2):
        positive_float(sigma2.item(), "sigma2")
    return sigma2


def em_step(cov: torch.Tensor, w: torch.Tensor, sigma2: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """One EM update of (W, σ²) written with the sample covariance S (Tipping & Bishop 1999, eqs. 29–30):
    W ← S W (σ² I + M⁻¹ Wᵀ S W)⁻¹,  σ² ← tr(S − S W M⁻¹ W_newᵀ) / D.
    Shapes: S (D, D) symmetric positive semi-definite, W (D, q) with q < D, σ² > 0 a number or a 0-dim tensor."""
    w = as_float_tensor(w, "w", ndim=2)
    if w.shape[1] >= w.shape[0]:
        raise ValueError(f"w must have fewer columns (q) than rows (D), got shape {tuple(w.shape)}")
    cov = as_float_tensor(cov, "cov", ndim=2)
    if cov.shape != (len(w), len(w)):
        raise ValueError(f"cov must have shape ({len(w)}, {len(w)}) to match w {tuple(w.shape)}, "
                         f"got {tuple(cov.shape)}")
    if has_values(cov):
        tolerance = len(cov) * torch.finfo(cov.dtype).eps * cov.abs().max().item()
        if not torch.allclose(cov, cov.T, rtol=1e-5, atol=tolerance) or \
                torch.linalg.eigvalsh(cov).min().item() < -100 * tolerance:
            raise ValueError("cov must be a covariance matrix: symmetric and positive semi-definite")
    sigma2 = _check_sigma2(sigma2)
    dtype = torch.promote_types(w.dtype, cov.dtype)
    return _em_step(cov.to(dtype), w.to(dtype), sigma2)


def _em_step(cov, w, sigma2):
    d, q = w.shape
    eye = torch.eye(q, dtype=w.dtype, device=w.device)
    m_inv = torch.linalg.inv(w.T @ w + sigma2 * eye)
    sw = cov @ w
    w_new = sw @ torch.linalg.inv(sigma2 * eye + m_inv @ w.T @ sw)
    sigma2_new = torch.trace(cov - sw @ m_inv @ w_new.T) / d
    return w_new, sigma2_new


class PPCA(DensityModel):
    """The linear-Gaussian latent variable model. Build with parameters, or with ``PPCA.fit``.

    State (float64 buffers): ``w`` (D, q), ``mean`` (D,), ``sigma2`` (a 0-dim tensor) and, after an EM
    fit, ``log_likelihood_history`` (mean training log-likelihood at every iteration).
    """

    _fitted_buffers = ("log_likelihood_history",)

    def __init__(self, w, mean, sigma2):
        super().__init__()
        w = as_float_tensor(w, "w", ndim=2)
        mean = as_float_tensor(mean, "mean", ndim=1)
        if w.shape[0] != len(mean):
            raise ValueError(f"w must have {len(mean)} rows (one per data dimension), got shape {tuple(w.shape)}")
        if isinstance(sigma2, torch.Tensor) and sigma2.numel() == 1:
            sigma2 = sigma2.item()
        sigma2 = positive_float(sigma2, "sigma2")
        self.register_buffer("w", w.double())
        self.register_buffer("mean", mean.double().to(w.device))
        self.register_buffer("sigma2", torch.tensor(sigma2, dtype=torch.float64, device=w.device))
        self.register_buffer("log_likelihood_history", torch.empty(0, dtype=torch.float64, device=w.device))
        self.to(w.device)

    @classmethod
    def fit(cls, x, q: int, method: str = "closed_form", max_iter: int = 500, tol: float = 1e-6,
            generator: torch.Generator | None = None) -> "PPCA":
        """Fit q latent dimensions to x (N, D) by ``"closed_form"`` or ``"em"`` (from a random W drawn with
        ``generator``), on x's device; the model is returned in eval mode."""
        x = as_float_tensor(x, "x", ndim=2).double()
        q = _check_q(q, x.shape[1])
        if method not in ("closed_form", "em"):
            raise ValueError(f"method must be 'closed_form' or 'em', got {method!r}")
        max_iter = positive_int(max_iter, "max_iter")
        tol = positive_float(tol, "tol", allow_zero=True)
        generator_or_none(generator)
        if method == "closed_form":
            return cls(*closed_form(x, q)).eval()
        mean, cov = sample_covariance(x)
        _eigen(cov, q)                                      # x must vary in more than q directions
        w = randomness.normal((x.shape[1], q), generator=generator, device=x.device, dtype=x.dtype)
        sigma2 = torch.trace(cov) / x.shape[1]
        model = cls(w, mean, sigma2)
        history = [model._log_prob(x, None).mean().item()]
        for _ in range(max_iter):
            w, sigma2 = _em_step(cov, w, sigma2)
            model.w, model.sigma2 = w, sigma2
            history.append(model._log_prob(x, None).mean().item())
            if history[-1] - history[-2] < tol:
                break
        model.log_likelihood_history = torch.tensor(history, dtype=torch.float64, device=x.device)
        return model.eval()

    @property
    def covariance(self) -> torch.Tensor:
        """C = W Wᵀ + σ² I, shape (D, D)."""
        return self.w @ self.w.T + self.sigma2 * torch.eye(len(self.mean), dtype=self.w.dtype, device=self.device)

    def check_input(self, x, name: str = "x") -> torch.Tensor:
        return as_float_tensor(x, name, ndim=2, last_dim=len(self.mean)).to(self.device)

    def _log_prob(self, x, context):
        """log N(x; μ, W Wᵀ + σ² I) for each row: (B, D) → (B,), in nats (in x's dtype)."""
        return gaussian_log_prob(x.double(), self.mean, torch.linalg.cholesky(self.covariance)).to(x.dtype)

    def posterior(self, x) -> tuple[torch.Tensor, torch.Tensor]:
        """p(z | x) = N(M⁻¹ Wᵀ (x − μ), σ² M⁻¹): means (B, q) and the shared covariance (q, q)."""
        x = self.check_input(x).double()
        m = self.w.T @ self.w + self.sigma2 * torch.eye(self.w.shape[1], dtype=self.w.dtype, device=self.device)
        m_inv = torch.linalg.inv(m)
        return (x - self.mean) @ self.w @ m_inv.T, self.sigma2 * m_inv

    def naive_monte_carlo_log_prob(self, x, z) -> torch.Tensor:
        """log (1/K) Σ_k N(x; W z_k + μ, σ² I) for each row of x (B, D), from prior samples z (K, q) → (B,).

        An estimate of log p(x) that ignores the posterior; its error explodes with q (chapter 02).
        """
        x = self.check_input(x).double()
        z = as_float_tensor(z, "z", ndim=2, last_dim=self.w.shape[1]).double().to(self.device)
        means = z @ self.w.T + self.mean                                          # (K, D)
        log_lik = pairwise_diagonal_gaussian_log_prob(x, means, self.sigma2.expand(1, x.shape[1]))   # (B, K)
        return log_mean_exp(log_lik, dim=1)

    def _sample(self, n, generator, context):
        """z ~ N(0, I_q), then x = W z + μ + σ ε; shape (n, D)."""
        z = randomness.normal((n, self.w.shape[1]), generator=generator, device=self.device, dtype=self.w.dtype)
        noise = randomness.normal((n, len(self.mean)), generator=generator, device=self.device, dtype=self.w.dtype)
        return z @ self.w.T + self.mean + self.sigma2.sqrt() * noise
