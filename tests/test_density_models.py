import math

import numpy as np
import pytest
import torch
from scipy import stats

from course_lib import data
from course_lib.evaluation import bits_per_dim, mean_nll
from course_lib.models import DensityModel, FactorizedCategorical, Gaussian, GaussianKDE, HistogramDensity, select_bandwidth

# --- the protocol -----------------------------------------------------------------------------


class UniformSquare(DensityModel):
    """The uniform density on [0, 1)²: log p = 0 inside."""

    def _log_prob(self, x, context):
        return torch.zeros(len(x))

    def _sample(self, n, generator, context):
        return torch.rand(n, 2, generator=generator)


def test_protocol_default_loss_is_mean_nll():
    model = GaussianKDE(torch.zeros(3, 2), 1.0)
    x = torch.randn(5, 2)
    assert torch.allclose(model.loss(x), -model.log_prob(x).mean())


def test_mean_nll_dequantized_uniform_is_zero():
    assert mean_nll(UniformSquare(), torch.zeros(10, 2), dequantize=True) == 0.0


def test_mean_nll_checks_model_output_shape():
    class Broken(UniformSquare):
        def _log_prob(self, x, context):
            return torch.zeros(len(x), 1)

    with pytest.raises(ValueError, match="log_prob must return shape"):
        mean_nll(Broken(), torch.zeros(4, 2))


def test_mean_nll_rejects_bad_input():
    with pytest.raises(TypeError, match="model must be a course_lib DensityModel, got object"):
        mean_nll(object(), torch.zeros(4, 2))
    with pytest.raises(ValueError, match="x contains NaN or infinite values"):
        mean_nll(UniformSquare(), torch.full((4, 2), float("nan")))
    with pytest.raises(TypeError, match="dequantize must be a bool, got str"):
        mean_nll(UniformSquare(), torch.zeros(4, 2), dequantize="yes")
    with pytest.raises(ValueError, match="batch_size must be ≥ 1, got 0"):
        mean_nll(UniformSquare(), torch.zeros(4, 2), batch_size=0)


def test_bits_per_dim():
    assert bits_per_dim(64 * math.log(2), 64) == pytest.approx(1.0)
    with pytest.raises(ValueError, match="dims must be ≥ 1, got 0"):
        bits_per_dim(1.0, 0)
    with pytest.raises(ValueError, match="nll_nats must be finite, got inf"):
        bits_per_dim(float("inf"), 3)
    with pytest.raises(TypeError, match="nll_nats must be a number, got str"):
        bits_per_dim("1", 3)

# --- Gaussian KDE ------------------------------------------------------------------------------


@pytest.mark.parametrize("h", [0.05, 0.3, 2.0])
def test_kde_matches_scipy_in_1d(h):
    samples = torch.randn(300, dtype=torch.float64)
    queries = torch.linspace(-4, 4, 25, dtype=torch.float64)
    scipy_kde = stats.gaussian_kde(samples.numpy(), bw_method=h / samples.numpy().std(ddof=1))
    ours = GaussianKDE(samples[:, None], h).log_prob(queries[:, None])
    assert np.allclose(ours.numpy(), scipy_kde.logpdf(queries.numpy()), rtol=1e-8)


def test_kde_matches_explicit_mixture_in_2d():
    centers = torch.randn(50, 2, dtype=torch.float64)
    x = torch.randn(7, 2, dtype=torch.float64)
    mixture = torch.distributions.MixtureSameFamily(
        torch.distributions.Categorical(torch.ones(50, dtype=torch.float64)),
        torch.distributions.Independent(torch.distributions.Normal(centers, 0.4 * torch.ones_like(centers)), 1))
    assert torch.allclose(GaussianKDE(centers, 0.4).log_prob(x), mixture.log_prob(x))


def test_kde_far_from_the_data_is_exact_and_chunking_does_not_matter():
    """Far away every kernel underflows to 0 in exp(); the log-density must still be the exact value."""
    from scipy.special import logsumexp

    centers = torch.randn(100, 3, dtype=torch.float64)
    kde = GaussianKDE(centers, 0.1)
    far = torch.full((5, 3), 100.0, dtype=torch.float64) + torch.arange(5.0, dtype=torch.float64)[:, None]
    squared = ((far[:, None, :] - centers[None]) ** 2).sum(-1).numpy()           # (5, 100)
    exact = logsumexp(-squared / (2 * 0.01), axis=1) - np.log(100) - 1.5 * np.log(2 * np.pi * 0.01)
    assert np.allclose(kde.log_prob(far).numpy(), exact, rtol=1e-9)               # about -1.5e6 nats, not -inf
    x = torch.randn(50, 3, dtype=torch.float64)
    assert torch.allclose(kde.log_prob(x, chunk=7), kde.log_prob(x), rtol=1e-12)


def test_kde_integrates_to_one_in_1d():
    kde = GaussianKDE(torch.randn(40, 1, dtype=torch.float64), 0.3)
    grid = torch.linspace(-8, 8, 20001, dtype=torch.float64)
    assert torch.trapezoid(kde.log_prob(grid[:, None]).exp(), grid).item() == pytest.approx(1.0, abs=1e-6)


def test_kde_images_keep_their_shape():
    images = torch.rand(20, 1, 8, 8)
    kde = GaussianKDE(images, 0.5)
    assert kde.log_prob(images[:3]).shape == (3,)
    assert kde.sample(4).shape == (4, 1, 8, 8)
    with pytest.raises(ValueError, match="x must have shape"):
        kde.log_prob(torch.rand(3, 64))


def test_kde_samples_have_the_mixture_moments():
    centers = torch.randn(200, 2, dtype=torch.float64)
    samples = GaussianKDE(centers, 0.5).sample(200_000, generator=torch.Generator().manual_seed(0))
    assert torch.allclose(samples.mean(0), centers.mean(0), atol=0.02)
    assert torch.allclose(torch.cov(samples.T), torch.cov(centers.T, correction=0) + 0.25 * torch.eye(2, dtype=torch.float64), atol=0.03)


def test_select_bandwidth_prefers_the_truth_and_not_the_extremes():
    gen = torch.Generator().manual_seed(0)
    train, val = torch.randn(500, 1, generator=gen), torch.randn(500, 1, generator=gen)
    candidates = torch.logspace(-3, 1, 30)
    best, scores = select_bandwidth(train, val, candidates)
    assert 0.1 < best < 1.0  # Silverman's rule gives ≈ 0.3 for N = 500 standard normal points
    assert scores.shape == (30,) and scores.argmax() not in (0, 29)


@pytest.mark.parametrize("call, error, message", [
    (lambda: GaussianKDE(torch.randn(5, 2), 0.0), ValueError, r"bandwidth must be finite and > 0"),
    (lambda: GaussianKDE(torch.randn(5, 2), "1"), TypeError, r"bandwidth must be a number"),
    (lambda: GaussianKDE(torch.randn(5), 1.0), ValueError, r"data must have 2 or 3 or 4 or 5 dimensions"),
    (lambda: GaussianKDE(torch.full((5, 2), float("nan")), 1.0), ValueError, r"data contains NaN or infinite values"),
    (lambda: GaussianKDE([[1.0, 2.0]], 1.0), TypeError, r"data must be a torch\.Tensor or numpy array"),
    (lambda: GaussianKDE(torch.randn(5, 2), 1.0).log_prob(torch.randn(3, 3)), ValueError, r"x must have shape \(B, 2\)"),
    (lambda: GaussianKDE(torch.randn(5, 2), 1.0).sample(-1), ValueError, r"n must be ≥ 1"),
    (lambda: select_bandwidth(torch.randn(5, 2), torch.randn(5, 2), [0.1, -1.0]), ValueError, r"bandwidths must all be > 0"),
])
def test_kde_rejects_bad_input(call, error, message):
    with pytest.raises(error, match=message):
        call()

# --- histogram ---------------------------------------------------------------------------------


def test_histogram_matches_numpy_in_1d():
    x = torch.rand(1000, 1, dtype=torch.float64) * 4 - 2
    hist = HistogramDensity(x, bins=8, low=-2, high=2)
    density, edges = np.histogram(x.numpy(), bins=8, range=(-2, 2), density=True)
    centres = torch.tensor((edges[:-1] + edges[1:]) / 2)[:, None]
    assert np.allclose(hist.log_prob(centres).exp().numpy(), density)


@pytest.mark.parametrize("pseudocount", [0.0, 0.5])
def test_histogram_is_normalised_in_2d(pseudocount):
    x = data.moons(500, generator=torch.Generator().manual_seed(0)).double().clamp(-1.99, 2.99)
    hist = HistogramDensity(x, bins=10, low=-2, high=3, pseudocount=pseudocount)
    centres = torch.stack(torch.meshgrid(*(torch.arange(10) * 0.5 - 2 + 0.25,) * 2, indexing="ij"), -1).reshape(-1, 2)
    mass = (hist.log_prob(centres.double()).exp() * 0.25).sum()
    assert mass.item() == pytest.approx(1.0)


def test_histogram_empty_bins_and_outside_support():
    hist = HistogramDensity(torch.tensor([[0.1], [0.2]]), bins=4, low=0, high=1)
    assert hist.log_prob(torch.tensor([[0.9]])).item() == -math.inf
    assert hist.log_prob(torch.tensor([[1.5]])).item() == -math.inf
    assert hist.count(torch.tensor([[0.15], [0.6]])).tolist() == [2, 0]


def test_histogram_samples_follow_the_counts():
    x = torch.tensor([[0.1]] * 30 + [[0.7]] * 10)
    samples = HistogramDensity(x, bins=4, low=0, high=1).sample(40000, generator=torch.Generator().manual_seed(0))
    assert ((samples >= 0) & (samples < 0.25)).double().mean().item() == pytest.approx(0.75, abs=0.01)
    assert ((samples >= 0.25) & (samples < 0.5)).sum() == 0


def test_histogram_scales_to_many_dimensions():
    """17⁶⁴ bins, 100 points: a new point falls in an empty bin, log p = log α − log(N + α M) − D log(width)."""
    train = torch.rand(100, 64, dtype=torch.float64)
    hist = HistogramDensity(train, bins=17, low=0, high=1, pseudocount=1.0)
    log_total = np.logaddexp(np.log(100), np.log(1.0) + 64 * np.log(17))
    expected = np.log(1.0) - log_total - 64 * np.log(1 / 17)
    assert np.allclose(hist.log_prob(torch.rand(3, 64, dtype=torch.float64)).numpy(), expected, rtol=1e-12)
    occupied = np.log(1 + 1.0) - log_total - 64 * np.log(1 / 17)                  # a training point's own bin
    assert np.allclose(hist.log_prob(train[:3]).numpy(), occupied, rtol=1e-12)


@pytest.mark.parametrize("call, error, message", [
    (lambda: HistogramDensity(torch.rand(5, 2), bins=0, low=0, high=1), ValueError, r"bins must be ≥ 1"),
    (lambda: HistogramDensity(torch.rand(5, 2), bins=3, low=1, high=0), ValueError, r"high must be > low"),
    (lambda: HistogramDensity(torch.rand(5, 2) + 2, bins=3, low=0, high=1), ValueError, r"data must lie in \[low, high\) = \[0\.0, 1\.0\)"),
    (lambda: HistogramDensity(torch.rand(5, 2), bins=3, low=0, high=1, pseudocount=-1), ValueError, r"pseudocount must be finite and ≥ 0"),
    (lambda: HistogramDensity(torch.rand(5, 2), bins=3, low=0, high=1).log_prob(torch.rand(5, 3)), ValueError, r"x must have last dimension 2"),
])
def test_histogram_rejects_bad_input(call, error, message):
    with pytest.raises(error, match=message):
        call()

# --- Gaussian ----------------------------------------------------------------------------------


def test_gaussian_fit_is_the_maximum_likelihood_estimate():
    x = torch.randn(400, 3, dtype=torch.float64) @ torch.tensor([[1.0, 0.3, 0.0], [0.0, 1.0, 0.5], [0.0, 0.0, 2.0]],
                                                                dtype=torch.float64)
    model = Gaussian.fit(x)
    assert torch.allclose(model.mean, x.mean(0))
    assert torch.allclose(model.covariance, torch.cov(x.T, correction=0))
    # Perturbing either parameter lowers the log-likelihood (it is the maximiser).
    best = model.log_prob(x).sum()
    for shift in (0.05 * torch.eye(3, dtype=torch.float64)[0], -0.05 * torch.eye(3, dtype=torch.float64)[2]):
        assert Gaussian(model.mean + shift, model.covariance).log_prob(x).sum() < best
    assert Gaussian(model.mean, model.covariance * 1.05).log_prob(x).sum() < best
    assert Gaussian(model.mean, model.covariance * 0.95).log_prob(x).sum() < best


def test_gaussian_log_prob_matches_scipy_and_samples_match_moments():
    mean = torch.tensor([1.0, -1.0], dtype=torch.float64)
    cov = torch.tensor([[2.0, 0.6], [0.6, 1.0]], dtype=torch.float64)
    model = Gaussian(mean, cov)
    x = torch.randn(10, 2, dtype=torch.float64)
    assert np.allclose(model.log_prob(x).numpy(), stats.multivariate_normal(mean.numpy(), cov.numpy()).logpdf(x.numpy()))
    samples = model.sample(100_000, generator=torch.Generator().manual_seed(0))
    assert torch.allclose(samples.mean(0), mean, atol=0.02)
    assert torch.allclose(torch.cov(samples.T), cov, atol=0.03)


@pytest.mark.parametrize("call, error, message", [
    (lambda: Gaussian(torch.zeros(2), torch.eye(3)), ValueError, r"covariance must have shape \(2, 2\)"),
    (lambda: Gaussian(torch.zeros(2), torch.tensor([[1.0, 2.0], [0.0, 1.0]])), ValueError, r"covariance must be symmetric"),
    (lambda: Gaussian(torch.zeros(2), -torch.eye(2)), ValueError, r"covariance must be positive definite"),
    (lambda: Gaussian.fit(torch.randn(2, 3)), ValueError, r"x needs more rows than columns for a full\-rank covariance"),
    (lambda: Gaussian.fit(torch.randn(10)), ValueError, r"x must have 2 dimensions"),
    (lambda: Gaussian(torch.zeros(2), torch.eye(2)).log_prob(torch.zeros(3, 3)), ValueError, r"x must have last dimension 2"),
])
def test_gaussian_rejects_bad_input(call, error, message):
    with pytest.raises(error, match=message):
        call()

# --- independent pixels --------------------------------------------------------------------------


def test_factorized_categorical_sums_to_one_over_all_images():
    x = torch.randint(0, 3, (50, 1, 2, 2)).float()
    model = FactorizedCategorical.fit(x, levels=3)
    every_image = torch.cartesian_prod(*(torch.arange(3.0),) * 4).reshape(-1, 1, 2, 2)
    assert model.log_prob(every_image).exp().sum().item() == pytest.approx(1.0, abs=1e-5)


def test_factorized_categorical_fit_counts_and_samples():
    x = torch.tensor([[0.0, 1.0], [0.0, 2.0], [0.0, 2.0], [1.0, 2.0]]).reshape(4, 1, 2)
    model = FactorizedCategorical.fit(x, levels=3, pseudocount=0.0)
    assert torch.allclose(model.probs[0, 0], torch.tensor([0.75, 0.25, 0.0]))
    assert torch.allclose(model.probs[0, 1], torch.tensor([0.0, 0.25, 0.75]))
    samples = model.sample(20000, generator=torch.Generator().manual_seed(0))
    assert samples.shape == (20000, 1, 2)
    assert (samples[:, 0, 0] == 0).float().mean().item() == pytest.approx(0.75, abs=0.01)


def test_factorized_categorical_beats_uniform_on_digits():
    split = data.load_digits()
    model = FactorizedCategorical.fit(split.train.x, 17)
    assert mean_nll(model, split.test.x) < 64 * math.log(17)


@pytest.mark.parametrize("call, error, message", [
    (lambda: FactorizedCategorical.fit(torch.tensor([[[0.5]]]), 3), ValueError, r"x must hold integer grey levels in \[0, 2\]"),
    (lambda: FactorizedCategorical.fit(torch.tensor([[[5.0]]]), 3), ValueError, r"x must hold integer grey levels in \[0, 2\]"),
    (lambda: FactorizedCategorical.fit(torch.zeros(2, 1, 1), 1), ValueError, r"levels must be ≥ 2"),
    (lambda: FactorizedCategorical(torch.tensor([[0.5, 0.6]])), ValueError, r"probs must be non\-negative and sum to 1 over the last dimension"),
    (lambda: FactorizedCategorical.fit(torch.zeros(2, 1, 2), 3).log_prob(torch.zeros(2, 1, 3)), ValueError, r"x must have shape \(B, 1, 2\)"),
])
def test_factorized_rejects_bad_input(call, error, message):
    with pytest.raises(error, match=message):
        call()


# --- mean_nll's options: the model's own log_prob keywords ------------------------------------------------

def test_mean_nll_passes_options_to_log_prob():
    from course_lib.models import VAE

    vae = VAE((1, 2, 2), levels=3, latent_dim=2, hidden=8, dropout=0.0).eval()
    x = torch.randint(0, 3, (6, 1, 2, 2)).float()
    for k in (1, 7):
        expected = -vae.log_prob(x, k=k, chunk=3, generator=torch.Generator().manual_seed(4)).mean().item()
        got = mean_nll(vae, x, generator=torch.Generator().manual_seed(4), options={"k": k, "chunk": 3})
        assert got == pytest.approx(expected, rel=1e-6)
        noise = torch.Generator().manual_seed(4)          # in batches of 4 and 2: the same draws, in order
        expected = -torch.cat([vae.log_prob(part, k=k, generator=noise) for part in x.split(4)]).mean().item()
        assert mean_nll(vae, x, batch_size=4, generator=torch.Generator().manual_seed(4),
                        options={"k": k}) == pytest.approx(expected, rel=1e-6)
    one, many = (mean_nll(vae, x, generator=torch.Generator().manual_seed(4), options={"k": k}) for k in (1, 200))
    assert many < one                                   # more importance samples: a tighter bound
    # a deterministic option over several batches: every batch gets it
    centres = torch.randn(40, 2, generator=torch.Generator().manual_seed(0))
    kde, points = GaussianKDE(centres, 0.5), torch.randn(9, 2, generator=torch.Generator().manual_seed(1))
    assert mean_nll(kde, points, batch_size=4, options={"chunk": 3}) == pytest.approx(-kde.log_prob(points).mean().item())


def test_mean_nll_with_options_on_a_model_whose_labels_are_optional():
    """A guided model (label dropout) given no labels is its unconditional model, with or without options."""
    from course_lib.models import FlowMatching
    from course_lib.nn import MLPDenoiser

    torch.manual_seed(0)
    flow = FlowMatching(MLPDenoiser((1, 2, 2), hidden=8, blocks=1, context_classes=3), (1, 2, 2), 3,
                        label_dropout=0.1).eval()
    with torch.no_grad():
        for parameter in flow.parameters():    # the last layer starts at zero: make the labels matter
            parameter.add_(0.3 * torch.randn_like(parameter))
    x = torch.randint(0, 3, (6, 1, 2, 2)).float()
    nll = lambda **kw: mean_nll(flow, x, generator=torch.Generator().manual_seed(2), **kw)
    assert nll(options={"steps": 20}) == nll()                     # 20: log_prob's default number of steps
    assert nll(options={"steps": 3}) == pytest.approx(
        -flow.log_prob(x, steps=3, generator=torch.Generator().manual_seed(2)).mean().item(), rel=1e-6)
    labels = torch.tensor([0, 1, 2, 0, 1, 2])
    assert nll(context=labels, options={"steps": 20}) == nll(context=labels) != nll()


@pytest.mark.parametrize("options, error, message", [
    ([("k", 5)], TypeError, "options must be a dict"),
    ({5: 1}, TypeError, r"options' keys must be keyword names \(str\), got 5"),
    ({"samples": 5}, TypeError, r"options holds 'samples'.*VAE.log_prob takes k, chunk"),
    ({"generator": None}, TypeError, "pass generator to mean_nll itself"),
    ({"k": 0}, ValueError, "k must be"),
    ({"chunk": 2.5}, (TypeError, ValueError), "chunk"),
])
def test_mean_nll_rejects_bad_options(options, error, message):
    from course_lib.models import VAE

    vae = VAE((1, 2, 2), levels=3, latent_dim=2, hidden=8, dropout=0.0).eval()
    with pytest.raises(error, match=message):
        mean_nll(vae, torch.zeros(4, 1, 2, 2), options=options)
    with pytest.raises(TypeError, match="FactorizedCategorical.log_prob takes no further keywords"):
        mean_nll(FactorizedCategorical.fit(torch.zeros(4, 1, 2, 2), 3), torch.zeros(4, 1, 2, 2), options={"k": 2})
