"""Divergences (chapter 07): closed forms at known points, estimators that converge, the gradient penalty's
per-example norms, the one-parameter generator, and clear errors on bad input."""

import math

import numpy as np
import pytest
import scipy.stats
import torch

from course_lib import data
from course_lib.evaluation import divergences
from course_lib.models import GAN, MLPDiscriminator, SegmentGenerator, gradient_penalty
from course_lib.train import fit_adversarial, minimize


def test_parallel_lines_closed_forms():
    assert divergences.parallel_lines_divergences(0.0) == (0.0, 0.0, 0.0, 0.0)
    for theta in (-1.0, 1e-6, 0.3, 2.0):
        kl, js, tv, w1 = divergences.parallel_lines_divergences(theta)
        assert kl == math.inf and js == pytest.approx(math.log(2)) and tv == 1.0 and w1 == pytest.approx(abs(theta))


def test_gaussian_kl_matches_torch_and_w2_matches_the_1d_and_commuting_formulas():
    torch.manual_seed(0)
    a, b = torch.randn(3, 3, dtype=torch.float64), torch.randn(3, 3, dtype=torch.float64)
    cov_p, cov_q = a @ a.T + 0.5 * torch.eye(3, dtype=torch.float64), b @ b.T + 0.5 * torch.eye(3, dtype=torch.float64)
    mean_p, mean_q = torch.randn(3, dtype=torch.float64), torch.randn(3, dtype=torch.float64)
    expected = torch.distributions.kl_divergence(torch.distributions.MultivariateNormal(mean_p, cov_p),
                                                 torch.distributions.MultivariateNormal(mean_q, cov_q)).item()
    assert divergences.gaussian_kl(mean_p, cov_p, mean_q, cov_q) == pytest.approx(expected, rel=1e-10)
    assert divergences.gaussian_kl(mean_p, cov_p, mean_p, cov_p) == pytest.approx(0.0, abs=1e-12)
    # 1D: W₂ = √((μ₁ − μ₂)² + (σ₁ − σ₂)²); diagonal covariances commute: the same per axis
    assert divergences.gaussian_w2(torch.tensor([1.0]), torch.tensor([[4.0]]), torch.tensor([-1.0]),
                                   torch.tensor([[1.0]])) == pytest.approx(math.sqrt(4 + 1), rel=1e-10)
    diagonal = divergences.gaussian_w2(torch.zeros(2), torch.diag(torch.tensor([1.0, 9.0])), torch.ones(2),
                                       torch.diag(torch.tensor([4.0, 1.0])))
    assert diagonal == pytest.approx(math.sqrt(2 + 1 + 4), rel=1e-10)
    # W₂ is symmetric; scipy's sqrtm formula agrees on general covariances
    import scipy.linalg
    root_q = scipy.linalg.sqrtm(cov_q.numpy())
    cross = scipy.linalg.sqrtm(root_q @ cov_p.numpy() @ root_q).real
    reference = math.sqrt(((mean_p - mean_q) ** 2).sum().item() + np.trace(cov_p.numpy() + cov_q.numpy() - 2 * cross))
    assert divergences.gaussian_w2(mean_p, cov_p, mean_q, cov_q) == pytest.approx(reference, rel=1e-8)
    assert divergences.gaussian_w2(mean_q, cov_q, mean_p, cov_p) == pytest.approx(reference, rel=1e-8)


def test_gaussians_shrinking_onto_the_lines_kl_blows_up_w2_does_not():
    mean_p, mean_q = torch.tensor([0.0]), torch.tensor([0.5])
    kls = [divergences.gaussian_kl(mean_p, torch.tensor([[s ** 2]]), mean_q, torch.tensor([[s ** 2]])) for s in (1, 0.1, 0.01)]
    w2s = [divergences.gaussian_w2(mean_p, torch.tensor([[s ** 2]]), mean_q, torch.tensor([[s ** 2]])) for s in (1, 0.1, 0.01)]
    assert kls == pytest.approx([0.125, 12.5, 1250.0], rel=1e-6)          # θ²/(2σ²)
    assert w2s == pytest.approx([0.5, 0.5, 0.5], rel=1e-6)


def test_wasserstein_1d_by_sorting_matches_scipy_and_rejects_unequal_sizes():
    generator = torch.Generator().manual_seed(0)
    x, y = torch.randn(300, generator=generator), 2 * torch.rand(300, generator=generator)
    assert divergences.wasserstein_1d(x, y) == pytest.approx(scipy.stats.wasserstein_distance(x, y), rel=1e-6)
    assert divergences.wasserstein_1d(x, x + 0.25) == pytest.approx(0.25, rel=1e-6)
    with pytest.raises(ValueError, match="equal sample sizes"):
        divergences.wasserstein_1d(x, y[:10])
    with pytest.raises(ValueError, match="p must be ≥ 1"):
        divergences.wasserstein_1d(x, y, p=0.5)


def test_empirical_wasserstein_is_exact_on_small_problems_and_converges_on_the_lines():
    # brute force over all 6! permutations
    import itertools
    generator = torch.Generator().manual_seed(1)
    x, y = torch.randn(6, 2, generator=generator, dtype=torch.float64), torch.randn(6, 2, generator=generator, dtype=torch.float64)
    brute = min((x - y[list(perm)]).norm(dim=1).mean().item() for perm in itertools.permutations(range(6)))
    transport = divergences.empirical_wasserstein(x, y)
    assert transport.distance.item() == pytest.approx(brute, rel=1e-12)
    assert sorted(transport.matching.tolist()) == list(range(6))
    # 1D: the same as sorting; p = 2 too
    a, b = torch.randn(50, generator=generator, dtype=torch.float64), torch.randn(50, generator=generator, dtype=torch.float64)
    assert divergences.empirical_wasserstein(a, b, p=2).distance.item() == pytest.approx(divergences.wasserstein_1d(a, b, p=2), rel=1e-10)
    for theta in (0.25, 0.5, 1.0):
        p0, p_theta = data.parallel_lines(1000, 0.0, generator), data.parallel_lines(1000, theta, generator)
        assert divergences.empirical_wasserstein(p0, p_theta).distance.item() == pytest.approx(theta, rel=0.02)


def test_the_network_simplex_matches_the_hungarian_algorithm_and_falls_back_to_it():
    """The optimal permutation of POT's network simplex has the Hungarian algorithm's cost (scipy), on points in
    general position and on ties (repeated points, where many permutations are optimal); a plan that is not a
    permutation, or a solver stopped early, hands the problem to the Hungarian algorithm."""
    from unittest import mock

    from scipy.optimize import linear_sum_assignment
    generator = torch.Generator().manual_seed(5)
    for x, y in ((torch.randn(300, 3, generator=generator), torch.randn(300, 3, generator=generator)),
                 (torch.randint(0, 3, (200, 2), generator=generator).float(),
                  torch.randint(0, 3, (200, 2), generator=generator).float())):
        cost = torch.cdist(x.double(), y.double()).numpy()
        rows, columns = linear_sum_assignment(cost)
        matching = divergences._optimal_permutation(cost)
        assert sorted(matching.tolist()) == list(range(len(x)))
        assert cost[np.arange(len(x)), matching].sum() == pytest.approx(cost[rows, columns].sum(), rel=1e-12)
    half_plan = np.full((4, 4), 1 / 16)                           # uniform: optimal for a constant cost, not a permutation
    with mock.patch("ot.emd", return_value=(half_plan, {"result_code": 1})):
        assert sorted(divergences._optimal_permutation(np.eye(4)[::-1].copy()).tolist()) == [0, 1, 2, 3]
        assert divergences._optimal_permutation(1 - np.eye(4)).tolist() == [0, 1, 2, 3]
    with mock.patch("ot.emd", return_value=(np.eye(4) / 4, {"result_code": 2})):   # stopped early
        assert divergences._optimal_permutation(1 - np.eye(4)[::-1]).tolist() == [3, 2, 1, 0]


def test_the_transport_cost_differentiates_to_sign_theta():
    theta = torch.tensor(-0.4, requires_grad=True)
    generator = torch.Generator().manual_seed(2)
    p0 = data.parallel_lines(400, 0.0, generator)
    moved = torch.stack([theta.expand(400), torch.rand(400, generator=generator)], 1)
    gradient, = torch.autograd.grad(divergences.empirical_wasserstein(p0, moved).distance, theta)
    assert gradient.item() == pytest.approx(-1.0, rel=0.02)


@pytest.mark.parametrize("theta", [0.25, 0.5, 1.0])
def test_a_trained_critic_estimates_w1_within_5_percent_of_theta(theta):
    generator = torch.Generator().manual_seed(3)
    p0, p_theta = data.parallel_lines(2000, 0.0, generator), data.parallel_lines(2000, theta, generator)
    fitted = divergences.critic_wasserstein(p0, p_theta, penalty=30.0, steps=500)
    assert fitted.estimate == pytest.approx(theta, rel=0.05)
    assert len(fitted.losses) == 500 and not fitted.network.training
    assert divergences.lipschitz_estimate(fitted.network, torch.cat([p0, p_theta])) == pytest.approx(1.0, abs=0.1)


def test_spectral_and_clipped_critics_respect_their_constraints_and_js_saturates_at_ln2():
    generator = torch.Generator().manual_seed(4)
    p0, p_theta = data.parallel_lines(1000, 0.0, generator), data.parallel_lines(1000, 0.5, generator)
    spectral = divergences.critic_wasserstein(p0, p_theta, constraint="spectral", steps=300)
    assert divergences.lipschitz_estimate(spectral.network, torch.cat([p0, p_theta])) <= 1.0 + 1e-3
    assert 0 < spectral.estimate <= 0.5 + 0.01
    clipped = divergences.critic_wasserstein(p0, p_theta, constraint="clip", clip=0.02, steps=100)
    assert max(p.abs().max().item() for p in clipped.network.parameters()) <= 0.02 + 1e-7
    js = divergences.discriminator_js(p0, p_theta, steps=300)
    assert math.log(2) - 0.01 < js.estimate <= math.log(2)
    same = divergences.discriminator_js(p0, data.parallel_lines(1000, 0.0, generator), steps=100)
    assert same.estimate < 0.05


@pytest.mark.parametrize("estimate", [
    lambda p, q, seed: divergences.critic_wasserstein(p, q, steps=20, seed=seed),
    lambda p, q, seed: divergences.critic_wasserstein(p, q, constraint="spectral", steps=20, seed=seed),
    lambda p, q, seed: divergences.discriminator_js(p, q, steps=20, seed=seed),
])
def test_a_trained_estimate_depends_on_its_seed_alone_and_leaves_the_global_generator_alone(estimate):
    generator = torch.Generator().manual_seed(6)
    p, q = data.parallel_lines(200, 0.0, generator), data.parallel_lines(200, 0.5, generator)
    torch.manual_seed(1)
    first = estimate(p, q, 0)
    after = torch.rand(3)
    torch.manual_seed(2)            # another global state: same seed, same initial weights, same estimate
    second = estimate(p, q, 0)
    torch.manual_seed(1)
    assert torch.equal(torch.rand(3), after)     # the estimate drew nothing from the global generator
    assert second.estimate == first.estimate and second.losses == first.losses
    assert all(torch.equal(a, b) for a, b in zip(first.network.state_dict().values(),
                                                 second.network.state_dict().values()))
    assert estimate(p, q, 1).losses[0] != first.losses[0]     # another seed, other initial weights


def test_gradient_penalty_is_exact_for_a_linear_critic_and_per_example_for_images():
    linear = torch.nn.Linear(5, 1, dtype=torch.float64)
    real, fake = torch.randn(32, 5, dtype=torch.float64), torch.randn(32, 5, dtype=torch.float64)
    penalty = gradient_penalty(lambda x, context=None: linear(x)[:, 0], real, fake)
    assert penalty.item() == pytest.approx(((linear.weight.norm() - 1) ** 2).item(), rel=1e-12)

    # images: f(x) = Σ_i a_i x_i² / 2 per image has gradient a ⊙ x, whose norm differs from image to image
    scale = torch.rand(1, 1, 3, 3, dtype=torch.float64) + 0.5

    def critic(x, context=None):
        return (scale * x ** 2 / 2).flatten(1).sum(1)

    real, fake = torch.randn(8, 1, 3, 3, dtype=torch.float64), torch.randn(8, 1, 3, 3, dtype=torch.float64)
    generator = torch.Generator().manual_seed(5)
    eps = torch.rand((8, 1, 1, 1), generator=torch.Generator().manual_seed(5), dtype=torch.float64)
    mixed = eps * real + (1 - eps) * fake
    per_image = ((scale * mixed).flatten(1).norm(dim=1) - 1) ** 2
    whole_batch = ((scale * mixed).norm() - 1) ** 2
    value = gradient_penalty(critic, real, fake, generator).item()
    assert value == pytest.approx(per_image.mean().item(), rel=1e-10)
    assert value != pytest.approx(whole_batch.item(), rel=1e-3)        # the batch-norm mistake would fail


def test_gradient_penalty_trains_the_critic():
    linear = torch.nn.Linear(2, 1)
    penalty = gradient_penalty(lambda x, context=None: linear(x)[:, 0], torch.randn(4, 2), torch.randn(4, 2))
    penalty.backward()
    assert linear.weight.grad is not None and linear.weight.grad.abs().sum() > 0


def test_segment_generator_draws_the_segment_and_a_wgan_brings_it_home():
    generator_net = SegmentGenerator(theta=0.7)
    points = generator_net(torch.randn(1000, 1))
    assert torch.all(points[:, 0] == 0.7) and 0 <= points[:, 1].min() and points[:, 1].max() <= 1
    assert abs(points[:, 1].mean().item() - 0.5) < 0.03
    wgan = GAN(SegmentGenerator(1.0), MLPDiscriminator(hidden=32), loss="wasserstein", gradient_penalty=10.0)
    history = fit_adversarial(wgan, data.parallel_lines(2000, 0.0, torch.Generator().manual_seed(0)), steps=200,
                              batch_size=64, lr_generator=1e-2, lr_discriminator=1e-3, betas=(0.5, 0.9),
                              discriminator_steps=5, lr_decay=True, progress=False)
    assert abs(wgan.generator.theta.item()) < 0.05
    assert len(history.penalty) == 200 and all(p >= 0 for p in history.penalty) and max(history.penalty) > 0


def test_swiss_roll_shape_and_range():
    points = data.swiss_roll(500, noise=0.0, generator=torch.Generator().manual_seed(0))
    radius = points.norm(dim=1) * 5
    assert points.shape == (500, 2) and radius.min() >= 1.5 * math.pi - 1e-4 and radius.max() <= 4.5 * math.pi + 1e-4


def test_minimize_after_step_runs_after_every_step():
    layer = torch.nn.Linear(2, 1)
    calls = []

    def clip():
        calls.append(1)
        with torch.no_grad():
            layer.weight.clamp_(-0.01, 0.01)

    minimize(layer, lambda generator, step: -layer.weight.sum(), steps=5, lr=0.1, after_step=clip, progress=False)
    assert len(calls) == 5 and layer.weight.max().item() <= 0.01
    with pytest.raises(TypeError, match="after_step"):
        minimize(layer, lambda generator, step: layer.weight.sum(), steps=1, after_step=3)


@pytest.mark.parametrize("call, error, match", [
    (lambda: divergences.parallel_lines_divergences(float("nan")), ValueError, "theta"),
    (lambda: divergences.parallel_lines_divergences("1"), TypeError, "theta"),
    (lambda: divergences.gaussian_kl(torch.zeros(2), torch.eye(3), torch.zeros(2), torch.eye(2)), ValueError, "p covariance"),
    (lambda: divergences.gaussian_kl(torch.zeros(2), -torch.eye(2), torch.zeros(2), torch.eye(2)), ValueError, "positive definite"),
    (lambda: divergences.gaussian_w2(torch.zeros(2), torch.eye(2), torch.zeros(3), torch.eye(3)), ValueError, "q mean"),
    (lambda: divergences.gaussian_w2(torch.zeros(2), torch.tensor([[1.0, 0.5], [0.0, 1.0]]), torch.zeros(2), torch.eye(2)),
     ValueError, "symmetric"),
    (lambda: divergences.empirical_wasserstein(torch.zeros(3, 2), torch.zeros(4, 2)), ValueError, "equal sample sizes"),
    (lambda: divergences.empirical_wasserstein(torch.zeros(3, 2), torch.zeros(3, 3)), ValueError, "same dimension"),
    (lambda: divergences.empirical_wasserstein([1, 2], torch.zeros(2)), TypeError, "x"),
    (lambda: divergences.wasserstein_1d(torch.zeros(3, 1), torch.zeros(3)), ValueError, "x"),
    (lambda: divergences.critic_wasserstein(torch.zeros(5, 2), torch.zeros(5, 2), constraint="box"), ValueError, "constraint"),
    (lambda: divergences.critic_wasserstein(torch.zeros(5, 2), torch.zeros(5, 3)), ValueError, "q"),
    (lambda: divergences.critic_wasserstein(torch.zeros(1, 2), torch.zeros(5, 2)), ValueError, "at least 2"),
    (lambda: divergences.critic_wasserstein(torch.zeros(5, 2), torch.zeros(5, 2), penalty=-1.0), ValueError, "penalty"),
    (lambda: divergences.discriminator_js(torch.zeros(5, 2), torch.zeros(5, 2), steps=0), ValueError, "steps"),
    (lambda: divergences.discriminator_js(torch.zeros(5, 2), torch.zeros(5, 2), seed=-1), ValueError, "seed"),
    (lambda: divergences.critic_wasserstein(torch.zeros(5, 2), torch.zeros(5, 2), seed=1.5), TypeError, "seed"),
    (lambda: divergences.critic_wasserstein(torch.zeros(5, 2), torch.zeros(5, 2), seed=2**64), ValueError, "seed"),
    (lambda: divergences.lipschitz_estimate(3, torch.zeros(2, 2)), TypeError, "function"),
    (lambda: divergences.lipschitz_estimate(lambda x: x, torch.zeros(2, 2)), ValueError, "one value per point"),
    (lambda: gradient_penalty(lambda x, c=None: x.sum(1), torch.zeros(3, 2), torch.zeros(4, 2)), ValueError, "same shape"),
    (lambda: gradient_penalty(lambda x, c=None: x, torch.zeros(3, 2), torch.zeros(3, 2)), ValueError, "one score per example"),
    (lambda: gradient_penalty("critic", torch.zeros(3, 2), torch.zeros(3, 2)), TypeError, "critic"),
    (lambda: SegmentGenerator(float("inf")), ValueError, "theta"),
    (lambda: data.swiss_roll(0), ValueError, "n"),
    (lambda: data.swiss_roll(5, noise=-1.0), ValueError, "noise"),
])
def test_bad_input_is_named(call, error, match):
    with pytest.raises(error, match=match):
        call()
