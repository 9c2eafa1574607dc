# ---
# jupyter:
#   jupytext:
#     formats: ipynb,py:percent
#     text_representation:
#       extension: .py
#       format_name: percent
#       format_version: '1.3'
#       jupytext_version: 1.19.6
#   kernelspec:
#     display_name: Python 3 (ipykernel)
#     language: python
#     name: python3
# ---

# %% [markdown]
# # 01 · Density estimation and maximum likelihood
#
# A generative model is a model of the **data distribution** $p_{\text{data}}(\mathbf{x})$: once we
# have it we can *evaluate* how plausible an input is and *sample* new inputs. This chapter builds
# the two oldest density estimators — histograms and Parzen windows — and the principle that
# trains every model of this course: **maximum likelihood**.
#
# **Learning objectives.** After this chapter you can
# 1. tell the data distribution from the empirical distribution of a sample;
# 2. build histogram and kernel (Parzen) density estimates in 1D and 2D, and sample from a KDE;
# 3. choose a bandwidth by **held-out log-likelihood**, and say why the training likelihood cannot;
# 4. derive the maximum-likelihood Gaussian and check numerically that it is the maximiser;
# 5. explain why $p(y, \mathbf{x}) = p(y \mid \mathbf{x})\, p(\mathbf{x})$ makes a density useful even
#    to a classifier ("confident classifier, unlikely input");
# 6. place every deep generative model of the course in one taxonomy;
# 7. see the curse of dimensionality, and measure a first model on the digits in **nats per image**.
#
# Everything runs on a laptop CPU in well under two minutes. The knob below switches the last
# section to MNIST (local files, see the README); the rest of the chapter does not depend on it.

# %%
DATASET = "digits"  # "digits" (bundled, CPU) or "mnist" / "fashion_mnist" (local IDX files in $DGM_DATA)

import math

import matplotlib.pyplot as plt
import numpy as np
import torch
from IPython.display import Markdown, display
from scipy import stats
from sklearn.linear_model import LogisticRegression

from course_lib import data
from course_lib.evaluation import bits_per_dim, leaderboard, mean_nll
from course_lib.models import FactorizedCategorical, Gaussian, GaussianKDE, HistogramDensity, select_bandwidth
from course_lib.runtime import device, seed_everything
from course_lib.teaching import exercises
from course_lib.viz import KDEBandwidthExplorer, plotting

seed_everything(0)
torch.set_default_dtype(torch.float64)  # 1D/2D work is tiny; double precision keeps the checks sharp

# %% [markdown]
# ## 1. The data distribution and the empirical distribution
#
# Nature draws examples $\mathbf{x}_1, \dots, \mathbf{x}_N$ independently from an unknown
# $p_{\text{data}}$. All we ever see is the **empirical distribution**
# $\hat p(\mathbf{x}) = \frac1N \sum_{n} \delta(\mathbf{x} - \mathbf{x}_n)$: a spike on each example.
# It is a terrible density (zero almost everywhere, infinite on the data) but a fine
# *distribution*: its CDF converges to the true CDF as $N$ grows (Glivenko–Cantelli).
# **Density estimation** turns the spikes into a density that also covers the examples we have
# not seen yet.
#
# To see what an estimator does we need a case where we *know* $p_{\text{data}}$: a
# two-component Gaussian mixture in 1D.

# %%
true_dist = torch.distributions.MixtureSameFamily(
    torch.distributions.Categorical(torch.tensor([0.35, 0.65])),
    torch.distributions.Normal(torch.tensor([-1.5, 1.0]), torch.tensor([0.5, 0.8])))
x_train, x_val, x_test = (true_dist.sample((n,)) for n in (200, 200, 2000))


def true_cdf(x):
    return 0.35 * stats.norm.cdf(x, -1.5, 0.5) + 0.65 * stats.norm.cdf(x, 1.0, 0.8)


grid = torch.linspace(-4, 4, 400)
fig, (ax_pdf, ax_cdf) = plt.subplots(1, 2, figsize=(10, 3))
ax_pdf.plot(grid, true_dist.log_prob(grid).exp(), "k--", label="$p_{data}$ (unknown in practice)")
ax_pdf.plot(x_train, np.zeros(len(x_train)), "|", markersize=12, label="200 samples = spikes of $\\hat p$")
ax_pdf.set(title="The data distribution and a sample", xlabel="x", ylabel="density")
ax_pdf.legend(fontsize=8)
for n, style in ((20, "C1"), (200, "C0")):
    sample = np.sort(x_train[:n].numpy())
    ax_cdf.step(sample, np.arange(1, n + 1) / n, where="post", color=style, label=f"empirical CDF, N = {n}")
ax_cdf.plot(grid, true_cdf(grid), "k--", label="true CDF")
ax_cdf.set(title="The empirical CDF converges to the true CDF", xlabel="x")
ax_cdf.legend(fontsize=8);


# %%
# Kolmogorov–Smirnov distance sup |F_N - F| for growing N: it shrinks like 1/sqrt(N).
ks = {n: stats.kstest(x_test[:n].numpy(), true_cdf).statistic for n in (20, 200, 2000)}
print({n: round(d, 3) for n, d in ks.items()})

# %% tags=["check"]
exercises.expect_true("the empirical CDF approaches the true CDF as N grows",
                      ks[2000] < ks[200] < ks[20] and ks[2000] < 0.05)

# %% [markdown]
# ## 2. Histograms
#
# Cut the line into bins of width $\Delta$ and count: $\hat p(x) = \frac{c_k}{N\Delta}$ for $x$ in
# bin $k$ holding $c_k$ of the $N$ examples. It integrates to one, and the bin width trades
# **variance** (narrow bins, noisy counts) against **bias** (wide bins, blurred shape).

# %%
fig, axes = plt.subplots(1, 3, figsize=(12, 2.8), sharey=True)
for ax, bins in zip(axes, (4, 16, 80)):
    ax.hist(x_train.numpy(), bins=bins, range=(-4, 4), density=True, alpha=0.6, label="histogram")
    ax.plot(grid, true_dist.log_prob(grid).exp(), "k--", label="$p_{data}$")
    ax.set(title=f"{bins} bins (Δ = {8 / bins:.2f})", xlabel="x")
axes[0].legend(fontsize=8);

# %% [markdown]
# ## 3. Kernel density estimation (Parzen windows)
#
# Replace each spike of $\hat p$ by a small bump — a Gaussian **kernel** of width $h$ (the
# **bandwidth**):
#
# $$ p_h(x) = \frac1N \sum_{n=1}^N \mathcal N(x;\, x_n, h^2)
#            = \frac1N \sum_{n=1}^N \frac{1}{\sqrt{2\pi h^2}} \exp\!\Big(-\frac{(x - x_n)^2}{2h^2}\Big). $$
#
# In code we always work with $\log p$. Far from the data every term $\exp(\cdot)$ underflows to
# zero in floating point, so the sum is computed with the **log-sum-exp** trick:
# $\log \sum_n e^{a_n} = a_{\max} + \log \sum_n e^{a_n - a_{\max}}$ (`torch.logsumexp`).
#
# ### Exercise 1 — the log-density of a 1D KDE
# Write `kde_log_prob(x, samples, h)`: for each of the $M$ query points in `x` (shape `(M,)`),
# $\log p_h(x)$ in nats, shape `(M,)`. Use `torch.logsumexp` so that a query far from every
# sample still gets a finite log-density.

# %%
def kde_log_prob(x, samples, h):
    """log p_h(x) for a 1D Gaussian KDE; x: (M,), samples: (N,), h > 0 → (M,) nats."""
    ### BEGIN SOLUTION
    log_kernels = -0.5 * ((x[:, None] - samples[None, :]) / h) ** 2 - 0.5 * math.log(2 * math.pi * h**2)
    return torch.logsumexp(log_kernels, dim=1) - math.log(len(samples))
    ### END SOLUTION


# %% tags=["check"]
# SciPy's gaussian_kde uses kernel std = bw_method × (sample std), so this choice gives kernel std h.
queries = torch.tensor([-3.0, -1.5, 0.0, 0.7, 2.5])
for h in (0.1, 0.4):
    scipy_kde = stats.gaussian_kde(x_train.numpy(), bw_method=h / x_train.numpy().std(ddof=1))
    exercises.expect_close(f"log p_h at five points, h = {h}",
                           exercises.call(1, kde_log_prob, queries, x_train, h),
                           scipy_kde.logpdf(queries.numpy()), exercise=1, rtol=1e-6)
far = exercises.call(1, kde_log_prob, torch.tensor([40.0]), x_train, 0.1)
exercises.expect_true("finite log-density far from every sample (log-sum-exp)",
                      bool(torch.isfinite(far).all()), exercise=1,
                      hint="exp(-(40 - x_n)² / 2h²) underflows to 0; work in log space with torch.logsumexp")

# %% [markdown]
# The bandwidth matters more than the kernel. Too small and the estimate is a comb of spikes on the
# training points (it has *memorised* them); too large and both modes melt into one bump.
# `course_lib.models.GaussianKDE` is the same estimator for any dimension (tested against SciPy);
# drag the slider to feel it, and watch the held-out log-likelihood in the title.

# %%
fig, axes = plt.subplots(1, 3, figsize=(12, 2.8), sharey=True)
for ax, h in zip(axes, (0.03, 0.3, 1.5)):
    ax.plot(grid, true_dist.log_prob(grid).exp(), "k--", label="$p_{data}$")
    ax.plot(grid, GaussianKDE(x_train[:, None], h).log_prob(grid[:, None]).exp(), color="C1", label="KDE")
    ax.set(title=f"h = {h}", xlabel="x", ylim=(0, 1.2))
axes[0].legend(fontsize=8);

# %%
KDEBandwidthExplorer(x_train, true_log_prob=true_dist.log_prob, held_out=x_val, bandwidth=0.3)

# %% [markdown]
# ## 4. Choosing the bandwidth: held-out log-likelihood
#
# Maximum likelihood picks parameters by maximising $\frac1N\sum_n \log p_\theta(\mathbf{x}_n)$. For
# the bandwidth this fails on the training set: as $h \to 0$ each training point sits under its
# own infinitely narrow bump and the training log-likelihood goes to $+\infty$. Evaluate instead on
# a **validation** sample the estimator has not seen, pick the best $h$ there, and report the
# **test** log-likelihood once at the end.

# %%
bandwidths = torch.logspace(-2, 0.5, 40)
train_ll = torch.stack([GaussianKDE(x_train[:, None], float(h)).log_prob(x_train[:, None]).mean() for h in bandwidths])
best_h, val_ll = select_bandwidth(x_train[:, None], x_val[:, None], bandwidths)
test_ll_kde = GaussianKDE(x_train[:, None], best_h).log_prob(x_test[:, None]).mean().item()
test_ll_true = true_dist.log_prob(x_test).mean().item()

fig, ax = plt.subplots(figsize=(6, 3))
ax.semilogx(bandwidths, train_ll, label="training log-likelihood")
ax.semilogx(bandwidths, val_ll, label="validation log-likelihood")
ax.axhline(test_ll_true, color="k", ls="--", label="true density (test)")
ax.axvline(best_h, color="C1", ls=":", label=f"chosen h = {best_h:.3f}")
ax.set(xlabel="bandwidth h", ylabel="mean log-likelihood (nats)", ylim=(-3, 2), title="Choosing h")
ax.legend(fontsize=8);
print(f"chosen h = {best_h:.3f}; test log-likelihood: KDE {test_ll_kde:.3f}, true density {test_ll_true:.3f} nats")

# %% tags=["check"]
exercises.expect_true("the training log-likelihood keeps growing as h shrinks",
                      bool((train_ll[:-1] > train_ll[1:]).all()))
exercises.expect_true("the validation log-likelihood peaks inside the range of h",
                      0 < int(val_ll.argmax()) < len(bandwidths) - 1)
exercises.expect_true("the chosen KDE is within 0.1 nats of the true density on the test set",
                      test_ll_true - 0.1 < test_ll_kde < test_ll_true + 0.05)

# %% [markdown]
# ## 5. Maximum likelihood for a Gaussian
#
# For a parametric model the same principle has a name: the **maximum-likelihood estimate**
# $\theta^* = \arg\max_\theta \sum_n \log p_\theta(\mathbf{x}_n)$. Maximising the average
# log-likelihood is the same as minimising $\mathrm{KL}(\hat p \,\|\, p_\theta)$, the divergence from
# the empirical distribution to the model — remember this when chapter 07 compares divergences.
#
# For a Gaussian in $D$ dimensions,
# $$ \log p(\mathbf X \mid \boldsymbol\mu, \boldsymbol\Sigma) = -\frac N2 \log\lvert 2\pi\boldsymbol\Sigma\rvert
#    - \frac12 \sum_n (\mathbf{x}_n - \boldsymbol\mu)^\top \boldsymbol\Sigma^{-1}(\mathbf{x}_n - \boldsymbol\mu). $$
# Setting the gradients to zero gives the closed form
# $\hat{\boldsymbol\mu} = \frac1N\sum_n \mathbf{x}_n$ and
# $\hat{\boldsymbol\Sigma} = \frac1N\sum_n (\mathbf{x}_n - \hat{\boldsymbol\mu})(\mathbf{x}_n - \hat{\boldsymbol\mu})^\top$
# — with $\frac1N$, not the unbiased $\frac1{N-1}$.
#
# ### Exercise 2 — the maximum-likelihood Gaussian
# Write `gaussian_mle(x)` returning `(mean, cov)` for data `x` of shape `(N, D)`. The check does not
# compare with a formula: it verifies that the log-likelihood gradient vanishes at your answer.

# %%
def gaussian_mle(x):
    """Maximum-likelihood mean (D,) and covariance (D, D) of x: (N, D)."""
    ### BEGIN SOLUTION
    mean = x.mean(dim=0)
    centered = x - mean
    cov = centered.T @ centered / len(x)
    return mean, cov
    ### END SOLUTION


# %%
x_gauss = torch.distributions.MultivariateNormal(
    torch.tensor([1.0, -2.0]), torch.tensor([[2.0, 1.2], [1.2, 1.5]])).sample((500,))


def gaussian_log_likelihood(x, mean, scale_tril):
    """Total log-likelihood of x (N, D) under N(mean, L Lᵀ), in nats."""
    return torch.distributions.MultivariateNormal(mean, scale_tril=scale_tril).log_prob(x).sum()


# %% tags=["check"]
mean_hat, cov_hat = exercises.call(2, gaussian_mle, x_gauss, returns=2)
mean_var = mean_hat.clone().requires_grad_(True)
tril_var = torch.linalg.cholesky(cov_hat).requires_grad_(True)
grad_mean, grad_tril = torch.autograd.grad(gaussian_log_likelihood(x_gauss, mean_var, tril_var), (mean_var, tril_var))
exercises.expect_close("∂ log-likelihood / ∂μ at your MLE", grad_mean, torch.zeros(2), exercise=2, atol=1e-6)
exercises.expect_close("∂ log-likelihood / ∂L (Σ = L Lᵀ) at your MLE", grad_tril.tril(), torch.zeros(2, 2),
                       exercise=2, atol=1e-6)
exercises.expect_true("your covariance is the 1/N (maximum-likelihood) one",
                      bool(torch.allclose(cov_hat, Gaussian.fit(x_gauss).covariance)), exercise=2,
                      hint="divide by N, not N - 1")

# %% [markdown]
# The closed form is the argmax; gradient ascent on the log-likelihood should find the same point
# from anywhere. Here Adam climbs from a deliberately bad start (parameterising
# $\boldsymbol\Sigma = \mathbf L\mathbf L^\top$ with a positive diagonal keeps it valid).

# %%
closed_form = Gaussian.fit(x_gauss)
mean_fit = torch.zeros(2, requires_grad=True)
raw_tril = torch.zeros(2, 2, requires_grad=True)  # L = tril(raw) with exp on the diagonal
optimizer = torch.optim.Adam([mean_fit, raw_tril], lr=0.05)
curve = []
for step in range(1500):
    tril = raw_tril.tril(-1) + torch.diag(raw_tril.diagonal().exp())
    loss = -gaussian_log_likelihood(x_gauss, mean_fit, tril) / len(x_gauss)
    optimizer.zero_grad()
    loss.backward()
    optimizer.step()
    curve.append(-loss.item())
tril = raw_tril.tril(-1) + torch.diag(raw_tril.diagonal().exp())
cov_fit = (tril @ tril.T).detach()
best_ll = closed_form.log_prob(x_gauss).mean().item()

fig, ax = plt.subplots(figsize=(6, 3))
ax.plot(curve, label="gradient ascent")
ax.axhline(best_ll, color="k", ls="--", label="closed-form MLE")
ax.set(xlabel="Adam step", ylabel="mean log-likelihood (nats)", ylim=(best_ll - 3, best_ll + 0.3),
       title="Gradient ascent reaches the closed-form maximum")
ax.legend(fontsize=8);
print("closed form μ, Σ:", closed_form.mean.numpy().round(3), closed_form.covariance.numpy().round(3).tolist())
print("gradient ascent μ, Σ:", mean_fit.detach().numpy().round(3), cov_fit.numpy().round(3).tolist())

# %% tags=["check"]
exercises.expect_close("gradient ascent finds the closed-form mean", mean_fit.detach(), closed_form.mean, atol=1e-3)
exercises.expect_close("gradient ascent finds the closed-form covariance", cov_fit, closed_form.covariance, atol=1e-3)
exercises.expect_true("no parameter does better than the closed form",
                      max(curve) <= best_ll + 1e-9)

# %% [markdown]
# ## 6. Density estimation in 2D, and sampling from a KDE
#
# The same estimators work in any dimension. Below: samples of two toy distributions, and the
# Gaussian KDE whose bandwidth was chosen on a validation sample.
#
# A KDE is also a **generative model**: to sample from $p_h$, pick a training point uniformly
# (which bump) and add Gaussian noise of std $h$ (where in the bump). Samples therefore look
# like the training data plus noise — a first hint of the *memorisation* question of chapter 08.
#
# ### Exercise 3 — sampling from a KDE
# Write `kde_sample(centers, h, n, generator)` returning `n` samples of shape `(n, D)` from the
# Gaussian KDE with the given centres `(N, D)` and bandwidth `h`. Draw all randomness from
# `generator` (`torch.randint(..., generator=generator)`, `torch.randn(..., generator=generator)`).

# %%
def kde_sample(centers, h, n, generator):
    """n samples (n, D) from the Gaussian KDE with centres (N, D) and bandwidth h."""
    ### BEGIN SOLUTION
    which = torch.randint(0, len(centers), (n,), generator=generator)
    return centers[which] + h * torch.randn(n, centers.shape[1], generator=generator, dtype=centers.dtype)
    ### END SOLUTION


# %% tags=["check"]
# The mixture's moments: E[x] = mean of the centres, Cov[x] = Cov(centres) (1/N) + h² I.
centers = data.eight_gaussians(400, generator=torch.Generator().manual_seed(1)).double()
draws = exercises.call(3, kde_sample, centers, 0.5, 200_000, torch.Generator().manual_seed(2))
exercises.expect_true("samples have shape (n, D)", tuple(draws.shape) == (200_000, 2), exercise=3)
exercises.expect_close("mean of the samples", draws.mean(0), centers.mean(0), exercise=3, atol=0.02)
expected_cov = torch.cov(centers.T, correction=0) + 0.25 * torch.eye(2)
exercises.expect_close("covariance of the samples = Cov(centres) + h² I", torch.cov(draws.T), expected_cov,
                       exercise=3, atol=0.04)
first, again = (exercises.call(3, kde_sample, centers, 0.5, 10, torch.Generator().manual_seed(4)) for _ in range(2))
exercises.expect_close("same generator seed, same samples", again, first, exercise=3)

# %%
fig, axes = plt.subplots(2, 3, figsize=(12, 8))
for row, name in enumerate(("moons", "eight_gaussians")):
    sampler = data.TOY_SAMPLERS[name]
    train_2d, val_2d = sampler(1000).double(), sampler(1000).double()
    h_2d, _ = select_bandwidth(train_2d, val_2d, torch.logspace(-2, 0, 25))
    kde_2d = GaussianKDE(train_2d, h_2d)
    plotting.scatter(train_2d, title=f"{name}: 1000 training points", ax=axes[row, 0])
    plotting.density_heatmap(kde_2d.log_prob, title=f"KDE, h = {h_2d:.3f} (chosen on validation)",
                             ax=axes[row, 1])
    plotting.scatter(kde_2d.sample(1000), title="1000 samples from the KDE", ax=axes[row, 2])
for ax in axes.flat:
    ax.set(xlim=(-3, 3), ylim=(-3, 3))
fig.tight_layout();

# %% [markdown]
# ## 7. Discriminative vs generative: the confident classifier and the unlikely input
#
# A **discriminative** model learns $p(y \mid \mathbf{x})$; a **generative** model learns
# $p(\mathbf{x})$ (or $p(\mathbf{x}, y)$). The joint factorises as
# $$ p(y, \mathbf{x}) = p(y \mid \mathbf{x})\, p(\mathbf{x}), $$
# and the second factor is exactly what a classifier lacks. Train a logistic regression on two
# classes, blue and red, then ask about a point $\mathbf{x}^\star$ far from all the data: the
# classifier is *certain* — $p(\text{blue} \mid \mathbf{x}^\star) > 0.99$ — because its decision
# function keeps growing away from the boundary. A density model of $\mathbf{x}$ says
# $\mathbf{x}^\star$ is far less plausible than any training point: the decision is confident, but
# the input is one the model has never seen anything like. (Tomczak's panda example; and see
# Nalisnick et al., 2019, for how deep density models can themselves be fooled.)

# %%
x_cls, y_cls = data.labelled_blobs(400)
x_cls = x_cls.double()
classifier = LogisticRegression().fit(x_cls.numpy(), y_cls.numpy())
density = GaussianKDE(x_cls, select_bandwidth(x_cls[::2], x_cls[1::2], torch.logspace(-1.5, 0, 20))[0])

x_star = torch.tensor([[-6.0, 5.0]])
p_blue_star = classifier.predict_proba(x_star.numpy())[0, 0]
log_p_star = density.log_prob(x_star).item()
log_p_train = density.log_prob(x_cls)
print(f"p(blue | x*) = {p_blue_star:.4f}")
print(f"log p(x*) = {log_p_star:.1f} nats; training points: min {log_p_train.min():.1f}, "
      f"median {log_p_train.median():.1f} nats")

xx, yy = torch.meshgrid(torch.linspace(-7, 4, 200), torch.linspace(-4, 7, 200), indexing="xy")
points = torch.stack([xx.flatten(), yy.flatten()], 1)
fig, (ax_c, ax_d) = plt.subplots(1, 2, figsize=(11, 4.5))
prob_blue = classifier.predict_proba(points.numpy())[:, 0].reshape(200, 200)
ax_c.contourf(xx, yy, prob_blue, levels=20, cmap="coolwarm_r")
ax_c.set_title("classifier: p(blue | x)")
ax_d.contourf(xx, yy, density.log_prob(points).reshape(200, 200).clamp(min=-30), levels=20, cmap="viridis")
ax_d.set_title("density: log p(x) (clipped at -30)")
for ax in (ax_c, ax_d):
    ax.scatter(x_cls[:, 0], x_cls[:, 1], c=y_cls, cmap="coolwarm", s=4)
    ax.scatter(*x_star[0], marker="*", s=300, c="gold", edgecolors="k", label="x*")
    ax.legend(loc="lower right")
    ax.set_aspect("equal");

# %% tags=["check"]
exercises.expect_true("the classifier is confident at x*: p(blue | x*) > 0.99", p_blue_star > 0.99)
exercises.expect_true("the density finds x* far less likely than every training point",
                      log_p_star < log_p_train.min().item() - 10)

# %% [markdown]
# <a id="taxonomy"></a>
# ## 8. A taxonomy of deep generative models
#
# Maximum likelihood needs $\log p_\theta(\mathbf{x})$. Deep generative models differ in how they
# get it — exactly, approximately, or not at all (Goodfellow, 2016). The last column names the chapter
# that builds each family; those chapters link back to this table.
#
# | density | how $p_\theta(\mathbf{x})$ is handled | family | examples | chapter |
# |---|---|---|---|---|
# | **explicit, tractable** | chain rule $p(\mathbf{x}) = \prod_d p(x_d \mid \mathbf{x}_{<d})$ | autoregressive / fully visible belief nets | FVSBN, NADE, MADE, PixelCNN, WaveNet | [03](03_autoregressive.ipynb) |
# | **explicit, tractable** | change of variables $p_x(\mathbf{x}) = p_z(g(\mathbf{x}))\,\lvert\det \partial g/\partial\mathbf{x}\rvert$ | normalizing flows | NICE, RealNVP, MAF, IAF, Glow | 05 |
# | **explicit, approximate** | variational lower bound (ELBO) | latent variable models | VAE, IWAE | [04](04_variational_autoencoders.ipynb) |
# | **explicit, approximate** | Markov chain (MCMC) | undirected energy models | Boltzmann machines, RBM, DBM | 09 |
# | **implicit** | none: a sampler trained through a game | direct | GAN, WGAN | 06, 07 |
# | **implicit** | none: a Markov chain whose stationary distribution is the model | Markov chain | generative stochastic networks (GSN) | 09 |
#
# The models of this chapter — histograms, KDEs, the Gaussian — are explicit and tractable but
# *shallow*: the next section shows why they cannot be the end of the story.

# %% [markdown]
# ## 9. The curse of dimensionality
#
# A histogram with $B$ bins per axis has $B^D$ bins in $D$ dimensions. With a fixed number of
# training points almost every bin is empty once $D$ is moderate, so almost every *new* point falls
# in a bin with no data, where the histogram says $p(\mathbf{x}) = 0$. Kernels soften the blow but
# not the arithmetic: local averaging needs data in every neighbourhood (Bellman, 1961).
#
# ### Exercise 4 — how many test points land in an empty bin?
# Write `empty_bin_fraction(train, test, bins, low, high)`: the fraction of rows of `test` (shape
# `(M, D)`) whose bin — the grid of `bins` bins per axis over $[\text{low}, \text{high})^D$ — holds no
# row of `train` (shape `(N, D)`). Points are inside the range. Hint: the bin of a row is the integer
# vector $\lfloor (\mathbf{x} - \text{low}) / \Delta \rfloor$; turn each into a tuple and use a `set`.

# %%
def empty_bin_fraction(train, test, bins, low, high):
    """Fraction (a float in [0, 1]) of test rows whose histogram bin holds no training row."""
    ### BEGIN SOLUTION
    width = (high - low) / bins
    occupied = {tuple(row) for row in torch.floor((train - low) / width).long().tolist()}
    cells = torch.floor((test - low) / width).long().tolist()
    return sum(tuple(cell) not in occupied for cell in cells) / len(cells)
    ### END SOLUTION


# %% tags=["check"]
check_gen = torch.Generator().manual_seed(3)
train_check = torch.rand(300, 3, generator=check_gen) * 2 - 1
test_check = torch.rand(500, 3, generator=check_gen) * 2 - 1
reference = HistogramDensity(train_check, bins=6, low=-1, high=1)
exercises.expect_close("empty-bin fraction in 3D, 6 bins per axis",
                       exercises.call(4, empty_bin_fraction, train_check, test_check, 6, -1.0, 1.0),
                       (reference.count(test_check) == 0).double().mean(), exercise=4)
exercises.expect_close("no empty bins when test = train",
                       exercises.call(4, empty_bin_fraction, train_check, train_check, 6, -1.0, 1.0), 0.0,
                       exercise=4)

# %%
dims = list(range(1, 11))
empty = []
for d in dims:
    normal = torch.distributions.Normal(0.0, 1.0)
    train_d = normal.sample((1000, d)).clamp(-3.99, 3.99)
    test_d = normal.sample((1000, d)).clamp(-3.99, 3.99)
    histogram = HistogramDensity(train_d, bins=10, low=-4, high=4)
    empty.append((histogram.count(test_d) == 0).double().mean().item())

fig, ax = plt.subplots(figsize=(6, 3))
ax.plot(dims, empty, "o-")
ax.set(xlabel="dimension D", ylabel="test points in an empty bin", ylim=(0, 1.02),
       title="1000 Gaussian samples, 10 bins per axis")
ax.secondary_xaxis("top", functions=(lambda d: d, lambda d: d)).set_xlabel("(10^D bins)");
print({d: round(f, 3) for d, f in zip(dims, empty)})

# %% tags=["check"]
exercises.expect_true("in 1D hardly any test point falls in an empty bin", empty[0] < 0.01)
exercises.expect_true("by D = 8 most test points fall in an empty bin", empty[7] > 0.5)
exercises.expect_true("the empty fraction grows with D", bool(np.all(np.diff(empty) > -0.02)))

# %% [markdown]
# ## 10. A first model of the digits: nats per image
#
# The course's running data set: scikit-learn's 8×8 handwritten digits, 64 pixels with 17 grey
# levels (0–16), split as in Tomczak's *Deep Generative Modeling* code: 1000 training, 350
# validation and 447 test images. Every chapter reports the **negative log-likelihood on the test
# images in nats per image**, so that all models meet on one leaderboard, and in bits per
# dimension $= \text{NLL} / (64 \ln 2)$.
#
# The data are **discrete**. A discrete model (below: independent pixels) gives the exact
# probability $P(\mathbf{x})$. A continuous density such as the KDE is fitted to *dequantized*
# images $\mathbf{x} + \mathbf{u}$, $\mathbf{u} \sim \mathcal U[0, 1)^{64}$; because each grey level
# owns a unit cell, $\log P(\mathbf{x}) \ge \mathbb E_{\mathbf u} \log p(\mathbf{x} + \mathbf{u})$ and
# the reported number is an upper bound on the discrete NLL (Theis et al., 2016). The scale stays in
# grey levels, so no Jacobian term appears. Two reference points: the uniform distribution over the
# $17^{64}$ images costs $64 \ln 17 \approx 181.3$ nats; **independent pixels** — one 17-bin histogram
# per pixel, i.e. the 1D histogram of §2 applied 64 times — ignore every dependency between pixels.

# %%
split = data.load_dataset(DATASET)
dims_image = split.train.x[0].numel()
plotting.image_grid(split.train.x[:32], nrow=16, levels=split.levels, title="training digits");

# %%
uniform_nll = dims_image * math.log(split.levels)
independent = FactorizedCategorical.fit(split.train.x, split.levels)
independent_nll = mean_nll(independent, split.test.x)

noise = torch.Generator().manual_seed(0)
train_deq = data.dequantize(split.train.x, noise).to(device())  # on a GPU when there is one (MNIST)
val_deq = data.dequantize(split.val.x, noise).to(device())
# Candidate bandwidths in grey levels, relative to the number of levels so the grid suits any data set.
h_digits, val_scores = select_bandwidth(train_deq, val_deq, torch.logspace(-1.5, -0.5, 13) * split.levels)
kde_digits = GaussianKDE(train_deq, h_digits)
kde_nll = mean_nll(kde_digits, split.test.x, dequantize=True, generator=noise)

rows = [("uniform over all images", uniform_nll), ("independent pixels (exact)", independent_nll),
        (f"Gaussian KDE, h = {h_digits:.2f} (dequantization bound)", kde_nll)]
display(Markdown("| model | test NLL (nats/image) | bits/dim |\n|---|---|---|\n" + "\n".join(
    f"| {name} | {nll:.1f} | {bits_per_dim(nll, dims_image):.3f} |" for name, nll in rows)))

# %%
fig, (ax_a, ax_b) = plt.subplots(1, 2, figsize=(10, 3))
plotting.image_grid(independent.sample(16), nrow=8, levels=split.levels, title="independent pixels: samples", ax=ax_a)
plotting.image_grid(kde_digits.sample(16).cpu().clamp(0, split.levels), nrow=8, levels=split.levels,
                    title=f"KDE samples (h = {h_digits:.2f})", ax=ax_b);

# %% tags=["check"]
exercises.expect_true("both models beat the uniform distribution", max(independent_nll, kde_nll) < uniform_nll)
exercises.expect_true("the chosen digit bandwidth is inside the searched range",
                      0 < int(val_scores.argmax()) < len(val_scores) - 1)

# %% [markdown]
# Look at the numbers. The KDE — a mixture of 1000 Gaussians, one per training image — is *worse*
# than a model that ignores all dependencies between pixels: in 64 dimensions a test image is far
# from every training image, the curse of §9 again. Its samples are training digits plus noise.
# Its samples look like digits; the independent-pixel samples do not, although that model has the
# better likelihood — likelihood and sample quality are different things (chapter 08). The models of
# the next chapters keep the likelihood but learn *structure*: mixtures and latent variables
# (chapter 02), autoregressive conditionals (chapter 03), and beyond. Both results go on the course
# leaderboard.

# %%
leaderboard.record("Independent pixels (factorized categorical)", 1, independent_nll, dims_image,
                   dataset=DATASET, bound="exact")
leaderboard.record("Gaussian KDE (Parzen window)", 1, kde_nll, dims_image, dataset=DATASET,
                   bound="dequantization bound")
Markdown(leaderboard.table(DATASET))

# %% [markdown]
# ## Further exercises (no checks)
# 5. Replace the Gaussian kernel by a uniform (box) kernel. What happens to the held-out
#    log-likelihood of §4, and why is the box kernel a "moving histogram"?
# 6. Leave-one-out cross-validation chooses $h$ without a validation set: score each training point
#    under the KDE of the *other* points. Implement it and compare the chosen $h$ with §4's.
# 7. Why is the uniform-dequantization number an *upper* bound on the discrete NLL? Write the one-line
#    Jensen argument.
#
# ## Summary
# - The empirical distribution is where every estimator starts; a density estimate spreads its mass.
# - Histograms and KDEs trade bias against variance through the bin width / bandwidth; choose it by
#   **held-out** log-likelihood, because the training likelihood rewards memorisation.
# - Maximum likelihood = minimum $\mathrm{KL}(\hat p \,\|\, p_\theta)$; for a Gaussian it is the sample
#   mean and the $1/N$ covariance, the point where the gradient vanishes.
# - $p(y, \mathbf{x}) = p(y \mid \mathbf{x})\,p(\mathbf{x})$: a density flags inputs a classifier is
#   wrongly sure about.
# - Local estimators die of the curse of dimensionality; deep generative models (taxonomy, §8) learn
#   structure instead. Likelihoods are reported in nats per image and bits per dimension.
#
# ## References
# - Rosenblatt, M. (1956). Remarks on some nonparametric estimates of a density function.
# - Parzen, E. (1962). On estimation of a probability density function and mode.
# - Bellman, R. (1961). *Adaptive Control Processes*.
# - Silverman, B. W. (1986). *Density Estimation for Statistics and Data Analysis*.
# - Bishop, C. M. (2006). *Pattern Recognition and Machine Learning*, §2.3 and §2.5.
# - Goodfellow, I. (2016). NIPS 2016 tutorial: generative adversarial networks (the taxonomy).
# - Theis, L., van den Oord, A., & Bethge, M. (2016). A note on the evaluation of generative models.
# - Nalisnick, E., et al. (2019). Do deep generative models know what they don't know?
# - Tomczak, J. M. (2022). *Deep Generative Modeling*.


# %% tags=["check"]
# Every check run in this session: "all passed", or the list of those that failed. Stuck on one exercise?
# Run `exercises.keep_going()` once: a failed check then prints a red ✘ and "Run All" goes on to the end.
exercises.report()
