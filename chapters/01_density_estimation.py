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
# 1. say what a model of $p(\mathbf{x})$ is for — anomalies, missing data, several correct answers,
#    semi-supervised learning, simulation — and what self-supervised learning gives instead;
# 2. tell the data distribution from the empirical distribution of a sample;
# 3. build histogram and kernel (Parzen) density estimates in 1D and 2D, evaluate them in log space, and
#    sample from a KDE;
# 4. choose a bandwidth by **held-out log-likelihood**, and say why the training likelihood cannot;
# 5. derive the maximum-likelihood Gaussian, check numerically that it is the maximiser, and say what
#    divergence maximum likelihood minimises;
# 6. weigh discriminative against generative models, and use $p(y, \mathbf{x}) = p(y \mid \mathbf{x})\,
#    p(\mathbf{x})$ to flag a confident classifier's unlikely input;
# 7. place every deep generative model of the course in one taxonomy (autoregressive, latent variable,
#    implicit);
# 8. see the curse of dimensionality, fit the independent-pixel model with a pseudocount (and see why it
#    needs one), and measure models of the digits in **nats per image**.
#
# **Exercises** (checked: each is followed by a cell that tells you whether your answer is right, and why not)
#
# | # | you write | section |
# |---|---|---|
# | 1 | the log-density of a Gaussian KDE in any dimension, in log space | §3 |
# | 2 | a sampler for the KDE, drawing from one random generator | §3 |
# | 3 | the maximum-likelihood Gaussian (derived, not given) | §5 |
# | 4 | the fraction of test points that land in an empty histogram bin | §9 |
# | 5 | the independent-pixel model: per-pixel level probabilities with a pseudocount | §10 |
#
# Everything runs on a laptop CPU in well under two minutes. The knob below switches the digit sections
# (§10–§11) to MNIST (local files, see the README); the rest of the chapter does not depend on it.

# %%
DATASET = "digits"  # "digits" (bundled, CPU) or "mnist" / "fashion_mnist" (local IDX files in $DGM_DATA)

import math
import time

import matplotlib.pyplot as plt
import numpy as np
import torch
from IPython.display import Markdown, display
from scipy import stats
from sklearn.linear_model import LogisticRegression

from course_lib.data import load_dataset
from course_lib.evaluation import bits_per_dim, gallery, leaderboard, mean_nll
from course_lib.runtime import device, seed_everything
from course_lib.teaching import exercises
from course_lib.viz import plotting

seed_everything(0)
torch.set_default_dtype(torch.float64)  # 1D/2D work is tiny; double precision keeps the checks sharp
split = load_dataset(DATASET)

# %% [markdown]
# ## What is a model of $p(\mathbf{x})$ for?
#
# A classifier answers one question about an input. A model of the inputs themselves answers many, because
# it can say how *plausible* any input is, and *produce* new ones — whole or in part:
#
# | use | what the model of $p(\mathbf{x})$ does | where in the course |
# |---|---|---|
# | **anomaly detection**, uncertain decisions | a low $p(\mathbf{x})$ flags an input unlike the training data, even when a classifier is sure of its label (Tomczak's panda) | §7; digits in §11 |
# | **missing data**, inpainting | fills the missing part by sampling $p(\mathbf{x}_{\text{missing}} \mid \mathbf{x}_{\text{observed}})$ (Yeh et al., 2017: a face behind a mask) | §11; chapter [03](03_autoregressive.ipynb) |
# | **several correct answers** | a sample commits to *one* plausible output; a regression trained on squared error returns their average, a blur (next-frame prediction, Lotter et al., 2016) | §11; chapter [04](04_variational_autoencoders.ipynb) |
# | **conditional structured prediction** | $p(\mathbf{y} \mid \mathbf{x})$ where the output $\mathbf{y}$ is itself an image or a sequence: inpainting, colorization (Royer et al., 2017), text-to-image (Zhang et al., 2017), image-to-image translation (Isola et al., 2017), video forecasting | class-conditional models in chapters 03, 06 and 08 |
# | **semi-supervised learning** | unlabelled examples shape $p(\mathbf{x})$, and through it the features a few labels train on (Kingma et al., 2014; Salimans et al., 2016) | chapter 06 (BiGAN features from few labels) |
# | **simulation and planning** | samples stand in for an expensive simulator (particle physics), a training set (Shrivastava et al., 2017, refining synthetic eyes) or the world an agent plans in (Ha & Schmidhuber, 2018) | — |
# | **representations** | latent codes that can be interpolated and edited (Radford et al., 2016; InfoGAN, Chen et al., 2016) | chapters 04–06 |
#
# **Self-supervised learning is not generative modelling.** It trains a *conditional* model $p(y \mid \mathbf{x})$
# on a label $y$ made from the data itself — the next word (word2vec, Mikolov et al., 2013), the relative
# position of two patches (Doersch et al., 2015), the order of video frames, the missing centre of an image
# (Pathak et al., 2016) — and keeps the network's features for a downstream task with few labels. That
# learns structure from unlabelled data too, but the model describes the made-up label, not $\mathbf{x}$: it
# cannot evaluate $p(\mathbf{x})$, and it cannot sample. A generative model $p_\theta(\mathbf{x})$ is fitted to
# unlabelled data *and* can draw new examples. Everything below is about building one.

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
ax_pdf.plot(x_train, np.zeros(len(x_train)), "|", markersize=12, label=f"{len(x_train)} samples = spikes of $\\hat p$")
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
# **variance** (narrow bins, noisy counts) against **bias** (wide bins, blurred shape). An empty bin gets
# density zero: a new point that falls there gets log-likelihood $-\infty$. §10 meets this problem on the
# digits, and the usual cure, a *pseudocount*.

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
# **bandwidth**) centred on the example — and average the bumps:
#
# $$ p_h(\mathbf{x}) = \frac1N \sum_{n=1}^N \mathcal N(\mathbf{x};\, \mathbf{x}_n, h^2 \mathbf{I}). $$
#
# In code we always work with $\log p$. Far from the data every bump $\mathcal N(\mathbf{x}; \mathbf{x}_n,
# h^2\mathbf{I})$ underflows to exactly zero in floating point, and the log of their sum is $-\infty$ although
# the true value is a perfectly ordinary negative number. The cure is to never leave log space: compute the
# $N$ log-kernels, then combine them with `torch.logsumexp`, which factors out the largest term before
# exponentiating.
#
# ### Exercise 1 — the log-density of a KDE
# Write `kde_log_prob(x, centers, h)`: for each of the $M$ query points in `x` (shape `(M, D)`),
# $\log p_h(\mathbf{x})$ in nats for the Gaussian KDE with centres `centers` (shape `(N, D)`) and bandwidth
# `h` (a float, the standard deviation of every kernel in every direction); return shape `(M,)`. It must
# work in any dimension $D$ (the checks use $D = 1$ and $D = 2$) and give a finite answer far from every
# centre.

# %%
def kde_log_prob(x, centers, h):
    """log p_h(x) for a Gaussian KDE; x: (M, D), centers: (N, D), h > 0 → (M,) nats."""
    ### BEGIN SOLUTION
    squared_distances = ((x[:, None, :] - centers[None, :, :]) ** 2).sum(-1)            # (M, N)
    log_kernels = -squared_distances / (2 * h**2) - 0.5 * x.shape[1] * math.log(2 * math.pi * h**2)
    return torch.logsumexp(log_kernels, dim=1) - math.log(len(centers))
    ### END SOLUTION


# %% tags=["check"]
# Independent references: SciPy's gaussian_kde in 1D (its kernel std is bw_method × the sample std, so this
# bw_method gives std h) and torch.distributions' equal-weight Gaussian mixture in 2D.
kde_gen = torch.Generator().manual_seed(11)
centers_1d = torch.randn(50, 1, generator=kde_gen)
queries_1d = torch.tensor([[-3.0], [-1.5], [0.0], [0.7], [2.5]])
for h in (0.1, 0.4):
    scipy_kde = stats.gaussian_kde(centers_1d[:, 0].numpy(), bw_method=h / centers_1d[:, 0].numpy().std(ddof=1))
    exercises.expect_close(f"D = 1: log p_h at five points, h = {h} (scipy.stats.gaussian_kde)",
                           exercises.call(1, kde_log_prob, queries_1d, centers_1d, h),
                           scipy_kde.logpdf(queries_1d[:, 0].numpy()), exercise=1, rtol=1e-6,
                           hint="p_h is the *mean* of the N kernel values (take the log after averaging, not before); "
                                "each kernel is a Gaussian density whose standard deviation is h")
centers_2d = 2 * torch.randn(30, 2, generator=kde_gen)
queries_2d = torch.cat([3 * torch.randn(6, 2, generator=kde_gen), torch.tensor([[40.0, -40.0]])])
mixture = torch.distributions.MixtureSameFamily(
    torch.distributions.Categorical(torch.ones(30)),
    torch.distributions.Independent(torch.distributions.Normal(centers_2d, 0.3), 1))
exercises.expect_close("D = 2: an equal-weight mixture of N(x_n, h² I), h = 0.3, the last point far from every centre "
                       "(torch.distributions)", exercises.call(1, kde_log_prob, queries_2d, centers_2d, 0.3),
                       mixture.log_prob(queries_2d), exercise=1, rtol=1e-6,
                       hint="far from every centre each kernel underflows to 0 and log(0) = -inf: stay in log space "
                            "(torch.logsumexp over the N log-kernels); in D dimensions the Gaussian's normaliser "
                            "is counted once per dimension")

# %% [markdown]
# A KDE is also a **generative model**, and an easy one to sample: $p_h$ is a *mixture* of $N$ Gaussians
# with equal weights. To draw from a mixture, first draw *which* component, then draw from that component;
# no density is evaluated. So samples of a KDE are training points plus noise — a first hint of the
# *memorisation* question of chapter 08.
#
# ### Exercise 2 — sampling from a KDE
# Write `kde_sample(centers, h, n, generator)` returning `n` samples, shape `(n, D)`, from the Gaussian
# KDE with centres `centers` (shape `(N, D)`) and bandwidth `h`. Take every random number from `generator`
# (a `torch.Generator`; `torch.randint` and `torch.randn` accept `generator=`), so that the same seed gives
# the same samples.

# %%
def kde_sample(centers, h, n, generator):
    """n samples (n, D) from the Gaussian KDE with centres (N, D) and bandwidth h."""
    ### BEGIN SOLUTION
    component = torch.randint(0, len(centers), (n,), generator=generator)
    return centers[component] + h * torch.randn(n, centers.shape[1], generator=generator, dtype=centers.dtype)
    ### END SOLUTION


# %% tags=["check"]
# The mixture's moments: E[x] = mean of the centres, Cov[x] = Cov(centres) (1/N) + h² I; and in 1D the
# whole distribution, by a Kolmogorov–Smirnov test against the mixture's CDF.
centers_wide = torch.randn(400, 2, generator=torch.Generator().manual_seed(1)) * torch.tensor([1.5, 1.0])
draws = exercises.call(2, kde_sample, centers_wide, 0.5, 200_000, torch.Generator().manual_seed(2))
exercises.expect_true("samples have shape (n, D)", tuple(draws.shape) == (200_000, 2), exercise=2)
exercises.expect_close("mean of the samples = mean of the centres", draws.mean(0), centers_wide.mean(0),
                       exercise=2, atol=0.02)
exercises.expect_close("covariance of the samples = Cov(centres) + h² I", torch.cov(draws.T),
                       torch.cov(centers_wide.T, correction=0) + 0.25 * torch.eye(2), exercise=2, atol=0.04,
                       hint="each sample is one centre (chosen at random, anew for every sample) plus N(0, h² I) noise: "
                            "h is the standard deviation")
centers_line = torch.randn(100, 1, generator=torch.Generator().manual_seed(5))
draws_line = exercises.call(2, kde_sample, centers_line, 0.3, 20_000, torch.Generator().manual_seed(6))
ks_test = stats.kstest(draws_line[:, 0].numpy(),
                       lambda t: stats.norm.cdf((t[:, None] - centers_line[:, 0].numpy()) / 0.3).mean(1))
exercises.expect_true("in 1D the samples follow the KDE's CDF (Kolmogorov–Smirnov p-value > 0.001)",
                      bool(ks_test.pvalue > 1e-3), exercise=2)
first, again = (exercises.call(2, kde_sample, centers_wide, 0.5, 10, torch.Generator().manual_seed(4)) for _ in range(2))
exercises.expect_close("same generator seed, same samples", again, first, exercise=2,
                       hint="draw every random number from `generator` (generator=generator), not from the global RNG")

# %% [markdown]
# The bandwidth matters more than the kernel. Too small and the estimate is a comb of spikes on the
# training points (it has *memorised* them); too large and both modes melt into one bump. From here on the
# chapter uses `course_lib.models.GaussianKDE`, the estimator of the two exercises with a `log_prob` and a
# `sample` (tested against SciPy); drag the slider to feel the bandwidth, and watch the held-out
# log-likelihood in the title.

# %%
from course_lib import data   # toy data sets (its gaussian_mixture is Exercise 2's sampler)
from course_lib.models import GaussianKDE, select_bandwidth
from course_lib.viz import KDEBandwidthExplorer

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
# $\theta^* = \arg\max_\theta \sum_n \log p_\theta(\mathbf{x}_n)$. What does it minimise? The average
# log-likelihood is an expectation under the empirical distribution,
# $\frac1N\sum_n \log p_\theta(\mathbf{x}_n) = \mathbb E_{\mathbf{x} \sim \hat p}\log p_\theta(\mathbf{x})$, so maximum
# likelihood minimises the **cross-entropy** $H(\hat p, p_\theta) = -\mathbb E_{\hat p} \log p_\theta$. As $N$
# grows this tends to
#
# $$ -\mathbb E_{p_{\text{data}}} \log p_\theta(\mathbf{x}) = H(p_{\text{data}}) + \mathrm{KL}(p_{\text{data}} \,\|\, p_\theta), $$
#
# and the entropy $H(p_{\text{data}})$ does not depend on $\theta$: maximum likelihood minimises
# $\mathrm{KL}(p_{\text{data}} \,\|\, p_\theta)$ up to that constant — the *forward* KL, which punishes a model
# that puts little mass where the data are (chapter 07 compares it with other divergences). The same identity
# is why a **test NLL** measures a model: it estimates $H(p_{\text{data}}) + \mathrm{KL}(p_{\text{data}}\,\|\,p_\theta)$,
# so the difference of two models' test NLLs estimates the difference of their KLs, although neither KL is
# known. Mind which distribution sits where: $\mathrm{KL}(\hat p \,\|\, p_\theta)$ is no use for a continuous
# model — the spikes of $\hat p$ have no density with respect to $p_\theta$, and that KL is $+\infty$ for every
# $\theta$. (For discrete data, such as the digits of §10, $\mathrm{KL}(\hat p \,\|\, P_\theta) = -H(\hat p) -
# \mathbb E_{\hat p}\log P_\theta$ is finite, and maximum likelihood minimises it exactly.)
#
# For a Gaussian in $D$ dimensions the log-likelihood of $N$ examples is
#
# $$ \log p(\mathbf X \mid \boldsymbol\mu, \boldsymbol\Sigma) = -\frac N2 \log\lvert 2\pi\boldsymbol\Sigma\rvert
#    - \frac12 \sum_n (\mathbf{x}_n - \boldsymbol\mu)^\top \boldsymbol\Sigma^{-1}(\mathbf{x}_n - \boldsymbol\mu). $$
#
# ### Exercise 3 — the maximum-likelihood Gaussian
# Find the maximiser yourself: set the gradients with respect to $\boldsymbol\mu$ and $\boldsymbol\Sigma$ to
# zero and solve (the identities $\partial \log\lvert\boldsymbol\Sigma\rvert / \partial\boldsymbol\Sigma =
# \boldsymbol\Sigma^{-1}$ and $\partial\, \mathbf a^\top \boldsymbol\Sigma^{-1}\mathbf a / \partial\boldsymbol\Sigma =
# -\boldsymbol\Sigma^{-1}\mathbf a\mathbf a^\top\boldsymbol\Sigma^{-1}$ for symmetric $\boldsymbol\Sigma$ are all
# you need). Then write `gaussian_mle(x)` returning `(mean, cov)`, shapes `(D,)` and `(D, D)`, for data `x` of
# shape `(N, D)`: exactly the maximiser, whatever estimate a statistics library would return by default. The
# check compares with NumPy, and asks autograd whether the gradient of the log-likelihood vanishes at your
# answer.

# %%
def gaussian_mle(x):
    """Maximum-likelihood mean (D,) and covariance (D, D) of x: (N, D)."""
    ### BEGIN SOLUTION
    mean = x.mean(dim=0)
    centered = x - mean
    return mean, centered.T @ centered / len(x)
    ### END SOLUTION


# %% tags=["check"]
mle_gen = torch.Generator().manual_seed(7)
true_scale = torch.linalg.cholesky(torch.tensor([[2.0, 1.2, 0.3], [1.2, 1.5, -0.4], [0.3, -0.4, 1.0]]))
x_check = torch.randn(500, 3, generator=mle_gen) @ true_scale.T + torch.tensor([1.0, -2.0, 0.5])
mean_hat, cov_hat = exercises.call(3, gaussian_mle, x_check, returns=2)
exercises.expect_close("the mean (NumPy's mean over the N rows)", mean_hat, x_check.numpy().mean(axis=0), exercise=3)
exercises.expect_close("the covariance (NumPy's maximum-likelihood covariance)", cov_hat,
                       np.cov(x_check.numpy(), rowvar=False, bias=True), exercise=3,
                       hint="set ∂/∂Σ to zero and solve: the maximiser is built from the deviations from μ; which "
                            "normalisation does it have?")
mean_var = mean_hat.detach().clone().requires_grad_(True)
tril_var = torch.linalg.cholesky(cov_hat.detach()).requires_grad_(True)
log_lik = torch.distributions.MultivariateNormal(mean_var, scale_tril=tril_var).log_prob(x_check).sum()
grad_mean, grad_tril = torch.autograd.grad(log_lik, (mean_var, tril_var))
exercises.expect_close("∂ log-likelihood / ∂μ = 0 at your answer (autograd)", grad_mean, torch.zeros(3), exercise=3,
                       atol=1e-6)
exercises.expect_close("∂ log-likelihood / ∂L = 0 at your answer (Σ = L Lᵀ, autograd)", grad_tril.tril(),
                       torch.zeros(3, 3), exercise=3, atol=1e-6)

# %% [markdown]
# The maximiser is the sample mean $\hat{\boldsymbol\mu} = \frac1N\sum_n \mathbf{x}_n$ and the covariance
# $\hat{\boldsymbol\Sigma} = \frac1N\sum_n (\mathbf{x}_n - \hat{\boldsymbol\mu})(\mathbf{x}_n - \hat{\boldsymbol\mu})^\top$
# — with $\frac1N$, not the unbiased $\frac1{N-1}$ that `torch.cov` and `np.cov` return by default: the
# maximum-likelihood covariance is biased, $\mathbb E\hat{\boldsymbol\Sigma} = \frac{N-1}{N}\boldsymbol\Sigma$.
# `course_lib.models.Gaussian.fit` computes it.
#
# The closed form is the argmax; gradient ascent on the log-likelihood should find the same point
# from anywhere. Here Adam climbs from a deliberately bad start (parameterising
# $\boldsymbol\Sigma = \mathbf L\mathbf L^\top$ with a positive diagonal keeps it valid).

# %%
from course_lib.models import Gaussian

true_gauss = torch.distributions.MultivariateNormal(torch.tensor([1.0, -2.0]), torch.tensor([[2.0, 1.2], [1.2, 1.5]]))
x_gauss = true_gauss.sample((500,))


def gaussian_log_likelihood(x, mean, scale_tril):
    """Total log-likelihood of x (N, D) under N(mean, L Lᵀ), in nats."""
    return torch.distributions.MultivariateNormal(mean, scale_tril=scale_tril).log_prob(x).sum()


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
# **Maximum likelihood approaches $p_{\text{data}}$.** Here we know $p_{\text{data}}$ (the Gaussian that made
# `x_gauss`), so $\mathrm{KL}(p_{\text{data}} \,\|\, p_{\hat\theta_N})$ of the fitted Gaussian can be computed in
# closed form (`torch.distributions.kl_divergence`). Averaged over many samples of size $N$, classical
# asymptotics predict $\mathbb E\,\mathrm{KL} \approx k/(2N)$ for a model with $k$ free parameters — here
# $k = 2 + 3 = 5$ (mean and symmetric covariance) — so the excess test NLL of a well-specified model
# shrinks like $1/N$.

# %%
sample_sizes = [30, 100, 300, 1000, 3000]
n_params = 2 + 3
kl_gen = torch.Generator().manual_seed(8)
mean_kl = []
for n in sample_sizes:
    kls = []
    for _ in range(50):
        fitted = Gaussian.fit(true_gauss.mean + torch.randn(n, 2, generator=kl_gen) @ true_gauss.scale_tril.T)
        model = torch.distributions.MultivariateNormal(fitted.mean, fitted.covariance)
        kls.append(torch.distributions.kl_divergence(true_gauss, model).item())
    mean_kl.append(float(np.mean(kls)))
kl_slope = np.polyfit(np.log(sample_sizes), np.log(mean_kl), 1)[0]
kl_ratio = mean_kl[-1] / (n_params / (2 * sample_sizes[-1]))

fig, ax = plt.subplots(figsize=(6, 3))
ax.loglog(sample_sizes, mean_kl, "o-", label="mean KL(p_data ‖ fitted Gaussian), 50 samples each")
ax.loglog(sample_sizes, [n_params / (2 * n) for n in sample_sizes], "k--", label="k / (2N), k = 5")
ax.set(xlabel="training set size N", ylabel="KL (nats)", title="The MLE's excess NLL shrinks like 1/N")
ax.legend(fontsize=8);
print(f"log-log slope {kl_slope:.2f}; at N = {sample_sizes[-1]}: KL / (k/2N) = {kl_ratio:.2f}")

# %% tags=["check"]
exercises.expect_true("KL(p_data ‖ p_MLE) shrinks like 1/N (log-log slope within 0.15 of −1)", abs(kl_slope + 1) < 0.15)
exercises.expect_true("at the largest N the mean KL is within 30 % of k/(2N)", 0.7 < kl_ratio < 1.3)

# %% [markdown]
# ## 6. Density estimation in 2D
#
# The same estimators work in any dimension. Below: samples of two toy distributions, the Gaussian KDE
# whose bandwidth was chosen on a validation sample, and samples drawn from it (Exercise 2's recipe).

# %%
fig, axes = plt.subplots(2, 3, figsize=(12, 8))
for row, name in enumerate(("moons", "eight_gaussians")):
    sampler = data.TOY_SAMPLERS[name]
    train_2d, val_2d = sampler(1000).double(), sampler(1000).double()
    h_2d, _ = select_bandwidth(train_2d, val_2d, torch.logspace(-2, 0, 25))
    kde_2d = GaussianKDE(train_2d, h_2d)
    plotting.scatter(train_2d, title=f"{name}: {len(train_2d)} training points", ax=axes[row, 0])
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
#
# $$ p(y, \mathbf{x}) = p(y \mid \mathbf{x})\, p(\mathbf{x}), $$
#
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
# **What each kind of model costs and buys.** Neither is better; they answer different questions.
#
# | | discriminative $p(y \mid \mathbf{x})$ | generative $p(\mathbf{x})$ or $p(\mathbf{x}, y)$ |
# |---|---|---|
# | labels | needs them (supervised) | not needed: fits unlabelled data; with labels, classifies by Bayes' rule $p(y \mid \mathbf{x}) \propto p(\mathbf{x} \mid y)\,p(y)$ |
# | what is modelled | only the boundary between classes: a few numbers per input | every detail of $\mathbf{x}$: 64 numbers per digit, millions per photograph |
# | assumptions | few | many — about the whole input distribution; when they are wrong, a classifier built on them pays for it (§11) |
# | uncertainty about the input | none: confident far from the data (above) | $p(\mathbf{x})$ says how unusual an input is |
# | beyond the label | nothing | samples, missing values, anomalies, structure: features and low-dimensional codes learnt without labels |
#
# The density is the harder object to learn, and most of this course is about learning it well in high
# dimension.

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
# | **explicit, approximate** | Markov chain (MCMC) | undirected energy models | Boltzmann machines, RBM, DBM | 08 |
# | **implicit** | none: a sampler trained through a game | direct | GAN, WGAN | 06, 07 |
# | **implicit** | none: a Markov chain whose stationary distribution is the model | Markov chain | generative stochastic networks (GSN) | — (not built in this course) |
#
# **Three families.** The same models also sort by *how they generate*, which is how most lectures
# group them:
#
# | family | how a sample is made | density | pros | cons | chapters |
# |---|---|---|---|---|---|
# | **autoregressive** | one dimension at a time, each from $p(x_d \mid \mathbf{x}_{<d})$ | exact | exact likelihood, stable training by maximum likelihood | $D$ sequential steps to sample; no latent code | 03 |
# | **latent variable** | draw a code $\mathbf{z} \sim p(\mathbf{z})$, then $\mathbf{x} \sim p_\theta(\mathbf{x} \mid \mathbf{z})$ | $\int p(\mathbf{z})\,p_\theta(\mathbf{x} \mid \mathbf{z})\,d\mathbf{z}$: exact for mixtures, PPCA and flows (an invertible $\mathbf{x} = g(\mathbf{z})$), a bound for VAEs and diffusion models | a low-dimensional code for each example (compression, interpolation), stable training | the integral is intractable in general; VAE samples tend to be blurry | 02, 04, 05, 08 |
# | **implicit** | $\mathbf{x} = G_\theta(\mathbf{z})$, deterministic, $\mathbf{z} \sim p(\mathbf{z})$ | none | no likelihood to specify, sharp samples, a learnable loss | no $\log p(\mathbf{x})$ to evaluate or compare, unstable min-max training, missing modes | 06, 07 |
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
# Write `empty_bin_fraction(train, test, bins, low, high)`: the fraction (a float in $[0, 1]$) of the rows of
# `test` (shape `(M, D)`) whose histogram bin holds no row of `train` (shape `(N, D)`). The histogram has
# `bins` equal bins per axis over $[\text{low}, \text{high})^D$, each bin half-open like the range; every
# point lies inside the range. Do not build the $\text{bins}^D$ array of counts: in $D = 10$ with 10 bins per
# axis it would have $10^{10}$ entries — only the bins that hold data matter.

# %%
def empty_bin_fraction(train, test, bins, low, high):
    """Fraction (a float in [0, 1]) of test rows (M, D) whose histogram bin holds no training row (N, D)."""
    ### BEGIN SOLUTION
    width = (high - low) / bins
    occupied = {tuple(cell) for cell in torch.floor((train - low) / width).long().tolist()}
    test_cells = torch.floor((test - low) / width).long().tolist()
    return sum(tuple(cell) not in occupied for cell in test_cells) / len(test_cells)
    ### END SOLUTION


# %% tags=["check"]
# Reference: NumPy's histogramdd counts both samples on the same grid; the test points that share a bin
# with no training point are those counted in the bins where the training count is zero.
def histogram_reference(train, test, bins, low, high):
    grid_range = [(low, high)] * train.shape[1]
    train_counts, _ = np.histogramdd(train.numpy(), bins=bins, range=grid_range)
    test_counts, _ = np.histogramdd(test.numpy(), bins=bins, range=grid_range)
    return test_counts[train_counts == 0].sum() / len(test)


bin_gen = torch.Generator().manual_seed(3)
train_3d, test_3d = (torch.rand(n, 3, generator=bin_gen) * 2 - 1 for n in (300, 500))
exercises.expect_close("D = 3, 6 bins per axis on [−1, 1)",
                       exercises.call(4, empty_bin_fraction, train_3d, test_3d, 6, -1.0, 1.0),
                       histogram_reference(train_3d, test_3d, 6, -1.0, 1.0), exercise=4,
                       hint="count the test rows whose bin holds no training row, and divide by the number of test rows")
train_2d_bins, test_2d_bins = (torch.rand(n, 2, generator=bin_gen) * 3 - 1.3 for n in (40, 400))
exercises.expect_close("D = 2, 6 bins per axis on [−1.3, 1.7) (bins of width 0.5 that do not start at 0)",
                       exercises.call(4, empty_bin_fraction, train_2d_bins, test_2d_bins, 6, -1.3, 1.7),
                       histogram_reference(train_2d_bins, test_2d_bins, 6, -1.3, 1.7), exercise=4,
                       hint="a point's bin along an axis is how many whole bin widths it lies above `low`")
exercises.expect_close("no test point in an empty bin when test = train",
                       exercises.call(4, empty_bin_fraction, train_3d, train_3d, 6, -1.0, 1.0), 0.0, exercise=4)

# %% [markdown]
# `course_lib.models.HistogramDensity` stores only the occupied bins, the same way, and so runs in any
# dimension. Measure the curse: 1000 training and 1000 test points from a standard Gaussian, 10 bins per axis.

# %%
from course_lib.models import HistogramDensity

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
# levels (0–16), split as in Tomczak's *Deep Generative Modeling* code into training, validation and test
# images (the first cell loaded it; the sizes are printed below). Every chapter reports the **negative
# log-likelihood on the test images in nats per image**, so that all models meet on one leaderboard, and
# in **bits per dimension** $= \text{NLL} / (D \ln 2)$, $D$ = the number of pixels.
#
# Both units are on the data's own scale: **17 grey levels**. The uniform distribution over the $17^{64}$
# possible images is the trivial reference; it costs $\log_2 17$ bits per pixel. Published bits/dim (MNIST,
# CIFAR-10, ImageNet) are measured on **256-level** 8-bit images, where the same uniform distribution costs
# $\log_2 256 = 8$ bits per pixel: a number on one scale says nothing about the other, so never compare the
# bits/dim of this course with a paper's.
#
# The data are **discrete**. A discrete model (below: independent pixels) gives the exact
# probability $P(\mathbf{x})$. A continuous density such as the KDE is fitted to *dequantized*
# images $\mathbf{x} + \mathbf{u}$, $\mathbf{u} \sim \mathcal U[0, 1)^{D}$; because each grey level
# owns a unit cell, $\log P(\mathbf{x}) \ge \mathbb E_{\mathbf u} \log p(\mathbf{x} + \mathbf{u})$ and
# the reported number is an upper bound on the discrete NLL (Theis et al., 2016). The scale stays in
# grey levels, so no Jacobian term appears.

# %%
dims_image = split.train.x[0].numel()
uniform_nll = dims_image * math.log(split.levels)
display(Markdown(
    f"This run (`DATASET = \"{DATASET}\"`): {len(split.train.x)} training, {len(split.val.x)} validation and "
    f"{len(split.test.x)} test images of {dims_image} pixels with {split.levels} grey levels. The uniform "
    f"distribution costs {dims_image} ln {split.levels} = **{uniform_nll:.1f} nats per image** = "
    f"log₂ {split.levels} = **{bits_per_dim(uniform_nll, dims_image):.3f} bits/dim** on this scale, against "
    f"log₂ 256 = {math.log2(256):.0f} bits/dim on 256 levels."))
plotting.image_grid(split.train.x[:32], nrow=16, levels=split.levels, title="training digits");

# %% [markdown]
# **Independent pixels.** The simplest model worth the name ignores every dependency between pixels:
# $P(\mathbf{x}) = \prod_{d} P_d(x_d)$, one categorical distribution over the levels per pixel — the 1D
# histogram of §2, with one bin per grey level, applied to each pixel. Its maximum-likelihood fit is counting:
# $P_d(k)$ is the fraction of training images whose pixel $d$ has level $k$. That fit has a flaw a test set
# finds at once: a level that pixel $d$ never took in training gets probability **0**, and any test image with
# that level there gets $P(\mathbf{x}) = 0$, an NLL of $+\infty$ — for the whole test set, since one infinite
# term makes the mean infinite. The cure is a **pseudocount** $\alpha > 0$ (additive or Laplace smoothing;
# $\alpha = 1$ is Laplace's rule of succession): act as if every level had been seen $\alpha$ extra times at
# every pixel, before normalising.
#
# ### Exercise 5 — the independent-pixel model, with a pseudocount
# Write `pixel_level_probs(x, levels, pseudocount)`: `x` has shape `(N, D)` and holds integer grey levels
# $0, \dots, \text{levels} - 1$ (as floats); return the `(D, levels)` tensor of probabilities $P_d(k)$ of
# the smoothed fit, each row summing to one. With `pseudocount = 0` it is the plain maximum-likelihood fit
# (frequencies). The check compares with scikit-learn's `CategoricalNB` fitted to a single class.

# %%
def pixel_level_probs(x, levels, pseudocount):
    """Per-pixel level probabilities (D, levels) of the independent-pixel model fitted to x: (N, D) levels."""
    ### BEGIN SOLUTION
    one_hot = torch.nn.functional.one_hot(x.long(), levels).double()                 # (N, D, levels)
    counts = one_hot.sum(dim=0) + pseudocount                                          # (D, levels)
    return counts / counts.sum(dim=1, keepdim=True)
    ### END SOLUTION


# %% tags=["check"]
from sklearn.naive_bayes import CategoricalNB

level_gen = torch.Generator().manual_seed(9)
pixels_check = torch.randint(0, 4, (30, 5), generator=level_gen).double()  # levels 4, 5 never occur
pixels_check[:, 0] = pixels_check[:, 0].clamp(max=2)   # pixel 0 never takes level 3, pixel 1 ...
pixels_check[:, 1] = 0                                 # ... only ever level 0
for alpha in (0.7, 2.0):
    reference = CategoricalNB(alpha=alpha, min_categories=6, force_alpha=True).fit(
        pixels_check.long().numpy(), np.zeros(30, dtype=int))
    exercises.expect_close(f"6 levels, pseudocount {alpha} (sklearn CategoricalNB, one class)",
                           exercises.call(5, pixel_level_probs, pixels_check, 6, alpha),
                           np.exp(np.concatenate(reference.feature_log_prob_)), exercise=5,
                           hint="add the pseudocount to the count of every level of every pixel, then normalise "
                                "each pixel's row")
plain = exercises.call(5, pixel_level_probs, pixels_check, 6, 0.0)
exercises.expect_close("pseudocount 0: the frequencies; levels never seen get probability 0",
                       plain[:2], torch.stack([torch.bincount(pixels_check[:, d].long(), minlength=6) / 30.0
                                               for d in range(2)]), exercise=5)

# %% [markdown]
# `course_lib.models.FactorizedCategorical.fit` is this model (its default pseudocount is 1). Fitted without
# a pseudocount it assigns probability zero to some test digits; the figure shows the first one, and the
# pixel whose test level never occurred there in training.

# %%
from course_lib.models import FactorizedCategorical

unsmoothed = FactorizedCategorical.fit(split.train.x, split.levels, pseudocount=0.0)
test_log_p_unsmoothed = unsmoothed.log_prob(split.test.x)
impossible = ~torch.isfinite(test_log_p_unsmoothed)
fit_started = time.perf_counter()
independent = FactorizedCategorical.fit(split.train.x, split.levels)            # pseudocount α = 1
independent_seconds = time.perf_counter() - fit_started
independent_test_log_p = independent.log_prob(split.test.x)
independent_nll = mean_nll(independent, split.test.x)

first_impossible = int(impossible.nonzero()[0])
levels_there = split.test.x[first_impossible].reshape(-1).long()
zero_prob = unsmoothed.probs.reshape(dims_image, split.levels)[torch.arange(dims_image), levels_there] == 0
culprit = int(zero_prob.nonzero()[0])
width = split.test.x.shape[-1]
training_levels = torch.bincount(split.train.x.reshape(len(split.train.x), -1)[:, culprit].long(),
                                 minlength=split.levels)

fig, (ax_img, ax_bar) = plt.subplots(1, 2, figsize=(9, 3), gridspec_kw={"width_ratios": [1, 2]})
plotting.image_grid(split.test.x[first_impossible:first_impossible + 1], nrow=1, levels=split.levels,
                    title=f"test image {first_impossible}", ax=ax_img)
ax_img.add_patch(plt.Rectangle((culprit % width + 0.5, culprit // width + 0.5), 1, 1, fill=False, ec="red", lw=2))
ax_bar.bar(range(split.levels), training_levels.numpy(), color="C0", label="training images")
ax_bar.axvline(int(levels_there[culprit]), color="red", ls="--", label="the test image's level: seen 0 times")
ax_bar.set(xlabel="grey level", ylabel="count", title=f"pixel {culprit} (red square) in the training set")
ax_bar.legend(fontsize=8);
display(Markdown(
    f"Without a pseudocount **{int(impossible.sum())} of the {len(split.test.x)} test images** get probability "
    f"0, so the test NLL is **{-test_log_p_unsmoothed.mean().item()}**. With α = 1 every test image has a finite "
    f"NLL, and the mean is **{independent_nll:.1f} nats per image**."))

# %% tags=["check"]
exercises.expect_true("without a pseudocount some test images get probability 0: the test NLL is infinite",
                      bool(impossible.any()) and (-test_log_p_unsmoothed.mean()).item() == math.inf)
exercises.expect_true("the culprit pixel never took that level in training", int(training_levels[levels_there[culprit]]) == 0)
exercises.expect_true("with the pseudocount α = 1 every test image has a finite NLL",
                      bool(torch.isfinite(independent_test_log_p).all()))

# %% [markdown]
# The pseudocount is a hyperparameter, chosen like the bandwidth: on held-out data. Too small, and rare
# levels are nearly impossible; too large, and every pixel drifts towards the uniform distribution.

# %%
pseudocounts = torch.logspace(-3, 1.5, 19)
val_nll_alpha = torch.tensor([mean_nll(FactorizedCategorical.fit(split.train.x, split.levels, float(a)), split.val.x)
                              for a in pseudocounts])
best_alpha = float(pseudocounts[val_nll_alpha.argmin()])
laplace_gap = mean_nll(independent, split.val.x) - val_nll_alpha.min().item()
fig, ax = plt.subplots(figsize=(6, 3))
ax.semilogx(pseudocounts, val_nll_alpha, "o-", label="validation NLL")
ax.axvline(1.0, color="k", ls="--", label="α = 1 (used from here on)")
ax.set(xlabel="pseudocount α", ylabel="nats per image", title="Choosing the pseudocount (α = 0: +∞)")
ax.legend(fontsize=8);
display(Markdown(f"The validation NLL is lowest at α ≈ {best_alpha:.2g}; α = 1 is within **{laplace_gap:.2f} "
                 f"nats per image** of it, so the course keeps Laplace's α = 1 for the independent-pixel baseline."))

# %% tags=["check"]
exercises.expect_true("the validation NLL is finite for every α > 0, and α = 1 is within 0.5 nats of the best",
                      bool(torch.isfinite(val_nll_alpha).all()) and 0 <= laplace_gap < 0.5)
exercises.expect_true("the smallest and the largest α are both worse than the best one on validation",
                      min(val_nll_alpha[0].item(), val_nll_alpha[-1].item()) > val_nll_alpha.min().item())

# %% [markdown]
# **The KDE on the digits.** One Gaussian bump per training image, in 64 dimensions, on dequantized images,
# the bandwidth chosen on the validation images.

# %%
noise = torch.Generator().manual_seed(0)
train_deq = data.dequantize(split.train.x, noise).to(device())  # on a GPU when there is one (MNIST)
val_deq = data.dequantize(split.val.x, noise).to(device())
# Candidate bandwidths in grey levels, relative to the number of levels so the grid suits any data set.
fit_started = time.perf_counter()
h_digits, val_scores = select_bandwidth(train_deq, val_deq, torch.logspace(-1.5, -0.5, 13) * split.levels)
kde_digits = GaussianKDE(train_deq, h_digits)
kde_seconds = time.perf_counter() - fit_started    # "training" a KDE is choosing its bandwidth
kde_nll = mean_nll(kde_digits, split.test.x, dequantize=True, generator=noise)

rows = [("uniform over all images", uniform_nll), ("independent pixels, α = 1 (exact)", independent_nll),
        (f"Gaussian KDE, h = {h_digits:.2f} (dequantization bound)", kde_nll)]
display(Markdown(f"| model | test NLL (nats/image) | bits/dim ({split.levels} levels) |\n|---|---|---|\n" + "\n".join(
    f"| {name} | {nll:.1f} | {bits_per_dim(nll, dims_image):.3f} |" for name, nll in rows)))

# %%
kde_samples = kde_digits.sample(16, generator=torch.Generator().manual_seed(1)).cpu()
fig, (ax_a, ax_b) = plt.subplots(1, 2, figsize=(10, 3))
plotting.image_grid(independent.sample(16, generator=torch.Generator().manual_seed(1)), nrow=8, levels=split.levels,
                    title="independent pixels: samples", ax=ax_a)
plotting.image_grid(kde_samples.clamp(0, split.levels), nrow=8, levels=split.levels,
                    title=f"KDE samples (h = {h_digits:.2f})", ax=ax_b);

# How far is a KDE sample from a training image, compared with a test digit?
noise_norm = h_digits * math.sqrt(dims_image)          # ‖h ε‖ for ε ~ N(0, I_D), up to O(1) fluctuations
centers_digits = kde_digits.centers.cpu().double()
some_test = split.test.x[:500]
nearest_test = torch.cdist(some_test.reshape(len(some_test), -1).double() + 0.5, centers_digits).min(1).values
display(Markdown(
    f"The KDE is **{kde_nll - independent_nll:.1f} nats per image worse** than independent pixels "
    f"({kde_nll:.1f} against {independent_nll:.1f}). Each KDE sample is a training digit plus noise of norm "
    f"≈ h√D = {noise_norm:.1f} grey levels; the median distance from a test digit to its nearest training digit "
    f"is {nearest_test.median().item():.1f} (over {len(some_test)} test digits)."))

# %% tags=["check"]
exercises.expect_true("both models beat the uniform distribution", max(independent_nll, kde_nll) < uniform_nll)
exercises.expect_true("the chosen digit bandwidth is inside the searched range",
                      0 < int(val_scores.argmax()) < len(val_scores) - 1)
exercises.expect_true("the KDE is worse than independent pixels (higher test NLL)", kde_nll > independent_nll)
exercises.expect_true("the KDE's noise is as large as the distance between a test digit and its nearest training "
                      "digit (ratio between 1/2 and 2)", 0.5 < noise_norm / nearest_test.median().item() < 2)

# %% [markdown]
# Look at the numbers. The KDE — a mixture of one Gaussian per training image — is *worse* than a model that
# ignores all dependencies between pixels. In 64 dimensions a test digit is far from every training digit,
# so the bumps must be as wide as that distance to reach it, and then they spread their mass over a huge
# volume of non-digits: the curse of §9 again. Its samples are training digits plus that much noise; the
# independent-pixel samples are not digits at all, although that model has the better likelihood —
# likelihood and sample quality are different things (chapter 08). The models of the next chapters keep the
# likelihood but learn *structure*: mixtures and latent variables (chapter 02), autoregressive conditionals
# (chapter 03), and beyond. Both results go on the course leaderboard.

# %%
leaderboard.record("Independent pixels (factorized categorical)", 1, independent_nll, dims_image,
                   dataset=DATASET, bound="exact")
leaderboard.record("Gaussian KDE (Parzen window)", 1, kde_nll, dims_image, dataset=DATASET,
                   bound="dequantization bound")
# Samples of both go to the gallery, where chapter 09 scores every model's samples on the same test split.
gallery.record_model("Independent pixels (factorized categorical)", 1, independent, levels=split.levels,
                     dataset=DATASET, train_seconds=independent_seconds)
gallery.record_model("Gaussian KDE (Parzen window)", 1, kde_digits, levels=split.levels, dataset=DATASET,
                     train_seconds=kde_seconds, dequantized=True)
Markdown(leaderboard.table(DATASET))

# %% [markdown]
# ## 11. What a density of the digits is for
#
# The opening table promised uses for a model of $p(\mathbf{x})$. Three of them can be tried already with the
# two models of §10 — and they show what "ignoring every dependency between pixels" costs, in a way the test
# NLL did not.
#
# **Anomaly detection.** Score images by their log-likelihood: test digits, the same digits turned upside
# down, and images of random grey levels. A good detector gives every test digit a higher score than every
# odd image; the fraction of (digit, odd image) pairs it orders correctly is the area under its ROC curve
# (AUROC: 1 is perfect, ½ is chance). The KDE scores the centre of each image's dequantization cell,
# $\mathbf{x} + \frac12$.

# %%
def auroc(scores_normal, scores_odd):
    """Fraction of (normal, odd) pairs where the normal example scores higher: the area under the ROC curve."""
    return (scores_normal[:, None] > scores_odd[None, :]).double().mean().item()


normal_images = split.test.x[:500]
odd_images = {"upside down": normal_images.flip(-2),
              "random levels": torch.randint(0, split.levels, normal_images.shape,
                                             generator=torch.Generator().manual_seed(12)).to(normal_images.dtype)}
scorers = {"independent pixels": independent.log_prob,
           "KDE": lambda x: kde_digits.log_prob((x + 0.5).to(device())).cpu()}
separations = {}
fig, axes = plt.subplots(1, 2, figsize=(11, 3))
for ax, (model_name, score) in zip(axes, scorers.items()):
    normal_scores = score(normal_images)
    ax.hist(normal_scores.numpy(), bins=40, alpha=0.6, density=True, label="test digits")
    for odd_name, images in odd_images.items():
        odd_scores = score(images)
        separations[model_name, odd_name] = auroc(normal_scores, odd_scores)
        ax.hist(odd_scores.numpy(), bins=40, alpha=0.6, density=True,
                label=f"{odd_name} (AUROC {separations[model_name, odd_name]:.2f})")
    ax.set(title=model_name, xlabel="log p(x) (nats)")
    ax.legend(fontsize=8)
fig.tight_layout();

# %% tags=["check"]
exercises.expect_true("both models rank every random-level image below every test digit",
                      all(separations[m, "random levels"] == 1.0 for m in scorers))
exercises.expect_true("independent pixels barely tell upside-down digits from digits (AUROC < 0.7)",
                      separations["independent pixels", "upside down"] < 0.7)
exercises.expect_true("the KDE tells upside-down digits from digits better than independent pixels do (AUROC +0.1)",
                      separations["KDE", "upside down"] > separations["independent pixels", "upside down"] + 0.1)

# %% [markdown]
# Random levels are easy for both. Upside-down digits are not: each pixel's grey levels stay plausible, so the
# independent-pixel model, which looks at one pixel at a time, barely tells them apart, although it has the
# better test NLL. The KDE compares whole images with whole training digits, and mostly does. (No model can
# flag a 0 or an 8 turned upside down: those are digits still.)
#
# **Missing data, and several correct answers.** Hide the bottom half of a test digit and ask for it. A
# density answers with the conditional distribution $p(\mathbf{x}_{\text{hidden}} \mid \mathbf{x}_{\text{seen}})$.
# For independent pixels it is just $p(\mathbf{x}_{\text{hidden}})$: the seen half changes nothing. For the KDE
# it is again a mixture: the kernel factorises over pixels, so component $n$ keeps its Gaussian over the hidden
# pixels, and its weight becomes proportional to how well training digit $n$ matches the seen half,
# $w_n \propto \mathcal N(\mathbf{x}_{\text{seen}}; \mathbf{x}_{n,\text{seen}}, h^2\mathbf{I})$. Sampling it is
# Exercise 2's recipe with these weights. Each sample commits to one completion; the conditional *mean*
# $\sum_n w_n \mathbf{x}_{n,\text{hidden}}$ — what a regression trained on squared error would predict — averages
# the plausible completions into one blurred image.

# %%
def kde_fill_in(centers, h, image, seen, n_samples, generator):
    """Samples (n_samples, D) of a flattened image whose pixels with seen = False are drawn from the conditional
    of the KDE with centres (N, D) and bandwidth h given the seen ones; also the conditional mean (D,) and the
    weights (N,) over training images."""
    log_w = torch.log_softmax(-((image[seen] - centers[:, seen]) ** 2).sum(1) / (2 * h**2), dim=0)
    picked = torch.multinomial(log_w.exp(), n_samples, replacement=True, generator=generator)
    filled = image.repeat(n_samples, 1)
    filled[:, ~seen] = centers[picked][:, ~seen] + h * torch.randn(n_samples, int((~seen).sum()), generator=generator)
    mean = image.clone()
    mean[~seen] = log_w.exp() @ centers[:, ~seen]
    return filled, mean, log_w.exp()


height, width = split.test.x.shape[-2:]
seen = (torch.arange(height)[:, None] < height // 2).expand(height, width).reshape(-1)
fill_gen = torch.Generator().manual_seed(13)
truth, kde_fills, kde_means, independent_fills, effective = [], [], [], [], []
for image in split.test.x[:200].reshape(200, -1).double() + 0.5:
    filled, mean, weights = kde_fill_in(centers_digits, h_digits, image, seen, 4, fill_gen)
    guess = image.clone()
    guess[~seen] = independent.sample(1, generator=fill_gen).reshape(-1).double()[~seen] + 0.5
    truth.append(image)
    kde_fills.append(filled)
    kde_means.append(mean)
    independent_fills.append(guess)
    effective.append(1 / (weights**2).sum().item())  # the effective number of training digits in the mixture
truth, kde_fills, kde_means, independent_fills = map(torch.stack, (truth, kde_fills, kde_means, independent_fills))


def hidden_error(completion):
    """Mean squared error (grey levels²) over the hidden pixels of the 200 test digits."""
    return ((completion - truth)[:, ~seen] ** 2).mean().item()


errors = {"independent pixels, one sample": hidden_error(independent_fills),
          "KDE, one sample": hidden_error(kde_fills[:, 0]), "KDE, conditional mean": hidden_error(kde_means)}

effective = torch.tensor(effective)
shown = effective.argsort(descending=True)[:6]     # the seen halves that leave the most doubt
panels = [("seen half", torch.where(seen, truth[shown], torch.nan))] + \
         [(f"KDE sample {k + 1}", kde_fills[shown, k]) for k in range(4)] + \
         [("KDE mean", kde_means[shown]), ("independent", independent_fills[shown]), ("truth", truth[shown])]
hidden_shown_grey = plt.get_cmap("gray_r").with_extremes(bad="#d0d7e0")   # NaN: the hidden half
fig, axes = plt.subplots(len(shown), len(panels), figsize=(1.2 * len(panels), 1.25 * len(shown)))
for col, (name, images) in enumerate(panels):
    for row in range(len(shown)):
        axes[row, col].imshow((images[row] - 0.5).reshape(height, width).clamp(0, split.levels - 1),
                              cmap=hidden_shown_grey, vmin=0, vmax=split.levels - 1)
        axes[row, col].set_axis_off()
    axes[0, col].set_title(name, fontsize=8)
fig.suptitle("Filling in the bottom half: the 6 of 200 test digits whose top half matches the most training digits",
             y=1.0, fontsize=10)
fig.tight_layout();
display(Markdown("| completion of the bottom half (200 test digits) | squared error per hidden pixel |\n|---|---|\n" +
                 "\n".join(f"| {name} | {error:.1f} |" for name, error in errors.items()) +
                 f"\n\nThe weights $w_n$ concentrate on a few training digits: their effective number "
                 f"$1/\\sum_n w_n^2$ has median **{effective.median().item():.1f}**, and exceeds 2 for "
                 f"**{(effective > 2).double().mean().item():.0%}** of the test digits. The kernel noise alone "
                 f"costs $h^2$ = {kde_digits.bandwidth.item() ** 2:.1f} per pixel in a sample."))

# %% tags=["check"]
exercises.expect_true("the KDE's completions match the hidden half better than independent pixels (lower error)",
                      errors["KDE, one sample"] < errors["independent pixels, one sample"])
exercises.expect_true("the conditional mean has a lower squared error than any single sample (it averages answers)",
                      errors["KDE, conditional mean"] < errors["KDE, one sample"])
exercises.expect_true("for some test digits the conditional spreads over more than 2 training digits (several answers)",
                      bool((effective > 2).any()))

# %% [markdown]
# The independent-pixel completions ignore the seen half: a model without dependencies cannot use context.
# The KDE's completions continue the stroke of the top half, and where that half is ambiguous (the rows shown)
# different samples continue it differently — several correct answers. The conditional mean wins on squared
# error, as it must (the mean minimises the expected squared error): it drops the kernel noise, and it averages
# the competing completions into a compromise that is none of them, blurred where they disagree. This is why
# models trained to predict with a squared error (next video frames; the VAE's Gaussian decoder in chapter 04)
# produce blurry outputs, and why we want to *sample*.
#
# **Classifying by Bayes' rule.** With labels, a generative model classifies too: fit one independent-pixel
# model per class, $P(\mathbf{x} \mid y)$, and the class frequencies $P(y)$; then
# $P(y \mid \mathbf{x}) \propto P(\mathbf{x} \mid y)\,P(y)$ ("naive Bayes"). Compare it with logistic regression,
# which models $P(y \mid \mathbf{x})$ directly, on the same labelled training images.

# %%
labelled_x, labelled_y = split.train.x[:1000], split.train.y[:1000]
classes = int(split.train.y.max()) + 1
class_models = [FactorizedCategorical.fit(labelled_x[labelled_y == c], split.levels) for c in range(classes)]
log_prior = torch.log(torch.bincount(labelled_y, minlength=classes).double() / len(labelled_y))
log_joint = torch.stack([model.log_prob(split.test.x).double() for model in class_models], 1) + log_prior
generative_accuracy = (log_joint.argmax(1) == split.test.y).double().mean().item()


def features(x):
    """Images (B, ...) as rows of pixel values scaled to [0, 1], for scikit-learn."""
    return (x.reshape(len(x), -1) / (split.levels - 1)).numpy()


logistic = LogisticRegression(max_iter=3000).fit(features(labelled_x), labelled_y.numpy())
discriminative_accuracy = logistic.score(features(split.test.x), split.test.y.numpy())
class_mixture_nll = -torch.logsumexp(log_joint, 1).mean().item()   # p(x) = Σ_y P(x | y) P(y), a by-product
display(Markdown(
    f"On {len(labelled_x)} labelled images, test accuracy: generative (naive Bayes) **{generative_accuracy:.3f}**, "
    f"discriminative (logistic regression) **{discriminative_accuracy:.3f}**. The generative classifier also "
    f"gives $P(\\mathbf{{x}}) = \\sum_y P(\\mathbf{{x}} \\mid y) P(y)$: a test NLL of {class_mixture_nll:.1f} nats per "
    f"image, against {independent_nll:.1f} for one independent-pixel model."))

# %% tags=["check"]
exercises.expect_true("logistic regression is more accurate than the naive Bayes classifier",
                      discriminative_accuracy > generative_accuracy)
exercises.expect_true("the class mixture has a lower test NLL than independent pixels", class_mixture_nll < independent_nll)

# %% [markdown]
# The discriminative model wins the task it was built for: naive Bayes pays for an assumption that is false —
# pixels are not independent given the digit — while logistic regression assumed nothing about
# $\mathbf{x}$. But the generative model answers more questions, and its by-product, the mixture
# $\sum_y P(y)\,P(\mathbf{x} \mid y)$, is a better density than independent pixels: much of the dependency
# between pixels is *which digit it is*. [Chapter 02](02_latent_variable_models.ipynb) learns such components
# without labels, as latent variables.

# %% [markdown]
# ## Further exercises (no checks)
# 6. Replace the Gaussian kernel by a uniform (box) kernel. What happens to the held-out
#    log-likelihood of §4, and why is the box kernel a "moving histogram"?
# 7. Leave-one-out cross-validation chooses $h$ without a validation set: score each training point
#    under the KDE of the *other* points. Implement it and compare the chosen $h$ with §4's.
# 8. Why is the uniform-dequantization number an *upper* bound on the discrete NLL? Write the one-line
#    Jensen argument.
# 9. Fill in the *left* half of the digits instead of the bottom half (§11). Which digits become ambiguous?
# 10. Semi-supervised learning with a generative classifier: fit §11's naive Bayes on 20 labelled images, then
#     let EM treat the labels of the other training images as missing data (Nigam et al., 2000). Does the
#     accuracy improve? (Chapter 02 builds EM.)
#
# ## Summary
# - A model of $p(\mathbf{x})$ evaluates and generates: it flags anomalies, fills in missing data with one of
#   several plausible answers, supports semi-supervised learning and simulation. Self-supervised learning
#   learns features from unlabelled data too, but cannot evaluate $p(\mathbf{x})$ or sample.
# - The empirical distribution is where every estimator starts; a density estimate spreads its mass.
# - Histograms and KDEs trade bias against variance through the bin width / bandwidth; choose it by
#   **held-out** log-likelihood, because the training likelihood rewards memorisation. Compute
#   log-densities in log space (`logsumexp`); a KDE samples as a mixture: pick a centre, add noise.
# - Maximum likelihood minimises the cross-entropy $-\mathbb E_{\hat p}\log p_\theta$, that is (as $N$ grows)
#   $\mathrm{KL}(p_{\text{data}} \,\|\, p_\theta)$ up to the constant $H(p_{\text{data}})$ — not
#   $\mathrm{KL}(\hat p\,\|\,p_\theta)$, which is infinite for a continuous model. For a Gaussian it is the sample
#   mean and the $1/N$ covariance, the point where the gradient vanishes.
# - $p(y, \mathbf{x}) = p(y \mid \mathbf{x})\,p(\mathbf{x})$: a density flags inputs a classifier is
#   wrongly sure about. Discriminative models need fewer assumptions and win at their one task; generative
#   models answer more questions. Deep generative models come in three families: autoregressive, latent
#   variable, implicit (taxonomy, §8).
# - Local estimators die of the curse of dimensionality. On the digits the KDE loses to independent pixels,
#   whose maximum-likelihood fit needs a pseudocount (without it a level unseen in training makes the test
#   NLL infinite). Likelihoods are reported in nats per image and in bits per dimension on 17 grey levels,
#   not comparable with published 256-level figures.
#
# ## References
# - Rosenblatt, M. (1956). Remarks on some nonparametric estimates of a density function.
# - Parzen, E. (1962). On estimation of a probability density function and mode.
# - Bellman, R. (1961). *Adaptive Control Processes*.
# - Silverman, B. W. (1986). *Density Estimation for Statistics and Data Analysis*.
# - Bishop, C. M. (2006). *Pattern Recognition and Machine Learning*, §2.2–2.3 and §2.5.
# - Nigam, K., McCallum, A., Thrun, S., & Mitchell, T. (2000). Text classification from labeled and unlabeled
#   documents using EM.
# - Mikolov, T., et al. (2013). Efficient estimation of word representations in vector space.
# - Kingma, D. P., Rezende, D. J., Mohamed, S., & Welling, M. (2014). Semi-supervised learning with deep
#   generative models.
# - Doersch, C., Gupta, A., & Efros, A. A. (2015). Unsupervised visual representation learning by context prediction.
# - Goodfellow, I. (2016). NIPS 2016 tutorial: generative adversarial networks (the taxonomy).
# - Isola, P., Zhu, J.-Y., Zhou, T., & Efros, A. A. (2017). Image-to-image translation with conditional
#   adversarial networks.
# - Lotter, W., Kreiman, G., & Cox, D. (2016). Deep predictive coding networks for video prediction and
#   unsupervised learning.
# - Pathak, D., et al. (2016). Context encoders: feature learning by inpainting.
# - Radford, A., Metz, L., & Chintala, S. (2016). Unsupervised representation learning with deep convolutional GANs.
# - Chen, X., et al. (2016). InfoGAN: interpretable representation learning by information maximizing GANs.
# - Salimans, T., et al. (2016). Improved techniques for training GANs.
# - Shrivastava, A., et al. (2017). Learning from simulated and unsupervised images through adversarial training.
# - Theis, L., van den Oord, A., & Bethge, M. (2016). A note on the evaluation of generative models.
# - Yeh, R. A., et al. (2017). Semantic image inpainting with deep generative models.
# - Zhang, H., et al. (2017). StackGAN: text to photo-realistic image synthesis with stacked GANs.
# - Royer, A., Kolesnikov, A., & Lampert, C. H. (2017). Probabilistic image colorization.
# - Ha, D., & Schmidhuber, J. (2018). World models.
# - Nalisnick, E., et al. (2019). Do deep generative models know what they don't know?
# - Tomczak, J. M. (2022). *Deep Generative Modeling*.


# %% tags=["check"]
# Every check run in this session: "all passed", or the list of those that failed. Stuck on one exercise?
# Run `exercises.keep_going()` once: a failed check then prints a red ✘ and "Run All" goes on to the end.
exercises.report()
