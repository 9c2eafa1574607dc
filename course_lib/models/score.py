"""Score-based models (chapter 08): learn ∇ₓ log p(x), which needs no normalising constant, and sample with
Langevin dynamics.

* ``langevin``: x ← x + ε ∇ₓ log p(x) + √(2ε) z, z ~ N(0, I); for small ε and many steps its states are
  samples of p (unadjusted Langevin algorithm).
* ``annealed_langevin`` (Song & Ermon, 2019): Langevin at a decreasing sequence of noise levels σ_1 > … > σ_L,
  using the score of the data blurred by N(0, σ²I) — large σ fills the low-density regions between modes,
  where the plain score is unknown (no data) and Langevin cannot cross, and gets the modes' weights right.
* ``denoising_score_matching_loss`` (Vincent, 2011): ½ E‖s(x + σε) + ε/σ‖², whose minimiser is the score
  of the blurred data; ``sliced_score_matching_loss`` (Song et al., 2019): E[vᵀ∇ₓ(vᵀs) + ½(vᵀs)²] with
  random directions v, the score matching objective without the Hessian's trace and without noise.
* ``ScoreModel``: a noise-conditional score network s(x, σ) = f(x, t_σ)/σ trained at every level with
  weight σ² (either objective), sampled by annealed Langevin.
"""

from __future__ import annotations

import math
from typing import Callable

import torch
from torch import nn

from .. import randomness
from ..validation import as_float_tensor, generator_or_none, positive_float, positive_int
from .base import TrainableSampler, evaluation_mode


def _points(x, name: str = "x") -> torch.Tensor:
    x = as_float_tensor(x, name)
    if x.ndim < 2:
        raise ValueError(f"{name} must have shape (N, ...) with one example per row, got {tuple(x.shape)}")
    return x


def _check_score(score) -> None:
    if not callable(score):
        raise TypeError(f"score must be callable (x → ∇ₓ log p(x), same shape), got {type(score).__name__}")


def _score_of(score, x, *args):
    out = score(x, *args)
    if not isinstance(out, torch.Tensor) or out.shape != x.shape:
        raise ValueError(f"score must return a tensor shaped like x {tuple(x.shape)}, got "
                         f"{tuple(out.shape) if isinstance(out, torch.Tensor) else type(out).__name__}")
    return out


def langevin(score: Callable, x, step_size: float, steps: int, generator: torch.Generator | None = None,
             record: int = 1) -> list[torch.Tensor]:
    """``steps`` Langevin steps x ← x + ε score(x) + √(2ε) z from the particles x (N, ...), ε = ``step_size``.
    Returns the states every ``record`` steps, the start included (steps // record + 1 tensors)."""
    _check_score(score)
    x = _points(x)
    step_size, steps = positive_float(step_size, "step_size"), positive_int(steps, "steps", minimum=0)
    record = positive_int(record, "record")
    generator_or_none(generator)
    states = [x]
    with torch.no_grad():
        for k in range(steps):
            noise = randomness.normal(x.shape, generator=generator, device=x.device, dtype=x.dtype)
            x = x + step_size * _score_of(score, x) + math.sqrt(2 * step_size) * noise
            if (k + 1) % record == 0:
                states.append(x)
    return states


def annealed_langevin(score: Callable, x, sigmas, steps_per_level: int, step_size: float,
                      generator: torch.Generator | None = None) -> torch.Tensor:
    """Annealed Langevin dynamics: for each σ_i of ``sigmas`` (decreasing), ``steps_per_level`` Langevin steps on
    score(x, σ_i) with step ε_i = ``step_size`` · σ_i²/σ_L² (so the noise each step adds is in proportion to
    the level). x (N, ...) the starting particles; returns the last state."""
    _check_score(score)
    x = _points(x)
    sigmas = as_float_tensor(sigmas, "sigmas", ndim=1)
    if (sigmas <= 0).any() or (sigmas[1:] > sigmas[:-1]).any():
        raise ValueError("sigmas must be positive and decreasing")
    steps_per_level = positive_int(steps_per_level, "steps_per_level")
    step_size = positive_float(step_size, "step_size")
    generator_or_none(generator)
    values = sigmas.tolist()
    with torch.no_grad():
        return _annealed_langevin(lambda y, level: _score_of(score, y, values[level]), x, sigmas, steps_per_level,
                                  step_size, generator)


def _annealed_langevin(score_at_level, x, sigmas, steps_per_level, step_size, generator):
    """The annealed loop, unchecked: ``score_at_level(x, level)`` is the score at ``sigmas[level]`` (a tensor on
    any device: the steps are computed as tensors, so no value is read back)."""
    for level in range(len(sigmas)):
        epsilon = step_size * (sigmas[level] / sigmas[-1]) ** 2
        for _ in range(steps_per_level):
            noise = randomness.normal(x.shape, generator=generator, device=x.device, dtype=x.dtype)
            x = x + epsilon * score_at_level(x, level) + (2 * epsilon).sqrt() * noise
    return x


def _dsm(score, x, sigma, noise):
    """Per example: ½ σ²‖s(x + σε) + ε/σ‖² = ½‖σ s(x + σε) + ε‖² (σ² the weight that evens out the levels)."""
    perturbed = x + sigma * noise
    return 0.5 * ((sigma * score(perturbed) + noise) ** 2).reshape(len(x), -1).sum(1)


def denoising_score_matching_loss(score: Callable, x, sigma: float, generator: torch.Generator | None = None) -> torch.Tensor:
    """½ E‖s(x̃) + ε/σ‖² with x̃ = x + σε, ε ~ N(0, I), averaged over the examples x (N, ...): the gradient
    of log N(x̃; x, σ²I) is −ε/σ, so the minimising s is the score of the data blurred by N(0, σ²I)."""
    _check_score(score)
    x, sigma = _points(x), positive_float(sigma, "sigma")
    generator_or_none(generator)
    noise = randomness.normal(x.shape, generator=generator, device=x.device, dtype=x.dtype)
    return _dsm(lambda y: _score_of(score, y), x, sigma, noise).mean() / sigma ** 2


def _sliced(score, x, directions):
    """Per example: vᵀ∇ₓ(vᵀs(x)) + ½(vᵀs(x))², one direction v per example (Hutchinson's trace estimate)."""
    x = x.detach().requires_grad_(True)
    s = score(x)
    projected = (s * directions).reshape(len(x), -1).sum(1)
    gradient, = torch.autograd.grad(projected.sum(), x, create_graph=True)
    return (gradient * directions).reshape(len(x), -1).sum(1) + 0.5 * projected ** 2


def sliced_score_matching_loss(score: Callable, x, generator: torch.Generator | None = None) -> torch.Tensor:
    """E_v[vᵀ∇ₓ(vᵀ s(x)) + ½ (vᵀ s(x))²], v ~ N(0, I), averaged over x (N, ...): equal, up to a constant, to
    the Fisher divergence ½ E‖s − ∇ log p‖², whose minimiser is the data's own score. Differentiable in the
    parameters of ``score`` (a second derivative: create_graph)."""
    _check_score(score)
    x = _points(x)
    generator_or_none(generator)
    directions = randomness.normal(x.shape, generator=generator, device=x.device, dtype=x.dtype)
    return _sliced(lambda y: _score_of(score, y), x, directions).mean()


def noise_levels(sigma_max: float, sigma_min: float, levels: int) -> torch.Tensor:
    """σ_1 > … > σ_L, ``levels`` of them, geometric from ``sigma_max`` to ``sigma_min`` (float32)."""
    sigma_max, sigma_min = positive_float(sigma_max, "sigma_max"), positive_float(sigma_min, "sigma_min")
    levels = positive_int(levels, "levels")
    if sigma_min > sigma_max:
        raise ValueError(f"sigma_min ({sigma_min}) must not exceed sigma_max ({sigma_max})")
    return torch.exp(torch.linspace(math.log(sigma_max), math.log(sigma_min), levels))


class ScoreModel(TrainableSampler):
    """A noise-conditional score network (NCSN) on points of ``shape``: s(x, σ) = f(x, t_σ)/σ, with f a network
    f(x, t) (e.g. ``nn.MLPDenoiser``) and t_σ ∈ [0, 1] the position of σ in ``sigmas`` (0 the largest).
    ``objective``: ``"denoising"`` or ``"sliced"`` score matching, each at a random level per example,
    weighted by σ² (sliced: on the data blurred at that level). ``sample``: annealed Langevin from N(0, σ_1²I)."""

    def __init__(self, network: nn.Module, shape=(2,), sigmas=(3.0, 1.0, 0.3, 0.1, 0.03), objective: str = "denoising",
                 steps_per_level: int = 100, step_size: float = 2e-5):
        super().__init__()
        if not isinstance(network, nn.Module):
            raise TypeError(f"network must be a torch.nn.Module f(x, t), got {type(network).__name__}")
        if objective not in ("denoising", "sliced"):
            raise ValueError(f"objective must be 'denoising' or 'sliced', got {objective!r}")
        self.network, self.objective = network, objective
        if not isinstance(shape, (tuple, list, torch.Size)) or not shape:
            raise TypeError(f"shape must be a tuple of positive ints, got {shape!r}")
        self.shape = tuple(positive_int(s, "shape") for s in shape)
        if isinstance(sigmas, (tuple, list)):      # the default is a tuple
            sigmas = torch.tensor(sigmas, dtype=torch.get_default_dtype())
        sigmas = as_float_tensor(sigmas, "sigmas", ndim=1)
        if (sigmas <= 0).any() or (sigmas[1:] >= sigmas[:-1]).any():
            raise ValueError("sigmas must be positive and strictly decreasing")
        self.register_buffer("sigmas", sigmas.float())
        self.steps_per_level = positive_int(steps_per_level, "steps_per_level")
        self.step_size = positive_float(step_size, "step_size")

    def check_input(self, x, name: str = "x") -> torch.Tensor:
        x = as_float_tensor(x, name)
        if tuple(x.shape[1:]) != self.shape or x.ndim != len(self.shape) + 1:
            raise ValueError(f"{name} must have shape (N, {', '.join(map(str, self.shape))}), got {tuple(x.shape)}")
        return x.to(self.device)

    def _level_times(self, index: torch.Tensor, dtype) -> torch.Tensor:
        return (index.to(dtype) / max(len(self.sigmas) - 1, 1))

    def _score(self, x, index):
        sigma = self.sigmas[index].to(x.dtype).reshape(-1, *[1] * len(self.shape))
        return self.network(x, self._level_times(index, x.dtype)) / sigma

    def score(self, x, level: int) -> torch.Tensor:
        """s(x, σ_level) (N, *shape): the learned score of the data blurred at noise level ``sigmas[level]``."""
        x = self.check_input(x)
        if isinstance(level, bool) or not isinstance(level, int) or not 0 <= level < len(self.sigmas):
            raise ValueError(f"level must be an int in 0..{len(self.sigmas) - 1}, got {level!r}")
        with torch.no_grad():
            return self._score(x, torch.full((len(x),), level, device=self.device, dtype=torch.long))

    def _loss(self, x, context, generator):
        index = randomness.integers(len(self.sigmas), (len(x),), generator=generator, device=self.device)
        sigma = self.sigmas[index].to(x.dtype).reshape(-1, *[1] * len(self.shape))
        noise = randomness.normal(x.shape, generator=generator, device=self.device, dtype=x.dtype)
        score = lambda y: self._score(y, index)  # noqa: E731
        if self.objective == "denoising":
            return _dsm(score, x, sigma, noise).mean()
        directions = randomness.normal(x.shape, generator=generator, device=self.device, dtype=x.dtype)
        weight = sigma.reshape(-1) ** 2
        return (weight * _sliced(score, x + sigma * noise, directions)).mean()

    def sample(self, n: int, generator: torch.Generator | None = None, *, context=None,
               steps_per_level: int | None = None, step_size: float | None = None) -> torch.Tensor:
        """n samples (n, *shape) by annealed Langevin over the model's levels (defaults: the model's settings)."""
        n = positive_int(n, "n")
        generator_or_none(generator)
        self.check_context(context, n)
        steps = self.steps_per_level if steps_per_level is None else positive_int(steps_per_level, "steps_per_level")
        epsilon = self.step_size if step_size is None else positive_float(step_size, "step_size")
        with evaluation_mode(self):
            return self._sample(n, generator, None, steps, epsilon)

    def _annealed(self, n, generator, steps, epsilon):
        x = self.sigmas[0] * randomness.normal((n, *self.shape), generator=generator, device=self.device)
        return _annealed_langevin(
            lambda y, level: self._score(y, torch.full((n,), level, device=self.device, dtype=torch.long)),
            x, self.sigmas, steps, epsilon, generator)

    def _sample(self, n, generator, context, steps_per_level=None, step_size=None):
        return self._annealed(n, generator, self.steps_per_level if steps_per_level is None else steps_per_level,
                              self.step_size if step_size is None else step_size)


__all__ = ["ScoreModel", "annealed_langevin", "denoising_score_matching_loss", "langevin",
           "noise_levels", "sliced_score_matching_loss"]
