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
# # 02 · Latent variable models: Gaussian mixtures, EM, PPCA
#
# Reality *generates* observations from hidden causes: which digit, how slanted, how thick the pen.
# A **latent variable model** writes this down: draw a hidden $\mathbf{z} \sim p(\mathbf{z})$, then
# an observation $\mathbf{x} \sim p(\mathbf{x} \mid \mathbf{z})$. Its density is a marginal,
# $$ p(\mathbf{x}) = \int p(\mathbf{x} \mid \mathbf{z})\, p(\mathbf{z})\, d\mathbf{z}, $$
# and everything in this chapter is about when that integral is easy (mixtures, linear-Gaussian
# models) and what to do when it is not (the deep models of chapters 04–06). These are "my first"
# and "my second" generative model of the lectures; their deep descendants fill the "explicit,
# approximate" and "implicit" rows of the taxonomy ([chapter 01, §8](01_density_estimation.ipynb)).
#
# **Learning objectives.** After this chapter you can
# 1. write a Gaussian mixture as a generative story and sample from it;
# 2. derive and implement expectation–maximisation (E-step and M-step, in log space) and explain
#    why the likelihood never decreases;
# 3. obtain k-means as the small-variance limit of EM;
# 4. fit probabilistic PCA in closed form and by EM, and read the negative log-likelihood as an
#    $\ell_2$ reconstruction error;
# 5. show that a linear autoencoder trained by gradient descent finds the PCA subspace;
# 6. report both models on the digits in nats per image;
# 7. explain why a *nonlinear* $\mathbf{x} = f_\theta(\mathbf{z})$ makes $p(\mathbf{x})$ intractable and
#    why naive Monte Carlo over $\mathbf{z}$ fails in high dimension.

# %%
DATASET = "digits"  # "digits" (bundled, CPU) or "mnist" / "fashion_mnist" (local IDX files in $DGM_DATA)

import math

import matplotlib.pyplot as plt
import numpy as np
import torch
from IPython.display import Markdown, display
from scipy import stats
from scipy.linalg import subspace_angles
from sklearn.cluster import KMeans

from course_lib import data
from course_lib.evaluation import leaderboard, mean_nll
from course_lib.models import GaussianMixture, LinearAutoencoder, mixtures, PPCA
from course_lib.runtime import cache_dir, seed_everything
from course_lib.teaching import exercises
from course_lib.train import fit
from course_lib.viz import EMStepper, plotting

seed_everything(0)
torch.set_default_dtype(torch.float64)  # small problems; double precision keeps the checks sharp

# %% [markdown]
# ## 1. The Gaussian mixture as a generative story
#
# $$ p(z = k) = \pi_k, \qquad p(\mathbf{x} \mid z = k) = \mathcal N(\mathbf{x}; \boldsymbol\mu_k, \boldsymbol\Sigma_k),
#    \qquad p(\mathbf{x}) = \sum_{k=1}^K \pi_k\, \mathcal N(\mathbf{x}; \boldsymbol\mu_k, \boldsymbol\Sigma_k). $$
#
# Sampling follows the story (**ancestral sampling**): pick a component from the prior, then draw
# from that component. These are the two lines below.

# %%
true_weights = torch.tensor([0.5, 0.3, 0.2])
true_means = torch.tensor([[-2.0, 0.0], [1.5, 1.5], [1.5, -2.0]])
true_covs = torch.stack([torch.tensor([[1.0, 0.6], [0.6, 0.61]]), 0.36 * torch.eye(2),
                         torch.tensor([[0.16, 0.2], [0.2, 1.69]])])

z = torch.multinomial(true_weights, 600, replacement=True)  # z ~ Cat(π)
x_story = torch.stack([torch.distributions.MultivariateNormal(true_means[k], true_covs[k]).sample() for k in z])

fig, (ax_z, ax_x) = plt.subplots(1, 2, figsize=(10, 4))
plotting.scatter(x_story, labels=z, title="samples coloured by their hidden z", ax=ax_z)
plotting.scatter(x_story, title="what we observe: x only", ax=ax_x);

# %% [markdown]
# ## 2. Expectation–maximisation
#
# The log-likelihood $\sum_n \log \sum_k \pi_k \mathcal N(\mathbf{x}_n; \boldsymbol\mu_k, \boldsymbol\Sigma_k)$
# has a log of a sum: setting its gradient to zero gives no closed form. But if we *knew* each
# $z_n$, fitting would be three averages. EM alternates between guessing $z$ softly and fitting:
#
# - **E-step.** Responsibilities: the posterior of the hidden variable, by Bayes' rule,
#   $r_{nk} = p(z_n = k \mid \mathbf{x}_n) = \dfrac{\pi_k \mathcal N(\mathbf{x}_n; \boldsymbol\mu_k, \boldsymbol\Sigma_k)}{\sum_j \pi_j \mathcal N(\mathbf{x}_n; \boldsymbol\mu_j, \boldsymbol\Sigma_j)}$.
# - **M-step.** Weighted maximum likelihood with $N_k = \sum_n r_{nk}$:
#   $\pi_k = N_k / N$, $\boldsymbol\mu_k = \frac{1}{N_k}\sum_n r_{nk}\mathbf{x}_n$,
#   $\boldsymbol\Sigma_k = \frac{1}{N_k}\sum_n r_{nk}(\mathbf{x}_n - \boldsymbol\mu_k)(\mathbf{x}_n - \boldsymbol\mu_k)^\top$.
#
# **Why it works.** For any distribution $q(z)$, Jensen's inequality gives
# $\log p(\mathbf{x}) = \log \sum_z q(z) \frac{p(\mathbf{x}, z)}{q(z)} \ge \sum_z q(z) \log \frac{p(\mathbf{x}, z)}{q(z)}$,
# with equality when $q(z) = p(z \mid \mathbf{x})$. The E-step makes the bound tight; the M-step
# raises the bound; so the log-likelihood can never go down. (The same bound, with a neural $q$,
# is the ELBO of chapter 04.)
#
# In code, densities in 64 dimensions underflow: keep $\log \pi_k + \log \mathcal N(\cdot)$ and
# normalise with log-sum-exp.
#
# ### Exercise 1 — the E-step in log space
# Write `e_step(x, weights, means, covs)` for full covariances: return `log_resp` of shape `(N, K)`
# ($\log r_{nk}$) and the mean log-likelihood $\frac1N \sum_n \log p(\mathbf{x}_n)$ (a 0-d tensor).
# `torch.distributions.MultivariateNormal(means, covs).log_prob(x[:, None, :])` evaluates all
# components at once.

# %%
def e_step(x, weights, means, covs):
    """log responsibilities (N, K) and mean log-likelihood (nats) of x (N, D) under the mixture."""
    ### BEGIN SOLUTION
    log_joint = torch.log(weights) + torch.distributions.MultivariateNormal(means, covs).log_prob(x[:, None, :])
    log_px = torch.logsumexp(log_joint, dim=1, keepdim=True)
    return log_joint - log_px, log_px.mean()
    ### END SOLUTION


# %% tags=["check"]
x_check = data.three_clusters(300, generator=torch.Generator().manual_seed(5))
log_resp, mean_ll = exercises.call(1, e_step, x_check, true_weights, true_means, true_covs, returns=2)
component_pdf = np.stack([stats.multivariate_normal(m.numpy(), c.numpy()).pdf(x_check.numpy())
                          for m, c in zip(true_means, true_covs)], 1) * true_weights.numpy()
exercises.expect_close("responsibilities (compared with SciPy densities and Bayes' rule)", log_resp.exp(),
                       component_pdf / component_pdf.sum(1, keepdims=True), exercise=1, rtol=1e-6)
exercises.expect_close("mean log-likelihood", mean_ll, np.log(component_pdf.sum(1)).mean(), exercise=1, rtol=1e-8)
far_resp, far_ll = exercises.call(1, e_step, torch.tensor([[60.0, 60.0]]), true_weights, true_means, true_covs, returns=2)
exercises.expect_true("finite responsibilities that sum to 1 for a point far from every component",
                      bool(torch.isfinite(far_resp).all() and abs(far_resp.exp().sum().item() - 1) < 1e-9),
                      exercise=1, hint="normalise log π_k + log N(...) with torch.logsumexp, not with exp then sum")

# %% [markdown]
# ### Exercise 2 — the M-step
# Write `m_step(x, resp)`: given responsibilities `resp` (N, K) (probabilities, not logs), return the
# weights (K,), means (K, D) and full covariances (K, D, D) that maximise the expected complete-data
# log-likelihood (the formulas above). Conventions the check relies on: the covariances are the
# weighted maximum-likelihood ones, divided by $N_k = \sum_n r_{nk}$ (not $N_k - 1$), with nothing added
# to the diagonal.

# %%
def m_step(x, resp):
    """Weighted maximum-likelihood weights (K,), means (K, D), covariances (K, D, D)."""
    ### BEGIN SOLUTION
    nk = resp.sum(0)
    means = resp.T @ x / nk[:, None]
    diff = x[None] - means[:, None, :]
    covs = torch.einsum("nk,kni,knj->kij", resp, diff, diff) / nk[:, None, None]
    return nk / len(x), means, covs
    ### END SOLUTION


# %% tags=["check"]
resp_check = torch.softmax(torch.randn(300, 3, generator=torch.Generator().manual_seed(6)), dim=1)
new_weights, new_means, new_covs = exercises.call(2, m_step, x_check, resp_check, returns=3)
ref_weights, ref_means, ref_covs = mixtures.m_step(x_check, resp_check, "full", reg_covar=0.0)
exercises.expect_close("weights", new_weights, ref_weights, exercise=2)
exercises.expect_close("means", new_means, ref_means, exercise=2)
exercises.expect_close("covariances", new_covs, ref_covs, exercise=2)
# One EM iteration from a poor start, with the library's E-step and your M-step.
poor_start = (torch.full((3,), 1 / 3), true_means + 1.0, true_covs)
log_resp_0, before = mixtures.e_step(x_check, *poor_start)
after = mixtures.e_step(x_check, *exercises.call(2, m_step, x_check, log_resp_0.exp()))[1]
exercises.expect_true("one E-step + your M-step raises the log-likelihood", bool(after > before), exercise=2)

# %% [markdown]
# `course_lib.models.GaussianMixture` is the same loop with the pieces a real fit needs:
# **k-means++** initialisation, a small `reg_covar` added to every variance (so a component cannot
# collapse onto one point and send the likelihood to $+\infty$), several restarts keeping the best,
# diagonal covariances for high dimensions. Its log-likelihood matches scikit-learn's
# `GaussianMixture` iteration by iteration (tested). The curve below is the likelihood at every
# iteration of five restarts: never decreasing, but not all reaching the same height (EM finds a
# *local* maximum).

# %%
x_em = data.three_clusters(600)
fig, ax = plt.subplots(figsize=(6, 3))
curves = []
for seed in range(5):
    gmm = GaussianMixture(3, "full", max_iter=60, tol=0.0, init_params="random").fit(
        x_em, generator=torch.Generator().manual_seed(seed))
    curves.append(gmm.log_likelihood_history)
    ax.plot(gmm.log_likelihood_history, label=f"restart {seed}")
ax.set(xlabel="EM iteration", ylabel="mean log-likelihood (nats)", title="EM from five random starts")
ax.legend(fontsize=7);

# %% tags=["check"]
exercises.expect_true("the EM log-likelihood never decreases",
                      all(np.all(np.diff(c) >= -1e-10) for c in curves))

# %% [markdown]
# Step through EM yourself: the slider moves through the iterations (colours blend the
# responsibilities, ellipses are 2σ contours whose thickness is the weight), the dropdown changes
# $K$. Try $K = 6$ on three clusters: EM happily splits clusters — the likelihood alone cannot choose
# $K$; held-out likelihood can (§7).

# %%
EMStepper(x_em, components=(2, 3, 4, 5, 6), n_components=3, max_iter=40)

# %% [markdown]
# ## 3. k-means is the small-variance limit of EM
#
# Fix every covariance to $\sigma^2\mathbf I$ and every weight to $1/K$. Then
# $r_{nk} \propto \exp(-\lVert\mathbf{x}_n - \boldsymbol\mu_k\rVert^2 / 2\sigma^2)$, and as
# $\sigma \to 0$ the largest term wins: each point belongs entirely to its nearest mean. The M-step
# then sets each mean to the average of its points. That is **Lloyd's k-means** step: hard
# assignment, then averaging.
#
# ### Exercise 3 — one k-means step
# Write `kmeans_step(x, centers)`: assign every point to its nearest centre (labels of shape `(N,)`),
# then return the new centres `(K, D)` (the mean of each cluster) and the labels. Conventions the
# check relies on: the labels are those of the *given* centres (assignment comes first, as in Lloyd's
# step), numbered as the rows of `centers`; the check's start leaves no cluster empty, so you need not
# handle that case (scikit-learn would move an empty cluster's centre to a distant point).

# %%
def kmeans_step(x, centers):
    """One Lloyd iteration: new centres (K, D) and nearest-centre labels (N,) of x (N, D)."""
    ### BEGIN SOLUTION
    labels = torch.cdist(x, centers).argmin(dim=1)
    new_centers = torch.stack([x[labels == k].mean(0) for k in range(len(centers))])
    return new_centers, labels
    ### END SOLUTION


# %% tags=["check"]
start = x_em[[0, 1, 2]]
centers_1, labels_1 = exercises.call(3, kmeans_step, x_em, start, returns=2)
sklearn_step = KMeans(3, init=start.numpy(), n_init=1, max_iter=1).fit(x_em.numpy())
exercises.expect_close("centres after one step (scikit-learn's KMeans, max_iter=1)", centers_1,
                       sklearn_step.cluster_centers_, exercise=3, rtol=1e-6)
exercises.expect_close("labels are the nearest initial centre", labels_1,
                       torch.cdist(x_em, start).argmin(1), exercise=3)
# The limit itself: EM's mean update with tiny shared isotropic variance equals the k-means step.
sigma2 = 1e-8
tiny_resp = torch.softmax(-torch.cdist(x_em, start) ** 2 / (2 * sigma2), dim=1)
exercises.expect_close("EM with σ² → 0 gives the same centres", mixtures.m_step(x_em, tiny_resp, "diag")[1],
                       centers_1, exercise=3, atol=1e-6)

# %%
sigmas = torch.logspace(-1.5, 1, 30)
mean_max_resp = [torch.softmax(-torch.cdist(x_em, start) ** 2 / (2 * s**2), 1).max(1).values.mean() for s in sigmas]
fig, ax = plt.subplots(figsize=(6, 3))
ax.semilogx(sigmas, mean_max_resp)
ax.set(xlabel="shared σ", ylabel="mean of max_k r_nk", title="Responsibilities become hard as σ → 0");

# %% [markdown]
# ## 4. Probabilistic PCA
#
# The second generative model of the lectures replaces the discrete $z$ by a continuous one:
# $$ \mathbf{z} \sim \mathcal N(\mathbf 0, \mathbf I_q), \qquad
#    \mathbf{x} = \mathbf W\mathbf{z} + \boldsymbol\mu + \boldsymbol\varepsilon, \quad
#    \boldsymbol\varepsilon \sim \mathcal N(\mathbf 0, \sigma^2\mathbf I_D). $$
# Everything stays Gaussian, so the marginal is exact:
# $p(\mathbf{x}) = \mathcal N(\boldsymbol\mu, \mathbf W\mathbf W^\top + \sigma^2\mathbf I)$. The noise keeps
# the support from being a flat $q$-dimensional sheet. The conditional's negative log-likelihood is
# $-\log p(\mathbf{x} \mid \mathbf{z}) = \frac{1}{2\sigma^2}\lVert\mathbf{x} - (\mathbf W\mathbf{z} + \boldsymbol\mu)\rVert_2^2 + \text{const}$:
# the **$\ell_2$ reconstruction loss** of PCA (and, with one-hot $z$, of k-means).
#
# Tipping & Bishop (1999) found the maximum-likelihood solution in closed form. With the sample
# covariance $\mathbf S = \frac1N\sum_n(\mathbf{x}_n - \bar{\mathbf{x}})(\mathbf{x}_n - \bar{\mathbf{x}})^\top$,
# eigenvalues $\lambda_1 \ge \dots \ge \lambda_D$ and eigenvectors $\mathbf U$:
# $$ \boldsymbol\mu = \bar{\mathbf{x}}, \qquad \sigma^2 = \frac{1}{D - q}\sum_{j > q}\lambda_j, \qquad
#    \mathbf W = \mathbf U_q(\boldsymbol\Lambda_q - \sigma^2\mathbf I)^{1/2} \;(\text{up to a rotation of } \mathbf{z}). $$
# The noise variance is the average variance PCA throws away.
#
# ### Exercise 4 — PPCA in closed form
# Write `ppca_closed_form(x, q)` returning `(w, mu, sigma2)`: `w` of shape `(D, q)`, `mu` of shape
# `(D,)`, `sigma2` a float. `torch.linalg.eigh` returns eigenvalues in *ascending* order. Use the
# maximum-likelihood sample covariance $\mathbf S$ above, divided by $N$ (`torch.cov` divides by $N - 1$
# unless told otherwise).

# %%
def ppca_closed_form(x, q):
    """Maximum-likelihood PPCA parameters of x (N, D) with q latent dimensions."""
    ### BEGIN SOLUTION
    mu = x.mean(0)
    centered = x - mu
    eigenvalues, eigenvectors = torch.linalg.eigh(centered.T @ centered / len(x))
    eigenvalues, eigenvectors = eigenvalues.flip(0), eigenvectors.flip(1)
    sigma2 = eigenvalues[q:].mean().item()
    w = eigenvectors[:, :q] * torch.sqrt(eigenvalues[:q] - sigma2)
    return w, mu, sigma2
    ### END SOLUTION


# %% tags=["check"]
x_ppca = torch.randn(500, 6, generator=torch.Generator().manual_seed(7)) @ torch.randn(6, 6, generator=torch.Generator().manual_seed(8))
w_s, mu_s, sigma2_s = exercises.call(4, ppca_closed_form, x_ppca, 2, returns=3)
spectrum = np.sort(np.linalg.eigvalsh(np.cov(x_ppca.numpy().T, bias=True)))[::-1]
exercises.expect_close("σ² = mean of the discarded eigenvalues", sigma2_s, spectrum[2:].mean(), exercise=4, rtol=1e-8)
reference = PPCA.fit(x_ppca, 2)
exercises.expect_close("W Wᵀ (W itself is only defined up to a rotation)", w_s @ w_s.T, reference.w @ reference.w.T,
                       exercise=4, rtol=1e-6, atol=1e-9)
exercises.expect_close("mean log-likelihood of your model", PPCA(w_s, mu_s, sigma2_s).log_prob(x_ppca).mean(),
                       reference.log_prob(x_ppca).mean(), exercise=4, rtol=1e-9)

# %% [markdown]
# **EM for PPCA.** Treat $\mathbf{z}$ as missing, as for the mixture: the E-step computes the
# Gaussian posterior $p(\mathbf{z} \mid \mathbf{x}) = \mathcal N(\mathbf M^{-1}\mathbf W^\top(\mathbf{x} - \boldsymbol\mu), \sigma^2\mathbf M^{-1})$
# with $\mathbf M = \mathbf W^\top\mathbf W + \sigma^2\mathbf I$; the M-step solves a least-squares problem
# for $\mathbf W$ and $\sigma^2$. It never forms a $D\times D$ eigendecomposition and handles
# missing pixels naturally. From a random start it climbs to the closed-form optimum.

# %%
split = data.load_dataset(DATASET)
levels, dims_image = split.levels, split.train.x[0].numel()
noise = torch.Generator().manual_seed(0)
train_flat = data.dequantize(split.train.x, noise).reshape(len(split.train.x), -1).double()
val_flat = data.dequantize(split.val.x, noise).reshape(len(split.val.x), -1).double()

q_demo = 10
ppca_cf = PPCA.fit(train_flat, q_demo)
ppca_em = PPCA.fit(train_flat, q_demo, method="em", max_iter=3000, tol=1e-9,
                  generator=torch.Generator().manual_seed(0))
fig, ax = plt.subplots(figsize=(6, 3))
ax.plot(ppca_em.log_likelihood_history, label="EM")
ax.axhline(ppca_cf.log_prob(train_flat).mean().item(), color="k", ls="--", label="closed form")
ax.set(xlabel="EM iteration", ylabel="mean log-likelihood (nats/image)", title=f"PPCA on the digits, q = {q_demo}",
       ylim=(ppca_cf.log_prob(train_flat).mean().item() - 30, None))
ax.legend(fontsize=8);
print(f"σ²: closed form {ppca_cf.sigma2:.5f}, EM {ppca_em.sigma2:.5f} after {len(ppca_em.log_likelihood_history) - 1} iterations")

# %% tags=["check"]
exercises.expect_close("PPCA EM converges to the closed-form noise variance", ppca_em.sigma2, ppca_cf.sigma2, rtol=1e-3)
exercises.expect_close("... and to the closed-form covariance W Wᵀ + σ² I", ppca_em.covariance, ppca_cf.covariance,
                       atol=0.05 * ppca_cf.covariance.abs().max().item())

# %% [markdown]
# The posterior mean $\mathbb E[\mathbf{z} \mid \mathbf{x}]$ with $q = 2$ embeds every image in the
# plane: the first picture of a **latent space**. Digits of the same class land near each other,
# although the model never saw a label. And since PPCA is generative, we can sample images.

# %%
ppca_2d = PPCA.fit(train_flat, 2)
z_mean, z_cov = ppca_2d.posterior(train_flat)
fig, (ax_z, ax_s) = plt.subplots(1, 2, figsize=(11, 4.5))
points = ax_z.scatter(z_mean[:, 0], z_mean[:, 1], c=split.train.y, cmap="tab10", s=6)
fig.colorbar(points, ax=ax_z, label="digit (not used in fitting)")
ax_z.set(title="posterior means E[z | x], q = 2", xlabel="z₁", ylabel="z₂")
image_side = int(math.isqrt(dims_image))
plotting.image_grid(ppca_cf.sample(32).reshape(-1, image_side, image_side).clamp(0, levels), nrow=8, levels=levels,
                    title=f"PPCA samples (q = {q_demo})", ax=ax_s);

# %% [markdown]
# ## 5. A linear autoencoder finds the PCA subspace
#
# Drop the probabilities: an **autoencoder** maps $\mathbf{x}$ to a code $\mathbf{E}(\mathbf{x} - \boldsymbol\mu)$
# of size $q$ and back, and is trained to minimise the squared reconstruction error. With linear
# encoder and decoder, every minimum spans the top-$q$ principal subspace (Baldi & Hornik, 1989):
# gradient descent rediscovers PCA. We measure it with **principal angles** between the decoder's
# column space and the top-$q$ eigenvectors: zero angles mean the same subspace. (The decoder columns
# need not be the eigenvectors themselves — any invertible mixing of the code gives the same
# reconstructions.)

# %%
q_ae = 5
autoencoder = LinearAutoencoder(train_flat.mean(0), q_ae)
history_ae = fit(autoencoder, train_flat, epochs=600, batch_size=100, lr=3e-3, progress=False,
                 checkpoint=cache_dir() / f"ch02_linear_autoencoder_{DATASET}.pt")
eigenvalues, eigenvectors = torch.linalg.eigh(torch.cov(train_flat.T, correction=0))
top_q = eigenvectors.flip(1)[:, :q_ae]
angles = np.degrees(subspace_angles(autoencoder.decoder.weight.detach().numpy(), top_q.numpy()))
pca_error = eigenvalues.flip(0)[q_ae:].sum().item()  # PCA's squared error = the discarded variance
print("principal angles (degrees):", angles.round(2))
print(f"reconstruction error: autoencoder {history_ae.train_loss[-1]:.2f}, PCA optimum {pca_error:.2f}")

fig, ax = plt.subplots(figsize=(6, 3))
ax.semilogy(np.array(history_ae.train_loss) - pca_error)
ax.set(xlabel="epoch", ylabel="error above the PCA optimum", title="Gradient descent converges to PCA");

# %% tags=["check"]
exercises.expect_true("the autoencoder's decoder spans the top principal subspace (all angles < 2°)",
                      bool(angles.max() < 2.0))
exercises.expect_true("its reconstruction error reaches the PCA optimum (within 0.5%)",
                      history_ae.train_loss[-1] < 1.005 * pca_error)

# %% [markdown]
# ## 6. Both models on the digits
#
# Continuous densities on dequantized images, as in chapter 01: each reported number is the
# uniform-dequantization bound on the test NLL, in nats per image. The model size is chosen on the
# validation images: the number and kind of mixture components, and PPCA's latent dimension.

# %%
candidates = [("diag", 10, 1e-6), ("diag", 20, 1e-6), ("diag", 40, 1e-6), ("full", 1, 1e-6), ("full", 3, 0.1),
              ("full", 5, 0.1)]
gmm_scores = {}
for covariance_type, k, reg in candidates:
    model = GaussianMixture(k, covariance_type, reg_covar=reg, n_init=3, max_iter=300).fit(
        train_flat, generator=torch.Generator().manual_seed(0))
    gmm_scores[(covariance_type, k, reg)] = (-model.log_prob(val_flat).mean().item(), model)
best_gmm_key = min(gmm_scores, key=lambda key: gmm_scores[key][0])
best_gmm = gmm_scores[best_gmm_key][1]

ppca_scores = {q: -PPCA.fit(train_flat, q).log_prob(val_flat).mean().item() for q in (5, 10, 20, 30, 40, 50, 60)}
best_q = min(ppca_scores, key=ppca_scores.get)
best_ppca = PPCA.fit(train_flat, best_q)

test_flat = split.test.x.reshape(len(split.test.x), -1)
gmm_nll = mean_nll(best_gmm, test_flat, dequantize=True, generator=noise)
ppca_nll = mean_nll(best_ppca, test_flat, dequantize=True, generator=noise)

display(Markdown(
    "| model | validation NLL | |\n|---|---|---|\n"
    + "\n".join(f"| GMM, {t}, K = {k}, reg = {r:g} | {s:.1f} | {'← chosen' if (t, k, r) == best_gmm_key else ''} |"
                for (t, k, r), (s, _) in gmm_scores.items())
    + "\n" + "\n".join(f"| PPCA, q = {q} | {s:.1f} | {'← chosen' if q == best_q else ''} |" for q, s in ppca_scores.items())))
print(f"test NLL (dequantization bound): GMM {gmm_nll:.1f}, PPCA {ppca_nll:.1f} nats/image")

# %%
fig, (ax_g, ax_p) = plt.subplots(1, 2, figsize=(10, 3))
plotting.image_grid(best_gmm.sample(16).reshape(-1, image_side, image_side).clamp(0, levels), nrow=8, levels=levels,
                    title=f"GMM samples ({best_gmm_key[0]}, K = {best_gmm_key[1]})", ax=ax_g)
plotting.image_grid(best_ppca.sample(16).reshape(-1, image_side, image_side).clamp(0, levels), nrow=8, levels=levels,
                    title=f"PPCA samples (q = {best_q})", ax=ax_p);

# %% tags=["check"]
exercises.expect_true("both latent variable models beat the KDE bound of chapter 01 (≈ 156 nats) on digits",
                      DATASET != "digits" or max(gmm_nll, ppca_nll) < 150)
exercises.expect_true("both beat the uniform distribution", max(gmm_nll, ppca_nll) < dims_image * math.log(levels))

# %% [markdown]
# Both beat the KDE of chapter 01 by capturing *structure* (clusters; a linear subspace), yet both
# still lose to the independent-pixel model, whose probabilities are exact on the discrete grey
# levels: a Gaussian spends density outside $[0, 17)$ and cannot put a spike on the many pure-white
# pixels, and the dequantization bound charges for it. Discrete output distributions (chapter 03)
# and flows with learned dequantization (chapter 05) close this gap.

# %%
leaderboard.record(f"Gaussian mixture ({best_gmm_key[0]}, K = {best_gmm_key[1]}, EM)", 2, gmm_nll, dims_image,
                   dataset=DATASET, bound="dequantization bound")
leaderboard.record(f"Probabilistic PCA (q = {best_q})", 2, ppca_nll, dims_image, dataset=DATASET,
                   bound="dequantization bound")
Markdown(leaderboard.table(DATASET))

# %% [markdown]
# ## 7. From linear to deep: why $p(\mathbf{x})$ becomes intractable
#
# Keep the story but let a neural network map the latent to the data: $\mathbf{z} \sim \mathcal N(\mathbf 0, \mathbf I)$,
# $\mathbf{x} = f_\theta(\mathbf{z}) + \boldsymbol\varepsilon$. A simple prior pushed through a
# nonlinear $f$ gives a complex marginal — here a two-layer network with random weights bends a 2D
# Gaussian into a curved, folded density:
# $$ p_\theta(\mathbf{x}) = \int \mathcal N(\mathbf{x}; f_\theta(\mathbf{z}), \sigma^2\mathbf I)\, \mathcal N(\mathbf{z}; \mathbf 0, \mathbf I)\, d\mathbf{z}. $$
# For PPCA the integral was a Gaussian identity; for a neural $f_\theta$ it has no closed form. The
# lectures list four ways out: avoid the integral (GANs, chapter 06), approximate it (VAEs,
# chapter 04), make $f_\theta$ invertible so the integral disappears (flows, chapter 05), or drop the
# latent variable (autoregressive models, chapter 03).

# %%
torch.manual_seed(3)
decoder = torch.nn.Sequential(torch.nn.Linear(2, 32), torch.nn.Tanh(), torch.nn.Linear(32, 2))
for p in decoder.parameters():
    torch.nn.init.normal_(p, std=1.2)
sigma_x = 0.3
with torch.no_grad():
    z_grid = torch.randn(20_000, 2)
    x_nonlinear = decoder(z_grid) + sigma_x * torch.randn(20_000, 2)
    z_mc = torch.randn(4000, 2)
    f_mc = decoder(z_mc)

    def marginal_log_density(x):
        """Monte Carlo over z: log (1/K) Σ_k N(x; f(z_k), σ² I) — fine in 2D, see below for higher D."""
        log_lik = -((x[:, None, :] - f_mc[None]) ** 2).sum(-1) / (2 * sigma_x**2) - math.log(2 * math.pi * sigma_x**2)
        return torch.logsumexp(log_lik, 1) - math.log(len(f_mc))

lim = x_nonlinear.abs().quantile(0.99).item()
fig, (ax_z, ax_x, ax_p) = plt.subplots(1, 3, figsize=(13, 4))
plotting.scatter(z_grid[:3000], labels=(z_grid[:3000, 0] > 0).long(), title="z ~ N(0, I)", ax=ax_z)
plotting.scatter(x_nonlinear[:3000], labels=(z_grid[:3000, 0] > 0).long(), title="x = f(z) + ε", ax=ax_x)
plotting.density_heatmap(marginal_log_density, xlim=(-lim, lim), ylim=(-lim, lim), resolution=120,
                         title="p(x), by Monte Carlo over z", ax=ax_p);

# %% [markdown]
# In two dimensions Monte Carlo over $\mathbf{z}$ works: $p(\mathbf{x}) \approx \frac1K\sum_k p(\mathbf{x} \mid \mathbf{z}_k)$
# with $\mathbf{z}_k \sim p(\mathbf{z})$. In more latent dimensions it collapses: almost every prior
# sample explains $\mathbf{x}$ badly, the average is dominated by rare lucky draws, and its variance
# explodes. We can measure this exactly on the linear-Gaussian model, where $\log p(\mathbf{x})$ is known.
#
# ### Exercise 5 — the naive Monte Carlo estimate of $\log p(\mathbf{x})$
# Write `naive_mc_log_px(x, z, w, mu, sigma2)`: given prior samples `z` (K, q), return for each row of
# `x` (B, D) the estimate $\log \frac1K \sum_k \mathcal N(\mathbf{x}; \mathbf W\mathbf{z}_k + \boldsymbol\mu, \sigma^2\mathbf I)$,
# shape (B,). Compute it as a log-mean-exp (`torch.logsumexp(...) - log K`).

# %%
def naive_mc_log_px(x, z, w, mu, sigma2):
    """Naive Monte Carlo estimate of log p(x) (B,) for PPCA, from prior samples z (K, q)."""
    ### BEGIN SOLUTION
    means = z @ w.T + mu                                                     # (K, D)
    sq = ((x[:, None, :] - means[None]) ** 2).sum(-1)                         # (B, K)
    log_lik = -0.5 * sq / sigma2 - 0.5 * x.shape[1] * math.log(2 * math.pi * sigma2)
    return torch.logsumexp(log_lik, dim=1) - math.log(len(z))
    ### END SOLUTION


# %% tags=["check"]
small = PPCA(torch.tensor([[1.0], [0.5], [-0.3]]), torch.zeros(3), 0.2)
x_small = small.sample(5, generator=torch.Generator().manual_seed(9))
z_many = torch.randn(400_000, 1, generator=torch.Generator().manual_seed(10))
estimate = exercises.call(5, naive_mc_log_px, x_small, z_many, small.w, small.mean, small.sigma2)
exercises.expect_close("with q = 1 and many samples the estimate matches the exact log p(x)", estimate,
                       small.log_prob(x_small), exercise=5, atol=0.03)
exercises.expect_close("same z, same estimate as course_lib's PPCA.naive_monte_carlo_log_prob", estimate,
                       small.naive_monte_carlo_log_prob(x_small, z_many), exercise=5, rtol=1e-8)
one = exercises.call(5, naive_mc_log_px, x_small, z_many[:1], small.w, small.mean, small.sigma2)
exercises.expect_close("with one sample it is log p(x | z₁)", one,
                       torch.distributions.Normal(z_many[0] @ small.w.T, math.sqrt(0.2)).log_prob(x_small).sum(1),
                       exercise=5, rtol=1e-9)

# %% [markdown]
# Now the experiment: PPCA models with latent dimension $q$ from 1 to 32 ($D = 2q$, unit-scale
# loadings, $\sigma^2 = 0.1$), the estimator with $K = 1000$ prior samples, repeated 20 times per
# data point. The error grows with $q$; the estimate is biased low (log of an average of
# mostly tiny numbers) and its spread widens.

# %%
latent_dims = [1, 2, 4, 8, 16, 32]
errors = {}
for q in latent_dims:
    gen = torch.Generator().manual_seed(q)
    model = PPCA(torch.randn(2 * q, q, generator=gen) / math.sqrt(q), torch.zeros(2 * q), 0.1)
    x_q = model.sample(10, generator=gen)
    exact = model.log_prob(x_q)
    runs = torch.stack([model.naive_monte_carlo_log_prob(x_q, torch.randn(1000, q, generator=gen)) for _ in range(20)])
    errors[q] = (exact - runs).flatten()  # ≥ 0 on average: Jensen

fig, ax = plt.subplots(figsize=(6, 3))
ax.boxplot([errors[q].numpy() for q in latent_dims], showfliers=False)
ax.set_xticks(range(1, len(latent_dims) + 1), [str(q) for q in latent_dims])
ax.set_yscale("symlog", linthresh=0.1)
ax.set(xlabel="latent dimension q", ylabel="log p(x) − estimate (nats)",
       title="Naive Monte Carlo over z, K = 1000 samples");
print({q: round(errors[q].mean().item(), 2) for q in latent_dims})

# %% tags=["check"]
exercises.expect_true("with q = 1 naive Monte Carlo is accurate (bias < 0.05, spread < 0.1 nats)",
                      bool(errors[1].mean().abs() < 0.05 and errors[1].std() < 0.1))
exercises.expect_true("with q = 32 it is off by many nats", errors[32].mean() > 5)

# %% [markdown]
# The cure is to sample $\mathbf{z}$ where it matters: from a proposal $q(\mathbf{z} \mid \mathbf{x})$
# close to the posterior, reweighted, $p(\mathbf{x}) = \mathbb E_{q}\big[p(\mathbf{x}, \mathbf{z}) / q(\mathbf{z} \mid \mathbf{x})\big]$
# (**importance sampling**). With the exact posterior every sample gives the exact answer, since
# $p(\mathbf{x}, \mathbf{z}) / p(\mathbf{z} \mid \mathbf{x}) = p(\mathbf{x})$ for every $\mathbf{z}$ — check it below
# with PPCA's posterior. For a deep model the posterior is unknown, so we *learn* a $q$ with a
# neural network: the variational autoencoder of chapter 04.

# %%
q_check = 32
model = PPCA(torch.randn(2 * q_check, q_check, generator=torch.Generator().manual_seed(1)), torch.zeros(2 * q_check), 0.1)
x_one = model.sample(1, generator=torch.Generator().manual_seed(2))
post_mean, post_cov = model.posterior(x_one)
z_post = torch.distributions.MultivariateNormal(post_mean[0], post_cov).sample((5,))
log_joint = (torch.distributions.Normal(z_post @ model.w.T + model.mean, math.sqrt(model.sigma2)).log_prob(x_one).sum(1)
             + torch.distributions.Normal(0.0, 1.0).log_prob(z_post).sum(1))
importance = log_joint - torch.distributions.MultivariateNormal(post_mean[0], post_cov).log_prob(z_post)
print("log p(x, z) − log p(z | x) for five posterior samples:", importance.numpy().round(6))
print("exact log p(x):", model.log_prob(x_one).item())

# %% tags=["check"]
exercises.expect_close("importance weights with the true posterior are all exactly p(x)", importance,
                       model.log_prob(x_one).expand(5), rtol=1e-8)

# %% [markdown]
# ## Further exercises (no checks)
# 6. Derive the M-step of the mixture from the expected complete-data log-likelihood
#    $\sum_n\sum_k r_{nk}\,[\log\pi_k + \log\mathcal N(\mathbf{x}_n; \boldsymbol\mu_k, \boldsymbol\Sigma_k)]$, with a
#    Lagrange multiplier for $\sum_k \pi_k = 1$.
# 7. Set `reg_covar=0` and fit a full-covariance mixture with many components to the digits. What
#    happens to the training likelihood, and why is a singular covariance a (useless) maximum?
# 8. Fit PPCA by EM to digits with 20% of the pixels missing at random (the E-step conditions only on
#    observed pixels), and compare the imputed pixels with the truth.
#
# ## Summary
# - A latent variable model is a generative story; its density is a marginal over the hidden variable.
# - EM maximises the likelihood of mixtures by alternating posterior responsibilities (E) and weighted
#   maximum likelihood (M); Jensen's bound makes every iteration non-decreasing; k-means is its
#   σ → 0 limit.
# - PPCA is the linear-Gaussian latent model: closed form from the eigendecomposition, or EM; its
#   negative log-likelihood is an ℓ2 reconstruction error; a linear autoencoder learns the same subspace.
# - With a neural decoder the marginal is intractable and naive Monte Carlo fails in high dimension:
#   importance sampling with a learned posterior (chapter 04) is the way forward.
#
# ## References
# - Dempster, A. P., Laird, N. M., & Rubin, D. B. (1977). Maximum likelihood from incomplete data via the EM algorithm.
# - Lloyd, S. (1982). Least squares quantization in PCM.
# - Arthur, D., & Vassilvitskii, S. (2007). k-means++: the advantages of careful seeding.
# - Baldi, P., & Hornik, K. (1989). Neural networks and principal component analysis.
# - Roweis, S. (1998). EM algorithms for PCA and SPCA.
# - Tipping, M. E., & Bishop, C. M. (1999). Probabilistic principal component analysis.
# - Bishop, C. M. (2006). *Pattern Recognition and Machine Learning*, ch. 9 and §12.2.
# - Kingma, D. P., & Welling, M. (2014). Auto-encoding variational Bayes.


# %% tags=["check"]
# Every check run in this session: "all passed", or the list of those that failed. Stuck on one exercise?
# Run `exercises.keep_going()` once: a failed check then prints a red ✘ and "Run All" goes on to the end.
exercises.report()
