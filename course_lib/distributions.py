"""One home for the probability the models share: Gaussian log-densities, KLs, covariances,
log-mean-exp, the reparameterization trick and the importance-weighted bound. All in nats.

These run inside training loops, so they check the type and shape of their arguments (free) but not
their values (that would need a host synchronisation on a GPU); the models validate data at their
own boundary before calling them.
"""

from __future__ import annotations

import math
from typing import Callable

import torch

from . import randomness
from .validation import check_tensor, generator_or_none, positive_float, positive_int

LOG_2PI = math.log(2 * math.pi)


def log_mean_exp(values: torch.Tensor, dim: int = 0) -> torch.Tensor:
    """log (1/K) Σ_k exp(values_k) along ``dim`` (K = its size), computed stably with logsumexp."""
    check_tensor(values, "values", min_ndim=1)
    if isinstance(dim, bool) or not isinstance(dim, int) or not -values.dim() <= dim < values.dim():
        raise ValueError(f"dim must be an int in [{-values.dim()}, {values.dim() - 1}] for values of shape "
                         f"{tuple(values.shape)}, got {dim!r}")
    if values.shape[dim] == 0:
        raise ValueError(f"values must have at least one entry along dim {dim}, got shape {tuple(values.shape)}")
    return torch.logsumexp(values, dim=dim) - math.log(values.shape[dim])


def standard_normal_log_prob(z: torch.Tensor) -> torch.Tensor:
    """log N(z; 0, I) summed over the last dimension: (..., D) → (...)."""
    check_tensor(z, "z", min_ndim=1)
    return -0.5 * (z ** 2 + LOG_2PI).sum(-1)


def pairwise_diagonal_gaussian_log_prob(x: torch.Tensor, means: torch.Tensor, variances: torch.Tensor) -> torch.Tensor:
    """log N(x_n; μ_k, diag σ²_k) for every row of x (N, D) and every component k: means (K, D),
    variances broadcastable to (K, D) → (N, K).

    The squared distance is expanded into three matrix products, so no (N, K, D) tensor is formed.
    """
    check_tensor(x, "x", ndim=2)
    check_tensor(means, "means", ndim=2, last_dim=x.shape[1])
    check_tensor(variances, "variances")
    variances = variances.expand_as(means)
    precisions = 1.0 / variances
    squared = ((x * x) @ precisions.T - 2 * x @ (means * precisions).T + (means ** 2 * precisions).sum(1)[None])
    return -0.5 * (squared + torch.log(variances).sum(-1)[None] + x.shape[1] * LOG_2PI)


def gaussian_log_prob(x: torch.Tensor, mean: torch.Tensor, scale_tril: torch.Tensor) -> torch.Tensor:
    """log N(x; μ, L Lᵀ) with the Cholesky factor L of the covariance.

    x (N, D); one Gaussian (mean (D,), scale_tril (D, D)) → (N,), or K of them (means (K, D),
    scale_tril (K, D, D)) → (N, K). One triangular solve per component, no inverse.
    """
    check_tensor(x, "x", ndim=2)
    single = mean.dim() == 1
    means, trils = (mean[None], scale_tril[None]) if single else (mean, scale_tril)
    check_tensor(means, "mean", ndim=2, last_dim=x.shape[1])
    check_tensor(trils, "scale_tril", ndim=3, last_dim=x.shape[1])
    diff = (x[None] - means[:, None, :]).transpose(1, 2)                        # (K, D, N)
    solved = torch.linalg.solve_triangular(trils, diff, upper=False)            # L⁻¹ (x − μ)
    log_det = 2 * torch.log(torch.diagonal(trils, dim1=-2, dim2=-1)).sum(-1)    # log |Σ_k|
    log_p = -0.5 * ((solved ** 2).sum(1).T + log_det[None] + x.shape[1] * LOG_2PI)
    return log_p[:, 0] if single else log_p


def standard_normal_kl(mean: torch.Tensor, log_var: torch.Tensor) -> torch.Tensor:
    """KL(N(mean, diag exp(log_var)) ‖ N(0, I)) in closed form, summed over the last dimension: (..., q) → (...)."""
    _check_same_shape(mean, log_var)
    return 0.5 * (mean ** 2 + log_var.exp() - 1.0 - log_var).sum(-1)


def _check_same_shape(mean, log_var) -> None:
    check_tensor(mean, "mean", min_ndim=1)
    check_tensor(log_var, "log_var", min_ndim=1)
    if mean.shape != log_var.shape:
        raise ValueError(f"log_var must have the shape of mean {tuple(mean.shape)}, got {tuple(log_var.shape)}")


def sample_covariance(x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Mean (D,) and maximum-likelihood covariance S = (1/N) Σ (x − x̄)(x − x̄)ᵀ (D, D) of x (N, D).

    Note the 1/N, not 1/(N − 1): the maximum-likelihood (biased) estimate.
    """
    check_tensor(x, "x", ndim=2)
    mean = x.mean(0)
    centered = x - mean
    return mean, centered.T @ centered / len(x)


def reparameterize(mean: torch.Tensor, log_var: torch.Tensor, eps: torch.Tensor | None = None, *,
                   generator: torch.Generator | None = None) -> torch.Tensor:
    """z = μ + σ ⊙ ε with ε ~ N(0, I): a sample of q = N(μ, diag σ²) whose randomness does not depend on
    (μ, σ), so gradients flow through μ and σ. ``eps`` may be given (it broadcasts against ``mean``);
    otherwise it is drawn with ``generator``."""
    _check_same_shape(mean, log_var)
    generator_or_none(generator)
    if eps is not None:
        check_tensor(eps, "eps", last_dim=mean.shape[-1])
    if eps is None:
        eps = randomness.normal(mean.shape, generator=generator, device=mean.device, dtype=mean.dtype)
    return mean + torch.exp(0.5 * log_var) * eps


def importance_weighted_bound(log_joint: Callable[[torch.Tensor], torch.Tensor], mean: torch.Tensor,
                              log_var: torch.Tensor, k: int, eps: torch.Tensor | None = None, *,
                              generator: torch.Generator | None = None) -> torch.Tensor:
    """log (1/k) Σ_i p(x, z_i) / q(z_i) with z_i ~ q = N(mean, diag exp(log_var)) (Burda et al., 2016).

    ``log_joint`` maps latent samples (k, B, q) to log p(x, z) of shape (k, B); mean and log_var are
    (B, q); ``eps`` optionally fixes the standard-normal noise, shape (k, B, q). Returns (B,), nats.
    In expectation this lower-bounds log p(x), never decreases with k, and tends to log p(x) as k → ∞.
    """
    if not callable(log_joint):
        raise TypeError(f"log_joint must be callable, got {type(log_joint).__name__}")
    k = positive_int(k, "k")
    check_tensor(mean, "mean", ndim=2)
    _check_same_shape(mean, log_var)
    generator_or_none(generator)
    if eps is None:
        eps = randomness.normal((k, *mean.shape), generator=generator, device=mean.device, dtype=mean.dtype)
    else:
        check_tensor(eps, "eps")
        if tuple(eps.shape) != (k, *mean.shape):
            raise ValueError(f"eps must have shape ({k}, {', '.join(map(str, mean.shape))}), got {tuple(eps.shape)}")
    z = reparameterize(mean, log_var, eps)
    log_q = standard_normal_log_prob(eps) - 0.5 * log_var.sum(-1)   # log q(z), from ε directly
    log_p = log_joint(z)
    if not isinstance(log_p, torch.Tensor) or log_p.shape != log_q.shape:
        raise ValueError(f"log_joint must map z of shape {tuple(z.shape)} to log p(x, z) of shape {tuple(log_q.shape)}, "
                         f"got {tuple(log_p.shape) if isinstance(log_p, torch.Tensor) else type(log_p).__name__}")
    return log_mean_exp(log_p - log_q, dim=0)


def _mixture_responsibilities(x, weights, means, std):
    check_tensor(x, "x", ndim=2)
    check_tensor(means, "means", ndim=2, last_dim=x.shape[1])
    check_tensor(weights, "weights", ndim=1)
    if len(weights) != len(means):
        raise ValueError(f"weights has {len(weights)} entries for {len(means)} means")
    variance = torch.as_tensor(positive_float(std, "std"), dtype=x.dtype, device=x.device) ** 2
    log_joint = pairwise_diagonal_gaussian_log_prob(x, means.to(x), variance.expand(1, 1)) + torch.log(weights.to(x))[None]
    return log_joint, variance


def isotropic_mixture_log_prob(x: torch.Tensor, weights: torch.Tensor, means: torch.Tensor, std: float) -> torch.Tensor:
    """log Σ_k w_k N(x; μ_k, std² I) for x (N, D), weights (K,) summing to 1, means (K, D) → (N,)."""
    return torch.logsumexp(_mixture_responsibilities(x, weights, means, std)[0], dim=1)


def isotropic_mixture_score(x: torch.Tensor, weights: torch.Tensor, means: torch.Tensor, std: float) -> torch.Tensor:
    """The score ∇ₓ log p(x) of the mixture Σ_k w_k N(μ_k, std² I), in closed form: Σ_k r_k(x) (μ_k − x)/std²,
    r_k(x) the posterior probability of component k (no normalising constant needed); x (N, D) → (N, D).
    The same mixture blurred by noise of standard deviation σ has std² + σ² in place of std²."""
    log_joint, variance = _mixture_responsibilities(x, weights, means, std)
    responsibilities = torch.softmax(log_joint, dim=1)                       # (N, K)
    return (responsibilities @ means.to(x) - x) / variance
