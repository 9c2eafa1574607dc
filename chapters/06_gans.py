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
# # 06 · Generative adversarial networks
#
# Every model so far wrote its density down, exactly (chapters [03](03_autoregressive.ipynb) and
# [05](05_normalizing_flows.ipynb)) or as a bound ([04](04_variational_autoencoders.ipynb)), and was trained by
# maximum likelihood. A **generative adversarial network** (Goodfellow et al., 2014) gives the density up. It
# keeps only the sampler, $\mathbf x = G_\theta(\mathbf z)$ with $\mathbf z \sim \mathcal N(\mathbf 0, \mathbf I)$,
# and replaces the likelihood by a classifier, the **discriminator** $D_\phi(\mathbf x) \in [0, 1]$: the
# probability that $\mathbf x$ is a real example rather than a generated one. $D$ is a *learnable loss*: $G$
# is trained to fool it, $D$ to not be fooled. In the taxonomy of [chapter 01, §8](01_density_estimation.ipynb)
# it is the implicit model: we can draw from $p_G$ but not evaluate it.
#
# Why learn a classifier? To compare two distributions we need their **density ratio**
# $p_{\text{data}}/p_G$, and a classifier that tells samples of the two apart estimates exactly that ratio
# (§1): density estimation becomes *sample discrimination*, a two-sample test we can train.
#
# **Learning objectives.** After this chapter you can
# 1. derive the optimal discriminator and the Jensen–Shannon divergence behind the GAN game, and check both
#    numerically;
# 2. explain why the generator's minimax loss saturates when $D$ is strong, and why the non-saturating loss
#    is used instead (and what it optimises);
# 3. measure mode collapse (modes covered, fraction of high-quality samples) and mitigate it;
# 4. train a DCGAN on the digits and probe it: interpolations, nearest training neighbours, latent arithmetic;
# 5. compute a spectral norm by power iteration and bound a discriminator's Lipschitz constant with it;
# 6. condition a GAN on the class and invert one with a BiGAN encoder.

# %%
DATASET = "digits"  # "digits" (bundled, CPU) or "mnist" / "fashion_mnist" (local IDX files in $DGM_DATA)

import math
import time

import matplotlib.pyplot as plt
import numpy as np
import torch
import torch.nn.functional as F
from IPython.display import Markdown, display
from sklearn.linear_model import LogisticRegression

from course_lib import data
from course_lib.evaluation import gallery
from course_lib.evaluation import mode_coverage as reference_mode_coverage
from course_lib.models import (GAN, BiGAN, ConvEncoder, DCDiscriminator, DCGenerator, JointDiscriminator,
                               MLPDiscriminator, MLPGenerator, discriminator_loss, generator_loss)
from course_lib.nn import spectral
from course_lib.runtime import cache_dir, device, in_background, seed_everything, side_by_side
from course_lib.teaching import exercises
from course_lib.train import fit_adversarial, minimize
from course_lib.viz import ClassConditionalExplorer, SeedInterpolationExplorer, plotting

seed_everything(0)
split = data.load_dataset(DATASET)
levels, image_side = split.levels, split.train.x.shape[-1]
chapter_started = time.perf_counter()

# %% [markdown]
# **Three trainings start first.** Section 6 trains two GANs on the digits (a conditional DCGAN and a BiGAN),
# and section 3 a GAN on a grid of 25 Gaussians; nothing before those sections needs them. So they start now, in a
# second process on the other CPU core, while this notebook goes on with the game on toy data and trains the
# DCGAN of §4 itself, which keeps the two processes about equally busy: `runtime.in_background` returns at once,
# and each section collects its model with `.result()`, which waits only if the training has not finished yet (on
# a GPU they train here, one after the other). The recipes are below; sections 3, 4 and 6 explain them.

# %%
def train_toy_gan(points, name, minibatch_std=False, lr_decay=False, seed=0, steps=3000, lr=2e-3):
    """§3: an MLP GAN on 2D points; returns the model and its history (snapshots every 250 steps)."""
    torch.manual_seed(seed)
    gan = GAN(MLPGenerator(), MLPDiscriminator(minibatch_std=minibatch_std))
    history = fit_adversarial(gan, points, steps=steps, batch_size=192, lr_generator=lr, lr_discriminator=lr,
                              betas=(0.5, 0.9), lr_decay=lr_decay, snapshot_every=250, snapshot_size=2500, seed=seed,
                              progress=False, checkpoint=cache_dir() / f"ch06_{name}_beta09_batch192_seed{seed}.pt")
    return gan, history


grid_centres, grid_std = data.grid_centres(5, 2.0), 0.05      # §3's harder toy data: 25 modes


def train_grid_gan():
    """§3: the plain GAN on the 5 × 5 grid, learning rate 10⁻³, 2 500 steps."""
    grid_points = data.gaussian_mixture(20000, grid_centres, grid_std, generator=torch.Generator().manual_seed(2))
    return train_toy_gan(grid_points, "grid_plain", lr=1e-3, steps=2500)


def train_dcgan(classes=None):
    """§4: DCGAN, non-saturating loss; 2000 steps of batch 64, both learning rates 2·10⁻³ decaying to 0.
    §6: with ``classes=10``, the conditional DCGAN: the same recipe, the label as context for both players."""
    torch.manual_seed(0)
    model = GAN(DCGenerator(latent_dim=16, side=image_side, channels=32, context_classes=classes),
                DCDiscriminator(side=image_side, channels=32, context_classes=classes), levels=levels,
                context_classes=classes)
    name = "dcgan2000" if classes is None else "cgan2000"
    history = fit_adversarial(model, split.train, steps=2000, batch_size=64, lr_generator=2e-3, lr_discriminator=2e-3,
                              lr_decay=True, labels_as_context=classes is not None, snapshot_every=250,
                              snapshot_size=64, progress=False, checkpoint=cache_dir() / f"ch06_{name}_{DATASET}.pt",
                              device=device())
    return model.to("cpu"), history


def train_bigan():
    """§6: BiGAN (generator, encoder, joint discriminator); 1500 steps, learning rates 2·10⁻³ decaying to 0."""
    torch.manual_seed(0)
    model = BiGAN(DCGenerator(latent_dim=16, side=image_side, channels=32),
                  ConvEncoder(latent_dim=16, side=image_side, channels=32),
                  JointDiscriminator(latent_dim=16, side=image_side, channels=32), levels=levels)
    history = fit_adversarial(model, split.train, steps=1500, batch_size=64, lr_generator=2e-3, lr_discriminator=2e-3,
                              lr_decay=True, progress=False, checkpoint=cache_dir() / f"ch06_bigan_lr2e-3_{DATASET}.pt",
                              device=device())
    return model.to("cpu"), history


grid_training = in_background(train_grid_gan)        # the three run one after the other, in this order
cgan_training = in_background(train_dcgan, classes=10)
bigan_training = in_background(train_bigan)

# %% [markdown]
# ## 1. The game and the optimal discriminator
#
# $D$ and $G$ play a two-player game with value
#
# $$ V(D, G) = \mathbb E_{\mathbf x \sim p_{\text{data}}}\big[\ln D(\mathbf x)\big]
#            + \mathbb E_{\mathbf z \sim p(\mathbf z)}\big[\ln\big(1 - D(G(\mathbf z))\big)\big],
#    \qquad \min_G \max_D V(D, G). $$
#
# $V$ is the log-likelihood of a binary classifier that labels real examples 1 and generated ones 0, so $D$
# *maximises* it and $G$ *minimises* it. (Some slides put a minus sign in front of the second term,
# $\mathbb E \ln D(\mathbf x) - \mathbb E \ln(1 - D(G(\mathbf z)))$: with that sign slip $D$ would be rewarded for
# calling generated samples real.)
#
# **The optimal discriminator.** For a fixed $G$, write both expectations as integrals over $\mathbf x$:
#
# $$ V(D, G) = \int p_{\text{data}}(\mathbf x) \ln D(\mathbf x) + p_G(\mathbf x) \ln\big(1 - D(\mathbf x)\big)\, d\mathbf x. $$
#
# For any $a, b \geq 0$, not both 0, $y \mapsto a \ln y + b \ln(1 - y)$ has its maximum on $[0, 1]$ at
# $y = a / (a + b)$ (set the derivative $a/y - b/(1 - y)$ to zero). Maximising the integrand point by point,
#
# $$ D^*(\mathbf x) = \frac{p_{\text{data}}(\mathbf x)}{p_{\text{data}}(\mathbf x) + p_G(\mathbf x)}
#    = \sigma\big(\ln p_{\text{data}}(\mathbf x) - \ln p_G(\mathbf x)\big), $$
#
# the Bayes classifier: its logit is the log density ratio, and $D^*/(1 - D^*) = p_{\text{data}}/p_G$. That is
# the two-sample-test view: a classifier trained on equally many real and generated examples (equal class
# priors, so Bayes' rule leaves only the likelihood ratio) estimates the density ratio, which is all the
# comparison of two distributions needs. $D^*$ only matters on the supports of the two distributions.
#
# ### Exercise 1 — the optimal discriminator in closed form
# Write `optimal_discriminator(log_p_data, log_p_model)`: $D^*$ at points where you know the two
# log-densities. It must work far in the tails too, where both densities underflow to 0 in floating point
# (think about which form of $D^*$ to compute).

# %%
def optimal_discriminator(log_p_data, log_p_model):
    """D*(x) from log p_data(x) and log p_G(x), both (N,) in nats → (N,) probabilities in [0, 1]."""
    ### BEGIN SOLUTION
    return torch.sigmoid(log_p_data - log_p_model)
    ### END SOLUTION


# %% tags=["check"]
p_check = torch.distributions.Normal(torch.tensor(0.0, dtype=torch.float64), 1.0)
q_check = torch.distributions.Normal(torch.tensor(1.0, dtype=torch.float64), 2.0)
x_check = torch.linspace(-4, 5, 19, dtype=torch.float64)
density_data, density_model = p_check.log_prob(x_check).exp(), q_check.log_prob(x_check).exp()
exercises.expect_close("D* = p_data / (p_data + p_G) where the densities are moderate",
                       exercises.call(1, optimal_discriminator, p_check.log_prob(x_check), q_check.log_prob(x_check)),
                       density_data / (density_data + density_model), exercise=1, rtol=1e-6)
exercises.expect_close("equal densities give D* = 1/2", exercises.call(1, optimal_discriminator, torch.full((3,), -2.0),
                                                                         torch.full((3,), -2.0)), torch.full((3,), 0.5),
                       exercise=1)
exercises.expect_close("far in the tails (log-densities near −1000, densities 0 in floating point): still σ(Δ)",
                       exercises.call(1, optimal_discriminator, torch.tensor([-1000.0, -1010.0, -995.0]),
                                      torch.tensor([-1010.0, -1000.0, -995.0])),
                       torch.tensor([1 / (1 + math.exp(-10)), 1 / (1 + math.exp(10)), 0.5]), exercise=1, rtol=1e-4)

# %% [markdown]
# Now let a real discriminator find it. The data are a mixture of two Gaussians, the "generator" a wider
# Gaussian in between, both fixed; a small MLP is trained on fresh samples of each with the classifier's loss
# $-V$ (the logistic loss: `discriminator_loss`; 1 000 Adam steps, the learning rate falling from $3 \cdot 10^{-3}$ to
# 0 along a cosine). Its output should approach $D^*$ where there are samples:

# %%
p_data_1d = torch.distributions.MixtureSameFamily(torch.distributions.Categorical(torch.tensor([0.5, 0.5])),
                                                  torch.distributions.Normal(torch.tensor([-1.5, 1.5]), 0.5))
p_model_1d = torch.distributions.Normal(0.0, 1.2)
discriminator_1d = MLPDiscriminator(features=1, hidden=64, layers=2)


def sample_1d(distribution, n, generator):
    """n samples of a 1D Normal or two-component Normal mixture, drawn with ``generator``."""
    if isinstance(distribution, torch.distributions.MixtureSameFamily):
        component = torch.randint(2, (n,), generator=generator)
        loc, scale = distribution.component_distribution.loc[component], distribution.component_distribution.scale[component]
    else:
        loc, scale = distribution.loc, distribution.scale
    return loc + scale * torch.randn(n, generator=generator)


def discriminator_objective(generator, step):
    """−V on 1 024 fresh samples from each distribution (the minibatch estimate of the classifier's loss)."""
    real, fake = sample_1d(p_data_1d, 1024, generator), sample_1d(p_model_1d, 1024, generator)
    return discriminator_loss(discriminator_1d(real[:, None]), discriminator_1d(fake[:, None]))


minimize(discriminator_1d, discriminator_objective, steps=1000, lr=3e-3, schedule="cosine", progress=False,
         checkpoint=cache_dir() / "ch06_discriminator_1d_cosine1000.pt")

grid_1d = torch.linspace(-4, 4, 801)
with torch.no_grad():
    d_trained = torch.sigmoid(discriminator_1d(grid_1d[:, None]))
density_data_1d, density_model_1d = p_data_1d.log_prob(grid_1d).exp(), p_model_1d.log_prob(grid_1d).exp()
d_star = density_data_1d / (density_data_1d + density_model_1d)   # moderate densities here: the plain formula

fig, ax = plt.subplots(figsize=(7, 3))
ax.plot(grid_1d, p_data_1d.log_prob(grid_1d).exp(), "k", lw=1, label="$p_{data}$")
ax.plot(grid_1d, p_model_1d.log_prob(grid_1d).exp(), "C1", lw=1, label="$p_G$")
ax.plot(grid_1d, d_star, "C2--", lw=2, label="$D^*$ (formula)")
ax.plot(grid_1d, d_trained, "C0", lw=1.5, label="trained D")
ax.set_xlabel("x")
ax.legend(fontsize=8)
plt.show()
where_samples = (grid_1d.abs() <= 2.5)
gap_1d = (d_trained - d_star)[where_samples].abs().max().item()
print(f"largest |D − D*| on [−2.5, 2.5]: {gap_1d:.3f}")

# %% tags=["check"]
exercises.expect_true("the trained discriminator is within 0.05 of the formula where the samples are", gap_1d < 0.05)

# %% [markdown]
# **The link with the Jensen–Shannon divergence.** Plug $D^*$ into $V$. With $m = (p_{\text{data}} + p_G)/2$,
#
# $$ \max_D V(D, G) = \int p_{\text{data}} \ln \frac{p_{\text{data}}}{2m} + p_G \ln \frac{p_G}{2m}
#    = -\ln 4 + \mathrm{KL}(p_{\text{data}} \,\|\, m) + \mathrm{KL}(p_G \,\|\, m)
#    = -\ln 4 + 2\, \mathrm{JS}(p_{\text{data}} \,\|\, p_G). $$
#
# So if $D$ were optimal at every step, $G$ would minimise the Jensen–Shannon divergence, whose unique minimum
# $0$ is at $p_G = p_{\text{data}}$, where $D^* = 1/2$ everywhere and $V = -\ln 4$. (With infinite capacity and
# $D$ optimal at every step, $V$ is convex in $p_G$ and gradient steps on $p_G$ reach that optimum; networks
# take steps on $\theta$, not on $p_G$, so the guarantee does not carry over.) A quadrature of each side:

# %%
x_quad = torch.linspace(-12, 12, 48001, dtype=torch.float64)
log_p_quad = p_data_1d.log_prob(x_quad.float()).double()
log_q_quad = p_model_1d.log_prob(x_quad.float()).double()
p_quad, q_quad = log_p_quad.exp(), log_q_quad.exp()
log_m = torch.logaddexp(log_p_quad, log_q_quad) - math.log(2)
log_d_star, log_one_minus_d_star = log_p_quad - log_m - math.log(2), log_q_quad - log_m - math.log(2)  # ln D*, ln(1 − D*)
value_at_optimum = torch.trapezoid(p_quad * log_d_star + q_quad * log_one_minus_d_star, x_quad).item()
js = 0.5 * torch.trapezoid(p_quad * (log_p_quad - log_m), x_quad).item() \
    + 0.5 * torch.trapezoid(q_quad * (log_q_quad - log_m), x_quad).item()
with torch.no_grad():
    d_trained_quad = torch.sigmoid(discriminator_1d(x_quad.float()[:, None])).double().clamp(1e-12, 1 - 1e-12)
value_trained = torch.trapezoid(p_quad * torch.log(d_trained_quad) + q_quad * torch.log1p(-d_trained_quad), x_quad).item()
print(f"V(D*, G) = {value_at_optimum:.6f}    −ln 4 + 2 JS = {-math.log(4) + 2 * js:.6f}    (JS = {js:.4f} nats, ln 2 = {math.log(2):.4f})")
print(f"V(trained D, G) = {value_trained:.6f}")

# %% tags=["check"]
exercises.expect_close("max_D V = −ln 4 + 2 JS (a quadrature of each side)", value_at_optimum, -math.log(4) + 2 * js,
                       rtol=0, atol=1e-6)
exercises.expect_true("0 < JS < ln 2 for these overlapping distributions", 0 < js < math.log(2))
exercises.expect_true("the trained D does not beat D* (V is maximal at D*), and comes within 0.01 nats of it",
                      value_at_optimum - 0.01 < value_trained <= value_at_optimum + 1e-9)

# %% [markdown]
# In practice neither player is optimal: both are networks, updated in alternation by stochastic gradient
# steps on minibatch estimates of $V$ (`course_lib.train.fit_adversarial`: `discriminator_steps` steps of $D$,
# then one of $G$). The theory above tells us what $G$ would minimise *if* $D$ kept up; the rest of the
# chapter is about what happens when it does not, or when it keeps up too well.
#
# ## 2. Saturating and non-saturating generator losses
#
# In the minimax game $G$ minimises $\mathbb E \ln(1 - D(G(\mathbf z)))$. Early in training $G$ is bad, $D$
# rejects its samples with confidence, $D(G(\mathbf z)) \approx 0$, and this loss is flat there: it
# **saturates**. Goodfellow et al. proposed instead to *maximise* $\mathbb E \ln D(G(\mathbf z))$, the same fixed
# point but steep where $G$ is bad: the **non-saturating** loss. With $D = \sigma(\ell)$ and the logit $\ell$,
# the two derivatives with respect to the logit are
#
# $$ \frac{\partial}{\partial \ell} \ln(1 - \sigma(\ell)) = -\sigma(\ell) = -D, \qquad
#    \frac{\partial}{\partial \ell} \big(-\ln \sigma(\ell)\big) = -(1 - \sigma(\ell)) = -(1 - D): $$
#
# the minimax gradient vanishes as $D(G(\mathbf z)) \to 0$, the non-saturating one tends to 1.

# %%
d_axis = torch.logspace(-6, math.log10(0.999), 400)
fig, axes = plt.subplots(1, 2, figsize=(10, 3.2))
axes[0].plot(d_axis, torch.log1p(-d_axis), label=r"minimax: $\ln(1 - D)$ (minimised)")
axes[0].plot(d_axis, -torch.log(d_axis), label=r"non-saturating: $-\ln D$ (minimised)")
axes[0].set_xlabel("D(G(z))")
axes[0].set_ylabel("generator loss")
axes[0].legend(fontsize=8)
axes[1].loglog(d_axis, d_axis, label="minimax: |∂/∂ℓ| = D")
axes[1].loglog(d_axis, 1 - d_axis, label="non-saturating: |∂/∂ℓ| = 1 − D")
axes[1].set_xlabel("D(G(z))")
axes[1].set_ylabel("|gradient w.r.t. the logit|")
axes[1].legend(fontsize=8)
plt.tight_layout()
plt.show()

# %% [markdown]
# ### Exercise 2 — the non-saturating loss
# Write `non_saturating_generator_loss(fake_logits)`: the mean over the batch of $-\ln D(G(\mathbf z))$ from
# the discriminator's **logits** $\ell$ on generated samples. It must stay finite and keep its gradient when
# $D$ is very sure ($\ell = -200$): do not form $\sigma(\ell)$ first.

# %%
def non_saturating_generator_loss(fake_logits):
    """−mean ln σ(ℓ) over the batch: fake_logits (B,) → scalar, nats."""
    ### BEGIN SOLUTION
    return F.softplus(-fake_logits).mean()
    ### END SOLUTION


# %% tags=["check"]
logits_check = torch.tensor([-3.0, -0.5, 0.0, 1.0, 4.0], dtype=torch.float64)
exercises.expect_close("−mean ln σ(ℓ) at moderate logits", exercises.call(2, non_saturating_generator_loss, logits_check),
                       -torch.log(1 / (1 + torch.exp(-logits_check))).mean(), exercise=2)
exercises.expect_close("a sure discriminator (ℓ = −200): the loss is ≈ 200, finite",
                       exercises.call(2, non_saturating_generator_loss, torch.tensor([-200.0])), 200.0, exercise=2,
                       rtol=1e-4)
sure_logits = torch.tensor([-30.0, -30.0], requires_grad=True)
exercises.call(2, non_saturating_generator_loss, sure_logits).backward()
exercises.expect_close("its gradient does not vanish there: ∂/∂ℓ = −(1 − σ(ℓ))/B ≈ −1/2 each", sure_logits.grad,
                       torch.tensor([-0.5, -0.5]), exercise=2, rtol=1e-4)

# %% [markdown]
# **The failure, measured.** Take a 2D toy: data on a ring of 8 Gaussians (std 0.1), a freshly initialised
# MLP generator whose samples sit near the origin. Train only $D$ for 600 steps, so that it becomes strong, and
# every 100 steps measure the norm of the gradient that each generator loss sends to $G$'s parameters, on the
# same 512 codes. (§5 repeats this with a spectrally normalised $D$.)

# %%
ring_wide = data.gaussian_mixture(20000, data.ring_centres(8, 2.0), 0.1, generator=torch.Generator().manual_seed(1))


def strong_discriminator_gradients(spectral, d_steps=600, every=100):
    """Train D alone against a fixed, untrained G. Returns D(G(z)) and both losses' ‖∇_θ L_G‖ every ``every``
    steps (dict of lists), the trained D, and probe points (1 000 real and 1 000 generated) for §5."""
    torch.manual_seed(0)
    generator_net, discriminator_net = MLPGenerator(), MLPDiscriminator(spectral=spectral)
    optimizer = torch.optim.Adam(discriminator_net.parameters(), lr=2e-3, betas=(0.5, 0.999))
    noise = torch.Generator().manual_seed(0)
    z = torch.randn(512, 2, generator=noise)
    record = {"step": [], "D(G(z))": [], "minimax": [], "non_saturating": []}
    for step in range(d_steps + 1):
        if step % every == 0:
            record["step"].append(step)
            for loss in ("minimax", "non_saturating"):
                generator_net.zero_grad()
                fake_logits = discriminator_net(generator_net(z))
                generator_loss(fake_logits, loss).backward()
                record[loss].append(torch.sqrt(sum(p.grad.pow(2).sum() for p in generator_net.parameters())).item())
            record["D(G(z))"].append(torch.sigmoid(fake_logits).mean().item())
        real = ring_wide[torch.randint(len(ring_wide), (256,), generator=noise)]
        with torch.no_grad():
            fake = generator_net(torch.randn(256, 2, generator=noise))
        loss_d = discriminator_loss(discriminator_net(real), discriminator_net(fake))
        optimizer.zero_grad()
        loss_d.backward()
        optimizer.step()
    discriminator_net.eval()
    with torch.no_grad():
        probe = torch.cat([ring_wide[:1000], generator_net(torch.randn(1000, 2, generator=noise))])
    return record, discriminator_net, probe


plain_record, plain_discriminator, plain_probe = strong_discriminator_gradients(spectral=False)
fig, ax = plt.subplots(figsize=(6, 3))
for loss in ("minimax", "non_saturating"):
    ax.semilogy(plain_record["step"], plain_record[loss], "o-", label=loss)
ax.set_xlabel("discriminator steps (G fixed)")
ax.set_ylabel("‖∇θ generator loss‖")
ax.legend(fontsize=8)
plt.show()
saturation_ratio = plain_record["non_saturating"][-1] / plain_record["minimax"][-1]
print(f"after {plain_record['step'][-1]} D steps: mean D(G(z)) = {plain_record['D(G(z))'][-1]:.1e}; "
      f"gradient norms: minimax {plain_record['minimax'][-1]:.1e}, non-saturating {plain_record['non_saturating'][-1]:.2f} "
      f"(ratio {saturation_ratio:.0f})")

# %% tags=["check"]
exercises.expect_true("with a strong D, the minimax loss sends a gradient over 1000 times smaller than the non-saturating one",
                      saturation_ratio > 1000)
exercises.expect_true("and the minimax gradient shrinks as D trains", plain_record["minimax"][-1] < plain_record["minimax"][1] / 5)

# %% [markdown]
# (Adam divides each update by a running gradient scale, which hides a uniformly small gradient until it
# falls below its $\epsilon$; the direction is then dominated by noise. Plain SGD would simply stop.)
#
# The non-saturating loss is not free. Its gradient is the one of
# $\mathrm{KL}(p_G \,\|\, p_{\text{data}}) - 2\,\mathrm{JS}(p_{\text{data}} \,\|\, p_G)$ at the optimal
# discriminator (Arjovsky & Bottou, 2017): the JS term has the *wrong sign*, pushing the distributions apart,
# and the reverse KL punishes samples where there are no data much more than data where there are no
# samples. That favours dropping modes, the subject of the next section.
#
# ## 3. Mode collapse
#
# Explicit models trained by maximum likelihood pay $-\ln p(\mathbf x) = \infty$ for any training example they
# miss, so they cover the data. A GAN pays nothing for a mode it never produces, as long as $D$ does not
# notice: the generator can **collapse** onto a few modes, or hop from mode to mode as $D$ catches up. The
# standard test bed is a ring of 8 Gaussians with a tiny standard deviation (σ = 0.02, radius 2; the protocol
# of the unrolled-GAN and VEEGAN papers) and a 5 × 5 grid (σ = 0.05, spacing 2). Two numbers summarise a set of
# samples: a sample is of **high quality** if it lies within 3σ of its nearest mode, and a mode is **covered**
# if at least 1 % of all samples are high-quality samples of that mode (25 of 2 500; PacGAN asks for 20).
#
# ### Exercise 3 — the mode-coverage metric
# Write `mode_coverage(samples, centres, std)` returning `(modes_covered, high_quality_fraction)` by the
# definitions above: `samples` (N, 2), `centres` (K, 2), `std` the data's σ.

# %%
def mode_coverage(samples, centres, std, within=3.0, min_share=0.01):
    """(number of modes covered, fraction of samples of high quality) for samples (N, D), centres (K, D)."""
    ### BEGIN SOLUTION
    distance, nearest = torch.cdist(samples, centres).min(dim=1)
    good = distance <= within * std
    counts = torch.bincount(nearest[good], minlength=len(centres))
    return int((counts >= min_share * len(samples)).sum()), good.float().mean().item()
    ### END SOLUTION


# %% tags=["check"]
centres_check = data.ring_centres(8, 2.0)
on_modes = data.gaussian_mixture(2500, centres_check, 0.02, generator=torch.Generator().manual_seed(3))
exercises.expect_true("samples of the data themselves: 8 modes covered, ≈ 99 % of high quality",
                      exercises.call(3, mode_coverage, on_modes, centres_check, 0.02)[0] == 8
                      and exercises.call(3, mode_coverage, on_modes, centres_check, 0.02)[1] > 0.98, exercise=3)
collapsed = centres_check[[0]] + 0.01 * torch.randn(2500, 2, generator=torch.Generator().manual_seed(4))
covered_check, quality_check = exercises.call(3, mode_coverage, collapsed, centres_check, 0.02, returns=2)
exercises.expect_true("all samples on one mode: 1 mode covered, all of high quality",
                      covered_check == 1 and abs(quality_check - 1.0) < 1e-6, exercise=3)
sparse = torch.cat([centres_check.repeat_interleave(torch.tensor([400] * 7 + [10]), dim=0),
                    torch.zeros(100, 2)])               # 10 of 2 910 on the last mode: < 1 %
covered_check, quality_check = exercises.call(3, mode_coverage, sparse, centres_check, 0.02, returns=2)
exercises.expect_true("a mode with fewer than 1 % of the samples is not covered; points at the origin are far from every mode",
                      covered_check == 7 and abs(quality_check - 2810 / 2910) < 1e-6, exercise=3)
near_misses = centres_check.repeat_interleave(300, dim=0) + torch.tensor([0.1, 0.0]) * (torch.arange(2400) >= 1200)[:, None]
covered_check, quality_check = exercises.call(3, mode_coverage, near_misses, centres_check, 0.02, returns=2)
exercises.expect_true("samples 5σ away from a mode do not cover it (4 of 8 modes missed by 5σ: 4 covered, half of high quality)",
                      covered_check == 4 and abs(quality_check - 0.5) < 1e-6, exercise=3)
for seed_check in range(3):
    messy = torch.randn(1000, 2, generator=torch.Generator().manual_seed(seed_check)) * 0.05 \
        + centres_check[torch.randint(3, (1000,), generator=torch.Generator().manual_seed(10 + seed_check))]
    reference = reference_mode_coverage(messy, centres_check, 0.02)
    exercises.expect_true(f"agrees with the course's reference on noisy samples (seed {seed_check})",
                          exercises.call(3, mode_coverage, messy, centres_check, 0.02)[0] == reference.modes_covered
                          and abs(exercises.call(3, mode_coverage, messy, centres_check, 0.02)[1]
                                  - reference.high_quality) < 1e-6, exercise=3)

# %% [markdown]
# A plain GAN on the ring: MLP generator and discriminator (3 hidden layers of 128), non-saturating loss,
# Adam with learning rate $2 \cdot 10^{-3}$ for both players and $\beta = (0.5, 0.9)$ (a shorter memory of the
# squared gradients than the usual $\beta_2 = 0.999$, as in WGAN-GP, chapter 07), 3 000 steps of batch 192. Every
# 250 steps we keep the samples of 2 500 fixed codes (`train_toy_gan`, at the top). This section trains three such
# GANs: this one, one with two changes against mode collapse, and one on a harder dataset, both explained below.
# The third has been training in the background since the top of the chapter (`train_grid_gan`). The two on the
# ring are independent, so `side_by_side` trains them at the same time when a CPU core is free; here the other core
# is busy with the background trainings, so they train one after the other.

# %%
ring_centres, ring_std = data.ring_centres(8, 2.0), 0.02
ring = data.gaussian_mixture(20000, ring_centres, ring_std, generator=torch.Generator().manual_seed(1))


def coverage_over_training(history, centres, std):
    return [reference_mode_coverage(s, centres, std) for s in history.snapshots]


def show_snapshots(history, title, steps_shown=(250, 750, 1500, 2250, 3000), limit=2.6):
    fig, axes = plt.subplots(1, len(steps_shown), figsize=(2.3 * len(steps_shown), 2.4))
    for ax, step in zip(axes, steps_shown):
        points = history.snapshots[history.snapshot_steps.index(step)]
        ax.scatter(points[:, 0], points[:, 1], s=1, alpha=0.4)
        ax.set_xlim(-limit, limit)
        ax.set_ylim(-limit, limit)
        ax.set_aspect("equal")
        ax.set_title(f"step {step}", fontsize=8)
        ax.set_xticks([])
        ax.set_yticks([])
    fig.suptitle(title, fontsize=10)
    plt.tight_layout()
    plt.show()


toy_runs = {"ring, plain": dict(points=ring, name="ring_plain"),
            "ring, mitigated": dict(points=ring, name="ring_mitigated", minibatch_std=True, lr_decay=True)}
toy_gans = dict(zip(toy_runs, side_by_side(train_toy_gan, toy_runs.values())))   # (model, history) each
plain_gan, plain_history = toy_gans["ring, plain"]
plain_coverage = coverage_over_training(plain_history, ring_centres, ring_std)
show_snapshots(plain_history, "plain GAN on the ring")
print("plain GAN, modes covered / high-quality fraction every 250 steps:")
print("  ".join(f"{c.modes_covered}/{c.high_quality:.2f}" for c in plain_coverage))

# %% [markdown]
# The generator does not spread evenly over the ring: modes appear and disappear again as the discriminator
# chases the generator around — **mode hopping**, the dynamic form of mode collapse. Where such a run happens
# to stop is a matter of luck.
#
# **Mitigation.** Two changes, each aimed at one failure:
# - **minibatch features** (Salimans et al., 2016; here the minibatch standard deviation of Karras et al., 2018):
#   the discriminator's last layer also sees how spread out the whole batch is, so a batch of look-alikes is
#   caught as fake: collapse becomes visible to $D$;
# - **annealed learning rates**: both step sizes fall linearly to zero (`lr_decay=True`), meant to damp the
#   two players' oscillation around the equilibrium so that the samples can settle on the modes (further
#   exercise 5 separates the two effects).

# %%
mitigated_gan, mitigated_history = toy_gans["ring, mitigated"]       # trained with the plain one above
mitigated_coverage = coverage_over_training(mitigated_history, ring_centres, ring_std)
show_snapshots(mitigated_history, "minibatch standard deviation + annealed learning rates")

fig, axes = plt.subplots(1, 2, figsize=(10, 3))
for coverage, label in ((plain_coverage, "plain"), (mitigated_coverage, "mitigated")):
    axes[0].plot(plain_history.snapshot_steps, [c.modes_covered for c in coverage], "o-", label=label)
    axes[1].plot(plain_history.snapshot_steps, [c.high_quality for c in coverage], "o-", label=label)
axes[0].set_ylabel("modes covered (of 8)")
axes[1].set_ylabel("high-quality fraction")
for ax in axes:
    ax.set_xlabel("step")
    ax.legend(fontsize=8)
plt.tight_layout()
plt.show()
late = slice(len(plain_coverage) // 2, None)         # the second half of training
summary_rows = [(label, min(c.modes_covered for c in coverage[late]), coverage[-1].modes_covered,
                 coverage[-1].high_quality) for label, coverage in (("plain", plain_coverage),
                                                                    ("mitigated", mitigated_coverage))]
display(Markdown("| GAN | fewest modes covered, 2nd half of training | modes covered at the end | high-quality fraction at the end |\n"
                 "|---|---|---|---|\n" + "\n".join(f"| {a} | {b}/8 | {c}/8 | {d:.1%} |" for a, b, c, d in summary_rows)))

# %% tags=["check"]
final = mitigated_coverage[-1]
exercises.expect_true("the mitigated GAN covers 8/8 modes with ≥ 90 % high-quality samples",
                      final.modes_covered == 8 and final.high_quality >= 0.9)
plain_modes = [c.modes_covered for c in plain_coverage]
exercises.expect_true("the plain GAN's modes come and go: some snapshot covers fewer modes than an earlier one, and a "
                      "later one more again", any(max(plain_modes[:i]) > plain_modes[i] < max(plain_modes[i + 1:])
                                                  for i in range(1, len(plain_modes) - 1)))
exercises.expect_true("the plain GAN loses modes during the second half of training; the mitigated one keeps all 8 "
                      "in the last quarter (from step 2250)", summary_rows[0][1] < 8
                      and all(c.modes_covered == 8 for c, s in zip(mitigated_coverage, mitigated_history.snapshot_steps)
                              if s >= 2250))

# %% [markdown]
# (The test suite repeats the mitigated run with seeds 1, 2 and 3: 8/8 modes and ≥ 90 % high-quality samples
# each time; see `tests/test_gan_targets.py`.)
#
# The 5 × 5 grid has 25 modes, and its corner modes lie far from where the generator starts. The plain GAN,
# with learning rate $10^{-3}$ (and the same $\beta$), for 2 500 steps (`train_grid_gan`, started at the top):

# %%
grid_gan, grid_history = grid_training.result()      # started in the background at the top (train_grid_gan)
grid_coverage = coverage_over_training(grid_history, grid_centres, grid_std)
show_snapshots(grid_history, "plain GAN on the 5 × 5 grid", steps_shown=(250, 750, 1500, 2000, 2500), limit=5.0)
print("modes covered (of 25) / high-quality fraction every 250 steps:")
print("  ".join(f"{c.modes_covered}/{c.high_quality:.2f}" for c in grid_coverage))
print(f"at step 0 the untrained generator puts everything near the origin: {grid_coverage[0].modes_covered} mode, "
      f"{grid_coverage[0].high_quality:.0%} 'high quality' — why the two numbers are always read together")

# %% tags=["check"]
exercises.expect_true("on the grid the plain GAN still misses modes at the end of its budget",
                      grid_coverage[-1].modes_covered < 25)
exercises.expect_true("the untrained generator scores high quality on one mode: quality alone says nothing about coverage",
                      grid_coverage[0].modes_covered == 1 and grid_coverage[0].high_quality > 0.5)

# %% [markdown]
# ## 4. DCGAN on the digits
#
# For images, the discriminator is a recognition CNN with a single logit, and the generator runs one
# backwards: a linear layer to a small feature map, then stride-2 **up-convolutions** (transposed
# convolutions) with batch normalization, and a tanh output (DCGAN, Radford et al., 2016). Low-resolution layers
# induce long-range correlations in the image, high-resolution ones short-range detail. As for the flows of
# chapter 05, $D$ sees the digits dequantized and scaled to $[-1, 1)$, and samples are rounded back to grey
# levels. Training (`train_dcgan`, at the top, which the conditional DCGAN of §6 shares; this cell runs it):
# the non-saturating loss, 2 000 steps of batch 64, Adam with learning rate $2 \cdot 10^{-3}$ for both players
# decaying linearly to 0, which damps the players' oscillation at the end.

# %%
dcgan, dcgan_history = train_dcgan()
print(f"DCGAN: {dcgan_history.seconds:.1f} s of training (2000 steps, or in an earlier run when it comes from the "
      f"cache)")
with torch.no_grad():
    dcgan_samples = dcgan.sample(64, torch.Generator().manual_seed(0))
# Samples go to the gallery, where chapter 09 scores every model's samples (a GAN has no likelihood to compare).
gallery.record_model("DCGAN (non-saturating)", 6, dcgan, levels=levels, dataset=DATASET,
                     train_seconds=dcgan_history.seconds)
fig, axes = plt.subplots(1, 3, figsize=(12, 4))
plotting.image_grid(split.train.x[:64], nrow=8, levels=levels, title="training digits", ax=axes[0])
plotting.image_grid(dcgan_history.snapshots[1], nrow=8, levels=levels, title="DCGAN after 250 steps", ax=axes[1])
plotting.image_grid(dcgan_samples, nrow=8, levels=levels, title="DCGAN after 2000 steps", ax=axes[2])
plt.show()
fig, ax = plt.subplots(figsize=(6, 2.5))
ax.plot(dcgan_history.discriminator_loss, lw=0.5, label="D loss")
ax.plot(dcgan_history.generator_loss, lw=0.5, label="G loss")
ax.set_xlabel("step")
ax.legend(fontsize=8)
plt.show()

# %% [markdown]
# The two losses do not go down together: each player's loss is measured against the *other's* current
# state, so neither is a measure of sample quality. (Chapter 07's Wasserstein critic gives a loss that tracks
# quality; chapter 09 measures samples.)
#
# A classifier trained on the real digits (logistic regression on pixels) labels the samples: a generator
# that dropped a class would show a hole in the histogram.

# %%
pixels = lambda images: images.reshape(len(images), -1).numpy()  # noqa: E731
digit_classifier = LogisticRegression(max_iter=3000).fit(pixels(split.train.x), split.train.y.numpy())
print(f"classifier accuracy on the test digits: {digit_classifier.score(pixels(split.test.x), split.test.y.numpy()):.1%}")
with torch.no_grad():
    many_samples = dcgan.sample(2000, torch.Generator().manual_seed(1))
sample_classes = np.bincount(digit_classifier.predict(pixels(many_samples)), minlength=10)
print("classes of 2 000 DCGAN samples:", dict(enumerate(sample_classes.tolist())))

# %% tags=["check"]
exercises.expect_true("every class appears among the DCGAN's samples (at least 2 % each)", sample_classes.min() >= 40)

# %% [markdown]
# **Interpolations.** Walk along the straight line between two codes. Smooth transitions, every point a
# plausible digit, suggest that the generator has learnt a continuous map of digit space; sharp jumps between
# memorised images would suggest the opposite. Pick two seeds and move $t$:

# %%
def dcgan_images(z):
    """Integer-level images G(z) (N, 1, s, s) of the DCGAN for codes z (N, 16)."""
    return dcgan.to_data(dcgan.generate(z))


SeedInterpolationExplorer(dcgan_images, latent_dim=16, levels=levels, first=3, second=8)

# %% [markdown]
# **Memorisation test.** Does the generator copy training digits? For each sample, find its nearest training
# image (Euclidean distance in grey levels) and compare with the same distance for *test* digits, which the
# model never saw and are certainly not copies:

# %%
train_flat = pixels(split.train.x).astype(np.float64)


def nearest_training(images):
    """Distance to and index of the nearest training image, for images (N, 1, s, s)."""
    d = torch.cdist(torch.from_numpy(pixels(images).astype(np.float64)), torch.from_numpy(train_flat))
    return d.min(dim=1)


sample_nn_distance, sample_nn_index = nearest_training(many_samples)
test_nn_distance, _ = nearest_training(split.test.x)
fig, axes = plt.subplots(1, 2, figsize=(10, 3.5))
plotting.image_grid(torch.cat([many_samples[:8], split.train.x[sample_nn_index[:8]]]), nrow=8, levels=levels,
                    title="samples (top) and their nearest training digits (bottom)", ax=axes[0])
axes[1].hist(test_nn_distance.numpy(), bins=30, alpha=0.6, density=True, label="test digits")
axes[1].hist(sample_nn_distance.numpy(), bins=30, alpha=0.6, density=True, label="DCGAN samples")
axes[1].set_xlabel("distance to the nearest training digit")
axes[1].legend(fontsize=8)
plt.tight_layout()
plt.show()
print(f"median distance to the nearest training digit: samples {sample_nn_distance.median():.1f}, "
      f"test digits {test_nn_distance.median():.1f}; smallest for a sample: {sample_nn_distance.min():.1f}")

# %% tags=["check"]
exercises.expect_true("no sample is a copy of a training digit, and the samples are not closer to the training set "
                      "than unseen test digits are (medians)",
                      sample_nn_distance.min() > 0 and sample_nn_distance.median() >= test_nn_distance.median())

# %% [markdown]
# **Latent vector arithmetic** (Radford et al.: "man with glasses − man + woman = woman with glasses"). Here
# the attribute is the amount of ink. Among 2 000 codes, take the 20 whose images have the most ink and the
# 20 with the least; their mean difference is an "add ink" direction. Add it to the codes of the next 16
# thinnest samples (not used to build it) and compare:

# %%
ink = many_samples.reshape(len(many_samples), -1).sum(1)
codes_many = dcgan.latent(2000, torch.Generator().manual_seed(1))
order = torch.argsort(ink)
ink_direction = codes_many[order[-20:]].mean(0) - codes_many[order[:20]].mean(0)
thin = order[20:36]                                   # thin samples not used to build the direction
with torch.no_grad():
    before, after = dcgan_images(codes_many[thin]), dcgan_images(codes_many[thin] + ink_direction)
ink_before, ink_after = before.reshape(16, -1).sum(1), after.reshape(16, -1).sum(1)
same_class = (digit_classifier.predict(pixels(before)) == digit_classifier.predict(pixels(after))).mean()
plotting.image_grid(torch.cat([before, after]), nrow=16, levels=levels,
                    title="thin samples (top) and the same codes + the ink direction (bottom)")
plt.show()
print(f"ink: {ink_before.mean():.0f} → {ink_after.mean():.0f} grey levels on average; "
      f"{(ink_after > ink_before).float().mean():.0%} of the images gained ink; the classifier's label "
      f"kept for {same_class:.0%}")

# %% tags=["check"]
exercises.expect_true("adding the ink direction adds ink to at least 14 of the 16 thin samples",
                      int((ink_after > ink_before).sum()) >= 14)

# %% [markdown]
# ## 5. Spectral normalization
#
# §2 showed a discriminator that becomes too sure. Worse, the optimal $D^* = \sigma(f^*)$ with
# $f^* = \ln p_{\text{data}} - \ln p_G$, whose gradient $\nabla_{\mathbf x} f^*$ can be unbounded, or not even defined
# where the supports do not overlap (and a generator with a 16-dimensional code for 64 pixels has a support
# of dimension 16 at most): nothing limits how fast $D$ may change with $\mathbf x$, and so how violently
# it pushes $G$. **Spectral normalization** (Miyato et al., 2018) bounds the Lipschitz constant of $D$. A
# linear layer $\mathbf h \mapsto \mathbf W \mathbf h$ has Lipschitz constant $\sigma(\mathbf W)$, its largest singular
# value; LeakyReLU has 1; so a network of layers $\bar{\mathbf W}_l = \mathbf W_l / \sigma(\mathbf W_l)$ has Lipschitz
# constant at most $\prod_l \sigma(\bar{\mathbf W}_l) = 1$. Weight clipping and weight normalization bound all the
# singular values together (through the entries, or $\sum_i \sigma_i^2$); a discriminator that wants large
# outputs then concentrates that budget in $\sigma_1$, which makes its weights nearly low rank. Dividing by
# $\sigma_1$ alone leaves the other singular values free. In training, $\tilde{\mathbf u}$ and $\tilde{\mathbf v}$ are
# treated as constants and the gradient flows through $\bar{\mathbf W} = \mathbf W / \sigma(\mathbf W)$.
#
# $\sigma(\mathbf W)$ is computed by **power iteration** (their Algorithm 1): from a vector $\tilde{\mathbf u}$ kept
# between training steps, one step is
#
# $$ \tilde{\mathbf v} \leftarrow \mathbf W^\top \tilde{\mathbf u} / \|\mathbf W^\top \tilde{\mathbf u}\|_2, \qquad
#    \tilde{\mathbf u} \leftarrow \mathbf W \tilde{\mathbf v} / \|\mathbf W \tilde{\mathbf v}\|_2, \qquad
#    \sigma(\mathbf W) \approx \tilde{\mathbf u}^\top \mathbf W \tilde{\mathbf v}, \qquad \bar{\mathbf W} = \mathbf W / \sigma(\mathbf W). $$
#
# Since $\mathbf W$ changes little per step, one iteration per step is enough.
#
# ### Exercise 4 — the power iteration
# Write `power_iteration(W, u, iterations)` returning `(sigma, u)`: the estimate of the largest singular
# value of the (out × in) matrix `W` after `iterations` steps from `u` (out,), and the updated `u`.

# %%
def power_iteration(W, u, iterations=1):
    """σ(W) estimate and new u after ``iterations`` power-iteration steps: W (out, in), u (out,) → (scalar, (out,))."""
    ### BEGIN SOLUTION
    for _ in range(iterations):
        v = W.T @ u
        v = v / v.norm()
        u = W @ v
        u = u / u.norm()
    return u @ W @ v, u
    ### END SOLUTION


# %% tags=["check"]
W_check = torch.randn(7, 12, generator=torch.Generator().manual_seed(5), dtype=torch.float64)
u_check = torch.randn(7, generator=torch.Generator().manual_seed(6), dtype=torch.float64)
sigma_student, _ = exercises.call(4, power_iteration, W_check, u_check, 200, returns=2)
exercises.expect_close("converges to the largest singular value (torch.linalg.matrix_norm, ord=2)", sigma_student,
                       torch.linalg.matrix_norm(W_check, ord=2), exercise=4, rtol=1e-6)
for steps_check in (1, 3):
    sigma_ref, u_ref, _ = spectral.power_iteration(W_check, u_check, steps_check)
    sigma_s, u_s = exercises.call(4, power_iteration, W_check, u_check, steps_check, returns=2)
    exercises.expect_close(f"{steps_check} step(s) from the same u match Algorithm 1 (σ and u)",
                           torch.cat([sigma_s.reshape(1), u_s]), torch.cat([sigma_ref.reshape(1), u_ref]), exercise=4,
                           rtol=1e-6)
big = 1e3 * W_check                                   # σ scales with W; u stays a unit vector
sigma_big, u_big = exercises.call(4, power_iteration, big, u_check, 200, returns=2)
exercises.expect_close("σ(1000 W) = 1000 σ(W), with u of unit length", torch.stack([sigma_big / 1e3, u_big.norm()]),
                       torch.stack([torch.linalg.matrix_norm(W_check, ord=2), torch.tensor(1.0, dtype=torch.float64)]),
                       exercise=4, rtol=1e-6)

# %% [markdown]
# `course_lib` applies this as a parametrization of every layer of $D$ (`MLPDiscriminator(spectral=True)`).
# First, the Lipschitz constant. Take the strong ring discriminator of §2 and train the same one with spectral
# normalization; bound its Lipschitz constant by the product of the layers' largest singular values (computed exactly
# with `torch.linalg.matrix_norm`); then measure the largest input gradient $\|\nabla_{\mathbf x} \ell(\mathbf x)\|$ of the
# logit over data and generated points, which the bound must dominate:

# %%
def lipschitz_report(discriminator_net, points):
    """(product of the layers' spectral norms, largest ‖∇x logit‖ over ``points``)."""
    with torch.no_grad():
        bound = 1.0
        for layer in discriminator_net.modules():
            if isinstance(layer, torch.nn.Linear):
                bound *= torch.linalg.matrix_norm(layer.weight, ord=2).item()
    points = points.clone().requires_grad_(True)
    gradient, = torch.autograd.grad(discriminator_net(points).sum(), points)
    return bound, gradient.norm(dim=1).max().item()


sn_record, sn_discriminator, sn_probe = strong_discriminator_gradients(spectral=True)
lipschitz = {False: lipschitz_report(plain_discriminator, plain_probe), True: lipschitz_report(sn_discriminator, sn_probe)}
for normalised in (False, True):
    print(f"spectral norm {'on ' if normalised else 'off'}: product of layer norms {lipschitz[normalised][0]:10.2f}, "
          f"largest ‖∇x logit‖ {lipschitz[normalised][1]:8.2f}")
print(f"generator gradient norms after 600 D steps with spectral norm: minimax {sn_record['minimax'][-1]:.2e}, "
      f"non-saturating {sn_record['non_saturating'][-1]:.2e}; mean D(G(z)) = {sn_record['D(G(z))'][-1]:.2f} "
      f"(without: minimax {plain_record['minimax'][-1]:.1e})")

# %% [markdown]
# The product is not exactly 1: each layer divides by an estimate of $\sigma$ made of one power-iteration
# step per update, which approaches $\sigma$ from below. It is still a bound, and far below the unnormalised
# one.

# %% tags=["check"]
exercises.expect_true("with spectral norm the layer product stays near 1 (≤ 1.5), and it bounds the measured gradients",
                      lipschitz[True][0] <= 1.5 and lipschitz[True][1] <= lipschitz[True][0] + 1e-6)
exercises.expect_true("without it the bound and the gradients grow far larger (over 10 times)",
                      lipschitz[False][1] > 10 * lipschitz[True][1] and lipschitz[False][0] > 10 * lipschitz[True][0])
exercises.expect_true("so a spectrally normalised D cannot become sure enough to saturate the minimax loss: its "
                      "gradient stays over 1000 times larger than without", sn_record["minimax"][-1] > 1000 * plain_record["minimax"][-1])

# %% [markdown]
# That is the stability argument: a Lipschitz discriminator changes slowly with $\mathbf x$, its outputs on
# generated samples cannot run off to $\pm\infty$, and the generator keeps getting gradients, even from the
# minimax loss. The price is a constrained discriminator (try it on the ring in further exercise 6).
# Chapter 07 meets the Lipschitz constraint again, where it is not a trick but part of the definition of the
# Wasserstein distance.
#
# ## 6. Conditional GANs and BiGAN
#
# **Conditional GAN** (Mirza & Osindero, 2014). Give both players the label $y$: $G(\mathbf z, y)$ draws a digit
# of class $y$, $D(\mathbf x, y)$ judges whether $\mathbf x$ is a real example *of class* $y$. Here the generator
# gets a learnt class embedding next to $\mathbf z$ and the discriminator one constant input plane per class
# (`fit_adversarial(..., labels_as_context=True)` draws the fakes with the labels of the real minibatch;
# `train_dcgan(classes=10)`, at the top, trains it with the DCGAN's recipe).

# %%
cgan, cgan_history = cgan_training.result()         # started in the background at the top (train_dcgan)
gallery.record_model("conditional DCGAN (balanced labels)", 6, cgan, levels=levels, dataset=DATASET,
                     context=torch.arange(gallery.SAMPLES) % 10, train_seconds=cgan_history.seconds)
rows = torch.arange(10).repeat_interleave(10)
with torch.no_grad():
    one_code_per_column = cgan.latent(10, torch.Generator().manual_seed(2)).repeat(10, 1)
    class_grid = cgan.to_data(cgan.generate(one_code_per_column, rows))
plotting.image_grid(class_grid, nrow=10, levels=levels, title="one row per class; one code per column")
plt.show()
with torch.no_grad():
    asked = torch.arange(2000) % 10
    conditional_samples = cgan.sample(2000, torch.Generator().manual_seed(3), context=asked)
label_agreement = (digit_classifier.predict(pixels(conditional_samples)) == asked.numpy()).mean()
print(f"the classifier reads the asked class in {label_agreement:.1%} of 2 000 conditional samples")

# %% tags=["check"]
exercises.expect_true("conditional samples are of the asked class (classifier agreement ≥ 90 %)", label_agreement >= 0.9)

# %% [markdown]
# Within a column the code is fixed and only the class changes: the label is meant to carry the class and
# the code the rest (look at slant and thickness along a column). Move the class slider:

# %%
ClassConditionalExplorer(lambda z, labels: cgan.to_data(cgan.generate(z, labels)), classes=10, latent_dim=16,
                         n=8, levels=levels)

# %% [markdown]
# **BiGAN / ALI** (Donahue et al., 2017; Dumoulin et al., 2017). A GAN maps $\mathbf z$ to $\mathbf x$ but has no way
# back. BiGAN adds an encoder $E: \mathbf x \mapsto \mathbf z$ and lets the discriminator judge *pairs*: is
# $(\mathbf x, \mathbf z)$ a real example with its encoding, $p_E(\mathbf x, \mathbf z) = p_{\text{data}}(\mathbf x)\,
# \delta(\mathbf z - E(\mathbf x))$, or a code with its generated image, $p_G(\mathbf x, \mathbf z) = p(\mathbf z)\,
# \delta(\mathbf x - G(\mathbf z))$? At the optimal $D$ the game value is $-\ln 4 + 2\,\mathrm{JS}(p_E \,\|\, p_G)$, and at
# the optimum of $G$ and $E$ the joints agree, which forces $E = G^{-1}$: the encoder inverts the generator.
# The encoder plays the generator's game with the labels swapped. (`train_bigan`, at the top: 1 500 steps, learning
# rate $2 \cdot 10^{-3}$ for both sides.)

# %%
bigan, bigan_history = bigan_training.result()      # started in the background at the top (train_bigan)
gallery.record_model("BiGAN", 6, bigan, levels=levels, dataset=DATASET, train_seconds=bigan_history.seconds)
with torch.no_grad():
    reconstructions = bigan.reconstruct(split.test.x)
plotting.image_grid(torch.cat([split.test.x[:12], reconstructions[:12]]), nrow=12, levels=levels,
                    title="test digits (top) and G(E(x)) (bottom)")
plt.show()
reconstruction_distance = (reconstructions - split.test.x).reshape(len(reconstructions), -1).norm(dim=1)
other_distance = (split.test.x.roll(1, 0) - split.test.x).reshape(len(reconstructions), -1).norm(dim=1)
reconstruction_agreement = (digit_classifier.predict(pixels(reconstructions)) == split.test.y.numpy()).mean()
print(f"‖G(E(x)) − x‖: median {reconstruction_distance.median():.1f} grey levels, against {other_distance.median():.1f} "
      f"between two different test digits; the classifier gives G(E(x)) the class of x for {reconstruction_agreement:.0%}")

# %% tags=["check"]
exercises.expect_true("G(E(x)) is closer to x than another digit is (median), and keeps the class far above chance (> 30 %)",
                      reconstruction_distance.median() < other_distance.median() and reconstruction_agreement > 0.3)

# %% [markdown]
# The reconstructions are not copies: nothing in the objective asks for pixel accuracy, only for the pairs to
# be indistinguishable, and the optimum is far away on this budget. What they keep is the *kind* of digit.
# That is what makes the encoder useful as a **feature extractor** (the semi-supervised use of GANs): train a
# linear classifier on $E(\mathbf x)$ with only a few labels per class, and compare with the same classifier
# on raw pixels.

# %%
with torch.no_grad():
    features_train, features_test = bigan.encode(split.train.x).numpy(), bigan.encode(split.test.x).numpy()
few_label_rows = []
label_rng = np.random.default_rng(0)
for per_class in (5, 10, 20):
    chosen = np.concatenate([label_rng.choice(np.flatnonzero(split.train.y.numpy() == c), per_class, replace=False)
                             for c in range(10)])
    scores = []
    for train_features, test_features in ((features_train, features_test),
                                          (pixels(split.train.x), pixels(split.test.x))):
        classifier = LogisticRegression(max_iter=5000).fit(train_features[chosen], split.train.y.numpy()[chosen])
        scores.append(classifier.score(test_features, split.test.y.numpy()))
    few_label_rows.append((per_class, *scores))
display(Markdown(f"| labels per class | BiGAN features E(x) (16 numbers) | pixels ({image_side ** 2} numbers) |\n|---|---|---|\n"
                 + "\n".join(f"| {n} | {a:.1%} | {b:.1%} |" for n, a, b in few_label_rows)))
best_gap = max(a - b for _, a, b in few_label_rows)
print("the 16 BiGAN features " + ("beat the pixels at some" if best_gap > 0 else "do not beat the pixels at any")
      + f" label budget here (largest difference {best_gap:+.1%}); both far above chance (10 %)")

# %% tags=["check"]
exercises.expect_true("linear classifiers on 16 BiGAN features and on the pixels are far above chance (> 50 %) at "
                      "every label budget", all(a > 0.5 and b > 0.5 for _, a, b in few_label_rows))

# %% [markdown]
# On small digit images the pixels are already a good representation. On natural images, where pixels are
# a poor feature, GAN features were among the best semi-supervised representations: DCGAN's discriminator
# features on SVHN, and GANs whose discriminator also classifies (K + 1 classes: the K labels and "fake";
# Salimans et al., 2016) on SVHN and CIFAR-10 with 1 000 labels.
#
# **Beyond these models.** Conditioning on an *image* instead of a label gives image-to-image translation
# (pix2pix); CycleGAN learns it from *unpaired* collections with two generators and a cycle-consistency loss
# (horse → zebra → horse), and StarGAN handles many domains with one generator. InfoGAN makes some codes
# interpretable by maximising their mutual information with the image. Generative stochastic networks (GSN)
# learn the transition operator of a Markov chain instead of a one-shot sampler.
#
# ## Further exercises (no checks)
# 5. Ablate the mitigation of §3: minibatch standard deviation alone, annealing alone, over three seeds. Which
#    failure does each one fix? Then train the mitigated GAN with Adam's usual $\beta_2 = 0.999$, seeds 0–3: how
#    often does it still end on 8/8 modes with ≥ 90 % high-quality samples?
# 6. Train the ring GAN with `MLPDiscriminator(spectral=True)`. How do the learning rates need to change, and
#    what happens to coverage and quality?
# 7. Mitigate the grid of §3 (longer training, a larger latent space, PacGAN: $D$ sees two samples at once).
# 8. Replace the linear interpolation by a spherical one (slerp). With a 16-dimensional Gaussian code, why do
#    the midpoints of linear paths have too small a norm?
# 9. Use the discriminator's convolutional features (`bigan.discriminator.image`) instead of $E(\mathbf x)$ for the
#    few-label classifier.
# 10. Train the DCGAN of §4 for 1 000 and for 2 000 steps (`train_dcgan`), seeds 0–3 (`torch.manual_seed` and
#    `fit_adversarial(..., seed=…)`), and score each with chapter 09's FID. How much does the result depend on the
#    seed at each budget? What does that say about comparing two GANs by one run each?
#
# ## Summary
# - A GAN replaces the likelihood by a classifier. For a fixed $G$ the best classifier is
#   $D^* = p_{\text{data}}/(p_{\text{data}} + p_G) = \sigma(\ln p_{\text{data}} - \ln p_G)$, and then
#   $\max_D V = -\ln 4 + 2\,\mathrm{JS}$: both checked by quadrature.
# - The minimax generator loss saturates when $D$ is sure; the non-saturating loss keeps a gradient near 1 in
#   the logit there, but optimises $\mathrm{KL}(p_G\|p_{\text{data}}) - 2\,\mathrm{JS}$, which tolerates dropped modes.
# - Mode collapse is measured by modes covered *and* high-quality fraction, read together; minibatch features
#   and annealed learning rates fixed the ring.
# - A DCGAN on the digits gives varied samples that are not copies (nearest neighbours), smooth interpolations,
#   and a latent space with arithmetic.
# - Spectral normalization (one power-iteration step per layer and update) makes $D$ approximately
#   1-Lipschitz, which keeps the generator's gradients alive.
# - Labels condition both players; a BiGAN encoder inverts the generator approximately and yields features.
#
# ## References
# - Goodfellow, I., Pouget-Abadie, J., Mirza, M., Xu, B., Warde-Farley, D., Ozair, S., Courville, A., &
#   Bengio, Y. (2014). Generative adversarial nets.
# - Goodfellow, I. (2016). NIPS 2016 tutorial: Generative adversarial networks.
# - Arjovsky, M., & Bottou, L. (2017). Towards principled methods for training generative adversarial networks.
# - Radford, A., Metz, L., & Chintala, S. (2016). Unsupervised representation learning with deep convolutional
#   generative adversarial networks.
# - Salimans, T., Goodfellow, I., Zaremba, W., Cheung, V., Radford, A., & Chen, X. (2016). Improved techniques
#   for training GANs.
# - Metz, L., Poole, B., Pfau, D., & Sohl-Dickstein, J. (2017). Unrolled generative adversarial networks.
# - Srivastava, A., Valkov, L., Russell, C., Gutmann, M. U., & Sutton, C. (2017). VEEGAN.
# - Lin, Z., Khetan, A., Fanti, G., & Oh, S. (2018). PacGAN: The power of two samples in generative adversarial
#   networks.
# - Karras, T., Aila, T., Laine, S., & Lehtinen, J. (2018). Progressive growing of GANs.
# - Heusel, M., Ramsauer, H., Unterthiner, T., Nessler, B., & Hochreiter, S. (2017). GANs trained by a two
#   time-scale update rule converge to a local Nash equilibrium.
# - Miyato, T., Kataoka, T., Koyama, M., & Yoshida, Y. (2018). Spectral normalization for generative adversarial
#   networks.
# - Mirza, M., & Osindero, S. (2014). Conditional generative adversarial nets.
# - Donahue, J., Krähenbühl, P., & Darrell, T. (2017). Adversarial feature learning.
# - Dumoulin, V., Belghazi, I., Poole, B., Mastropietro, O., Lamb, A., Arjovsky, M., & Courville, A. (2017).
#   Adversarially learned inference.
# - Zhu, J.-Y., Park, T., Isola, P., & Efros, A. A. (2017). Unpaired image-to-image translation using
#   cycle-consistent adversarial networks.
# - Choi, Y., Choi, M., Kim, M., Ha, J.-W., Kim, S., & Choo, J. (2018). StarGAN.
# - Chen, X., Duan, Y., Houthooft, R., Schulman, J., Sutskever, I., & Abbeel, P. (2016). InfoGAN.

# %%
print(f"chapter run time: {time.perf_counter() - chapter_started:.0f} s")


# %% tags=["check"]
# Every check run in this session: "all passed", or the list of those that failed. Stuck on one exercise?
# Run `exercises.keep_going()` once: a failed check then prints a red ✘ and "Run All" goes on to the end.
exercises.report()
