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
# # 05 · Normalizing flows
#
# The VAE of [chapter 04](04_variational_autoencoders.ipynb) pays for its flexible decoder with a density
# it can only bound. A **normalizing flow** keeps the density exact. It draws $\mathbf{z}$ from a simple
# base distribution and maps it through an *invertible* function; the change-of-variables formula then gives
# the density of the result. In the taxonomy of [chapter 01, §8](01_density_estimation.ipynb) it is the
# explicit model with a tractable density obtained by a change of variables, next to the autoregressive
# models of [chapter 03](03_autoregressive.ipynb); with Gaussian conditionals those are flows too (§4). Its
# ancestor is nonlinear ICA (Hyvärinen & Pajunen, 1999): find an invertible map that makes the data's
# coordinates independent. A flow with the factorized base $\mathcal N(\mathbf 0, \mathbf I)$ does exactly that,
# hence the name of the first deep flow, NICE: *non-linear independent components estimation*.
#
# **Learning objectives.** After this chapter you can
# 1. derive the density of a transformed variable in 1D and in D dimensions, and say what the Jacobian
#    determinant costs;
# 2. fit a chain of planar layers to an unnormalised target by reverse KL, the way flows serve variational
#    inference;
# 3. build NICE and RealNVP from coupling layers: their inverse and their log-determinant;
# 4. tell MAF from IAF: which direction is one network pass and which is D, and what each is good for;
# 5. train a multi-scale flow on the digits with dequantization and put its bound on the leaderboard;
# 6. say what flows cannot do.

# %%
DATASET = "digits"  # "digits" (bundled, CPU) or "mnist" / "fashion_mnist" (local IDX files in $DGM_DATA)

import inspect
import math
import time

import matplotlib.pyplot as plt
import numpy as np
import torch
from IPython.display import Markdown, display

from course_lib import data
from course_lib.evaluation import gallery, leaderboard, mean_nll
from course_lib.models import VAE, Flow, ImageFlow, VariationalDequantizer, realnvp_image_body
from course_lib.nn import transforms as T
from course_lib.runtime import cache_dir, device, seed_everything, side_by_side
from course_lib.teaching import exercises
from course_lib.train import fit, minimize
from course_lib.viz import FlowLayerExplorer, plotting

seed_everything(0)
split = data.load_dataset(DATASET)
levels, image_shape = split.levels, tuple(split.train.x.shape[1:])
dims_image = split.test.x[0].numel()

# %% [markdown]
# ## 1. Change of variables
#
# Take $x \sim \mathcal U(0, 1)$ and $y = 2x + 1$. The samples of $y$ spread over $[1, 3]$, an interval twice
# as long, so to keep the probability of each small piece of the line the density must halve:
# $p(y)\,|dy| = p(x)\,|dx|$, that is
#
# $$ p_Y(y) = p_X(x) \left|\frac{dx}{dy}\right| = p_X\big(g^{-1}(y)\big)\left|\frac{d g^{-1}(y)}{dy}\right|. $$
#
# This is the **change-of-variables formula** for an invertible $g$. (It is not the "law of the
# unconscious statistician", which computes $\mathbb E[g(X)]$ without ever writing $p_Y$ down; here we
# want $p_Y$ itself.) The absolute value matters when $g$ is decreasing.
#
# ### Exercise 1 — the density of a transformed variable
# Write `transformed_log_density(y, inverse, base_log_prob)`: $\log p_Y(y)$ for $Y = g(X)$, where $g$ is
# monotone and acts element by element, `inverse` computes $g^{-1}$ and `base_log_prob` computes $\log p_X$.
# Get the derivative from autograd, not by hand, so that it works for any `inverse`.

# %%
def transformed_log_density(y, inverse, base_log_prob):
    """log p_Y(y) for Y = g(X), g monotone elementwise: y (N,) → (N,), nats.
    inverse: g⁻¹, (N,) → (N,); base_log_prob: log p_X, (N,) → (N,)."""
    ### BEGIN SOLUTION
    y = y.detach().requires_grad_(True)
    x = inverse(y)
    dx_dy, = torch.autograd.grad(x.sum(), y)   # elementwise: the gradient of the sum holds each dx/dy
    return base_log_prob(x.detach()) + dx_dy.abs().log()
    ### END SOLUTION


# %% tags=["check"]
def uniform_log_prob(x):
    """log density of U(0, 1): 0 inside, −∞ outside."""
    return torch.where((x >= 0) & (x <= 1), torch.zeros_like(x), torch.full_like(x, -math.inf))


y_grid = torch.linspace(0.5, 3.5, 13)
exercises.expect_close("y = 2x + 1 of x ~ U(0, 1): density 1/2 on [1, 3] and 0 outside",
                       exercises.call(1, transformed_log_density, y_grid, lambda y: (y - 1) / 2, uniform_log_prob).exp(),
                       torch.where((y_grid >= 1) & (y_grid <= 3), 0.5, 0.0), exercise=1)
exercises.expect_close("a decreasing map, y = 1 − 2x: still density 1/2, on [−1, 1]",
                       exercises.call(1, transformed_log_density, torch.tensor([-0.5, 0.0, 0.9]), lambda y: (1 - y) / 2,
                                      uniform_log_prob).exp(), torch.full((3,), 0.5), exercise=1)
y_positive = torch.tensor([0.1, 0.5, 1.0, 2.0, 7.0])
exercises.expect_close("y = exp(x) of x ~ N(0, 1) is log-normal (torch.distributions.LogNormal)",
                       exercises.call(1, transformed_log_density, y_positive, torch.log,
                                      torch.distributions.Normal(0.0, 1.0).log_prob),
                       torch.distributions.LogNormal(0.0, 1.0).log_prob(y_positive), exercise=1)

# %% [markdown]
# The formula against samples, for the affine example and for a nonlinear one, $y = e^{x}$ with
# $x \sim \mathcal N(0, 1)$, whose density $p_Y(y) = \mathcal N(\log y; 0, 1)/y$ is the log-normal:

# %%
noise_1d = torch.Generator().manual_seed(1)
x_uniform = torch.rand(20000, generator=noise_1d)
x_normal = torch.randn(20000, generator=noise_1d)
fig, axes = plt.subplots(1, 2, figsize=(9, 3))
axes[0].hist(2 * x_uniform + 1, bins=40, density=True, alpha=0.5, label="samples of y = 2x + 1")
axes[0].plot([0.5, 1, 1, 3, 3, 3.5], [0, 0, 0.5, 0.5, 0, 0], "k", label="p(x)|dx/dy| = 1/2")
axes[1].hist(x_normal.exp(), bins=np.linspace(0, 6, 61), density=True, alpha=0.5, label="samples of y = exp(x)")
y_line = torch.linspace(0.01, 6, 300)
axes[1].plot(y_line, torch.distributions.Normal(0.0, 1.0).log_prob(y_line.log()).exp() / y_line, "k",
             label="N(log y; 0, 1) / y")
for ax in axes:
    ax.legend(fontsize=8)
    ax.set_xlabel("y")
axes[0].set_ylabel("density");

# %% [markdown]
# **In D dimensions** the derivative becomes the Jacobian matrix, and the factor is its determinant. From
# here on the letters change roles: $\mathbf x$ is the *data* and $\mathbf z$ the simple *base* variable (in the
# exercise the simple variable was $X$), and the flow $\mathbf f$ maps data to noise, $\mathbf z = \mathbf f(\mathbf x)$;
# its inverse $\mathbf g = \mathbf f^{-1}$ generates. For an invertible $\mathbf f$,
#
# $$ p_X(\mathbf x) = p_Z\big(\mathbf f(\mathbf x)\big)\,\left|\det \frac{\partial \mathbf f(\mathbf x)}{\partial \mathbf x}\right|,
# \qquad \log p_X(\mathbf x) = \log p_Z(\mathbf z) + \log\left|\det \mathbf J_{\mathbf f}(\mathbf x)\right|. $$
#
# $|\det \mathbf J|$ is the local change of volume. Training maximises this log-likelihood, so the
# determinant is computed for every example at every step — and for a general $D \times D$ matrix that
# costs $O(D^3)$ (an LU decomposition). If the Jacobian is **triangular**, the determinant is the product
# of the diagonal, $O(D)$. Measured on this machine:

# %%
def seconds_of(function, repeats: int = 3) -> float:
    """The best of ``repeats`` wall times of function(), in s."""
    best = math.inf
    for _ in range(repeats):
        start = time.perf_counter()
        function()
        best = min(best, time.perf_counter() - start)
    return best


matrices = torch.Generator().manual_seed(2)
general_sizes = [128, 256, 512, 1024, 2048]
general = [torch.randn(d, d, generator=matrices) + d * torch.eye(d) for d in general_sizes]
general_seconds = [seconds_of(lambda: torch.linalg.slogdet(m)) for m in general]
# A triangular Jacobian's log |det| is the sum of the log |diagonal|; a coupling layer never even forms the
# matrix: it outputs the D log-scales. At D = 2048 that takes microseconds, mostly fixed overhead, so its
# growth shows only at larger D.
triangular = general[-1].tril()
triangular_at_2048 = seconds_of(lambda: triangular.diagonal().abs().log().sum())
triangular_sizes = [2**k for k in range(14, 23, 2)]
triangular_seconds = [seconds_of(lambda: v.abs().log().sum()) for v in
                      (torch.randn(d, generator=matrices) for d in triangular_sizes)]
slope_general = np.polyfit(np.log(general_sizes[2:]), np.log(general_seconds[2:]), 1)[0]
slope_triangular = np.polyfit(np.log(triangular_sizes[2:]), np.log(triangular_seconds[2:]), 1)[0]

fig, ax = plt.subplots(figsize=(6, 3.2))
ax.loglog(general_sizes, general_seconds, "o-", label=f"slogdet of a general matrix (slope {slope_general:.2f})")
ax.loglog(triangular_sizes, triangular_seconds, "s-", label=f"triangular: sum of log |diagonal| (slope {slope_triangular:.2f})")
ax.set(xlabel="dimension D", ylabel="seconds", title="The cost of a log-determinant")
ax.legend(fontsize=8)
display(Markdown(f"Measured log-log slopes over the larger sizes: **{slope_general:.2f}** for a general determinant "
                 f"(theory: 3 as D grows) and **{slope_triangular:.2f}** for a triangular one (theory: 1); the "
                 f"triangular log-det of the 2048 × 2048 matrix took {1e6 * triangular_at_2048:.0f} µs, the general one "
                 f"{1e3 * general_seconds[-1]:.1f} ms. An image of {dims_image} pixels needs a {dims_image} × {dims_image} "
                 f"determinant per example; a 256 × 256 colour image would need a {3 * 256 * 256:,} × {3 * 256 * 256:,} one."))

# %% tags=["check"]
lower = torch.randn(6, 6, generator=torch.Generator().manual_seed(3)).tril() + 3 * torch.eye(6)
exercises.expect_close("the log |det| of a triangular matrix is the sum of the log |diagonal|",
                       torch.linalg.slogdet(lower)[1], lower.diagonal().abs().log().sum())

# %% [markdown]
# The whole chapter is about that choice: **invertible maps whose Jacobian determinant is cheap**, flexible
# enough once chained. A chain $\mathbf f = \mathbf f_K \circ \dots \circ \mathbf f_1$ is invertible, and its
# log-determinant is the sum of the layers' (the chain rule, and $\det(\mathbf{AB}) = \det\mathbf A\det\mathbf B$).
# In `course_lib.nn.transforms` every layer returns `(y, logabsdet)`, `logabsdet` of shape `(B,)`, in both
# directions, and `T.Composite` sums them.
#
# ## 2. Flows for variational inference: planar flows
#
# Rezende & Mohamed (2015) introduced flows to make variational posteriors richer than a Gaussian: draw
# $\mathbf z_0 \sim q_0$, apply $K$ invertible maps $\mathbf f_k$ — here in the *sampling* direction, noise to
# sample, since in inference we only ever sample $q$ — and (in a VAE, $q_0$ and the $\mathbf f_k$ also depend on $\mathbf x$)
#
# $$ q_K(\mathbf z_K) = q_0(\mathbf z_0) \prod_{k=1}^K \left|\det \frac{\partial \mathbf f_k(\mathbf z_{k-1})}{\partial \mathbf z_{k-1}}\right|^{-1}. $$
#
# Their **planar** layer is $\mathbf f(\mathbf z) = \mathbf z + \mathbf u\, h(\mathbf w^\top \mathbf z + b)$ with
# $h = \tanh$ (deck 003 writes a more general form; this is the one from the paper). Its Jacobian
# $\mathbf I + \mathbf u \boldsymbol\psi(\mathbf z)^\top$, with $\boldsymbol\psi = h'(\mathbf w^\top\mathbf z + b)\mathbf w$,
# is a rank-one update of the identity, so $\det = 1 + \mathbf u^\top\boldsymbol\psi$ in $O(D)$ (the matrix
# determinant lemma). It is invertible only if $\mathbf w^\top\mathbf u \ge -1$; `T.Planar` enforces that by
# using $\hat{\mathbf u} = \mathbf u + \big(\varphi(\mathbf w^\top\mathbf u) - \mathbf w^\top\mathbf u\big)\mathbf w/\|\mathbf w\|^2$,
# $\varphi(a) = -1 + \log(1 + e^a)$, and has no closed-form inverse (ours solves a 1D monotone equation by bisection).
#
# A flow used for inference is fitted by **reverse KL**: to approximate $p(\mathbf z) = e^{-U(\mathbf z)}/Z$ known
# only up to $Z$, minimise
#
# $$ \mathrm{KL}(q_K \,\|\, p) = \mathbb E_{q_K}\big[\log q_K(\mathbf z) + U(\mathbf z)\big] + \log Z, $$
#
# which needs samples of $q_K$ and their density — both from the sampling direction, in one pass. The
# targets are Rezende & Mohamed's 2D energies U2 and U3. As published they are constant along $z_1$, so
# $e^{-U}$ has infinite mass and the KL is undefined; `data.energy` adds a soft wall outside $|z_1| \le 4$, the
# window the paper plots. $\log Z$ we get by quadrature on a grid, so the KL is exact up to Monte Carlo noise. Reverse KL is *mode-seeking*: a $q$ that has settled on part of the target feels
# no pull towards the rest. Like the paper, we anneal: the energy's weight $\beta$ grows from 0.01 to 1
# during the first half of training, so $q$ starts broad and then contracts onto the target.

# %%
def reverse_kl_objective(flow, energy: str, steps: int, batch: int = 1024):
    """E_q[log q(z) + β U(z)] estimated with ``batch`` samples of the flow; β grows from 0.01 to 1 over the
    first half of the ``steps`` (at β = 1 it is KL(q ‖ p) − log Z)."""
    def objective(generator, step):
        beta = min(1.0, 0.01 + 2 * step / steps)
        z, log_q = flow.sample_with_log_prob(batch, generator)
        return (log_q + beta * data.energy(energy, z)).mean()
    return objective


grid_1d = torch.linspace(-8, 8, 1281)   # the wall's tails are negligible beyond |z1| = 8
grid = torch.stack(torch.meshgrid(grid_1d, grid_1d, indexing="xy"), -1).reshape(-1, 2)
cell_area = (grid_1d[1] - grid_1d[0]) ** 2
PLANAR_STEPS, PLANAR_LR = 800, 2e-2


def planar_flow(energy: str, layers: int) -> Flow:
    """``layers`` planar layers fitted to exp(−energy) by the annealed reverse KL (checkpointed)."""
    torch.manual_seed(layers)   # the same initial layers for both targets
    # Flow maps data → noise; the planar layers act in the sampling direction, hence the Inverse.
    flow = Flow(T.Inverse(T.Composite([T.Planar(2) for _ in range(layers)])))
    minimize(flow, reverse_kl_objective(flow, energy, PLANAR_STEPS), steps=PLANAR_STEPS, lr=PLANAR_LR, progress=False,
             checkpoint=cache_dir() / f"ch05_planar_{energy}_{layers}.pt")
    return flow


# Six independent small fits: side_by_side runs them at the same time, one per CPU core, and returns the flows
# (the longest first, so that the cores finish together).
planar_runs = [(energy, layers) for layers in (32, 8, 2) for energy in ("U2", "U3")]
planar_flows, planar_kl = {}, {}
for (energy, layers), flow in zip(planar_runs, side_by_side(planar_flow, planar_runs)):
    log_z = (torch.logsumexp(-data.energy(energy, grid), 0) + cell_area.log()).item()
    with torch.no_grad():
        z, log_q = flow.sample_with_log_prob(20000, torch.Generator().manual_seed(4))
    planar_flows[energy, layers] = z.cpu()
    planar_kl[energy, layers] = ((log_q + data.energy(energy, z)).mean() + log_z).item()

fig, axes = plt.subplots(2, 4, figsize=(11, 5.4), sharex=True, sharey=True)
for row, energy in enumerate(("U2", "U3")):
    axes[row, 0].imshow((-data.energy(energy, grid)).exp().reshape(1281, 1281), extent=(-8, 8, -8, 8), origin="lower",
                        cmap="Blues")
    axes[row, 0].set_title(f"target exp(−{energy})", fontsize=9)
    for col, layers in enumerate((2, 8, 32), start=1):
        axes[row, col].hist2d(*planar_flows[energy, layers].T.numpy(), bins=100, range=[[-5, 5], [-5, 5]], cmap="Blues")
        axes[row, col].set_title(f"{layers} planar layers: KL = {planar_kl[energy, layers]:.2f}", fontsize=9)
for ax in axes.flat:
    ax.set(xlim=(-4, 4), ylim=(-4, 4))
fig.tight_layout()
display(Markdown(f"Each flow: {PLANAR_STEPS} Adam steps of 1024 samples, learning rate {PLANAR_LR:g}."))

# %% tags=["check"]
for energy in ("U2", "U3"):
    kls = [planar_kl[energy, k] for k in (2, 8, 32)]
    exercises.expect_true(f"{energy}: 8 and 32 planar layers reach a far lower KL than 2 (less than half)",
                          max(kls[1], kls[2]) < kls[0] / 2)
    exercises.expect_true(f"{energy}: every estimated KL is ≥ 0 up to Monte Carlo noise", min(kls) > -0.02)

# %% [markdown]
# Each planar layer bends space along one direction only (a single hyperplane $\mathbf w^\top \mathbf z + b = 0$),
# so a curved target needs many of them: two layers cannot follow the wave; 8 and 32 do far better (how
# much more 32 buy depends on training far longer than here: the paper trains for hundreds of thousands of
# steps), and each layer is one more sequential step. Two refinements from deck 001
# keep the cheap determinant with more per layer: **Sylvester flows** (van den Berg et al., 2018),
# $\mathbf z + \mathbf A\,h(\mathbf B\mathbf z + \mathbf b)$ with $\mathbf A$: $D \times M$, $\mathbf B$: $M \times D$, have the
# Jacobian $\mathbf I_D + \mathbf A\,\mathrm{diag}(h')\,\mathbf B$, and Sylvester's identity
# $\det(\mathbf I_D + \mathbf A\mathbf C) = \det(\mathbf I_M + \mathbf C\mathbf A)$ (with $\mathbf C = \mathrm{diag}(h')\mathbf B$) turns
# it into an $M \times M$ determinant instead of $D \times D$ (planar is $M = 1$); the paper builds $\mathbf A$ and
# $\mathbf B$ from orthogonal and triangular factors so that the layer is invertible and even that
# determinant is a product of diagonals. **Householder flows** (Tomczak &
# Welling, 2016) apply reflections $\mathbf I - 2\mathbf v\mathbf v^\top/\|\mathbf v\|^2$, volume-preserving
# ($|\det| = 1$), to rotate a VAE's diagonal Gaussian posterior into a full-covariance one.

# %%
gen = torch.Generator().manual_seed(5)
a_matrix, b_matrix = torch.randn(512, 4, generator=gen) / 8, torch.randn(4, 512, generator=gen) / 8
z_point, shift = torch.randn(512, generator=gen), torch.randn(4, generator=gen)
c_matrix = torch.diag(1 - torch.tanh(b_matrix @ z_point + shift) ** 2) @ b_matrix     # diag(h') B at this z
v = torch.randn(512, generator=gen)
householder = torch.eye(512) - 2 * torch.outer(v, v) / (v @ v)
sylvester_big = torch.linalg.slogdet(torch.eye(512) + a_matrix @ c_matrix)
sylvester_small = torch.linalg.slogdet(torch.eye(4) + c_matrix @ a_matrix)
display(Markdown(f"log |det(I₅₁₂ + AC)| = {sylvester_big[1]:.6f}, log |det(I₄ + CA)| = {sylvester_small[1]:.6f}; "
                 f"a Householder reflection: log |det| = {torch.linalg.slogdet(householder)[1]:.2e}."))

# %% tags=["check"]
exercises.expect_close("Sylvester's identity: the 512 × 512 determinant equals the 4 × 4 one",
                       sylvester_big[0] * sylvester_big[1].exp(), sylvester_small[0] * sylvester_small[1].exp(), rtol=1e-4)
exercises.expect_close("a Householder reflection preserves volume (|det| = 1)", torch.linalg.slogdet(householder)[1], 0.0,
                       atol=1e-4)

# %% [markdown]
# ## 3. Coupling layers: NICE and RealNVP
#
# For *density estimation* we need the other direction to be cheap: data → noise, for every training
# example. **Coupling layers** get a triangular Jacobian by construction: split the coordinates into a kept
# part $\mathbf x_1$ and a changed part $\mathbf x_2$, and let the kept part decide how to change the other.
#
# **Additive coupling** (NICE; Dinh et al., 2014): $\mathbf y_1 = \mathbf x_1$, $\mathbf y_2 = \mathbf x_2 + t(\mathbf x_1)$,
# with any network $t$. The Jacobian is unit lower-triangular: $\det = 1$, *volume-preserving*; NICE ends
# with a learned diagonal scaling $\mathbf y = \mathbf x \odot e^{\mathbf s}$ so that the flow can change volume at all.
#
# **Affine coupling** (RealNVP; Dinh et al., 2017; deck 004): $\mathbf y_1 = \mathbf x_1$,
# $\mathbf y_2 = \mathbf x_2 \odot \exp\big(s(\mathbf x_1)\big) + t(\mathbf x_1)$. In block form
#
# $$ \frac{\partial \mathbf y}{\partial \mathbf x^\top} = \begin{bmatrix} \mathbf I & \mathbf 0 \\
#    \partial \mathbf y_2/\partial \mathbf x_1^\top & \mathrm{diag}\big(\exp s(\mathbf x_1)\big)\end{bmatrix}, $$
#
# triangular, whatever $s$ and $t$ are: they can be deep networks that are never inverted. A mask
# $\mathbf m$ (1 = kept) writes both parts at once: $\mathbf y = \mathbf m \odot \mathbf x + (1 - \mathbf m) \odot
# \big(\mathbf x \odot e^{s} + t\big)$ with $(s, t)$ computed from $\mathbf m \odot \mathbf x$. Alternating the mask
# from layer to layer lets every coordinate be changed.
#
# ### Exercise 2 — the affine coupling layer and its log-determinant
# Write the forward pass and derive $\log|\det \partial\mathbf y/\partial\mathbf x|$ from the block form above.
# `scale_shift(kept)` returns the pair `(s, t)`, each `(B, D)`; use only the entries that act on changed coordinates.

# %%
def affine_coupling_forward(x, mask, scale_shift):
    """RealNVP coupling on vectors x (B, D) with a 0/1 mask (D,) (1 = kept): y = m⊙x + (1−m)⊙(x⊙exp(s) + t),
    (s, t) = scale_shift(m ⊙ x). Returns y (B, D) and log |det ∂y/∂x| (B,), nats."""
    ### BEGIN SOLUTION
    s, t = scale_shift(x * mask)
    y = mask * x + (1 - mask) * (x * torch.exp(s) + t)
    return y, ((1 - mask) * s).sum(dim=1)
    ### END SOLUTION


# %% tags=["check"]
gen_2 = torch.Generator().manual_seed(6)
w_s2, w_t2 = torch.randn(5, 5, generator=gen_2), torch.randn(5, 5, generator=gen_2)
coupling_mask = torch.tensor([1.0, 0.0, 1.0, 0.0, 0.0])


def coupling_net(kept):
    """A fixed random scale_shift on D = 5: (s, t), each (B, 5)."""
    return torch.tanh(kept @ w_s2), kept @ w_t2 + 1.0


x_coupling = torch.randn(4, 5, generator=torch.Generator().manual_seed(7))
y_student, logdet_student = exercises.call(2, affine_coupling_forward, x_coupling, coupling_mask, coupling_net, returns=2)
s_ref, t_ref = coupling_net(x_coupling * coupling_mask)
exercises.expect_close("y = m⊙x + (1−m)⊙(x⊙exp(s) + t)", y_student,
                       coupling_mask * x_coupling + (1 - coupling_mask) * (x_coupling * s_ref.exp() + t_ref), exercise=2)
jacobian_logdet = torch.stack([torch.linalg.slogdet(torch.autograd.functional.jacobian(
    lambda row: coupling_mask * row + (1 - coupling_mask) * (row * coupling_net(row * coupling_mask)[0].exp()
                                                            + coupling_net(row * coupling_mask)[1]), row))[1]
    for row in x_coupling])
exercises.expect_close("log |det| equals slogdet of the autograd Jacobian", logdet_student, jacobian_logdet,
                       exercise=2, rtol=1e-4, atol=1e-5)

# %% [markdown]
# ### Exercise 3 — inverting a coupling layer
# Sampling runs the flow backwards. Given $\mathbf y$, recover $\mathbf x$ — without inverting $s$ or $t$ — and
# the log-determinant of the inverse map. (Hint: which part of $\mathbf x$ can you read off $\mathbf y$ directly?)

# %%
def affine_coupling_inverse(y, mask, scale_shift):
    """The inverse of affine_coupling_forward: x (B, D) from y (B, D), and log |det ∂x/∂y| (B,), nats."""
    ### BEGIN SOLUTION
    s, t = scale_shift(y * mask)          # m ⊙ y = m ⊙ x: the network sees exactly what it saw going forward
    x = mask * y + (1 - mask) * (y - t) * torch.exp(-s)
    return x, -((1 - mask) * s).sum(dim=1)
    ### END SOLUTION


# %% tags=["check"]
gen_3 = torch.Generator().manual_seed(8)
w_s3, w_t3 = torch.randn(5, 5, generator=gen_3), torch.randn(5, 5, generator=gen_3)
mask_3 = torch.tensor([0.0, 1.0, 1.0, 0.0, 1.0])


def net_3(kept):
    """Another fixed random scale_shift on D = 5, for another mask."""
    return torch.tanh(kept @ w_s3), kept @ w_t3 - 0.5


x_3 = torch.randn(6, 5, generator=torch.Generator().manual_seed(9))
s_3, t_3 = net_3(x_3 * mask_3)
y_3 = mask_3 * x_3 + (1 - mask_3) * (x_3 * s_3.exp() + t_3)          # the forward pass, as defined above
x_back, logdet_back = exercises.call(3, affine_coupling_inverse, y_3, mask_3, net_3, returns=2)
exercises.expect_close("inverse(forward(x)) = x", x_back, x_3, exercise=3, rtol=1e-5, atol=1e-6)
forward_logdet_3 = torch.stack([torch.linalg.slogdet(torch.autograd.functional.jacobian(
    lambda row: mask_3 * row + (1 - mask_3) * (row * net_3(row * mask_3)[0].exp() + net_3(row * mask_3)[1]), row))[1]
    for row in x_3])
exercises.expect_close("the inverse's log |det| is minus the forward's (autograd Jacobian)", logdet_back, -forward_logdet_3,
                       exercise=3, rtol=1e-4, atol=1e-5)

# %% [markdown]
# So $\log p_X(\mathbf x) = \log p_Z(\mathbf f(\mathbf x)) + \sum_{\text{layers}} \mathbf 1^\top s$ over the changed
# coordinates — deck 004's $\mathbf 1^\top s(\mathbf x_1)$ per layer. `T.AdditiveCoupling` and `T.AffineCoupling` are
# these layers (the library bounds $s$ by a scaled tanh for stable training). Now NICE and RealNVP, eight
# couplings each with alternating masks, on three 2D toys:

# %%
def nice(layers: int = 8, hidden: int = 64) -> Flow:
    """NICE: additive couplings with alternating masks, then a diagonal scaling."""
    couplings = [T.AdditiveCoupling(T.alternating_mask(2, i % 2), T.mlp(2, 2, hidden)) for i in range(layers)]
    return Flow(T.Composite([*couplings, T.Scaling((2,))]))


def realnvp(layers: int = 8, hidden: int = 64) -> Flow:
    """RealNVP: affine couplings (the network outputs s and t) with alternating masks."""
    return Flow(T.Composite([T.AffineCoupling(T.alternating_mask(2, i % 2), T.mlp(2, 4, hidden)) for i in range(layers)]))


TOYS = ("moons", "rings", "eight_gaussians")
toy_data, toy_nll = {}, {}
for i, toy in enumerate(TOYS):
    points = data.toy(toy, 6000, generator=torch.Generator().manual_seed(10 + i))
    toy_data[toy] = {"train": points[:3000], "val": points[3000:4000], "test": points[4000:]}


def toy_flow(toy: str, name: str) -> Flow:
    """A NICE or RealNVP flow fitted to one toy by maximum likelihood (checkpointed)."""
    torch.manual_seed(TOYS.index(toy))
    flow = {"NICE": nice, "RealNVP": realnvp}[name]()
    # patience = epochs: no early stop, since an affine coupling's loss can spike for an epoch or two at this
    # learning rate and recover; fit keeps the epoch with the best validation loss either way.
    fit(flow, toy_data[toy]["train"], toy_data[toy]["val"], epochs=40, batch_size=256, lr=3e-3, patience=40,
        progress=False, checkpoint=cache_dir() / f"ch05_{name}_{toy}_patience40.pt")
    return flow


toy_runs = [(toy, name) for toy in TOYS for name in ("NICE", "RealNVP")]
toy_flows = dict(zip(toy_runs, side_by_side(toy_flow, toy_runs)))      # six fits, one per CPU core at a time
for (toy, name), flow in toy_flows.items():
    with torch.no_grad():
        toy_nll[toy, name] = -flow.log_prob(toy_data[toy]["test"]).mean().item()

toy_grid_1d = torch.linspace(-4, 4, 161)
toy_grid = torch.stack(torch.meshgrid(toy_grid_1d, toy_grid_1d, indexing="xy"), -1).reshape(-1, 2)
fig, axes = plt.subplots(3, 3, figsize=(9, 9), sharex=True, sharey=True)
for row, toy in enumerate(TOYS):
    axes[row, 0].scatter(*toy_data[toy]["train"].T, s=1, alpha=0.3)
    axes[row, 0].set_title(f"{toy}: training data", fontsize=9)
    for col, name in enumerate(("NICE", "RealNVP"), start=1):
        with torch.no_grad():
            density = toy_flows[toy, name].log_prob(toy_grid).exp().reshape(161, 161).cpu()
        axes[row, col].imshow(density, extent=(-4, 4, -4, 4), origin="lower", cmap="viridis")
        axes[row, col].set_title(f"{name}: test NLL {toy_nll[toy, name]:.2f} nats", fontsize=9)
fig.tight_layout()
display(Markdown("| data | NICE (additive) | RealNVP (affine) |\n|---|---|---|\n" + "\n".join(
    f"| {toy} | {toy_nll[toy, 'NICE']:.3f} | {toy_nll[toy, 'RealNVP']:.3f} |" for toy in TOYS)
    + "\n\nTest negative log-likelihood, nats per point (lower is better)."))

# %% tags=["check"]
for toy in TOYS:
    exercises.expect_true(f"{toy}: RealNVP's affine couplings beat NICE's additive ones on the test NLL",
                          toy_nll[toy, "RealNVP"] < toy_nll[toy, "NICE"])
with torch.no_grad():
    fine_1d = torch.linspace(-6, 6, 601)
    fine = torch.stack(torch.meshgrid(fine_1d, fine_1d, indexing="xy"), -1).reshape(-1, 2)
    density = torch.cat([toy_flows["moons", "RealNVP"].log_prob(part).exp() for part in fine.split(40_000)])
    mass = (density.sum() * (fine_1d[1] - fine_1d[0]) ** 2).item()   # in parts: 361 201 points at once take 0.2 GB
exercises.expect_close("the RealNVP density of the moons integrates to 1 (grid on [−6, 6]²)", mass, 1.0, atol=1e-2)

# %% [markdown]
# **Layer by layer.** The flow maps the data to the Gaussian through 8 couplings. Move the slider: on the
# left, the test points after the first $k$ layers; on the right, Gaussian samples sent back through the
# inverses of the last $K - k$ layers. At every depth both clouds should look alike; at $k = 0$ the right panel is the
# model's samples, at $k = K$ the left panel is the data in noise space.

# %%
moons_flow = toy_flows["moons", "RealNVP"]
explorer = FlowLayerExplorer(moons_flow.transform, toy_data["moons"]["test"],
                             torch.randn(2000, 2, generator=torch.Generator().manual_seed(11)),
                             names=[f"coupling, {'x₂' if i % 2 == 0 else 'x₁'} changed" for i in range(8)])
explorer

# %% [markdown]
# ## 4. Autoregressive flows: MAF and IAF
#
# Give chapter 03's autoregressive models *Gaussian* conditionals (chapter 03 used categorical ones), and they
# become flows: if $x_d = \mu_d + e^{\alpha_d} z_d$ with $\mu_d, \alpha_d$ functions of $\mathbf x_{<d}$ and
# $z_d \sim \mathcal N(0, 1)$, the map $\mathbf x \mapsto \mathbf z$,
#
# $$ z_d = \big(x_d - \mu_d(\mathbf x_{<d})\big)\, e^{-\alpha_d(\mathbf x_{<d})}, $$
#
# has a triangular Jacobian, and one masked network (MADE) computes all $\mu_d, \alpha_d$ from $\mathbf x$ in a
# single pass: that is the **masked autoregressive flow** (MAF; Papamakarios et al., 2017). Sampling is
# the other way: $x_d = z_d e^{\alpha_d(\mathbf x_{<d})} + \mu_d(\mathbf x_{<d})$ needs $\mathbf x_{<d}$ first — $D$
# sequential passes.
#
# The **inverse autoregressive flow** (IAF; Kingma et al., 2016) conditions on the *noise* instead:
# $x_d = z_d e^{\alpha_d(\mathbf z_{<d})} + \mu_d(\mathbf z_{<d})$. Sampling is one pass (all of $\mathbf z$ is known);
# the density of a *given* $\mathbf x$ needs $\mathbf z$, recovered one coordinate at a time — $D$ passes. (Deck
# 003 writes both with two unnamed functions and does not say what they are conditioned on: data or noise.
# That is exactly the difference.)
# IAF = `T.Inverse(T.MaskedAutoregressive(D))`: the same network, used in the opposite direction.
#
# ### Exercise 4 — the MAF density pass
# Write $\log p(\mathbf x)$ of a one-layer MAF with a standard-normal base. `conditioner(x)` returns
# $(\boldsymbol\mu, \boldsymbol\alpha)$, each `(B, D)`, from one pass of a MADE network. Call it once: one pass is enough.

# %%
def maf_log_prob(x, conditioner):
    """log p(x) (B,) in nats of the MAF z = (x − μ) ⊙ exp(−α), z ~ N(0, I), (μ, α) = conditioner(x), each (B, D)."""
    ### BEGIN SOLUTION
    mu, alpha = conditioner(x)
    z = (x - mu) * torch.exp(-alpha)
    return torch.distributions.Normal(0.0, 1.0).log_prob(z).sum(dim=1) - alpha.sum(dim=1)
    ### END SOLUTION


# %% tags=["check"]
check_maf = T.MaskedAutoregressive(6, hidden=(32, 32))
gen = torch.Generator().manual_seed(12)
with torch.no_grad():
    for parameter in check_maf.parameters():          # random weights: a MAF that is far from the identity
        parameter.copy_(0.5 * torch.randn(parameter.shape, generator=gen))
    z_ref = torch.randn(8, 6, generator=gen)
    x_ref, logdet_sampling = check_maf.inverse(z_ref)   # the sampling direction: D passes
    log_p_ref = torch.distributions.Normal(0.0, 1.0).log_prob(z_ref).sum(1) - logdet_sampling
    conditioner_calls = []

    def counted_conditioner(x):
        conditioner_calls.append(1)
        return check_maf.conditioner(x)

    exercises.expect_close("MAF log p(x) equals the density computed through the sampling direction",
                           exercises.call(4, maf_log_prob, x_ref, counted_conditioner), log_p_ref, exercise=4,
                           rtol=1e-4, atol=1e-4)
    exercises.expect_true("one pass of the network for the whole batch", len(conditioner_calls) == 1,
                          "every μ_d, α_d comes out of a single call", exercise=4)

# %% [markdown]
# **One pass or D passes, measured.** A MAF on the 64 pixels of a digit, with a hook counting the MADE
# network's passes:

# %%
maf_64 = T.MaskedAutoregressive(64, hidden=(256, 256))
iaf_64 = T.Inverse(maf_64)
passes = []
maf_64.layers[0].register_forward_hook(lambda *args: passes.append(1))
batch_64 = torch.randn(512, 64, generator=torch.Generator().manual_seed(13))
direction_costs = {}
for name, run in (("MAF density (x → z)", lambda: maf_64(batch_64)), ("MAF sampling (z → x)", lambda: maf_64.inverse(batch_64)),
                  ("IAF sampling (z → x)", lambda: iaf_64.inverse(batch_64)), ("IAF density (x → z)", lambda: iaf_64(batch_64))):
    passes.clear()
    with torch.no_grad():
        start = time.perf_counter()
        run()
        direction_costs[name] = (len(passes), time.perf_counter() - start)
display(Markdown("| operation, 512 vectors of D = 64 | network passes | time (ms) |\n|---|---|---|\n" + "\n".join(
    f"| {name} | {count} | {1000 * seconds:.1f} |" for name, (count, seconds) in direction_costs.items())))

# %% tags=["check"]
exercises.expect_true("MAF: density in 1 pass, sampling in D = 64; IAF the other way round",
                      [count for count, _ in direction_costs.values()] == [1, 64, 1, 64])

# %% [markdown]
# So MAF suits **density estimation** (training evaluates the density of data, fast) and IAF suits
# **variational inference**: a posterior $q(\mathbf z \mid \mathbf x)$ is only ever *sampled*, and the density of
# its own samples is free, since the noise that produced them is known. Here is chapter 04's VAE with two
# IAF steps after its Gaussian encoder, conditioned on the encoder's features (`VAE(posterior_flows=2)`):
# $\mathbf z_0 = \boldsymbol\mu + \boldsymbol\sigma\odot\boldsymbol\epsilon$, then $\mathbf z_K$ by the IAF, and the KL
# term becomes a one-sample estimate $\log q(\mathbf z_K \mid \mathbf x) - \log p(\mathbf z_K)$. Same recipe as
# chapter 04 for both. The gap between the IWAE estimate and the ELBO is a lower bound on
# $\mathrm{KL}(q(\mathbf z \mid \mathbf x) \,\|\, p(\mathbf z \mid \mathbf x))$ of each model (each has its own decoder, so its own
# true posterior): a smaller gap says the encoder fits its model's posterior better.

# %%
def posterior_vae(steps: int) -> VAE:
    """Chapter 04's VAE with ``steps`` IAF steps on its Gaussian posterior, trained then fine-tuned (checkpointed)."""
    torch.manual_seed(0)
    vae = VAE(image_shape, levels, latent_dim=8, hidden=256, dropout=0.2, posterior_flows=steps)
    # The Gaussian one is chapter 04's VAE, built and trained the same way: its checkpoint, when chapter 04 ran.
    checkpoint = cache_dir() / (f"ch04_vae_{DATASET}.pt" if steps == 0 else f"ch05_vae_iaf{steps}_{DATASET}.pt")
    fit(vae, split.train, split.val, epochs=1000, batch_size=64, lr=1e-3, patience=30, checkpoint=checkpoint, progress=False)
    fit(vae, split.train, split.val, epochs=100, batch_size=64, lr=1e-4, patience=10, progress=False,
        checkpoint=checkpoint.with_suffix(".fine.pt"))
    return vae


vaes, vae_bounds = {}, {}
test_x = split.test.x.to(device())
posteriors = {"Gaussian posterior": 0, "Gaussian + 2 IAF steps": 2}
for name, vae in zip(posteriors, side_by_side(posterior_vae, [(steps,) for steps in posteriors.values()])):
    vae.to(device())
    noise = torch.Generator(device=device()).manual_seed(14)
    with torch.no_grad():
        elbo = torch.stack([vae.elbo(test_x, generator=noise) for _ in range(20)]).mean(0)   # (N,), 20 draws each
        iwae = vae.log_prob(test_x, k=200, chunk=25, generator=noise)   # 25 draws at a time: less memory
    vaes[name], vae_bounds[name] = vae, {"elbo": elbo.cpu(), "iwae": iwae.cpu()}

gap = {name: (b["iwae"] - b["elbo"]) for name, b in vae_bounds.items()}
gap_change = gap["Gaussian + 2 IAF steps"] - gap["Gaussian posterior"]
gap_change_se = (gap_change.std() / math.sqrt(len(gap_change))).item()
display(Markdown("| posterior | test −ELBO | test −IWAE (k = 200) | gap (nats) |\n|---|---|---|---|\n" + "\n".join(
    f"| {name} | {-b['elbo'].mean():.2f} | {-b['iwae'].mean():.2f} | {gap[name].mean():.2f} |"
    for name, b in vae_bounds.items())
    + f"\n\nThe IAF steps change the gap by {gap_change.mean():.2f} ± {gap_change_se:.2f} nats per image "
      "(mean ± standard error over the test digits)."))

# %% tags=["check"]
exercises.expect_true("the IAF posterior narrows the gap between the ELBO and the IWAE estimate, by more than 2 standard errors",
                      gap_change.mean().item() < -2 * gap_change_se)

# %% [markdown]
# Kingma et al. (2016) found richer posteriors matter most with larger latent spaces and images; here the
# latent space has 8 dimensions.
#
# ## 5. A flow on the digits
#
# **Dequantization.** The images take $L$ grey levels (17 for the digits): a discrete distribution, while a flow is a
# density on $\mathbb R^D$ — fitted to integers, it could pile infinite density on them. Instead model
# $\mathbf v = \mathbf x + \mathbf u$, $\mathbf u \in [0, 1)^D$: the probability of the image is the mass of its unit cube,
# $P(\mathbf x) = \int_{[0,1)^D} p(\mathbf x + \mathbf u)\,d\mathbf u$, and for any $q(\mathbf u \mid \mathbf x)$ on the cube, by Jensen,
#
# $$ \log P(\mathbf x) \ge \mathbb E_{q(\mathbf u \mid \mathbf x)}\big[\log p(\mathbf x + \mathbf u) - \log q(\mathbf u \mid \mathbf x)\big]. $$
#
# **Uniform** dequantization takes $q = \mathcal U[0,1)^D$ ($\log q = 0$; Theis et al., 2016); **variational**
# dequantization learns $q$, here a logit-normal given the image (Ho et al., 2019), and tightens the bound.
# Like the IWAE, averaging $k$ importance weights tightens it further.
#
# **Logit pre-processing.** $v/L$ lies in $[0, 1)$, the flow works on $\mathbb R^D$: RealNVP maps
# $p = \lambda + (1 - 2\lambda)v/L$ to $\log p - \log(1-p)$, with a small margin $\lambda$ that keeps away from 0 and 1
# (RealNVP: 0.05; `ImageFlow` uses $10^{-6}$, so that almost no probability leaks outside the data's range).
# This map is part of the model: its log-determinant,
# $\sum_d \big[\log(1-2\lambda) - \log L - \log p_d - \log(1 - p_d)\big]$, enters the likelihood (`T.Logit`).
#
# **Multi-scale architecture** (RealNVP, Glow). At 8×8: couplings with a checkerboard mask. Then a
# *squeeze* turns each 2×2 block into 4 channels (1×8×8 → 4×4×4), and couplings split the channels; after
# each scale half of the channels leave for the base distribution (*factored out*) and the rest are squeezed
# again (4×4×4 → 8×2×2). Every step starts with **actnorm** (a per-channel affine layer initialised from the
# first batch); after the first squeeze the steps are Glow's: actnorm, an **invertible 1×1 convolution**
# that mixes channels (a learned generalisation of the permutation between couplings), then the coupling.
# The 1×1 convolution applies one $C \times C$ matrix $\mathbf M$ at every pixel of an $h \times w$ map, so its
# log-determinant is $h w \log|\det\mathbf M|$; Glow writes $\mathbf M = \mathbf P\,\mathbf T_1(\mathbf T_2 + \mathrm{diag}\,\boldsymbol\sigma)$
# ($\mathbf P$ a fixed permutation, $\mathbf T_1$ unit lower-triangular, $\mathbf T_2$ strictly upper-triangular) so
# that this costs $O(C)$: $\sum_i \log|\sigma_i|$.

# %%
conv_1x1 = T.Invertible1x1Conv(4, 4, 4, generator=torch.Generator().manual_seed(15))
images_1x1 = torch.randn(3, 4, 4, 4, generator=torch.Generator().manual_seed(16))
with torch.no_grad():
    for parameter in conv_1x1.parameters():   # away from its orthogonal start (log |det W| = 0 there)
        parameter.add_(0.3 * torch.randn(parameter.shape, generator=torch.Generator().manual_seed(17)))
    glow_logdet = conv_1x1(images_1x1)[1]
    dense_logdet = 4 * 4 * torch.linalg.slogdet(conv_1x1.weight())[1]

# %% tags=["check"]
exercises.expect_close("the LU log-det of the 1×1 convolution equals h·w·log|det M| from slogdet", glow_logdet,
                       dense_logdet.expand(3), rtol=1e-4, atol=1e-4)
exercises.expect_true("that log-det is not trivially 0", bool(dense_logdet.abs() > 0.1))

# %% [markdown]
# Two flows with the same body (`realnvp_image_body`: 3 scales, 4 couplings each, 32 hidden channels),
# one with uniform and one with variational dequantization, 20 epochs each. The weights kept are a running average
# of the trained ones (`fit(..., average=0.95)`: $\bar{\mathbf w} \leftarrow 0.95\, \bar{\mathbf w} + 0.05\, \mathbf w$ after every
# step; Polyak & Juditsky, 1992), which smooths out the noise of the last steps and reaches a given bound in fewer
# epochs:

# %%
def train_digit_flow(name: str) -> ImageFlow:
    """A multi-scale RealNVP/Glow flow on the dequantization bound (``name``: "uniform" or "variational"),
    20 epochs, keeping a running average of the weights (checkpointed)."""
    torch.manual_seed(0)
    body = realnvp_image_body(image_shape, hidden=32)
    dequantizer = VariationalDequantizer(image_shape, levels) if name == "variational" else None
    flow = ImageFlow(body, image_shape, levels, dequantizer=dequantizer)
    history = fit(flow, split.train, split.val, epochs=20, batch_size=64, lr=3e-3, patience=20, average=0.95,
                  progress=False, checkpoint=cache_dir() / f"ch05_flow_{name}_average20_{DATASET}.pt")
    flow.training_seconds = history.seconds
    return flow


# The two are independent: side_by_side trains them at the same time, one per CPU core.
dequantizations = ("uniform", "variational")
digit_flows = dict(zip(dequantizations, side_by_side(train_digit_flow, [(name,) for name in dequantizations])))
flow_nll = {}
for name, flow in digit_flows.items():
    noise = torch.Generator(device=device()).manual_seed(17)
    flow_nll[name] = {k: mean_nll(flow, test_x, generator=noise, options={"k": k}) for k in (1, 10)}
display(Markdown("| dequantization | training (s) | test bound, k = 1 (nats/image) | k = 10 | bits/dim (k = 10) |\n"
                 "|---|---|---|---|---|\n" + "\n".join(
    f"| {name} | {digit_flows[name].training_seconds:.0f} | {v[1]:.2f} | {v[10]:.2f} | "
    f"{v[10] / (dims_image * math.log(2)):.3f} |" for name, v in flow_nll.items())
    + "\n\nThe reference RealNVP on the same split (Tomczak's *intro_dgm*) reaches 127.6 nats per image."))

# %% tags=["check"]
for k in (1, 10):
    exercises.expect_true(f"variational dequantization gives a tighter bound than uniform (k = {k})",
                          flow_nll["variational"][k] < flow_nll["uniform"][k])
exercises.expect_true("averaging k = 10 importance weights tightens each bound", all(v[10] < v[1] for v in flow_nll.values()))
exercises.expect_true("both flows beat the reference RealNVP (127.6 nats/image on the digits) and reach ≤ 100",
                      DATASET != "digits" or max(v[1] for v in flow_nll.values()) <= 100)

# %%
best_flow = digit_flows["variational"]
leaderboard.record("RealNVP/Glow flow (variational dequantization)", 5, flow_nll["variational"][10], dims_image,
                   dataset=DATASET, bound="dequantization bound")
# Its samples go to the gallery, where chapter 09 scores every model's samples on the same test split.
gallery.record_model("RealNVP/Glow flow (variational dequantization)", 5, best_flow, levels=levels, dataset=DATASET,
                     train_seconds=best_flow.training_seconds)
Markdown(leaderboard.table(DATASET))

# %% [markdown]
# Bits per dimension are on 17 grey levels, so they are not comparable with published figures on 256
# levels. The flow's bound is a *lower* bound on $\log P(\mathbf x)$: its true likelihood is at least as good.
#
# **Samples and temperature.** Sampling is $\mathbf x = \lfloor \mathbf f^{-1}(\mathbf z) \rfloor$, $\mathbf z \sim \mathcal N(\mathbf 0, T^2\mathbf I)$.
# Lowering the temperature $T$ (Glow) trades diversity for more typical samples: measured here by the
# flow's own log-likelihood bound of its samples.

# %%
fig, axes = plt.subplots(1, 3, figsize=(10, 3.6))
sample_log_lik = {}
for ax, temperature in zip(axes, (1.0, 0.8, 0.6)):
    samples = best_flow.sample(200, torch.Generator(device=device()).manual_seed(18), temperature=temperature)
    with torch.no_grad():
        sample_log_lik[temperature] = best_flow.log_prob(samples, k=10, generator=torch.Generator(device=device()).manual_seed(0)).mean().item()
    plotting.image_grid(samples[:36].cpu(), levels=levels, ax=ax, nrow=6,
                        title=f"T = {temperature}: mean log P ≥ {sample_log_lik[temperature]:.1f}")

# %% tags=["check"]
exercises.expect_true("lower temperature, more typical samples (higher log-likelihood under the flow)",
                      sample_log_lik[0.6] > sample_log_lik[0.8] > sample_log_lik[1.0])

# %% [markdown]
# **Latent interpolation and attribute manipulation.** $\mathbf f$ maps an image (at the centre of its cube,
# $\mathbf x + \tfrac12$) to its code $\mathbf z$, and $\mathbf f^{-1}$ maps any code back: walk the straight line
# between two digits' codes. Glow edits attributes the same way: the mean code of images with an attribute
# minus the mean code of images without it is a direction in $\mathbf z$-space. Here the attribute is the
# stroke's thickness (the ink of the image, top vs bottom quarter of the training set).

# %%
def encode(images):
    """Codes z = f(x + 1/2) (N, 1, H, W) of images of integer levels."""
    with torch.no_grad():
        return best_flow.transform.forward(images.to(device()) + 0.5)[0]


def decode(codes):
    """Images ⌊f⁻¹(z)⌋ of integer levels (N, 1, H, W)."""
    with torch.no_grad():
        return torch.floor(best_flow.transform.inverse(codes)[0]).clamp(0, levels - 1).cpu()


ends = encode(split.test.x[[3, 11]])
steps = torch.linspace(0, 1, 8, device=ends.device)[:, None, None, None]
interpolation = decode((1 - steps) * ends[0] + steps * ends[1])

ink = split.train.x.sum((1, 2, 3))
thick, thin = split.train.x[ink >= ink.quantile(0.75)], split.train.x[ink <= ink.quantile(0.25)]
thickness = encode(thick).mean(0) - encode(thin).mean(0)
strengths = torch.tensor([-1.0, -0.5, 0.0, 0.5, 1.0])
edited = torch.stack([decode(encode(split.test.x[:6]) + s * thickness) for s in strengths])   # (5, 6, 1, H, W)
edited_ink = edited.sum((2, 3, 4)).mean(1)

fig, axes = plt.subplots(1, 2, figsize=(10, 3.2), gridspec_kw={"width_ratios": [8, 5]})
plotting.image_grid(interpolation, levels=levels, ax=axes[0], nrow=8, title="interpolation between two test digits")
plotting.image_grid(edited.transpose(0, 1).reshape(-1, *image_shape), levels=levels, ax=axes[1], nrow=5,
                    title="thickness direction, strength −1 … +1")
display(Markdown("Mean ink of the edited digits (sum of grey levels) for strengths −1, −0.5, 0, 0.5, 1: "
                 + ", ".join(f"{v:.0f}" for v in edited_ink.tolist()) + "."))

# %% tags=["check"]
exercises.expect_true("moving along the thickness direction adds ink, monotonically",
                      bool((edited_ink[1:] > edited_ink[:-1]).all()))
exercises.expect_close("decode(encode(x)) gives back the test digits (the flow is invertible)",
                       decode(encode(split.test.x[:16])), split.test.x[:16], atol=0.0)

# %% [markdown]
# ## 6. What flows cannot do
#
# **The dimension must match** (deck 000). $\mathbf f$ is a bijection, so the digit flow's code has as many
# numbers as the image has pixels: no compression, no low-dimensional summary like the 8-dimensional code
# of the VAE in §4. Flows on a low-dimensional manifold need extra machinery (for example, a VAE with a flow prior).
#
# **Topology.** A continuous bijection cannot tear the connected Gaussian into eight separate blobs: it
# can only stretch it, leaving thin bridges of density between the modes. The RealNVP of §3 on the
# 8 Gaussians shows it — on a log scale, and in the samples that land far from every mode:

# %%
toy_parameters = inspect.signature(data.eight_gaussians).parameters      # the toy's defaults: radius and std
ring_radius, mode_std = toy_parameters["radius"].default, toy_parameters["std"].default
centres = ring_radius * torch.stack([torch.cos(torch.arange(8) * math.pi / 4), torch.sin(torch.arange(8) * math.pi / 4)], 1)


def fraction_between_modes(points, radius: float = 4 * mode_std):
    """Fraction of points farther than ``radius`` (4 standard deviations) from all eight centres."""
    return (torch.cdist(points, centres).min(1).values > radius).float().mean().item()


gaussians_flow = toy_flows["eight_gaussians", "RealNVP"]
flow_points = gaussians_flow.sample(20000, torch.Generator(device=device()).manual_seed(19)).cpu()
between = {"data (test set)": fraction_between_modes(toy_data["eight_gaussians"]["test"]),
           "RealNVP samples": fraction_between_modes(flow_points)}
with torch.no_grad():
    log_density = gaussians_flow.log_prob(toy_grid).reshape(161, 161).cpu()
fig, axes = plt.subplots(1, 2, figsize=(8, 3.8))
image = axes[0].imshow(log_density.clamp(min=-12), extent=(-4, 4, -4, 4), origin="lower", cmap="magma")
fig.colorbar(image, ax=axes[0], label="log density")
axes[0].set_title("RealNVP on 8 Gaussians: log density", fontsize=9)
axes[1].scatter(*flow_points[:5000].T, s=1, alpha=0.3)
axes[1].set(xlim=(-4, 4), ylim=(-4, 4), title="its samples")
axes[1].set_aspect("equal")
fig.tight_layout()
display(Markdown("Fraction of points more than 4 standard deviations from every mode: " + ", ".join(
    f"{name} **{value:.2%}**" for name, value in between.items()) + "."))

# %% tags=["check"]
exercises.expect_true("the flow leaves mass between the modes, where the data have (almost) none",
                      between["RealNVP samples"] > 5 * between["data (test set)"] + 0.001)

# %% [markdown]
# The other costs: every layer must be invertible with a cheap determinant, which limits what one layer can
# do, so flows need many layers and many parameters; and the likelihood of a discrete image is a
# dequantization bound, not the exact probability the autoregressive models of chapter 03 give.
#
# ## Further exercises (no checks)
# 5. Replace the alternating masks of the 2D RealNVP by a fixed random permutation between couplings
#    (`T.Permutation.random`). Does the test NLL change?
# 6. Fit planar flows to `U1` and `U4`. Which needs more layers, and why does the two-mode ring of `U1`
#    resist (think of the reverse KL's mode-seeking)?
# 7. Train the digit flow without actnorm and 1×1 convolutions (build the body by hand from `T.AffineCoupling`
#    and `T.Squeeze`). How much do they buy?
# 8. Sample the digit flow at $T = 0.05$: what do you get, and why is it not the most likely image?
#
# ## Summary
# - Change of variables: $\log p_X(\mathbf x) = \log p_Z(\mathbf f(\mathbf x)) + \log|\det \mathbf J_{\mathbf f}(\mathbf x)|$. A
#   general determinant costs $O(D^3)$; flows are built from layers with triangular (or otherwise cheap)
#   Jacobians, and the log-determinants of a chain add up.
# - Planar flows fitted by reverse KL make variational posteriors richer, but bend space along one direction
#   per layer: two layers were far from enough for a sine-shaped target.
# - Coupling layers (NICE: additive, volume-preserving; RealNVP: affine) are inverted without inverting their
#   networks, and their log-determinant is the sum of the log-scales.
# - MAF evaluates densities in one pass and samples in $D$; IAF the reverse, which suits variational
#   inference: an IAF posterior narrowed the VAE's ELBO–IWAE gap.
# - On the digits, a multi-scale flow with actnorm and 1×1 convolutions, trained on the dequantization
#   bound (variational beats uniform), joined the leaderboard; codes can be interpolated and edited.
# - Flows keep the dimension and the topology of their base distribution.
#
# ## References
# - Dinh, L., Krueger, D., & Bengio, Y. (2014). NICE: Non-linear independent components estimation.
# - Dinh, L., Sohl-Dickstein, J., & Bengio, S. (2017). Density estimation using Real NVP.
# - Rezende, D. J., & Mohamed, S. (2015). Variational inference with normalizing flows.
# - Kingma, D. P., Salimans, T., Jozefowicz, R., Chen, X., Sutskever, I., & Welling, M. (2016). Improved
#   variational inference with inverse autoregressive flow.
# - Papamakarios, G., Pavlakou, T., & Murray, I. (2017). Masked autoregressive flow for density estimation.
# - Kingma, D. P., & Dhariwal, P. (2018). Glow: Generative flow with invertible 1×1 convolutions.
# - Tomczak, J. M., & Welling, M. (2016). Improving variational auto-encoders using Householder flow.
# - van den Berg, R., Hasenclever, L., Tomczak, J. M., & Welling, M. (2018). Sylvester normalizing flows for
#   variational inference.
# - Ho, J., Chen, X., Srinivas, A., Duan, Y., & Abbeel, P. (2019). Flow++ (variational dequantization).
# - Theis, L., van den Oord, A., & Bethge, M. (2016). A note on the evaluation of generative models.
# - Polyak, B. T., & Juditsky, A. B. (1992). Acceleration of stochastic approximation by averaging.
# - Hyvärinen, A., & Pajunen, P. (1999). Nonlinear independent component analysis: existence and uniqueness results.
# - Papamakarios, G., Nalisnick, E., Rezende, D. J., Mohamed, S., & Lakshminarayanan, B. (2021). Normalizing
#   flows for probabilistic modeling and inference.


# %% tags=["check"]
# Every check run in this session: "all passed", or the list of those that failed. Stuck on one exercise?
# Run `exercises.keep_going()` once: a failed check then prints a red ✘ and "Run All" goes on to the end.
exercises.report()
