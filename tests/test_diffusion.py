"""Diffusion and flow matching (chapter 08): the noise schedules, the forward process's marginals against the
step-by-step chain, the posterior q(x_{t−1} | x_t, x_0) by Gaussian conditioning, every term of the DDPM bound
recomputed with torch.distributions, the samplers against hand-written loops (ancestral, DDIM, Euler,
midpoint), network-evaluation counts, classifier-free guidance, the losses against hand computations, the
denoising networks, and clear errors on bad input.

Every reference value below is computed here from the definitions (the schedule's ᾱ_t = Π (1 − β_s), the
joint Gaussian of (x_{t−1}, x_t) given x_0, torch.distributions densities and KLs), never by calling the
library's own formula for the same quantity."""

import math

import pytest
import torch
from torch import nn
from torch.distributions import Normal, kl_divergence

from course_lib.models import DDPM, FlowMatching, noise_schedule
from course_lib.nn import MLPDenoiser, UNetDenoiser, time_embedding

T = 4


def _network(shape=(2,), classes=None, seed=0, scale=0.5):
    """A tiny MLP denoiser whose output layer (zero at initialisation) is random and non-zero."""
    torch.manual_seed(seed)
    net = MLPDenoiser(shape, hidden=16, blocks=1, context_classes=classes, embedding=8)
    with torch.no_grad():
        net.output.weight.normal_(0, scale)
        net.output.bias.normal_(0, scale / 5)
    return net


def _ddpm(steps=T, classes=None, seed=0, schedule="cosine", label_dropout=0.0):
    return DDPM(_network(classes=classes, seed=seed), shape=(2,), levels=None, steps=steps, schedule=schedule,
                label_dropout=label_dropout).eval()


def _image_ddpm(levels=3, seed=0):
    return DDPM(_network((1, 2, 2), seed=seed), shape=(1, 2, 2), levels=levels, steps=T).eval()


def _alpha_bar(steps=T, kind="cosine"):
    """ᾱ_0 = 1, ᾱ_1 … ᾱ_T from the β's of the schedule, float64 (index t gives ᾱ_t)."""
    betas = noise_schedule(steps, kind)
    return torch.cat([torch.ones(1, dtype=torch.float64), torch.cumprod(1 - betas, 0)]), betas


def _conditional(x0, xt, t, alpha_bar):
    """q(x_{t−1} | x_t, x_0) by Gaussian conditioning, per coordinate: given x_0, x_{t−1} ~ N(√ᾱ_{t−1} x_0,
    1 − ᾱ_{t−1}) and x_t = √α_t x_{t−1} + √β_t z, so Cov(x_{t−1}, x_t) = √α_t (1 − ᾱ_{t−1}),
    Var(x_t) = 1 − ᾱ_t; the conditional mean is m_{t−1} + C/V (x_t − m_t), the variance (1 − ᾱ_{t−1}) − C²/V."""
    previous, current = alpha_bar[t - 1], alpha_bar[t]
    alpha = current / previous
    covariance, variance_t = math.sqrt(alpha) * (1 - previous), 1 - current
    mean = math.sqrt(previous) * x0 + covariance / variance_t * (xt - math.sqrt(current) * x0)
    return mean, (1 - previous) - covariance ** 2 / variance_t


def _calls(module):
    """Record the batch size of every forward call of ``module``."""
    sizes = []
    module.register_forward_pre_hook(lambda m, args: sizes.append(len(args[0])))
    return sizes


class _LabelTable(nn.Module):
    """A hand-made conditional network f(x, t, c) = x/2 + t + table[c] (row ``classes``: "no label")."""

    def __init__(self, classes=3, shape=(2,)):
        super().__init__()
        self.shape, self.context_classes = shape, classes
        self.table = nn.Parameter(torch.randn(classes + 1, *shape, generator=torch.Generator().manual_seed(4)))

    def forward(self, x, t, context=None):
        if context is None:
            context = torch.full((len(x),), self.context_classes)
        return 0.5 * x + t.reshape(-1, *[1] * (x.ndim - 1)) + self.table[context]


# --- the schedules and the forward process ----------------------------------------------------------------


def test_noise_schedules_follow_their_definitions():
    steps = 10
    cosine = noise_schedule(steps, "cosine")
    assert cosine.dtype == torch.float64 and cosine.shape == (steps,)
    f = lambda t: math.cos((t / steps + 0.008) / 1.008 * math.pi / 2) ** 2  # noqa: E731
    expected = torch.tensor([f(t) / f(0) for t in range(1, steps + 1)], dtype=torch.float64)
    alpha_bar = torch.cumprod(1 - cosine, 0)
    assert torch.allclose(alpha_bar[:-1], expected[:-1], rtol=1e-12)   # the last β is capped at 0.999
    assert cosine[-1] == pytest.approx(0.999) and (cosine > 0).all() and (cosine[1:] >= cosine[:-1]).all()
    linear = noise_schedule(1000, "linear")
    assert linear[0].item() == pytest.approx(1e-4) and linear[-1].item() == pytest.approx(0.02)
    assert torch.allclose(linear.diff(), torch.full((999,), (0.02 - 1e-4) / 999, dtype=torch.float64))
    short = noise_schedule(100, "linear")                                 # rescaled to 100 steps: ×10
    assert short[0].item() == pytest.approx(1e-3) and short[-1].item() == pytest.approx(0.2)


def test_model_buffers_hold_the_schedule():
    model = _ddpm(steps=6, schedule="linear")
    alpha_bar, betas = _alpha_bar(6, "linear")
    assert torch.allclose(model.betas.double(), betas, rtol=1e-6)
    assert torch.allclose(model.alpha_bar.double(), alpha_bar[1:], rtol=1e-6)
    variances = torch.tensor([_conditional(0.0, 0.0, t, alpha_bar)[1] for t in range(1, 7)], dtype=torch.float64)
    assert torch.allclose(model.posterior_variance.double(), variances, rtol=1e-5, atol=1e-8)
    assert model.posterior_variance[0] == 0          # x_0 given x_1 and x_0: no uncertainty left


def test_forward_marginals_match_the_closed_form_and_the_step_by_step_chain():
    steps, n = 8, 40_000
    model = _ddpm(steps=steps, schedule="linear")
    alpha_bar, betas = _alpha_bar(steps, "linear")
    y0 = torch.tensor([1.5, -0.5]).expand(n, 2)
    generator = torch.Generator().manual_seed(0)
    chain = y0.double().clone()
    for t in range(1, steps + 1):
        # the one-step chain x_t = √(1 − β_t) x_{t−1} + √β_t ε, simulated independently of the library
        chain = (1 - betas[t - 1]).sqrt() * chain + betas[t - 1].sqrt() * torch.randn(n, 2, generator=generator,
                                                                                      dtype=torch.float64)
        xt, eps = model.diffuse(y0, t, generator)
        mean, variance = alpha_bar[t].sqrt() * y0[0].double(), 1 - alpha_bar[t]
        # x_t is exactly √ᾱ_t y0 + √(1 − ᾱ_t) ε, with the ε it returns
        assert torch.allclose(xt.double(), mean + variance.sqrt() * eps.double(), atol=1e-5)
        for samples in (xt.double(), chain):
            se_mean, se_var = (variance / n).sqrt(), variance * math.sqrt(2 / n)
            assert ((samples.mean(0) - mean).abs() < 4.5 * se_mean).all(), (t, samples.mean(0), mean)
            assert ((samples.var(0) - variance).abs() < 4.5 * se_var).all(), (t, samples.var(0), variance)
        # the two samplers agree with each other as well (two-sample check of the means)
        assert ((xt.double().mean(0) - chain.mean(0)).abs() < 4.5 * (2 * variance / n).sqrt()).all()


def test_diffuse_takes_one_step_per_example():
    model = _ddpm()
    y0 = torch.tensor([[1.0, 2.0], [1.0, 2.0], [1.0, 2.0]])
    xt, eps = model.diffuse(y0, torch.tensor([1, 2, 4]), torch.Generator().manual_seed(1))
    alpha_bar, _ = _alpha_bar()
    for k, t in enumerate((1, 2, 4)):
        expected = alpha_bar[t].sqrt() * y0[k].double() + (1 - alpha_bar[t]).sqrt() * eps[k].double()
        assert torch.allclose(xt[k].double(), expected, atol=1e-5)
    again, _ = model.diffuse(y0, torch.tensor([1, 2, 4]), torch.Generator().manual_seed(1))
    assert torch.equal(again, xt)


# --- the posterior and the bound ---------------------------------------------------------------------------


def test_posterior_mean_is_gaussian_conditioning():
    model = _ddpm(steps=6, schedule="linear")
    alpha_bar, _ = _alpha_bar(6, "linear")
    generator = torch.Generator().manual_seed(2)
    y0, xt = torch.randn(5, 2, generator=generator), torch.randn(5, 2, generator=generator)
    for t in range(1, 7):
        mean = model._posterior_mean(y0, xt, torch.full((5,), t))
        expected, _ = _conditional(y0.double(), xt.double(), t, alpha_bar)
        assert torch.allclose(mean.double(), expected, rtol=1e-5, atol=1e-6), t
    assert torch.allclose(model._posterior_mean(y0, xt, torch.full((5,), 1)), y0, atol=1e-6)   # t = 1: x_0 itself


def test_every_bound_term_against_torch_distributions():
    """The noise: ``_bound_terms`` draws, for points, one standard normal (B, 2) per t = 1 … T in that order
    from the generator it is given; a generator seeded the same way redraws them here."""
    model = _ddpm()
    alpha_bar, betas = _alpha_bar()
    y0 = torch.tensor([[0.3, -0.8], [1.2, 0.4], [-0.5, -0.1]])
    terms = model.bound_terms(y0, generator=torch.Generator().manual_seed(3))
    assert terms.shape == (3, T + 1)
    generator, expected = torch.Generator().manual_seed(3), []
    for t in range(1, T + 1):
        noise = torch.randn(y0.shape, generator=generator)
        xt = (alpha_bar[t].sqrt() * y0.double() + (1 - alpha_bar[t]).sqrt() * noise.double()).float()
        with torch.no_grad():
            eps = model.network(xt, torch.full((3,), t / T), None).double()
        predicted = (xt.double() - (1 - alpha_bar[t]).sqrt() * eps) / alpha_bar[t].sqrt()
        model_mean, variance = _conditional(predicted, xt.double(), t, alpha_bar)
        if t == 1:     # the decoder: −log N(y0; μ_θ(x_1, 1), β_1 I)
            expected.append(-Normal(model_mean, betas[0].sqrt()).log_prob(y0.double()).sum(1))
        else:          # KL(q(x_{t−1} | x_t, x_0) ‖ p_θ(x_{t−1} | x_t)), both with variance β̃_t
            target, _ = _conditional(y0.double(), xt.double(), t, alpha_bar)
            scale = torch.as_tensor(variance, dtype=torch.float64).sqrt()
            expected.append(kl_divergence(Normal(target, scale), Normal(model_mean, scale)).sum(1))
    last = Normal(alpha_bar[T].sqrt() * y0.double(), (1 - alpha_bar[T]).sqrt())
    expected.append(kl_divergence(last, Normal(0.0, 1.0)).sum(1))
    expected = torch.stack(expected, 1)
    assert torch.allclose(terms.double(), expected, rtol=2e-4, atol=1e-5), (terms, expected)
    assert (terms[:, 1:] >= 0).all()                             # KLs
    assert expected[:, 1:T].abs().max() > 1e-2                   # the network is far from perfect: terms are not trivial
    log_p = model.log_prob(y0, generator=torch.Generator().manual_seed(3))
    assert torch.allclose(log_p, -terms.sum(1), rtol=1e-6)        # points: no dequantization term


def test_image_bound_adds_the_dequantization_term_and_dequantizes_first():
    """For images ``_bound_terms`` draws u ~ U[0, 1)^D first (y0 = (x + u)·2/L − 1), then the T normals."""
    model, levels = _image_ddpm(levels=3), 3
    x = torch.tensor([[[[0.0, 1.0], [2.0, 1.0]]], [[[2.0, 2.0], [0.0, 0.0]]]])
    terms = model.bound_terms(x, generator=torch.Generator().manual_seed(5))
    log_p = model.log_prob(x, generator=torch.Generator().manual_seed(5))
    assert torch.allclose(log_p, -terms.sum(1) + 4 * math.log(2 / levels), rtol=1e-6)
    generator = torch.Generator().manual_seed(5)
    u = torch.rand(x.shape, generator=generator)
    y0 = (x + u) * 2 / levels - 1
    alpha_bar, betas = _alpha_bar()
    noise = torch.randn(x.shape, generator=generator)                      # the draw for t = 1
    x1 = (alpha_bar[1].sqrt() * y0.double() + (1 - alpha_bar[1]).sqrt() * noise.double()).float()
    with torch.no_grad():
        eps = model.network(x1, torch.full((2,), 1 / T), None).double()
    predicted = (x1.double() - (1 - alpha_bar[1]).sqrt() * eps) / alpha_bar[1].sqrt()
    decoder = -Normal(predicted, betas[0].sqrt()).log_prob(y0.double()).reshape(2, -1).sum(1)
    assert torch.allclose(terms[:, 0].double(), decoder, rtol=1e-4, atol=1e-5)
    last = kl_divergence(Normal(alpha_bar[T].sqrt() * y0.double(), (1 - alpha_bar[T]).sqrt()),
                         Normal(0.0, 1.0)).reshape(2, -1).sum(1)
    assert torch.allclose(terms[:, -1].double(), last, rtol=1e-3, atol=1e-7)   # ≈ 1e-4 nats: float32 cancels
    other = model.log_prob(x, generator=torch.Generator().manual_seed(6))
    assert not torch.equal(other, log_p)                          # a Monte Carlo estimate: another draw, another value


def test_bound_terms_do_not_track_gradients():
    model = _ddpm()
    assert not model.bound_terms(torch.zeros(2, 2)).requires_grad


# --- sampling ------------------------------------------------------------------------------------------------


def test_ancestral_sampling_is_the_hand_written_loop():
    """``_ancestral`` draws x_T (n, 2), then one normal per step t = T … 2 (none at t = 1)."""
    model, n = _ddpm(), 5
    alpha_bar, _ = _alpha_bar()
    samples = model.sample(n, torch.Generator().manual_seed(7))
    generator = torch.Generator().manual_seed(7)
    x = torch.randn(n, 2, generator=generator).double()
    for t in range(T, 0, -1):
        with torch.no_grad():
            eps = model.network(x.float(), torch.full((n,), t / T), None).double()
        predicted = (x - (1 - alpha_bar[t]).sqrt() * eps) / alpha_bar[t].sqrt()
        mean, variance = _conditional(predicted, x, t, alpha_bar)
        x = mean + (math.sqrt(variance) * torch.randn(n, 2, generator=generator).double() if t > 1 else 0)
    assert torch.allclose(samples.double(), x, rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("steps, times", [(T, [4, 3, 2, 1, 0]), (2, [4, 2, 0])])
def test_ddim_is_the_deterministic_hand_written_update(steps, times):
    model, n = _ddpm(), 6
    alpha_bar, _ = _alpha_bar()
    recorded, states, _ = model.reverse_process(n, torch.Generator().manual_seed(8), method="ddim", steps=steps)
    assert recorded == times
    x = torch.randn(n, 2, generator=torch.Generator().manual_seed(8)).double()
    assert torch.equal(states[0], x.float())
    for t, following in zip(times[:-1], times[1:]):
        with torch.no_grad():
            eps = model.network(x.float(), torch.full((n,), t / T), None).double()
        predicted = (x - (1 - alpha_bar[t]).sqrt() * eps) / alpha_bar[t].sqrt()
        x = alpha_bar[following].sqrt() * predicted + (1 - alpha_bar[following]).sqrt() * eps
    assert torch.allclose(states[-1].double(), x, rtol=1e-4, atol=1e-4)
    # deterministic: only x_T is random, so one start gives one result whatever else the generator holds
    assert torch.equal(model.sample(n, torch.Generator().manual_seed(8), method="ddim", steps=steps), states[-1])


def test_reverse_process_records_every_kth_state():
    model = _ddpm(steps=6)
    times, states, starts = model.reverse_process(3, torch.Generator().manual_seed(0), record=2)
    assert times == [6, 4, 2, 0] and len(states) == len(starts) == 4
    full_times, full_states, _ = model.reverse_process(3, torch.Generator().manual_seed(0))
    assert full_times == [6, 5, 4, 3, 2, 1, 0]
    for t, state in zip(times, states):
        assert torch.equal(state, full_states[full_times.index(t)])


@pytest.mark.parametrize("sampler", ["ancestral", "ddim", "euler", "midpoint"])
def test_samplers_are_reproducible_under_a_seed(sampler):
    if sampler in ("ancestral", "ddim"):
        model = _ddpm()
        draw = lambda seed: model.sample(30, torch.Generator().manual_seed(seed), method=sampler)  # noqa: E731
    else:
        model = FlowMatching(_network(), shape=(2,), levels=None)
        draw = lambda seed: model.sample(30, torch.Generator().manual_seed(seed), steps=4, method=sampler)  # noqa: E731
    torch.manual_seed(1)
    first = draw(0)
    torch.manual_seed(2)                           # the global generator does not matter
    assert torch.equal(draw(0), first)
    assert not torch.equal(draw(1), first)
    assert first.shape == (30, 2) and torch.isfinite(first).all()


def test_image_samples_are_grey_levels():
    model = _image_ddpm(levels=5)
    for method in ("ancestral", "ddim"):
        samples = model.sample(50, torch.Generator().manual_seed(0), method=method)
        assert samples.shape == (50, 1, 2, 2)
        assert set(samples.unique().tolist()) <= set(range(5))
    flow = FlowMatching(_network((1, 2, 2)), shape=(1, 2, 2), levels=5)
    samples = flow.sample(50, torch.Generator().manual_seed(0))
    assert set(samples.unique().tolist()) <= set(range(5)) and samples.shape == (50, 1, 2, 2)
    # the map back to the data inverts the dequantization: ⌊(y + 1)·L/2⌋ of (k + u)·2/L − 1 is k
    levels = torch.arange(5.0).repeat(20)
    u = torch.rand(100, generator=torch.Generator().manual_seed(0))
    assert torch.equal(model._to_data((levels + u) * 2 / 5 - 1), levels)


@pytest.mark.parametrize("method, steps, calls", [("ancestral", None, T), ("ddim", T, T), ("ddim", 2, 2),
                                                  ("ddim", 1, 1)])
def test_ddpm_network_evaluations(method, steps, calls):
    model = _ddpm(classes=3)
    sizes = _calls(model.network)
    model.sample(5, torch.Generator().manual_seed(0), method=method, steps=steps, context=torch.zeros(5, dtype=torch.long))
    assert sizes == [5] * calls
    sizes.clear()
    model.sample(5, torch.Generator().manual_seed(0), method=method, steps=steps, context=torch.zeros(5, dtype=torch.long),
                 guidance=2.0)
    assert sizes == [10] * calls                      # guidance doubles the batch, not the number of calls


@pytest.mark.parametrize("method, per_step", [("euler", 1), ("midpoint", 2)])
def test_flow_matching_network_evaluations(method, per_step):
    model = FlowMatching(_network(classes=3), shape=(2,), levels=None)
    sizes = _calls(model.network)
    trajectory = model.trajectory(4, torch.Generator().manual_seed(0), steps=3, method=method)
    assert sizes == [4] * (3 * per_step) and len(trajectory) == 4
    sizes.clear()
    model.sample(4, torch.Generator().manual_seed(0), steps=3, method=method, guidance=1.0,
                 context=torch.ones(4, dtype=torch.long))
    assert sizes == [8] * (3 * per_step)


def test_euler_and_midpoint_are_the_hand_written_steps():
    net = _LabelTable()
    model = FlowMatching(net, shape=(2,), levels=None)
    context = torch.tensor([0, 1, 2])
    x0 = torch.randn(3, 2, generator=torch.Generator().manual_seed(9))
    f = lambda x, t: 0.5 * x + t + net.table[context].detach()  # noqa: E731
    euler = model.trajectory(3, torch.Generator().manual_seed(9), steps=2, context=context)
    x, expected = x0, [x0]
    for i in range(2):
        x = x + 0.5 * f(x, i * 0.5)
        expected.append(x)
    assert all(torch.allclose(a, b, atol=1e-6) for a, b in zip(euler, expected))
    midpoint = model.sample(3, torch.Generator().manual_seed(9), steps=2, method="midpoint", context=context)
    x = x0
    for i in range(2):
        x = x + 0.5 * f(x + 0.25 * f(x, i * 0.5), i * 0.5 + 0.25)
    assert torch.allclose(midpoint, x, atol=1e-6)
    # on dx/dt = x/2 + …, a linear ODE, midpoint is closer to the exact flow than Euler with the same steps
    # x' = x/2 + t + c: x(t) = (x0 + 4 + 2c) e^{t/2} − 2t − 4 − 2c
    true = (x0 + 4 + 2 * net.table[context].detach()) * math.exp(0.5) - 2 - 4 - 2 * net.table[context].detach()
    assert (midpoint - true).abs().max() < (euler[-1] - true).abs().max() / 5


# --- classifier-free guidance ----------------------------------------------------------------------------------


@pytest.mark.parametrize("guidance", [0.0, 0.5, 3.0])
def test_guidance_combines_the_conditional_and_unconditional_outputs(guidance):
    net = _LabelTable()
    model = FlowMatching(net, shape=(2,), levels=None)
    context = torch.tensor([0, 2, 1, 0])
    x0 = torch.randn(4, 2, generator=torch.Generator().manual_seed(10))
    sample = model.sample(4, torch.Generator().manual_seed(10), steps=1, context=context, guidance=guidance)
    with torch.no_grad():
        conditional = net(x0, torch.zeros(4), context)
        unconditional = net(x0, torch.zeros(4), torch.full((4,), 3))
    assert torch.allclose(sample, x0 + (1 + guidance) * conditional - guidance * unconditional, atol=1e-6)
    if guidance == 0:
        assert torch.allclose(sample, x0 + conditional, atol=1e-6)


def test_ddpm_guidance_with_a_learned_network():
    model = _ddpm(classes=3)
    with torch.no_grad():
        model.network.conditioning.label.weight.normal_(0, 2.0)     # labels that matter
    x, t, c = torch.randn(4, 2), torch.full((4,), 0.5), torch.tensor([0, 1, 2, 1])
    with torch.no_grad():
        guided = model._predict(x, t, c, 1.5)
        f_c, f_none = model.network(x, t, c), model.network(x, t, torch.full((4,), 3))
    assert torch.allclose(guided, 2.5 * f_c - 1.5 * f_none, atol=1e-5)
    assert not torch.allclose(f_c, f_none)
    # a class-conditional model without context works with the "no label" token
    plain = model.sample(4, torch.Generator().manual_seed(0), method="ddim")
    none = model.sample(4, torch.Generator().manual_seed(0), method="ddim", context=None)
    assert torch.equal(plain, none)
    labelled = model.sample(4, torch.Generator().manual_seed(0), method="ddim", context=torch.zeros(4, dtype=torch.long))
    assert not torch.equal(plain, labelled)


@pytest.mark.parametrize("dropout", [0.0, 0.25])
def test_label_dropout_replaces_labels_at_its_rate(dropout):
    model = FlowMatching(_network(classes=3), shape=(2,), levels=None, label_dropout=dropout)
    seen = []
    model.network.register_forward_pre_hook(lambda m, args: seen.append(args[2]))
    n = 20_000
    labels = torch.arange(n) % 3
    model.loss(torch.zeros(n, 2), context=labels, generator=torch.Generator().manual_seed(0))
    used = seen[0]
    dropped = used == 3
    assert torch.equal(used[~dropped], labels[~dropped])
    rate = dropped.double().mean().item()
    assert abs(rate - dropout) < 4 * math.sqrt(max(dropout * (1 - dropout), 1e-12) / n) + 1e-12
    model.eval()                                       # the sampler never drops labels
    seen.clear()
    model.sample(50, context=torch.full((50,), 2))
    assert all((c == 2).all() for c in seen)


# --- losses ----------------------------------------------------------------------------------------------------


def test_ddpm_simple_loss_is_the_hand_computation():
    """``_loss`` for points draws t − 1 ~ U{0 … T − 1} (B,) first, then ε (B, 2)."""
    model = _ddpm()
    y0 = torch.tensor([[0.3, -0.8], [1.2, 0.4], [-0.5, -0.1], [0.0, 2.0]])
    loss = model.loss(y0, generator=torch.Generator().manual_seed(11))
    generator = torch.Generator().manual_seed(11)
    t = torch.randint(0, T, (4,), generator=generator) + 1
    noise = torch.randn(4, 2, generator=generator)
    alpha_bar, _ = _alpha_bar()
    xt = (alpha_bar[t].sqrt()[:, None] * y0.double() + (1 - alpha_bar[t]).sqrt()[:, None] * noise.double()).float()
    with torch.no_grad():
        eps = model.network(xt, t.float() / T, None)
    assert loss.item() == pytest.approx(((noise - eps) ** 2).sum(1).mean().item(), rel=1e-5)
    loss.backward()
    assert model.network.output.weight.grad.abs().sum() > 0


def test_flow_matching_target_is_the_straight_line_velocity():
    """With one data point y1, the velocity of x_t = (1 − t) y0 + t y1 is (y1 − x_t)/(1 − t) = y1 − y0 exactly:
    a network computing it has zero loss; the loss of any other is the hand computation."""
    point = torch.tensor([1.0, -2.0])

    class Oracle(nn.Module):
        def forward(self, x, t, context=None):
            return (point - x) / (1 - t)[:, None]

    data = point.expand(64, 2)
    assert FlowMatching(Oracle(), shape=(2,), levels=None).loss(data).item() < 1e-8
    model = FlowMatching(_network(), shape=(2,), levels=None)
    loss = model.loss(data, generator=torch.Generator().manual_seed(12))
    generator = torch.Generator().manual_seed(12)              # ``_loss`` draws y0 (B, 2), then t (B,)
    y0 = torch.randn(64, 2, generator=generator)
    t = torch.rand(64, generator=generator)
    with torch.no_grad():
        velocity = model.network((1 - t[:, None]) * y0 + t[:, None] * data, t, None)
    assert loss.item() == pytest.approx(((velocity - (data - y0)) ** 2).sum(1).mean().item(), rel=1e-5)


class _GaussianVelocity(nn.Module):
    """The exact flow-matching velocity for data N(m, s² I): x_t = (1 − t) x_0 + t x_1 is N(t m, σ_t² I) with
    σ_t² = (1 − t)² + t² s², and v(x, t) = m + σ_t'/σ_t (x − t m) carries those marginals along."""

    def __init__(self, mean, std):
        super().__init__()
        self.mean, self.std = mean, std
        self.scale = nn.Parameter(torch.ones(()))          # a parameter, so the model has a device

    def forward(self, x, t, context=None):
        t = t.reshape(-1, *[1] * (x.ndim - 1))
        variance = (1 - t) ** 2 + t ** 2 * self.std ** 2
        rate = (-(1 - t) + t * self.std ** 2) / variance    # σ_t'/σ_t = (σ_t²)'/(2σ_t²)
        return self.scale * (self.mean + rate * (x - t * self.mean))


def test_flow_matching_log_prob_is_the_density_its_ode_carries_the_noise_to():
    """With the exact velocity for data N(m, s² I), the ODE carries N(0, I) to N(m, s² I): the backward
    integration must give that density (torch.distributions), exactly with the trace and on average with
    Hutchinson's estimate; dropping the divergence term or its sign breaks it by nats."""
    mean, std = torch.tensor([1.0, -2.0]), 0.5
    model = FlowMatching(_GaussianVelocity(mean, std), shape=(2,), levels=None)
    x = torch.tensor([[1.0, -2.0], [1.5, -1.0], [0.2, -2.6]])
    reference = Normal(mean, std).log_prob(x).sum(1)
    exact = model.log_prob(x, divergence="exact", steps=40)
    assert torch.allclose(exact, reference, atol=1e-4), (exact, reference)
    assert torch.allclose(model.log_prob(x, divergence="exact", steps=4), reference, atol=0.05)
    # the Jacobian is a multiple of I here, so every Rademacher probe gives the exact trace
    assert torch.allclose(model.log_prob(x, steps=40, generator=torch.Generator().manual_seed(0)), reference, atol=1e-4)


def test_hutchinson_divergence_is_unbiased_and_the_exact_one_matches_autograd():
    """A random network: the Hutchinson estimates average to the exact-trace log-likelihood, which itself is the
    log-density of a hand-written RK4 integration whose divergence is the trace of torch's full Jacobian."""
    model = FlowMatching(_network(seed=3, scale=1.0), shape=(2,), levels=None).eval()
    x = torch.tensor([[0.3, -0.2], [1.0, 0.5]])
    exact = model.log_prob(x, divergence="exact", steps=3)

    def field(y, t):
        return model.network(y[None], torch.tensor([t]), None)[0]

    def derivative(y, t):
        return field(y, t), torch.trace(torch.autograd.functional.jacobian(lambda z: field(z, t), y))

    by_hand = []
    for y in x:
        integral, h = 0.0, 1 / 3
        for i in range(3):
            t = 1 - i * h
            k1, d1 = derivative(y, t)
            k2, d2 = derivative(y - h / 2 * k1, t - h / 2)
            k3, d3 = derivative(y - h / 2 * k2, t - h / 2)
            k4, d4 = derivative(y - h * k3, t - h)
            y = y - h / 6 * (k1 + 2 * k2 + 2 * k3 + k4)
            integral = integral + h / 6 * (d1 + 2 * d2 + 2 * d3 + d4)
        by_hand.append(Normal(0.0, 1.0).log_prob(y).sum() - integral)
    assert torch.allclose(exact, torch.stack(by_hand).detach(), atol=1e-5)
    estimates = torch.stack([model.log_prob(x, steps=3, generator=torch.Generator().manual_seed(s)) for s in range(400)])
    assert estimates.std(0).min() > 1e-3                         # a real estimate, not the trace in disguise
    assert torch.allclose(estimates.mean(0), exact, atol=4 * estimates.std(0).max().item() / 20)


def test_flow_matching_image_log_prob_adds_the_dequantization_term_and_is_seeded():
    """Images: one dequantization draw, scaled to [−1, 1), plus D log(2/L); the same generator, the same answer."""
    model = FlowMatching(_network((1, 2, 2), seed=1), shape=(1, 2, 2), levels=3).eval()
    x = torch.tensor([[[[0.0, 1.0], [2.0, 1.0]]], [[[2.0, 2.0], [0.0, 0.0]]]])
    first = model.log_prob(x, generator=torch.Generator().manual_seed(4), divergence="exact", steps=5)
    assert torch.equal(first, model.log_prob(x, generator=torch.Generator().manual_seed(4), divergence="exact", steps=5))
    generator = torch.Generator().manual_seed(4)
    y = (x + torch.rand(x.shape, generator=generator)) * (2 / 3) - 1
    points = FlowMatching(_Flattened(model.network), shape=(4,), levels=None)
    continuous = points.log_prob(y.reshape(2, 4), divergence="exact", steps=5)
    assert torch.allclose(first, continuous + 4 * math.log(2 / 3), atol=1e-5)
    assert model.log_prob(x, generator=torch.Generator().manual_seed(5)).ne(first).all()


class _Flattened(nn.Module):
    """An image network (1, 2, 2) used on the same numbers as points (4,)."""

    def __init__(self, network):
        super().__init__()
        self.network = network

    def forward(self, x, t, context=None):
        return self.network(x.reshape(-1, 1, 2, 2), t, context).reshape(-1, 4)


def test_flow_matching_mean_nll_is_minus_the_mean_log_prob():
    from course_lib.evaluation import mean_nll

    model = FlowMatching(_network((1, 2, 2), seed=2), shape=(1, 2, 2), levels=3).eval()
    x = torch.randint(0, 3, (5, 1, 2, 2)).float()
    expected = -model.log_prob(x, generator=torch.Generator().manual_seed(8)).mean().item()
    assert mean_nll(model, x, generator=torch.Generator().manual_seed(8)) == pytest.approx(expected, rel=1e-6)


def test_losses_train_with_images_and_a_unet():
    torch.manual_seed(0)
    net = UNetDenoiser((1, 4, 4), width=8, depth=1, context_classes=2, embedding=8)
    x = torch.randint(0, 3, (6, 1, 4, 4)).float()
    for model in (DDPM(net, shape=(1, 4, 4), levels=3, steps=T), FlowMatching(net, shape=(1, 4, 4), levels=3)):
        loss = model.loss(x, context=torch.tensor([0, 1, 0, 1, 0, 1]), generator=torch.Generator().manual_seed(0))
        assert loss.ndim == 0 and torch.isfinite(loss)
        net.zero_grad()
        loss.backward()
        assert any(p.grad is not None and p.grad.abs().sum() > 0 for p in net.parameters())
        samples = model.sample(3, context=torch.tensor([0, 1, 1]))
        assert samples.shape == (3, 1, 4, 4) and set(samples.unique().tolist()) <= {0.0, 1.0, 2.0}


def test_fit_trains_a_flow_matching_model():
    from course_lib.train import fit

    model = FlowMatching(MLPDenoiser((2,), hidden=16, blocks=1, embedding=8), shape=(2,), levels=None)
    x = torch.randn(256, 2, generator=torch.Generator().manual_seed(0)) * 0.3 + torch.tensor([2.0, -1.0])
    history = fit(model, x, epochs=15, batch_size=64, lr=1e-2, progress=False)
    assert history.train_loss[-1] < history.train_loss[0] and not model.training
    samples = model.sample(500, torch.Generator().manual_seed(0), steps=10)
    assert (samples.mean(0) - torch.tensor([2.0, -1.0])).abs().max() < 0.5


# --- the networks -------------------------------------------------------------------------------------------


def test_time_embedding_and_denoiser_shapes():
    t = torch.tensor([0.0, 0.001, 0.002, 1.0])
    features = time_embedding(t, 8)
    assert features.shape == (4, 8)
    assert torch.allclose(features[:, 0], torch.sin(1000 * t)) and torch.allclose(features[:, 4], torch.cos(1000 * t))
    assert torch.allclose(features[:, 3], torch.sin(1000 * t * 10_000 ** (-3 / 4)))
    assert (features[1] - features[2]).abs().max() > 0.1              # t = 0.001 and 0.002 are told apart
    for net in (MLPDenoiser((1, 4, 4), hidden=8, blocks=2, embedding=8),
                UNetDenoiser((1, 8, 8), width=8, depth=2, embedding=8)):
        out = net(torch.randn(3, 1, 4 * (1 + isinstance(net, UNetDenoiser)), 4 * (1 + isinstance(net, UNetDenoiser))),
                  torch.rand(3))
        assert out.shape[0] == 3 and out.shape[1:] == net.shape
        assert (out == 0).all()                                          # the last layer starts at zero


# --- bad input ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("call, error, message", [
    (lambda: noise_schedule(1), ValueError, "steps must be ≥ 2, got 1"),
    (lambda: noise_schedule(4.0), TypeError, "steps must be an int, got float"),
    (lambda: noise_schedule(4, "quadratic"), ValueError, "kind must be 'linear' or 'cosine', got 'quadratic'"),
    (lambda: DDPM("net", shape=(2,), levels=None), TypeError, "network must be a torch.nn.Module"),
    (lambda: DDPM(_network(), shape=(), levels=None), ValueError, "shape must be a non-empty tuple"),
    (lambda: DDPM(_network(), shape=(3,), levels=None), ValueError, r"network works on shape \(2,\), the model on \(3,\)"),
    (lambda: DDPM(_network(), shape=(2,), levels=3), ValueError, r"images \(levels given\) need shape \(C, H, W\)"),
    (lambda: DDPM(_network(), shape=(2,), levels=None, steps=1), ValueError, "steps must be ≥ 2"),
    (lambda: DDPM(_network(), shape=(2,), levels=None, schedule="sigmoid"), ValueError,
     "schedule must be 'linear' or 'cosine', got 'sigmoid'"),
    (lambda: DDPM(_network(), shape=(2,), levels=None, label_dropout=1.0), ValueError,
     r"label_dropout must lie in \[0, 1\)"),
    (lambda: DDPM(_network(), shape=(2,), levels=None, label_dropout="0.1"), TypeError, "label_dropout must be a number"),
    (lambda: FlowMatching(_network((1, 2, 2)), shape=(1, 2, 2), levels=1), ValueError, "levels must be ≥ 2, got 1"),
    (lambda: _ddpm().diffuse(torch.zeros(2, 2), 0), ValueError, r"t must lie in 1\.\.4"),
    (lambda: _ddpm().diffuse(torch.zeros(2, 2), 5), ValueError, r"t must lie in 1\.\.4"),
    (lambda: _ddpm().diffuse(torch.zeros(2, 2), 1.5), TypeError, "t must be an int or a tensor of integer steps, got float"),
    (lambda: _ddpm().diffuse(torch.zeros(2, 2), torch.tensor([1.0, 2.0])), ValueError, "t must be an int or integer steps"),
    (lambda: _ddpm().diffuse(torch.zeros(2, 2), torch.tensor([1, 2, 3])), ValueError,
     r"t must be an int or integer steps of shape \(2,\)"),
    (lambda: _ddpm().diffuse(torch.zeros(2, 2), "one"), TypeError, "t must be an int or a tensor of integer steps"),
    (lambda: _ddpm().diffuse(torch.zeros(2, 3), 1), ValueError, r"y0 must have shape \(B, 2\)"),
    (lambda: _ddpm().diffuse([[0.0, 0.0]], 1), TypeError, "y0 must be a torch.Tensor"),
    (lambda: _ddpm().diffuse(torch.zeros(2, 2), 1, generator=3), TypeError, "generator must be a torch.Generator"),
    (lambda: _ddpm().sample(2, method="euler"), ValueError, "method must be 'ancestral' or 'ddim', got 'euler'"),
    (lambda: _ddpm().sample(2, method="ddim", steps=5), ValueError, "steps must be ≤ 4"),
    (lambda: _ddpm().sample(2, method="ddim", steps=0), ValueError, "steps must be ≥ 1, got 0"),
    (lambda: _ddpm().sample(2, steps=2), ValueError, "steps must be ≤ 4 for DDIM and 4 for ancestral sampling"),
    (lambda: _ddpm().sample(2, guidance=1.0), ValueError, "guidance needs a class-conditional network"),
    (lambda: _ddpm(classes=3).sample(2, guidance=-1.0), ValueError, "guidance must be ≥ 0, got -1.0"),
    (lambda: _ddpm(classes=3).sample(2, guidance=float("nan")), ValueError, "guidance must be finite"),
    (lambda: _ddpm(classes=3).sample(2, guidance="strong"), TypeError, "guidance must be a number"),
    (lambda: _ddpm(classes=3).sample(2, context=torch.tensor([0, 3])), ValueError,
     r"context must hold class labels in \[0, 2\]"),
    (lambda: _ddpm().sample(2, context=torch.tensor([0, 1])), ValueError, "is unconditional; pass no context"),
    (lambda: _ddpm().sample(0), ValueError, "n must be ≥ 1, got 0"),
    (lambda: _ddpm().sample(2, generator="seed"), TypeError, "generator must be a torch.Generator or None, got str"),
    (lambda: _ddpm().reverse_process(2, record=0), ValueError, "record must be ≥ 1, got 0"),
    (lambda: _ddpm().log_prob(torch.zeros(2, 3)), ValueError, r"x must have shape \(B, 2\)"),
    (lambda: _ddpm().log_prob(torch.zeros(2, 2), generator=1), TypeError, "generator must be a torch.Generator"),
    (lambda: _ddpm().bound_terms(torch.full((2, 2), float("nan"))), ValueError, "x contains NaN or infinite values"),
    (lambda: _image_ddpm().log_prob(torch.full((2, 1, 2, 2), 0.5)), ValueError,
     r"x must hold integer grey levels in \[0, 2\]"),
    (lambda: _image_ddpm().log_prob(torch.full((2, 1, 2, 2), 3.0)), ValueError,
     r"x must hold integer grey levels in \[0, 2\]"),
    (lambda: _image_ddpm().loss(torch.zeros(2, 1, 3, 3)), ValueError, r"x must have shape \(B, 1, 2, 2\)"),
    (lambda: FlowMatching(_network(), shape=(2,), levels=None).sample(2, steps=0), ValueError, "steps must be ≥ 1, got 0"),
    (lambda: FlowMatching(_network(), shape=(2,), levels=None).sample(2, method="rk4"), ValueError,
     "method must be 'euler' or 'midpoint', got 'rk4'"),
    (lambda: FlowMatching(_network(), shape=(2,), levels=None).sample(2, guidance=0.5), ValueError,
     "guidance needs a class-conditional network"),
    (lambda: FlowMatching(_network(), shape=(2,), levels=None).sample(2, generator=0), TypeError,
     "generator must be a torch.Generator or None, got int"),
    (lambda: FlowMatching(_network(), shape=(2,), levels=None).loss(torch.zeros(3)), ValueError, r"x must have shape \(B, 2\)"),
    (lambda: FlowMatching(_network(), shape=(2,), levels=None).log_prob(torch.zeros(2, 2), steps=0), ValueError,
     "steps must be ≥ 1, got 0"),
    (lambda: FlowMatching(_network(), shape=(2,), levels=None).log_prob(torch.zeros(2, 2), divergence="trace"),
     ValueError, r"divergence must be one of \('hutchinson', 'exact'\), got 'trace'"),
    (lambda: FlowMatching(_network(), shape=(2,), levels=None).log_prob(torch.zeros(2, 2), generator=2), TypeError,
     "generator must be a torch.Generator"),
    (lambda: FlowMatching(_network(), shape=(2,), levels=None).log_prob(torch.zeros(2, 3)), ValueError,
     r"x must have shape \(B, 2\)"),
    (lambda: FlowMatching(_network((1, 2, 2)), shape=(1, 2, 2), levels=3).log_prob(torch.full((1, 1, 2, 2), 0.5)),
     ValueError, r"x must hold integer grey levels in \[0, 2\]"),
    (lambda: MLPDenoiser((2,), hidden=0), ValueError, "hidden must be ≥ 1, got 0"),
    (lambda: MLPDenoiser((2,), embedding=7), ValueError, "embedding must be even .*, got 7"),
    (lambda: MLPDenoiser((2,), context_classes=1.5), TypeError, "context_classes must be an int"),
    (lambda: UNetDenoiser((1, 6, 6), depth=2), ValueError, r"divisible by 2\^depth = 4, got 6×6"),
    (lambda: UNetDenoiser((8, 8)), ValueError, r"image_shape must be \(C, H, W\)"),
    (lambda: time_embedding(torch.zeros(3, 1), 8), ValueError, "t must have shape"),
    (lambda: time_embedding(torch.zeros(3), 5), ValueError, "features must be even .*, got 5"),
])
def test_bad_input_is_rejected_with_messages_that_name_it(call, error, message):
    with pytest.raises(error, match=message):
        call()
