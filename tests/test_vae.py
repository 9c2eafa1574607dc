"""The VAE of chapter 04: closed-form KL, reparameterization, ELBO and the importance-weighted bound."""

import math

import pytest
import torch

from course_lib import data
from course_lib.distributions import log_mean_exp, reparameterize, standard_normal_kl
from course_lib.models import VAE


def test_closed_form_kl_matches_torch_distributions():
    gen = torch.Generator().manual_seed(0)
    mean, log_var = torch.randn(5, 4, generator=gen), torch.randn(5, 4, generator=gen)
    q = torch.distributions.Independent(torch.distributions.Normal(mean, (0.5 * log_var).exp()), 1)
    p = torch.distributions.Independent(torch.distributions.Normal(torch.zeros(4), torch.ones(4)), 1)
    assert torch.allclose(standard_normal_kl(mean, log_var), torch.distributions.kl_divergence(q, p), rtol=1e-5)


def test_reparameterized_samples_have_q_moments_and_gradients():
    mean, log_var = torch.tensor([1.0, -2.0], requires_grad=True), torch.tensor([0.0, math.log(4.0)], requires_grad=True)
    z = reparameterize(mean.expand(200_000, 2), log_var.expand(200_000, 2))
    assert torch.allclose(z.mean(0), torch.tensor([1.0, -2.0]), atol=0.02)
    assert torch.allclose(z.std(0), torch.tensor([1.0, 2.0]), atol=0.02)
    z.sum().backward()
    assert torch.allclose(mean.grad, torch.full((2,), 200_000.0))


def test_log_mean_exp_is_stable():
    values = torch.tensor([[-1000.0], [-1000.0]])
    assert log_mean_exp(values, 0).item() == pytest.approx(-1000.0)


def _tiny_vae(levels=17, **kwargs):
    torch.manual_seed(0)
    return VAE((1, 8, 8), levels, latent_dim=3, hidden=32, dropout=0.0, **kwargs).eval()


def _digits(n=20):
    return data.load_digits().test.x[:n]


@pytest.mark.parametrize("architecture", ["mlp", "conv"])
def test_iwae_with_one_sample_is_the_one_sample_elbo(architecture):
    """IWAE_1 = log p(x | z) + log p(z) - log q(z | x) with z ~ q: the ELBO estimated from one sample."""
    vae, x = _tiny_vae(architecture=architecture), _digits()
    eps = torch.randn(1, len(x), 3, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        mean, log_var = vae.encode(x)
        z = reparameterize(mean, log_var, eps[0])
        log_weight = (vae.log_likelihood(x, vae.decode(z)) + torch.distributions.Normal(0.0, 1.0).log_prob(z).sum(1)
                      - torch.distributions.Normal(mean, (0.5 * log_var).exp()).log_prob(z).sum(1))
        assert torch.allclose(vae.iwae_bound(x, 1, eps=eps), log_weight, atol=1e-4)


def test_iwae_bound_does_not_decrease_with_k_in_expectation():
    vae, x = _tiny_vae(), _digits(10)
    noise = torch.randn(64, 2048, len(x), 3, generator=torch.Generator().manual_seed(3))
    with torch.no_grad():
        # For each k, average the bound over 2048/k disjoint groups of the same fixed noise.
        means = [torch.stack([vae.iwae_bound(x, k, eps=noise[r, g * k:(g + 1) * k]) for r in range(4)
                              for g in range(min(2048 // k, 16))]).mean().item() for k in (1, 4, 16, 64)]
    assert all(a <= b + 1e-3 for a, b in zip(means, means[1:]))
    assert means[-1] > means[0]


def test_elbo_expectation_equals_iwae_one_expectation():
    """The closed-form-KL ELBO and the one-sample log weight agree in expectation (within 4 standard errors)."""
    vae, x = _tiny_vae(), _digits(8)
    generator = torch.Generator().manual_seed(0)
    with torch.no_grad():
        difference = torch.stack([vae.elbo(x, generator=generator) - vae.iwae_bound(x, 1, generator=generator)
                                  for _ in range(3000)])                            # (3000, 8)
    mean, standard_error = difference.mean(0), difference.std(0) / 3000 ** 0.5
    assert (mean.abs() < 4 * standard_error).all(), (mean, standard_error)
    assert (difference.std(0) > 0.1).all()                                          # not equal draw by draw


def test_log_prob_combines_chunks_into_the_k_sample_bound():
    """log (1/k) Σ_i w_i over all k weights = logsumexp over chunks of (chunk bound + log chunk size) − log k."""
    vae, x = _tiny_vae(), _digits(5)
    generator = lambda: torch.Generator().manual_seed(4)  # noqa: E731
    with torch.no_grad():
        assert torch.allclose(vae.log_prob(x, k=300, chunk=300, generator=generator()),
                              vae.iwae_bound(x, 300, generator=generator()), rtol=1e-6)
        same_noise = generator()
        parts = torch.stack([vae.iwae_bound(x, size, generator=same_noise) + math.log(size) for size in (64,) * 4 + (44,)])
        assert torch.allclose(vae.log_prob(x, k=300, chunk=64, generator=generator()),
                              torch.logsumexp(parts, 0) - math.log(300), rtol=1e-6)


def test_categorical_decoder_is_a_distribution_over_all_images():
    # 2×2 images with 3 levels: p(x | z) must sum to one over all 81 images for any z.
    vae = VAE((1, 2, 2), levels=3, latent_dim=2, hidden=8, dropout=0.0).eval()
    images = torch.cartesian_prod(*(torch.arange(3.0),) * 4).reshape(-1, 1, 2, 2)
    z = torch.randn(1, 2)
    with torch.no_grad():
        logits = vae.decode(z.expand(len(images), 2))
        total = vae.log_likelihood(images, logits).exp().sum()
    assert total.item() == pytest.approx(1.0, abs=1e-5)


def test_bernoulli_decoder_on_binarized_digits():
    """With two levels the decoder is Bernoulli, and the loss is the negative ELBO averaged over the batch."""
    vae = _tiny_vae(levels=2, beta=2.0)
    x = data.binarize(_digits(), 17)
    generator = lambda: torch.Generator().manual_seed(0)  # noqa: E731
    with torch.no_grad():
        mean, log_var = vae.encode(x)
        z = reparameterize(mean, log_var, generator=generator())
        bernoulli = torch.distributions.Bernoulli(logits=vae.decode(z)).log_prob(x.reshape(len(x), -1)).sum(1)
        assert torch.allclose(vae.log_likelihood(x, vae.decode(z)), bernoulli)
        expected = -(bernoulli - 2.0 * standard_normal_kl(mean, log_var)).mean()
        assert torch.allclose(vae.loss(x, generator=generator()), expected)
    assert set(vae.sample(400).unique().tolist()) == {0.0, 1.0}


def test_training_improves_the_elbo():
    from course_lib.train import fit

    split = data.load_digits()
    torch.manual_seed(0)
    vae = VAE(latent_dim=4, hidden=64, dropout=0.0)
    before = -vae.loss(split.val.x).item()
    fit(vae, split.train, split.val, epochs=15, batch_size=100, lr=2e-3, progress=False)
    vae.eval()
    assert -vae.loss(split.val.x).item() > before + 30


def test_samples_and_means_have_image_shape():
    vae = _tiny_vae()
    samples = vae.sample(6, generator=torch.Generator().manual_seed(0))
    assert samples.shape == (6, 1, 8, 8) and samples.min() >= 0 and samples.max() <= 16
    assert torch.equal(samples, samples.round())
    means = vae.decode_mean(torch.zeros(3, 3))
    assert means.shape == (3, 1, 8, 8) and means.min() >= 0 and means.max() <= 16


@pytest.mark.parametrize("call, error, message", [
    (lambda: VAE((1, 8, 9)), ValueError, r"image_shape must be \(1, H, H\): one channel, square"),
    (lambda: VAE(levels=1), ValueError, r"levels must be ≥ 2"),
    (lambda: VAE(architecture="transformer"), ValueError, r"architecture must be one of \('mlp', 'conv'\)"),
    (lambda: VAE(likelihood="laplace"), ValueError, r"likelihood must be one of \('categorical', 'gaussian'\), got 'laplace'"),
    (lambda: VAE(likelihood="gaussian", gaussian_scale="z"), ValueError,
     r"gaussian_scale must be one of \('pixel', 'decoder'\), got 'z'"),
    (lambda: VAE(dropout=1.0), ValueError, r"dropout must be < 1"),
    (lambda: VAE(beta=-1.0), ValueError, r"beta must be finite and ≥ 0"),
    (lambda: VAE((1, 7, 7), architecture="conv"), ValueError, r"the conv architecture needs an even image side"),
    (lambda: _tiny_vae().elbo(torch.zeros(2, 1, 4, 4)), ValueError, r"x must have shape \(B, 1, 8, 8\)"),
    (lambda: _tiny_vae().elbo(torch.full((2, 1, 8, 8), 0.5)), ValueError, r"x must hold integer grey levels in \[0, 16\]"),
    (lambda: _tiny_vae().elbo(torch.full((2, 1, 8, 8), 17.0)), ValueError, r"x must hold integer grey levels in \[0, 16\]"),
    (lambda: _tiny_vae().elbo(torch.full((2, 1, 8, 8), float("nan"))), ValueError, r"x contains NaN or infinite values"),
    (lambda: _tiny_vae().iwae_bound(_digits(2), 0), ValueError, r"k must be ≥ 1"),
    (lambda: _tiny_vae().iwae_bound(_digits(2), 2, eps=torch.zeros(3, 2, 3)), ValueError, r"eps must have shape \(2, 2, 3\)"),
    (lambda: _tiny_vae().sample(0), ValueError, r"n must be ≥ 1"),
])
def test_vae_rejects_bad_input(call, error, message):
    with pytest.raises(error, match=message):
        call()


def test_iwae_converges_to_the_exact_log_likelihood_of_a_linear_gaussian_model():
    from course_lib.models import PPCA
    from course_lib.distributions import importance_weighted_bound

    torch.manual_seed(0)
    model = PPCA(torch.tensor([[1.5, 0.0], [0.8, 1.0], [0.0, -1.2], [0.5, 0.5]], dtype=torch.float64),
                 torch.zeros(4, dtype=torch.float64), 0.3)
    x = model.sample(3, generator=torch.Generator().manual_seed(1))
    post_mean, post_cov = model.posterior(x)
    # A deliberately poor proposal: shifted and too wide, so small k is loose.
    mean, log_var = post_mean + 0.7, torch.log(torch.diagonal(post_cov) * 3).expand(3, 2)

    def log_joint(z):
        return (torch.distributions.Normal(z @ model.w.T + model.mean, model.sigma2 ** 0.5).log_prob(x).sum(-1)
                + torch.distributions.Normal(0.0, 1.0).log_prob(z).sum(-1))

    exact = model.log_prob(x)
    gaps = [(exact - importance_weighted_bound(log_joint, mean, log_var, k)).mean().item() for k in (1, 10, 100_000)]
    assert gaps[0] > 0.5                      # the ELBO of this q is clearly loose
    assert gaps[0] > gaps[1] > gaps[2]
    assert abs(gaps[2]) < 0.01                # large k: the exact log p(x)


def test_iaf_posterior_elbo_is_the_one_sample_log_weight_and_its_kl_estimate_is_unbiased():
    """With an IAF posterior the ELBO is log p(x | z) + log p(z) − log q(z | x) at one z ~ q: exactly the
    one-sample importance weight for the same noise. With an identity flow (zero-initialised MAF steps)
    the sampled KL estimates the closed form without bias."""
    vae, x = _tiny_vae(posterior_flows=2), _digits(6)
    generator = lambda: torch.Generator().manual_seed(7)  # noqa: E731
    with torch.no_grad():
        assert torch.allclose(vae.elbo(x, generator=generator()), vae.iwae_bound(x, 1, generator=generator()),
                              rtol=1e-5, atol=1e-4)
        mean, log_var = vae.encode(x)
        draws = torch.stack([vae.elbo_terms(x, generator=torch.Generator().manual_seed(s))[1] for s in range(2000)])
    closed = standard_normal_kl(mean, log_var)
    assert (torch.abs(draws.mean(0) - closed) < 4 * draws.std(0) / 2000 ** 0.5).all()
    with torch.no_grad():
        for parameter in vae.posterior_flow.parameters():
            parameter.add_(0.5 * torch.randn_like(parameter))       # a real flow: z_K differs from z_0
        z0 = reparameterize(mean, log_var, generator=generator())
        z_k, _ = vae._posterior_sample(mean, log_var, vae._encode_all(x)[2], (z0 - mean) / (0.5 * log_var).exp())
    assert not torch.allclose(z_k, z0)


# --- the Gaussian decoder (AEVB's, truncated to [0, levels): dequantization bounds) -------------------------

SCALES = ["pixel", "decoder"]


def _tiny_gaussian_vae(scale="pixel", seed=0):
    """2×2 images with 3 levels (81 in all), a 2-D latent, weights sharpened so that p(x) is far from uniform
    (and, with one σ per pixel, those σ spread out)."""
    torch.manual_seed(seed)
    vae = VAE((1, 2, 2), 3, latent_dim=2, hidden=16, dropout=0.0, likelihood="gaussian", gaussian_scale=scale)
    with torch.no_grad():
        for parameter in vae.parameters():
            parameter.mul_(3.0)
        if scale == "pixel":
            vae.log_scale.copy_(torch.tensor([-1.0, -0.3, 0.2, 0.8]))
    return vae.eval()


def _every_image(levels=3):
    return torch.cartesian_prod(*(torch.arange(float(levels)),) * 4).reshape(-1, 1, 2, 2)


def _exact_discrete_log_prob(vae, images):
    """log P(x) = log ∫ p(z) Π_pixels P(x_d ≤ v_d < x_d + 1 | z) dz: the truncated Gaussian's CDF on each level's
    interval, and a 281 × 281 grid on [-7, 7]² for z (independent of the model's bounds)."""
    side = torch.linspace(-7, 7, 281, dtype=torch.float64)
    z = torch.cartesian_prod(side, side)
    with torch.no_grad():
        mean, scale = (t.double() for t in vae.gaussian_parameters(vae.decode(z.float())))     # (Z, 4)
    pixel = torch.distributions.Normal(mean[:, None], scale[:, None])
    x = images.reshape(len(images), -1).double()[None]                                       # (1, N, 4)
    inside = pixel.cdf(torch.tensor(3.0, dtype=torch.float64)) - pixel.cdf(torch.tensor(0.0, dtype=torch.float64))
    log_p_x_given_z = ((pixel.cdf(x + 1) - pixel.cdf(x)) / inside).log().sum(-1)             # (Z, N)
    log_prior = torch.distributions.Normal(0.0, 1.0).log_prob(z).sum(1)
    return torch.logsumexp(log_p_x_given_z + log_prior[:, None], 0) + 2 * torch.log(side[1] - side[0])


@pytest.mark.parametrize("scale", SCALES)
def test_gaussian_decoder_density_is_the_truncated_gaussian_and_integrates_to_one_on_each_level_range(scale):
    vae = _tiny_gaussian_vae(scale)
    z = torch.randn(5, 2, generator=torch.Generator().manual_seed(0))
    v = torch.rand(5, 1, 2, 2, generator=torch.Generator().manual_seed(1)) * 3
    with torch.no_grad():
        logits = vae.decode(z)
        mean, scale = vae.gaussian_parameters(logits)
        normal = torch.distributions.Normal(mean.double(), scale.double())
        mass = normal.cdf(torch.tensor(3.0, dtype=torch.float64)) - normal.cdf(torch.tensor(0.0, dtype=torch.float64))
        expected = (normal.log_prob(v.reshape(5, -1).double()) - mass.log()).sum(1)
        assert torch.allclose(vae.log_likelihood(v, logits).double(), expected, rtol=1e-5)
        grid = ((torch.arange(6000) + 0.5) * 3 / 6000).double()
        per_pixel = (normal.log_prob(grid[:, None, None]) - mass.log()).exp().sum(0) * 3 / 6000
    assert torch.allclose(per_pixel, torch.ones_like(per_pixel), atol=1e-4)
    assert ((mean > 0) & (mean < 3)).all()


@pytest.mark.parametrize("scale", SCALES)
def test_gaussian_decoder_discrete_probabilities_sum_to_one(scale):
    """Dequantized, the truncated densities give every one of the 81 images a probability; they sum to 1."""
    total = _exact_discrete_log_prob(_tiny_gaussian_vae(scale), _every_image()).exp().sum().item()
    assert total == pytest.approx(1.0, abs=1e-4)


@pytest.mark.parametrize("scale", SCALES)
def test_gaussian_dequantization_bound_tightens_with_k_towards_the_exact_discrete_log_prob(scale):
    vae, images = _tiny_gaussian_vae(scale), _every_image()
    exact = _exact_discrete_log_prob(vae, images).float()
    with torch.no_grad():
        gaps = {k: torch.stack([(exact - vae.log_prob(images, k=k, chunk=1000, generator=torch.Generator().manual_seed(s))
                                 ).mean() for s in range(3 if k < 1000 else 1)]).mean().item() for k in (1, 10, 100_000)}
        elbo_gap = (exact - torch.stack([vae.elbo(images, generator=torch.Generator().manual_seed(s))
                                         for s in range(200)]).mean(0)).mean().item()
    assert gaps[1] > gaps[10] > gaps[100_000] > -0.01 and gaps[100_000] < 0.1, gaps
    assert elbo_gap > gaps[10]                 # the closed-form-KL ELBO is a bound too, no tighter than IWAE_10


@pytest.mark.parametrize("scale", SCALES)
def test_gaussian_decoder_samples_follow_the_discrete_probabilities(scale):
    from scipy import stats

    vae, images = _tiny_gaussian_vae(scale), _every_image()
    probs = _exact_discrete_log_prob(vae, images).exp()
    samples = vae.sample(20_000, generator=torch.Generator().manual_seed(2))
    assert set(samples.unique().tolist()) <= {0.0, 1.0, 2.0}
    index = (samples.reshape(len(samples), -1).long() * 3 ** torch.arange(3, -1, -1)).sum(1)
    counts = torch.bincount(index, minlength=81).double()
    expected = probs / probs.sum() * len(samples)
    keep = expected >= 5
    statistic = (((counts[keep] - expected[keep]) ** 2) / expected[keep]).sum() + \
        (counts[~keep].sum() - expected[~keep].sum()) ** 2 / expected[~keep].sum().clamp(min=1e-12)
    assert stats.chi2.sf(statistic.item(), int(keep.sum())) > 1e-3


@pytest.mark.parametrize("scale", SCALES)
def test_gaussian_decode_mean_is_the_expected_level(scale):
    """E[⌊v⌋ | z] from the CDF equals the average of many sampled levels at the same z."""
    vae = _tiny_gaussian_vae(scale)
    z = torch.tensor([[0.3, -0.8]])
    with torch.no_grad():
        mean, scale = vae.gaussian_parameters(vae.decode(z))
        normal = torch.distributions.Normal(mean.double(), scale.double())
        low, high = normal.cdf(torch.tensor(0.0, dtype=torch.float64)), normal.cdf(torch.tensor(3.0, dtype=torch.float64))
        u = torch.rand(200_000, 4, generator=torch.Generator().manual_seed(3), dtype=torch.float64)
        levels = torch.floor(normal.icdf(low + u * (high - low))).clamp(0, 2)
        assert torch.allclose(vae.decode_mean(z).reshape(4).double(), levels.mean(0).reshape(4), atol=0.01)


@pytest.mark.parametrize("scale", SCALES)
@pytest.mark.parametrize("architecture", ["mlp", "conv"])
def test_gaussian_vae_loss_is_the_negative_elbo_of_a_dequantized_batch(scale, architecture):
    vae, x = _tiny_vae(likelihood="gaussian", gaussian_scale=scale, architecture=architecture), _digits(6)
    generator = lambda: torch.Generator().manual_seed(5)  # noqa: E731
    with torch.no_grad():
        g = generator()
        mean, log_var = vae.encode(x)
        z = reparameterize(mean, log_var, generator=g)
        v = x + torch.rand(x.shape, generator=g)                           # the same draws, in the same order
        expected = -(vae.log_likelihood(v, vae.decode(z)) - standard_normal_kl(mean, log_var)).mean()
        assert torch.allclose(vae.loss(x, generator=generator()), expected, rtol=1e-5)
        assert torch.isfinite(vae.log_prob(x, k=20, chunk=7)).all()
    samples = vae.sample(10, generator=torch.Generator().manual_seed(0))
    assert samples.shape == (10, 1, 8, 8) and torch.equal(samples, samples.round())
    assert samples.min() >= 0 and samples.max() <= 16
    mean, scale_ = vae.gaussian_parameters(vae.decode(torch.zeros(3, 3)))
    assert mean.shape == scale_.shape == (3, 64) and (scale_ > 0).all()
    if scale == "pixel":        # one σ per pixel, whatever the code
        other = vae.gaussian_parameters(vae.decode(torch.ones(3, 3)))[1]
        assert torch.equal(scale_, other) and torch.allclose(scale_[0], vae.log_scale.exp())


def test_pixel_scale_reconstruction_is_a_weighted_squared_error_away_from_the_edges():
    """With σ shared by all codes, −log p(v | z) = Σ (v − μ(z))² / (2σ²) + a constant, where the truncation
    mass is 1 (means far inside [0, L))."""
    torch.manual_seed(0)
    vae = VAE((1, 2, 2), 3, latent_dim=2, hidden=16, dropout=0.0, likelihood="gaussian").eval()   # means near 1.5
    with torch.no_grad():
        vae.log_scale.fill_(math.log(0.1))                 # narrow: the truncation mass is 1 for means inside
        z = torch.randn(50, 2, generator=torch.Generator().manual_seed(6))
        logits = vae.decode(z)
        mean, scale = vae.gaussian_parameters(logits)
        inside = ((mean > 0.6) & (mean < 2.4)).all(1)
        v = torch.full((50, 1, 2, 2), 1.5)
        weighted_squared_error = ((v.reshape(50, 4) - mean) ** 2 / (2 * scale ** 2)).sum(1)
        constant = -vae.log_likelihood(v, logits) - weighted_squared_error
    assert inside.sum() >= 25
    assert torch.allclose(constant[inside], torch.full((int(inside.sum()),), 4 * math.log(0.1 * math.sqrt(2 * math.pi))),
                          atol=1e-4)


def test_training_improves_the_gaussian_vaes_bound():
    from course_lib.train import fit

    split = data.load_digits()
    torch.manual_seed(0)
    vae = VAE(latent_dim=4, hidden=64, dropout=0.0, likelihood="gaussian")
    generator = lambda: torch.Generator().manual_seed(0)  # noqa: E731
    with torch.no_grad():
        before = vae.log_prob(split.val.x, k=10, generator=generator()).mean().item()
    fit(vae, split.train, split.val, epochs=10, batch_size=100, lr=2e-3, progress=False)
    with torch.no_grad():
        after = vae.log_prob(split.val.x, k=10, generator=generator()).mean().item()
    assert after > before + 30


def test_gaussian_decoder_with_an_iaf_posterior_scores_one_dequantized_draw_per_weight():
    """With a flow posterior the ELBO is the one-sample log weight; the Gaussian decoder's dequantization
    noise is drawn after z's, in the same order by both, so for the same generator they agree."""
    vae, x = _tiny_vae(likelihood="gaussian", posterior_flows=2), _digits(6)
    generator = lambda: torch.Generator().manual_seed(8)  # noqa: E731
    with torch.no_grad():
        for parameter in vae.posterior_flow.parameters():
            parameter.add_(0.3 * torch.randn_like(parameter))
        assert torch.allclose(vae.elbo(x, generator=generator()), vae.iwae_bound(x, 1, generator=generator()),
                              rtol=1e-5, atol=1e-4)
        assert torch.isfinite(vae.log_prob(x, k=30, chunk=8)).all()
