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
# # 04 · Variational autoencoders
#
# Chapter 02 ended with a deep latent variable model, $\mathbf{z} \sim \mathcal N(\mathbf 0, \mathbf I)$,
# $\mathbf{x} \sim p_\theta(\mathbf{x} \mid \mathbf{z})$ with a neural decoder, whose marginal
# $p_\theta(\mathbf{x}) = \int p_\theta(\mathbf{x} \mid \mathbf{z})p(\mathbf{z})\,d\mathbf{z}$ we cannot
# compute, and with the observation that sampling $\mathbf{z}$ from a good *posterior* guess would
# fix naive Monte Carlo. The **variational autoencoder** (Kingma & Welling, 2014; Rezende et al.,
# 2014) learns that guess — an encoder $q_\phi(\mathbf{z} \mid \mathbf{x})$ — together with the
# decoder, by maximising one objective: the evidence lower bound. In the taxonomy
# ([chapter 01, §8](01_density_estimation.ipynb)) it is the explicit model with an *approximate* density.
#
# **Learning objectives.** After this chapter you can
# 1. derive the ELBO in three ways (Jensen, energy plus entropy, log-likelihood minus a KL) and verify on a
#    linear-Gaussian model that it reaches $\log p(\mathbf{x})$ exactly when $q$ is the posterior;
# 2. explain why the reparameterization trick beats the score-function estimator, with and without a
#    baseline, with numbers;
# 3. write the VAE's loss and one training step, describe amortized inference and measure its gap;
# 4. train a VAE on the digits and report its test NLL with the importance-weighted bound, with a
#    categorical and with a Gaussian decoder (and say why the Gaussian one blurs);
# 5. show why a plain autoencoder is not a generative model;
# 6. explore a 2D latent space with sliders and interpolations;
# 7. explain posterior collapse and the β-weighted ELBO (when it is still a bound), and weigh VAEs against GANs.
#
# **Exercises.** Each is checked by the cell after it.
#
# | # | you write | section |
# |---|---|---|
# | 1 | the KL of a diagonal Gaussian to the prior $\mathcal N(\mathbf 0, \mathbf I)$, from the log-variance | §1 |
# | 2 | a reparameterized Gaussian sample that autograd can differentiate | §2 |
# | 3 | the VAE loss: a one-sample negative ELBO, averaged over a batch | §3 |
# | 4 | one training step of AEVB: loss, gradients, update | §3 |
# | 5 | the importance-weighted bound from $\log p(\mathbf{x}, \mathbf{z}_i)$ and $\log q(\mathbf{z}_i \mid \mathbf{x})$, in log space | §4 |

# %%
DATASET = "digits"  # "digits" (bundled, CPU) or "mnist" / "fashion_mnist" (local IDX files in $DGM_DATA)

import copy
import math

import matplotlib.pyplot as plt
import numpy as np
import torch
from IPython.display import Markdown, display

from course_lib import data
from course_lib.evaluation import gallery, leaderboard, mean_nll
from course_lib.models import PPCA, VAE, FactorizedCategorical
from course_lib.runtime import cache_dir, device, in_background, seed_everything
from course_lib.teaching import exercises
from course_lib.train import fit, minimize
from course_lib.viz import InterpolationExplorer, LatentExplorer, plotting

seed_everything(0)
split = data.load_dataset(DATASET)
levels, image_shape = split.levels, tuple(split.train.x.shape[1:])
dims_image = split.test.x[0].numel()

# %% [markdown]
# The chapter's longest training, the convolutional VAE of §4, runs in a second process on the other CPU core
# (`runtime.in_background`) while the notebook goes on; §4 collects it with `.result()`, which waits only if
# the training has not finished:

# %%
def train_conv_vae():
    """§4's convolutional VAE: trained with early stopping, then polished at a tenth of the learning rate."""
    torch.manual_seed(0)
    model = VAE(image_shape, levels, latent_dim=16, hidden=128, architecture="conv", dropout=0.2)  # 128 // 8 channels
    checkpoint = cache_dir() / f"ch04_vae_conv_{DATASET}.pt"
    history = fit(model, split.train, split.val, epochs=1000, batch_size=128, lr=2e-3, patience=15,
                  checkpoint=checkpoint, progress=False)
    history_fine = fit(model, split.train, split.val, epochs=100, batch_size=64, lr=2e-4, patience=10,
                       checkpoint=checkpoint.with_suffix(".fine.pt"), progress=False)
    return model, history, history_fine


conv_vae_training = in_background(train_conv_vae)

# %% [markdown]
# ## 1. The evidence lower bound, three ways
#
# For any distribution $q(\mathbf{z})$ (we will let it depend on $\mathbf{x}$):
#
# **Jensen.** Because $\log$ is concave,
#
# $$ \log p(\mathbf{x}) = \log \mathbb E_{q}\Big[\frac{p(\mathbf{x}, \mathbf{z})}{q(\mathbf{z})}\Big]
# \ge \mathbb E_{q}\big[\log p(\mathbf{x}, \mathbf{z}) - \log q(\mathbf{z})\big] =: \mathcal L(q). $$
#
# **Energy plus entropy.** Split the expectation (Goodfellow's form):
#
# $$ \mathcal L(q) = \mathbb E_{q}\big[\log p(\mathbf{x}, \mathbf{z})\big] + H(q), \qquad H(q) = -\mathbb E_q[\log q(\mathbf{z})]. $$
#
# The first term alone would be maximised by putting all of $q$'s mass on the single most probable
# $\mathbf{z}$ (a MAP estimate); the entropy pays $q$ for staying spread out.
#
# **The gap.** Write $p(\mathbf{x}, \mathbf{z}) = p(\mathbf{z} \mid \mathbf{x})\, p(\mathbf{x})$ inside $\mathcal L$:
#
# $$ \mathcal L(q) = \log p(\mathbf{x}) - \mathrm{KL}\big(q(\mathbf{z}) \,\|\, p(\mathbf{z} \mid \mathbf{x})\big). $$
#
# The bound is tight exactly when $q$ is the posterior. Maximising $\mathcal L$ over $q$ is *variational
# inference*; over the model's parameters, *variational learning*. A fourth rearrangement,
# $p(\mathbf{x}, \mathbf{z}) = p(\mathbf{x} \mid \mathbf{z})\,p(\mathbf{z})$, is the one we train with:
#
# $$ \mathcal L(q) = \underbrace{\mathbb E_q[\log p(\mathbf{x} \mid \mathbf{z})]}_{\text{reconstruction}}
#    - \underbrace{\mathrm{KL}(q(\mathbf{z}) \,\|\, p(\mathbf{z}))}_{\text{stay close to the prior}}. $$
#
# With a Gaussian $q = \mathcal N(\boldsymbol\mu, \mathrm{diag}\,\boldsymbol\sigma^2)$ and the prior
# $\mathcal N(\mathbf 0, \mathbf I)$, the KL term has a closed form: your first exercise.
#
# ### Exercise 1 — the KL of a diagonal Gaussian to the prior
# $\mathrm{KL}(q \,\|\, p) = \mathbb E_q[\log q(\mathbf{z}) - \log p(\mathbf{z})]$. Both densities factorize over
# the coordinates, so the KL is a sum of one-dimensional KLs. In each, $\log q$ and $\log p$ are quadratics in
# $z_j$ plus normalising constants, and their expectations under $q$ need only
# $\mathbb E_q[(z_j - \mu_j)^2] = \sigma_j^2$ and $\mathbb E_q[z_j^2] = \mu_j^2 + \sigma_j^2$. Work it out on
# paper, then write `kl_to_standard_normal(mean, log_var)`. An encoder outputs the **log-variance**
# $\log\sigma_j^2$ (any real number is valid), so that is what you get: `mean` and `log_var` have shape
# `(B, q)`. Return the KL of each row's Gaussian to $\mathcal N(\mathbf 0, \mathbf I)$ in nats, shape `(B,)`.

# %%
def kl_to_standard_normal(mean, log_var):
    """KL(N(mean, diag exp(log_var)) ‖ N(0, I)) for each row: (B, q) → (B,), nats."""
    ### BEGIN SOLUTION
    return 0.5 * (mean**2 + log_var.exp() - 1.0 - log_var).sum(dim=1)
    ### END SOLUTION


# %% tags=["check"]
exercises.expect_close("KL is zero when q is the prior (μ = 0, log σ² = 0)",
                       exercises.call(1, kl_to_standard_normal, torch.zeros(2, 3), torch.zeros(2, 3)), torch.zeros(2),
                       exercise=1, atol=1e-6,
                       hint="at μ = 0, σ² = 1 each coordinate's term must vanish: check its constant")
gen = torch.Generator().manual_seed(0)
mean_c, log_var_c = torch.randn(6, 3, generator=gen), 1.5 * torch.randn(6, 3, generator=gen)
reference_kl = torch.distributions.kl_divergence(
    torch.distributions.Independent(torch.distributions.Normal(mean_c, (0.5 * log_var_c).exp()), 1),
    torch.distributions.Independent(torch.distributions.Normal(torch.zeros(3), torch.ones(3)), 1))
student_kl = exercises.call(1, kl_to_standard_normal, mean_c, log_var_c)
slips = {"σ = exp(log_var / 2) used where σ² = exp(log_var) belongs":
             0.5 * (mean_c**2 + (0.5 * log_var_c).exp() - 1 - log_var_c).sum(1),
         "+log σ² where the KL has −log σ² (log q − log p: q's normaliser enters with a minus sign)":
             0.5 * (mean_c**2 + log_var_c.exp() - 1 + log_var_c).sum(1),
         "KL(p ‖ q), the arguments swapped: the VAE needs KL(q ‖ p), the expectation under q":
             0.5 * ((1 + mean_c**2) / log_var_c.exp() - 1 + log_var_c).sum(1)}
matching = [name for name, value in slips.items() if torch.is_tensor(student_kl) and student_kl.shape == value.shape
            and torch.allclose(student_kl.detach().float(), value, rtol=1e-4)]
exercises.expect_close("KL against torch.distributions.kl_divergence", student_kl, reference_kl, exercise=1, rtol=1e-5,
                       hint=f"yours equals {matching[0]}" if matching else
                            "log_var is log σ²: σ² = exp(log_var); sum over the q coordinates, do not average")

# %% [markdown]
# The answer, $\mathrm{KL} = \frac12 \sum_j \big(\mu_j^2 + \sigma_j^2 - 1 - \log\sigma_j^2\big)$, is
# `course_lib.distributions.standard_normal_kl`, which the rest of the chapter uses.
#
# **Checking the derivations numerically.** The linear-Gaussian model of chapter 02 (PPCA,
# $\mathbf{x} = \mathbf W\mathbf{z} + \boldsymbol\mu + \sigma\boldsymbol\varepsilon$) is the one latent variable model where
# everything is exact: $\log p(\mathbf{x})$ from the Gaussian marginal $\mathcal N(\boldsymbol\mu, \mathbf W\mathbf W^\top + \sigma^2\mathbf I)$
# (no $q$ involved), the Gaussian posterior $p(\mathbf{z} \mid \mathbf{x})$, and, for any Gaussian
# $q = \mathcal N(\mathbf m, \mathbf S)$, the ELBO itself:
#
# $$ \mathbb E_q[\log p(\mathbf{x} \mid \mathbf{z})] = \log \mathcal N(\mathbf{x}; \mathbf W\mathbf m + \boldsymbol\mu, \sigma^2\mathbf I)
#    - \tfrac{1}{2\sigma^2}\mathrm{tr}(\mathbf W\mathbf S\mathbf W^\top), \qquad
#    \mathbb E_q[\log p(\mathbf{z})] = -\tfrac12\big(\mathrm{tr}\,\mathbf S + \mathbf m^\top\mathbf m + q\log 2\pi\big). $$
#
# Below, the ELBO as reconstruction − KL and as energy + entropy, for $q$ with the posterior's full
# covariance and with the best *diagonal* covariance (the mean-field optimum matches the diagonal of the
# posterior's precision), while $q$'s mean slides away from the posterior mean; and, on the right, the two
# terms of the entropy form when $q$'s covariance is the posterior's scaled by $c$.

# %%
torch.set_default_dtype(torch.float64)
linear = PPCA(torch.tensor([[1.5, 0.0], [0.8, 1.0], [0.0, -1.2], [0.5, 0.5]]), torch.zeros(4), 0.3)
x_lin = linear.sample(1, generator=torch.Generator().manual_seed(1))
post_mean, post_cov = linear.posterior(x_lin)
posterior = torch.distributions.MultivariateNormal(post_mean[0], post_cov)
latent_prior = torch.distributions.MultivariateNormal(torch.zeros(2), torch.eye(2))
log_px = linear.log_prob(x_lin)[0]                      # the Gaussian marginal: no q anywhere


def expected_log_likelihood(q_mean, q_cov):
    """E_q[log p(x | z)] of the linear-Gaussian model for q = N(q_mean, q_cov), in closed form (nats)."""
    residual = x_lin[0] - linear.w @ q_mean - linear.mean
    return (-0.5 * (residual @ residual + torch.trace(linear.w @ q_cov @ linear.w.T)) / linear.sigma2
            - 0.5 * len(residual) * math.log(2 * math.pi * linear.sigma2))


def elbo_reconstruction_minus_kl(q_mean, q_cov):
    q = torch.distributions.MultivariateNormal(q_mean, q_cov)
    return expected_log_likelihood(q_mean, q_cov) - torch.distributions.kl_divergence(q, latent_prior)


def expected_log_joint(q_mean, q_cov):
    """E_q[log p(x, z)] = E_q[log p(x | z)] + E_q[log p(z)], in closed form."""
    return (expected_log_likelihood(q_mean, q_cov)
            - 0.5 * (torch.trace(q_cov) + q_mean @ q_mean + len(q_mean) * math.log(2 * math.pi)))


def elbo_energy_plus_entropy(q_mean, q_cov):
    return expected_log_joint(q_mean, q_cov) + torch.distributions.MultivariateNormal(q_mean, q_cov).entropy()


diagonal_cov = torch.diag(1 / torch.diagonal(torch.linalg.inv(post_cov)))   # the best diagonal covariance
covariances = {"full covariance (the posterior's)": post_cov, "best diagonal covariance": diagonal_cov}
shifts = torch.linspace(-2, 2, 41)
elbos = {name: torch.stack([elbo_reconstruction_minus_kl(post_mean[0] + s, cov) for s in shifts])
         for name, cov in covariances.items()}
elbos_entropy_form = {name: torch.stack([elbo_energy_plus_entropy(post_mean[0] + s, cov) for s in shifts])
                      for name, cov in covariances.items()}
gaps = {name: torch.stack([torch.distributions.kl_divergence(
            torch.distributions.MultivariateNormal(post_mean[0] + s, cov), posterior) for s in shifts])
        for name, cov in covariances.items()}
elbo_at_posterior = elbo_reconstruction_minus_kl(post_mean[0], post_cov)
diagonal_gap = (log_px - elbo_reconstruction_minus_kl(post_mean[0], diagonal_cov)).item()

scales = torch.logspace(-2, 1, 61)                       # q = N(posterior mean, c · posterior covariance)
energy = torch.stack([expected_log_joint(post_mean[0], c * post_cov) for c in scales])
entropy = torch.stack([torch.distributions.MultivariateNormal(post_mean[0], c * post_cov).entropy() for c in scales])
torch.set_default_dtype(torch.float32)                  # the tensors above stay float64

fig, (ax_l, ax_r) = plt.subplots(1, 2, figsize=(11, 3.2))
for name, values in elbos.items():
    ax_l.plot(shifts, values, label=f"ELBO, q with the {name}")
ax_l.axhline(log_px, color="k", lw=0.8, label="log p(x) (exact)")
ax_l.set(xlabel="shift of q's mean away from the posterior mean", ylabel="nats", title="The ELBO and its gap")
ax_l.legend(fontsize=7)
ax_r.semilogx(scales, energy, label="$E_q[\\log p(x, z)]$")
ax_r.semilogx(scales, entropy, label="$H(q)$")
ax_r.semilogx(scales, energy + entropy, "k", label="their sum, the ELBO")
ax_r.axvline(1.0, color="0.6", ls=":")
ax_r.set(xlabel="c: q's covariance = c · posterior covariance", ylabel="nats", title="Energy plus entropy")
ax_r.legend(fontsize=7);

# %% tags=["check"]
all_elbos = torch.cat(list(elbos.values()))
exercises.expect_true("the ELBO never exceeds log p(x)", bool((all_elbos <= log_px + 1e-10).all()))
exercises.expect_close("ELBO + KL(q ‖ p(z | x)) = log p(x) for every q", all_elbos + torch.cat(list(gaps.values())),
                       log_px.expand(len(all_elbos)), rtol=1e-10)
exercises.expect_close("reconstruction − KL = energy + entropy for every q", all_elbos,
                       torch.cat(list(elbos_entropy_form.values())), rtol=1e-10)
exercises.expect_close("the ELBO evaluated at q = the full-covariance posterior equals the exact log p(x)",
                       elbo_at_posterior, log_px, rtol=1e-12)
exercises.expect_true("a diagonal q keeps a gap even at the right mean (the variational family's price)",
                      diagonal_gap > 1e-3)
exercises.expect_true("E_q[log p(x, z)] alone grows as q shrinks to a point; with the entropy the optimum is c = 1",
                      bool((energy[1:] < energy[:-1]).all()) and abs(scales[(energy + entropy).argmax()].item() - 1) < 0.05)
noise_mc = torch.randn(200_000, 2, generator=torch.Generator().manual_seed(2), dtype=torch.float64)
z_mc = post_mean[0] + 0.5 + noise_mc @ torch.linalg.cholesky(diagonal_cov).T      # a q that is not the posterior
log_weights_mc = (torch.distributions.Normal(z_mc @ linear.w.T + linear.mean, math.sqrt(linear.sigma2)).log_prob(x_lin).sum(1)
                  + torch.distributions.Normal(0.0, 1.0).log_prob(z_mc).sum(1)
                  - torch.distributions.MultivariateNormal(post_mean[0] + 0.5, diagonal_cov).log_prob(z_mc))
exercises.expect_true("a Monte Carlo average of log p(x, z) − log q(z) agrees with the closed form (4 standard errors)",
                      abs(log_weights_mc.mean() - elbo_reconstruction_minus_kl(post_mean[0] + 0.5, diagonal_cov)).item()
                      < 4 * log_weights_mc.std().item() / math.sqrt(len(log_weights_mc)))

# %%
display(Markdown(
    f"At $q$ = the posterior the ELBO is {elbo_at_posterior:.6f} nats and $\\log p(\\mathbf{{x}})$ is {log_px:.6f}: the "
    f"gap closes, and it closes only there. The posterior of PPCA has a full covariance, so a *diagonal* $q$ "
    f"keeps a gap of {diagonal_gap:.3f} nats even at the right mean: the price of the variational family. "
    "On the right, $\\mathbb E_q[\\log p(\\mathbf{x}, \\mathbf{z})]$ keeps rising as $q$ shrinks towards a point; "
    "the entropy stops it, and the sum peaks at $c = 1$, the posterior."))

# %% [markdown]
# ## 2. Gradients through a sample: reparameterization vs score function
#
# Training needs $\nabla_\phi \mathbb E_{q_\phi(\mathbf{z})}[f(\mathbf{z})]$, and the expectation's distribution
# depends on $\phi$. Two unbiased estimators:
#
# - **Score function / REINFORCE** (Williams, 1992): $\nabla_\phi \mathbb E_q[f] = \mathbb E_q\big[f(\mathbf{z})\, \nabla_\phi \log q_\phi(\mathbf{z})\big]$.
#   It needs only *values* of $f$ and works for discrete $\mathbf{z}$, but it is noisy.
# - **Reparameterization** (Kingma & Welling, 2014): draw the randomness first, from a distribution that does
#   not depend on $\phi$, and build $\mathbf{z}$ from it by a differentiable function of $\phi$. Then the
#   expectation is over the noise only, and the gradient moves inside it: an average of $\nabla_\phi f$,
#   which uses the *gradient* of $f$.
#
# A Gaussian is a location-scale family: if $\varepsilon \sim \mathcal N(0, 1)$, then $\mu + s\,\varepsilon \sim \mathcal N(\mu, s^2)$
# for a standard deviation $s$.
#
# ### Exercise 2 — the reparameterized sample
# Write `reparameterized_sample(mean, log_var, eps)`: a sample of $q = \mathcal N(\text{mean}, \mathrm{diag}\exp(\text{log\_var}))$
# built from the standard-normal noise `eps`, which autograd can differentiate with respect to `mean` and
# `log_var`. Draw no randomness inside (the noise comes in as `eps`). `mean` and `log_var` have shape `(B, q)`;
# `eps` has shape `(B, q)`, or `(K, B, q)` for $K$ samples of each row: return a tensor of `eps`'s shape.

# %%
def reparameterized_sample(mean, log_var, eps):
    """A sample of N(mean, diag exp(log_var)) from standard-normal eps: mean, log_var (B, q); eps (..., B, q)."""
    ### BEGIN SOLUTION
    return mean + torch.exp(0.5 * log_var) * eps
    ### END SOLUTION


# %% tags=["check"]
mean_r = torch.tensor([[0.5, -1.0, 2.0]], requires_grad=True)
log_var_r = torch.tensor([[0.2, -1.5, 1.0]], requires_grad=True)
std_r = (0.5 * log_var_r).exp().detach()
eps_few = torch.tensor([[[1.5, -0.3, 0.0]], [[-2.0, 0.7, 1.1]]])                  # (K = 2, B = 1, q = 3)
z_few = exercises.call(2, reparameterized_sample, mean_r, log_var_r, eps_few)
# Independent reference: q's quantile at the probability level Φ(ε) of each noise value.
quantiles = torch.distributions.Normal(mean_r.detach().double(), std_r.double()).icdf(
    torch.distributions.Normal(0.0, 1.0).cdf(eps_few.double()))
exercises.expect_close("z is q's quantile at the noise's probability level Φ(ε) (torch.distributions)", z_few,
                       quantiles.float(), exercise=2, rtol=1e-4, atol=1e-4,
                       hint="log_var is the log-variance: the standard deviation is exp(log_var / 2)")
exercises.expect_true("z is differentiable with respect to mean and log_var", bool(z_few.requires_grad), exercise=2,
                      hint="build z from the mean and log_var tensors themselves: no .detach(), no torch.normal")
eps_many = torch.randn(100_000, 1, 3, generator=torch.Generator().manual_seed(1))
z_many = exercises.call(2, reparameterized_sample, mean_r, log_var_r, eps_many)
grad_mean, grad_log_var = (torch.zeros_like(p) if g is None else g for g, p in zip(torch.autograd.grad(
    (z_many ** 2).mean(0).sum(), (mean_r, log_var_r), allow_unused=True), (mean_r, log_var_r)))
# E_q[z²] = μ² + σ² exactly, so ∂/∂μ = 2μ and ∂/∂log σ² = σ²: the sample's gradient must estimate these.
exercises.expect_close("autograd through 100 000 samples estimates ∇(μ² + σ²) = (2μ, σ²) of E_q[z²]",
                       torch.cat([grad_mean, grad_log_var]), torch.cat([2 * mean_r.detach(), std_r ** 2]),
                       exercise=2, rtol=0.05, atol=0.05, hint="the gradient must reach both mean and log_var")

# %% [markdown]
# (This is `course_lib.distributions.reparameterize`.) Now the variance. On PPCA models with latent
# dimension $q$, estimate the gradient of $\mathbb E_q[\log p(\mathbf{x}, \mathbf{z})]$ with respect to $q$'s mean,
# 4000 times from one sample each, with both estimators, and compare with the exact gradient. Here
# $\nabla_{\boldsymbol\mu} \log q(\mathbf{z}) = (\mathbf{z} - \boldsymbol\mu)/\sigma^2 = \boldsymbol\varepsilon/\sigma$.
#
# The score-function estimate multiplies every draw by $f(\mathbf{z}) = \log p(\mathbf{x}, \mathbf{z})$, a large
# negative number, although $\mathbb E_q[\nabla\log q] = 0$: any constant $b$ can be subtracted,
# $(f(\mathbf{z}) - b)\,\nabla\log q(\mathbf{z})$, without bias. This **baseline** (a control variate) is how
# REINFORCE is used in practice; we take $b$ = the mean of $f$ over 100 separate draws (independent of the draw it
# corrects, so still unbiased). Comparing with the raw estimator alone would overstate the gap.

# %%
torch.set_default_dtype(torch.float64)


def gradient_estimates(model, x, q_mean, q_std, n, generator):
    """n one-sample estimates (n, q) of ∇_μ E_q[log p(x, z)]: reparameterization, score function, and score
    function with a baseline b = mean of log p(x, z) over 100 independent draws."""
    def log_joint(z):
        return (torch.distributions.Normal(z @ model.w.T + model.mean, math.sqrt(model.sigma2)).log_prob(x).sum(1)
                + torch.distributions.Normal(0.0, 1.0).log_prob(z).sum(1))

    eps = torch.randn(n, len(q_mean), generator=generator)
    z = (q_mean + q_std * eps).requires_grad_(True)
    f = log_joint(z)
    reparam = torch.autograd.grad(f.sum(), z)[0]                          # ∇_z f(μ + σε) = ∇_μ
    with torch.no_grad():
        baseline = log_joint(q_mean + q_std * torch.randn(100, len(q_mean), generator=generator)).mean()
    score = f.detach()[:, None] * eps / q_std                             # f(z) ∇_μ log q(z)
    score_baseline = (f.detach() - baseline)[:, None] * eps / q_std       # (f(z) − b) ∇_μ log q(z)
    return {"reparameterization": reparam, "score function": score, "score function, baseline": score_baseline}


variance = {"reparameterization": [], "score function": [], "score function, baseline": []}
latent_sizes = [1, 2, 4, 8, 16, 32]
for q in latent_sizes:
    gen = torch.Generator().manual_seed(q)
    model = PPCA(torch.randn(2 * q, q, generator=gen), torch.zeros(2 * q), 0.5)
    x_q = model.sample(1, generator=gen)
    q_mean = model.posterior(x_q)[0][0] + 0.3
    estimates = gradient_estimates(model, x_q, q_mean, 0.5, 4000, gen)
    for name, values in estimates.items():
        variance[name].append(values.var(0).mean().item())
    if q == 2:
        exact_gradient = model.w.T @ (x_q[0] - model.w @ q_mean - model.mean) / model.sigma2 - q_mean
        unbiased = {name: bool(((values.mean(0) - exact_gradient).abs() < 4 * values.std(0) / math.sqrt(len(values))).all())
                    for name, values in estimates.items()}
torch.set_default_dtype(torch.float32)

ratios = {name: [v / r for v, r in zip(variance[name], variance["reparameterization"])]
          for name in ("score function", "score function, baseline")}
fig, ax = plt.subplots(figsize=(6, 3))
for name, values in variance.items():
    ax.loglog(latent_sizes, values, "o-", label=name)
ax.set(xlabel="latent dimension q", ylabel="variance per coordinate", title="One-sample gradient estimators")
ax.legend(fontsize=8);
display(Markdown("| latent dimension q | " + " | ".join(map(str, latent_sizes)) + " |\n" + "|---" * (len(latent_sizes) + 1) + "|\n"
                 + "\n".join(f"| variance ratio, {name} / reparameterization | "
                             + " | ".join(f"{r:.1f}" for r in values) + " |" for name, values in ratios.items())))

# %% tags=["check"]
for name, ok in unbiased.items():
    exercises.expect_true(f"{name}: unbiased, within 4 standard errors of the exact gradient (q = 2)", ok)
exercises.expect_true("the baseline lowers the score function's variance at every q",
                      all(b < s for b, s in zip(ratios["score function, baseline"], ratios["score function"])))
exercises.expect_true("even with the baseline, reparameterization is less noisy at every q",
                      min(ratios["score function, baseline"]) > 1)
exercises.expect_true("... and the score function's disadvantage grows with q, with or without the baseline",
                      all(values[-1] > 3 * values[0] for values in ratios.values()))

# %%
raw, based = ratios["score function"], ratios["score function, baseline"]
display(Markdown(
    f"Without a baseline the score-function estimator is {min(raw):.0f}× to {max(raw):.0f}× noisier than "
    f"reparameterization on these models; with the baseline, {min(based):.1f}× to {max(based):.0f}×. Most of the "
    "raw estimator's noise was the size of $f$ itself; what remains is the price of using only values of $f$, "
    "and it grows with the latent dimension, because one scalar $f(\\mathbf z)$ must carry the information "
    "about every coordinate of the gradient."))

# %% [markdown]
# ## 3. The VAE: amortized inference with neural networks
#
# Instead of optimising a separate $q$ for every image, an **encoder** network outputs
# $q_\phi(\mathbf{z} \mid \mathbf{x}) = \mathcal N(\boldsymbol\mu_\phi(\mathbf{x}), \mathrm{diag}\,\boldsymbol\sigma^2_\phi(\mathbf{x}))$ for any
# $\mathbf{x}$ in one forward pass: inference is *amortized* over the data set. The decoder
# $p_\theta(\mathbf{x} \mid \mathbf{z})$ outputs, for each pixel, a categorical distribution over the grey
# levels, so $\log p(\mathbf{x} \mid \mathbf{z})$ is an exact log-probability of the discrete image and the bounds
# below are in nats per image, comparable with every other chapter. Both networks are trained together by
# stochastic gradient descent on the negative ELBO, with one reparameterized sample per image and the KL in
# closed form: **auto-encoding variational Bayes** (AEVB; Kingma & Welling, 2014).
#
# Sum the reconstruction term over pixels: averaging it would shrink it by the number of pixels against the
# KL, and the model would learn to ignore its latent code. `course_lib.models.VAE` is this model, with MLP
# networks (tanh, dropout) and a small convolutional option.
#
# ### Exercise 3 — the VAE loss
# Write `vae_loss(vae, x, eps)`: the loss AEVB minimises on a batch of images `x` (B, 1, H, W), the negative
# ELBO averaged over the images, estimated with one reparameterized sample of $\mathbf{z}$ per image made from
# the standard-normal noise `eps` (B, q), and the KL term in closed form. The VAE gives you the pieces:
# `vae.encode(x)` returns the mean and log-variance of $q(\mathbf{z} \mid \mathbf{x})$, each (B, q);
# `vae.decode(z)` returns the decoder's logits; `vae.log_likelihood(x, logits)` returns
# $\log p(\mathbf{x} \mid \mathbf{z})$ summed over the pixels, (B,). Write every line here (the sample and the
# KL are one line each) rather than calling your functions of Exercises 1–2: the check runs this cell on its
# own. Return a scalar tensor that autograd can differentiate with respect to the encoder's and the
# decoder's weights.

# %%
def vae_loss(vae, x, eps):
    """−ELBO averaged over the batch, one reparameterized sample per image: x (B, 1, H, W), eps (B, q) → scalar."""
    ### BEGIN SOLUTION
    mean, log_var = vae.encode(x)
    z = mean + torch.exp(0.5 * log_var) * eps
    reconstruction = vae.log_likelihood(x, vae.decode(z))
    kl = 0.5 * (mean**2 + log_var.exp() - 1.0 - log_var).sum(dim=1)
    return -(reconstruction - kl).mean()
    ### END SOLUTION


# %% tags=["check"]
with torch.random.fork_rng():
    torch.manual_seed(0)
    small_vae = VAE(image_shape, levels, latent_dim=3, hidden=32, dropout=0.0)
x_small = split.train.x[:10]
eps_small = torch.randn(10, 3, generator=torch.Generator().manual_seed(2))
loss_small = exercises.call(3, vae_loss, small_vae, x_small, eps_small)
# The reference, from torch.distributions: q(z | x), its KL to N(0, I), and the decoder's categorical pixels.
mean_s, log_var_s = small_vae.encode(x_small)
q_small = torch.distributions.Independent(torch.distributions.Normal(mean_s, (0.5 * log_var_s).exp()), 1)
prior_small = torch.distributions.Independent(torch.distributions.Normal(torch.zeros(3), torch.ones(3)), 1)


def pixels_log_prob(z):
    pixel_law = (torch.distributions.Bernoulli(logits=small_vae.decode(z)) if levels == 2
                 else torch.distributions.Categorical(logits=small_vae.decode(z)))
    return pixel_law.log_prob(x_small.reshape(len(x_small), -1)).sum(1)


reconstruction_s = pixels_log_prob(q_small.base_dist.loc + q_small.base_dist.scale * eps_small)
kl_s = torch.distributions.kl_divergence(q_small, prior_small)
reference_loss = -(reconstruction_s - kl_s).mean()
slips = {"the ELBO itself (the loss is its negative)": (reconstruction_s - kl_s).mean(),
         "−(reconstruction + KL): the KL is subtracted inside the ELBO": -(reconstruction_s + kl_s).mean(),
         "the reconstruction averaged over the pixels instead of summed": -(reconstruction_s / dims_image - kl_s).mean(),
         "a sum over the images instead of a mean": -(reconstruction_s - kl_s).sum(),
         "z = μ, without the noise: z must be a sample μ + σ ε": -(pixels_log_prob(mean_s) - kl_s).mean(),
         "σ taken as exp(log_var), the variance": -(pixels_log_prob(mean_s + log_var_s.exp() * eps_small) - kl_s).mean()}
matching = [name for name, value in slips.items()
            if torch.is_tensor(loss_small) and loss_small.numel() == 1 and torch.isclose(loss_small.detach(), value.detach(), rtol=1e-4)]
exercises.expect_close("−mean over images of (log p(x | z) − KL(q(z | x) ‖ p(z))), against torch.distributions",
                       loss_small, reference_loss, exercise=3, rtol=1e-4,
                       hint=f"yours equals {matching[0]}" if matching else
                            "loss = −(reconstruction − KL), the reconstruction summed over pixels, then the mean over images")
exercises.expect_true("the loss reaches the encoder's and the decoder's weights through autograd",
                      bool(loss_small.requires_grad), exercise=3, hint="do not detach anything, and do not use torch.no_grad")
parameters_s = list(small_vae.parameters())
student_gradient = torch.autograd.grad(loss_small, parameters_s, allow_unused=True)
reference_gradient = torch.autograd.grad(reference_loss, parameters_s)
exercises.expect_close("its gradient with respect to every weight equals the reference's",
                       torch.cat([(g if g is not None else torch.zeros_like(p)).flatten()
                                  for g, p in zip(student_gradient, parameters_s)]),
                       torch.cat([g.flatten() for g in reference_gradient]), exercise=3, rtol=1e-3, atol=1e-4,
                       hint="the encoder learns only through z = μ + σ ε and through the KL: do not detach μ or σ")

# %% [markdown]
# ### Exercise 4 — one training step
# AEVB updates encoder and decoder together: for a mini-batch, draw the noise, back-propagate the loss to
# get its gradient with respect to both networks' parameters, and take a gradient step. Write
# `training_step(vae, optimizer, x, generator)`: one such step on the batch `x`. The loss is
# `vae.loss(x, generator=generator)` (the negative ELBO of Exercise 3, its noise drawn from `generator`);
# `optimizer` is a `torch.optim` optimizer built on `vae.parameters()`, and it may have served earlier
# steps. Return the batch's loss *before* the update, as a Python float.

# %%
def training_step(vae, optimizer, x, generator):
    """One AEVB step on the batch x; returns the loss before the update (float)."""
    ### BEGIN SOLUTION
    optimizer.zero_grad()
    loss = vae.loss(x, generator=generator)
    loss.backward()
    optimizer.step()
    return loss.item()
    ### END SOLUTION


# %% tags=["check"]
with torch.random.fork_rng():
    torch.manual_seed(1)
    step_vae = VAE(image_shape, levels, latent_dim=3, hidden=32, dropout=0.0)
reference_vae, step_lr = copy.deepcopy(step_vae), 0.01
sgd = torch.optim.SGD(step_vae.parameters(), lr=step_lr)
x_step, previous_gradient = split.train.x[:32], None
for step in range(3):
    # Reference: the loss with the same noise, its gradient by autograd, and w ← w − lr · gradient by hand.
    loss_before = reference_vae.loss(x_step, generator=torch.Generator().manual_seed(step))
    gradient = torch.cat([g.flatten() for g in torch.autograd.grad(loss_before, list(reference_vae.parameters()))])
    with torch.no_grad():
        offset = 0
        for parameter in reference_vae.parameters():
            parameter -= step_lr * gradient[offset:offset + parameter.numel()].view_as(parameter)
            offset += parameter.numel()
    weights_before = torch.cat([p.detach().flatten() for p in step_vae.parameters()])
    returned = exercises.call(4, training_step, step_vae, sgd, x_step, torch.Generator().manual_seed(step))
    applied = (weights_before - torch.cat([p.detach().flatten() for p in step_vae.parameters()])) / step_lr
    slips = {"no update at all: call loss.backward() before optimizer.step(), and do not clear the gradients "
             "between the two": torch.zeros_like(gradient),
             "a step uphill: minimise the loss (the negative ELBO), do not maximise it": -gradient}
    if previous_gradient is not None:
        slips["the gradients of the previous step were added to this one's: clear them first "
              "(the optimizer's zero_grad)"] = gradient + previous_gradient
    matching = [name for name, value in slips.items() if torch.allclose(applied, value, rtol=1e-2, atol=1e-3)]
    exercises.expect_close(f"step {step + 1}: every weight moved by −lr × the gradient of this batch's loss",
                           applied, gradient, exercise=4, rtol=1e-2, atol=1e-3 * gradient.abs().max().item(),
                           hint=f"yours looks like {matching[0]}" if matching else
                                "clear the old gradients, back-propagate vae.loss(x, generator=generator), step")
    exercises.expect_close(f"step {step + 1}: it returns the batch's loss before the update", returned,
                           loss_before.item(), exercise=4, rtol=1e-5,
                           hint="return loss.item() of the loss you back-propagated, computed before optimizer.step()")
    previous_gradient = gradient

# %% [markdown]
# `course_lib.train.fit` repeats exactly this step over shuffled mini-batches of 64 digits, with Adam instead
# of plain SGD, and keeps the weights with the best validation −ELBO (early stopping), followed by a short
# polish at a tenth of the learning rate.

# %%
torch.manual_seed(0)    # the initial weights: chapter 05 builds the same VAE the same way and reuses this checkpoint
vae = VAE(image_shape, levels, latent_dim=8, hidden=256, dropout=0.2)
checkpoint = cache_dir() / f"ch04_vae_{DATASET}.pt"
history = fit(vae, split.train, split.val, epochs=1000, batch_size=64, lr=1e-3, patience=30, checkpoint=checkpoint)
history_fine = fit(vae, split.train, split.val, epochs=100, batch_size=64, lr=1e-4, patience=10,
                   checkpoint=checkpoint.with_suffix(".fine.pt"))  # a short, slower polish

losses = history.train_loss + history_fine.train_loss + history.val_loss + history_fine.val_loss
fig, ax = plt.subplots(figsize=(6, 3))
ax.plot(history.train_loss + history_fine.train_loss, label="training −ELBO (dropout on)")
ax.plot(history.val_loss + history_fine.val_loss, label="validation −ELBO")
ax.axvline(len(history.train_loss) - 0.5, color="0.7", ls=":", label="learning rate ÷ 10")
ax.set(xlabel="epoch", ylabel="nats per image", ylim=(min(losses) - 5, np.percentile(losses, 95)),
       title="Training the VAE (early stopping)")
ax.legend(fontsize=8);

# %% [markdown]
# ## 4. How good is it? The importance-weighted bound
#
# The ELBO only bounds $\log p(\mathbf{x})$ from below. To *evaluate*, use importance sampling with the
# encoder as the proposal (the cure of chapter 02): $p(\mathbf{x}) = \mathbb E_{q}\big[p(\mathbf{x}, \mathbf{z})/q(\mathbf{z} \mid \mathbf{x})\big]$,
# estimated from $k$ samples, and its logarithm
#
# $$ \mathcal L_k(\mathbf{x}) = \mathbb E\Big[\log \frac1k \sum_{i=1}^k \frac{p(\mathbf{x}, \mathbf{z}_i)}{q(\mathbf{z}_i \mid \mathbf{x})}\Big],
#    \quad \mathbf{z}_i \sim q(\mathbf{z} \mid \mathbf{x}). $$
#
# By Jensen again $\mathcal L_k \le \log p(\mathbf{x})$; $\mathcal L_1$ is the ELBO, $\mathcal L_k \le \mathcal L_{k+1}$, and
# $\mathcal L_k \to \log p(\mathbf{x})$ as $k \to \infty$ (Burda et al., 2016). We report $k = 1000$.
#
# ### Exercise 5 — the importance-weighted bound
# Write `iwae_bound(log_joint, log_q)`: for $k$ samples $\mathbf{z}_i \sim q(\mathbf{z} \mid \mathbf{x})$ of each of
# $B$ images you get $\log p(\mathbf{x}, \mathbf{z}_i)$ and $\log q(\mathbf{z}_i \mid \mathbf{x})$, two tensors of shape
# `(k, B)`; return the one-draw estimate of $\mathcal L_k$ for each image (the quantity inside the expectation),
# shape `(B,)`. Never form the weights $p/q$ themselves: for a digit $\log p(\mathbf{x}, \mathbf{z})$ is around
# $-100$ nats, and in float32 $e^{-100} \approx 4\cdot10^{-44}$ is already at the edge of what can be
# represented (below about $10^{-45}$ it is exactly 0, and $\log 0 = -\infty$). Stay in log space.

# %%
def iwae_bound(log_joint, log_q):
    """log (1/k) Σ_i p(x, z_i) / q(z_i | x) for each image: log_joint, log_q (k, B) → (B,), nats."""
    ### BEGIN SOLUTION
    log_weights = log_joint - log_q
    return torch.logsumexp(log_weights, dim=0) - math.log(log_weights.shape[0])
    ### END SOLUTION


# %% tags=["check"]
from scipy.special import logsumexp as scipy_logsumexp

gen = torch.Generator().manual_seed(5)
log_joint_c = -1000.0 + 3 * torch.randn(7, 4, generator=gen, dtype=torch.float64)    # k = 7 samples, B = 4 images
log_q_c = torch.randn(7, 4, generator=gen, dtype=torch.float64)
student_bound = exercises.call(5, iwae_bound, log_joint_c, log_q_c)
slips = {"the mean of the log-weights: that is the ELBO, the log must come after the mean":
             (log_joint_c - log_q_c).mean(0),
         "the largest log-weight alone: the other weights count too (a log of a sum, not a maximum)":
             (log_joint_c - log_q_c).max(0).values,
         "log q − log p: the weights are p(x, z) / q(z | x)": scipy_logsumexp((log_q_c - log_joint_c).numpy(), axis=0) - math.log(7)}
matching = [name for name, value in slips.items() if torch.is_tensor(student_bound) and student_bound.shape == (4,)
            and torch.allclose(student_bound.detach().double(), torch.as_tensor(value).double(), rtol=1e-9)]
exercises.expect_close("L_k of log-weights near −1000, against SciPy's logsumexp − log k", student_bound,
                       torch.from_numpy(scipy_logsumexp((log_joint_c - log_q_c).numpy(), axis=0) - math.log(7)),
                       exercise=5, rtol=1e-9,
                       hint=f"yours equals {matching[0]}" if matching else
                            "the log of the *mean* of the k weights p/q, over the k samples (dimension 0), computed "
                            "from the log-weights (torch.logsumexp, or subtract their maximum before exp)")
# A linear-Gaussian model, where log p(x) is exact: with many samples, L_k approaches it.
ppca_c = PPCA(torch.tensor([[1.5, 0.0], [0.8, 1.0], [0.0, -1.2], [0.5, 0.5]], dtype=torch.float64),
              torch.zeros(4, dtype=torch.float64), 0.3)
x_c = ppca_c.sample(3, generator=torch.Generator().manual_seed(1))
proposal_c = torch.distributions.Normal(ppca_c.posterior(x_c)[0] + 0.5,
                                        (2 * torch.diagonal(ppca_c.posterior(x_c)[1])).sqrt())  # shifted, too wide
z_c = proposal_c.loc + proposal_c.scale * torch.randn(20_000, 3, 2, generator=gen, dtype=torch.float64)
log_joint_z = (torch.distributions.Normal(z_c @ ppca_c.w.T + ppca_c.mean, math.sqrt(ppca_c.sigma2)).log_prob(x_c).sum(-1)
               + torch.distributions.Normal(0.0, 1.0).log_prob(z_c).sum(-1))
exercises.expect_close("with k = 20 000 samples, L_k ≈ the exact log p(x) of a linear-Gaussian model",
                       exercises.call(5, iwae_bound, log_joint_z, proposal_c.log_prob(z_c).sum(-1)),
                       ppca_c.log_prob(x_c), exercise=5, atol=0.05,
                       hint="the mean of the log-weights is the ELBO, below log p(x): average the weights, then take the log")

# %% [markdown]
# (This is `course_lib.distributions.log_mean_exp` applied to the log-weights;
# `course_lib.distributions.importance_weighted_bound` draws the samples too.) First on the linear-Gaussian
# model of §1: with a deliberately poor proposal (shifted, too wide), $\mathcal L_k$ climbs towards the exact
# $\log p(\mathbf{x})$ as $k$ grows.

# %%
from course_lib.distributions import importance_weighted_bound, reparameterize, standard_normal_kl

torch.set_default_dtype(torch.float64)
proposal_mean = post_mean + 0.5
proposal_log_var = torch.log(2 * torch.diagonal(post_cov))[None]


def linear_log_joint(z):
    """log p(x, z) of the linear-Gaussian model for latent samples z (k, 1, 2) → (k, 1)."""
    return (torch.distributions.Normal(z @ linear.w.T + linear.mean, math.sqrt(linear.sigma2)).log_prob(x_lin).sum(-1)
            + torch.distributions.Normal(0.0, 1.0).log_prob(z).sum(-1))


ks = [1, 3, 10, 30, 100, 300, 1000, 3000, 10000]
noise_source = torch.Generator().manual_seed(6)  # fixed noise: the figure and the check do not depend on earlier cells
runs = torch.stack([torch.stack([
    importance_weighted_bound(linear_log_joint, proposal_mean, proposal_log_var, k,
                              eps=torch.randn(k, 1, 2, generator=noise_source))[0]
    for _ in range(100)]) for k in ks])                                     # (len(ks), 100 runs)
linear_bounds, standard_errors = runs.mean(1), runs.std(1) / math.sqrt(runs.shape[1])
fig, ax = plt.subplots(figsize=(6, 3))
ax.errorbar(ks, linear_bounds, yerr=2 * standard_errors, fmt="o-", label="$\\mathcal{L}_k$ (mean of 100 runs, ±2 s.e.)")
ax.set_xscale("log")
ax.axhline(log_px, color="k", lw=0.8, label="log p(x), exact")
ax.set(xlabel="k", ylabel="nats", title="The importance-weighted bound tightens with k")
ax.legend(fontsize=8);
torch.set_default_dtype(torch.float32)

# %% tags=["check"]
noise = 3 * torch.sqrt(standard_errors[1:] ** 2 + standard_errors[:-1] ** 2)
exercises.expect_true("on the linear-Gaussian model the bound rises with k (within 3 standard errors)",
                      bool((linear_bounds[1:] > linear_bounds[:-1] - noise).all() and linear_bounds[-1] > linear_bounds[0] + 1))
exercises.expect_close("... and reaches the exact log p(x) at k = 10 000", linear_bounds[-1], log_px, atol=0.02)

# %% [markdown]
# Now the VAE on the test digits, with its encoder as the proposal. For scale: the independent-pixel model of
# chapter 01 (from the leaderboard; refitted here if that chapter has not run), and the test −ELBO of
# 96.3 nats that the reference VAE of Tomczak's *Deep Generative Modeling* code reports on the same split.

# %%
test_x = split.test.x.to(device())


def test_neg_elbo(model, draws=10):
    """Test −ELBO (nats/image), the mean of ``draws`` draws (a precise mean), 100 images at a time."""
    with torch.no_grad():
        return -torch.stack([torch.cat([model.elbo(batch) for batch in test_x.split(100)])
                             for _ in range(draws)]).mean().item()


def test_neg_iwae(model, k):
    """Test −IWAE with k samples (nats/image), 100 images and 25 samples at a time: bounded memory at any
    image size."""
    return mean_nll(model, test_x, batch_size=100, options={"k": k, "chunk": 25})


neg_elbo = test_neg_elbo(vae)
bounds = {k: test_neg_iwae(vae, k) for k in (1, 10, 100, 1000)}
recorded = {row["model"]: row["nll_nats"] for row in leaderboard.entries() if row["dataset"] == DATASET}
independent_nll = recorded.get("Independent pixels (factorized categorical)")
if independent_nll is None:                           # chapter 01 has not run: the same fit, here
    independent_nll = mean_nll(FactorizedCategorical.fit(split.train.x, levels), split.test.x)
display(Markdown("| model, bound | test NLL (nats/image) | bits/dim |\n|---|---|---|\n"
                 f"| independent pixels (chapter 01), exact | {independent_nll:.2f} | "
                 f"{independent_nll / (dims_image * math.log(2)):.3f} |\n"
                 f"| VAE, −ELBO (mean of 10 draws) | {neg_elbo:.2f} | {neg_elbo / (dims_image * math.log(2)):.3f} |\n"
                 + "\n".join(f"| VAE, −IWAE, k = {k} | {v:.2f} | {v / (dims_image * math.log(2)):.3f} |"
                             for k, v in bounds.items())))

# %% tags=["check"]
values = list(bounds.values())
exercises.expect_true("the IWAE bound tightens as k grows (NLL bound decreases)",
                      all(a > b for a, b in zip(values, values[1:])))
exercises.expect_true("the VAE's bound beats the independent-pixel model's exact NLL", bounds[1000] < independent_nll)
exercises.expect_true("the VAE beats the reference VAE's published test −ELBO of 96.3 nats (digits), in −ELBO and IWAE",
                      DATASET != "digits" or (neg_elbo < 96.3 and bounds[1000] < 96.3))

# %%
leaderboard.record("VAE (MLP, 8-d latent, categorical decoder)", 4, bounds[1000], dims_image, dataset=DATASET,
                   bound="IWAE estimate")
# Its samples go to the gallery, where chapter 09 scores every model's samples on the same test split.
gallery.record_model("VAE (MLP, 8-d latent, categorical decoder)", 4, vae, levels=levels, dataset=DATASET,
                     train_seconds=history.seconds + history_fine.seconds)

# %% [markdown]
# **A stronger VAE for the leaderboard.** The MLP VAE above is the one the rest of this chapter takes apart
# (and chapter 05 reuses). The same objective with better-suited networks goes further: a **convolutional**
# encoder and decoder (`architecture="conv"`: a 3×3 convolution, then a stride-2 4×4 one that halves the
# image, and the mirror image of that in the decoder — weights shared across positions, as strokes look alike
# everywhere; 16 and 32 channels, then a linear layer to the code's mean and log-variance, and from the code),
# a 16-d latent, batches of 128 at learning rate $2 \cdot 10^{-3}$ with a patience of 15 epochs, and the same polish
# at a tenth of the learning rate (`train_conv_vae`, at the top). Same test digits, same bounds:

# %%
conv_vae, conv_history, conv_history_fine = conv_vae_training.result()   # started at the top (train_conv_vae)
conv_neg_elbo, conv_bound = test_neg_elbo(conv_vae), test_neg_iwae(conv_vae, 1000)
vae_rows = [("MLP, 8-d latent (above)", vae, neg_elbo, bounds[1000], history.seconds + history_fine.seconds),
            ("convolutional, 16-d latent", conv_vae, conv_neg_elbo, conv_bound,
             conv_history.seconds + conv_history_fine.seconds)]
display(Markdown("| VAE | parameters | test −ELBO | test −IWAE, k = 1000 | training (s) |\n|---|---|---|---|---|\n" + "\n".join(
    f"| {name} | {sum(p.numel() for p in model.parameters()):,} | {a:.2f} | {b:.2f} | {t:.1f} |"
    for name, model, a, b, t in vae_rows)))
print(f"the convolutional VAE's bound is {bounds[1000] - conv_bound:.1f} nats/image tighter than the MLP's")

# %% tags=["check"]
exercises.expect_true("the convolutional VAE beats the MLP VAE in both the −ELBO and the −IWAE bound",
                      conv_neg_elbo < neg_elbo and conv_bound < bounds[1000])
exercises.expect_true("the convolutional VAE's −IWAE bound reaches 88 nats/image or better on the digits",
                      DATASET != "digits" or conv_bound <= 88)

# %%
leaderboard.record("VAE (conv, 16-d latent, categorical decoder)", 4, conv_bound, dims_image, dataset=DATASET,
                   bound="IWAE estimate")
gallery.record_model("VAE (conv, 16-d latent, categorical decoder)", 4, conv_vae, levels=levels, dataset=DATASET,
                     train_seconds=conv_history.seconds + conv_history_fine.seconds)
Markdown(leaderboard.table(DATASET))

# %% [markdown]
# ## 5. Reconstructions, samples, and why VAE images look blurry
#
# Decoding a code gives a *distribution* over images. Showing its **mean** (the expected grey level of each
# pixel) averages over everything the decoder is unsure about — stroke position, thickness — and looks
# blurry; drawing a **sample** from it gives sharp but speckled pixels, because the decoder treats pixels as
# independent given $\mathbf{z}$. We measure both with the *edge strength*: the mean absolute difference
# between neighbouring pixels, in grey levels (high for crisp strokes and for speckle, low for blur).

# %%
def edge_strength(images):
    """Mean |difference| between horizontally and vertically neighbouring pixels, in grey levels."""
    images = images.reshape(len(images), *image_shape[1:]).float()
    return 0.5 * ((images[:, 1:] - images[:, :-1]).abs().mean() + (images[:, :, 1:] - images[:, :, :-1]).abs().mean()).item()


with torch.no_grad():
    originals = split.test.x[:12]
    codes_mean, codes_log_var = vae.encode(originals.to(device()))
    reconstruction = vae.decode_mean(codes_mean).cpu()
    prior_z = torch.randn(200, vae.latent_dim, generator=torch.Generator().manual_seed(4)).to(device())
    sample_means = vae.decode_mean(prior_z).cpu()
    sampled = vae.sample(200, generator=torch.Generator().manual_seed(4)).cpu()
fig, axes = plt.subplots(4, 1, figsize=(9, 4.4))
for ax, images, title in zip(axes, (originals, reconstruction, sample_means[:12], sampled[:12]),
                             ("test digits", "reconstructions: mean of p(x | z = μ(x))",
                              "new digits: mean of p(x | z), z ~ N(0, I)", "new digits: a sample of p(x | z)")):
    plotting.image_grid(images, nrow=12, levels=levels, title=title, ax=ax)
fig.tight_layout();
edges = {"test digits": edge_strength(split.test.x), "categorical VAE, mean of p(x | z)": edge_strength(sample_means),
         "categorical VAE, sample of p(x | z)": edge_strength(sampled)}
display(Markdown("| images | edge strength (grey levels) |\n|---|---|\n"
                 + "\n".join(f"| {name} | {value:.2f} |" for name, value in edges.items())))

# %% tags=["check"]
exercises.expect_true("mean decodings are smoother (blurrier) than real digits",
                      edges["categorical VAE, mean of p(x | z)"] < edges["test digits"])
exercises.expect_true("samples of p(x | z) are rougher (speckled) than its mean",
                      edges["categorical VAE, sample of p(x | z)"] > edges["categorical VAE, mean of p(x | z)"])

# %% [markdown]
# ## 6. A Gaussian decoder: AEVB as in the paper, and the squared error
#
# For real-valued data Kingma & Welling's decoder is a Gaussian,
# $p_\theta(\mathbf{x} \mid \mathbf{z}) = \mathcal N\big(\mathbf{x}; \boldsymbol\mu_\theta(\mathbf{z}), \mathrm{diag}\,\boldsymbol\sigma^2\big)$.
# When $\boldsymbol\sigma$ does not depend on $\mathbf{z}$ (here: one learned $\sigma_d$ per pixel), its log-density is
#
# $$ \log p_\theta(\mathbf{x} \mid \mathbf{z}) = -\sum_d \frac{\big(x_d - \mu_{\theta,d}(\mathbf{z})\big)^2}{2\sigma_d^2}
#    - \sum_d \log\big(\sigma_d\sqrt{2\pi}\big), $$
#
# so the reconstruction term *is* a (weighted) squared error and the negative ELBO is "MSE + KL", the loss of
# many VAE tutorials. The squared error is minimised by the conditional mean: if several digits are encoded
# near the same $\mathbf{z}$, the best $\boldsymbol\mu_\theta(\mathbf{z})$ is their pixel-wise average, a blur.
# The same averaging makes any regression on squared error blurry (chapter 01's "several correct answers").
# (Kingma & Welling also let the decoder output $\boldsymbol\sigma_\theta(\mathbf{z})$: further exercise 9.)
#
# **A proper bound on the discrete digits.** Grey levels are integers, and a density on them is not a
# probability. Dequantize (chapter 01): $\mathbf v = \mathbf{x} + \mathbf u$, $\mathbf u \sim \mathcal U[0, 1)^D$;
# then $\log P(\mathbf{x}) = \log \int_{[0,1)^D} p(\mathbf{x} + \mathbf u)\,d\mathbf u \ge \mathbb E_{\mathbf u}[\log p(\mathbf{x} + \mathbf u)]$
# (Theis et al., 2016), in the same nats per image as the leaderboard, *provided* $p$ is a density on
# $[0, L)^D$, where $\mathbf v$ lives. A Gaussian puts some of its mass outside $[0, L)$, so we truncate each
# pixel's Gaussian to $[0, L)$ (divide its density by its mass there; $L$ = the number of grey levels; this
# changes the squared-error picture only for means near the edges). `VAE(likelihood="gaussian")` is this
# model: the encoder reads the integer image, the decoder scores the dequantized one, and `log_prob` is the
# importance-weighted bound with pairs $(\mathbf u_i, \mathbf{z}_i)$ — the **dequantization bound**. Samples are
# the levels $\lfloor \mathbf v\rfloor$.

# %%
torch.manual_seed(0)    # its own initial weights, whatever ran before
gaussian_vae = VAE(image_shape, levels, latent_dim=8, hidden=128, dropout=0.2, likelihood="gaussian")
gaussian_history = fit(gaussian_vae, split.train, split.val, epochs=200, batch_size=64, lr=2e-3, patience=15,
                       checkpoint=cache_dir() / f"ch04_vae_gaussian_seed0_{DATASET}.pt", progress=False)
with torch.no_grad():
    gaussian_noise = torch.Generator(device=device()).manual_seed(9)
    gaussian_neg_elbo = -torch.stack([gaussian_vae.elbo(test_x, generator=gaussian_noise)
                                      for _ in range(10)]).mean().item()
    gaussian_nll = mean_nll(gaussian_vae, test_x, batch_size=100, generator=gaussian_noise, options={"k": 1000, "chunk": 25})
    mean_g, std_g = gaussian_vae.gaussian_parameters(gaussian_vae.decode(gaussian_vae.encode(originals.to(device()))[0]))
    gaussian_sample_means = gaussian_vae.decode_mean(prior_z).cpu()
    gaussian_sampled = gaussian_vae.sample(200, generator=torch.Generator().manual_seed(4)).cpu()
    # What each decoder pays, per pixel, at z = the encoder's mean: background pixels (level 0) and the rest.
    test_codes_g, test_codes_c = gaussian_vae.encode(test_x)[0], vae.encode(test_x)[0]
    levels_flat = test_x.reshape(len(test_x), -1)
    mean_all, std_all = gaussian_vae.gaussian_parameters(gaussian_vae.decode(test_codes_g))
    pixel_law = torch.distributions.Normal(mean_all, std_all)
    v_all = levels_flat + torch.rand(levels_flat.shape, generator=torch.Generator().manual_seed(11)).to(device())
    gaussian_pixel_nll = -(pixel_law.log_prob(v_all) - torch.log(pixel_law.cdf(torch.tensor(float(levels), device=device()))
                                                               - pixel_law.cdf(torch.tensor(0.0, device=device()))))
    categorical_pixel_nll = -torch.distributions.Categorical(logits=vae.decode(test_codes_c)).log_prob(levels_flat.long())
background = levels_flat == 0
pixel_costs = {name: (nll[background].mean().item(), nll[~background].mean().item())
               for name, nll in (("categorical", categorical_pixel_nll), ("Gaussian", gaussian_pixel_nll))}

fig = plt.figure(figsize=(11, 4.6))
layout = fig.add_gridspec(4, 2, width_ratios=(5, 1))
for row, (images, title) in enumerate(((originals, "test digits"),
                                       (mean_g.cpu(), "μ(z) at z = the encoder's mean: the squared-error guess"),
                                       (gaussian_sample_means[:12], "new digits: mean of p(x | z), z ~ N(0, I)"),
                                       (gaussian_sampled[:12], "new digits: a sample ⌊v⌋, v ~ p(v | z)"))):
    plotting.image_grid(images.reshape(len(images), *image_shape), nrow=12, levels=levels, title=title,
                        ax=fig.add_subplot(layout[row, 0]))
plotting.image_grid(std_g[:1].cpu().reshape(1, *image_shape), nrow=1, title="σ of each pixel\n(darker: larger)",
                    ax=fig.add_subplot(layout[1:3, 1]))
fig.tight_layout();
edges["Gaussian VAE, mean of p(x | z)"] = edge_strength(gaussian_sample_means)
edges["Gaussian VAE, sample of p(x | z)"] = edge_strength(gaussian_sampled)
display(Markdown(
    "| decoder | test −ELBO | test −IWAE, k = 1000 | edge strength, mean | edge strength, sample |\n|---|---|---|---|---|\n"
    f"| categorical (exact log-probabilities) | {neg_elbo:.2f} | {bounds[1000]:.2f} | "
    f"{edges['categorical VAE, mean of p(x | z)']:.2f} | {edges['categorical VAE, sample of p(x | z)']:.2f} |\n"
    f"| Gaussian, σ per pixel, truncated to [0, {levels}) (dequantization bounds) | {gaussian_neg_elbo:.2f} | {gaussian_nll:.2f} | "
    f"{edges['Gaussian VAE, mean of p(x | z)']:.2f} | {edges['Gaussian VAE, sample of p(x | z)']:.2f} |\n\n"
    f"(Test digits: edge strength {edges['test digits']:.2f}.)\n\n"
    "| decoder | nats per background pixel (level 0) | nats per other pixel |\n|---|---|---|\n"
    + "\n".join(f"| {name} | {costs[0]:.3f} | {costs[1]:.3f} |" for name, costs in pixel_costs.items())
    + f"\n\n(one-sample reconstruction costs at z = the encoder's mean; {background.float().mean():.0%} of the test pixels "
      "are background)"))

# %% tags=["check"]
with torch.no_grad():
    v_check = data.dequantize(split.test.x[:12], generator=torch.Generator().manual_seed(10)).to(device())
    logits_check = gaussian_vae.decode(gaussian_vae.encode(originals.to(device()))[0])
    pixel_normal = torch.distributions.Normal(mean_g.double(), std_g.double())
    mass_inside = pixel_normal.cdf(torch.tensor(float(levels))) - pixel_normal.cdf(torch.tensor(0.0))
    truncated = (pixel_normal.log_prob(v_check.reshape(12, -1).double()) - mass_inside.log()).sum(1)
    grid_v = ((torch.arange(4000) + 0.5) * levels / 4000).double()           # midpoints of [0, L)
    integral = ((pixel_normal.log_prob(grid_v[:, None, None]) - mass_inside.log()).exp().sum(0) * levels / 4000)
exercises.expect_close("the decoder's log-density is the truncated Gaussian's (torch.distributions)",
                       gaussian_vae.log_likelihood(v_check, logits_check).double(), truncated, rtol=1e-4)
exercises.expect_close("each pixel's density integrates to 1 over [0, L): the bound is a proper one",
                       integral, torch.ones_like(integral), atol=2e-3)
exercises.expect_true("the IWAE tightens the Gaussian VAE's dequantization bound too", gaussian_nll < gaussian_neg_elbo)
exercises.expect_true("on the digits the Gaussian decoder's bound is worse than the categorical decoder's",
                      gaussian_nll > bounds[1000])
exercises.expect_true("background pixels cost the Gaussian decoder more than the categorical one",
                      pixel_costs["Gaussian"][0] > pixel_costs["categorical"][0])
exercises.expect_true("most of that extra cost is in the background pixels",
                      (pixel_costs["Gaussian"][0] - pixel_costs["categorical"][0]) * background.sum().item()
                      > (pixel_costs["Gaussian"][1] - pixel_costs["categorical"][1]) * (~background).sum().item())
exercises.expect_true("the Gaussian VAE's mean decodings are smoother than the digits too",
                      edges["Gaussian VAE, mean of p(x | z)"] < edges["test digits"])

# %%
leaderboard.record("VAE (MLP, 8-d latent, Gaussian decoder, σ per pixel)", 4, gaussian_nll, dims_image, dataset=DATASET,
                   bound="dequantization bound")
gallery.record_model("VAE (MLP, 8-d latent, Gaussian decoder, σ per pixel)", 4, gaussian_vae, levels=levels,
                     dataset=DATASET, train_seconds=gaussian_history.seconds)
display(Markdown(
    f"The Gaussian decoder's bound, {gaussian_nll:.1f} nats, is {gaussian_nll - bounds[1000]:.1f} nats per image worse "
    f"than the categorical decoder's {bounds[1000]:.1f}. Most of the gap "
    "is in the background: a "
    f"categorical decoder can give level 0 a probability close to one ({pixel_costs['categorical'][0]:.3f} nats "
    "per background pixel above), while a density must spread that probability over the interval [0, 1), and a "
    f"bell curve is not flat there ({pixel_costs['Gaussian'][0]:.3f} nats). The choice of the likelihood is part "
    "of the model: for discrete data a discrete one (categorical, or chapter 03's discretized logistic mixture), "
    "for real-valued data a density."))
display(Markdown(leaderboard.table(DATASET)))

# %% [markdown]
# ## 7. An autoencoder is not a generative model
#
# Drop the noise and the KL term: encode $\mathbf{z} = \boldsymbol\mu_\phi(\mathbf{x})$, decode, and maximise
# $\log p_\theta(\mathbf{x} \mid \mathbf{z})$. This is a plain, deterministic **autoencoder**, the nonlinear
# version of chapter 02's linear autoencoder (which recovers PCA; Baldi & Hornik, 1989). It learns codes, but
# nothing ties them to $\mathcal N(\mathbf 0, \mathbf I)$: they sit wherever training put them, with holes
# in between. Sampling it "like a VAE", $\mathbf{z} \sim \mathcal N(\mathbf 0, \mathbf I)$ then decoding, lands
# in places the decoder has never seen. Below: the same networks as the VAE, trained as an autoencoder.

# %%
class DeterministicAutoencoder(torch.nn.Module):
    """The VAE's networks without noise or KL: z = μ(x) and the loss −log p(x | z) (nats per image)."""

    def __init__(self):
        super().__init__()
        self.networks = VAE(image_shape, levels, latent_dim=8, hidden=256, dropout=0.2)

    def loss(self, x):
        z = self.networks.encode(x)[0]
        return -self.networks.log_likelihood(x, self.networks.decode(z)).mean()


autoencoder = DeterministicAutoencoder()
fit(autoencoder, split.train, split.val, epochs=200, batch_size=64, lr=1e-3, patience=10,
    checkpoint=cache_dir() / f"ch04_autoencoder_{DATASET}.pt", progress=False)


def gaussian_fit_kl(codes):
    """KL(N(m, S) ‖ N(0, I)) of the Gaussian with the codes' mean m and covariance S: how far from the prior."""
    fitted = torch.distributions.MultivariateNormal(codes.mean(0).double(), torch.cov(codes.T).double())
    standard = torch.distributions.MultivariateNormal(torch.zeros(codes.shape[1]).double(), torch.eye(codes.shape[1]).double())
    return torch.distributions.kl_divergence(fitted, standard).item()


with torch.no_grad():
    autoencoder_codes = autoencoder.networks.encode(test_x)[0].cpu()
    vae_codes = reparameterize(*vae.encode(test_x), generator=torch.Generator(device=device()).manual_seed(12)).cpu()
    autoencoder_reconstruction = -autoencoder.loss(test_x).item()
    vae_reconstruction = torch.stack([vae.elbo_terms(test_x)[0] for _ in range(10)]).mean().item()
    autoencoder_from_prior = autoencoder.networks.decode_mean(prior_z[:12]).cpu()
code_kl = {"autoencoder": gaussian_fit_kl(autoencoder_codes), "VAE": gaussian_fit_kl(vae_codes)}

fig = plt.figure(figsize=(11, 4))
layout = fig.add_gridspec(3, 2, width_ratios=(1, 1.4))
ax_h = fig.add_subplot(layout[:, 0])
grid = torch.linspace(-8, 8, 200)
ax_h.hist(autoencoder_codes.flatten(), bins=60, range=(-8, 8), density=True, alpha=0.5, label="autoencoder codes")
ax_h.hist(vae_codes.flatten(), bins=60, range=(-8, 8), density=True, alpha=0.5, label="VAE codes, z ~ q(z | x)")
ax_h.plot(grid, torch.distributions.Normal(0.0, 1.0).log_prob(grid).exp(), "k", label="the prior N(0, 1)")
ax_h.set(xlabel="code value (all 8 coordinates)", title="Where the test digits are encoded")
ax_h.legend(fontsize=7)
for row, (images, title) in enumerate(((originals, "test digits"),
                                       (autoencoder_from_prior, "autoencoder: decoded z ~ N(0, I)"),
                                       (sample_means[:12], "VAE: the same z, decoded"))):
    plotting.image_grid(images, nrow=12, levels=levels, title=title, ax=fig.add_subplot(layout[row, 1]))
fig.tight_layout();
display(Markdown(
    "| | autoencoder | VAE |\n|---|---|---|\n"
    f"| test reconstruction log p(x \\| z), nats | {autoencoder_reconstruction:.2f} (z = μ(x)) | {vae_reconstruction:.2f} (z ~ q(z \\| x)) |\n"
    f"| KL(Gaussian fitted to the test codes ‖ N(0, I)), nats | {code_kl['autoencoder']:.1f} | {code_kl['VAE']:.2f} |"))

# %% tags=["check"]
exercises.expect_true("the autoencoder reconstructs the test digits about as well as the VAE (within 10 %)",
                      abs(autoencoder_reconstruction - vae_reconstruction) < 0.1 * abs(vae_reconstruction))
exercises.expect_true("the autoencoder's codes are far further from N(0, I) than the VAE's (10× the KL or more)",
                      code_kl["autoencoder"] > 10 * code_kl["VAE"])
exercises.expect_true("the autoencoder's code values spread far wider than the prior's standard deviation of 1",
                      autoencoder_codes.std().item() > 2 and 0.5 < vae_codes.std().item() < 1.5)

# %% [markdown]
# The autoencoder compresses and reconstructs about as well as the VAE, yet its decoder, fed codes from
# $\mathcal N(\mathbf 0, \mathbf I)$, produces smudges: the prior has nothing to do with where its codes are. The
# VAE's KL term is what makes the prior a usable sampler. (A *learned* prior, fitted to where the codes are, is
# the other fix: see §11.)
#
# ## 8. Amortization: one encoder pass vs optimising each $q$
#
# The encoder must serve every image with one set of weights. For a handful of test images, optimise
# a free $(\boldsymbol\mu, \log\boldsymbol\sigma^2)$ per image by gradient ascent on its ELBO, starting
# from the encoder's answer, with the decoder fixed. The improvement is the **amortization gap**; the
# price of closing it is hundreds of gradient steps per image instead of one forward pass.

# %%
x_amortize = split.test.x[:8].to(device())
with torch.no_grad():
    start_mean, start_log_var = vae.encode(x_amortize)
fixed_noise = torch.randn(256, *start_mean.shape, generator=torch.Generator().manual_seed(5)).to(device())


def elbo_of(mean, log_var, noise=fixed_noise):
    z = reparameterize(mean, log_var, noise)
    return vae.log_likelihood(x_amortize, vae.decode(z)).mean(0) - standard_normal_kl(mean, log_var)


class FreePosteriors(torch.nn.Module):
    """One free q = N(μ, diag σ²) per image, its parameters started at the encoder's answer."""

    def __init__(self, mean, log_var):
        super().__init__()
        self.mean, self.log_var = torch.nn.Parameter(mean.clone()), torch.nn.Parameter(log_var.clone())


amortization_steps = 300
free_q = FreePosteriors(start_mean, start_log_var)
for p in vae.parameters():
    p.requires_grad_(False)                         # the decoder stays fixed: only the q's move
minimize(free_q, lambda generator, step: -elbo_of(free_q.mean, free_q.log_var, torch.randn(
             16, *start_mean.shape, generator=generator, device=start_mean.device)).sum(),
         steps=amortization_steps, lr=0.02, checkpoint=cache_dir() / f"ch04_amortization_{DATASET}.pt", progress=False)
for p in vae.parameters():
    p.requires_grad_(True)
free_mean, free_log_var = free_q.mean.detach(), free_q.log_var.detach()
with torch.no_grad():
    amortized, optimized = elbo_of(start_mean, start_log_var), elbo_of(free_mean, free_log_var)
display(Markdown(f"{amortization_steps} Adam steps per image:\n\n"
                 "| image | ELBO, encoder | ELBO, optimised q | gap (nats) |\n|---|---|---|---|\n" + "\n".join(
    f"| {i} | {a:.2f} | {o:.2f} | {o - a:.2f} |" for i, (a, o) in enumerate(zip(amortized.tolist(), optimized.tolist())))))

# %% tags=["check"]
exercises.expect_true("per-image optimisation never does worse than the encoder (on average it does better)",
                      bool(optimized.mean() > amortized.mean() and (optimized > amortized - 0.5).all()))

# %% [markdown]
# ## 9. The latent-space explorer
#
# With a **2-dimensional** latent space we can look at the whole decoder at once. The cells of this
# section stand alone: after the setup cell at the top, run them in order. The model is trained once
# and kept in the course's cache folder.

# %%
# Latent explorer, step 1: a VAE with a 2-dimensional latent space (loaded from the cache when present).
torch.set_default_dtype(torch.float32)
vae_2d = VAE(image_shape, levels, latent_dim=2, hidden=256, dropout=0.2)
fit(vae_2d, split.train, split.val, epochs=500, batch_size=64, lr=1e-3, patience=30,
    checkpoint=cache_dir() / f"ch04_vae2d_{DATASET}.pt")
with torch.no_grad():
    test_codes = vae_2d.encode(split.test.x.to(device()))[0].cpu()


def decode_2d(z):
    """Mean image for each 2D code: (N, 2) → (N, 1, H, W)."""
    with torch.no_grad():
        return vae_2d.decode_mean(z.to(device())).cpu()


# %%
# Latent explorer, step 2: the decoded manifold and the encoded test digits.
from scipy.stats import norm

grid_z = torch.tensor(norm.ppf(np.linspace(0.05, 0.95, 12)), dtype=torch.float32)
z1, z2 = torch.meshgrid(grid_z, grid_z.flip(0), indexing="xy")  # z₁ grows along a row, z₂ up the columns
manifold = decode_2d(torch.stack([z1.flatten(), z2.flatten()], 1))
fig, (ax_m, ax_c) = plt.subplots(1, 2, figsize=(11, 5))
plotting.image_grid(manifold, nrow=12, levels=levels, title="decoded means on a grid of prior quantiles", ax=ax_m)
points = ax_c.scatter(test_codes[:, 0], test_codes[:, 1], c=split.test.y, cmap="tab10", s=8)
fig.colorbar(points, ax=ax_c, label="digit")
ax_c.set(title="test digits encoded (mean of q(z | x))", xlabel="z₁", ylabel="z₂", aspect="equal");

# %%
# Latent explorer, step 3: drag the sliders; the decoded digit and its place among the test digits follow.
explorer = LatentExplorer(decode_2d, latent_dim=2, codes=test_codes, labels=split.test.y, levels=levels)
explorer

# %%
# Latent explorer, step 4: interpolate between two test digits in latent space.
InterpolationExplorer(lambda x: vae_2d.encode(x.to(device()))[0].cpu(), decode_2d, split.test.x, levels=levels,
                      first=0, second=7)

# %% tags=["check"]
before = explorer.figure.axes[0].images[0].get_array().copy()
explorer.sliders[0].value = 2.0
after = explorer.figure.axes[0].images[0].get_array()
exercises.expect_true("moving a latent slider changes the decoded image", not np.allclose(before, after))
explorer.sliders[0].value = 0.0

# %% [markdown]
# ## 10. Posterior collapse and the β-weighted ELBO
#
# The KL term pulls every $q(\mathbf{z} \mid \mathbf{x})$ towards the prior. A latent coordinate whose
# posterior equals the prior for every image carries no information — it has **collapsed** (it is
# "inactive"). Weighting the KL by $\beta$ (Higgins et al., 2017),
#
# $$ \mathcal L_\beta(q) = \mathbb E_q[\log p(\mathbf{x}\mid\mathbf{z})] - \beta\,\mathrm{KL}(q \,\|\, p(\mathbf{z}))
#    = \mathcal L(q) - (\beta - 1)\,\mathrm{KL}(q \,\|\, p(\mathbf{z})), $$
#
# makes the trade-off a knob: $\beta > 1$ squeezes information out of the code (fewer active units, blurrier
# reconstructions), $\beta < 1$ lets it in. Since $\mathrm{KL} \ge 0$, for $\beta \ge 1$ the objective is
# still a lower bound on $\log p(\mathbf{x})$, only looser: $\mathcal L_\beta \le \mathcal L \le \log p(\mathbf{x})$. For
# $\beta < 1$ it adds $(1 - \beta)\,\mathrm{KL}$ back and can *exceed* $\log p(\mathbf{x})$: it is no longer a
# bound, and a "likelihood" read from it means nothing. First on the linear-Gaussian model of §1, where
# $\log p(\mathbf{x})$ is exact, for $q$ with the posterior's covariance and a sliding mean; then on the
# digits, the average KL of each latent coordinate over the test set (a unit counts as active above
# 0.05 nats).

# %%
betas_linear = (0.5, 1.0, 2.0)
beta_objectives = {beta: torch.stack([expected_log_likelihood(post_mean[0] + s, post_cov) - beta * torch.distributions.kl_divergence(
    torch.distributions.MultivariateNormal(post_mean[0] + s, post_cov), latent_prior) for s in shifts]) for beta in betas_linear}

kl_per_unit = {}
for beta in (1.0, 4.0, 16.0):
    if beta == 1.0:
        model = vae
    else:
        torch.manual_seed(0)
        model = VAE(image_shape, levels, latent_dim=8, hidden=256, dropout=0.2, beta=beta)
        fit(model, split.train, split.val, epochs=150, batch_size=64, lr=1e-3, patience=15,
            checkpoint=cache_dir() / f"ch04_vae_beta{beta:g}_seed0_{DATASET}.pt", progress=False)
    with torch.no_grad():
        mean_b, log_var_b = model.encode(test_x)
        kl_per_unit[beta] = (0.5 * (mean_b**2 + log_var_b.exp() - 1 - log_var_b)).mean(0).cpu()
active = {beta: int((kls > 0.05).sum()) for beta, kls in kl_per_unit.items()}

fig, (ax_b, ax) = plt.subplots(1, 2, figsize=(12, 3.2))
for beta, values in beta_objectives.items():
    ax_b.plot(shifts, values, label=f"β = {beta:g}" + (" (the ELBO)" if beta == 1 else ""))
ax_b.axhline(log_px, color="k", lw=0.8, label="log p(x), exact")
ax_b.set(xlabel="shift of q's mean away from the posterior mean", ylabel="nats", title="β-objectives, linear-Gaussian model")
ax_b.legend(fontsize=7)
width = 0.27
for i, (beta, kls) in enumerate(kl_per_unit.items()):
    ax.bar(np.arange(8) + (i - 1) * width, kls.sort(descending=True).values, width,
           label=f"β = {beta:g}: {active[beta]} active")
ax.set(xlabel="latent unit (sorted)", ylabel="mean KL (nats)", title="Digits: larger β, fewer active latent units")
ax.legend(fontsize=8);
above_log_px = (beta_objectives[0.5][shifts.abs().argmin()] - log_px).item()
display(Markdown(f"At $q$ = the posterior, $\\mathcal L_{{0.5}}$ is {above_log_px:.3f} nats *above* the exact "
                 f"$\\log p(\\mathbf{{x}})$ = {log_px:.3f}: half the KL to the prior, "
                 f"{0.5 * torch.distributions.kl_divergence(posterior, latent_prior):.3f} nats, added back."))

# %% tags=["check"]
exercises.expect_true("β = 2: the β-objective ≤ ELBO ≤ log p(x) for every q (a looser lower bound)",
                      bool((beta_objectives[2.0] <= beta_objectives[1.0] + 1e-12).all()
                           and (beta_objectives[1.0] <= log_px + 1e-10).all()))
exercises.expect_true("β = 0.5: the β-objective exceeds log p(x) for some q (not a bound)",
                      bool(beta_objectives[0.5].max() > log_px))
exercises.expect_true("a strong β collapses latent units (fewer active units at β = 16 than at β = 1)",
                      active[16.0] < active[1.0])

# %% [markdown]
# ## 11. VAEs among the generative models
#
# What the chapter measured, set against GANs (chapter 06), which train a sampler through a game and have no
# likelihood at all:
#
# | | VAE | GAN |
# |---|---|---|
# | likelihood | a bound (ELBO), and an estimate that tightens (IWAE, §4): models can be compared, anomalies scored | none |
# | encoder | yes: $q(\mathbf{z} \mid \mathbf{x})$ compresses an image to a low-dimensional code (§9) | none (BiGAN adds one, chapter 06) |
# | training | one objective, stable, early stopping on a validation bound (§3) | a min–max game, unstable |
# | modes | the reconstruction term penalises every training image the model misses | mode collapse is common |
# | you must choose | the likelihood $p(\mathbf{x} \mid \mathbf{z})$ (§6), the encoder family (gaps of §1 and §8), the prior | a discriminator and a divergence |
# | samples | mean decodings blur, samples speckle (§5–6) | sharp |
#
# The VAE's weak points each have a known remedy, and two come up later:
# - **richer posteriors**: a diagonal Gaussian $q$ leaves a gap even on a linear model (§1). An inverse
#   autoregressive flow on top of the encoder's Gaussian (IAF; Kingma et al., 2016) gives a flexible
#   $q(\mathbf{z} \mid \mathbf{x})$ whose density is still cheap; chapter 05 trains this chapter's VAE with it
#   (`VAE(posterior_flows=2)`) and measures the narrower gap.
# - **learned priors**: §7 showed that a prior which does not match where the codes are makes a poor sampler.
#   Instead of forcing the aggregate posterior towards $\mathcal N(\mathbf 0, \mathbf I)$, learn the prior: a
#   mixture of the encoder's posteriors at learned pseudo-inputs (VampPrior; Tomczak & Welling, 2018), a
#   flow, or an autoregressive prior over the codes; hierarchical VAEs stack several latent layers.
# - **sharper samples**: a more expressive decoder (an autoregressive one, chapter 03) or an adversarial term
#   (adversarial autoencoders, Makhzani et al., 2016; adversarial variational Bayes, Mescheder et al., 2017).
#
# ## Further exercises (no checks)
# 6. Train the VAE with the IWAE bound ($k = 10$) as the objective. Does the test IWAE improve? And the ELBO?
# 7. Replace the categorical decoder by a Bernoulli decoder on binarized digits (`levels=2` with
#    `data.binarize`). Why are the numbers no longer comparable with the leaderboard?
# 8. The convolutional VAE of §4 differs from the MLP one in three ways: the networks, the latent size and the
#    optimisation (batch size, learning rate, patience). Change one at a time, starting from the MLP VAE: which
#    buys most of the bound?
# 9. Let the Gaussian decoder of §6 output $\boldsymbol\sigma_\theta(\mathbf{z})$ too, as Kingma & Welling do
#    (`VAE(likelihood="gaussian", gaussian_scale="decoder")`). Does the bound improve? Look at $\boldsymbol\mu$ and
#    $\boldsymbol\sigma$ of pixels the decoder is unsure of: what shape does the truncated density take there,
#    and is $\boldsymbol\mu_\theta(\mathbf{z})$ still a squared-error guess?
#
# ## Summary
# - The ELBO is $\log p(\mathbf{x})$ minus $\mathrm{KL}(q \,\|\, p(\mathbf{z}\mid\mathbf{x}))$, energy plus entropy, and
#   reconstruction minus $\mathrm{KL}(q \,\|\, p(\mathbf{z}))$; on a linear-Gaussian model all three agree to
#   machine precision and reach $\log p(\mathbf{x})$ at the full-covariance posterior.
# - Reparameterized gradients are far less noisy than score-function gradients; a baseline removes most of the
#   raw estimator's noise, but not the gap, which grows with the latent dimension (§2).
# - A VAE amortizes inference with an encoder and trains encoder and decoder jointly on the ELBO (AEVB); the
#   importance-weighted bound with $k = 1000$ evaluates it in nats per image.
# - The likelihood is a modelling choice: a Gaussian decoder is a squared error, blurs its means, and on the
#   discrete digits gives a worse (dequantization) bound than a categorical one.
# - A deterministic autoencoder is not a generative model: its codes do not follow the prior.
# - β ≥ 1 gives looser bounds and collapses latent units; β < 1 is not a bound at all.
#
# ## References
# - Kingma, D. P., & Welling, M. (2014). Auto-encoding variational Bayes.
# - Rezende, D. J., Mohamed, S., & Wierstra, D. (2014). Stochastic backpropagation and approximate inference in deep generative models.
# - Williams, R. J. (1992). Simple statistical gradient-following algorithms (REINFORCE).
# - Burda, Y., Grosse, R., & Salakhutdinov, R. (2016). Importance weighted autoencoders.
# - Theis, L., van den Oord, A., & Bethge, M. (2016). A note on the evaluation of generative models (dequantization).
# - Baldi, P., & Hornik, K. (1989). Neural networks and principal component analysis.
# - Cremer, C., Li, X., & Duvenaud, D. (2018). Inference suboptimality in variational autoencoders.
# - Higgins, I., et al. (2017). β-VAE: learning basic visual concepts with a constrained variational framework.
# - Bowman, S. R., et al. (2016). Generating sentences from a continuous space (posterior collapse).
# - Kingma, D. P., Salimans, T., Jozefowicz, R., Chen, X., Sutskever, I., & Welling, M. (2016). Improved variational inference with inverse autoregressive flow.
# - Tomczak, J. M., & Welling, M. (2018). VAE with a VampPrior.
# - Makhzani, A., et al. (2016). Adversarial autoencoders. Mescheder, L., et al. (2017). Adversarial variational Bayes.
# - Goodfellow, I. (2017). Generative models I (MILA summer school): the energy-plus-entropy form of the bound.
# - Tomczak, J. M. (2022). *Deep Generative Modeling*, ch. 4.


# %% tags=["check"]
# Every check run in this session: "all passed", or the list of those that failed. Stuck on one exercise?
# Run `exercises.keep_going()` once: a failed check then prints a red ✘ and "Run All" goes on to the end.
exercises.report()
