"""Score-based models (chapter 08): the mixture's score against autograd and its density against
torch.distributions and scipy, Langevin on a correlated Gaussian (with the unadjusted algorithm's known O(ε)
bias computed exactly), annealed Langevin getting a mixture's weights right where plain Langevin cannot, the
denoising and sliced score-matching losses against their defining identities, the noise-conditional
ScoreModel, and clear errors on bad input."""

import math

import numpy as np

import pytest
import scipy.stats
import torch
from torch import nn

from course_lib.distributions import isotropic_mixture_log_prob, isotropic_mixture_score
from course_lib.models import (ScoreModel, annealed_langevin, denoising_score_matching_loss, langevin, noise_levels,
                               sliced_score_matching_loss)
from course_lib.models import score as score_module
from course_lib.nn import MLPDenoiser

MEAN = torch.tensor([1.0, -0.5], dtype=torch.float64)
COVARIANCE = torch.tensor([[1.0, 0.6], [0.6, 0.8]], dtype=torch.float64)


def _gaussian_score(x):
    """∇ log N(x; m, Σ) = −Σ⁻¹(x − m), rows of x."""
    return -torch.linalg.solve(COVARIANCE, (x - MEAN).T).T


def _mixture(dtype=torch.float64):
    weights = torch.tensor([0.2, 0.5, 0.3], dtype=dtype)
    means = torch.tensor([[-2.0, 0.0], [1.0, 1.5], [2.0, -1.0]], dtype=dtype)
    return weights, means


# --- the mixture's density and score ------------------------------------------------------------------


def test_isotropic_mixture_log_prob_matches_torch_distributions_and_scipy():
    weights, means = _mixture()
    x = torch.randn(50, 2, generator=torch.Generator().manual_seed(0), dtype=torch.float64) * 2
    ours = isotropic_mixture_log_prob(x, weights, means, 0.7)
    mixture = torch.distributions.MixtureSameFamily(
        torch.distributions.Categorical(weights),
        torch.distributions.Independent(torch.distributions.Normal(means, 0.7), 1))
    assert torch.allclose(ours, mixture.log_prob(x), rtol=1e-12)
    by_scipy = sum(w * scipy.stats.multivariate_normal(m.numpy(), 0.49 * np.eye(2)).pdf(x.numpy())
                   for w, m in zip(weights.tolist(), means))
    assert torch.allclose(ours, torch.from_numpy(by_scipy).log(), rtol=1e-10)


def test_isotropic_mixture_score_is_the_gradient_of_its_log_prob():
    weights, means = _mixture()
    x = (torch.randn(40, 2, generator=torch.Generator().manual_seed(1), dtype=torch.float64) * 3).requires_grad_()
    gradient, = torch.autograd.grad(isotropic_mixture_log_prob(x, weights, means, 0.5).sum(), x)
    assert torch.allclose(isotropic_mixture_score(x.detach(), weights, means, 0.5), gradient, rtol=1e-9, atol=1e-12)
    # one component: the score of N(μ, s²I), −(x − μ)/s²
    single = isotropic_mixture_score(x.detach(), torch.ones(1, dtype=torch.float64), means[:1], 2.0)
    assert torch.allclose(single, -(x.detach() - means[0]) / 4.0)
    # far out, where one component dominates, the score does not overflow
    far = torch.tensor([[1e3, -1e3]], dtype=torch.float64)
    assert torch.isfinite(isotropic_mixture_score(far, weights, means, 0.1)).all()


@pytest.mark.parametrize("call, error, message", [
    (lambda: isotropic_mixture_log_prob(torch.zeros(3), *_mixture(), 1.0), ValueError, "x must have 2 dimensions"),
    (lambda: isotropic_mixture_log_prob(torch.zeros(3, 3), *_mixture(), 1.0), ValueError, "means must have last dimension 3"),
    (lambda: isotropic_mixture_score(torch.zeros(3, 2), torch.ones(2) / 2, _mixture()[1], 1.0), ValueError,
     "weights has 2 entries for 3 means"),
    (lambda: isotropic_mixture_score([[0.0, 0.0]], *_mixture(), 1.0), TypeError, "x must be a torch.Tensor"),
    (lambda: isotropic_mixture_score(torch.zeros(3, 2), *_mixture(), 0.0), ValueError, "std must be finite and > 0"),
    (lambda: isotropic_mixture_log_prob(torch.zeros(3, 2), *_mixture(), -1.0), ValueError, "std must be finite and > 0"),
])
def test_mixture_functions_reject_bad_input(call, error, message):
    with pytest.raises(error, match=message):
        call()


# --- Langevin -----------------------------------------------------------------------------------------


def test_langevin_samples_a_correlated_gaussian():
    """Small steps: mean and covariance of N(m, Σ) within Monte Carlo error plus the O(ε) bias (here ≤ 2%)."""
    start = torch.rand(4000, 2, generator=torch.Generator().manual_seed(0), dtype=torch.float64) * 6 - 3
    states = langevin(_gaussian_score, start, 0.01, 1500, torch.Generator().manual_seed(1), record=500)
    assert len(states) == 4 and torch.equal(states[0], start)
    x = states[-1]
    assert (x.mean(0) - MEAN).abs().max() < 0.06                       # SE ≈ 0.016
    assert (torch.cov(x.T) - COVARIANCE).abs().max() < 0.08            # SE ≈ 0.02, bias ≤ 0.015


def test_langevin_has_the_unadjusted_algorithms_known_bias():
    """ULA on N(m, Σ) is a Gaussian AR(1) chain; its stationary covariance is Σ(I − εΣ⁻¹/2)⁻¹, i.e. each
    eigenvalue λ becomes λ/(1 − ε/(2λ)): with ε = 0.2 the smallest (0.29) grows by half. The chain's
    covariance matches that, not Σ."""
    epsilon = 0.2
    start = torch.rand(20000, 2, generator=torch.Generator().manual_seed(2), dtype=torch.float64) * 4 - 2
    x = langevin(_gaussian_score, start, epsilon, 400, torch.Generator().manual_seed(3), record=400)[-1]
    values, vectors = torch.linalg.eigh(COVARIANCE)
    biased = vectors @ torch.diag(values / (1 - epsilon / (2 * values))) @ vectors.T
    covariance = torch.cov(x.T)
    assert (covariance - biased).abs().max() < 0.05                   # SE ≈ 0.012
    assert (covariance - COVARIANCE).abs().max() > 0.1               # the bias is real and visible


def test_langevin_is_reproducible_and_records_every_kth_state():
    start = torch.zeros(10, 2)
    score = lambda x: -x  # noqa: E731
    first = langevin(score, start, 0.1, 6, torch.Generator().manual_seed(0), record=2)
    again = langevin(score, start, 0.1, 6, torch.Generator().manual_seed(0), record=3)
    assert len(first) == 4 and len(again) == 3
    assert torch.equal(first[3], again[2])                              # the same run, recorded differently
    assert not torch.equal(first[-1], langevin(score, start, 0.1, 6, torch.Generator().manual_seed(1))[-1])
    # one step by hand: x + ε s(x) + √(2ε) z
    z = torch.randn(10, 2, generator=torch.Generator().manual_seed(0))
    one = langevin(score, start + 1, 0.1, 1, torch.Generator().manual_seed(0))
    assert torch.allclose(one[1], (start + 1) * 0.9 + math.sqrt(0.2) * z)
    assert len(langevin(score, start, 0.1, 0)) == 1                      # zero steps: the start only


def test_annealed_langevin_recovers_mixture_weights_where_plain_langevin_does_not():
    """Two modes far apart, weights 0.2 / 0.8. From uniform starts plain Langevin stays in the basin it starts
    in (about half the particles each side); annealing from large σ, with the exact score of the mixture
    blurred by N(0, σ²I) (std² + σ² in place of std²), puts 20% / 80% of them in the modes."""
    weights = torch.tensor([0.2, 0.8], dtype=torch.float64)
    means = torch.tensor([[-5.0, 0.0], [5.0, 0.0]], dtype=torch.float64)
    std, n = 0.5, 2000
    start = torch.rand(n, 2, generator=torch.Generator().manual_seed(0), dtype=torch.float64) * 16 - 8
    plain = langevin(lambda x: isotropic_mixture_score(x, weights, means, std), start, 0.01, 300,
                     torch.Generator().manual_seed(1), record=300)[-1]
    plain_right = (plain[:, 0] > 0).double().mean().item()
    sigmas = noise_levels(10.0, 0.1, 10)
    blurred = lambda x, sigma: isotropic_mixture_score(x, weights, means, math.sqrt(std ** 2 + sigma ** 2))  # noqa: E731
    annealed = annealed_langevin(blurred, start, sigmas, 60, 0.005, torch.Generator().manual_seed(2))
    right = (annealed[:, 0] > 0).double().mean().item()
    se = math.sqrt(0.8 * 0.2 / n)
    assert abs(right - 0.8) < 4 * se + 0.02, right
    assert abs(plain_right - 0.8) > 0.2, plain_right                    # stuck near the starts' split, ≈ 0.5
    # and the annealed particles sit in the modes, with the modes' spread
    in_right = annealed[annealed[:, 0] > 0]
    assert (in_right.mean(0) - means[1]).abs().max() < 0.1
    assert abs(in_right.std(0).mean().item() - std) < 0.1


def test_annealed_langevin_step_sizes_follow_the_levels():
    """ε_i = step_size · σ_i²/σ_L²: with the score 0 each level adds variance 2ε_i per step."""
    seen = []

    def score(x, sigma):
        seen.append(sigma)
        return torch.zeros_like(x)
    x = annealed_langevin(score, torch.zeros(20000, 1), torch.tensor([2.0, 1.0]), 3, 0.01,
                          torch.Generator().manual_seed(0))
    assert seen == [2.0] * 3 + [1.0] * 3
    expected = 3 * 2 * 0.01 * 4 + 3 * 2 * 0.01
    assert x.var().item() == pytest.approx(expected, rel=0.05)


# --- the losses -----------------------------------------------------------------------------------------


def _gaussian_data(n=100_000, s=1.0, seed=0):
    return torch.randn(n, 2, generator=torch.Generator().manual_seed(seed), dtype=torch.float64) * s


def test_dsm_loss_is_minimised_by_the_blurred_score():
    """Data N(0, s²I) blurred by N(0, σ²I) is N(0, (s² + σ²)I): its score −x/(s² + σ²) has a lower DSM loss
    than any rescaled version (the same noise draws for each: common random numbers)."""
    s, sigma = 1.0, 0.5
    x = _gaussian_data(s=s)
    loss = {c: denoising_score_matching_loss(lambda y, c=c: -c * y / (s ** 2 + sigma ** 2), x, sigma,
                                             torch.Generator().manual_seed(1)).item() for c in (0.8, 0.95, 1.0, 1.05, 1.2)}
    assert loss[1.0] < min(loss[0.8], loss[0.95], loss[1.05], loss[1.2]), loss
    # the hand computation: ½ E‖s(x + σε) + ε/σ‖²
    eps = torch.randn(x.shape, generator=torch.Generator().manual_seed(1), dtype=torch.float64)
    by_hand = 0.5 * ((-(x + sigma * eps) / (s ** 2 + sigma ** 2) + eps / sigma) ** 2).sum(1).mean().item()
    assert loss[1.0] == pytest.approx(by_hand, rel=1e-12)


def test_dsm_differences_equal_explicit_score_matching_differences():
    """Vincent (2011): DSM(s) = ½ E_q_σ ‖s − ∇ log q_σ‖² + const, so the difference of the DSM losses of two
    score functions equals that of the explicit (Fisher) losses, within Monte Carlo error."""
    s, sigma = 1.0, 0.6
    variance = s ** 2 + sigma ** 2
    first = lambda y: -0.5 * y / variance  # noqa: E731
    second = lambda y: -y / variance + torch.tensor([0.3, -0.2], dtype=y.dtype)  # noqa: E731
    x = _gaussian_data(200_000, s, seed=3)
    dsm = (denoising_score_matching_loss(first, x, sigma, torch.Generator().manual_seed(4))
           - denoising_score_matching_loss(second, x, sigma, torch.Generator().manual_seed(4))).item()
    blurred = _gaussian_data(200_000, math.sqrt(variance), seed=5)     # samples of q_σ, independent ones
    true = -blurred / variance
    per_example = 0.5 * (((first(blurred) - true) ** 2).sum(1) - ((second(blurred) - true) ** 2).sum(1))
    explicit = per_example.mean().item()
    # the standard errors: of the explicit estimate, and of the DSM one (recomputed per example with its draws)
    eps = torch.randn(x.shape, generator=torch.Generator().manual_seed(4), dtype=torch.float64)
    noisy = x + sigma * eps
    dsm_per_example = 0.5 * (((first(noisy) + eps / sigma) ** 2).sum(1) - ((second(noisy) + eps / sigma) ** 2).sum(1))
    assert dsm_per_example.mean().item() == pytest.approx(dsm, rel=1e-10)
    se = math.sqrt(per_example.var().item() / len(blurred) + dsm_per_example.var().item() / len(x))
    assert abs(dsm - explicit) < 4 * se, (dsm, explicit, se)
    assert abs(explicit) > 10 * se                                       # a difference worth testing


class _TanhScore(nn.Module):
    """A small nonlinear vector field s(x) = W₂ tanh(W₁x + b), whose Jacobian's trace is not constant."""

    def __init__(self):
        super().__init__()
        generator = torch.Generator().manual_seed(6)
        self.first = nn.Parameter(torch.randn(2, 8, generator=generator, dtype=torch.float64))
        self.bias = nn.Parameter(torch.randn(8, generator=generator, dtype=torch.float64))
        self.second = nn.Parameter(torch.randn(8, 2, generator=generator, dtype=torch.float64) / 3)

    def forward(self, x):
        return torch.tanh(x @ self.first + self.bias) @ self.second


def _exact_sliced_target(score, x):
    """½‖s(x)‖² + tr ∇ₓs(x) per example, the trace from the full Jacobian."""
    traces = torch.stack([torch.autograd.functional.jacobian(score, row[None]).reshape(2, 2).trace() for row in x])
    return 0.5 * (score(x) ** 2).sum(1) + traces


def test_sliced_score_matching_with_basis_directions_is_exact(monkeypatch):
    """With the directions e₁ for one copy of x and e₂ for another, vᵀ∇(vᵀs) + ½(vᵀs)² summed over the two is
    exactly tr ∇s + ½‖s‖²: the loss (a mean over both copies) is half the exact target's sum."""
    score = _TanhScore()
    x = torch.randn(30, 2, generator=torch.Generator().manual_seed(7), dtype=torch.float64)
    directions = torch.cat([torch.tensor([[1.0, 0.0]]).expand(30, 2), torch.tensor([[0.0, 1.0]]).expand(30, 2)]).double()
    monkeypatch.setattr(score_module.randomness, "normal", lambda shape, **kwargs: directions)
    loss = sliced_score_matching_loss(score, torch.cat([x, x]))
    expected = _exact_sliced_target(score, x).detach()
    assert loss.item() == pytest.approx(expected.sum().item() / 60, rel=1e-10)


def test_sliced_score_matching_is_unbiased_for_the_trace_and_differentiable():
    score = _TanhScore()
    x = torch.randn(20, 2, generator=torch.Generator().manual_seed(8), dtype=torch.float64)
    expected = _exact_sliced_target(score, x).detach().mean().item()
    repeats = 5000
    estimates = torch.stack([sliced_score_matching_loss(score, x, torch.Generator().manual_seed(k)).detach()
                             for k in range(repeats // 50)])    # warm-up: each call is one direction per example
    many = sliced_score_matching_loss(score, x.repeat(repeats, 1), torch.Generator().manual_seed(9))
    se = estimates.std().item() / math.sqrt(repeats)
    assert abs(many.item() - expected) < 4 * se, (many.item(), expected, se)
    many.backward()
    assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in score.parameters())


# --- the noise-conditional score model ---------------------------------------------------------------------


def _score_model(objective="denoising", seed=0, sigmas=(1.0, 0.5, 0.2), **kwargs):
    torch.manual_seed(seed)
    net = MLPDenoiser((2,), hidden=16, blocks=1, embedding=8)
    with torch.no_grad():
        net.output.weight.normal_(0, 0.3)
    return ScoreModel(net, shape=(2,), sigmas=sigmas, objective=objective, **kwargs)


class _ExactBlurredScore(nn.Module):
    """f(x, t) = σ(t) (m − x)/(s² + σ(t)²), so that f/σ is the score of N(m, s²I) blurred at that level; t ↦ σ
    through the model's table (t = level/(L − 1))."""

    def __init__(self, sigmas, mean, s):
        super().__init__()
        self.register_buffer("sigmas", torch.as_tensor(sigmas, dtype=torch.float32))
        self.mean, self.s = mean, s

    def forward(self, x, t):
        sigma = self.sigmas[(t * (len(self.sigmas) - 1)).round().long()][:, None]
        return sigma * (self.mean - x) / (self.s ** 2 + sigma ** 2)


def test_score_is_the_network_output_divided_by_sigma():
    model = _score_model()
    x = torch.randn(7, 2)
    for level, sigma in enumerate((1.0, 0.5, 0.2)):
        s = model.score(x, level)
        assert s.shape == (7, 2) and not s.requires_grad
        with torch.no_grad():
            expected = model.network(x, torch.full((7,), level / 2)) / sigma
        assert torch.allclose(s, expected, rtol=1e-6)


@pytest.mark.parametrize("objective", ["denoising", "sliced"])
def test_score_model_losses_run_and_backpropagate(objective):
    model = _score_model(objective)
    loss = model.loss(torch.randn(32, 2), generator=torch.Generator().manual_seed(0))
    assert loss.ndim == 0 and torch.isfinite(loss)
    loss.backward()
    assert model.network.output.weight.grad.abs().sum() > 0
    again = _score_model(objective).loss(torch.randn(32, 2, generator=torch.Generator().manual_seed(0)),
                                         generator=torch.Generator().manual_seed(0))
    assert torch.equal(again, _score_model(objective).loss(torch.randn(32, 2, generator=torch.Generator().manual_seed(0)),
                                                           generator=torch.Generator().manual_seed(0)))


def test_score_model_dsm_loss_is_the_sigma_weighted_hand_computation():
    """``_loss`` draws the level index (B,), then ε (B, 2): ½‖σ s(x + σε) + ε‖² per example."""
    model = _score_model()
    x = torch.randn(16, 2, generator=torch.Generator().manual_seed(1))
    loss = model.loss(x, generator=torch.Generator().manual_seed(2))
    generator = torch.Generator().manual_seed(2)
    index = torch.randint(0, 3, (16,), generator=generator)
    eps = torch.randn(16, 2, generator=generator)
    sigma = torch.tensor([1.0, 0.5, 0.2])[index][:, None]
    with torch.no_grad():
        s = model.network(x + sigma * eps, index.float() / 2) / sigma
    assert loss.item() == pytest.approx(0.5 * ((sigma * s + eps) ** 2).sum(1).mean().item(), rel=1e-5)


def test_score_model_samples_its_target_with_the_exact_score():
    sigmas, mean, s = (1.0, 0.5, 0.2, 0.1), torch.tensor([1.5, -1.0]), 0.5
    model = ScoreModel(_ExactBlurredScore(sigmas, mean, s), shape=(2,), sigmas=sigmas, steps_per_level=60,
                       step_size=0.002)
    samples = model.sample(3000, torch.Generator().manual_seed(0))
    assert samples.shape == (3000, 2)
    assert (samples.mean(0) - mean).abs().max() < 0.05
    # the last level's blurred target N(m, (s² + σ_L²)I), up to the O(ε) bias of Langevin
    assert samples.var(0).mean().item() == pytest.approx(s ** 2 + 0.1 ** 2, rel=0.1)


def test_score_model_sampling_is_reproducible_and_uses_its_options():
    model = _score_model(steps_per_level=3)
    calls = []
    model.network.register_forward_pre_hook(lambda m, args: calls.append(len(args[0])))
    torch.manual_seed(1)
    first = model.sample(9, torch.Generator().manual_seed(0))
    torch.manual_seed(2)
    assert torch.equal(model.sample(9, torch.Generator().manual_seed(0)), first)
    assert not torch.equal(model.sample(9, torch.Generator().manual_seed(1)), first)
    assert len(calls) == 3 * 3 * 3                                      # 3 runs × 3 levels × 3 steps
    calls.clear()
    model.sample(4, steps_per_level=2, step_size=1e-3)
    assert calls == [4] * 6


def test_score_model_training_approaches_the_blurred_score():
    """A few hundred Adam steps on N(0, 0.5²I): the error to the exact blurred score −x/(s² + σ²), measured on
    the blurred data at each level, falls to a fraction of the untrained network's."""
    sigmas, s = (1.0, 0.5, 0.2), 0.5
    torch.manual_seed(0)
    model = ScoreModel(MLPDenoiser((2,), hidden=32, blocks=1, embedding=8), shape=(2,), sigmas=sigmas)
    probe = torch.randn(2000, 2, generator=torch.Generator().manual_seed(1)) * s

    def error():
        total = 0.0
        for level, sigma in enumerate(sigmas):
            blurred = probe + sigma * torch.randn(probe.shape, generator=torch.Generator().manual_seed(level))
            target = -blurred / (s ** 2 + sigma ** 2)
            total += (sigma ** 2 * ((model.score(blurred, level) - target) ** 2).sum(1)).mean().item()
        return total / len(sigmas)
    before = error()
    optimizer = torch.optim.Adam(model.parameters(), lr=3e-3)
    generator = torch.Generator().manual_seed(2)
    for _ in range(300):
        loss = model.loss(torch.randn(256, 2, generator=generator) * s, generator=generator)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    after = error()
    assert after < 0.15 * before, (before, after)


# --- bad input ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("call, error, message", [
    (lambda: langevin("score", torch.zeros(3, 2), 0.1, 5), TypeError, "score must be callable"),
    (lambda: langevin(lambda x: -x, torch.zeros(3), 0.1, 5), ValueError, r"x must have shape \(N, \.\.\.\)"),
    (lambda: langevin(lambda x: -x, [[0.0, 0.0]], 0.1, 5), TypeError, "x must be a torch.Tensor"),
    (lambda: langevin(lambda x: -x, torch.zeros(3, 2), 0.0, 5), ValueError, "step_size must be finite and > 0"),
    (lambda: langevin(lambda x: -x, torch.zeros(3, 2), 0.1, -1), ValueError, "steps must be ≥ 0, got -1"),
    (lambda: langevin(lambda x: -x, torch.zeros(3, 2), 0.1, 2.0), TypeError, "steps must be an int"),
    (lambda: langevin(lambda x: -x, torch.zeros(3, 2), 0.1, 5, record=0), ValueError, "record must be ≥ 1"),
    (lambda: langevin(lambda x: -x, torch.zeros(3, 2), 0.1, 5, generator=1), TypeError, "generator must be"),
    (lambda: langevin(lambda x: x[:, :1], torch.zeros(3, 2), 0.1, 5), ValueError,
     r"score must return a tensor shaped like x \(3, 2\), got \(3, 1\)"),
    (lambda: langevin(lambda x: 0.0, torch.zeros(3, 2), 0.1, 5), ValueError, "score must return a tensor shaped like x"),
    (lambda: annealed_langevin(lambda x, s: -x, torch.zeros(3, 2), torch.tensor([1.0, 2.0]), 5, 0.1), ValueError,
     "sigmas must be positive and decreasing"),
    (lambda: annealed_langevin(lambda x, s: -x, torch.zeros(3, 2), torch.tensor([1.0, -0.5]), 5, 0.1), ValueError,
     "sigmas must be positive and decreasing"),
    (lambda: annealed_langevin(lambda x, s: -x, torch.zeros(3, 2), torch.tensor([[1.0]]), 5, 0.1), ValueError,
     "sigmas must have 1 dimensions"),
    (lambda: annealed_langevin(lambda x, s: -x, torch.zeros(3, 2), torch.tensor([1.0]), 0, 0.1), ValueError,
     "steps_per_level must be ≥ 1"),
    (lambda: annealed_langevin(lambda x, s: -x, torch.zeros(3, 2), torch.tensor([1.0]), 2, -0.1), ValueError,
     "step_size must be finite and > 0"),
    (lambda: annealed_langevin(None, torch.zeros(3, 2), torch.tensor([1.0]), 2, 0.1), TypeError, "score must be callable"),
    (lambda: denoising_score_matching_loss(lambda x: -x, torch.zeros(3, 2), 0.0), ValueError, "sigma must be finite and > 0"),
    (lambda: denoising_score_matching_loss(lambda x: -x, torch.zeros(3), 1.0), ValueError, "x must have shape"),
    (lambda: denoising_score_matching_loss(lambda x: x.sum(1), torch.zeros(3, 2), 1.0), ValueError,
     "score must return a tensor shaped like x"),
    (lambda: sliced_score_matching_loss(lambda x: -x, torch.zeros(3, 2), generator="g"), TypeError, "generator must be"),
    (lambda: sliced_score_matching_loss(3, torch.zeros(3, 2)), TypeError, "score must be callable"),
    (lambda: noise_levels(0.1, 1.0, 5), ValueError, r"sigma_min \(1.0\) must not exceed sigma_max \(0.1\)"),
    (lambda: noise_levels(1.0, 0.0, 5), ValueError, "sigma_min must be finite and > 0"),
    (lambda: noise_levels(1.0, 0.1, 0), ValueError, "levels must be ≥ 1"),
    (lambda: ScoreModel("net"), TypeError, "network must be a torch.nn.Module"),
    (lambda: ScoreModel(nn.Identity(), objective="fisher"), ValueError, "objective must be 'denoising' or 'sliced'"),
    (lambda: ScoreModel(nn.Identity(), sigmas=(1.0, 1.0)), ValueError, "sigmas must be positive and strictly decreasing"),
    (lambda: ScoreModel(nn.Identity(), sigmas=(0.1, 1.0)), ValueError, "sigmas must be positive and strictly decreasing"),
    (lambda: ScoreModel(nn.Identity(), steps_per_level=0), ValueError, "steps_per_level must be ≥ 1"),
    (lambda: ScoreModel(nn.Identity(), step_size=0.0), ValueError, "step_size must be finite and > 0"),
    (lambda: ScoreModel(nn.Identity(), shape=2), TypeError, "shape must be a tuple of positive ints"),
    (lambda: _score_model().score(torch.zeros(3, 2), 3), ValueError, r"level must be an int in 0\.\.2, got 3"),
    (lambda: _score_model().score(torch.zeros(3, 2), 1.0), ValueError, r"level must be an int in 0\.\.2"),
    (lambda: _score_model().score(torch.zeros(3, 3), 0), ValueError, r"x must have shape \(N, 2\)"),
    (lambda: _score_model().loss(torch.zeros(3, 2), context=torch.zeros(3, dtype=torch.long)), ValueError,
     "is unconditional; pass no context"),
    (lambda: _score_model().sample(0), ValueError, "n must be ≥ 1, got 0"),
    (lambda: _score_model().sample(2, generator=5), TypeError, "generator must be a torch.Generator or None"),
    (lambda: _score_model().sample(2, steps_per_level=0), ValueError, "steps_per_level must be ≥ 1"),
    (lambda: _score_model().sample(2, step_size=-1.0), ValueError, "step_size must be finite and > 0"),
])
def test_bad_input_is_rejected_with_messages_that_name_it(call, error, message):
    with pytest.raises(error, match=message):
        call()


def test_noise_levels_are_geometric():
    sigmas = noise_levels(10.0, 0.01, 4)
    assert torch.allclose(sigmas, torch.tensor([10.0, 1.0, 0.1, 0.01]), rtol=1e-5)
    assert torch.allclose(sigmas[1:] / sigmas[:-1], torch.full((3,), 0.1), rtol=1e-5)
    assert torch.equal(noise_levels(1.0, 1.0, 1), torch.tensor([1.0]))
