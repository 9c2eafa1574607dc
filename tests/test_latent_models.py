"""Gaussian mixtures (EM), probabilistic PCA and the linear autoencoder of chapter 02."""


import numpy as np
import pytest
import torch
from scipy import stats
from scipy.linalg import subspace_angles
from sklearn.decomposition import PCA
from sklearn.mixture import GaussianMixture as SklearnMixture

from course_lib import data

from course_lib.models import mixtures
from course_lib.models import LinearAutoencoder
from course_lib.models.mixtures import GaussianMixture, kmeans_plus_plus
from course_lib.models import PPCA
from course_lib.train import fit


def _digits(n=1000):
    split = data.load_digits()
    return data.dequantize(split.train.x, torch.Generator().manual_seed(0)).reshape(1000, -1)[:n].double()


def _to_sklearn_precisions(covariances, covariance_type):
    return (torch.linalg.inv(covariances) if covariance_type == "full" else 1 / covariances).numpy()

# --- Gaussian mixture ------------------------------------------------------------------------------


@pytest.mark.parametrize("covariance_type, x", [("full", data.three_clusters(600, torch.Generator().manual_seed(0))),
                                                ("diag", _digits(500)),
                                                ("spherical", data.three_clusters(600, torch.Generator().manual_seed(0))),
                                                ("spherical", _digits(500))])
def test_em_matches_sklearn_iteration_by_iteration(covariance_type, x):
    x = x.double()
    ours = GaussianMixture(4, covariance_type, max_iter=30, tol=0.0, reg_covar=1e-6)
    start = ours.initial_parameters(x, torch.Generator().manual_seed(1))
    ours.fit(x, init=start)
    theirs = SklearnMixture(4, covariance_type=covariance_type, max_iter=30, tol=0.0, reg_covar=1e-6,
                            weights_init=start[0].numpy(), means_init=start[1].numpy(),
                            precisions_init=_to_sklearn_precisions(start[2], covariance_type))
    with pytest.warns(Warning):  # scikit-learn warns that tol=0 never "converges"
        theirs.fit(x.numpy())
    ll_ours, ll_theirs = ours.log_likelihood_history[:30].numpy(), np.array(theirs.lower_bounds_)
    assert np.allclose(ll_ours, ll_theirs, rtol=1e-6, atol=0)
    assert np.allclose(ours.means.numpy(), theirs.means_, rtol=1e-6, atol=1e-8)
    assert np.allclose(ours.covariances.numpy(), theirs.covariances_, rtol=1e-6, atol=1e-8)
    assert ours.log_prob(x).mean().item() == pytest.approx(theirs.score(x.numpy()), rel=1e-6)


@pytest.mark.parametrize("covariance_type", ["full", "diag", "spherical"])
@pytest.mark.parametrize("init_params", ["kmeans++", "random"])
def test_em_log_likelihood_never_decreases(covariance_type, init_params):
    x = data.eight_gaussians(500, generator=torch.Generator().manual_seed(2)).double()
    for seed in range(3):
        gmm = GaussianMixture(6, covariance_type, max_iter=80, tol=0.0, init_params=init_params).fit(
            x, generator=torch.Generator().manual_seed(seed))
        assert np.all(np.diff(gmm.log_likelihood_history) >= -1e-10)


def test_component_densities_match_scipy():
    gen = torch.Generator().manual_seed(0)
    x = torch.randn(20, 3, generator=gen, dtype=torch.float64)
    means = torch.randn(2, 3, generator=gen, dtype=torch.float64)
    a = torch.randn(2, 3, 3, generator=gen, dtype=torch.float64)
    covs = a @ a.transpose(1, 2) + 0.5 * torch.eye(3, dtype=torch.float64)
    ours = mixtures.component_log_densities(x, means, covs, "full")
    variances = torch.rand(2, 3, generator=gen, dtype=torch.float64) + 0.2
    ours_diag = mixtures.component_log_densities(x, means, variances, "diag")
    for k in range(2):
        assert np.allclose(ours[:, k].numpy(), stats.multivariate_normal(means[k], covs[k]).logpdf(x), rtol=1e-10)
        assert np.allclose(ours_diag[:, k].numpy(),
                           stats.multivariate_normal(means[k], np.diag(variances[k])).logpdf(x), rtol=1e-10)


def test_a_spherical_component_is_the_isotropic_gaussian():
    gen = torch.Generator().manual_seed(0)
    x = torch.randn(20, 3, generator=gen, dtype=torch.float64)
    means = torch.randn(2, 3, generator=gen, dtype=torch.float64)
    variances = torch.tensor([0.5, 2.0], dtype=torch.float64)
    ours = mixtures.component_log_densities(x, means, variances, "spherical")
    for k in range(2):
        assert np.allclose(ours[:, k].numpy(), stats.multivariate_normal(means[k], variances[k].item() * np.eye(3)).logpdf(x),
                           rtol=1e-10)
    # its M-step variance is the mean of the per-dimension ones (the maximum-likelihood σ_k²)
    resp = torch.softmax(torch.randn(20, 2, generator=gen, dtype=torch.float64), 1)
    diag = mixtures.m_step(x, resp, "diag", reg_covar=0.0)[2]
    assert torch.allclose(mixtures.m_step(x, resp, "spherical", reg_covar=0.0)[2], diag.mean(1))


def test_spherical_mixture_samples_are_round():
    x = data.three_clusters(600, torch.Generator().manual_seed(0)).double()
    gmm = GaussianMixture(3, "spherical", n_init=2).fit(x, generator=torch.Generator().manual_seed(0))
    assert gmm.covariances.shape == (3,)
    samples = gmm.sample(60_000, generator=torch.Generator().manual_seed(1))
    z = gmm.responsibilities(samples).argmax(1)
    k = int(gmm.weights.argmax())
    own = samples[z == k] - gmm.means[k]          # mostly that component's draws: a round cloud
    cov = torch.cov(own.T)
    assert abs(cov[0, 1].item()) < 0.1 * cov.diagonal().mean().item()
    assert cov[0, 0].item() == pytest.approx(cov[1, 1].item(), rel=0.1)


def test_log_prob_is_a_normalised_density_and_samples_follow_it():
    x = data.three_clusters(900, torch.Generator().manual_seed(0)).double()
    gmm = GaussianMixture(3, "full", n_init=3).fit(x)
    grid = torch.stack(torch.meshgrid(torch.linspace(-9, 9, 361), torch.linspace(-9, 9, 361), indexing="ij"), -1)
    density = gmm.log_prob(grid.reshape(-1, 2).double()).exp().reshape(361, 361)
    assert torch.trapezoid(torch.trapezoid(density, dx=0.05), dx=0.05).item() == pytest.approx(1.0, abs=1e-3)
    samples = gmm.sample(100_000, generator=torch.Generator().manual_seed(1))
    mixture_mean = (gmm.weights[:, None] * gmm.means).sum(0)
    assert torch.allclose(samples.mean(0), mixture_mean, atol=0.03)
    assert torch.allclose(gmm.responsibilities(x).sum(1), torch.ones(len(x), dtype=torch.float64))


def test_restarts_keep_the_best_run():
    x = data.eight_gaussians(400, generator=torch.Generator().manual_seed(3)).double()
    best_of_five = GaussianMixture(8, "full", n_init=5).fit(x, generator=torch.Generator().manual_seed(0))
    one_generator = torch.Generator().manual_seed(0)   # the same five starts, drawn one after the other
    restarts = [GaussianMixture(8, "full").fit(x, generator=one_generator).log_likelihood_history[-1].item()
                for _ in range(5)]
    assert len(set(restarts)) > 1                      # the starts lead to different optima...
    assert best_of_five.log_likelihood_history[-1].item() == pytest.approx(max(restarts), rel=1e-12)  # ...the best kept


def test_kmeans_plus_plus_picks_distinct_far_apart_points():
    x = torch.cat([torch.zeros(50, 2), torch.full((50, 2), 10.0), torch.full((50, 2), -10.0)])
    centers = kmeans_plus_plus(x, 3, torch.Generator().manual_seed(0))
    assert sorted(centers[:, 0].tolist()) == [-10.0, 0.0, 10.0]


def test_reg_covar_keeps_a_collapsed_component_finite():
    x = torch.cat([torch.zeros(5, 2), torch.randn(100, 2)]).double()  # five identical points
    gmm = GaussianMixture(3, "full", reg_covar=1e-3, max_iter=200).fit(x)
    assert torch.isfinite(gmm.log_prob(x)).all()
    assert torch.linalg.eigvalsh(gmm.covariances).min() >= 1e-3 - 1e-12


@pytest.mark.parametrize("call, error, message", [
    (lambda: GaussianMixture(0), ValueError, r"n_components must be ≥ 1"),
    (lambda: GaussianMixture(2, "tied"), ValueError, r"covariance_type must be one of \('full', 'diag', 'spherical'\)"),
    (lambda: GaussianMixture(2, "spherical").fit(torch.randn(10, 2), init=(torch.ones(2) / 2, torch.zeros(2, 2),
                                                                          torch.ones(2, 2))), ValueError,
     r"init shapes must be \(2,\), \(2, 2\), \(2,\); got \(2,\), \(2, 2\), \(2, 2\)"),
    (lambda: GaussianMixture(2, "spherical").fit(torch.randn(10, 2), init=(torch.ones(2) / 2, torch.zeros(2, 2),
                                                                          torch.tensor([1.0, 0.0]))), ValueError,
     r"init covariances must hold variances > 0 \(for 'spherical'\), but component 1's is ≤ 0"),
    (lambda: GaussianMixture(2, reg_covar=-1.0), ValueError, r"reg_covar must be finite and ≥ 0"),
    (lambda: GaussianMixture(2, init_params="magic"), ValueError, r"init_params must be one of \('kmeans\+\+', 'random'\)"),
    (lambda: GaussianMixture(2, n_init=0), ValueError, r"n_init must be ≥ 1"),
    (lambda: GaussianMixture(5).fit(torch.randn(3, 2)), ValueError, r"x has 3 rows, fewer than n_components=5"),
    (lambda: GaussianMixture(2).fit(torch.full((10, 2), float("nan"))), ValueError, r"x contains NaN or infinite values"),
    (lambda: GaussianMixture(2).fit(torch.randn(10)), ValueError, r"x must have 2 dimensions"),
    (lambda: GaussianMixture(2).fit(torch.randn(10, 2), init=(1, 2)), TypeError, r"init must be a tuple \(weights, means, covariances\)"),
    (lambda: GaussianMixture(2).fit(torch.randn(10, 2), init=(torch.ones(2) / 2, torch.zeros(2, 3),
                                                             torch.eye(2).repeat(2, 1, 1))), ValueError, r"init shapes must be \(2,\), \(2, 2\), \(2, 2, 2\); got \(2,\), \(2, 3\), \(2, 2, 2\)"),
    (lambda: GaussianMixture(2).fit(torch.randn(10, 2), init=(torch.ones(2), torch.zeros(2, 2),
                                                             torch.eye(2).repeat(2, 1, 1))), ValueError, r"init weights must be non\-negative and sum to 1"),
    (lambda: GaussianMixture(2).log_prob(torch.randn(3, 2)), RuntimeError, r"the mixture is not fitted yet: call fit\(x\) first"),
    (lambda: GaussianMixture(2).fit(torch.randn(20, 2)).log_prob(torch.randn(3, 3)), ValueError, r"x must have last dimension 2"),
    (lambda: GaussianMixture(2).fit(torch.randn(20, 2)).sample(0), ValueError, r"n must be ≥ 1"),
    (lambda: kmeans_plus_plus(torch.randn(3, 2), 4), ValueError, r"k must be ≤ the 3 data points"),
])
def test_mixture_rejects_bad_input(call, error, message):
    with pytest.raises(error, match=message):
        call()

# --- probabilistic PCA ---------------------------------------------------------------------------


def test_ppca_log_prob_matches_sklearn_pca_score():
    x = _digits()
    pca = PCA(10).fit(x.numpy())
    w = pca.components_.T * np.sqrt(pca.explained_variance_ - pca.noise_variance_)
    model = PPCA(torch.tensor(w), torch.tensor(pca.mean_), float(pca.noise_variance_))
    assert model.log_prob(x).mean().item() == pytest.approx(pca.score(x.numpy()), rel=1e-6)


def test_ppca_closed_form_is_sklearn_up_to_the_1_over_n_convention():
    x = _digits()
    ours = PPCA.fit(x, 10)
    pca = PCA(10).fit(x.numpy())  # scikit-learn estimates the covariance with 1/(N - 1)
    assert np.allclose(ours.covariance.numpy(), pca.get_covariance() * (len(x) - 1) / len(x), rtol=1e-6, atol=1e-9)
    eigenvalues = np.sort(np.linalg.eigvalsh(np.cov(x.numpy().T, bias=True)))[::-1]
    assert ours.sigma2.item() == pytest.approx(eigenvalues[10:].mean(), rel=1e-9)


def test_ppca_em_converges_to_the_closed_form():
    x = _digits()
    closed = PPCA.fit(x, 5)
    em = PPCA.fit(x, 5, method="em", max_iter=5000, tol=1e-11)
    assert em.sigma2.item() == pytest.approx(closed.sigma2.item(), rel=1e-6)
    assert torch.allclose(em.covariance, closed.covariance, rtol=1e-4, atol=1e-3)
    assert np.all(np.diff(em.log_likelihood_history) >= -1e-9)  # EM: never downhill


def test_ppca_posterior_is_bayes_rule():
    model = PPCA(torch.tensor([[1.0, 0.2], [0.3, -0.5], [0.0, 1.0]], dtype=torch.float64),
                 torch.tensor([0.5, 0.0, -1.0], dtype=torch.float64), 0.3)
    x = model.sample(4, generator=torch.Generator().manual_seed(0))
    mean, cov = model.posterior(x)
    # Joint Gaussian of (z, x): condition by the textbook formula.
    sxx = model.covariance
    szx = model.w.T
    assert torch.allclose(mean, (szx @ torch.linalg.solve(sxx, (x - model.mean).T)).T)
    assert torch.allclose(cov, torch.eye(2, dtype=torch.float64) - szx @ torch.linalg.solve(sxx, szx.T))


def test_ppca_samples_have_the_model_covariance():
    model = PPCA(torch.tensor([[2.0], [1.0]], dtype=torch.float64), torch.zeros(2, dtype=torch.float64), 0.5)
    samples = model.sample(200_000, generator=torch.Generator().manual_seed(0))
    assert torch.allclose(torch.cov(samples.T), model.covariance, atol=0.03)


@pytest.mark.parametrize("call, error, message", [
    (lambda: PPCA(torch.zeros(3, 1), torch.zeros(2), 1.0), ValueError, r"w must have 2 rows \(one per data dimension\)"),
    (lambda: PPCA(torch.zeros(3, 1), torch.zeros(3), 0.0), ValueError, r"sigma2 must be finite and > 0"),
    (lambda: PPCA.fit(torch.randn(10, 3), 3), ValueError, r"q must be smaller than the data dimension 3"),
    (lambda: PPCA.fit(torch.randn(10, 3), 1, method="svd"), ValueError, r"method must be 'closed_form' or 'em'"),
    (lambda: PPCA.fit(torch.randn(10, 3), 1.5), TypeError, r"q must be an int"),
    (lambda: PPCA(torch.zeros(3, 1), torch.zeros(3), 1.0).log_prob(torch.zeros(2, 4)), ValueError, r"x must have last dimension 3"),
    (lambda: PPCA(torch.zeros(3, 1), torch.zeros(3), 1.0).posterior(torch.zeros(2, 2)), ValueError, r"x must have last dimension 3"),
])
def test_ppca_rejects_bad_input(call, error, message):
    with pytest.raises(error, match=message):
        call()

# --- the linear autoencoder ----------------------------------------------------------------------


def test_linear_autoencoder_learns_the_principal_subspace():
    gen = torch.Generator().manual_seed(0)
    # Data with a clear spectral gap: 3 strong directions in 10 dimensions.
    x = torch.randn(2000, 3, generator=gen) @ (3 * torch.randn(3, 10, generator=gen)) + 0.3 * torch.randn(2000, 10, generator=gen)
    torch.manual_seed(0)
    model = LinearAutoencoder(x.mean(0), 3)
    fit(model, x, epochs=300, batch_size=200, lr=1e-2, progress=False)
    top = torch.linalg.eigh(torch.cov(x.T))[1][:, -3:]
    angles = np.degrees(subspace_angles(model.decoder.weight.detach().numpy(), top.numpy()))
    assert angles.max() < 1.0


def test_linear_autoencoder_rejects_bad_input():
    with pytest.raises(ValueError, match="q must be smaller than the data dimension 3, got 3"):
        LinearAutoencoder(torch.zeros(3), 3)
    with pytest.raises(ValueError, match="x must have last dimension 3, got shape"):
        LinearAutoencoder(torch.zeros(3), 1).loss(torch.zeros(2, 4))


def test_naive_monte_carlo_estimate_converges_in_one_latent_dimension():
    model = PPCA(torch.tensor([[1.0], [0.5]], dtype=torch.float64), torch.zeros(2, dtype=torch.float64), 0.3)
    x = model.sample(4, generator=torch.Generator().manual_seed(0))
    z = torch.randn(500_000, 1, generator=torch.Generator().manual_seed(1), dtype=torch.float64)
    assert torch.allclose(model.naive_monte_carlo_log_prob(x, z), model.log_prob(x), atol=0.01)
    with pytest.raises(ValueError, match="z must have last dimension 1, got shape"):
        model.naive_monte_carlo_log_prob(x, torch.randn(10, 2))


def test_initial_parameters_rejects_bad_input():
    with pytest.raises(ValueError, match="x has 3 rows, fewer than n_components=5"):
        GaussianMixture(5).initial_parameters(torch.randn(3, 2))
    with pytest.raises(TypeError, match="generator must be a torch.Generator or None, got int"):
        GaussianMixture(2).initial_parameters(torch.randn(10, 2), generator=1)
