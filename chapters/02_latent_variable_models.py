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
#
# $$ p(\mathbf{x}) = \int p(\mathbf{x} \mid \mathbf{z})\, p(\mathbf{z})\, d\mathbf{z}, $$
#
# and everything in this chapter is about when that integral is easy (mixtures, linear-Gaussian
# models) and what to do when it is not (the deep models of chapters 04–06). These are "my first"
# and "my second" generative model of the lectures; their deep descendants fill the "explicit,
# approximate" and "implicit" rows of the taxonomy ([chapter 01, §8](01_density_estimation.ipynb)).
#
# **Learning objectives.** After this chapter you can
# 1. read and draw a model in plate notation (observed and latent variables, directed and undirected
#    edges, plates), and tell an autoregressive model from a latent variable model by its graph;
# 2. write a Gaussian mixture as a generative story and sample from it;
# 3. derive and implement expectation–maximisation (E-step and M-step, in log space) and explain
#    why the likelihood never decreases;
# 4. obtain k-means as the small-variance limit of EM for the isotropic mixture;
# 5. fit probabilistic PCA in closed form and by EM, and read the negative log-likelihood as an
#    $\ell_2$ reconstruction error;
# 6. show that a linear autoencoder trained by gradient descent finds the PCA subspace;
# 7. report both models on the digits in nats per image, against the models of chapter 01;
# 8. explain why a *nonlinear* $\mathbf{x} = f_\theta(\mathbf{z})$ makes $p(\mathbf{x})$ intractable and
#    why naive Monte Carlo over $\mathbf{z}$ fails in high dimension;
# 9. weigh the pros and cons of latent variable models.
#
# **Exercises** (each checked by the cell below it):
#
# | # | you write | section |
# |---|---|---|
# | 1 | `e_step`: the responsibilities and the log-likelihood of a mixture, in log space | §3 |
# | 2 | `m_step`: the weights, means and covariances that maximise the expected complete-data likelihood | §3 |
# | 3 | `kmeans_step`: one Lloyd step — assign every point, then move every centre | §4 |
# | 4 | `ppca_closed_form`: maximum-likelihood PPCA from the eigendecomposition of the covariance | §5 |
# | 5 | `ppca_em_step`: one EM step of PPCA — posterior moments, then a regression | §5 |
# | 6 | `naive_mc_log_px`: the naive Monte Carlo estimate of $\log p(\mathbf{x})$, in log space | §8 |

# %%
DATASET = "digits"  # "digits" (bundled, CPU) or "mnist" / "fashion_mnist" (local IDX files in $DGM_DATA)

import math
import time

import matplotlib.pyplot as plt
import numpy as np
import torch
from IPython.display import Markdown, display
from scipy import stats
from scipy.linalg import subspace_angles

from course_lib import data
from course_lib.evaluation import gallery, leaderboard, mean_nll
from course_lib.models import LinearAutoencoder
from course_lib.runtime import cache_dir, seed_everything
from course_lib.teaching import exercises
from course_lib.train import fit
from course_lib.viz import plotting

seed_everything(0)
torch.set_default_dtype(torch.float64)  # small problems; double precision keeps the checks sharp

# %% [markdown]
# ## 1. Drawing a model: plate notation
#
# Probabilistic graphical models draw how random variables depend on each other; the chapters use
# the lectures' conventions:
#
# - a **shaded** circle is an **observed** variable (a pixel, an image), a **white** circle a
#   **latent** one (never observed: a cluster label, a code $\mathbf{z}$);
# - a **directed** edge $a \to b$ says that $b$ is drawn given $a$: the joint is the product of one
#   conditional $p(b \mid \text{parents}(b))$ per node, and sampling follows the arrows (ancestral
#   sampling);
# - an **undirected** edge $a - b$ is a symmetric interaction: the joint is a product of potentials,
#   $p \propto \exp(-E)$, divided by a normalising constant that sums over every state;
# - a **plate** (a rectangle marked $N$) holds $N$ independent copies of what it contains — one per data
#   point; what sits outside it (parameters, the prior of a mixture) is shared by all copies.
#
# **Review exercise (from the lectures; pen and paper, then run the cell).** Draw an autoregressive model
# of three random variables $x_1, x_2, x_3$, then a latent variable model of the same three variables.
# Which edges does each need? The answer is drawn below.

# %%
def draw_graph(ax, nodes, edges=(), plates=(), title=""):
    """A graphical model on ``ax``: nodes {name: (x, y, label, kind)} with kind "observed" (shaded), "latent"
    (white) or "parameter" (a small dot); edges [(parent, child, directed)]; plates [(x0, y0, x1, y1, label)]."""
    radius = {"observed": 0.3, "latent": 0.3, "parameter": 0.06}
    for x0, y0, x1, y1, label in plates:
        ax.add_patch(plt.Rectangle((x0, y0), x1 - x0, y1 - y0, fill=False, lw=1.2, ec="0.3"))
        ax.text(x1 - 0.08, y0 + 0.08, label, ha="right", va="bottom", fontsize=11)
    for a, b, directed in edges:
        start, end = np.array(nodes[a][:2], float), np.array(nodes[b][:2], float)
        unit = (end - start) / np.linalg.norm(end - start)
        start, end = start + radius[nodes[a][3]] * unit, end - radius[nodes[b][3]] * unit
        ax.annotate("", xy=end, xytext=start, arrowprops=dict(arrowstyle="-|>" if directed else "-", lw=1.3,
                                                             color="k", shrinkA=0, shrinkB=0, mutation_scale=14))
    for x, y, label, kind in nodes.values():
        if kind == "parameter":
            ax.add_patch(plt.Circle((x, y), radius[kind], color="k", zorder=3))
            ax.text(x, y + 0.14, label, ha="center", va="bottom", fontsize=11)
        else:
            ax.add_patch(plt.Circle((x, y), radius[kind], fc="0.78" if kind == "observed" else "white", ec="k",
                                    lw=1.3, zorder=3))
            ax.text(x, y, label, ha="center", va="center", fontsize=12, zorder=4)
    ax.set_title(title, fontsize=10)
    ax.set_aspect("equal")
    ax.autoscale_view()
    ax.margins(0.15)
    ax.set_axis_off()


fig, axes = plt.subplots(1, 4, figsize=(15, 4.2))
draw_graph(axes[0], {"x1": (0, 0, "$x_1$", "observed"), "x2": (1.2, 1.0, "$x_2$", "observed"),
                     "x3": (2.4, 0, "$x_3$", "observed")},
           [("x1", "x2", True), ("x1", "x3", True), ("x2", "x3", True)],
           title="autoregressive model\n$p(x_1)\\,p(x_2 | x_1)\\,p(x_3 | x_1, x_2)$")
draw_graph(axes[1], {"z": (1.2, 1.3, "$z$", "latent"), "x1": (0, 0, "$x_1$", "observed"),
                     "x2": (1.2, 0, "$x_2$", "observed"), "x3": (2.4, 0, "$x_3$", "observed")},
           [("z", "x1", True), ("z", "x2", True), ("z", "x3", True)], [(-0.6, -0.6, 3.0, 1.9, "$N$")],
           title="directed latent variable model\n$p(z)\\,p(x_1 | z)\\,p(x_2 | z)\\,p(x_3 | z)$, N copies")
draw_graph(axes[2], {"h1": (0.6, 1.3, "$h_1$", "latent"), "h2": (1.8, 1.3, "$h_2$", "latent"),
                     "x1": (0, 0, "$x_1$", "observed"), "x2": (1.2, 0, "$x_2$", "observed"),
                     "x3": (2.4, 0, "$x_3$", "observed")},
           [(h, x, False) for h in ("h1", "h2") for x in ("x1", "x2", "x3")],
           title="undirected latent variable model (RBM)\n$p(\\mathbf{x}, \\mathbf{h}) \\propto e^{-E(\\mathbf{x}, \\mathbf{h})}$")
draw_graph(axes[3], {"pi": (-0.9, 1.3, "$\\pi$", "parameter"), "z": (0.3, 1.3, "$z_n$", "latent"),
                     "x": (0.3, 0, "$x_n$", "observed"), "mu": (2.0, 0.0, "$\\mu_k, \\Sigma_k$", "parameter")},
           [("pi", "z", True), ("z", "x", True), ("mu", "x", True)],
           [(-0.35, -0.6, 0.95, 1.9, "$N$"), (1.35, -0.6, 2.65, 0.75, "$K$")],
           title="Gaussian mixture (§2)\n$p(z_n | \\pi)\\, p(x_n | z_n, \\mu, \\Sigma)$, N points, K components");

# %% [markdown]
# The autoregressive graph is *complete*: every variable has an edge from every earlier one, so it can
# represent any joint distribution (it is the chain rule), at the price of one conditional per variable
# ([chapter 03](03_autoregressive.ipynb)). The latent variable model has no edge between the $x_d$:
# *given* $z$ they are independent. They are still dependent *marginally*, because they share a cause —
# a few latent variables carry all the correlations. Check it by exact enumeration on a latent variable
# model of three binary variables with a two-state $z$: $p(\mathbf{x}) = \sum_z p(z) \prod_d p(x_d \mid z)$.

# %%
prior_z = torch.tensor([0.6, 0.4])                                   # p(z)
p_on = torch.tensor([[0.9, 0.8, 0.7], [0.1, 0.2, 0.3]])               # p(x_d = 1 | z), one row per z
states = torch.tensor([[(s >> d) & 1 for d in range(3)] for s in range(8)], dtype=torch.float64)   # all 8 x
p_x_given_z = (p_on[:, None] ** states * (1 - p_on[:, None]) ** (1 - states)).prod(-1)              # (z, x)
p_x = prior_z @ p_x_given_z                                           # the marginal: sum over z
p_on_marginal = p_x @ states                                          # p(x_d = 1)
independent_x = (p_on_marginal ** states * (1 - p_on_marginal) ** (1 - states)).prod(-1)
covariance_12 = (p_x * states[:, 0] * states[:, 1]).sum() - p_on_marginal[0] * p_on_marginal[1]
display(Markdown("| x | p(x) (sum over z) | product of its marginals |\n|---|---|---|\n" + "\n".join(
    f"| {tuple(int(v) for v in s)} | {p:.4f} | {q:.4f} |" for s, p, q in zip(states.tolist(), p_x, independent_x))))
print(f"Cov(x1, x2) = {covariance_12:.4f} marginally; given z it is 0 (no edge between them)")

# %% tags=["check"]
exercises.expect_close("the latent variable model's p(x) sums to 1 over the 8 states", p_x.sum(), 1.0, rtol=1e-12)
exercises.expect_true("yet p(x) is not the product of its marginals: the shared z makes x₁ and x₂ dependent",
                      bool((p_x - independent_x).abs().max() > 0.01 and covariance_12 > 0.01))

# %% [markdown]
# The third graph is the other kind of latent variable model: **undirected**. A restricted Boltzmann
# machine couples visible $\mathbf{x}$ and hidden $\mathbf{h}$ through an energy,
# $p(\mathbf{x}, \mathbf{h}) = e^{-E(\mathbf{x}, \mathbf{h})} / Z$. No arrows means no ancestral sampling
# (it needs a Markov chain), and the normalising constant $Z$ sums over every joint state — the topic of
# [chapter 08](08_energy_score_diffusion.ipynb), which trains one and computes its $Z$ exactly. The rest of this
# chapter stays with directed models, whose joint needs no $Z$.
#
# ## 2. The Gaussian mixture as a generative story
#
# The fourth graph above, written out:
#
# $$ p(z = k) = \pi_k, \qquad p(\mathbf{x} \mid z = k) = \mathcal N(\mathbf{x}; \boldsymbol\mu_k, \boldsymbol\Sigma_k),
#    \qquad p(\mathbf{x}) = \sum_{k=1}^K \pi_k\, \mathcal N(\mathbf{x}; \boldsymbol\mu_k, \boldsymbol\Sigma_k). $$
#
# Sampling follows the arrows (**ancestral sampling**): pick a component from the prior, then draw
# from that component. These are the two lines below.

# %%
true_weights = torch.tensor([0.5, 0.3, 0.2])
true_means = torch.tensor([[-2.0, 0.0], [1.5, 1.5], [1.5, -2.0]])
true_covs = torch.stack([torch.tensor([[1.0, 0.6], [0.6, 0.61]]), 0.36 * torch.eye(2),
                         torch.tensor([[0.16, 0.2], [0.2, 1.69]])])

z = torch.multinomial(true_weights, 600, replacement=True)  # z ~ Cat(π)
x_story = torch.distributions.MultivariateNormal(true_means[z], true_covs[z]).sample()   # x ~ N(μ_z, Σ_z)

fig, (ax_z, ax_x) = plt.subplots(1, 2, figsize=(10, 4))
plotting.scatter(x_story, labels=z, title="samples coloured by their hidden z", ax=ax_z)
plotting.scatter(x_story, title="what we observe: x only", ax=ax_x);

# %% [markdown]
# ## 3. Expectation–maximisation
#
# The log-likelihood $\sum_n \log \sum_k \pi_k \mathcal N(\mathbf{x}_n; \boldsymbol\mu_k, \boldsymbol\Sigma_k)$
# has a log of a sum: setting its gradient to zero gives no closed form. But if we *knew* each
# $z_n$, fitting would be three averages. EM alternates between guessing $z$ softly and fitting:
#
# - **E-step.** Responsibilities: the posterior of the hidden variable, by Bayes' rule,
#   $r_{nk} = p(z_n = k \mid \mathbf{x}_n) = \dfrac{\pi_k \mathcal N(\mathbf{x}_n; \boldsymbol\mu_k, \boldsymbol\Sigma_k)}{\sum_j \pi_j \mathcal N(\mathbf{x}_n; \boldsymbol\mu_j, \boldsymbol\Sigma_j)}$.
# - **M-step.** Weighted maximum likelihood: each component is fitted to *all* the points, point $n$
#   counting for $r_{nk}$ of a point. With $N_k = \sum_n r_{nk}$:
#   $\pi_k = N_k / N$, $\boldsymbol\mu_k = \frac{1}{N_k}\sum_n r_{nk}\mathbf{x}_n$,
#   $\boldsymbol\Sigma_k = \frac{1}{N_k}\sum_n r_{nk}(\mathbf{x}_n - \boldsymbol\mu_k)(\mathbf{x}_n - \boldsymbol\mu_k)^\top$.
#
# **Why it works.** For any distribution $q(z)$, Jensen's inequality gives
# $\log p(\mathbf{x}) = \log \sum_z q(z) \frac{p(\mathbf{x}, z)}{q(z)} \ge \sum_z q(z) \log \frac{p(\mathbf{x}, z)}{q(z)}$,
# with equality when $q(z) = p(z \mid \mathbf{x})$. The E-step makes the bound tight; the M-step
# raises the bound; so the log-likelihood can never go down. (The same bound, with a neural $q$,
# is the ELBO of chapter 04.)
#
# In code, Bayes' rule as written is fragile: for a point far from every component each
# $\mathcal N(\mathbf{x}_n; \cdot)$ underflows to 0 and $r_{nk}$ becomes $0/0$ (and the densities of whole
# digit images underflow in single precision, §7). Keep $\log \pi_k + \log \mathcal N(\cdot)$ and normalise
# with log-sum-exp, $\log \sum_j e^{a_j} = m + \log \sum_j e^{a_j - m}$ with $m = \max_j a_j$.
#
# ### Exercise 1 — the E-step in log space
# Write `e_step(x, weights, means, covs)` for full covariances (`weights` (K,), `means` (K, D), `covs`
# (K, D, D)). Return `log_resp` of shape `(N, K)`, the logarithms $\log r_{nk}$ (each row's exponentials sum
# to one), and the mean log-likelihood $\frac1N \sum_n \log p(\mathbf{x}_n)$ in nats, a 0-d tensor.
# `torch.distributions.MultivariateNormal(means, covs)` is a batch of K Gaussians; its `log_prob` broadcasts
# over a leading axis, so `x[:, None, :]` gives all N × K log-densities at once. Never leave log space:
# `torch.logsumexp` does the normalisation.

# %%
def e_step(x, weights, means, covs):
    """log responsibilities (N, K) and mean log-likelihood (nats) of x (N, D) under the mixture."""
    ### BEGIN SOLUTION
    log_joint = torch.log(weights) + torch.distributions.MultivariateNormal(means, covs).log_prob(x[:, None, :])
    log_px = torch.logsumexp(log_joint, dim=1, keepdim=True)
    return log_joint - log_px, log_px.mean()
    ### END SOLUTION


# %% tags=["check"]
weights_1 = torch.tensor([0.5, 0.3, 0.2])
means_1 = torch.tensor([[-2.0, 0.0], [1.5, 1.5], [1.5, -2.0]])
covs_1 = torch.stack([torch.tensor([[1.0, 0.6], [0.6, 0.61]]), 0.36 * torch.eye(2), torch.tensor([[0.16, 0.2], [0.2, 1.69]])])
x_1 = data.three_clusters(300, generator=torch.Generator().manual_seed(5))
log_resp_1, mean_ll_1 = exercises.call(1, e_step, x_1, weights_1, means_1, covs_1, returns=2)
# SciPy's densities and Bayes' rule, in plain probabilities (safe for these points)
weighted_pdf = np.stack([w * stats.multivariate_normal(m.numpy(), c.numpy()).pdf(x_1.numpy())
                         for w, m, c in zip(weights_1.tolist(), means_1, covs_1)], 1)
exercises.expect_close("responsibilities r_nk = exp(log_resp) (SciPy densities and Bayes' rule)", torch.exp(log_resp_1),
                       weighted_pdf / weighted_pdf.sum(1, keepdims=True), exercise=1, rtol=1e-6,
                       hint="r_nk ∝ π_k N(x_n; μ_k, Σ_k), normalised over the K components of each point (axis 1)")
exercises.expect_close("mean log-likelihood (nats per point)", mean_ll_1, np.log(weighted_pdf.sum(1)).mean(), exercise=1,
                       rtol=1e-8, hint="log p(x_n) = log Σ_k π_k N(x_n; μ_k, Σ_k), averaged (not summed) over the N points")
far_resp, far_ll = exercises.call(1, e_step, torch.tensor([[60.0, 60.0]]), weights_1, means_1, covs_1, returns=2)
exercises.expect_true("finite responsibilities that sum to 1 for a point far from every component (every density is 0.0 there)",
                      bool(torch.isfinite(far_resp).all() and torch.isfinite(far_ll)
                           and abs(torch.exp(far_resp).sum().item() - 1) < 1e-9),
                      exercise=1, hint="normalise log π_k + log N(...) with torch.logsumexp, not with exp then sum")

# %% [markdown]
# ### Exercise 2 — the M-step
# Write `m_step(x, resp)`: given responsibilities `resp` (N, K) (probabilities, not logs), return the
# weights (K,), means (K, D) and full covariances (K, D, D) that maximise the expected complete-data
# log-likelihood (the formulas above). Conventions the check relies on: each covariance is the weighted
# maximum-likelihood one — divided by $N_k = \sum_n r_{nk}$, not $N_k - 1$ — taken around the component's
# *new* mean, with nothing added to the diagonal. Write it without a loop over the N points.

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
x_2 = data.three_clusters(300, generator=torch.Generator().manual_seed(5))
resp_2 = torch.softmax(torch.randn(300, 3, generator=torch.Generator().manual_seed(6)), dim=1)
new_weights, new_means, new_covs = exercises.call(2, m_step, x_2, resp_2, returns=3)
# NumPy's weighted statistics, one component at a time: np.average and np.cov with aweights (bias=True: 1/N_k)
x_np, resp_np = x_2.numpy(), resp_2.numpy()
exercises.expect_close("weights", new_weights, resp_np.mean(0), exercise=2,
                       hint="π_k is the share of the total responsibility that component k takes: N_k / N")
exercises.expect_close("means (np.average with the responsibilities as weights)", new_means,
                       np.stack([np.average(x_np, axis=0, weights=r) for r in resp_np.T]), exercise=2,
                       hint="μ_k is the r_nk-weighted average of the points: divide by N_k, not by N")
ref_covs = np.stack([np.cov(x_np.T, aweights=r, bias=True) for r in resp_np.T])
nk_2 = resp_np.sum(0)[:, None, None]
covariance_hint = "Σ_k is the r_nk-weighted average of (x_n − μ_k)(x_n − μ_k)ᵀ around the new mean μ_k"
if new_covs.shape == ref_covs.shape and np.allclose(np.asarray(new_covs), ref_covs * nk_2 / (nk_2 - 1), rtol=1e-6):
    covariance_hint = "yours are N_k/(N_k − 1) × the expected ones: divide by N_k (maximum likelihood), not N_k − 1"
exercises.expect_close("covariances (np.cov with aweights, bias=True)", new_covs, ref_covs, exercise=2,
                       hint=covariance_hint)
# One EM iteration from a poor start: SciPy's E-step, then your M-step; the likelihood must go up.
def mixture_log_likelihood(weights, means, covs):
    pdf = sum(w * stats.multivariate_normal(m, c).pdf(x_np) for w, m, c in zip(np.asarray(weights),
                                                                          np.asarray(means), np.asarray(covs)))
    return np.log(pdf).mean()
poor_start = (np.full(3, 1 / 3), np.array([[-1.0, 1.0], [2.5, 2.5], [2.5, -1.0]]), np.stack([np.eye(2)] * 3))
resp_0 = np.stack([w * stats.multivariate_normal(m, c).pdf(x_np) for w, m, c in zip(*poor_start)], 1)
resp_0 /= resp_0.sum(1, keepdims=True)
updated = exercises.call(2, m_step, x_2, torch.from_numpy(resp_0), returns=3)
exercises.expect_true("one E-step + your M-step raises the log-likelihood",
                      bool(mixture_log_likelihood(*updated) > mixture_log_likelihood(*poor_start)), exercise=2)

# %% [markdown]
# `course_lib.models.GaussianMixture` is the same loop with the pieces a real fit needs:
# **k-means++** initialisation, a small `reg_covar` added to every variance (so a component cannot
# collapse onto one point and send the likelihood to $+\infty$), several restarts keeping the best,
# diagonal or isotropic covariances for high dimensions. Its log-likelihood matches scikit-learn's
# `GaussianMixture` iteration by iteration (tested). The curves below are the likelihood at every
# iteration of five restarts on a ring of eight clusters: never decreasing, but not all reaching the same
# height — EM finds a *local* maximum, hence the restarts.

# %%
from course_lib.models import GaussianMixture

x_ring = data.eight_gaussians(600, generator=torch.Generator().manual_seed(0))
fig, (ax_curves, ax_fits) = plt.subplots(1, 2, figsize=(11, 3.5))
curves, ring_fits = [], []
for seed in range(5):
    gmm = GaussianMixture(8, "full", max_iter=60, tol=0.0, init_params="random").fit(
        x_ring, generator=torch.Generator().manual_seed(seed))
    curves.append(gmm.log_likelihood_history.numpy())
    ring_fits.append(gmm)
    ax_curves.plot(curves[-1], label=f"restart {seed}: {curves[-1][-1]:.3f}")
ax_curves.set(xlabel="EM iteration", ylabel="mean log-likelihood (nats)", title="EM from five random starts, K = 8")
ax_curves.legend(fontsize=7)
worst = ring_fits[int(np.argmin([c[-1] for c in curves]))]
plotting.scatter(x_ring, labels=worst.responsibilities(x_ring).argmax(1), ax=ax_fits,
                 title="the worst restart: a local maximum (clusters merged or split)");

# %% tags=["check"]
exercises.expect_true("the EM log-likelihood never decreases", all(np.all(np.diff(c) >= -1e-10) for c in curves))
finals = [c[-1] for c in curves]
exercises.expect_true("the restarts end at different heights: local maxima (spread > 0.05 nats)",
                      max(finals) - min(finals) > 0.05)

# %% [markdown]
# Step through EM yourself on the three clusters of §2: the slider moves through the iterations (colours
# blend the responsibilities, ellipses are 2σ contours whose thickness is the weight), the first dropdown
# changes $K$. Try $K = 6$: EM happily splits clusters and the training likelihood still rises — the
# likelihood alone cannot choose $K$; held-out likelihood can (§7).
#
# The second dropdown picks the covariance. The lectures write the mixture with **isotropic** components,
# $p(\mathbf{x} \mid z = k) = \mathcal N(\boldsymbol\mu_k, \sigma_k^2\mathbf I)$ (`"spherical"`): circles, one
# variance per component. `"diag"` allows axis-aligned ellipses, `"full"` any ellipse. Fewer parameters cost
# fit on these tilted clusters, as the table below measures from one common start; they pay off in high
# dimension, where a full covariance has $D(D+1)/2$ entries per component.

# %%
from course_lib.viz import EMStepper

x_em = data.three_clusters(600, generator=torch.Generator().manual_seed(0))
kinds = {"full": lambda k, d: k * (d + d * (d + 1) // 2), "diag": lambda k, d: k * 2 * d, "spherical": lambda k, d: k * (d + 1)}
by_kind = {kind: GaussianMixture(3, kind, max_iter=60, tol=0.0, init_params="random").fit(
    x_em, generator=torch.Generator().manual_seed(0)).log_likelihood_history[-1].item() for kind in kinds}
display(Markdown("| covariance | parameters (K = 3, D = 2, with K − 1 weights) | training log-likelihood (nats/point) |\n"
                 "|---|---|---|\n" + "\n".join(f"| {kind} | {count(3, 2) + 2} | {by_kind[kind]:.3f} |"
                                                for kind, count in kinds.items())))
EMStepper(x_em, components=(2, 3, 4, 5, 6), n_components=3, max_iter=40)

# %% tags=["check"]
exercises.expect_true("on these tilted clusters full covariances fit best, isotropic ones worst",
                      by_kind["full"] > by_kind["diag"] > by_kind["spherical"])

# %% [markdown]
# ## 4. k-means is the small-variance limit of EM
#
# Take the isotropic mixture, with one variance $\sigma^2$ shared by all components and every weight fixed
# to $1/K$. Then $r_{nk} \propto \exp(-\lVert\mathbf{x}_n - \boldsymbol\mu_k\rVert^2 / 2\sigma^2)$, and as
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
from scipy.cluster.vq import vq
from sklearn.cluster import KMeans

x_3 = data.three_clusters(600, generator=torch.Generator().manual_seed(3))
start_3 = x_3[[0, 1, 2]]
centers_3, labels_3 = exercises.call(3, kmeans_step, x_3, start_3, returns=2)
exercises.expect_close("labels: the nearest of the given centres (SciPy's vector quantisation)", labels_3,
                       torch.from_numpy(vq(x_3.numpy(), start_3.numpy())[0]).long(), exercise=3,
                       hint="label each point by its nearest *given* centre, numbered as the rows of `centers` "
                            "(assignment comes before the update)")
sklearn_step = KMeans(3, init=start_3.numpy(), n_init=1, max_iter=1).fit(x_3.numpy())
exercises.expect_close("centres after one step (scikit-learn's KMeans, max_iter=1)", centers_3,
                       sklearn_step.cluster_centers_, exercise=3, rtol=1e-6,
                       hint="each new centre is the mean of the points assigned to it")
# The limit itself: EM's mean update with a tiny shared isotropic variance gives the same centres.
tiny_resp = torch.softmax(-torch.cdist(x_3, start_3) ** 2 / (2 * 1e-8), dim=1)
exercises.expect_close("EM with σ² → 0 gives the same centres", tiny_resp.T @ x_3 / tiny_resp.sum(0)[:, None],
                       centers_3, exercise=3, atol=1e-6)

# %%
start_sigma = x_em[[0, 1, 2]]
sigmas = torch.logspace(-1.5, 1, 30)
mean_max_resp = torch.stack([torch.softmax(-torch.cdist(x_em, start_sigma) ** 2 / (2 * s**2), 1).max(1).values.mean()
                             for s in sigmas])
fig, ax = plt.subplots(figsize=(6, 3))
ax.semilogx(sigmas, mean_max_resp)
ax.set(xlabel="shared σ", ylabel="mean of max_k r_nk", title="Responsibilities become hard as σ → 0");

# %% tags=["check"]
exercises.expect_true("responsibilities harden as σ shrinks: the mean largest r_nk rises to above 0.99",
                      bool(mean_max_resp[0] > 0.99 and mean_max_resp[-1] < mean_max_resp[0]))

# %% [markdown]
# ## 5. Probabilistic PCA
#
# The second generative model of the lectures replaces the discrete $z$ by a continuous one:
#
# $$ \mathbf{z} \sim \mathcal N(\mathbf 0, \mathbf I_q), \qquad
#    \mathbf{x} = \mathbf W\mathbf{z} + \boldsymbol\mu + \boldsymbol\varepsilon, \quad
#    \boldsymbol\varepsilon \sim \mathcal N(\mathbf 0, \sigma^2\mathbf I_D). $$
#
# Its graph is the directed one of §1 with a vector $\mathbf{z}$. Everything stays Gaussian, so the marginal
# is exact: $p(\mathbf{x}) = \mathcal N(\boldsymbol\mu, \mathbf W\mathbf W^\top + \sigma^2\mathbf I)$. The noise
# keeps the support from being a flat $q$-dimensional sheet. The conditional's negative log-likelihood is
# $-\log p(\mathbf{x} \mid \mathbf{z}) = \frac{1}{2\sigma^2}\lVert\mathbf{x} - (\mathbf W\mathbf{z} + \boldsymbol\mu)\rVert_2^2 + \text{const}$:
# the **$\ell_2$ reconstruction loss** of PCA (and, with one-hot $z$, of k-means).
#
# Tipping & Bishop (1999) found the maximum-likelihood solution in closed form. With the sample
# covariance $\mathbf S = \frac1N\sum_n(\mathbf{x}_n - \bar{\mathbf{x}})(\mathbf{x}_n - \bar{\mathbf{x}})^\top$,
# eigenvalues $\lambda_1 \ge \dots \ge \lambda_D$ and eigenvectors $\mathbf U$:
#
# $$ \boldsymbol\mu = \bar{\mathbf{x}}, \qquad \sigma^2 = \frac{1}{D - q}\sum_{j > q}\lambda_j, \qquad
#    \mathbf W = \mathbf U_q(\boldsymbol\Lambda_q - \sigma^2\mathbf I)^{1/2} \;(\text{up to a rotation of } \mathbf{z}). $$
#
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
from sklearn.decomposition import PCA

x_4 = torch.randn(500, 6, generator=torch.Generator().manual_seed(7)) @ torch.randn(6, 6, generator=torch.Generator().manual_seed(8))
w_4, mu_4, sigma2_4 = exercises.call(4, ppca_closed_form, x_4, 2, returns=3)
# scikit-learn's PCA fits the same model (its noise_variance_ is PPCA's σ²), with the 1/(N − 1) covariance
pca_4 = PCA(2).fit(x_4.numpy())
to_ml = (len(x_4) - 1) / len(x_4)   # → the maximum-likelihood 1/N convention
exercises.expect_close("σ² = the mean of the discarded eigenvalues (scikit-learn's noise_variance_)", sigma2_4,
                       pca_4.noise_variance_ * to_ml, exercise=4, rtol=1e-8,
                       hint="σ² averages the D − q *smallest* eigenvalues of the 1/N covariance, the ones the q "
                            "latent directions leave out (torch.linalg.eigh returns them in ascending order)")
exercises.expect_close("μ = the sample mean", mu_4, pca_4.mean_, exercise=4)
exercises.expect_close("W Wᵀ (W itself is only defined up to a rotation)", w_4 @ w_4.T,
                       pca_4.get_covariance() * to_ml - pca_4.noise_variance_ * to_ml * np.eye(6), exercise=4,
                       rtol=1e-6, atol=1e-9, hint="the top-q eigenvectors (eigh sorts ascending), each scaled by "
                                                  "the square root of its eigenvalue minus σ²")
exercises.expect_close("mean log-likelihood of your model (torch.distributions)",
                       torch.distributions.MultivariateNormal(mu_4, w_4 @ w_4.T + sigma2_4 * torch.eye(6)).log_prob(x_4).mean(),
                       torch.distributions.MultivariateNormal(torch.from_numpy(pca_4.mean_), torch.from_numpy(
                           pca_4.get_covariance() * to_ml)).log_prob(x_4).mean(), exercise=4, rtol=1e-9)

# %% [markdown]
# **EM for PPCA.** Treat $\mathbf{z}$ as missing, as for the mixture (Roweis, 1998; Tipping & Bishop, 1999):
#
# - **E-step.** The posterior of each code is Gaussian,
#   $p(\mathbf{z}_n \mid \mathbf{x}_n) = \mathcal N\big(\mathbf M^{-1}\mathbf W^\top(\mathbf{x}_n - \boldsymbol\mu),\; \sigma^2\mathbf M^{-1}\big)$
#   with $\mathbf M = \mathbf W^\top\mathbf W + \sigma^2\mathbf I_q$ ($q \times q$). The M-step needs its first two
#   moments, $\mathbb E[\mathbf{z}_n]$ and $\mathbb E[\mathbf{z}_n\mathbf{z}_n^\top] = \operatorname{Cov}[\mathbf{z}_n] + \mathbb E[\mathbf{z}_n]\mathbb E[\mathbf{z}_n]^\top$.
# - **M-step.** Given $\mathbf{z}_n$, the model is a linear regression of $\mathbf{x}_n - \boldsymbol\mu$ on
#   $\mathbf{z}_n$ with noise $\sigma^2$. Maximise its expected log-likelihood: the normal equations with the
#   expected statistics give
#   $\mathbf W_{\text{new}} = \big[\sum_n (\mathbf{x}_n - \boldsymbol\mu)\,\mathbb E[\mathbf{z}_n]^\top\big]\big[\sum_n \mathbb E[\mathbf{z}_n\mathbf{z}_n^\top]\big]^{-1}$,
#   and the noise variance is the expected squared residual per coordinate,
#   $\sigma^2_{\text{new}} = \frac{1}{ND}\sum_n \mathbb E\,\lVert \mathbf{x}_n - \boldsymbol\mu - \mathbf W_{\text{new}}\mathbf{z}_n\rVert^2$
#   (expand the square to write it with the two moments).
#
# $\boldsymbol\mu$ stays the sample mean. No $D \times D$ eigendecomposition is needed, and pixels that are
# missing can be left out of each regression.
#
# ### Exercise 5 — one EM step of PPCA
# Write `ppca_em_step(x, w, sigma2)`: from data `x` (N, D), the current `w` (D, q) and `sigma2` (a float),
# return `(w_new, sigma2_new)`, one E-step followed by one M-step: `w_new` of shape (D, q), `sigma2_new` a
# float or 0-d tensor. Conventions the check relies on: $\boldsymbol\mu$ is the mean of `x`; both moments of
# every posterior enter the M-step; $\sigma^2_{\text{new}}$ is computed with $\mathbf W_{\text{new}}$ and
# averages over all $N \cdot D$ coordinates.

# %%
def ppca_em_step(x, w, sigma2):
    """One EM iteration of PPCA: (W_new (D, q), σ²_new) from x (N, D), W (D, q), σ²."""
    ### BEGIN SOLUTION
    centered = x - x.mean(0)
    n, d = x.shape
    m_inv = torch.linalg.inv(w.T @ w + sigma2 * torch.eye(w.shape[1]))
    ez = centered @ w @ m_inv                                  # E[z_n], (N, q); M is symmetric
    sum_ezz = n * sigma2 * m_inv + ez.T @ ez                   # Σ_n E[z_n z_nᵀ], (q, q)
    w_new = centered.T @ ez @ torch.linalg.inv(sum_ezz)
    sigma2_new = ((centered ** 2).sum() - 2 * (ez * (centered @ w_new)).sum()
                  + torch.trace(sum_ezz @ w_new.T @ w_new)) / (n * d)
    return w_new, sigma2_new
    ### END SOLUTION


# %% tags=["check"]
from sklearn.decomposition import PCA

from course_lib.models import ppca   # its em_step writes the same update with the sample covariance S only

gen_5 = torch.Generator().manual_seed(11)
x_5 = (torch.randn(400, 3, generator=gen_5) @ torch.randn(3, 6, generator=gen_5) + 0.3 * torch.randn(400, 6, generator=gen_5)
       + torch.randn(6, generator=gen_5))
w_start, sigma2_start = torch.randn(6, 2, generator=gen_5), 0.5
w_5, sigma2_5 = exercises.call(5, ppca_em_step, x_5, w_start, sigma2_start, returns=2)
w_ref, sigma2_ref = ppca.em_step(torch.cov(x_5.T, correction=0), w_start, sigma2_start)
exercises.expect_close("W_new (Tipping & Bishop's update written with S, eq. 29)", w_5, w_ref, exercise=5, rtol=1e-8,
                       atol=1e-10, hint="centre x at its mean; the E-step gives E[z_n] = M⁻¹Wᵀ(x_n − μ) and "
                                        "E[z_n z_nᵀ] = σ²M⁻¹ + E[z_n]E[z_n]ᵀ — the M-step needs both")
exercises.expect_close("σ²_new (eq. 30)", sigma2_5, sigma2_ref, exercise=5, rtol=1e-8,
                       hint="σ²_new is the expected squared residual ‖x_n − μ − W_new z_n‖² under the posterior, "
                            "averaged over all N·D coordinates, with the *new* W and both posterior moments")


def ppca_mean_log_likelihood(w, sigma2):
    return torch.distributions.MultivariateNormal(x_5.mean(0), w @ w.T + sigma2 * torch.eye(6)).log_prob(x_5).mean().item()


path = [(w_start, sigma2_start)]
for _ in range(5):
    path.append(exercises.call(5, ppca_em_step, x_5, path[-1][0], float(path[-1][1]), returns=2))
heights = [ppca_mean_log_likelihood(w, s) for w, s in path]
exercises.expect_true("five EM steps never lower the log-likelihood", bool(np.all(np.diff(heights) >= -1e-10)),
                      exercise=5)
# The maximum-likelihood solution (scikit-learn, rescaled to 1/N) is a fixed point of EM.
pca_5 = PCA(2).fit(x_5.numpy())
to_ml_5 = (len(x_5) - 1) / len(x_5)
sigma2_ml = pca_5.noise_variance_ * to_ml_5
w_ml = torch.from_numpy(pca_5.components_.T * np.sqrt(pca_5.explained_variance_ * to_ml_5 - sigma2_ml))
w_fixed, sigma2_fixed = exercises.call(5, ppca_em_step, x_5, w_ml, sigma2_ml, returns=2)
exercises.expect_close("at the maximum-likelihood solution one step changes nothing (W Wᵀ and σ²)",
                       torch.cat([(w_fixed @ w_fixed.T).flatten(), torch.as_tensor(sigma2_fixed).reshape(1)]),
                       torch.cat([(w_ml @ w_ml.T).flatten(), torch.tensor([sigma2_ml])]), exercise=5, rtol=1e-7, atol=1e-10)

# %% [markdown]
# `course_lib.models.PPCA` holds both fits. On the dequantized digits, EM from a random start
# climbs to the closed-form optimum.

# %%
from course_lib.models import PPCA

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
# How near? Label each digit by the nearest class mean in the plane (the labels are used only for this score).
classes = split.train.y.unique()
class_means = torch.stack([z_mean[split.train.y == c].mean(0) for c in classes])
plane_accuracy = (classes[torch.cdist(z_mean, class_means).argmin(1)] == split.train.y).double().mean().item()
print(f"nearest class mean in the PPCA plane: {plane_accuracy:.0%} of the training digits (chance: {1 / len(classes):.0%})")

# %% tags=["check"]
exercises.expect_true("digits of one class land near each other: the nearest class mean in the plane is right "
                      "more than 3 × as often as chance", plane_accuracy > 3 / len(classes))

# %% [markdown]
# ## 6. A linear autoencoder finds the PCA subspace
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
# ## 7. Both models on the digits
#
# Continuous densities on dequantized images, as in chapter 01: each reported number is the
# uniform-dequantization bound on the test NLL, in nats per image. The model size is chosen on the
# validation images: the number and kind of mixture components, and PPCA's latent dimension.

# %%
candidates = [("spherical", 20, 1e-6), ("diag", 10, 1e-6), ("diag", 20, 1e-6), ("diag", 40, 1e-6), ("full", 1, 1e-6),
              ("full", 3, 0.1), ("full", 5, 0.1)]
gmm_scores = {}
fit_started = time.perf_counter()
for covariance_type, k, reg in candidates:
    model = GaussianMixture(k, covariance_type, reg_covar=reg, n_init=3, max_iter=300).fit(
        train_flat, generator=torch.Generator().manual_seed(0))
    gmm_scores[(covariance_type, k, reg)] = (-model.log_prob(val_flat).mean().item(), model)
best_gmm_key = min(gmm_scores, key=lambda key: gmm_scores[key][0])
best_gmm = gmm_scores[best_gmm_key][1]
gmm_seconds = time.perf_counter() - fit_started          # every candidate: choosing the model is part of training

fit_started = time.perf_counter()
ppca_scores = {q: -PPCA.fit(train_flat, q).log_prob(val_flat).mean().item() for q in (5, 10, 20, 30, 40, 50, 60)}
best_q = min(ppca_scores, key=ppca_scores.get)
best_ppca = PPCA.fit(train_flat, best_q)
ppca_seconds = time.perf_counter() - fit_started

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

# %% [markdown]
# How do they compare with chapter 01's models? Its two numbers are read from the course leaderboard
# (`leaderboard.entries()`), which chapter 01 fills when it runs; on a fresh cache they are computed here
# the way chapter 01 computes them.

# %%
from course_lib.models import FactorizedCategorical, GaussianKDE, select_bandwidth


def independent_pixels_nll():
    return mean_nll(FactorizedCategorical.fit(split.train.x, levels), split.test.x)


def kde_nll_as_in_chapter_01():
    generator = torch.Generator().manual_seed(0)        # chapter 01's noise, drawn in chapter 01's order
    train_deq, val_deq = data.dequantize(split.train.x, generator), data.dequantize(split.val.x, generator)
    bandwidth, _ = select_bandwidth(train_deq, val_deq, torch.logspace(-1.5, -0.5, 13) * levels)
    return mean_nll(GaussianKDE(train_deq, bandwidth), split.test.x, dequantize=True, generator=generator)


def chapter_01_nll(name_start, compute):
    """(test NLL, where it comes from) of chapter 01's model whose leaderboard name starts with name_start."""
    rows = [row for row in leaderboard.entries()
            if row["chapter"] == 1 and row["dataset"] == DATASET and row["model"].startswith(name_start)]
    return (rows[0]["nll_nats"], "the leaderboard") if rows else (compute(), "computed here")


independent_nll, independent_source = chapter_01_nll("Independent pixels", independent_pixels_nll)
kde_nll, kde_source = chapter_01_nll("Gaussian KDE", kde_nll_as_in_chapter_01)
uniform_nll = dims_image * math.log(levels)
white = (split.train.x == 0).double().mean().item()
pixel_sd = best_ppca.covariance.diagonal().sqrt()
outside = (stats.norm.cdf(0, best_ppca.mean.numpy(), pixel_sd.numpy())
           + stats.norm.sf(levels, best_ppca.mean.numpy(), pixel_sd.numpy())).mean()
with torch.no_grad():
    density_float32 = best_ppca.log_prob(test_flat.double()).float().exp()
display(Markdown(
    "| model | test NLL (nats/image) | source |\n|---|---|---|\n"
    f"| uniform over the ${levels}^{{{dims_image}}}$ images | {uniform_nll:.1f} | ${dims_image} \\ln {levels}$ |\n"
    f"| Gaussian KDE (chapter 01) | {kde_nll:.1f} | {kde_source} |\n"
    f"| GMM ({best_gmm_key[0]}, K = {best_gmm_key[1]}) | {gmm_nll:.1f} | this chapter |\n"
    f"| PPCA (q = {best_q}) | {ppca_nll:.1f} | this chapter |\n"
    f"| independent pixels (chapter 01, exact) | {independent_nll:.1f} | {independent_source} |\n\n"
    f"Both latent variable models beat the KDE by {kde_nll - max(gmm_nll, ppca_nll):.1f} nats or more, and "
    f"{'both lose to' if min(gmm_nll, ppca_nll) > independent_nll else 'do not both lose to'} the "
    f"independent-pixel model, by {min(gmm_nll, ppca_nll) - independent_nll:.1f} nats or more. "
    f"{white:.0%} of the training pixels are pure white (level 0); the chosen PPCA puts on average "
    f"{outside:.1%} of each pixel's probability outside [0, {levels})."))

# %% tags=["check"]
exercises.expect_true("both latent variable models beat the uniform distribution", max(gmm_nll, ppca_nll) < uniform_nll)
exercises.expect_true(f"both beat chapter 01's KDE (a mixture of {len(split.train.x)} Gaussians, one per image)",
                      max(gmm_nll, ppca_nll) < kde_nll)
exercises.expect_true("both still lose to chapter 01's independent-pixel model on the digits",
                      DATASET != "digits" or min(gmm_nll, ppca_nll) > independent_nll)
exercises.expect_true("the digit densities underflow in single precision (exp of −NLL is 0.0 in float32)",
                      DATASET != "digits" or bool((density_float32 == 0).all()))

# %% [markdown]
# Both beat the KDE by capturing *structure* (clusters; a linear subspace), yet both still lose to
# the independent-pixel model, whose probabilities are exact on the discrete grey levels: a Gaussian
# spends density outside the range of grey levels and cannot put a spike on the many pure-white pixels,
# and the dequantization bound charges for it. Discrete output distributions (chapter 03) and flows with
# learned dequantization (chapter 05) close this gap. (And the densities themselves: $e^{-\text{NLL}}$ is
# below the smallest positive single-precision number, one more reason to work in log space.)

# %%
leaderboard.record(f"Gaussian mixture ({best_gmm_key[0]}, K = {best_gmm_key[1]}, EM)", 2, gmm_nll, dims_image,
                   dataset=DATASET, bound="dequantization bound")
leaderboard.record(f"Probabilistic PCA (q = {best_q})", 2, ppca_nll, dims_image, dataset=DATASET,
                   bound="dequantization bound")
# Samples of both go to the gallery, where chapter 09 scores every model's samples on the same test split.
gallery.record_model(f"Gaussian mixture ({best_gmm_key[0]}, K = {best_gmm_key[1]}, EM)", 2, best_gmm, levels=levels,
                     dataset=DATASET, train_seconds=gmm_seconds, dequantized=True, image_shape=(1, image_side, image_side))
gallery.record_model(f"Probabilistic PCA (q = {best_q})", 2, best_ppca, levels=levels, dataset=DATASET,
                     train_seconds=ppca_seconds, dequantized=True, image_shape=(1, image_side, image_side))
display(Markdown(f"The bits/dim are on the {levels} grey levels of these images (the uniform model costs "
                 f"log₂ {levels} = {math.log2(levels):.3f} bits per pixel): not comparable with published figures "
                 f"on 256-level images."))
Markdown(leaderboard.table(DATASET))

# %% [markdown]
# ## 8. From linear to deep: why $p(\mathbf{x})$ becomes intractable
#
# Keep the story but let a neural network map the latent to the data: $\mathbf{z} \sim \mathcal N(\mathbf 0, \mathbf I)$,
# $\mathbf{x} = f_\theta(\mathbf{z}) + \boldsymbol\varepsilon$. A simple prior pushed through a
# nonlinear $f$ gives a complex marginal — here a two-layer network with random weights bends a 2D
# Gaussian into a curved, folded density:
#
# $$ p_\theta(\mathbf{x}) = \int \mathcal N(\mathbf{x}; f_\theta(\mathbf{z}), \sigma^2\mathbf I)\, \mathcal N(\mathbf{z}; \mathbf 0, \mathbf I)\, d\mathbf{z}. $$
#
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
# ### Exercise 6 — the naive Monte Carlo estimate of $\log p(\mathbf{x})$
# Write `naive_mc_log_px(x, z, w, mu, sigma2)` for PPCA: given prior samples `z` (K, q), return for each row
# of `x` (B, D) the logarithm of the average likelihood,
# $\log \frac1K \sum_k \mathcal N(\mathbf{x}; \mathbf W\mathbf{z}_k + \boldsymbol\mu, \sigma^2\mathbf I)$, shape (B,).
# Each term underflows for a point that no $\mathbf{z}_k$ explains well, so stay in log space: a
# log-mean-exp of the K log-likelihoods (note that the log of a mean is not the mean of the logs).

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
w_6, mu_6, sigma2_6 = torch.tensor([[1.0], [0.5], [-0.3]]), torch.tensor([0.5, 0.0, -1.0]), 0.2
gen_6 = torch.Generator().manual_seed(9)
x_6 = torch.randn(5, 1, generator=gen_6) @ w_6.T + mu_6 + math.sqrt(sigma2_6) * torch.randn(5, 3, generator=gen_6)
z_many = torch.randn(400_000, 1, generator=gen_6)
z_few = z_many[:200]
densities = np.stack([stats.multivariate_normal(m, sigma2_6 * np.eye(3)).pdf(x_6.numpy())
                      for m in (z_few @ w_6.T + mu_6).numpy()])                  # (K, B), plain densities (SciPy)
exercises.expect_close("with 200 samples: the log of the average density (SciPy)", exercises.call(
    6, naive_mc_log_px, x_6, z_few, w_6, mu_6, sigma2_6), np.log(densities.mean(0)), exercise=6, rtol=1e-9,
    hint=f"average the K densities N(x; W z_k + μ, σ² I) (σ² is a variance), then take the log: a log-mean-exp, "
         f"so an offset of log K = {math.log(len(z_few)):.4f} means the 1/K is missing; the mean of the "
         f"log-densities is lower (Jensen)")
exact_6 = torch.distributions.MultivariateNormal(mu_6, w_6 @ w_6.T + sigma2_6 * torch.eye(3)).log_prob(x_6)
exercises.expect_close("with q = 1 and many prior samples the estimate matches the exact log p(x)",
                       exercises.call(6, naive_mc_log_px, x_6, z_many, w_6, mu_6, sigma2_6), exact_6, exercise=6,
                       atol=0.03)
x_far = torch.tensor([[40.0, -40.0, 40.0]])
far_6 = exercises.call(6, naive_mc_log_px, x_far, z_few, w_6, mu_6, sigma2_6)
best_term = torch.distributions.Normal(z_few @ w_6.T + mu_6, math.sqrt(sigma2_6)).log_prob(x_far).sum(1).max()
exercises.expect_true("finite for a point no sample explains (every density is 0.0 there), between "
                      "max_k log p(x | z_k) − log K and max_k log p(x | z_k)",
                      bool(torch.isfinite(torch.as_tensor(far_6)).all()
                           and best_term - math.log(len(z_few)) - 1e-6 <= far_6.item() <= best_term + 1e-6),
                      exercise=6, hint="work with log-densities and torch.logsumexp, then subtract log K")

# %% [markdown]
# Now the experiment: PPCA models with latent dimension $q$ growing from 1 ($D = 2q$, unit-scale loadings),
# the estimator with a fixed budget of prior samples, repeated on every data point (the settings are
# printed below). `PPCA.naive_monte_carlo_log_prob` is the same estimator as your Exercise 6.

# %%
latent_dims, budget, repeats, sigma2_mc = [1, 2, 4, 8, 16, 32], 1000, 20, 0.1
print(f"q in {latent_dims}, D = 2q, σ² = {sigma2_mc}, K = {budget} prior samples, {repeats} repeats on 10 points")
errors = {}
for q in latent_dims:
    gen = torch.Generator().manual_seed(q)
    model = PPCA(torch.randn(2 * q, q, generator=gen) / math.sqrt(q), torch.zeros(2 * q), sigma2_mc)
    x_q = model.sample(10, generator=gen)
    exact = model.log_prob(x_q)
    runs = torch.stack([model.naive_monte_carlo_log_prob(x_q, torch.randn(budget, q, generator=gen))
                        for _ in range(repeats)])
    errors[q] = (exact - runs).flatten()  # ≥ 0 on average: Jensen

fig, ax = plt.subplots(figsize=(6, 3))
ax.boxplot([errors[q].numpy() for q in latent_dims], showfliers=False)
ax.set_xticks(range(1, len(latent_dims) + 1), [str(q) for q in latent_dims])
ax.set_yscale("symlog", linthresh=0.1)
ax.set(xlabel="latent dimension q", ylabel="log p(x) − estimate (nats)",
       title=f"Naive Monte Carlo over z, K = {budget} samples");
display(Markdown("| q | mean error (nats) | standard deviation |\n|---|---|---|\n" + "\n".join(
    f"| {q} | {errors[q].mean():.3f} | {errors[q].std():.3f} |" for q in latent_dims)))

# %% tags=["check"]
exercises.expect_true("with q = 1 naive Monte Carlo is accurate (bias < 0.05, spread < 0.1 nats)",
                      bool(errors[1].mean().abs() < 0.05 and errors[1].std() < 0.1))
exercises.expect_true("from q = 2 on the error grows with q, and with q = 32 it is off by many nats (> 5)",
                      bool(np.all(np.diff([errors[q].mean().item() for q in latent_dims[1:]]) > 0)
                           and errors[32].mean() > 5))
exercises.expect_true("the estimate is biased low (log p(x) − estimate > 0 on average for q ≥ 4) and its spread "
                      "widens (q = 32 vs q = 4 vs q = 1)",
                      all(errors[q].mean() > 0 for q in latent_dims[2:])
                      and bool(errors[32].std() > errors[4].std() > errors[1].std()))

# %% [markdown]
# The cure is to sample $\mathbf{z}$ where it matters: from a proposal $q(\mathbf{z} \mid \mathbf{x})$
# close to the posterior, reweighted, $p(\mathbf{x}) = \mathbb E_{q}\big[p(\mathbf{x}, \mathbf{z}) / q(\mathbf{z} \mid \mathbf{x})\big]$
# (**importance sampling**). With the exact posterior every sample gives the exact answer, since
# $p(\mathbf{x}, \mathbf{z}) / p(\mathbf{z} \mid \mathbf{x}) = p(\mathbf{x})$ for every $\mathbf{z}$ — check it below
# with PPCA's posterior. For a deep model the posterior is unknown, so we *learn* a $q$ with a
# neural network: the variational autoencoder of chapter 04.

# %%
q_check = latent_dims[-1]
model = PPCA(torch.randn(2 * q_check, q_check, generator=torch.Generator().manual_seed(1)), torch.zeros(2 * q_check), 0.1)
x_one = model.sample(1, generator=torch.Generator().manual_seed(2))
post_mean, post_cov = model.posterior(x_one)
z_post = torch.distributions.MultivariateNormal(post_mean[0], post_cov).sample((5,))
log_joint = (torch.distributions.Normal(z_post @ model.w.T + model.mean, math.sqrt(model.sigma2)).log_prob(x_one).sum(1)
             + torch.distributions.Normal(0.0, 1.0).log_prob(z_post).sum(1))
importance = log_joint - torch.distributions.MultivariateNormal(post_mean[0], post_cov).log_prob(z_post)
print(f"q = {q_check}: log p(x, z) − log p(z | x) for five posterior samples:", importance.numpy().round(6))
print("exact log p(x):", model.log_prob(x_one).item())

# %% tags=["check"]
exercises.expect_close("importance weights with the true posterior are all exactly p(x)", importance,
                       model.log_prob(x_one).expand(5), rtol=1e-8)

# %% [markdown]
# ## 9. Latent variable models: pros and cons
#
# The lectures' balance sheet, with where this chapter showed each point:
#
# | pros | cons |
# |---|---|
# | **abstract variables**: a code per example that captures *what* is seen — the PPCA plane of §5 sorts digits by class without labels; such codes help semi-supervised learning | **likelihood and inference are often intractable**: $p(\mathbf{x})$ and $p(\mathbf{z} \mid \mathbf{x})$ were exact for mixtures and PPCA only; with a nonlinear $f_\theta$ the integral has no closed form and naive Monte Carlo fails (§8) |
# | **fast sampling and training**: ancestral sampling is one pass, $\mathbf{z}$ then $\mathbf{x}$ (§2), where an autoregressive model needs one step per pixel (chapter 03); EM and the closed forms need no gradient descent | **assumptions on the latent variables**: the number of components, the latent dimension, the prior, the noise model — chosen here on held-out data (§7), and wrong choices cost likelihood |
# | **theoretical foundations**: Jensen's bound of §3 is the ELBO of chapter 04, with links to compression and information theory (bits-back) | **details are hard to capture**: isotropic Gaussian noise around $\mathbf W\mathbf{z} + \boldsymbol\mu$ blurs; both models lose to independent pixels on the digits (§7) |
#
# All of this chapter's models are **directed**. The undirected latent variable models of §1 — restricted
# Boltzmann machines, deep Boltzmann machines — trade ancestral sampling and a normalised joint for symmetric
# interactions; [chapter 08](08_energy_score_diffusion.ipynb) trains an RBM with contrastive divergence and
# computes its partition function exactly.
#
# ## Further exercises (no checks)
# 7. Derive the M-step of the mixture from the expected complete-data log-likelihood
#    $\sum_n\sum_k r_{nk}\,[\log\pi_k + \log\mathcal N(\mathbf{x}_n; \boldsymbol\mu_k, \boldsymbol\Sigma_k)]$, with a
#    Lagrange multiplier for $\sum_k \pi_k = 1$; then the isotropic case, $\boldsymbol\Sigma_k = \sigma_k^2\mathbf I$.
# 8. Set `reg_covar=0` and fit a full-covariance mixture with many components to the digits. What
#    happens to the training likelihood, and why is a singular covariance a (useless) maximum?
# 9. Fit PPCA by EM to digits with 20% of the pixels missing at random (the E-step conditions only on
#    observed pixels), and compare the imputed pixels with the truth.
# 10. Draw a mixture of PPCA models (Tipping & Bishop, 1999) in plate notation: which variables are latent,
#     and which plates do you need?
#
# ## Summary
# - Plate notation draws a model: shaded observed and white latent variables, arrows for conditionals,
#   lines for undirected potentials, plates for i.i.d. copies. An autoregressive graph is complete; a latent
#   variable model makes the observations dependent through shared hidden causes.
# - A latent variable model is a generative story; its density is a marginal over the hidden variable.
# - EM maximises the likelihood of mixtures by alternating posterior responsibilities (E) and weighted
#   maximum likelihood (M); Jensen's bound makes every iteration non-decreasing; restarts guard against
#   local maxima; k-means is the σ → 0 limit of the isotropic mixture.
# - PPCA is the linear-Gaussian latent model: closed form from the eigendecomposition, or EM (posterior
#   moments, then a regression); its negative log-likelihood is an ℓ2 reconstruction error; a linear
#   autoencoder learns the same subspace.
# - On the digits both beat chapter 01's KDE but not the independent-pixel model: Gaussians waste mass on
#   discrete data.
# - With a neural decoder the marginal is intractable and naive Monte Carlo fails in high dimension:
#   importance sampling with a learned posterior (chapter 04) is the way forward.
#
# ## References
# - Dempster, A. P., Laird, N. M., & Rubin, D. B. (1977). Maximum likelihood from incomplete data via the EM algorithm.
# - Lloyd, S. (1982). Least squares quantization in PCM.
# - Smolensky, P. (1986). Information processing in dynamical systems: foundations of harmony theory.
# - Arthur, D., & Vassilvitskii, S. (2007). k-means++: the advantages of careful seeding.
# - Baldi, P., & Hornik, K. (1989). Neural networks and principal component analysis.
# - Roweis, S. (1998). EM algorithms for PCA and SPCA.
# - Tipping, M. E., & Bishop, C. M. (1999). Probabilistic principal component analysis.
# - Tipping, M. E., & Bishop, C. M. (1999). Mixtures of probabilistic principal component analyzers.
# - Bishop, C. M. (2006). *Pattern Recognition and Machine Learning*, ch. 8 (graphical models), ch. 9 and §12.2.
# - Kingma, D. P., & Welling, M. (2014). Auto-encoding variational Bayes.


# %% tags=["check"]
# Every check run in this session: "all passed", or the list of those that failed. Stuck on one exercise?
# Run `exercises.keep_going()` once: a failed check then prints a red ✘ and "Run All" goes on to the end.
exercises.report()
