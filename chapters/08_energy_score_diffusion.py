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
# # 08 · Energy-based, score-based and diffusion models
#
# The course's slide decks end where today's practice begins. One of them samples images with **Langevin
# dynamics** (PPGN: each step "adds noise and the gradient of $\log p(\mathbf x, y)$") and notes that a
# **denoising autoencoder** estimates that gradient; another draws the **restricted Boltzmann machine** as the
# undirected latent variable model; a third asks, with **GLO**, whether adversarial training is what makes
# GANs work. This chapter follows those threads to the models that generate images today:
# energy-based models, scores and Langevin sampling, diffusion models, flow matching, guidance — all
# trained here, on the digits, in the course's one unit, so that [chapter 09](09_evaluation.ipynb) can rank
# them with the rest.
#
# **Learning objectives.** After this chapter you can
# 1. write an energy-based model $p(\mathbf x) = e^{-E(\mathbf x)}/Z$, explain why $Z$ is the problem, and train
#    an RBM with CD-k and PCD; compute its exact $\log Z$ when it is small, and check AIS against it;
# 2. define the score $\nabla_{\mathbf x}\log p$, derive the denoising score matching loss, and sample with
#    (annealed) Langevin dynamics;
# 3. write the forward process of a diffusion model in closed form, its ε-prediction loss, its ancestral
#    sampler and the posterior mean it uses; evaluate its variational bound; sample with fewer steps (DDIM);
# 4. train a flow-matching model and compare it with diffusion at equal numbers of network evaluations;
# 5. guide a class-conditional model without a classifier, and measure what guidance trades;
# 6. train GLO, a generator without a discriminator, and say what it suggests about GANs.

# %%
DATASET = "digits"  # "digits" (bundled, CPU) or "mnist" / "fashion_mnist" (local IDX files in $DGM_DATA)

import math
import time

import matplotlib.pyplot as plt
import numpy as np
import scipy.linalg
import torch
from IPython.display import Markdown, display

from course_lib import data
from course_lib.distributions import isotropic_mixture_log_prob, isotropic_mixture_score
from course_lib.evaluation import classifier, divergences, gallery, leaderboard, mean_nll
from course_lib.models import (DDPM, FVSBN, GLO, NADE, RBM, DCGenerator, FlowMatching, ScoreModel, annealed_langevin,
                               langevin, noise_levels)
from course_lib.nn import MLPDenoiser, UNetDenoiser
from course_lib.runtime import cache_dir, in_background, seed_everything
from course_lib.teaching import exercises
from course_lib.train import fit, minimize
from course_lib.viz import LangevinExplorer, ReverseProcessExplorer, plotting

seed_everything(0)
split = data.load_dataset(DATASET)
levels, image_shape = split.levels, tuple(split.train.x.shape[1:])
dims_image = math.prod(image_shape)
chapter_started = time.perf_counter()

# %% [markdown]
# **The long trainings start first.** Sections 3 and 4 train three models on the digits for a while — the
# diffusion model (DDPM) and two flow-matching models — and a classifier that judges their samples, §4 a
# flow-matching model of a 2D toy, and §6 a generator without a discriminator (GLO); nothing before those sections
# needs them. So they start now, in a second process on the other CPU core, while this notebook goes on with the
# smaller models:
# `runtime.in_background` returns at once, and each section collects its model with `.result()`, which waits only
# if the training has not finished yet (on a GPU they train here, one after the other). Their recipes are below;
# sections 3, 4 and 6 explain them.

# %%
def denoiser():
    """The digits' denoiser: an MLP on the CPU scale, a U-Net on the GPU scale (28×28)."""
    if DATASET == "digits":
        return MLPDenoiser(image_shape, hidden=256, blocks=3, context_classes=10)
    return UNetDenoiser(image_shape, width=64, depth=2, context_classes=10)


def train_judge():
    """§3: the classifier that judges samples (`evaluation.classifier`, a small CNN on the training split)."""
    seed_everything(0)
    return classifier.train_classifier(split, steps=1000, checkpoint=cache_dir() / f"ch08_classifier_{DATASET}.pt")


def train_ddpm():
    """§3: T = 1000 steps of the linear noise schedule; the label as context, dropped 10 % of the time (§5)."""
    seed_everything(0)
    model = DDPM(denoiser(), image_shape, levels, steps=1000, schedule="linear", label_dropout=0.1)
    history = fit(model, split.train, split.val, epochs=150, batch_size=128, lr=2e-3, patience=300, schedule="cosine",
                  labels_as_context=True, progress=False, checkpoint=cache_dir() / f"ch08_ddpm_cosine150_{DATASET}.pt")
    return model, history


def train_flow():
    """§4: flow matching with the DDPM's denoiser, data and training budget."""
    seed_everything(0)
    model = FlowMatching(denoiser(), image_shape, levels, label_dropout=0.1)
    history = fit(model, split.train, split.val, epochs=150, batch_size=128, lr=2e-3, patience=300, schedule="cosine",
                  labels_as_context=True, progress=False, checkpoint=cache_dir() / f"ch08_flow_cosine150_{DATASET}.pt")
    return model, history


roll_train = data.swiss_roll(4000, generator=torch.Generator().manual_seed(12))     # the 2D toy of §3 and §4


def train_roll_flow():
    """§4: flow matching on the swiss roll, the network and budget of §3's toy DDPM."""
    seed_everything(0)
    model = FlowMatching(MLPDenoiser((2,), hidden=128, blocks=2), (2,), levels=None)
    fit(model, roll_train, epochs=80, batch_size=256, lr=2e-3, progress=False,
        checkpoint=cache_dir() / "ch08_flow_roll.pt")
    return model


def train_unet_flow():
    """§4: flow matching with a small U-Net, without labels. On the digits 70 epochs at learning rate 4·10⁻³ (a
    lower validation loss than 100 epochs at 2·10⁻³), on MNIST 100 at 2·10⁻³."""
    seed_everything(0)
    digits = DATASET == "digits"
    model = FlowMatching(UNetDenoiser(image_shape, width=16, depth=1) if digits else
                         UNetDenoiser(image_shape, width=64, depth=2), image_shape, levels, label_dropout=0.0)
    epochs, lr = (70, 4e-3) if digits else (100, 2e-3)
    history = fit(model, split.train, split.val, epochs=epochs, batch_size=128, lr=lr, patience=100,
                  schedule="cosine", progress=False,
                  checkpoint=cache_dir() / f"ch08_flow_unet_{epochs}epochs_lr{lr:g}_{DATASET}.pt")
    return model, history


def train_glo():
    """§6: GLO, chapter 06's DCGAN generator with a free code per training image, 1500 steps of its objective:
    the squared error between a batch of 64 training images and the generator's outputs for their codes, minimised
    over the generator and those codes (projected back onto the unit sphere after every step)."""
    seed_everything(0)
    glo = GLO(DCGenerator(16, image_shape[-1], 64), len(split.train.x), 16, image_shape, levels)

    def glo_objective(generator, step):
        index = torch.randint(len(split.train.x), (64,), generator=generator, device=generator.device).cpu()
        return glo.loss(index, split.train.x[index])

    steps = minimize(glo, glo_objective, steps=1500, lr=3e-3, after_step=glo.project_codes, progress=False,
                     checkpoint=cache_dir() / f"ch08_glo_{DATASET}.pt")
    return glo, steps


classifier_training = in_background(train_judge)          # the six run one after the other, in this order
ddpm_training = in_background(train_ddpm)
flow_training = in_background(train_flow)
roll_flow_training = in_background(train_roll_flow)
unet_flow_training = in_background(train_unet_flow)
glo_training = in_background(train_glo)

# %% [markdown]
# ## 1. Energy-based models and the restricted Boltzmann machine
#
# Any function $E_\theta(\mathbf x)$, the **energy**, defines a distribution
#
# $$ p_\theta(\mathbf x) = \frac{e^{-E_\theta(\mathbf x)}}{Z_\theta}, \qquad Z_\theta = \sum_{\mathbf x} e^{-E_\theta(\mathbf x)} \;\;(\text{or } \textstyle\int), $$
#
# low energy meaning high probability. The freedom is total — no ordering of the pixels as in chapter 03, no
# invertibility as in chapter 05 — and the price is $Z_\theta$, a sum over every possible image: $2^{64}$
# terms for binary 8×8 digits. The log-likelihood needs it, and so does its gradient:
#
# $$ \nabla_\theta \log p_\theta(\mathbf x) = -\nabla_\theta E_\theta(\mathbf x) + \mathbb E_{\mathbf x' \sim p_\theta}\big[\nabla_\theta E_\theta(\mathbf x')\big], $$
#
# lower the energy of the data, raise it where the model puts its mass — an expectation under the model,
# so training needs **samples** of the model.
#
# **The RBM** (Smolensky, 1986; Hinton, 2002) is the undirected latent variable model of the decks: binary
# visible units $\mathbf v \in \{0,1\}^D$ (the pixels), binary hidden units $\mathbf h \in \{0,1\}^H$, and
# $E(\mathbf v, \mathbf h) = -\mathbf b^\top\mathbf v - \mathbf c^\top\mathbf h - \mathbf v^\top W\mathbf h$.
# No edges within a layer ("restricted"), so both conditionals factorise:
# $p(h_j = 1 \mid \mathbf v) = \sigma(c_j + \mathbf v^\top W_{:,j})$ and $p(v_i = 1 \mid \mathbf h) = \sigma(b_i + W_{i,:}\mathbf h)$,
# and **block Gibbs sampling** alternates the two. Summing $\mathbf h$ out leaves the **free energy**
# $F(\mathbf v)$ with $p(\mathbf v) = e^{-F(\mathbf v)}/Z$ (exercise 1).
#
# *Contrastive divergence* (CD-k) replaces the model's expectation by $k$ Gibbs steps started **at the data**;
# *persistent CD* (PCD; Tieleman, 2008) keeps the chains running from one update to the next, so they can
# wander towards the model's distribution. Neither is the true gradient.
#
# ### Exercise 1 — the free energy
# Write `free_energy(v, W, b, c)`: $F(\mathbf v) = -\log \sum_{\mathbf h} e^{-E(\mathbf v, \mathbf h)}$ for a batch of
# binary images $\mathbf v$ (B, D), in closed form (the sum over $2^H$ states factorises over the hidden units).

# %%
def free_energy(v, W, b, c):
    """F(v) (B,) for binary v (B, D), weights W (D, H), visible biases b (D,), hidden biases c (H,)."""
    ### BEGIN SOLUTION
    return -v @ b - torch.nn.functional.softplus(c + v @ W).sum(-1)
    ### END SOLUTION


# %% tags=["check"]
rbm_check = torch.Generator().manual_seed(1)
W_check, b_check, c_check = (torch.randn(6, 4, generator=rbm_check, dtype=torch.float64),
                             torch.randn(6, generator=rbm_check, dtype=torch.float64),
                             torch.randn(4, generator=rbm_check, dtype=torch.float64))
v_check = torch.bernoulli(torch.full((9, 6), 0.5, dtype=torch.float64), generator=rbm_check)
every_h = torch.tensor([[(k >> j) & 1 for j in range(4)] for k in range(16)], dtype=torch.float64)  # (16, 4)
energies = -(v_check @ b_check)[:, None] - (every_h @ c_check)[None] - v_check @ W_check @ every_h.T   # (9, 16)
exercises.expect_close("F(v) = −log Σ_h exp(−E(v, h)), the 16 hidden states enumerated",
                       exercises.call(1, free_energy, v_check, W_check, b_check, c_check),
                       -torch.logsumexp(-energies, dim=1), exercise=1, rtol=1e-10)
exercises.expect_close("with W = 0 the units are independent: F(v) = −bᵀv − Σ_j log(1 + e^{c_j})",
                       exercises.call(1, free_energy, v_check, torch.zeros(6, 4, dtype=torch.float64), b_check,
                                      c_check),
                       -(v_check @ b_check) - torch.log1p(torch.exp(c_check)).sum(), exercise=1, rtol=1e-10)

# %% [markdown]
# With $H \le 20$ hidden units, $Z$ itself is within reach: sum $\mathbf v$ out instead of $\mathbf h$,
# $\log Z = \log\sum_{\mathbf h} e^{\mathbf c^\top\mathbf h}\prod_i (1 + e^{b_i + W_{i,:}\mathbf h})$, $2^H$ terms — 65 536 for
# 16 hidden units. So this RBM's test log-likelihood is **exact**, like FVSBN's and NADE's in chapter 03, and
# the same enumeration gives exact samples. (`models.RBM`; its `fit` loss is the CD/PCD surrogate in training
# mode and the exact negative log-likelihood in eval mode, so early stopping watches the real objective.)
# We train on the binarized digits, with CD-1 and with PCD-1 (100 persistent chains), and put them next to
# chapter 03's FVSBN and NADE trained on the same binary images (chapter 03's recipe; with two levels FVSBN is
# the sigmoid belief net, and NADE the binary NADE of its Exercise 1). All four go on the leaderboard of the
# binarized digits, which is not comparable with the 17-level one (nats per *binary* image):

# %%
binary = {part: data.binarize(getattr(split, part).x, levels) for part in ("train", "val", "test")}
rbms, rbm_nll = {}, {}
for name, persistent in (("RBM, CD-1", 0), ("RBM, PCD-1", 100)):
    seed_everything(0)
    rbms[name] = RBM(image_shape, 2, hidden=16, cd_steps=1, persistent=persistent)
    fit(rbms[name], binary["train"], binary["val"], epochs=30, batch_size=64, lr=1e-2, patience=10, progress=False,
        checkpoint=cache_dir() / f"ch08_rbm_{persistent}_{DATASET}.pt")
    rbm_nll[name] = -rbms[name].log_prob(binary["test"]).mean().item()
for name, model in (("FVSBN (sigmoid belief net)", FVSBN(image_shape, 2)), ("NADE", NADE(image_shape, 2, hidden=64))):
    fit(model, binary["train"], binary["val"], epochs=60, batch_size=64, lr=3e-3, patience=8, progress=False,
        checkpoint=cache_dir() / f"ch03_binary_{name.split()[0]}_{DATASET}.pt")
    with torch.no_grad():
        rbm_nll[name] = -model.log_prob(binary["test"]).mean().item()
for name, nll in rbm_nll.items():       # the RBMs are this chapter's models, FVSBN and NADE chapter 03's
    label, chapter = (f"{name}, 16 hidden units (exact log Z)", 8) if name in rbms else (name, 3)
    leaderboard.record(label, chapter, nll, dims_image, dataset=f"{DATASET} (binarized)")
display(Markdown("| model (binarized digits) | exact test NLL (nats/image) |\n|---|---|\n"
                 + "\n".join(f"| {n} | {v:.2f} |" for n, v in rbm_nll.items())))
rbm = rbms["RBM, CD-1"]

# %% [markdown]
# Every number in that table is an exact negative log-likelihood: the RBM's because its 16 hidden units
# could be enumerated. An RBM with 16 binary hidden units is a mixture of $2^{16}$ factorised Bernoulli
# components with tied parameters; the autoregressive models, whose conditionals see every earlier pixel,
# fit the digits better. Larger RBMs need $Z$ estimated: **annealed importance sampling** (AIS; Neal, 2001;
# Salakhutdinov & Murray, 2008) moves chains through intermediate models $E_\beta$ from independent units
# ($\beta = 0$, $Z_0$ known) to the RBM ($\beta = 1$), and averages importance weights. Here we can check it:

# %%
log_z_exact = rbm.log_partition().item()
log_z_ais, log_z_se = rbm.ais_log_partition(betas=1000, chains=100, generator=torch.Generator().manual_seed(0))
print(f"log Z exact {log_z_exact:.3f}; AIS {log_z_ais:.3f} ± {log_z_se:.3f} (1000 temperatures, 100 chains)")
exercises.expect_true("AIS agrees with the exact log Z within 3 standard errors (+0.05)",
                      abs(log_z_ais - log_z_exact) < 3 * log_z_se + 0.05)
exercises.expect_true("the RBM's exact test NLL is within 25 % of FVSBN's on the same binary digits, and both "
                      "autoregressive models do better",
                      rbm_nll["RBM, CD-1"] < 1.25 * rbm_nll["FVSBN (sigmoid belief net)"]
                      and max(rbm_nll["FVSBN (sigmoid belief net)"], rbm_nll["NADE"]) < min(rbm_nll[n] for n in rbms))

# %% [markdown]
# Samples: the exact ones (enumerate $p(\mathbf h)$, then $\mathbf v \mid \mathbf h$), and Gibbs chains started from
# random images after 1, 10, 100 and 1000 rounds. The chains must **mix** — forget their start and visit
# every digit — before they are samples of the model; CD-1 never runs them that long.

# %%
gibbs_start = torch.bernoulli(torch.full((8, *image_shape), 0.5), generator=torch.Generator().manual_seed(0))
chain_states, state, done = [gibbs_start], gibbs_start, 0
for rounds in (1, 10, 100, 1000):
    state = rbm.gibbs(state, rounds - done, generator=torch.Generator().manual_seed(rounds))
    chain_states.append(state)
    done = rounds
fig, axes = plt.subplots(1, 6, figsize=(12, 2.6))
plotting.image_grid(rbm.sample(16, torch.Generator().manual_seed(0)), nrow=4, levels=2, title="exact samples",
                    ax=axes[0])
for ax, images, rounds in zip(axes[1:], chain_states, (0, 1, 10, 100, 1000)):
    plotting.image_grid(images, nrow=4, levels=2, title=f"Gibbs, {rounds} rounds", ax=ax)
fig.tight_layout();

# %% [markdown]
# ## 2. Scores: learning the gradient of $\log p$, and Langevin dynamics
#
# The **score** of a density is $\mathbf s(\mathbf x) = \nabla_{\mathbf x}\log p(\mathbf x)$. For an energy-based model it is
# $-\nabla_{\mathbf x} E(\mathbf x)$: **$Z$ is gone**, since it does not depend on $\mathbf x$. A model of the score is
# enough to sample, with **Langevin dynamics**: from any start, repeat
#
# $$ \mathbf x \leftarrow \mathbf x + \varepsilon\, \nabla_{\mathbf x}\log p(\mathbf x) + \sqrt{2\varepsilon}\,\mathbf z, \qquad \mathbf z \sim \mathcal N(\mathbf 0, I): $$
#
# gradient ascent on $\log p$ plus just enough noise that, as $\varepsilon \to 0$ and the steps pile up, the
# particles are distributed as $p$ (the PPGN update of the decks, with $p(\mathbf x, y)$ for a class $y$).
#
# **Score matching** (Hyvärinen, 2005) fits $\mathbf s_\theta$ to the data's score without knowing it: the Fisher
# divergence $\tfrac12\mathbb E_p\|\mathbf s_\theta - \nabla\log p\|^2$ equals, up to a constant,
# $\mathbb E_p[\operatorname{tr}\nabla_{\mathbf x}\mathbf s_\theta + \tfrac12\|\mathbf s_\theta\|^2]$ (integrate by parts). The trace costs $D$
# backward passes; **sliced** score matching (Song et al., 2019) estimates it with random directions,
# $\mathbb E_{\mathbf v}[\mathbf v^\top\nabla_{\mathbf x}(\mathbf v^\top\mathbf s_\theta)]$. **Denoising** score matching (Vincent, 2011) avoids it
# altogether: blur the data, $\tilde{\mathbf x} = \mathbf x + \sigma\boldsymbol\epsilon$, and regress the score of the blur kernel,
#
# $$ \tfrac12\, \mathbb E_{\mathbf x, \tilde{\mathbf x}}\big\|\mathbf s_\theta(\tilde{\mathbf x}) - \nabla_{\tilde{\mathbf x}}\log q_\sigma(\tilde{\mathbf x} \mid \mathbf x)\big\|^2, $$
#
# whose minimiser is the score of the blurred data $q_\sigma(\tilde{\mathbf x}) = \int q_\sigma(\tilde{\mathbf x}\mid\mathbf x)p(\mathbf x)\,d\mathbf x$.
# That is the decks' link: the optimal **denoising autoencoder** $r(\tilde{\mathbf x}) = \mathbb E[\mathbf x \mid \tilde{\mathbf x}]$
# satisfies $r(\tilde{\mathbf x}) - \tilde{\mathbf x} = \sigma^2 \nabla\log q_\sigma(\tilde{\mathbf x})$ (Tweedie's formula): a denoiser
# *is* a score model.
#
# ### Exercise 2 — the denoising score matching loss
# Write `dsm_loss(score, x, sigma, noise)`: the loss above for data `x` (N, D), blurred with the given
# standard-normal `noise` (N, D) at level `sigma`, averaged over the N examples. You need the gradient of
# $\log \mathcal N(\tilde{\mathbf x}; \mathbf x, \sigma^2 I)$ with respect to $\tilde{\mathbf x}$.

# %%
def dsm_loss(score, x, sigma, noise):
    """½ · mean over examples of ‖score(x̃) − ∇ log q(x̃ | x)‖², x̃ = x + σ·noise; x, noise (N, D) → a scalar."""
    ### BEGIN SOLUTION
    perturbed = x + sigma * noise
    target = -(perturbed - x) / sigma ** 2        # ∇ log N(x̃; x, σ²I)
    return 0.5 * ((score(perturbed) - target) ** 2).sum(1).mean()
    ### END SOLUTION


# %% tags=["check"]
# Data N(0, s²I) in 2D and linear scores s(x) = −a·x: the expected loss is (D/2)[a²s² + (1/σ − aσ)²] (expand
# −a(x + σε) + ε/σ), least at a = 1/(s² + σ²), the score of the blurred data N(0, (s² + σ²)I).
dsm_sampler = torch.Generator().manual_seed(2)
for s_check, sigma_check in ((1.0, 0.5), (2.0, 1.5)):
    x_dsm = s_check * torch.randn(200_000, 2, generator=dsm_sampler, dtype=torch.float64)
    noise_dsm = torch.randn(200_000, 2, generator=dsm_sampler, dtype=torch.float64)
    slopes = torch.tensor([0.0, 0.5, 1 / (s_check ** 2 + sigma_check ** 2), 1.5], dtype=torch.float64)
    yours = torch.stack([torch.as_tensor(exercises.call(2, dsm_loss, lambda y, a=a: -a * y, x_dsm, sigma_check,
                                                        noise_dsm)) for a in slopes])
    expected = (2 / 2) * (slopes ** 2 * s_check ** 2 + (1 / sigma_check - slopes * sigma_check) ** 2)
    exercises.expect_close(f"linear scores on N(0, {s_check}²I) blurred at σ = {sigma_check}: the expected loss",
                           yours, expected, exercise=2, rtol=0.02)
    exercises.expect_true("... least for the blurred data's own score, a = 1/(s² + σ²)", int(yours.argmin()) == 2,
                          exercise=2)

# %% [markdown]
# ### Exercise 3 — one Langevin step, from an unnormalised density
# Write `langevin_step(x, log_density, step_size, noise)`: one step of Langevin dynamics for particles `x`
# (N, D), where `log_density(x)` (N,) is $\log p$ **up to a constant** — get the score by automatic
# differentiation — with the standard-normal `noise` (N, D).

# %%
def langevin_step(x, log_density, step_size, noise):
    """x (N, D) after one Langevin step on log_density (N,), with standard-normal noise (N, D)."""
    ### BEGIN SOLUTION
    x = x.detach().requires_grad_(True)
    score, = torch.autograd.grad(log_density(x).sum(), x)
    return (x + step_size * score + math.sqrt(2 * step_size) * noise).detach()
    ### END SOLUTION


# %% tags=["check"]
# A correlated Gaussian, log p = −½ xᵀΛx + const. The update is x ← (I − εΛ)x + √(2ε)z, so the chain's
# stationary covariance S solves S = A S Aᵀ + 2εI, A = I − εΛ (scipy's discrete Lyapunov solver): close to
# Λ⁻¹, but not equal — the O(ε) bias of Langevin without a Metropolis correction.
precision_check = torch.tensor([[2.0, 0.9], [0.9, 1.0]], dtype=torch.float64)
step_check = 0.1
langevin_sampler = torch.Generator().manual_seed(3)
particles = torch.zeros(4000, 2, dtype=torch.float64)
for _ in range(300):
    particles = exercises.call(3, langevin_step, particles, lambda y: -0.5 * ((y @ precision_check) * y).sum(1) + 7.0,
                               step_check, torch.randn(4000, 2, generator=langevin_sampler, dtype=torch.float64))
transition = (torch.eye(2, dtype=torch.float64) - step_check * precision_check).numpy()
stationary = scipy.linalg.solve_discrete_lyapunov(transition, 2 * step_check * np.eye(2))
exercises.expect_close("after 300 steps from 0 the particles' covariance is the chain's stationary covariance",
                       torch.cov(particles.T), stationary, exercise=3, rtol=0.08, atol=0.03)
exercises.expect_close("... and their mean is 0", particles.mean(0), torch.zeros(2, dtype=torch.float64), exercise=3,
                       atol=0.05)
fixed = torch.randn(5, 2, generator=langevin_sampler, dtype=torch.float64)
exercises.expect_close("adding a constant to log p changes nothing (no Z needed)",
                       exercises.call(3, langevin_step, fixed, lambda y: -(y ** 4).sum(1), 0.01, fixed),
                       exercises.call(3, langevin_step, fixed, lambda y: -(y ** 4).sum(1) - 100.0, 0.01, fixed),
                       exercise=3, rtol=1e-12)

# %% [markdown]
# **Where plain Langevin fails.** Take two far-apart modes with weights 0.2 and 0.8. Between them $p$ is
# tiny: there is no data to learn the score from, and a Langevin particle needs an astronomically long time to
# cross. Each particle stays in the basin it started in, so the modes end up weighted by their basins, not by
# 0.2 and 0.8 (Song & Ermon, 2019). **Annealing** fixes both problems: follow the scores of the data
# blurred at decreasing noise levels $\sigma_1 > \dots > \sigma_L$. At large σ the blurred density fills the
# gap, and the particles spread over the modes in the right proportions; as σ shrinks, they settle into
# the modes. Here with the exact scores (the blurred mixture is the same mixture with variance $s^2 + \sigma^2$,
# `distributions.isotropic_mixture_score`):

# %%
mode_weights = torch.tensor([0.2, 0.8])
mode_means = torch.tensor([[-4.0, -4.0], [4.0, 4.0]])
mode_std = 1.0
starts = 16 * torch.rand(2000, 2, generator=torch.Generator().manual_seed(4)) - 8   # uniform on [−8, 8]²
plain_run = langevin(lambda x: isotropic_mixture_score(x, mode_weights, mode_means, mode_std), starts, 0.1, 1000,
                     torch.Generator().manual_seed(5), record=1000)[-1]
annealing_levels = noise_levels(20.0, 1e-2, 10)
annealed_run = annealed_langevin(
    lambda x, sigma: isotropic_mixture_score(x, mode_weights, mode_means, math.sqrt(mode_std ** 2 + sigma ** 2)),
    starts, annealing_levels, 100, 1e-5, torch.Generator().manual_seed(5))
share_plain = (plain_run.sum(1) < 0).double().mean().item()
share_annealed = (annealed_run.sum(1) < 0).double().mean().item()
fig, axes = plt.subplots(1, 3, figsize=(11, 3.6), sharex=True, sharey=True)
side = torch.linspace(-8, 8, 150)
grid = torch.cartesian_prod(side, side)
axes[0].contourf(side, side, isotropic_mixture_log_prob(grid, mode_weights, mode_means, mode_std).exp()
                 .reshape(150, 150).T, levels=12, cmap="Greys")
axes[0].set_title("p: weights 0.2 (lower left) and 0.8")
for ax, run, title, share in ((axes[1], plain_run, "Langevin, one level", share_plain),
                              (axes[2], annealed_run, "annealed Langevin", share_annealed)):
    ax.scatter(run[:, 0], run[:, 1], s=2, alpha=0.4)
    ax.set_title(f"{title}: {share:.0%} lower left")
for ax in axes:
    ax.set_aspect("equal")
fig.tight_layout();
exercises.expect_true("plain Langevin gets the weights wrong (lower-left share off 0.2 by more than 0.15), "
                      "annealed Langevin gets them right (within 0.05)",
                      abs(share_plain - 0.2) > 0.15 and abs(share_annealed - 0.2) < 0.05)

# %% [markdown]
# Explore Langevin dynamics on the ring of eight Gaussians with its exact score: the step size and the number
# of steps. Too small a step and the particles barely move in 500 steps; too large and they overshoot the
# modes and smear them (the $O(\varepsilon)$ bias of exercise 3 grows until the chain diverges).

# %%
ring_weights, ring_means, ring_std = torch.full((8,), 1 / 8), data.ring_centres(8, 2.0), 0.3
LangevinExplorer(lambda x: isotropic_mixture_score(x, ring_weights, ring_means, ring_std),
                 8 * torch.rand(400, 2, generator=torch.Generator().manual_seed(6)) - 4,
                 log_density=lambda x: isotropic_mixture_log_prob(x, ring_weights, ring_means, ring_std),
                 max_steps=300, step_size=0.01)

# %% [markdown]
# **Learning the scores.** A noise-conditional score network $\mathbf s_\theta(\mathbf x, \sigma) = f_\theta(\mathbf x, \sigma)/\sigma$
# (NCSN; Song & Ermon, 2019) is trained at all levels at once, each weighted by $\sigma^2$, on samples of the
# same ring; then annealed Langevin samples with it. Here the true blurred scores are known, so we can
# measure how well each objective learned them — the relative error
# $\mathbb E\|\mathbf s_\theta - \nabla\log q_\sigma\|^2 / \mathbb E\|\nabla\log q_\sigma\|^2$ at each level:

# %%
ring_train = data.gaussian_mixture(4000, ring_means, ring_std, torch.Generator().manual_seed(7))
ring_test = data.gaussian_mixture(1000, ring_means, ring_std, torch.Generator().manual_seed(8))
score_levels = noise_levels(4.0, 0.05, 8)
score_models, score_samples, score_errors, score_w1 = {}, {}, {}, {}
for objective in ("denoising", "sliced"):
    seed_everything(0)
    model = ScoreModel(MLPDenoiser((2,), hidden=128, blocks=2), (2,), score_levels, objective=objective,
                       steps_per_level=100, step_size=2e-5)
    fit(model, ring_train, epochs=40, batch_size=256, lr=2e-3, progress=False,
        checkpoint=cache_dir() / f"ch08_score_{objective}.pt")
    score_models[objective] = model
    score_samples[objective] = model.sample(1000, torch.Generator().manual_seed(9))
    errors = []
    for level, sigma in enumerate(score_levels.tolist()):
        blurred = ring_test + sigma * torch.randn(ring_test.shape, generator=torch.Generator().manual_seed(level))
        exact = isotropic_mixture_score(blurred, ring_weights, ring_means, math.sqrt(ring_std ** 2 + sigma ** 2))
        errors.append(((model.score(blurred, level) - exact) ** 2).sum(1).mean().item() / (exact ** 2).sum(1).mean().item())
    score_errors[objective] = errors
    score_w1[objective] = divergences.empirical_wasserstein(score_samples[objective], ring_test).distance.item()
reference_w1 = divergences.empirical_wasserstein(data.gaussian_mixture(1000, ring_means, ring_std,
                                                                      torch.Generator().manual_seed(10)),
                                                 ring_test).distance.item()
fig, axes = plt.subplots(1, 3, figsize=(11, 3.5))
for objective, colour in (("denoising", "C0"), ("sliced", "C1")):
    axes[0].loglog(score_levels, score_errors[objective], "o-", color=colour, label=objective)
axes[0].set(xlabel="noise level σ", ylabel="relative squared error", title="learned vs exact blurred score")
axes[0].legend()
for ax, objective in zip(axes[1:], ("denoising", "sliced")):
    samples = score_samples[objective]
    ax.scatter(samples[:, 0], samples[:, 1], s=2, alpha=0.5)
    ax.set(xlim=(-3.5, 3.5), ylim=(-3.5, 3.5), title=f"{objective} SM: W₁ to test {score_w1[objective]:.2f}")
    ax.set_aspect("equal")
fig.tight_layout();
print(f"W₁ between two samples of the data themselves: {reference_w1:.3f}")
exercises.expect_true("denoising score matching learns every level's score within 60 % relative error",
                      max(score_errors["denoising"]) < 0.6)
exercises.expect_true("denoising score matching is more accurate than sliced at the smallest level and its "
                      "samples are closer to the data",
                      score_errors["denoising"][-1] < score_errors["sliced"][-1]
                      and score_w1["denoising"] < score_w1["sliced"])

# %% [markdown]
# ## 3. Diffusion models
#
# A diffusion model (Sohl-Dickstein et al., 2015; Ho et al., 2020) makes the noise levels a Markov chain. The
# **forward process** adds a little Gaussian noise at each of $T$ steps,
# $q(\mathbf x_t \mid \mathbf x_{t-1}) = \mathcal N(\sqrt{1-\beta_t}\,\mathbf x_{t-1}, \beta_t I)$, with a schedule
# $\beta_1 < \dots < \beta_T$; with $\alpha_t = 1 - \beta_t$ and $\bar\alpha_t = \prod_{s \le t}\alpha_s$, Gaussians compose into
#
# $$ q(\mathbf x_t \mid \mathbf x_0) = \mathcal N\big(\sqrt{\bar\alpha_t}\,\mathbf x_0,\; (1 - \bar\alpha_t) I\big), $$
#
# so any step can be sampled directly, $\mathbf x_t = \sqrt{\bar\alpha_t}\mathbf x_0 + \sqrt{1-\bar\alpha_t}\,\boldsymbol\epsilon$ (exercise 4).
# $\bar\alpha_T \approx 0$: the last step is pure noise. The **reverse process** learns to undo one step at a
# time. The forward step's posterior given the clean image is Gaussian,
#
# $$ q(\mathbf x_{t-1} \mid \mathbf x_t, \mathbf x_0) = \mathcal N\big(\tilde{\boldsymbol\mu}_t(\mathbf x_t, \mathbf x_0),\, \tilde\beta_t I\big), \qquad \tilde\beta_t = \frac{1-\bar\alpha_{t-1}}{1-\bar\alpha_t}\beta_t, $$
#
# (exercise 5 derives the mean), and the model is the same with $\mathbf x_0$ replaced by a network's guess.
# A network $\hat{\boldsymbol\epsilon}_\theta(\mathbf x_t, t)$ predicts the noise, giving
# $\hat{\mathbf x}_0 = (\mathbf x_t - \sqrt{1-\bar\alpha_t}\,\hat{\boldsymbol\epsilon}_\theta)/\sqrt{\bar\alpha_t}$, and is trained by the
# **simple loss** $\mathbb E_{t, \mathbf x_0, \boldsymbol\epsilon}\|\boldsymbol\epsilon - \hat{\boldsymbol\epsilon}_\theta(\mathbf x_t, t)\|^2$.
# Since $\nabla\log q(\mathbf x_t \mid \mathbf x_0) = -\boldsymbol\epsilon/\sqrt{1-\bar\alpha_t}$, this **is denoising score matching**
# at every level, with $\mathbf s_\theta = -\hat{\boldsymbol\epsilon}_\theta/\sqrt{1-\bar\alpha_t}$ and weight $1 - \bar\alpha_t$ — §2's
# noise-conditional score model with a particular schedule. The **ancestral sampler** draws
# $\mathbf x_T \sim \mathcal N(\mathbf 0, I)$ and then each $\mathbf x_{t-1} \sim \mathcal N(\tilde{\boldsymbol\mu}_t(\mathbf x_t, \hat{\mathbf x}_0), \tilde\beta_t I)$.
#
# The model is a latent variable model with latents $\mathbf x_{1:T}$ and a fixed encoder $q$, so chapter 04's
# ELBO applies: $-\log p(\mathbf x_0) \le L_T + \sum_{t=2}^T L_{t-1} + L_0$, with
# $L_T = \mathrm{KL}(q(\mathbf x_T\mid\mathbf x_0)\,\|\,\mathcal N(\mathbf 0, I))$, $L_{t-1} = \mathrm{KL}(q(\mathbf x_{t-1}\mid\mathbf x_t,\mathbf x_0)\,\|\,p_\theta(\mathbf x_{t-1}\mid\mathbf x_t))$
# (two Gaussians of equal variance: a squared distance of means) and $L_0 = -\log p_\theta(\mathbf x_0 \mid \mathbf x_1)$.
# On dequantized digits (chapter 05), scaled to $[-1, 1]$, it bounds the discrete NLL in nats per image.
#
# ### Exercise 4 — sampling $q(\mathbf x_t \mid \mathbf x_0)$
# Write `q_sample(x0, t, betas, noise)`: $\mathbf x_t$ for clean points `x0` (B, D) at steps `t` (B,) in $1..T$,
# from the schedule `betas` (T,) ($\beta_1$ is `betas[0]`) and standard-normal `noise` (B, D).

# %%
def q_sample(x0, t, betas, noise):
    """x_t (B, D) drawn from q(x_t | x_0) with the given noise; t (B,) integer steps in 1..T."""
    ### BEGIN SOLUTION
    alpha_bar = torch.cumprod(1 - betas, dim=0)[t - 1][:, None]
    return alpha_bar.sqrt() * x0 + (1 - alpha_bar).sqrt() * noise
    ### END SOLUTION


# %% tags=["check"]
# The chain's moments step by step, without the closed form: m_t = √(1−β_t) m_{t−1}, v_t = (1−β_t) v_{t−1} + β_t.
betas_check = torch.linspace(0.05, 0.4, 12, dtype=torch.float64)
x0_check = torch.tensor([[1.5, -2.0], [0.3, 0.7], [-1.0, 4.0]], dtype=torch.float64)
t_check = torch.tensor([1, 5, 12])
chain_mean, chain_var = [x0_check], [torch.zeros_like(x0_check)]
for beta in betas_check:
    chain_mean.append((1 - beta).sqrt() * chain_mean[-1])
    chain_var.append((1 - beta) * chain_var[-1] + beta)
expected_mean = torch.stack([chain_mean[t][i] for i, t in enumerate(t_check.tolist())])
expected_sd = torch.stack([chain_var[t][i] for i, t in enumerate(t_check.tolist())]).sqrt()
zero_noise = exercises.call(4, q_sample, x0_check, t_check, betas_check, torch.zeros_like(x0_check))
exercises.expect_close("with zero noise, x_t is the chain's mean after t steps", zero_noise, expected_mean,
                       exercise=4, rtol=1e-10)
exercises.expect_close("unit noise moves x_t by the chain's standard deviation after t steps",
                       exercises.call(4, q_sample, x0_check, t_check, betas_check, torch.ones_like(x0_check)) - zero_noise,
                       expected_sd, exercise=4, rtol=1e-10)

# %% [markdown]
# ### Exercise 5 — the posterior mean $\tilde{\boldsymbol\mu}_t$
# Write `posterior_mean(x0, xt, t, betas)`: the mean of $q(\mathbf x_{t-1} \mid \mathbf x_t, \mathbf x_0)$ for steps `t` (B,) in
# $1..T$. Derive it: $\mathbf x_{t-1} \mid \mathbf x_0$ is Gaussian, $\mathbf x_t \mid \mathbf x_{t-1}$ is a Gaussian step, so
# Bayes' rule multiplies two Gaussians in $\mathbf x_{t-1}$ (complete the square). At $t = 1$, $\mathbf x_0$ is known.

# %%
def posterior_mean(x0, xt, t, betas):
    """Mean of q(x_{t−1} | x_t, x_0), (B, D); x0, xt (B, D); t (B,) integer steps in 1..T; betas (T,)."""
    ### BEGIN SOLUTION
    alpha_bar = torch.cumprod(1 - betas, dim=0)
    previous = torch.cat([torch.ones(1, dtype=betas.dtype), alpha_bar])[t - 1][:, None]    # ᾱ_{t−1}, ᾱ_0 = 1
    beta, current = betas[t - 1][:, None], alpha_bar[t - 1][:, None]
    return (previous.sqrt() * beta * x0 + (1 - beta).sqrt() * (1 - previous) * xt) / (1 - current)
    ### END SOLUTION


# %% tags=["check"]
# Gaussian conditioning on the joint of (x_{t−1}, x_t) given x_0, from the chain's moments (no closed form):
# x_{t−1} ~ N(m, v), x_t = √(1−β_t) x_{t−1} + √β_t ε, so E[x_{t−1} | x_t] = m + c/w (x_t − √(1−β_t) m),
# with c = √(1−β_t) v and w = (1−β_t) v + β_t.
betas_post = torch.linspace(0.02, 0.3, 9, dtype=torch.float64)
post_sampler = torch.Generator().manual_seed(11)
x0_post = torch.randn(9, 3, generator=post_sampler, dtype=torch.float64)
xt_post = torch.randn(9, 3, generator=post_sampler, dtype=torch.float64)
t_post = torch.arange(1, 10)
m, v = x0_post.clone(), torch.zeros(9, 1, dtype=torch.float64)   # moments of x_{t−1} | x_0, for t = 1 first
expected_post = torch.empty_like(x0_post)
for i, t in enumerate(t_post.tolist()):
    m_i, v_i = x0_post[i], torch.tensor(0.0, dtype=torch.float64)
    for beta in betas_post[:t - 1]:
        m_i, v_i = (1 - beta).sqrt() * m_i, (1 - beta) * v_i + beta
    beta_t = betas_post[t - 1]
    c, w = (1 - beta_t).sqrt() * v_i, (1 - beta_t) * v_i + beta_t
    expected_post[i] = m_i + c / w * (xt_post[i] - (1 - beta_t).sqrt() * m_i)
exercises.expect_close("the posterior mean at t = 1 … 9 (reference: Gaussian conditioning)",
                       exercises.call(5, posterior_mean, x0_post, xt_post, t_post, betas_post), expected_post,
                       exercise=5, rtol=1e-10)

# %% [markdown]
# **A diffusion model on a 2D toy.** `models.DDPM` holds the schedule and these formulas (its `diffuse` is
# exercise 4; the sampler uses exercise 5's mean). An MLP denoiser (`nn.MLPDenoiser`, the time entering
# through sinusoidal features) on the swiss roll, 200 steps: the forward process turns the roll into a
# Gaussian; the reverse process turns a Gaussian into the roll.

# %%
roll_test = data.swiss_roll(1000, generator=torch.Generator().manual_seed(13))    # roll_train: 4000 points, at the top
seed_everything(0)
toy_ddpm = DDPM(MLPDenoiser((2,), hidden=128, blocks=2), (2,), levels=None, steps=200, schedule="linear")
fit(toy_ddpm, roll_train, epochs=80, batch_size=256, lr=2e-3, progress=False, checkpoint=cache_dir() / "ch08_ddpm_roll.pt")
toy_times, toy_states, _ = toy_ddpm.reverse_process(1000, torch.Generator().manual_seed(14), record=50)
roll_w1 = divergences.empirical_wasserstein(toy_states[-1], roll_test).distance.item()
roll_reference = divergences.empirical_wasserstein(data.swiss_roll(1000, generator=torch.Generator().manual_seed(15)),
                                                   roll_test).distance.item()
fig, axes = plt.subplots(2, 5, figsize=(12, 5), sharex=True, sharey=True)
for ax, t in zip(axes[0], (0, 20, 50, 100, 200)):
    shown = roll_test if t == 0 else toy_ddpm.diffuse(roll_test, t, torch.Generator().manual_seed(t))[0]
    ax.scatter(shown[:, 0], shown[:, 1], s=1, alpha=0.5)
    ax.set_title(f"forward: q(x_{{{t}}} | x_0)")
for ax, t, state in zip(axes[1], toy_times, toy_states):
    ax.scatter(state[:, 0], state[:, 1], s=1, alpha=0.5, color="C1")
    ax.set_title(f"reverse: t = {t}")
for ax in axes.flat:
    ax.set(xlim=(-3, 3), ylim=(-3, 3))
    ax.set_aspect("equal")
fig.tight_layout();
print(f"W₁ to test points: DDPM samples {roll_w1:.3f}, a second sample of the data {roll_reference:.3f}")
exercises.expect_true("the toy DDPM's samples are within 2× the data's own W₁ of the test points",
                      roll_w1 < 2 * roll_reference)

# %% [markdown]
# **On the digits.** Same model, $T = 1000$ steps with the linear schedule, a wider MLP denoiser on the 64
# pixels; the label enters too (a learned embedding), dropped 10 % of the time for §5, so the one network
# also learns the unconditional model (`context=None`). It trains for 150 epochs with a *learning rate* that
# decays to 0 along a cosine (`fit(..., schedule="cosine")`, not to be confused with the noise schedule): the
# late epochs take small steps, which settles the weights in fewer epochs (`train_ddpm`, at the top: it has
# been training in the background since the chapter started). A classifier of the course's own
# (`evaluation.classifier`, a small CNN trained on the training split; `train_judge`, also at the top) judges
# the samples: its mean
# confidence (largest class probability) is high for recognisable digits.

# %%
digit_classifier = classifier_training.result()     # started in the background at the top, like the DDPM
test_judgement = classifier.judge(digit_classifier, split.test.x)
classifier_accuracy = classifier.accuracy(digit_classifier, split.test.x, split.test.y)
print(f"classifier: test accuracy {classifier_accuracy:.3f}, mean confidence on test images {test_judgement.confidence:.3f}")
ddpm, ddpm_history = ddpm_training.result()          # started in the background at the top (train_ddpm)
# One ancestral run (1000 network calls per sample) serves the pictures here, the gallery and the sampler
# comparison below: at least gallery.SAMPLES samples, and at least as many as there are test images.
ddpm_samples = ddpm.sample(max(gallery.SAMPLES, len(split.test.x)), torch.Generator().manual_seed(16))
ddpm_judgement = classifier.judge(digit_classifier, ddpm_samples)
fig, axes = plt.subplots(1, 2, figsize=(8, 4))
plotting.image_grid(split.test.x[:64], nrow=8, levels=levels, title="test images", ax=axes[0])
plotting.image_grid(ddpm_samples[:64], nrow=8, levels=levels,
                    title=f"DDPM, unconditional (confidence {ddpm_judgement.confidence:.2f})", ax=axes[1])
fig.tight_layout();

# %% [markdown]
# Scrub through the reverse process of 16 digits, from noise ($t = 1000$) to the samples ($t = 0$): on the left
# the current $\mathbf x_t$, on the right the network's current guess $\hat{\mathbf x}_0$. The guess settles on a digit
# long before the noise is gone; the last few hundred steps only sharpen it.

# %%
scrub_times, scrub_states, scrub_predictions = ddpm.reverse_process(16, torch.Generator().manual_seed(17), record=50)
ReverseProcessExplorer(scrub_times, scrub_states, scrub_predictions, levels=levels)

# %% [markdown]
# **Its bound on the leaderboard.** `DDPM.bound_terms` gives every term of the bound for every test digit, all
# $T$ terms with one noise draw each; their sum plus the dequantization term $D \log(L/2)$ (the scaling of
# $\mathbf x + \mathbf u$ to $[-1, 1]$ changes the density by its Jacobian) is minus `DDPM.log_prob`, what `mean_nll`
# evaluates for the other models; one pass gives both the bound and where its nats go, the terms $L_{t-1}$ by step:

# %%
dequantization_nats = dims_image * math.log(levels / 2)
per_image_terms = ddpm.bound_terms(split.test.x, generator=torch.Generator().manual_seed(18))   # (N, T + 1)
ddpm_nll = (per_image_terms.double().sum(1).mean() + dequantization_nats).item()
bound_terms = per_image_terms.mean(0)
leaderboard.record("DDPM (MLP denoiser, T = 1000)", 8, ddpm_nll, dims_image, dataset=DATASET, bound="ELBO bound")
# Unconditional samples (the label dropped) go to the gallery, where chapter 09 scores every model's samples.
gallery.record("DDPM (MLP denoiser, T = 1000)", 8, ddpm_samples, levels=levels, dataset=DATASET,
               train_seconds=ddpm_history.seconds)
share_first_tenth = (bound_terms[1:100].sum() / bound_terms[1:-1].sum()).item()
fig, ax = plt.subplots(figsize=(6, 3.4))
ax.loglog(torch.arange(2, 1001), bound_terms[1:-1])
ax.set(xlabel="step t", ylabel="KL term (nats/image)", title="where the bound's nats go");
print(f"DDPM test NLL bound: {ddpm_nll:.1f} nats/image; L_0 {bound_terms[0]:.1f}, Σ KL terms "
      f"{bound_terms[1:-1].sum():.1f} ({share_first_tenth:.0%} of them in t ≤ 100), L_T {bound_terms[-1]:.4f}, "
      f"dequantization D·log(L/2) {dequantization_nats:.1f}")
exercises.expect_true("most of the KL terms' nats are spent in the first tenth of the steps",
                      share_first_tenth > 0.5)
few = split.test.x[:32]
exercises.expect_close("the terms plus the dequantization term are mean_nll's bound (32 test digits, one draw)",
                       (ddpm.bound_terms(few, generator=torch.Generator().manual_seed(19)).double().sum(1).mean()
                        + dequantization_nats).item(),
                       mean_nll(ddpm, few, generator=torch.Generator().manual_seed(19)), rtol=1e-5)

# %% [markdown]
# The bound is loose next to the autoregressive models of chapter 03 (see the leaderboard at the end), as it is
# in Ho et al. (2020): the simple loss weights every step equally, while the bound is dominated by the
# smallest noise levels, where the network must tell the precise position of a pixel inside its grey level —
# information the dequantization noise has made uniform. Models trained for likelihood reweight those
# steps and learn the schedule (Kingma et al., 2021).
#
# **Fewer steps: DDIM.** The network predicts $\hat{\mathbf x}_0$ at any $t$; DDIM (Song et al., 2021) jumps
# deterministically along a subsequence $\tau_1 > \tau_2 > \dots$ of the steps,
# $\mathbf x_{\tau'} = \sqrt{\bar\alpha_{\tau'}}\,\hat{\mathbf x}_0 + \sqrt{1 - \bar\alpha_{\tau'}}\,\hat{\boldsymbol\epsilon}$, reusing the same
# network. Quality against the number of network evaluations, measured by the classifier's confidence and by
# $W_1$ (optimal transport between as many samples as there are test images and the test images, grey levels as
# vectors):

# %%
def sample_quality(samples) -> tuple[float, float]:
    """(the classifier's mean confidence, W₁ to the test images) of as many samples as there are test images."""
    flat = samples.reshape(len(samples), -1)
    return (classifier.judge(digit_classifier, samples).confidence,
            divergences.empirical_wasserstein(flat, split.test.x.reshape(len(split.test.x), -1)).distance.item())


n_test = len(split.test.x)
ddim_quality = {steps: sample_quality(ddpm.sample(n_test, torch.Generator().manual_seed(19), method="ddim", steps=steps))
                for steps in (5, 10, 20, 50)}
ancestral_quality = sample_quality(ddpm_samples[:n_test])             # the ancestral samples drawn above
test_reference = sample_quality(split.val.x[:n_test] if len(split.val.x) >= n_test else split.train.x[:n_test])
display(Markdown("| sampler | network evaluations | confidence | W₁ to test |\n|---|---|---|---|\n"
                 + "\n".join(f"| DDIM | {s} | {c:.3f} | {w:.1f} |" for s, (c, w) in ddim_quality.items())
                 + f"\n| ancestral | 1000 | {ancestral_quality[0]:.3f} | {ancestral_quality[1]:.1f} |"
                 + f"\n| (real images, not the test set) | – | {test_reference[0]:.3f} | {test_reference[1]:.1f} |"))
exercises.expect_true("DDIM with 10 evaluations is within 5 % of the ancestral sampler's W₁ (100× fewer calls)",
                      ddim_quality[10][1] < 1.05 * ancestral_quality[1])

# %% [markdown]
# On images this small, DDIM loses little even with a handful of steps: the deterministic path from a given
# $\mathbf x_T$ is smooth, and large jumps along it stay close to it.
#
# ## 4. Flow matching: straight paths
#
# Diffusion's sampler follows a curved path from noise to data. **Flow matching** (Lipman et al., 2023; Liu
# et al., 2023, "rectified flow") chooses the path: pair noise $\mathbf x_0 \sim \mathcal N(\mathbf 0, I)$ with data
# $\mathbf x_1$ and move along the straight line $\mathbf x_t = (1-t)\,\mathbf x_0 + t\,\mathbf x_1$, at velocity $\mathbf x_1 - \mathbf x_0$.
# A network $\mathbf v_\theta(\mathbf x_t, t)$ regresses that velocity,
# $\mathbb E\|\mathbf v_\theta(\mathbf x_t, t) - (\mathbf x_1 - \mathbf x_0)\|^2$; its minimiser is the average velocity of the lines
# through $\mathbf x_t$, and the ODE $d\mathbf x/dt = \mathbf v_\theta(\mathbf x, t)$ from $t = 0$ to 1 carries $\mathcal N(\mathbf 0, I)$ to the data
# distribution (a continuous normalizing flow, chapter 05, trained without simulating it). Sampling is an
# ODE solver with a few Euler steps. On the swiss roll, the learned paths, and how straight they are against
# the diffusion model's deterministic (DDIM) paths: the distance from start to end over the length travelled.

# %%
toy_flow = roll_flow_training.result()      # the DDPM's network, data and budget (train_roll_flow, at the top)
flow_paths = torch.stack(toy_flow.trajectory(1000, torch.Generator().manual_seed(20), steps=20))   # (21, 1000, 2)
flow_w1 = divergences.empirical_wasserstein(flow_paths[-1], roll_test).distance.item()
ddim_paths = torch.stack(toy_ddpm.reverse_process(1000, torch.Generator().manual_seed(20), method="ddim", steps=20)[1])


def straightness(paths):
    """Per particle: the distance from start to end over the length of the path travelled (1: a straight line)."""
    return (paths[-1] - paths[0]).norm(dim=1) / (paths[1:] - paths[:-1]).norm(dim=2).sum(0)



fig, axes = plt.subplots(1, 2, figsize=(8.5, 4), sharex=True, sharey=True)
for k in range(40):
    axes[0].plot(flow_paths[:, k, 0], flow_paths[:, k, 1], lw=0.7, color="C2", alpha=0.7)
axes[0].scatter(flow_paths[0, :40, 0], flow_paths[0, :40, 1], s=6, color="k")
axes[0].set_title("40 ODE paths, noise (dots) → data")
axes[1].scatter(flow_paths[-1, :, 0], flow_paths[-1, :, 1], s=1, alpha=0.5, color="C2")
axes[1].set_title(f"20 Euler steps: W₁ to test {flow_w1:.3f}")
for ax in axes:
    ax.set(xlim=(-3, 3), ylim=(-3, 3))
    ax.set_aspect("equal")
fig.tight_layout();
flow_straightness, ddim_straightness = straightness(flow_paths).median().item(), straightness(ddim_paths).median().item()
print(f"straightness (distance start → end / path length), median over 1000 particles: flow matching "
      f"{flow_straightness:.3f}, the diffusion model's DDIM paths {ddim_straightness:.3f}")
exercises.expect_true("flow matching's samples are within 2× the data's own W₁ of the test points",
                      flow_w1 < 2 * roll_reference)
exercises.expect_true("the learned paths are far from straight (median below 0.8), here less straight than DDIM's",
                      flow_straightness < min(0.8, ddim_straightness))

# %% [markdown]
# Straight *conditional* paths do not make straight *marginal* paths. Lines from independent noise–data pairs
# cross; at each point the network learns their average direction, which first heads for the middle of the
# data and then bends towards a branch of the roll. Re-pairing noise and samples along the learned flow and
# training again ("reflow", further exercise 4) straightens them. What flow matching buys on the digits shows
# at equal cost — the same denoiser architecture, the same data and the same training budget (150 epochs, the
# cosine-decayed learning rate; `train_flow`, at the top, trained in the background) as the DDPM, compared at
# **equal numbers of network evaluations** (DDIM for the diffusion model, Euler steps for the flow):

# %%
flow, flow_history = flow_training.result()          # started in the background at the top (train_flow)
flow_quality = {steps: sample_quality(flow.sample(n_test, torch.Generator().manual_seed(19), steps=steps))
                for steps in (5, 10, 20, 50)}
display(Markdown("| network evaluations | DDIM: confidence | DDIM: W₁ | flow matching: confidence | flow matching: W₁ |\n"
                 "|---|---|---|---|---|\n" + "\n".join(
                     f"| {s} | {ddim_quality[s][0]:.3f} | {ddim_quality[s][1]:.1f} | {flow_quality[s][0]:.3f} | "
                     f"{flow_quality[s][1]:.1f} |" for s in flow_quality)))
flow_samples = flow.sample(64, torch.Generator().manual_seed(21), steps=20)
gallery.record_model("flow matching (MLP denoiser)", 8, flow, levels=levels, dataset=DATASET, steps=20,
                     train_seconds=flow_history.seconds)
plotting.image_grid(flow_samples, nrow=8, levels=levels,
                    title=f"flow matching, 20 Euler steps (confidence {flow_quality[20][0]:.2f})");
exercises.expect_true("at 10 evaluations flow matching beats DDIM on both measures",
                      flow_quality[10][0] > ddim_quality[10][0] and flow_quality[10][1] < ddim_quality[10][1])

# %% [markdown]
# **Flow matching's likelihood.** The ODE is a continuous normalizing flow (chapter 05), so unlike the DDPM it has
# an exact likelihood, not only a bound. For a flow in continuous time the change of variables becomes
# $\frac{d}{dt}\log p_t(\mathbf x_t) = -\nabla\cdot\mathbf v_\theta(\mathbf x_t, t)$ (Chen et al., 2018): run the ODE *backwards* from a
# data point at $t = 1$ to its noise $\mathbf x_0$ and add up the divergence on the way,
#
# $$ \log p_1(\mathbf x) = \log\mathcal N(\mathbf x_0; \mathbf 0, I) - \int_0^1 \nabla\cdot\mathbf v_\theta(\mathbf x_t, t)\,dt . $$
#
# The divergence is the trace of a $D \times D$ Jacobian, $D$ backward passes; Hutchinson's estimator
# $\boldsymbol\varepsilon^\top \frac{\partial \mathbf v}{\partial \mathbf x}\boldsymbol\varepsilon$ (random signs $\boldsymbol\varepsilon$, one backward pass) has the trace as its
# expectation (Grathwohl et al., 2019). `FlowMatching.log_prob` integrates with 20 Runge–Kutta steps; on
# dequantized images, with the $D\log(2/L)$ of the scaling, it is a bound on the discrete levels like every
# continuous model's. The MLP above is the DDPM's network, fully connected over the pixels; a small U-Net,
# whose convolutions share their weights over positions, is the second model here, trained without labels
# (the MLP's unconditional model is the one it learned with the label dropped) for 70 epochs on the digits
# (`train_unet_flow`, at the top).

# %%
unet_flow, unet_flow_history = unet_flow_training.result()      # started in the background (train_unet_flow)
glo_training.result()     # GLO (§6), the worker's last model: with every result in, this process gets both cores
flow_nll = {name: mean_nll(model, split.test.x, generator=torch.Generator().manual_seed(23))
            for name, model in (("MLP", flow), ("U-Net", unet_flow))}
unet_train_nll = mean_nll(unet_flow, split.train.x[:n_test], generator=torch.Generator().manual_seed(23))
for name, model in (("MLP", flow), ("U-Net", unet_flow)):
    leaderboard.record(f"flow matching ({name} denoiser)", 8, flow_nll[name], dims_image, dataset=DATASET,
                       bound="dequantization bound")
gallery.record_model("flow matching (U-Net denoiser)", 8, unet_flow, levels=levels, dataset=DATASET, steps=20,
                     train_seconds=unet_flow_history.seconds)
print(f"test NLL (nats/image): flow matching with the MLP {flow_nll['MLP']:.1f}, with the U-Net {flow_nll['U-Net']:.1f} "
      f"(on as many training images: {unet_train_nll:.1f}); the DDPM's bound {ddpm_nll:.1f}")
exercises.expect_true("the U-Net flow's likelihood beats the MLP flow's and the DDPM's bound",
                      flow_nll["U-Net"] < min(flow_nll["MLP"], ddpm_nll))
exercises.expect_true("the U-Net flow's dequantization bound reaches 110 nats/image or better on the digits",
                      DATASET != "digits" or flow_nll["U-Net"] <= 110)

# %% tags=["check"]
# The two approximations in that number. Hutchinson's estimate against the exact trace (32 test digits, the same
# dequantization noise and 4 Runge–Kutta steps for both), and the integration's error: 10 steps against 20.
few = split.test.x[:32]
exact_trace = unet_flow.log_prob(few, steps=4, divergence="exact", generator=torch.Generator().manual_seed(24))
estimated = unet_flow.log_prob(few, steps=4, generator=torch.Generator().manual_seed(24))
coarse_nll = mean_nll(unet_flow, split.test.x, generator=torch.Generator().manual_seed(23), options={"steps": 10})
difference = estimated - exact_trace
print(f"Hutchinson − exact trace: mean {difference.mean():+.2f} ± {difference.std() / math.sqrt(len(few)):.2f} nats "
      f"(per image spread {difference.std():.1f}); 10 RK4 steps {coarse_nll:.2f} against 20 steps "
      f"{flow_nll['U-Net']:.2f} nats/image")
exercises.expect_true("the Hutchinson estimate is unbiased: its mean error is within 3 standard errors of 0",
                      difference.mean().abs() < 3 * difference.std() / math.sqrt(len(few)))
exercises.expect_true("20 Runge–Kutta steps are enough: halving them moves the test NLL, by less than 1 nat",
                      0 < abs(coarse_nll - flow_nll["U-Net"]) < 1.0)

# %% [markdown]
# ## 5. Guidance: fidelity for diversity
#
# A class-conditional model samples $p(\mathbf x \mid y)$. **Classifier guidance** (Dhariwal & Nichol, 2021) adds
# $w\,\nabla\log p(y \mid \mathbf x)$ to the score, from a classifier trained on noisy images; **classifier-free
# guidance** (Ho & Salimans, 2022) gets the same from the model itself. Since
# $\nabla\log p(y\mid\mathbf x) = \nabla\log p(\mathbf x\mid y) - \nabla\log p(\mathbf x)$, a network that knows both the conditional and the
# unconditional score (the label dropped 10 % of the time in training) can sample with
#
# $$ (1 + w)\, f(\mathbf x, t, y) - w\, f(\mathbf x, t, \varnothing), $$
#
# i.e. from $p(\mathbf x \mid y)\,p(y \mid \mathbf x)^w$: more typical of its class, less varied. Measured with the classifier's
# confidence, its agreement with the requested label, and the spread of the samples within each class (mean
# per-pixel standard deviation, in grey levels):

# %%
requested = torch.arange(n_test) % 10
guidance_rows = []
for model_name, draw in (("DDPM (DDIM, 50 steps)", lambda w: ddpm.sample(n_test, torch.Generator().manual_seed(22),
                                                                         context=requested, method="ddim", steps=50,
                                                                         guidance=w)),
                         ("flow matching (20 steps)", lambda w: flow.sample(n_test, torch.Generator().manual_seed(22),
                                                                            context=requested, steps=20, guidance=w))):
    for w in (0.0, 1.0, 3.0):
        samples = draw(w)
        judgement = classifier.judge(digit_classifier, samples)
        guidance_rows.append((model_name, w, judgement.confidence, judgement.labels.eq(requested).double().mean().item(),
                              judgement.spread.nanmean().item(), samples))
display(Markdown("| model | guidance w | confidence | label agreement | spread within a class |\n|---|---|---|---|---|\n"
                 + "\n".join(f"| {m} | {w:g} | {c:.3f} | {a:.3f} | {s:.2f} |" for m, w, c, a, s, _ in guidance_rows)))
fig, axes = plt.subplots(1, 3, figsize=(11, 4))
for ax, row in zip(axes, guidance_rows[3:]):
    plotting.image_grid(row[5][:50], nrow=10, levels=levels, title=f"flow matching, w = {row[1]:g}", ax=ax)
fig.tight_layout();
guided = {(m, w): (c, a, s) for m, w, c, a, s, _ in guidance_rows}
ddpm_name, flow_name = "DDPM (DDIM, 50 steps)", "flow matching (20 steps)"
print(f"unconditional samples (no label): confidence DDPM (ancestral) {ancestral_quality[0]:.3f}, "
      f"flow matching (20 steps) {flow_quality[20][0]:.3f}")
exercises.expect_true("with their labels (w = 0), both models' digits get over 90 % confidence",
                      min(guided[(ddpm_name, 0.0)][0], guided[(flow_name, 0.0)][0]) >= 0.9)
exercises.expect_true("DDPM: guidance w = 3 raises the confidence and the label agreement and lowers the spread",
                      guided[(ddpm_name, 3.0)][0] > guided[(ddpm_name, 0.0)][0]
                      and guided[(ddpm_name, 3.0)][1] > guided[(ddpm_name, 0.0)][1]
                      and guided[(ddpm_name, 3.0)][2] < guided[(ddpm_name, 0.0)][2])
exercises.expect_true("flow matching: confident at every w, but w = 3 spreads the samples more than w = 1",
                      min(guided[(flow_name, w)][0] for w in (0.0, 1.0, 3.0)) > 0.95
                      and guided[(flow_name, 3.0)][2] > guided[(flow_name, 1.0)][2])

# %% [markdown]
# With their labels, both models' digits are recognised far more reliably than their unconditional samples
# (printed above the checks). For the DDPM, guidance does what it promises: more confidence, more agreement
# with the requested label, less spread. Flow matching's conditional samples are recognised almost always
# already, so a strong guidance has nothing left to buy: at $w = 3$ the extrapolation
# $(1 + w) f(\mathbf x, t, y) - w f(\mathbf x, t, \varnothing)$ overshoots and the spread grows again (look at the strokes
# on the right). Guidance scales are tuned per model and sampler.

# %% [markdown]
# ## 6. GLO: a generator without a discriminator
#
# One of the decks asks whether adversarial training is the reason GANs work, or the **inductive bias** of
# their convolutional generators. **Generative latent optimization** (GLO; Bojanowski et al., 2018) keeps
# chapter 06's DCGAN generator and drops the discriminator: every training image $\mathbf x_i$ gets a free code
# $\mathbf z_i$ on the unit sphere, and
#
# $$ \min_\theta \frac1N \sum_i \min_{\mathbf z_i} \ell\big(g_\theta(\mathbf z_i), \mathbf x_i\big) $$
#
# is minimised over both by gradient steps (here $\ell$ the squared error; the paper adds a Laplacian-pyramid
# loss). There is no encoder: codes are found by optimisation. To sample, fit a Gaussian to the learned codes.
# The objective is `glo_objective` in `train_glo` at the top of the chapter, which minimised it in the background
# (1500 steps of `train.minimize`, the codes projected back onto the sphere after each). The deck's experiment, on
# the digits — reconstructions, and samples, with a 16-dimensional code; the best *linear* 16-dimensional
# reconstruction (PCA) for scale:

# %%
glo, glo_steps = glo_training.result()      # started in the background at the top (train_glo)
train_images = split.train.x
glo.fit_code_distribution()
scaled_train = data.scale_levels(train_images, levels).reshape(len(train_images), -1)
with torch.no_grad():
    glo_error = glo.loss(torch.arange(len(train_images)), train_images).item()   # the training objective, all images
centred = scaled_train - scaled_train.mean(0)
_, _, components = torch.linalg.svd(centred, full_matrices=False)
pca_error = ((centred - centred @ components[:16].T @ components[:16]) ** 2).sum(1).mean().item()
glo_samples = glo.sample(n_test, torch.Generator().manual_seed(23))
gallery.record_model("GLO (Gaussian over its codes)", 8, glo, levels=levels, dataset=DATASET,
                     train_seconds=glo_steps.seconds)
glo_quality = sample_quality(glo_samples)
fig, axes = plt.subplots(1, 3, figsize=(11, 4))
plotting.image_grid(train_images[:32], nrow=8, levels=levels, title="training images", ax=axes[0])
plotting.image_grid(glo.reconstruct(torch.arange(32)), nrow=8, levels=levels, title="GLO reconstructions", ax=axes[1])
plotting.image_grid(glo_samples[:32], nrow=8, levels=levels, title=f"GLO samples (confidence {glo_quality[0]:.2f})",
                    ax=axes[2])
fig.tight_layout();
print(f"squared reconstruction error per image ([−1, 1] scale): GLO {glo_error:.2f}, PCA with 16 components {pca_error:.2f}")
print(f"GLO samples: confidence {glo_quality[0]:.3f}, W₁ to test {glo_quality[1]:.1f}")
exercises.expect_true("GLO reconstructs its training images better than the best linear 16-d code (PCA)",
                      glo_error < pca_error)
exercises.expect_true("GLO's samples, from a Gaussian over its codes, are recognisable: confidence above 0.8",
                      glo_quality[0] > 0.8)

# %% [markdown]
# No adversary, no likelihood, no encoder — and digits come out. GLO's answer to the deck's question: much of
# what makes GAN samples look right is the generator's architecture and a sensible loss; what the
# adversarial loss adds is sharpness (a squared error averages the plausible images into a blur) and a
# latent distribution it controls (GLO's codes need a fitted Gaussian, which puts mass where no code is).
# The non-learned alternatives of the same deck — texture synthesis and image quilting, which copy patches
# of the data — make the point from the other side: plausible images need not come from a learned density.
#
# **The leaderboard so far** (digits, nats per image; lower is better; the binarized table above is separate):

# %%
display(Markdown(leaderboard.table(DATASET)))

# %% [markdown]
# ## Further exercises (no checks)
# 1. **Larger RBMs.** Train an RBM with 64 hidden units (`MAX_EXACT_HIDDEN` forbids it: copy the class and drop
#    the check) and estimate its test NLL with AIS. How many temperatures does the estimate need to settle?
# 2. **Single-level Langevin with a learned score.** Train a `ScoreModel` with a single noise level 0.05 on the
#    0.2/0.8 mixture of §2 and sample with Langevin from uniform starts. Which share do you get? Why?
# 3. **The cosine schedule.** Train the digits DDPM with `schedule="cosine"`. Compare samples at equal steps, and
#    look at the bound's last terms: what goes wrong when $\bar\alpha_T$ is almost exactly 0?
# 4. **Reflow.** Generate (noise, sample) pairs with the trained flow, and train a second flow matching model on
#    those pairs instead of independent ones (Liu et al., 2023). Compare both at 1, 2 and 5 Euler steps.
# 5. **GLO's latent space.** Interpolate between two codes of different digits, on the sphere. Compare with chapter
#    06's DCGAN interpolations.
#
# ## Summary
# * An energy-based model is free in its energy and pays with $Z$: the gradient needs model samples. The RBM's
#   conditionals factorise; CD-k and PCD approximate the gradient with short Gibbs chains. With few hidden
#   units $\log Z$ is exact by enumeration, and AIS can be checked against it.
# * The score $\nabla\log p$ needs no $Z$. Score matching fits it (denoising: regress $-\boldsymbol\epsilon/\sigma$; sliced:
#   random projections); Langevin dynamics samples with it, and annealing over noise levels crosses
#   low-density regions and gets the modes' weights right.
# * A diffusion model is denoising score matching over a Markov chain of noise levels: $q(\mathbf x_t\mid\mathbf x_0)$ in
#   closed form, an ε-prediction loss, an ancestral sampler built on the posterior mean, and an ELBO in nats.
#   DDIM samples with far fewer network evaluations.
# * Flow matching regresses the velocity of straight noise-to-data paths and samples with an ODE solver in a
#   few steps. Its ODE is a continuous normalizing flow: run backwards, with the divergence integrated
#   (Hutchinson's estimator for the trace), it gives a likelihood.
# * Classifier-free guidance mixes conditional and unconditional predictions: higher confidence, less
#   diversity.
# * GLO trains a GAN's generator without a discriminator and still makes digits.
#
# ## References
# * G. E. Hinton. *Training products of experts by minimizing contrastive divergence.* Neural Computation, 2002.
# * T. Tieleman. *Training restricted Boltzmann machines using approximations to the likelihood gradient.* ICML 2008.
# * R. M. Neal. *Annealed importance sampling.* Statistics and Computing, 2001.
# * R. Salakhutdinov, I. Murray. *On the quantitative analysis of deep belief networks.* ICML 2008.
# * A. Hyvärinen. *Estimation of non-normalized statistical models by score matching.* JMLR, 2005.
# * P. Vincent. *A connection between score matching and denoising autoencoders.* Neural Computation, 2011.
# * Y. Song, S. Garg, J. Shi, S. Ermon. *Sliced score matching.* UAI 2019.
# * Y. Song, S. Ermon. *Generative modeling by estimating gradients of the data distribution.* NeurIPS 2019.
# * A. Nguyen, J. Clune, Y. Bengio, A. Dosovitskiy, J. Yosinski. *Plug & play generative networks.* CVPR 2017.
# * J. Sohl-Dickstein, E. Weiss, N. Maheswaranathan, S. Ganguli. *Deep unsupervised learning using
#   nonequilibrium thermodynamics.* ICML 2015.
# * J. Ho, A. Jain, P. Abbeel. *Denoising diffusion probabilistic models.* NeurIPS 2020.
# * J. Song, C. Meng, S. Ermon. *Denoising diffusion implicit models.* ICLR 2021.
# * A. Nichol, P. Dhariwal. *Improved denoising diffusion probabilistic models.* ICML 2021.
# * D. P. Kingma, T. Salimans, B. Poole, J. Ho. *Variational diffusion models.* NeurIPS 2021.
# * R. T. Q. Chen, Y. Rubanova, J. Bettencourt, D. Duvenaud. *Neural ordinary differential equations.* NeurIPS 2018.
# * W. Grathwohl, R. T. Q. Chen, J. Bettencourt, I. Sutskever, D. Duvenaud. *FFJORD: free-form continuous dynamics
#   for scalable reversible generative models.* ICLR 2019.
# * Y. Lipman, R. T. Q. Chen, H. Ben-Hamu, M. Nickel, M. Le. *Flow matching for generative modeling.* ICLR 2023.
# * X. Liu, C. Gong, Q. Liu. *Flow straight and fast: learning to generate and transfer data with rectified
#   flow.* ICLR 2023.
# * P. Dhariwal, A. Nichol. *Diffusion models beat GANs on image synthesis.* NeurIPS 2021.
# * J. Ho, T. Salimans. *Classifier-free diffusion guidance.* NeurIPS 2021 workshop.
# * P. Bojanowski, A. Joulin, D. Lopez-Paz, A. Szlam. *Optimizing the latent space of generative networks.*
#   ICML 2018.

# %%
print(f"chapter run time: {time.perf_counter() - chapter_started:.0f} s")


# %% tags=["check"]
# Every check run in this session: "all passed", or the list of those that failed. Stuck on one exercise?
# Run `exercises.keep_going()` once: a failed check then prints a red ✘ and "Run All" goes on to the end.
exercises.report()
