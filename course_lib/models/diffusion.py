"""Diffusion (DDPM, DDIM) and flow matching (chapter 08): models that learn to undo a gradual corruption.

Both work in a continuous space: 2D points as they are, or images of integer grey levels dequantized and
scaled, y = (x + u)·2/L − 1 ∈ [−1, 1), u ~ U[0, 1)^D (their samples are mapped back by ⌊(y + 1)·L/2⌋).

**DDPM** (Ho et al., 2020). The forward process adds Gaussian noise in T steps,
q(x_t | x_{t−1}) = N(√(1−β_t) x_{t−1}, β_t I), so q(x_t | x_0) = N(√ᾱ_t x_0, (1−ᾱ_t) I) with
ᾱ_t = Π_{s≤t} (1−β_s). A network ε̂(x_t, t) predicts the noise ε of x_t = √ᾱ_t x_0 + √(1−ᾱ_t) ε; training
minimises E‖ε − ε̂‖² (the "simple" loss: a weighted denoising score matching, since the score of q(x_t | x_0)
is −ε/√(1−ᾱ_t)). The reverse model p(x_{t−1} | x_t) = N(μ̃_t(x̂_0, x_t), β̃_t I) plugs the predicted
x̂_0 = (x_t − √(1−ᾱ_t) ε̂)/√ᾱ_t into the mean of the posterior q(x_{t−1} | x_t, x_0); its variational bound,
−log p(x_0) ≤ KL(q(x_T|x_0) ‖ N(0, I)) + Σ_{t≥2} KL(q(x_{t−1}|x_t,x_0) ‖ p(x_{t−1}|x_t)) − log p(x_0|x_1),
is ``bound_terms``; ``log_prob`` adds the dequantization term, giving a bound in nats per image on the
discrete levels, comparable with every other model of the course.

**DDIM** (Song et al., 2021): the deterministic sampler x_{t'} = √ᾱ_{t'} x̂_0 + √(1−ᾱ_{t'}) ε̂ on a
subsequence of the T steps: the same network, far fewer evaluations.

**Flow matching / rectified flow** (Lipman et al., 2023; Liu et al., 2023): straight paths
x_t = (1 − t) x_0 + t x_1 from noise x_0 ~ N(0, I) to data x_1; a network v̂(x_t, t) regresses the velocity
x_1 − x_0, and samples follow the ODE dx/dt = v̂(x, t) from t = 0 to 1 (Euler or midpoint steps). The ODE
is a continuous normalizing flow, so it has a likelihood (Chen et al., 2018): run it backwards from x_1 = x to
x_0 and add up the divergence on the way, log p_1(x) = log N(x_0; 0, I) − ∫₀¹ ∇·v̂(x_t, t) dt (``log_prob``).

**Classifier-free guidance** (Ho & Salimans, 2022): a class-conditional network trained with the label
dropped (replaced by "no label") a fraction ``label_dropout`` of the time learns both f(x, t, c) and
f(x, t, ∅); sampling with (1 + w) f(x, t, c) − w f(x, t, ∅) trades diversity for fidelity as w grows.
"""

from __future__ import annotations

import math
import numbers

import torch
from torch import nn

from .. import randomness
from ..validation import as_float_tensor, as_level_images, finite_float, generator_or_none, positive_int
from .base import DensityModel, TrainableSampler, evaluation_mode


def noise_schedule(steps: int, kind: str = "cosine") -> torch.Tensor:
    """β_1 … β_T (T,), float64: ``"linear"`` from 10⁻⁴ to 0.02 rescaled to T steps (Ho et al., 2020), or
    ``"cosine"``, ᾱ_t = cos²((t/T + s)/(1 + s) · π/2) / cos²(s/(1 + s) · π/2), s = 0.008, each β capped at
    0.999 (Nichol & Dhariwal, 2021): it destroys information more evenly over the steps."""
    steps = positive_int(steps, "steps", minimum=2)
    if kind == "linear":
        scale = 1000 / steps
        return torch.linspace(scale * 1e-4, min(scale * 0.02, 0.999), steps, dtype=torch.float64)
    if kind == "cosine":
        s = 0.008
        t = torch.arange(steps + 1, dtype=torch.float64) / steps
        alpha_bar = torch.cos((t + s) / (1 + s) * math.pi / 2) ** 2
        return (1 - alpha_bar[1:] / alpha_bar[:-1]).clamp(max=0.999)
    raise ValueError(f"kind must be 'linear' or 'cosine', got {kind!r}")


class _Denoising(TrainableSampler):
    """What DDPM and flow matching share: the network, the data space (points of ``shape``, or images of
    ``levels`` grey levels), dequantization, and labels with classifier-free guidance."""

    def __init__(self, network: nn.Module, shape, levels: int | None, label_dropout: float):
        super().__init__()
        if not isinstance(network, nn.Module):
            raise TypeError(f"network must be a torch.nn.Module f(x, t, context), got {type(network).__name__}")
        if not isinstance(shape, (tuple, list, torch.Size)) or not shape:
            raise ValueError(f"shape must be a non-empty tuple of positive ints, got {shape!r}")
        self.shape = tuple(positive_int(s, "shape") for s in shape)
        self.levels = None if levels is None else positive_int(levels, "levels", minimum=2)
        if self.levels is not None and len(self.shape) != 3:
            raise ValueError(f"images (levels given) need shape (C, H, W), got {shape!r}")
        if tuple(getattr(network, "shape", self.shape)) != self.shape:
            raise ValueError(f"network works on shape {tuple(network.shape)}, the model on {self.shape}")
        self.network = network
        self.context_classes = getattr(network, "context_classes", None)
        self.label_dropout = finite_float(label_dropout, "label_dropout")
        if not 0 <= self.label_dropout < 1:
            raise ValueError(f"label_dropout must lie in [0, 1), got {label_dropout}")

    @property
    def dims(self) -> int:
        """Numbers per example, the D of bits per dimension."""
        return math.prod(self.shape)

    def check_input(self, x, name: str = "x") -> torch.Tensor:
        if self.levels is not None:
            return as_level_images(x, name, self.shape, self.levels).to(self.device)
        x = as_float_tensor(x, name)
        if tuple(x.shape[1:]) != self.shape or x.ndim != len(self.shape) + 1:
            raise ValueError(f"{name} must have shape (B, {', '.join(map(str, self.shape))}), got {tuple(x.shape)}")
        return x.to(self.device)

    def check_context(self, context, n: int, name: str = "context"):
        """Labels (n,) in 0..classes − 1, or None. A class-conditional model accepts None too: it then works
        with the "no label" token (``classes``), i.e. as the unconditional model learned by label dropout."""
        if self.context_classes is None or context is not None:
            return super().check_context(context, n, name)
        return torch.full((n,), self.context_classes, dtype=torch.long, device=self.device)

    def _to_model_space(self, x: torch.Tensor, generator) -> torch.Tensor:
        """Data → the continuous space the model works in: images dequantized and scaled to [−1, 1)."""
        if self.levels is None:
            return x
        u = randomness.uniform(x.shape, generator=generator, device=x.device, dtype=x.dtype)
        return (x + u) * (2 / self.levels) - 1

    def _dequantization_term(self) -> float:
        """log of the Jacobian of y = (x + u)·2/L − 1, D·log(2/L): the density of x + u is that of y times it."""
        return 0.0 if self.levels is None else self.dims * math.log(2 / self.levels)

    def _to_data(self, y: torch.Tensor) -> torch.Tensor:
        if self.levels is None:
            return y
        return torch.floor((y + 1) * (self.levels / 2)).clamp(0, self.levels - 1)

    def _training_labels(self, context, generator):
        """Each label replaced by "no label" with probability ``label_dropout`` (classifier-free guidance)."""
        if context is None or self.label_dropout == 0:
            return context
        dropped = randomness.uniform(context.shape, generator=generator, device=context.device) < self.label_dropout
        return torch.where(dropped, torch.full_like(context, self.context_classes), context)

    def _predict(self, x, t, context, guidance: float = 0.0):
        """The network's output at (x, t), guided: (1 + w) f(x, t, c) − w f(x, t, ∅)."""
        if context is None or guidance == 0:
            return self.network(x, t, context)
        unlabelled = torch.full_like(context, self.context_classes)
        both = self.network(torch.cat([x, x]), torch.cat([t, t]), torch.cat([context, unlabelled]))
        conditional, unconditional = both.chunk(2)
        return (1 + guidance) * conditional - guidance * unconditional

    def _sampling_options(self, guidance) -> float:
        guidance = finite_float(guidance, "guidance")
        if guidance < 0:
            raise ValueError(f"guidance must be ≥ 0, got {guidance}")
        if guidance and self.context_classes is None:
            raise ValueError("guidance needs a class-conditional network (context_classes)")
        return guidance

    def _per_example(self, squares: torch.Tensor) -> torch.Tensor:
        return squares.reshape(len(squares), -1).sum(1)


class DDPM(_Denoising, DensityModel):
    """A denoising diffusion probabilistic model with ``steps`` = T noise levels and an ε-predicting
    ``network`` f(x, t, context) (t = step / T ∈ (0, 1]), on points of ``shape`` (``levels=None``) or on images
    of ``levels`` grey levels. ``loss``: the simple loss E‖ε − ε̂‖² (per example, summed over dimensions).
    ``log_prob``: minus the variational bound, one noise draw per step (a stochastic lower bound, nats)."""

    log_prob_is_estimate = True

    def __init__(self, network: nn.Module, shape=(1, 8, 8), levels: int | None = 17, steps: int = 100,
                 schedule: str = "cosine", label_dropout: float = 0.1):
        super().__init__(network, shape, levels, label_dropout)
        if schedule not in ("linear", "cosine"):
            raise ValueError(f"schedule must be 'linear' or 'cosine', got {schedule!r}")
        betas = noise_schedule(steps, schedule)
        self.steps = len(betas)
        alpha_bar = torch.cumprod(1 - betas, 0)
        alpha_bar_previous = torch.cat([torch.ones(1, dtype=torch.float64), alpha_bar[:-1]])
        # indexed by t − 1 for t = 1 … T; kept in float64 where 1 − ᾱ is tiny, used in the default dtype
        self.register_buffer("betas", betas.float())
        self.register_buffer("alpha_bar", alpha_bar.float())
        self.register_buffer("alpha_bar_previous", alpha_bar_previous.float())
        self.register_buffer("posterior_variance", (betas * (1 - alpha_bar_previous) / (1 - alpha_bar)).float())

    # -- the forward process ------------------------------------------------------------------------------
    def _coefficients(self, t, like):
        view = (-1,) + (1,) * (like.ndim - 1)
        return lambda table: table[t - 1].reshape(view).to(like.dtype)

    def _diffuse(self, y0, t, noise):
        at = self._coefficients(t, y0)
        return at(self.alpha_bar).sqrt() * y0 + (1 - at(self.alpha_bar)).sqrt() * noise

    def _check_times(self, t, n: int, name: str = "t") -> torch.Tensor:
        if not isinstance(t, (numbers.Integral, torch.Tensor)):
            raise TypeError(f"{name} must be an int or a tensor of integer steps, got {type(t).__name__}")
        t = torch.as_tensor(t)
        if t.ndim == 0:
            t = t.expand(n)
        if t.shape != (n,) or t.dtype.is_floating_point or t.dtype == torch.bool:
            raise ValueError(f"{name} must be an int or integer steps of shape ({n},), got {tuple(t.shape)} {t.dtype}")
        if (t < 1).any() or (t > self.steps).any():
            raise ValueError(f"{name} must lie in 1..{self.steps}")
        return t.long().to(self.device)

    def diffuse(self, y0, t, generator: torch.Generator | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """Samples of q(x_t | x_0 = y0): (x_t, ε) with x_t = √ᾱ_t y0 + √(1−ᾱ_t) ε, for points y0 (B, *shape)
        in the model's space ([−1, 1] for images) and steps t (an int or (B,) ints in 1..T)."""
        generator_or_none(generator)
        y0 = as_float_tensor(y0, "y0").to(self.device)
        if tuple(y0.shape[1:]) != self.shape:
            raise ValueError(f"y0 must have shape (B, {', '.join(map(str, self.shape))}), got {tuple(y0.shape)}")
        t = self._check_times(t, len(y0))
        noise = randomness.normal(y0.shape, generator=generator, device=self.device, dtype=y0.dtype)
        return self._diffuse(y0, t, noise), noise

    # -- the reverse process ------------------------------------------------------------------------------
    def _predicted_start(self, xt, t, eps):
        at = self._coefficients(t, xt)
        return (xt - (1 - at(self.alpha_bar)).sqrt() * eps) / at(self.alpha_bar).sqrt()

    def _posterior_mean(self, y0, xt, t):
        """Mean of q(x_{t−1} | x_t, x_0 = y0): (√ᾱ_{t−1} β_t y0 + √α_t (1 − ᾱ_{t−1}) x_t) / (1 − ᾱ_t)."""
        at = self._coefficients(t, xt)
        beta, alpha_bar, previous = at(self.betas), at(self.alpha_bar), at(self.alpha_bar_previous)
        return (previous.sqrt() * beta * y0 + (1 - beta).sqrt() * (1 - previous) * xt) / (1 - alpha_bar)

    def _times(self, t_int, n, dtype):
        return torch.full((n,), t_int / self.steps, device=self.device, dtype=dtype)

    def bound_terms(self, x, *, context=None, generator: torch.Generator | None = None) -> torch.Tensor:
        """The terms of the variational bound on −log p(y0) in the model's space, (B, T + 1), nats: column
        t − 1 (t = 1 … T) holds L_{t−1}, i.e. −log N(y0; μ_θ(x_1, 1), β_1 I) for t = 1 and
        KL(q(x_{t−1} | x_t, y0) ‖ p_θ(x_{t−1} | x_t)) for t ≥ 2 (one draw of x_t each); the last column is
        L_T = KL(q(x_T | y0) ‖ N(0, I)). For images y0 is the data dequantized and scaled (one draw)."""
        generator_or_none(generator)
        x = self.check_input(x)
        context = self.check_context(context, len(x))
        with torch.no_grad():
            return self._bound_terms(x, context, generator)

    def _bound_terms(self, x, context, generator):
        y0 = self._to_model_space(x, generator)
        n, terms = len(y0), []
        for t_int in range(1, self.steps + 1):
            t = torch.full((n,), t_int, device=self.device, dtype=torch.long)
            noise = randomness.normal(y0.shape, generator=generator, device=self.device, dtype=y0.dtype)
            xt = self._diffuse(y0, t, noise)
            eps = self._predict(xt, self._times(t_int, n, y0.dtype), context)
            mean = self._posterior_mean(self._predicted_start(xt, t, eps), xt, t)
            if t_int == 1:    # the decoder: a Gaussian density of y0 with variance β_1
                variance = self.betas[0]
                terms.append(self._per_example(0.5 * (y0 - mean) ** 2 / variance + 0.5 * torch.log(2 * math.pi * variance)))
            else:             # both Gaussians have variance β̃_t: the KL is the squared distance of the means
                target = self._posterior_mean(y0, xt, t)
                terms.append(self._per_example(0.5 * (target - mean) ** 2 / self.posterior_variance[t_int - 1]))
        alpha_bar = self.alpha_bar[-1]
        mean_t, variance_t = alpha_bar.sqrt() * y0, 1 - alpha_bar
        terms.append(self._per_example(0.5 * (variance_t + mean_t ** 2 - 1 - torch.log(variance_t))))
        return torch.stack(terms, 1)

    def log_prob(self, x, *, context=None, generator: torch.Generator | None = None) -> torch.Tensor:
        """Minus the variational bound (B,), nats: a lower bound on log P(x) (for images, on the discrete
        levels: the dequantization bound included), estimated with one noise draw per step."""
        generator_or_none(generator)
        x = self.check_input(x)
        return self._log_prob(x, self.check_context(context, len(x)), generator)

    def _log_prob(self, x, context, generator=None):
        return -self._bound_terms(x, context, generator).sum(1) + self._dequantization_term()

    def _loss(self, x, context, generator):
        y0 = self._to_model_space(x, generator)
        t = randomness.integers(self.steps, (len(y0),), generator=generator, device=self.device) + 1
        noise = randomness.normal(y0.shape, generator=generator, device=self.device, dtype=y0.dtype)
        eps = self.network(self._diffuse(y0, t, noise), t.to(y0.dtype) / self.steps,
                           self._training_labels(context, generator))
        return self._per_example((noise - eps) ** 2).mean()

    # -- sampling -----------------------------------------------------------------------------------------
    def sample(self, n: int, generator: torch.Generator | None = None, *, context=None, method: str = "ancestral",
               steps: int | None = None, guidance: float = 0.0) -> torch.Tensor:
        """n samples (n, *shape). ``method``: ``"ancestral"`` (the T steps of p(x_{t−1} | x_t)) or ``"ddim"``
        (deterministic, ``steps`` ≤ T evaluations, default T). ``guidance`` w ≥ 0: classifier-free guidance
        (a class-conditional network; 2 network evaluations per step when w > 0)."""
        n, steps, guidance, context = self._reverse_options(n, generator, context, method, steps, guidance)
        with evaluation_mode(self):
            return self._sample(n, generator, context, method, steps, guidance)

    def reverse_process(self, n: int, generator: torch.Generator | None = None, *, context=None,
                        method: str = "ancestral", steps: int | None = None, guidance: float = 0.0,
                        record: int = 1) -> tuple[list[int], list[torch.Tensor], list[torch.Tensor]]:
        """Run the reverse process and keep every ``record``-th state: (steps t, states x_t, predictions x̂_0),
        from t = T down to t = 0. States are in the model's space, except the last, which is mapped to the
        data (grey levels for images). Same arguments as ``sample``."""
        record = positive_int(record, "record")
        n, steps, guidance, context = self._reverse_options(n, generator, context, method, steps, guidance)
        sampler = self._ddim if method == "ddim" else self._ancestral
        with evaluation_mode(self):
            return sampler(n, generator, context, steps, guidance, record)

    def _reverse_options(self, n, generator, context, method, steps, guidance):
        """The sampling arguments checked: (n, steps, guidance, context)."""
        n = positive_int(n, "n")
        generator_or_none(generator)
        if method not in ("ancestral", "ddim"):
            raise ValueError(f"method must be 'ancestral' or 'ddim', got {method!r}")
        steps = self.steps if steps is None else positive_int(steps, "steps")
        if steps > self.steps or (method == "ancestral" and steps != self.steps):
            raise ValueError(f"steps must be ≤ {self.steps} for DDIM and {self.steps} for ancestral sampling, got {steps}")
        return n, steps, self._sampling_options(guidance), self.check_context(context, n)

    def _sample(self, n, generator, context, method="ancestral", steps=None, guidance=0.0):
        sampler = self._ddim if method == "ddim" else self._ancestral
        steps = self.steps if steps is None else steps
        return sampler(n, generator, context, steps, guidance, self.steps)[1][-1]

    def _start_prediction(self, xt, t_int, context, guidance):
        n = len(xt)
        t = torch.full((n,), t_int, device=self.device, dtype=torch.long)
        eps = self._predict(xt, self._times(t_int, n, xt.dtype), context, guidance)
        y0 = self._predicted_start(xt, t, eps)
        if self.levels is not None:     # images live in [−1, 1]: clip the prediction there
            y0 = y0.clamp(-1, 1)
        return t, y0

    def _ancestral(self, n, generator, context, steps, guidance, record):
        xt = randomness.normal((n, *self.shape), generator=generator, device=self.device)
        times, states, starts = [self.steps], [xt], [torch.zeros_like(xt)]
        for t_int in range(self.steps, 0, -1):
            t, y0 = self._start_prediction(xt, t_int, context, guidance)
            xt = self._posterior_mean(y0, xt, t)
            if t_int > 1:
                noise = randomness.normal(xt.shape, generator=generator, device=self.device, dtype=xt.dtype)
                xt = xt + self.posterior_variance[t_int - 1].sqrt() * noise
            if (t_int - 1) % record == 0:
                times.append(t_int - 1), states.append(xt), starts.append(y0)
        states[-1] = self._to_data(states[-1])
        return times, states, starts

    def _ddim(self, n, generator, context, steps, guidance, record):
        xt = randomness.normal((n, *self.shape), generator=generator, device=self.device)
        schedule = torch.linspace(self.steps, 0, steps + 1).round().long().tolist()
        times, states, starts = [self.steps], [xt], [torch.zeros_like(xt)]
        for i, (t_int, next_int) in enumerate(zip(schedule[:-1], schedule[1:])):
            t, y0 = self._start_prediction(xt, t_int, context, guidance)
            eps = (xt - self.alpha_bar[t_int - 1].sqrt() * y0) / (1 - self.alpha_bar[t_int - 1]).sqrt()
            alpha_next = self.alpha_bar[next_int - 1] if next_int > 0 else torch.ones_like(self.alpha_bar[0])
            xt = alpha_next.sqrt() * y0 + (1 - alpha_next).sqrt() * eps
            if (i + 1) % record == 0 or next_int == 0:
                times.append(next_int), states.append(xt), starts.append(y0)
        states[-1] = self._to_data(states[-1])
        return times, states, starts


class FlowMatching(_Denoising, DensityModel):
    """Flow matching with straight paths (rectified flow): x_t = (1 − t) x_0 + t x_1, x_0 ~ N(0, I), x_1 the
    data; ``network`` f(x, t, context) regresses the velocity x_1 − x_0 (``loss``, per example, summed over
    dimensions), and ``sample`` integrates dx/dt = f(x, t) from t = 0 to 1. Points of ``shape``
    (``levels=None``) or images of ``levels`` grey levels. ``log_prob``: the ODE's log-likelihood, integrated
    backwards with a divergence estimate (for images, a stochastic lower bound on the discrete levels)."""

    log_prob_is_estimate = True
    DIVERGENCES = ("hutchinson", "exact")

    def __init__(self, network: nn.Module, shape=(1, 8, 8), levels: int | None = 17, label_dropout: float = 0.1):
        super().__init__(network, shape, levels, label_dropout)

    # -- the likelihood: the ODE as a continuous normalizing flow ----------------------------------------
    def log_prob(self, x, *, context=None, generator: torch.Generator | None = None, steps: int = 20,
                 divergence: str = "hutchinson") -> torch.Tensor:
        """log p(x) (B,), nats, by the instantaneous change of variables: the ODE run backwards from x at t = 1
        to x_0 at t = 0 in ``steps`` classical Runge–Kutta (RK4) steps (4 network evaluations each),
        log p_1(x) = log N(x_0; 0, I) − ∫₀¹ ∇·v̂(x_t, t) dt. ``divergence``: ``"exact"`` (the trace of the
        Jacobian, one backward pass per dimension and evaluation) or ``"hutchinson"`` (εᵀ (∂v̂/∂x) ε with one
        Rademacher ε per example, kept along the path: one backward pass, unbiased; Grathwohl et al., 2019).
        Images: x is dequantized (one uniform draw) and scaled, and the scaling's D log(2/L) is added, so the
        expectation is a lower bound on log P(x) of the discrete levels. ``generator``: the dequantization and ε."""
        generator_or_none(generator)
        steps = positive_int(steps, "steps")
        if divergence not in self.DIVERGENCES:
            raise ValueError(f"divergence must be one of {self.DIVERGENCES}, got {divergence!r}")
        self._check_ready()
        x = self.check_input(x)
        context = self.check_context(context, len(x))
        with evaluation_mode(self):
            return self._log_prob(x, context, generator, steps, divergence)

    def _log_prob(self, x, context, generator=None, steps: int = 20, divergence: str = "hutchinson"):
        y = self._to_model_space(x, generator)
        probe = None
        if divergence == "hutchinson":   # Rademacher ±1: the estimate's variance is smallest among such probes
            probe = 2.0 * randomness.integers(2, y.shape, generator=generator, device=self.device).to(y.dtype) - 1
        integral, h = torch.zeros(len(y), device=self.device, dtype=y.dtype), 1.0 / steps
        for i in range(steps):           # from t = 1 back to t = 0: each RK4 step moves by −h
            t = 1.0 - i * h
            k1, d1 = self._velocity_and_divergence(y, t, context, probe)
            k2, d2 = self._velocity_and_divergence(y - 0.5 * h * k1, t - 0.5 * h, context, probe)
            k3, d3 = self._velocity_and_divergence(y - 0.5 * h * k2, t - 0.5 * h, context, probe)
            k4, d4 = self._velocity_and_divergence(y - h * k3, t - h, context, probe)
            y = y - h / 6 * (k1 + 2 * k2 + 2 * k3 + k4)
            integral = integral + h / 6 * (d1 + 2 * d2 + 2 * d3 + d4)
        base = -0.5 * self._per_example(y ** 2) - 0.5 * self.dims * math.log(2 * math.pi)
        return base - integral + self._dequantization_term()

    def _velocity_and_divergence(self, y, t: float, context, probe):
        """(v̂(y, t), ∇·v̂(y, t)) for a batch y (B, *shape): the divergence exact (probe None) or εᵀJε."""
        with torch.enable_grad():       # sampling and evaluation run under no_grad; the divergence needs a graph
            y = y.detach().requires_grad_(True)
            velocity = self.network(y, torch.full((len(y),), t, device=self.device, dtype=y.dtype), context)
            if probe is not None:
                (vjp,) = torch.autograd.grad(velocity, y, probe)
                divergence = self._per_example(vjp * probe)
            else:                       # the diagonal of the Jacobian, one row (one output dimension) at a time
                flat = velocity.reshape(len(y), -1)
                divergence = torch.zeros(len(y), device=self.device, dtype=y.dtype)
                for d in range(flat.shape[1]):
                    (row,) = torch.autograd.grad(flat[:, d].sum(), y, retain_graph=True)
                    divergence = divergence + row.reshape(len(y), -1)[:, d]
        return velocity.detach(), divergence.detach()

    def _loss(self, x, context, generator):
        y1 = self._to_model_space(x, generator)
        y0 = randomness.normal(y1.shape, generator=generator, device=self.device, dtype=y1.dtype)
        t = randomness.uniform((len(y1),), generator=generator, device=self.device, dtype=y1.dtype)
        xt = (1 - t.reshape(-1, *[1] * len(self.shape))) * y0 + t.reshape(-1, *[1] * len(self.shape)) * y1
        velocity = self.network(xt, t, self._training_labels(context, generator))
        return self._per_example((velocity - (y1 - y0)) ** 2).mean()

    def sample(self, n: int, generator: torch.Generator | None = None, *, context=None, steps: int = 20,
               method: str = "euler", guidance: float = 0.0) -> torch.Tensor:
        """n samples (n, *shape): the ODE from x_0 ~ N(0, I) in ``steps`` steps of ``method`` (``"euler"``: one
        network evaluation per step; ``"midpoint"``: two), with classifier-free ``guidance`` w ≥ 0."""
        n, steps, guidance, context = self._flow_options(n, generator, context, steps, method, guidance)
        with evaluation_mode(self):
            return self._sample(n, generator, context, steps, method, guidance)

    def trajectory(self, n: int, generator: torch.Generator | None = None, *, context=None, steps: int = 20,
                   method: str = "euler", guidance: float = 0.0) -> list[torch.Tensor]:
        """The ODE's states at t = 0, 1/steps, …, 1 (steps + 1 tensors (n, *shape)); the last mapped to the data."""
        n, steps, guidance, context = self._flow_options(n, generator, context, steps, method, guidance)
        with evaluation_mode(self):
            return self._integrate(n, generator, context, steps, method, guidance)

    def _flow_options(self, n, generator, context, steps, method, guidance):
        """The sampling arguments checked: (n, steps, guidance, context)."""
        n, steps = positive_int(n, "n"), positive_int(steps, "steps")
        generator_or_none(generator)
        if method not in ("euler", "midpoint"):
            raise ValueError(f"method must be 'euler' or 'midpoint', got {method!r}")
        return n, steps, self._sampling_options(guidance), self.check_context(context, n)

    def _integrate(self, n, generator, context, steps, method, guidance):
        x = randomness.normal((n, *self.shape), generator=generator, device=self.device)
        states, dt = [x], 1.0 / steps
        for i in range(steps):
            t = torch.full((n,), i * dt, device=self.device, dtype=x.dtype)
            velocity = self._predict(x, t, context, guidance)
            if method == "midpoint":
                velocity = self._predict(x + 0.5 * dt * velocity, t + 0.5 * dt, context, guidance)
            x = x + dt * velocity
            states.append(x)
        states[-1] = self._to_data(states[-1])
        return states

    def _sample(self, n, generator, context, steps=20, method="euler", guidance=0.0):
        return self._integrate(n, generator, context, steps, method, guidance)[-1]


__all__ = ["DDPM", "FlowMatching", "noise_schedule"]
