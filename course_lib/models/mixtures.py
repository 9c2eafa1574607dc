"""Gaussian mixture models fitted by expectation–maximisation (Dempster, Laird & Rubin, 1977).

The EM loop reads like the algorithm: initialise (k-means++ or random data points), then E-step → M-step until the mean
log-likelihood gains less than ``tol``, keeping the best of ``n_init`` restarts. Responsibilities
live in log space. Shapes: data (N, D); weights (K,); means (K, D); covariances (K, D, D) for
``"full"``, (K, D) variances for ``"diag"`` and (K,) variances for ``"spherical"`` (the isotropic
N(μ_k, σ_k² I) of the lectures; scikit-learn's ``covariance_type="spherical"``). Log-likelihoods are in nats
per example.
"""

from __future__ import annotations

import math

import torch

from .. import randomness
from ..distributions import gaussian_log_prob, pairwise_diagonal_gaussian_log_prob
from ..validation import (as_float_tensor, as_probabilities, generator_or_none, has_values, positive_float,
                          positive_int)
from .base import DensityModel

COVARIANCE_TYPES = ("full", "diag", "spherical")
INIT_PARAMS = ("kmeans++", "random")


def kmeans_plus_plus(x: torch.Tensor, k: int, generator: torch.Generator | None = None) -> torch.Tensor:
    """k-means++ seeding (Arthur & Vassilvitskii, 2007): k rows of x, each drawn with prob. ∝ squared
    distance to the nearest centre chosen so far. Returns (k, D)."""
    x = as_float_tensor(x, "x", ndim=2)
    k = positive_int(k, "k")
    generator_or_none(generator)
    if k > len(x):
        raise ValueError(f"k must be ≤ the {len(x)} data points, got {k}")
    centers = [x[randomness.integers(len(x), (), generator=generator, device=x.device)]]
    closest = ((x - centers[0]) ** 2).sum(1)
    for _ in range(1, k):
        # all points equally likely once every point coincides with a centre (closest is all zeros)
        weights = torch.where(closest.sum() > 0, closest, torch.ones_like(closest))
        centers.append(x[randomness.categorical(weights, generator=generator)])
        closest = torch.minimum(closest, ((x - centers[-1]) ** 2).sum(1))
    return torch.stack(centers)


def _check_covariance_type(covariance_type) -> None:
    if covariance_type not in COVARIANCE_TYPES:
        raise ValueError(f"covariance_type must be one of {COVARIANCE_TYPES}, got {covariance_type!r}")


def _check_components(x, means, covariances, covariance_type) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """x (N, D), means (K, D) and covariances (K, D, D), (K, D) or (K,) checked (types, shapes, values) and
    brought to one floating dtype."""
    _check_covariance_type(covariance_type)
    x = as_float_tensor(x, "x", ndim=2)
    means = as_float_tensor(means, "means", ndim=2)
    if means.shape[1] != x.shape[1]:
        raise ValueError(f"means must have shape (K, {x.shape[1]}) to match x {tuple(x.shape)}, "
                         f"got {tuple(means.shape)}")
    covariances = as_float_tensor(covariances, "covariances")
    expected = _covariance_shape(covariance_type, len(means), x.shape[1])
    if tuple(covariances.shape) != expected:
        raise ValueError(f"covariances must have shape {expected} for {covariance_type!r} covariances and "
                         f"means {tuple(means.shape)}, got {tuple(covariances.shape)}")
    _check_covariance_values(covariances, covariance_type)
    dtype = torch.promote_types(torch.promote_types(x.dtype, means.dtype), covariances.dtype)
    return x.to(dtype), means.to(dtype), covariances.to(dtype)


def _covariance_shape(covariance_type: str, k: int, d: int) -> tuple[int, ...]:
    """The shape of the covariances of K components in D dimensions."""
    return {"full": (k, d, d), "diag": (k, d), "spherical": (k,)}[covariance_type]


def _check_covariance_values(covariances: torch.Tensor, covariance_type: str, name: str = "covariances") -> None:
    """Raise unless every component's covariance is symmetric positive definite ("full"), or its variances
    are positive ("diag", "spherical"). Skipped on the meta device."""
    if not has_values(covariances):
        return
    if covariance_type == "diag":
        checks = [((covariances <= 0).any(1), "hold variances > 0 (for 'diag')", "has one ≤ 0")]
    elif covariance_type == "spherical":
        checks = [(covariances <= 0, "hold variances > 0 (for 'spherical')", "is ≤ 0")]
    else:
        asymmetric = (covariances - covariances.mT).abs() > 1e-8 + 1e-5 * covariances.abs()
        checks = [(asymmetric.flatten(1).any(1), "be symmetric", "is not"),
                  (torch.linalg.cholesky_ex(covariances).info != 0, "be positive definite", "is not (a component "
                   "collapsed onto too few points? m_step's reg_covar adds to every variance to prevent it)")]
    for bad, requirement, problem in checks:
        if bad.any():
            raise ValueError(f"{name} must {requirement}, but component {bad.nonzero()[0].item()}'s {problem}")


def component_log_densities(x: torch.Tensor, means: torch.Tensor, covariances: torch.Tensor,
                            covariance_type: str) -> torch.Tensor:
    """log N(x_n; μ_k, Σ_k) for every point and component: (N, D) → (N, K) (``distributions``: Cholesky
    factors for full covariances, three matrix products for diagonal and spherical ones)."""
    return _component_log_densities(*_check_components(x, means, covariances, covariance_type), covariance_type)


def _component_log_densities(x, means, covariances, covariance_type):
    if covariance_type == "diag":
        return pairwise_diagonal_gaussian_log_prob(x, means, covariances)
    if covariance_type == "spherical":
        return pairwise_diagonal_gaussian_log_prob(x, means, covariances[:, None])
    return gaussian_log_prob(x, means, torch.linalg.cholesky(covariances))


def e_step(x, weights, means, covariances, covariance_type="full") -> tuple[torch.Tensor, torch.Tensor]:
    """Responsibilities r_nk = p(z = k | x_n) in log space, shape (N, K), and the mean log-likelihood.

    ``weights`` (K,): the mixing proportions, non-negative and summing to 1."""
    x, means, covariances = _check_components(x, means, covariances, covariance_type)
    weights = as_probabilities(weights, "weights")
    if len(weights) != len(means):
        raise ValueError(f"weights must have one entry per component ({len(means)}), got shape {tuple(weights.shape)}")
    return _e_step(x, weights.to(x.dtype), means, covariances, covariance_type)


def _e_step(x, weights, means, covariances, covariance_type):
    joint = torch.log(weights)[None] + _component_log_densities(x, means, covariances, covariance_type)
    log_px = torch.logsumexp(joint, dim=1, keepdim=True)
    return joint - log_px, log_px.mean()


def m_step(x, resp, covariance_type="full", reg_covar=1e-6) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Weighted maximum likelihood given responsibilities resp (N, K) (probabilities, each row summing to 1):
    weights, means, covariances.

    ``reg_covar`` is added to every variance, so no component collapses onto a single point. A spherical
    component's variance σ_k² is the mean of its D per-dimension variances (the maximum-likelihood σ_k²).
    """
    _check_covariance_type(covariance_type)
    x = as_float_tensor(x, "x", ndim=2)
    resp = as_probabilities(resp, "resp", ndim=2)
    if len(resp) != len(x):
        raise ValueError(f"resp must have one row per point ({len(x)}), got shape {tuple(resp.shape)}")
    reg_covar = positive_float(reg_covar, "reg_covar", allow_zero=True)
    dtype = torch.promote_types(x.dtype, resp.dtype)
    return _m_step(x.to(dtype), resp.to(dtype), covariance_type, reg_covar)


def _m_step(x, resp, covariance_type, reg_covar):
    nk = resp.sum(0) + 10 * torch.finfo(resp.dtype).eps                       # effective counts (K,)
    means = resp.T @ x / nk[:, None]
    if covariance_type in ("diag", "spherical"):
        covariances = resp.T @ (x * x) / nk[:, None] - means ** 2 + reg_covar
        if covariance_type == "spherical":
            covariances = covariances.mean(1)
    else:
        diff = x[None] - means[:, None, :]                                       # (K, N, D)
        covariances = torch.einsum("nk,kni,knj->kij", resp, diff, diff) / nk[:, None, None]
        covariances = covariances + reg_covar * torch.eye(x.shape[1], dtype=x.dtype, device=x.device)
    return nk / len(x), means, covariances


class GaussianMixture(DensityModel):
    """p(x) = Σ_k π_k N(x; μ_k, Σ_k): the generative story "pick z ~ Cat(π), then x ~ N(μ_z, Σ_z)".

    ``covariance_type``: ``"full"`` (K, D, D), ``"diag"`` (K, D) or ``"spherical"`` (K,), the lectures'
    isotropic N(μ_k, σ_k² I).

    Fitted state (buffers, empty until ``fit``; float64): ``weights`` (K,), ``means`` (K, D),
    ``covariances`` (shape by ``covariance_type``), ``log_likelihood_history`` (mean log-likelihood of the training
    data at the start of each iteration and at the end, best restart) and ``converged``. With
    ``record=True``, ``snapshots`` keeps the parameters at every iteration: a diagnostic for the EM
    stepper, not model state (it is not saved or moved).
    """

    _fitted_buffers = ("weights", "means", "covariances", "log_likelihood_history")

    def __init__(self, n_components: int, covariance_type: str = "full", reg_covar: float = 1e-6,
                 max_iter: int = 100, tol: float = 1e-3, n_init: int = 1, init_params: str = "kmeans++"):
        super().__init__()
        self.n_components = positive_int(n_components, "n_components")
        _check_covariance_type(covariance_type)
        self.covariance_type = covariance_type
        self.reg_covar = positive_float(reg_covar, "reg_covar", allow_zero=True)
        self.max_iter = positive_int(max_iter, "max_iter", minimum=0)
        self.tol = positive_float(tol, "tol", allow_zero=True)
        self.n_init = positive_int(n_init, "n_init")
        if init_params not in INIT_PARAMS:
            raise ValueError(f"init_params must be one of {INIT_PARAMS}, got {init_params!r}")
        self.init_params = init_params
        for name in self._fitted_buffers:
            self.register_buffer(name, torch.empty(0, dtype=torch.float64))
        self.register_buffer("converged", torch.tensor(False))
        self.snapshots: list[tuple[torch.Tensor, torch.Tensor, torch.Tensor]] = []

    # -- fitting -------------------------------------------------------------------------------

    def _check_data(self, x, name: str = "x") -> torch.Tensor:
        x = as_float_tensor(x, name, ndim=2).double().to(self.device)
        if len(x) < self.n_components:
            raise ValueError(f"{name} has {len(x)} rows, fewer than n_components={self.n_components}")
        return x

    def initial_parameters(self, x, generator: torch.Generator | None = None):
        """Starting (weights, means, covariances) for EM on x (N, D), by ``init_params``: k-means++ centres
        with hard assignments, or K random data points sharing the data covariance."""
        generator_or_none(generator)
        return self._initial_parameters(self._check_data(x), generator)

    def _initial_parameters(self, x, generator):
        if self.init_params == "random":
            # The textbook start: K random data points as means, the data's covariance for every component.
            means = x[randomness.permutation(len(x), generator=generator, device=x.device)[: self.n_components]]
            _, _, covariances = _m_step(x, torch.ones(len(x), 1, dtype=x.dtype, device=x.device),
                                        self.covariance_type, self.reg_covar)
            covariances = covariances.expand(self.n_components, *covariances.shape[1:]).clone()
            weights = torch.full((self.n_components,), 1 / self.n_components, dtype=x.dtype, device=x.device)
            return weights, means, covariances
        centers = kmeans_plus_plus(x, self.n_components, generator)
        nearest = torch.cdist(x, centers).argmin(1)
        resp = torch.nn.functional.one_hot(nearest, self.n_components).to(x.dtype)
        return _m_step(x, resp, self.covariance_type, self.reg_covar)

    def _run_em(self, x, params, record, floor):
        """EM from ``params`` as scikit-learn runs it: E-step (scoring the current parameters), M-step, and stop
        once the score gained less than ``tol`` since the previous E-step; then score the final parameters.
        ``floor``: a variance at or below it means a component collapsed."""
        history, snapshots = [], []
        weights, means, covariances = params
        previous = -math.inf
        converged = False
        for _ in range(self.max_iter):
            if record:
                snapshots.append((weights, means, covariances))
            log_resp, mean_ll = self._scored_e_step(x, weights, means, covariances, floor)
            history.append(mean_ll)
            weights, means, covariances = _m_step(x, log_resp.exp(), self.covariance_type, self.reg_covar)
            if abs(history[-1] - previous) < self.tol:
                converged = True
                break
            previous = history[-1]
        if record:
            snapshots.append((weights, means, covariances))
        history.append(self._scored_e_step(x, weights, means, covariances, floor)[1])
        return (weights, means, covariances), history, snapshots, converged

    def _scored_e_step(self, x, weights, means, covariances, floor: float) -> tuple[torch.Tensor, float]:
        """The E-step inside EM, with its mean log-likelihood read as a float. A component that collapsed onto
        too few points (a variance ≤ ``floor``, numerically zero next to the data's variance, a singular covariance
        or a non-finite likelihood) stops the fit with an explanation."""
        smallest = covariances.min() if self.covariance_type != "full" else torch.linalg.eigvalsh(covariances).min()
        try:
            log_resp, mean_ll = _e_step(x, weights, means, covariances, self.covariance_type)
            mean_ll, smallest = torch.stack([mean_ll, smallest.to(mean_ll.dtype)]).tolist()
        except torch.linalg.LinAlgError:
            mean_ll = math.nan
        if not math.isfinite(mean_ll) or smallest <= floor:
            raise ValueError(f"EM stopped: a component collapsed onto too few points, so its covariance is "
                             f"singular and the likelihood unbounded (reg_covar={self.reg_covar:g}); increase "
                             f"reg_covar (a small fraction of the data's variance, 1e-6 or more) or use fewer "
                             f"components")
        return log_resp, mean_ll

    def fit(self, x, init: tuple | None = None, record: bool = False,
            generator: torch.Generator | None = None) -> "GaussianMixture":
        """Run EM on x (N, D), on the mixture's device; return the mixture (in eval mode). ``init``: optional
        (weights, means, covariances) to start from instead of ``init_params`` (then a single run).
        ``record``: keep the parameters of every iteration. ``generator``: draws the starting points."""
        x = self._check_data(x)
        generator_or_none(generator)
        if not isinstance(record, bool):
            raise TypeError(f"record must be a bool, got {type(record).__name__}")
        starts = [self._check_init(init, x.shape[1])] if init is not None else \
            [self._initial_parameters(x, generator) for _ in range(self.n_init)]
        # a variance this small next to the data's is zero up to rounding: a collapsed component
        floor = 10 * x.shape[1] * torch.finfo(x.dtype).eps * x.var(0, correction=0).mean().item()
        best = None
        for params in starts:
            run = self._run_em(x, params, record, floor)
            if best is None or run[1][-1] > best[1][-1]:
                best = run
        (weights, means, covariances), history, self.snapshots, converged = best
        self.weights, self.means, self.covariances = weights, means, covariances
        self.log_likelihood_history = torch.tensor(history, dtype=torch.float64, device=self.device)
        self.converged = torch.tensor(converged, device=self.device)
        return self.eval()

    def _check_init(self, init, dim):
        if not isinstance(init, (tuple, list)) or len(init) != 3:
            raise TypeError("init must be a tuple (weights, means, covariances)")
        k = self.n_components
        weights = as_float_tensor(init[0], "init weights", ndim=1).double().to(self.device)
        means = as_float_tensor(init[1], "init means", ndim=2).double().to(self.device)
        covariances = as_float_tensor(init[2], "init covariances").double().to(self.device)
        expected = _covariance_shape(self.covariance_type, k, dim)
        if weights.shape != (k,) or means.shape != (k, dim) or covariances.shape != expected:
            raise ValueError(f"init shapes must be ({k},), ({k}, {dim}), {expected}; got {tuple(weights.shape)}, "
                             f"{tuple(means.shape)}, {tuple(covariances.shape)}")
        if (weights < 0).any() or abs(weights.sum().item() - 1) > 1e-6:
            raise ValueError("init weights must be non-negative and sum to 1")
        _check_covariance_values(covariances, self.covariance_type, "init covariances")
        return weights, means, covariances

    # -- the density-model protocol -------------------------------------------------------------

    def _check_ready(self):
        if self.means.numel() == 0:
            raise RuntimeError("the mixture is not fitted yet: call fit(x) first")

    def check_input(self, x, name: str = "x") -> torch.Tensor:
        self._check_ready()
        return as_float_tensor(x, name, ndim=2, last_dim=self.means.shape[1]).to(self.device)

    def _log_prob(self, x, context):
        """log p(x) = logsumexp_k [log π_k + log N(x; μ_k, Σ_k)] for each row: (B, D) → (B,), nats."""
        joint = torch.log(self.weights)[None] + _component_log_densities(
            x.double(), self.means, self.covariances, self.covariance_type)
        return torch.logsumexp(joint, dim=1).to(x.dtype)

    def responsibilities(self, x) -> torch.Tensor:
        """p(z = k | x) for each row of x: (B, D) → (B, K)."""
        x = self.check_input(x).double()
        return _e_step(x, self.weights, self.means, self.covariances, self.covariance_type)[0].exp()

    def _sample(self, n, generator, context):
        """Ancestral sampling: z ~ Cat(π), then x ~ N(μ_z, Σ_z); shape (n, D)."""
        z = randomness.categorical(self.weights, n, generator=generator)
        eps = randomness.normal((n, self.means.shape[1]), generator=generator, device=self.device,
                                dtype=self.means.dtype)
        if self.covariance_type == "diag":
            return self.means[z] + eps * self.covariances[z].sqrt()
        if self.covariance_type == "spherical":
            return self.means[z] + eps * self.covariances[z, None].sqrt()
        chol = torch.linalg.cholesky(self.covariances)
        return self.means[z] + torch.einsum("nij,nj->ni", chol[z], eps)
