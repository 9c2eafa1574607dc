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
# # 07 · Divergences and the Wasserstein GAN
#
# A GAN's generator follows whatever divergence its discriminator measures: with an optimal discriminator,
# the Jensen–Shannon divergence ([chapter 06, §1](06_gans.ipynb)); maximum likelihood follows the KL divergence
# ([chapter 01](01_density_estimation.ipynb)). This chapter asks what those divergences do when the two
# distributions do **not overlap** — the usual case for a generator whose samples lie on a surface of the
# latent space's dimension inside a much larger data space — and meets one that still tells the generator which
# way to go: the **Wasserstein** (earth mover's) distance. Its dual form turns the discriminator into a
# **critic** with a Lipschitz constraint, and the ways to impose that constraint (weight clipping, a gradient
# penalty, spectral normalization) are the second half of the chapter.
#
# **Learning objectives.** After this chapter you can
# 1. compute KL, JS, total variation and W₁ for the parallel-lines example and explain why only W₁ gives a
#    gradient;
# 2. write the WGAN critic's and generator's losses, and train a one-parameter generator with the GAN and the
#    WGAN losses;
# 3. state the Kantorovich–Rubinstein duality, compute W₁ in 1D by sorting, and compare it with a trained
#    critic and with the optimal coupling;
# 4. compare weight clipping, the gradient penalty and spectral normalization as Lipschitz constraints, measure
#    each critic's Lipschitz constant, and watch the critic's loss track sample quality.

# %%
DATASET = "digits"  # "digits" (bundled, CPU) or "mnist" / "fashion_mnist" (local IDX files in $DGM_DATA)

import math
import time

import matplotlib.pyplot as plt
import numpy as np
import scipy.spatial.distance
import scipy.stats
import torch
from IPython.display import Markdown, display

from course_lib import data
from course_lib.evaluation import divergences, gallery, mode_coverage
from course_lib.models import GAN, DCDiscriminator, DCGenerator, MLPDiscriminator, MLPGenerator, SegmentGenerator
from course_lib.runtime import cache_dir, seed_everything, side_by_side
from course_lib.teaching import exercises
from course_lib.train import fit_adversarial
from course_lib.viz import ParallelLinesExplorer, plotting

seed_everything(0)
split = data.load_dataset(DATASET)
levels, image_side = split.levels, split.train.x.shape[-1]
chapter_started = time.perf_counter()

# %% [markdown]
# ## 1. Divergences that see overlap, and one that sees distance
#
# Four ways to compare two distributions $P$ and $Q$ with densities $p$ and $q$ (with respect to a common
# reference measure: volume in the plane, or length along a segment for the examples below):
# * **Kullback–Leibler**, $\mathrm{KL}(P \,\|\, Q) = \int p(\mathbf x) \ln \frac{p(\mathbf x)}{q(\mathbf x)}\, d\mathbf x$,
#   what maximum likelihood minimises (with $P$ the data). It is **infinite as soon as $q$ is zero on a set
#   where $P$ has mass**. (One of the course's slide decks writes it $\int p\,[\ln q - \ln p]$: that is $-\mathrm{KL}$,
#   a sign slip.)
# * **Jensen–Shannon**, $\mathrm{JS}(P, Q) = \tfrac12 \mathrm{KL}(P \,\|\, M) + \tfrac12 \mathrm{KL}(Q \,\|\, M)$ with
#   $M = (P + Q)/2$: the GAN's divergence. Always finite, at most $\ln 2$, reached when the supports are disjoint.
# * **Total variation**, $\mathrm{TV}(P, Q) = \sup_A |P(A) - Q(A)| = \tfrac12 \int |p - q|$: at most 1.
# * **Wasserstein-1**, or earth mover's distance. A **coupling** $\gamma(\mathbf x, \mathbf y)$ is a joint
#   distribution with marginals $P$ and $Q$ ($\Gamma(P, Q)$ is the set of all of them): $\gamma(\mathbf y \mid \mathbf x)$
#   says where the mass at $\mathbf x$ goes. Moving it costs $T(\gamma) = \int \|\mathbf x - \mathbf y\|\, d\gamma(\mathbf x, \mathbf y)$, and
#
#   $$ W_1(P, Q) = \inf_{\gamma \in \Gamma(P, Q)} T(\gamma), $$
#
#   the cost of the cheapest transport plan: how much mass, times how far.
#
# **The parallel lines** (Arjovsky et al., 2017). $P_0$ is uniform on the segment $x_1 = 0$, $x_2 \in [0, 1]$;
# $P_\theta$ is the same segment moved to $x_1 = \theta$. For $\theta \neq 0$ the supports are disjoint, so
# * $\mathrm{KL}(P_0 \,\|\, P_\theta) = \infty$ ($p_\theta = 0$ wherever $p_0 > 0$);
# * $\mathrm{JS}(P_0, P_\theta) = \ln 2$: on the support of $P_0$, $m = p_0/2$, so $\mathrm{KL}(P_0 \,\|\, M) = \ln 2$, and the same for $P_\theta$;
# * $\mathrm{TV}(P_0, P_\theta) = 1$ (take $A$ the segment at 0);
# * $W_1(P_0, P_\theta) = |\theta|$: moving every point horizontally costs $|\theta|$, and no plan is cheaper
#   since every point must travel at least $|\theta|$.
#
# All four are 0 at $\theta = 0$. KL, JS and TV are based on the **overlap** of the supports: they jump at
# $\theta = 0$ and are flat everywhere else, so their derivative in $\theta$ is 0 (or undefined) and gives a
# generator nothing to follow. $W_1$ is based on the **proximity** of the supports: it is continuous (and, for
# a generator $G_\theta$ Lipschitz in θ, differentiable almost everywhere), and gradient descent on it,
# $-\operatorname{sign}\theta$, points home from any $\theta$. Low-dimensional supports are not a
# curiosity: a generator with a $d_z$-dimensional latent space puts all its mass on a $d_z$-dimensional surface, so
# its support and the data's have, in general, an overlap of measure zero.
#
# The closed forms are `divergences.parallel_lines_divergences`. Estimates from samples: $W_1$ exactly, for
# the empirical distributions, by optimal transport (`divergences.empirical_wasserstein`, §3), and JS from a
# trained discriminator, $\mathrm{JS} \approx \ln 2 + \tfrac12 \max_D V$ (chapter 06; `divergences.discriminator_js`):

# %%
thetas_sampled = torch.tensor([-1.0, -0.5, -0.25, 0.0, 0.25, 0.5, 1.0])
line_sampler = torch.Generator().manual_seed(0)
sample_pairs = [(data.parallel_lines(1000, 0.0, line_sampler), data.parallel_lines(1000, theta, line_sampler))
                for theta in thetas_sampled.tolist()]
w1_from_samples = torch.tensor([divergences.empirical_wasserstein(p0, p_theta).distance.item()
                                for p0, p_theta in sample_pairs])


def js_of_pair(k):
    """JS between the k-th pair of samples, from a discriminator trained from seed k."""
    return divergences.discriminator_js(*sample_pairs[k], steps=300, seed=k,
                                        checkpoint=cache_dir() / f"ch07_js_{k}_seeded.pt").estimate


js_from_samples = torch.tensor(side_by_side(js_of_pair, [(k,) for k in range(len(sample_pairs))]))  # 7 at once
for theta, w1, js in zip(thetas_sampled.tolist(), w1_from_samples.tolist(), js_from_samples.tolist()):
    exact = divergences.parallel_lines_divergences(theta)
    print(f"θ = {theta:+.2f}:  W₁ {exact.w1:.3f} (samples {w1:.3f})   JS {exact.js:.4f} (discriminator {js:.4f})")

# %% tags=["check"]
exercises.expect_true("the OT estimate of W₁ is within 0.02 of |θ| at every θ",
                      bool(((w1_from_samples - thetas_sampled.abs()).abs() < 0.02).all()))
exercises.expect_true("the discriminator's JS is within 0.01 of ln 2 for θ ≠ 0 and below 0.05 at θ = 0",
                      bool(((js_from_samples - math.log(2)).abs()[thetas_sampled != 0] < 0.01).all())
                      and js_from_samples[thetas_sampled == 0].item() < 0.05)

# %% [markdown]
# Move θ: the grey lines are the optimal coupling of the two samples (each black point sent to its orange
# match), and the markers sit on the four curves. The crosses are the estimates above.

# %%
ParallelLinesExplorer(theta=0.5, thetas=thetas_sampled,
                      estimates={"JS": js_from_samples, "W₁": w1_from_samples})

# %% [markdown]
# **Which way is home?** A generator learns from the derivative in θ of the divergence it is given. The
# samples of $P_\theta$ are $(\theta, u)$, so both estimates can be differentiated in θ by autograd: the
# transport cost through the optimal matching (held fixed: by the envelope theorem, the derivative of a
# minimum is the derivative of the objective at the minimiser, because a small step does not change which
# matching is best to first order), and the discriminator's
# value $\tfrac12 \mathbb E \ln(1 - D(\theta, u))$ through its input. At θ = 0.5:

# %%
theta_probe = torch.tensor(0.5, requires_grad=True)
probe_sampler = torch.Generator().manual_seed(1)
p0 = data.parallel_lines(1000, 0.0, probe_sampler)
heights = torch.rand(1000, generator=probe_sampler)
p_probe = torch.stack([theta_probe.expand(1000), heights], 1)
dw_dtheta, = torch.autograd.grad(divergences.empirical_wasserstein(p0, p_probe).distance, theta_probe)
discriminator_at_half = divergences.discriminator_js(p0, p_probe.detach(), steps=300, seed=9,
                                                     checkpoint=cache_dir() / "ch07_js_probe_seeded.pt").network
js_estimate_at_probe = math.log(2) + 0.5 * (torch.nn.functional.logsigmoid(discriminator_at_half(p0)).mean()
                                            + torch.nn.functional.logsigmoid(-discriminator_at_half(p_probe)).mean())
djs_dtheta, = torch.autograd.grad(js_estimate_at_probe, theta_probe)
finite_difference = (divergences.parallel_lines_divergences(0.51).js - divergences.parallel_lines_divergences(0.49).js) / 0.02
print(f"d W₁/dθ: closed form {math.copysign(1, 0.5):+.0f}, through the optimal coupling {dw_dtheta.item():+.4f}")
print(f"d JS/dθ: closed form (central difference) {finite_difference:+.4f}, through the trained discriminator "
      f"{djs_dtheta.item():+.2e}")

# %% tags=["check"]
exercises.expect_close("the gradient of the transport cost is sign θ", dw_dtheta.item(), 1.0, rtol=0.01)
exercises.expect_true("the JS estimate gives θ (almost) no gradient: 100 times less than W₁'s",
                      abs(djs_dtheta.item()) < 0.01 * abs(dw_dtheta.item()))

# %% [markdown]
# ### Exercise 1 — the Jensen–Shannon divergence of two histograms
# Write `js_divergence(p, q)` for two discrete distributions (probability vectors of the same length, entries
# ≥ 0 summing to 1), in nats. Bins where one of them is 0 must not produce NaN: what is $0 \ln 0$?

# %%
def js_divergence(p, q):
    """JS(p, q) in nats for probability vectors p, q of shape (K,) → a 0-dim tensor."""
    ### BEGIN SOLUTION
    m = (p + q) / 2

    def kl_to_m(a):
        terms = torch.where(a > 0, a * (torch.log(a) - torch.log(m)), torch.zeros_like(a))   # 0 ln 0 = 0
        return terms.sum()

    return 0.5 * kl_to_m(p) + 0.5 * kl_to_m(q)
    ### END SOLUTION


# %% tags=["check"]
dirichlet = torch.distributions.Dirichlet(torch.ones(12, dtype=torch.float64))
torch.manual_seed(3)
for _ in range(3):
    p_check, q_check = dirichlet.sample(), dirichlet.sample()
    exercises.expect_close("JS of two random histograms (reference: scipy's jensenshannon, squared)",
                           exercises.call(1, js_divergence, p_check, q_check),
                           scipy.spatial.distance.jensenshannon(p_check.numpy(), q_check.numpy()) ** 2,
                           exercise=1, rtol=1e-8)
disjoint_p = torch.tensor([0.5, 0.5, 0.0, 0.0], dtype=torch.float64)
disjoint_q = torch.tensor([0.0, 0.0, 0.25, 0.75], dtype=torch.float64)
exercises.expect_close("disjoint supports: JS = ln 2, with no NaN from the empty bins",
                       exercises.call(1, js_divergence, disjoint_p, disjoint_q), math.log(2), exercise=1, rtol=1e-10)
exercises.expect_close("JS(p, p) = 0, empty bins included", exercises.call(1, js_divergence, disjoint_q, disjoint_q),
                       0.0, exercise=1, rtol=0, atol=1e-12)
partial_overlap_p = torch.tensor([0.5, 0.5, 0.0], dtype=torch.float64)
partial_overlap_q = torch.tensor([0.0, 0.5, 0.5], dtype=torch.float64)
exercises.expect_close("half the mass shared: JS = ln 2 / 2 (and symmetric)",
                       torch.stack([exercises.call(1, js_divergence, partial_overlap_p, partial_overlap_q),
                                    exercises.call(1, js_divergence, partial_overlap_q, partial_overlap_p)]),
                       torch.full((2,), math.log(2) / 2, dtype=torch.float64), exercise=1, rtol=1e-10)

# %% [markdown]
# Histograms make the discontinuity visible with samples alone. Bin both samples on the same grid of cells
# of width $h$ and compute the JS of the two histograms as θ moves (with scipy's `jensenshannon`, the reference
# of the check above): JS jumps to $\ln 2$ as soon as the two segments fall in different columns of cells.

# %%
def histogram_js(theta, width, n=4000, seed=0):
    """JS (nats) of the 2D histograms, cells of side ``width``, of n samples of P₀ and of P_θ."""
    sampler = torch.Generator().manual_seed(seed)
    edges = np.arange(-1.5, 1.5 + width, width)
    counts = [np.histogram2d(*data.parallel_lines(n, t, sampler).numpy().T, bins=[edges, np.linspace(0, 1, 11)])[0]
              for t in (0.0, theta)]
    return scipy.spatial.distance.jensenshannon(counts[0].ravel(), counts[1].ravel()) ** 2   # it normalises the counts


thetas_dense = np.linspace(-0.6, 0.6, 121)
fig, ax = plt.subplots(figsize=(7, 3))
for width, colour in ((0.05, "C0"), (0.2, "C1")):
    ax.plot(thetas_dense, [histogram_js(t, width) for t in thetas_dense], color=colour, label=f"histogram JS, cells of {width}")
ax.plot(thetas_dense, np.abs(thetas_dense), "C3", label="W₁ = |θ|")
ax.axhline(math.log(2), color="k", lw=0.5, ls="--")
ax.set(xlabel="θ", ylabel="nats", title="JS from histograms: a step, whatever the cell size")
ax.legend(fontsize=8)
plt.show()
histogram_js_values = np.array([histogram_js(t, 0.05) for t in (0.1, 0.3, 0.6)])
print("histogram JS (cells of 0.05) at θ = 0.1, 0.3, 0.6:", np.round(histogram_js_values, 4))

# %% tags=["check"]
exercises.expect_true("once the segments are in different cells, the histogram JS is ln 2 whatever θ",
                      bool(np.allclose(histogram_js_values, math.log(2), atol=1e-9)))

# %% [markdown]
# Smoothing both distributions (adding the same Gaussian noise to both, or a discriminator kept from being
# sure) makes JS continuous again, at the price of a biased divergence; wider cells only widen the step's
# middle. The Wasserstein distance needs no smoothing.
#
# ## 2. A one-parameter generator: GAN against WGAN
#
# Train the segment itself. The generator is $G_\theta(z) = (\theta, \Phi(z))$, $z \sim \mathcal N(0, 1)$
# ($\Phi$ the normal CDF, so $\Phi(z)$ is uniform on $[0, 1]$: `SegmentGenerator`), started at $\theta_0 = 1$; the data
# are the segment at 0. With the GAN losses the discriminator soon separates the two segments perfectly: JS,
# the divergence behind the game, is then at $\ln 2$ and flat (we will see that one of the two GAN losses
# still moves, and why).
#
# **The Wasserstein GAN** (Arjovsky et al., 2017) uses the dual form of $W_1$ instead (§3):
#
# $$ W_1(P_{\text{data}}, P_G) = \frac1k \max_{\|D\|_L \le k} \Big( \mathbb E_{\mathbf x \sim P_{\text{data}}}[D(\mathbf x)]
#    - \mathbb E_{\mathbf z}[D(G(\mathbf z))] \Big), $$
#
# the maximum over $k$-Lipschitz functions $D$, those with $|D(\mathbf x) - D(\mathbf y)| \le k \|\mathbf x - \mathbf y\|$
# ($\|D\|_L$ is the smallest such $k$). $D$ is a **critic**: it scores, it does not classify. Compared with the
# GAN, the log-sigmoid is gone: $D$ outputs a real score, and the losses are differences of means.
#
# ### Exercise 2 — the WGAN losses
# Write `wgan_losses(real_scores, fake_scores)`: the critic's loss (what the critic *minimises* to approach the
# dual's maximum) and the generator's loss (what $G$ minimises), from the critic's scores on a minibatch of real
# examples (B,) and of generated ones (B',). The Lipschitz constraint is not part of it (§4).

# %%
def wgan_losses(real_scores, fake_scores):
    """(critic loss, generator loss), both 0-dim tensors, from scores (B,) and (B',)."""
    ### BEGIN SOLUTION
    critic_loss = fake_scores.mean() - real_scores.mean()
    generator_loss = -fake_scores.mean()
    return critic_loss, generator_loss
    ### END SOLUTION


# %% tags=["check"]
torch.manual_seed(4)
real_points = torch.randn(400, 2, dtype=torch.float64) + torch.tensor([2.0, 1.0], dtype=torch.float64)
fake_points = torch.randn(300, 2, dtype=torch.float64)
angles = torch.linspace(0, 2 * math.pi, 721, dtype=torch.float64)[:-1]
directions = torch.stack([torch.cos(angles), torch.sin(angles)], 1)
critic_losses = torch.stack([exercises.call(2, wgan_losses, real_points @ w, fake_points @ w)[0] for w in directions])
best = directions[critic_losses.argmin()]
mean_gap = real_points.mean(0) - fake_points.mean(0)
exercises.expect_close("over the 1-Lipschitz linear critics f(x) = wᵀx, ‖w‖ = 1, the critic's loss is least "
                       "at w along E x_real − E x_fake, where it equals −‖E x_real − E x_fake‖",
                       torch.stack([best @ mean_gap / mean_gap.norm(), critic_losses.min()]),
                       torch.stack([torch.tensor(1.0, dtype=torch.float64), -mean_gap.norm()]), exercise=2, rtol=1e-4)
fakes = fake_points.clone().requires_grad_(True)
w_check = torch.tensor([0.6, 0.8], dtype=torch.float64)
generator_loss_check = exercises.call(2, wgan_losses, real_points @ w_check, fakes @ w_check)[1]
step, = torch.autograd.grad(generator_loss_check, fakes)
exercises.expect_close("the generator's loss moves every fake towards higher scores: its gradient is −w/B' per fake",
                       step, (-w_check / len(fakes)).expand(len(fakes), 2), exercise=2, rtol=1e-8)
exercises.expect_close("the generator's loss does not depend on the real scores",
                       exercises.call(2, wgan_losses, 5 + real_points @ w_check, fake_points @ w_check)[1],
                       exercises.call(2, wgan_losses, real_points @ w_check, fake_points @ w_check)[1], exercise=2)
big = torch.tensor([30.0, 40.0], dtype=torch.float64)
exercises.expect_close("no log-sigmoid: losses scale with the scores (doubling them doubles both losses)",
                       torch.stack(exercises.call(2, wgan_losses, 2 * big, -2 * big)),
                       2 * torch.stack(exercises.call(2, wgan_losses, big, -big)), exercise=2, rtol=1e-10)

# %% [markdown]
# Now the two games on the segment. Each runs 300 generator steps with 5 discriminator (or critic) steps per
# generator step, Adam, learning rates falling linearly to 0 (`fit_adversarial(..., lr_decay=True)`):
# * **GAN (minimax)**, the game of chapter 06's theory: $G$ minimises $\mathbb E \ln(1 - D(G(z)))$;
# * **GAN (non-saturating)**, $G$ minimises $-\mathbb E \ln D(G(z))$;
# * **WGAN-GP**: the critic with a gradient penalty (§4, weight λ = 10), the losses of Exercise 2.
#
# The trajectory of θ is read off the snapshots (the first coordinate of any generated point).

# %%
line_data = data.parallel_lines(4000, 0.0, torch.Generator().manual_seed(0))
segment_games = {"GAN (minimax)": dict(loss="minimax"), "GAN (non-saturating)": dict(loss="non_saturating"),
                 "WGAN-GP": dict(loss="wasserstein", gradient_penalty=10.0)}


def segment_run(k, game):
    """Game number ``k`` on the segment, from θ = 1; its history (one generated point every 10 steps)."""
    torch.manual_seed(0)
    segment_gan = GAN(SegmentGenerator(theta=1.0), MLPDiscriminator(hidden=64), **game)
    return fit_adversarial(segment_gan, line_data, steps=300, batch_size=128, lr_generator=1e-2,
                           lr_discriminator=1e-3, betas=(0.5, 0.9), discriminator_steps=5, lr_decay=True,
                           snapshot_every=10, snapshot_size=1, progress=False,
                           checkpoint=cache_dir() / f"ch07_segment_{k}.pt")


# Three independent runs of tiny networks: side_by_side trains them at the same time, one per core.
segment_histories = side_by_side(segment_run, list(enumerate(segment_games.values())))
trajectories = {name: (history.snapshot_steps, [snapshot[0, 0].item() for snapshot in history.snapshots])
                for name, history in zip(segment_games, segment_histories)}

fig, ax = plt.subplots(figsize=(7, 3))
for name, (steps_taken, theta_path) in trajectories.items():
    ax.plot(steps_taken, theta_path, label=name)
ax.axhline(0, color="k", lw=0.5)
ax.set(xlabel="generator step", ylabel="θ", title="the segment's position during training (data at θ = 0)")
ax.legend(fontsize=8)
plt.show()
final_theta = {name: theta_path[-1] for name, (_, theta_path) in trajectories.items()}
for name, theta in final_theta.items():
    print(f"{name:22s} θ after 300 steps: {theta:+.4f}")

# %% tags=["check"]
exercises.expect_true("the WGAN brings the segment home (|θ| < 0.05) while the minimax GAN stalls above 0.5",
                      abs(final_theta["WGAN-GP"]) < 0.05 and final_theta["GAN (minimax)"] > 0.5)
exercises.expect_true("the non-saturating GAN gets home too (|θ| < 0.1)", abs(final_theta["GAN (non-saturating)"]) < 0.1)

# %% [markdown]
# The minimax GAN moves a little while its discriminator is still unsure, then stops: once $D(G(z)) \approx 0$
# the gradient of $\ln(1 - D(G(z)))$ vanishes (chapter 06, §2), and the divergence behind it, JS, is flat
# anyway. The WGAN critic is asked for slope 1 between the segments (by the penalty, §4), so the generator is
# told "towards the data" at the same rate whatever θ, and θ goes to 0.
#
# The non-saturating GAN gets home too. That is not the JS divergence at work — JS has no gradient here —
# but the discriminator's **inductive bias**: a smooth MLP's logit keeps a slope between the two segments, and
# $-\ln D$ does not saturate, so $G$ climbs the logit towards the data. Nothing in the GAN's theory promises that
# slope; the WGAN's critic is *asked* for it, by the Lipschitz constraint and the dual.
#
# ## 3. Kantorovich–Rubinstein duality, in 1D
#
# The transport problem has a dual (Kantorovich–Rubinstein):
#
# $$ W_1(P, Q) = \inf_{\gamma \in \Gamma(P, Q)} \mathbb E_\gamma \|\mathbf x - \mathbf y\|
#    = \sup_{\|f\|_L \le 1}\ \mathbb E_P f(\mathbf x) - \mathbb E_Q f(\mathbf y). $$
#
# One direction is easy: for any coupling and any 1-Lipschitz $f$,
# $\mathbb E_P f - \mathbb E_Q f = \mathbb E_\gamma[f(\mathbf x) - f(\mathbf y)] \le \mathbb E_\gamma \|\mathbf x - \mathbf y\|$,
# so every critic's value is a lower bound on every plan's cost; the theorem says the best of each meet.
# Scaling $f$ by $k$ gives the WGAN's $\frac1k \max_{\|D\|_L \le k}$.
#
# In 1D both sides can be written down. The cheapest plan is **monotone**: the $i$-th smallest point of $P$
# goes to the $i$-th smallest of $Q$ (crossing paths can always be uncrossed without extra cost), so
# $W_1 = \int_0^1 |F_P^{-1}(t) - F_Q^{-1}(t)|\,dt = \int |F_P(x) - F_Q(x)|\,dx$. An optimal critic has slope
# $f^{*\prime}(x) = \operatorname{sign}(F_Q(x) - F_P(x))$: it climbs at the maximal slope wherever $Q$ has
# accumulated more mass than $P$ (so more of $P$ lies further right), and falls where $P$ has.
#
# ### Exercise 3 — W₁ in 1D by sorting
# Write `wasserstein_1d(x, y)`: the exact $W_1$ between the empirical distributions of two 1D samples of
# equal size (N,).

# %%
def wasserstein_1d(x, y):
    """W₁ between the empirical distributions of x (N,) and y (N,) → a float."""
    ### BEGIN SOLUTION
    return (torch.sort(x).values - torch.sort(y).values).abs().mean().item()
    ### END SOLUTION


# %% tags=["check"]
sampler_check = torch.Generator().manual_seed(5)
x_check = torch.randn(500, generator=sampler_check, dtype=torch.float64)
y_check = torch.empty(500, dtype=torch.float64).exponential_(generator=sampler_check) * 3 - 2.5
exercises.expect_close("W₁ of a normal and a shifted exponential sample, whose CDFs cross "
                       "(reference: scipy.stats.wasserstein_distance)",
                       exercises.call(3, wasserstein_1d, x_check, y_check),
                       scipy.stats.wasserstein_distance(x_check.numpy(), y_check.numpy()), exercise=3, rtol=1e-8)
exercises.expect_close("a translation by c costs |c| (and W₁ is symmetric)",
                       [exercises.call(3, wasserstein_1d, x_check, x_check.flip(0) - 0.7),
                        exercises.call(3, wasserstein_1d, x_check.flip(0) - 0.7, x_check)], [0.7, 0.7],
                       exercise=3, rtol=1e-10)
exercises.expect_close("two-point samples: {0, 1} against {0.6, 0.4} costs (0.4 + 0.4)/2, though the means agree",
                       exercises.call(3, wasserstein_1d, torch.tensor([1.0, 0.0], dtype=torch.float64),
                                      torch.tensor([0.6, 0.4], dtype=torch.float64)), 0.4, exercise=3, rtol=1e-12)

# %% [markdown]
# Now the duality on a 1D pair: $P$ chapter 06's two-Gaussian mixture, $Q = \mathcal N(1, 0.6^2)$. Three values of
# $W_1$ that must agree: the integral $\int |F_P - F_Q|$ by quadrature, sorting 5 000 samples of each
# (`divergences.wasserstein_1d`), and a critic trained on the same samples with the gradient penalty
# (`divergences.critic_wasserstein`, the dual side). Training a critic is not a convex problem (more below):
# where it ends depends on its initial weights, which its `seed` draws. So four critics start from four seeds,
# and the one with the largest dual value is kept. It is compared with the optimal critic,
# $f^*(x) = \int_0^x \operatorname{sign}(F_Q - F_P)$, up to a constant (the dual value ignores constants).

# %%
mixture_1d = torch.distributions.MixtureSameFamily(torch.distributions.Categorical(torch.tensor([0.5, 0.5])),
                                                   torch.distributions.Normal(torch.tensor([-1.5, 1.5]), 0.5))
normal_1d = torch.distributions.Normal(1.0, 0.6)
torch.manual_seed(6)
p_1d, q_1d = mixture_1d.sample((5000,)), normal_1d.sample((5000,))
x_axis = torch.linspace(-6, 6, 24001, dtype=torch.float64)
cdf_gap = (mixture_1d.cdf(x_axis.float()) - normal_1d.cdf(x_axis.float())).double()
w1_quadrature = torch.trapezoid(cdf_gap.abs(), x_axis).item()
w1_sorted = divergences.wasserstein_1d(p_1d, q_1d)


def critic_1d_from(p, q, name, seed):
    """The gradient-penalty critic of 1-D samples p against q (N,), trained from the initial weights that
    ``seed`` draws (checkpoint ch07_<name>_seed<seed>)."""
    return divergences.critic_wasserstein(p[:, None], q[:, None], penalty=30.0, steps=1000, seed=seed,
                                          checkpoint=cache_dir() / f"ch07_{name}_seed{seed}.pt")


critic_seeds = [0, 1, 2, 3]
critics_1d = side_by_side(critic_1d_from, [(p_1d, q_1d, "critic_1d", seed) for seed in critic_seeds])   # at once
critic_1d = max(critics_1d, key=lambda fitted: fitted.estimate)
critic_1d_seed = critic_seeds[critics_1d.index(critic_1d)]
print("dual values of the critics from seeds " + ", ".join(f"{seed}: {fitted.estimate:+.4f}"
                                                           for seed, fitted in zip(critic_seeds, critics_1d))
      + f"; kept: seed {critic_1d_seed}")
optimal_critic = torch.cumulative_trapezoid(torch.sign(-cdf_gap), x_axis, dim=0)
optimal_critic = torch.cat([torch.zeros(1, dtype=torch.float64), optimal_critic])
optimal_critic = optimal_critic - optimal_critic[len(x_axis) // 2]            # f*(0) = 0
with torch.no_grad():
    trained_critic = critic_1d.network(x_axis.float()[:, None]).double()
trained_critic = trained_critic - trained_critic[len(x_axis) // 2]
print(f"W₁: quadrature {w1_quadrature:.4f}   sorting {w1_sorted:.4f}   trained critic (dual) {critic_1d.estimate:.4f}")

fig, (ax_density, ax_critic, ax_coupling) = plt.subplots(1, 3, figsize=(13, 3.2))
ax_density.plot(x_axis, mixture_1d.log_prob(x_axis.float()).exp(), "k", label="P (mixture)")
ax_density.plot(x_axis, normal_1d.log_prob(x_axis.float()).exp(), "C1", label="Q = N(1, 0.6²)")
ax_density.set(title="the two distributions", xlim=(-4, 4))
ax_density.legend(fontsize=8)
ax_critic.plot(x_axis, optimal_critic, "C2--", lw=2, label="optimal critic f*")
ax_critic.plot(x_axis, trained_critic, "C0", label="trained critic (GP)")
ax_critic.set(title="critics, f(0) = 0", xlim=(-4, 4), ylim=(-2.5, 2.5))
ax_critic.legend(fontsize=8)
few_p, few_q = torch.sort(p_1d[:30]).values, torch.sort(q_1d[:30]).values
for a, b in zip(few_p, few_q):
    ax_coupling.plot([a, b], [1, 0], color="0.6", lw=0.8)
ax_coupling.plot(few_p, torch.ones(30), "ko", ms=3)
ax_coupling.plot(few_q, torch.zeros(30), "o", color="C1", ms=3)
ax_coupling.set(title="monotone coupling of 30 + 30 samples", yticks=[0, 1], yticklabels=["Q", "P"], xlim=(-4, 4))
plt.tight_layout()
plt.show()
# f* is unique only where the CDFs differ (elsewhere no mass moves and any slope will do); it turns where
# they cross. Compare left of the crossing, and see whether the trained critic turns too.
crossing = x_axis[(x_axis > 0) & (cdf_gap < 0)][0].item()
window = (cdf_gap.abs() > 0.01) & (x_axis < crossing)
critic_gap = (trained_critic - optimal_critic)[window].abs().max().item()
value_of_optimal = (np.interp(p_1d, x_axis, optimal_critic).mean() - np.interp(q_1d, x_axis, optimal_critic).mean()).item()
beyond = (x_axis > crossing + 0.2) & (x_axis < crossing + 1.0)
slope_beyond = ((trained_critic[beyond][-1] - trained_critic[beyond][0]) / 0.8).item()
print(f"the CDFs cross at x = {crossing:.2f}; left of it, largest |f − f*| = {critic_gap:.3f}")
print(f"slope of the trained critic just beyond the crossing: {slope_beyond:+.2f} (f*: +1)")
print(f"dual value of f* on the samples {value_of_optimal:.4f}, of the trained critic {critic_1d.estimate:.4f}")

# %% tags=["check"]
exercises.expect_close("sorting 5 000 samples gives the quadrature's W₁ within 3 %", w1_sorted, w1_quadrature, rtol=0.03)
exercises.expect_close("the best critic's dual value gives W₁ within 5 %", critic_1d.estimate, w1_quadrature, rtol=0.05)
exercises.expect_true("where training ends depends on the start: some seed's critic stays below half the best value",
                      min(fitted.estimate for fitted in critics_1d) < 0.5 * critic_1d.estimate)
exercises.expect_true("left of the crossing the trained critic follows f* within 0.2", critic_gap < 0.2)
exercises.expect_close("f* attains W₁ on the samples (the value of the dual at its optimum)", value_of_optimal,
                       w1_sorted, rtol=0.01)
exercises.expect_true("this critic stays straight past the crossing (slope < 0) and still gets within 5 % of f*'s value",
                      slope_beyond < 0 and critic_1d.estimate > 0.95 * value_of_optimal)

# %% [markdown]
# **A warning: the penalised problem is not convex in the weights.** Replace $Q$ by $\mathcal N(0, 1.2^2)$, which
# has the same mean as $P$. A linear critic $f(x) = \pm x$ then satisfies the penalty everywhere and has value 0;
# the optimal critic is V-shaped near the centre, and to bend a line into a V the slope must pass through 0 on
# one side, which the penalty resists. Training can stay on that ridge; from the same four seeds:

# %%
torch.manual_seed(6)
p_sym, q_sym = mixture_1d.sample((5000,)), torch.distributions.Normal(0.0, 1.2).sample((5000,))
w1_sym = divergences.wasserstein_1d(p_sym, q_sym)
symmetric_critics = side_by_side(critic_1d_from, [(p_sym, q_sym, "critic_1d_symmetric", seed) for seed in critic_seeds])
symmetric_slopes = [divergences.lipschitz_estimate(fitted.network, torch.cat([p_sym, q_sym])[:, None])
                    for fitted in symmetric_critics]
print(f"P against N(0, 1.2²): W₁ by sorting {w1_sym:.4f}; the critics' values (largest slope) from seeds "
      + ", ".join(f"{seed}: {fitted.estimate:.4f} ({slope:.2f})"
                  for seed, fitted, slope in zip(critic_seeds, symmetric_critics, symmetric_slopes)))

# %% tags=["check"]
exercises.expect_true("from some seed the critic stays below half of W₁ with its slope under 1.2 (a local optimum, "
                      "not a bound problem)", any(fitted.estimate < 0.5 * w1_sym and slope < 1.2
                                                  for fitted, slope in zip(symmetric_critics, symmetric_slopes)))
exercises.expect_true("and the best of the four starts gets within 10 % of W₁",
                      max(fitted.estimate for fitted in symmetric_critics) > 0.9 * w1_sym)

# %% [markdown]
# A stuck critic whose slope stays near 1 still gives about a lower bound, just a useless one. In a
# WGAN the critic is retrained a few steps at a time while the generator moves, which may shake it off such
# ridges; when an estimate matters, do as here: train several critics from different seeds and keep the
# largest value (each is about a lower bound on W₁).

# %% [markdown]
# Where $F_P > F_Q$ the optimal critic falls, where $F_P < F_Q$ it climbs, at slope 1 — the mass of $P$ sits
# high, the mass of $Q$ low, and the value $\mathbb E_P f - \mathbb E_Q f$ is as large as a 1-Lipschitz function
# allows. Where the two CDFs cross, $f^*$ turns; where they agree (the far tails) no mass moves and its slope is
# arbitrary. The slope printed above shows that this trained critic did not find the turn: it stays straight
# past the crossing. The values show what that costs: the mass that $f^*$ climbs over beyond the crossing (the
# part of $P$'s right component that lies beyond $Q$) is small, so the straight critic loses little of the
# value. In more than one dimension neither side has such a formula, but
# `divergences.empirical_wasserstein` still solves the primal exactly for two samples of equal size: with
# weights $1/N$ the couplings form the set of doubly stochastic matrices (divided by $N$), whose corners are
# the permutations (Birkhoff's theorem); a linear cost is least at a corner, so an optimal plan is a
# permutation, an assignment problem. `empirical_wasserstein` solves it with the network simplex of POT, the
# Python Optimal Transport library (`ot.emd`, which returns such a corner), and falls back to the Hungarian
# algorithm (`scipy.optimize.linear_sum_assignment`, $O(N^3)$) should the simplex not return a permutation —
# that is what drew the coupling lines in §1.
#
# ## 4. Lipschitz constraints compared
#
# The dual needs $\|D\|_L \le 1$, and a neural network has no such constraint built in. Three ways to add it:
# * **weight clipping** (Arjovsky et al., 2017): after every step, clamp every weight to $[-c, c]$. The
#   critic is then $K$-Lipschitz for some $K$ that depends on $c$ and on the architecture, which the WGAN
#   absorbs in the $\frac1k$ (take $k = K$). But the set of clipped networks is a poor one: to make the most of
#   the box, the weights pile up at $\pm c$, and the critic can only draw simple functions (Gulrajani et al.,
#   2017); Miyato et al. add that clipping favours low-rank weight matrices, which use few directions of the input;
# * **gradient penalty** (WGAN-GP, Gulrajani et al., 2017): an optimal critic has gradient norm 1 on the lines
#   joining coupled points, so add $\lambda\, \mathbb E_{\hat{\mathbf x}} (\|\nabla D(\hat{\mathbf x})\| - 1)^2$ at random
#   interpolates $\hat{\mathbf x} = \epsilon \mathbf x + (1 - \epsilon) \tilde{\mathbf x}$, $\epsilon \sim U[0, 1]$, between
#   real and generated examples. A soft constraint, enforced only where it is sampled;
# * **spectral normalization** (Miyato et al., 2018; chapter 06, §5): divide each layer's weight by its
#   largest singular value σ, so every layer is 1-Lipschitz, and with 1-Lipschitz activations (ReLU, LeakyReLU)
#   so is the network. σ comes from power iteration, one step per training step from the previous vector
#   ($\tilde v = W^\top u/\|W^\top u\|$, $\tilde u = W\tilde v/\|W\tilde v\|$, $\sigma \approx \tilde u^\top W \tilde v$), so it
#   lags a little behind the true σ; and the product of the layers' bounds is loose, so the network's slope
#   where the data are is often well below it.
#
# The WGAN-GP paper measured why the penalty won: with the same architectures, DCGAN, LSGAN and WGAN with
# clipping failed on several variants (no batch normalization, tanh nonlinearities, an MLP generator, a
# 101-layer ResNet), where WGAN-GP still trained (the robustness table of the deck). Here we compare the
# three constraints on small problems where everything can be measured.
#
# ### Exercise 4 — the gradient penalty
# Write `gradient_penalty(critic, real, fake, eps)`: $\mathbb E (\|\nabla_{\hat{\mathbf x}} D(\hat{\mathbf x})\| - 1)^2$ at
# $\hat{\mathbf x}_i = \epsilon_i \mathbf x_i + (1 - \epsilon_i) \tilde{\mathbf x}_i$, for batches of any shape (vectors
# (B, D) or images (B, C, H, W)), with the mixing weights `eps` (B,) given. The penalty is added to the critic's
# loss, so the optimiser must be able to differentiate it with respect to the critic's weights.

# %%
def gradient_penalty(critic, real, fake, eps):
    """The WGAN-GP penalty (a 0-dim tensor) for critic: (B, …) → (B,), real and fake (B, …), eps (B,)."""
    ### BEGIN SOLUTION
    shape = (len(real),) + (1,) * (real.dim() - 1)
    mixed = (eps.reshape(shape) * real + (1 - eps.reshape(shape)) * fake).requires_grad_(True)
    gradient, = torch.autograd.grad(critic(mixed).sum(), mixed, create_graph=True)
    return ((gradient.reshape(len(mixed), -1).norm(dim=1) - 1) ** 2).mean()
    ### END SOLUTION


# %% tags=["check"]
torch.manual_seed(7)
linear_critic = torch.nn.Linear(3, 1, dtype=torch.float64)
real_vectors, fake_vectors = torch.randn(16, 3, dtype=torch.float64), torch.randn(16, 3, dtype=torch.float64)
eps_check = torch.rand(16, dtype=torch.float64)
exercises.expect_close("a linear critic wᵀx + b has gradient w everywhere: the penalty is (‖w‖ − 1)²",
                       exercises.call(4, gradient_penalty, lambda x: linear_critic(x)[:, 0], real_vectors,
                                      fake_vectors, eps_check),
                       (linear_critic.weight.norm() - 1) ** 2, exercise=4, rtol=1e-10)
image_critic = torch.nn.Sequential(torch.nn.Conv2d(1, 3, 3, padding=1), torch.nn.Tanh(), torch.nn.Flatten(),
                                   torch.nn.Linear(3 * 4 * 4, 1)).double()
real_images, fake_images = torch.randn(8, 1, 4, 4, dtype=torch.float64), torch.randn(8, 1, 4, 4, dtype=torch.float64)
eps_images = torch.rand(8, dtype=torch.float64)


def penalty_one_by_one(critic, real, fake, eps):
    """The penalty computed one example at a time (an independent reference), differentiable."""
    terms = []
    for x, y, e in zip(real, fake, eps):
        point = (e * x + (1 - e) * y)[None].requires_grad_(True)
        gradient, = torch.autograd.grad(critic(point).sum(), point, create_graph=True)
        terms.append((gradient.norm() - 1) ** 2)
    return torch.stack(terms).mean()


def image_score(x):
    return image_critic(x)[:, 0]


expected_penalty = penalty_one_by_one(image_score, real_images, fake_images, eps_images)
weights_reached = list(image_critic.parameters())[:-1]     # the last bias shifts D, not its gradient
expected_gradient = torch.autograd.grad(expected_penalty, weights_reached)
student_penalty = exercises.call(4, gradient_penalty, image_score, real_images, fake_images, eps_images)
exercises.expect_close("images (B, 1, 4, 4): one gradient norm per image, at the interpolates", student_penalty,
                       expected_penalty, exercise=4, rtol=1e-8)
exercises.expect_true("the penalty can be differentiated with respect to the critic's weights (create_graph)",
                      isinstance(student_penalty, torch.Tensor) and student_penalty.requires_grad, exercise=4)
exercises.expect_close("... and its gradient is right", torch.cat([g.flatten() for g in torch.autograd.grad(
    student_penalty, weights_reached)]), torch.cat([g.flatten() for g in expected_gradient]),
    exercise=4, rtol=1e-6)
shallow = torch.nn.Linear(3, 1, bias=False, dtype=torch.float64)
with torch.no_grad():
    shallow.weight.copy_(torch.tensor([[0.3, 0.0, 0.4]], dtype=torch.float64))
exercises.expect_close("slopes below 1 are penalised too (two-sided): ‖w‖ = 0.5 gives 0.25",
                       exercises.call(4, gradient_penalty, lambda x: shallow(x)[:, 0], real_vectors,
                                      fake_vectors, eps_check), 0.25, exercise=4, rtol=1e-10)

# %% [markdown]
# The library's `gradient_penalty` (used by the `GAN` class when `gradient_penalty=λ`) is the same computation
# with ε drawn inside. The penalty is soft, and that has a price one can compute: on the parallel lines at
# θ = 1, a critic of slope $s$ between the segments has value $s\,\theta$ and penalty $\lambda (s - 1)^2$, so the
# best trade-off is $s = 1 + \theta/(2\lambda)$ and the estimate is $\theta(1 + \theta/(2\lambda))$, not θ:

# %%
lines_p, lines_q = data.parallel_lines(2000, 0.0, line_sampler), data.parallel_lines(2000, 1.0, line_sampler)


def lines_critic(penalty):
    """The GP critic's estimate of W₁ between the lines at θ = 0 and θ = 1, with penalty weight ``penalty``."""
    return divergences.critic_wasserstein(lines_p, lines_q, penalty=penalty, steps=500, seed=0,
                                          checkpoint=cache_dir() / f"ch07_lines_gp{penalty:g}_seeded.pt").estimate


penalties = (10.0, 30.0)
soft_estimates = dict(zip(penalties, side_by_side(lines_critic, [(penalty,) for penalty in penalties])))   # at once
for penalty, estimate in soft_estimates.items():
    print(f"λ = {penalty:g}: critic's estimate {estimate:.4f}, predicted 1 + 1/(2λ) = {1 + 1 / (2 * penalty):.4f}"
          f"  (W₁ = 1)")

# %% tags=["check"]
exercises.expect_true("the GP critic overestimates W₁ = 1 by about 1/(2λ) (within 0.02) for λ = 10 and 30",
                      all(abs(value - (1 + 1 / (2 * penalty))) < 0.02 for penalty, value in soft_estimates.items()))

# %% [markdown]
# **Three critics, two toys.** Each critic is trained alone to estimate $W_1$ between a fixed pair of
# distributions — the ring of 8 Gaussians against $\mathcal N(\mathbf 0, \mathbf I)$, and the Swiss roll against
# $\mathcal N(\mathbf 0, \mathbf I)$, 2 000 samples each — with the same network (3 hidden layers of 64) and optimiser,
# and compared with the exact $W_1$ of the samples by optimal transport. The measured Lipschitz constant is the
# largest gradient norm over the samples (`divergences.lipschitz_estimate`: a lower bound on the true constant).

# %%
ring_centres = data.ring_centres(8, 2.0)
toy_sampler = torch.Generator().manual_seed(8)
toy_pairs = {"8 Gaussians": (data.gaussian_mixture(2000, ring_centres, 0.05, toy_sampler),
                             torch.randn(2000, 2, generator=toy_sampler)),
             "Swiss roll": (data.swiss_roll(2000, generator=toy_sampler), torch.randn(2000, 2, generator=toy_sampler))}
clip_value = 0.01
constraints = ("clip", "gradient_penalty", "spectral")


def toy_critic(t, c):
    """The critic of pair number t under constraint number c (trained once: then read from its checkpoint)."""
    toy_p, toy_q = list(toy_pairs.values())[t]
    return divergences.critic_wasserstein(toy_p, toy_q, constraint=constraints[c], clip=clip_value, steps=600,
                                          seed=0, checkpoint=cache_dir() / f"ch07_critic_{t}{c}_seeded.pt")


def train_toy_critic(t, c) -> float:
    """Trains the critic (its checkpoint) and returns its estimate only: a spectrally normalised network cannot
    be pickled back from a worker process, so the loop below reads every critic from its checkpoint."""
    return toy_critic(t, c).estimate


side_by_side(train_toy_critic, [(t, c) for t in range(len(toy_pairs)) for c in range(3)])   # six independent runs
critics, rows = {}, []
for t, (toy, (toy_p, toy_q)) in enumerate(toy_pairs.items()):
    w1_exact = divergences.empirical_wasserstein(toy_p, toy_q).distance.item()
    for c, constraint in enumerate(constraints):
        fitted = toy_critic(t, c)
        lipschitz = divergences.lipschitz_estimate(fitted.network, torch.cat([toy_p, toy_q]))
        critics[toy, constraint] = fitted
        rows.append((toy, constraint, w1_exact, fitted.estimate, lipschitz))
# the certificate of the spectrally normalised critics: the product of their layers' exact spectral norms
# (LeakyReLU has slope ≤ 1). In eval mode each layer is divided by the σ its power iteration reached, which
# lags behind the true σ when the top singular values are close, so the product is near 1, not exactly 1
certified = {toy: math.prod(torch.linalg.matrix_norm(layer.weight, ord=2).item()
                            for layer in critics[toy, "spectral"].network.modules() if isinstance(layer, torch.nn.Linear))
             for toy in toy_pairs}
print("spectral norm critics, product of the layers' norms:", {toy: round(bound, 4) for toy, bound in certified.items()})
display(Markdown("| pair | constraint | exact W₁ (OT) | critic's value | measured Lipschitz constant | value / constant |\n"
                 "|---|---|---|---|---|---|\n" + "\n".join(
                     f"| {toy} | {constraint} | {w1:.3f} | {value:.4g} | {lipschitz:.3g} | {value / lipschitz:.3f} |"
                     for toy, constraint, w1, value, lipschitz in rows)))
result = {(toy, constraint): (w1, value, lipschitz) for toy, constraint, w1, value, lipschitz in rows}

fig, axes = plt.subplots(2, 4, figsize=(14, 6.4))
grid_side = torch.linspace(-3.2, 3.2, 161)
grid_points = torch.cartesian_prod(grid_side, grid_side)
for row, (toy, (toy_p, toy_q)) in enumerate(toy_pairs.items()):
    for col, constraint in enumerate(constraints):
        with torch.no_grad():
            surface = critics[toy, constraint].network(grid_points).reshape(161, 161).T
        ax = axes[row, col]
        ax.contourf(grid_side, grid_side, surface, levels=20, cmap="viridis")
        ax.scatter(*toy_p[:300].T, s=1, color="w")
        ax.scatter(*toy_q[:300].T, s=1, color="r", alpha=0.5)
        ax.set(title=f"{toy}: {constraint}", xticks=[], yticks=[])
    clipped = torch.cat([w.detach().flatten() for w in critics[toy, "clip"].network.parameters()])
    axes[row, 3].hist(clipped.numpy(), bins=41, color="C4")
    axes[row, 3].set(title=f"clipped critic's weights (c = {clip_value})", xlabel="weight")
plt.tight_layout()
plt.show()
share_at_box = {toy: (torch.cat([w.detach().flatten() for w in critics[toy, "clip"].network.parameters()]).abs()
                      >= 0.99 * clip_value).double().mean().item() for toy in toy_pairs}
print("share of the clipped critics' weights at ±c:", {toy: round(share, 3) for toy, share in share_at_box.items()})

# %% tags=["check"]
exercises.expect_true("the GP critic's value is within 15 % of the exact W₁ on both pairs",
                      all(abs(result[toy, "gradient_penalty"][1] / result[toy, "gradient_penalty"][0] - 1) < 0.15
                          for toy in toy_pairs))
exercises.expect_true("spectral normalization: the measured constant stays below the product of the layers' norms, "
                      "and the value below W₁ and below GP's",
                      all(result[toy, "spectral"][2] <= certified[toy] + 1e-4
                          and result[toy, "spectral"][1] < result[toy, "spectral"][0]
                          and result[toy, "spectral"][1] < result[toy, "gradient_penalty"][1] for toy in toy_pairs))
exercises.expect_true("on the ring, the spectrally normalised critic's slope where the data are stays below 1",
                      result["8 Gaussians", "spectral"][2] < 1)
exercises.expect_true("clipping: over 90 % of the weights sit at the box, and even divided by its measured constant "
                      "the value falls short of W₁ by more than 30 %",
                      all(share_at_box[toy] > 0.9 and result[toy, "clip"][1] / result[toy, "clip"][2] < 0.7 * result[toy, "clip"][0]
                          for toy in toy_pairs))

# %% [markdown]
# The clipped critics' weights are almost all at $\pm c$ and their values are tiny; divided by their (measured)
# constant they still miss $W_1$ by a wide margin, and their surfaces are the simplest of the three — the
# capacity problem. The GP critics come closest to $W_1$; their surfaces rise over the data and fall over the
# Gaussian. The spectrally normalised critics are bounded by the product of their layers' norms (printed: near
# 1, not exactly 1, because power iteration's σ lags); their values stay well below $W_1$, and on the ring their
# slope where the data are stays below 1 as well.
#
# **Training WGANs.** Now with a generator (an MLP from a 2D latent code), on the 8 Gaussians and the Swiss roll.
# WGANs train their critic 5 steps per generator step; on these toys the gradient penalty is used with
# λ = 1 (the WGAN-GP authors' toy code used 0.1; images, below, use 10). Quality is measured directly: the
# exact $W_1$ between 512 generated points and 512 held-out data points, by optimal transport, at 11 snapshots.
# Next to it, the critic's own estimate of $W_1$ (minus its loss, averaged over the 30 steps before each
# snapshot; the training history keeps the gradient penalty apart, in `history.penalty`, so the loss here is
# the dual's term alone). A non-saturating GAN on the ring gives the comparison: its discriminator's loss.

# %%
def toy_run(toy, name, game, spectral=False, steps=600, seed=0):
    """Train an MLP GAN (critic: spectrally normalised if ``spectral``) on the 8 Gaussians or the Swiss roll;
    its history (snapshots of 512 points). ``name`` labels the cached run."""
    sampler = torch.Generator().manual_seed(seed)
    points = (data.gaussian_mixture(20000, ring_centres, 0.05, sampler) if toy == "8 Gaussians"
              else data.swiss_roll(20000, generator=sampler))
    torch.manual_seed(seed)
    gan = GAN(MLPGenerator(latent_dim=2, hidden=64), MLPDiscriminator(hidden=64, spectral=spectral), **game)
    tag = f"{toy}_{name}_{seed}".replace(" ", "_").replace(",", "")
    return fit_adversarial(gan, points, steps=steps, batch_size=256, lr_generator=1e-3, lr_discriminator=1e-3,
                           betas=(0.5, 0.9), discriminator_steps=1 if game["loss"] == "non_saturating" else 5,
                           lr_decay=True, snapshot_every=steps // 10, progress=False, seed=seed,
                           checkpoint=cache_dir() / f"ch07_toy_{tag}.pt")


held_out = {"8 Gaussians": data.gaussian_mixture(512, ring_centres, 0.05, torch.Generator().manual_seed(100)),
            "Swiss roll": data.swiss_roll(512, generator=torch.Generator().manual_seed(100))}


def loss_and_quality(history, reference, window=30):
    """(D's loss averaged over the ``window`` steps before each snapshot, OT W₁ of each snapshot to the
    ``reference`` sample), two arrays with one entry per snapshot; images are compared as flat vectors."""
    losses = np.array(history.discriminator_loss)
    averaged = [losses[max(0, s - window):max(1, s)].mean() for s in history.snapshot_steps]
    quality = [divergences.empirical_wasserstein(snapshot.flatten(1), reference.flatten(1)).distance.item()
               for snapshot in history.snapshots]
    return np.array(averaged), np.array(quality)


toy_games = [("8 Gaussians", "WGAN-GP", dict(loss="wasserstein", gradient_penalty=1.0), False),
             ("8 Gaussians", "WGAN, clipping", dict(loss="wasserstein", clip=clip_value), False),
             ("8 Gaussians", "WGAN, spectral norm", dict(loss="wasserstein"), True),
             ("8 Gaussians", "GAN (non-saturating)", dict(loss="non_saturating"), False),
             ("Swiss roll", "WGAN-GP", dict(loss="wasserstein", gradient_penalty=1.0), False)]
# Five independent runs of small networks, which use two CPU cores poorly: side_by_side trains them at the same
# time, one per core, and returns what toy_run returns, in order.
toy_runs = dict(zip([(toy, name) for toy, name, _, _ in toy_games], side_by_side(toy_run, [
    (toy, name, game, spectral) for toy, name, game, spectral in toy_games])))
fig, axes = plt.subplots(2, len(toy_runs), figsize=(3.2 * len(toy_runs), 6))
correlations = {}
toy_curves = {(toy, name): loss_and_quality(history, held_out[toy]) for (toy, name), history in toy_runs.items()}
for col, ((toy, name), history) in enumerate(toy_runs.items()):
    loss, quality = toy_curves[toy, name]
    shown = -loss if name.startswith("WGAN") else loss
    correlations[toy, name] = scipy.stats.spearmanr(shown[1:], quality[1:]).statistic
    final = history.snapshots[-1]
    axes[0, col].scatter(*held_out[toy].T, s=2, color="0.7")
    axes[0, col].scatter(*final.T, s=2, color="C0")
    axes[0, col].set(title=f"{toy}\n{name}", xlim=(-3, 3), ylim=(-3, 3), xticks=[], yticks=[])
    axes[1, col].plot(history.snapshot_steps, quality, "k-o", ms=3, label="OT W₁ to data")
    twin = axes[1, col].twinx()
    twin.plot(history.snapshot_steps, shown, "C3-s", ms=3, label="critic's W₁ estimate" if name.startswith("WGAN") else "D's loss")
    axes[1, col].set(xlabel="generator step", title=f"Spearman ρ = {correlations[toy, name]:+.2f}")
    axes[1, col].legend(fontsize=7, loc="upper right")
    twin.legend(fontsize=7, loc="center right")
plt.tight_layout()
plt.show()
coverage = {name: mode_coverage(history.snapshots[-1], ring_centres, 0.05)
            for (toy, name), history in toy_runs.items() if toy == "8 Gaussians"}
for name, result_modes in coverage.items():
    print(f"8 Gaussians, {name:22s} modes covered {result_modes.modes_covered}/8, "
          f"high-quality samples {100 * result_modes.high_quality:.1f} %")
for (toy, name), rho in correlations.items():
    print(f"{toy:12s} {name:22s} Spearman ρ(loss curve, OT W₁) = {rho:+.2f}")

# %% tags=["check"]
final_quality = {key: quality[-1] for key, (loss, quality) in toy_curves.items()}
final_estimate = {key: -loss[-1] for key, (loss, quality) in toy_curves.items()}
exercises.expect_true("on the ring, WGAN-GP covers all 8 modes", coverage["WGAN-GP"].modes_covered == 8)
exercises.expect_true("with clipping the WGAN covers fewer modes and ends farther from the data (OT W₁) than with "
                      "the gradient penalty, its critic's estimate near 0 (below 0.01)",
                      coverage["WGAN, clipping"].modes_covered < 8
                      and final_quality["8 Gaussians", "WGAN, clipping"] > final_quality["8 Gaussians", "WGAN-GP"]
                      and abs(final_estimate["8 Gaussians", "WGAN, clipping"]) < 0.01)
exercises.expect_true("with spectral normalization the estimate is smaller than with the penalty but moves with "
                      "quality (ρ > 0.8)",
                      final_estimate["8 Gaussians", "WGAN, spectral norm"] < final_estimate["8 Gaussians", "WGAN-GP"]
                      and correlations["8 Gaussians", "WGAN, spectral norm"] > 0.8)
print(f"WGAN-GP on the ring, final: critic's estimate {final_estimate['8 Gaussians', 'WGAN-GP']:.3f}, "
      f"OT W₁ to held-out data {final_quality['8 Gaussians', 'WGAN-GP']:.3f}")
exercises.expect_true("the WGAN-GP critic's final estimate is on the scale of the OT W₁ (within a factor 2)",
                      0.5 < final_estimate["8 Gaussians", "WGAN-GP"] / final_quality["8 Gaussians", "WGAN-GP"] < 2)
exercises.expect_true("the GAN collapses onto fewer than 8 of the ring's modes in these 600 steps",
                      coverage["GAN (non-saturating)"].modes_covered < 8)
exercises.expect_true("the WGAN-GP critic's estimate moves with sample quality (ρ > 0.8 on the ring), "
                      "the GAN discriminator's loss does not (|ρ| < 0.5)",
                      correlations["8 Gaussians", "WGAN-GP"] > 0.8 and abs(correlations["8 Gaussians", "GAN (non-saturating)"]) < 0.5)

# %% [markdown]
# With clipping the critic is too weak to lead the generator anywhere in 600 steps (its estimate stays near 0);
# with spectral normalization the estimate is small (the loose bound again) but moves with the quality; with
# the gradient penalty it is on the scale of the exact $W_1$ and falls with it. The GAN's discriminator loss
# says little about how good the samples are, while the quality is what a
# practitioner watching a training run needs to know (the deck: "GAN loss unstable … WGAN loss decreases in a
# stable manner"). In 600 steps this GAN also collapses onto few of the ring's modes (printed above; chapter 06,
# §3).
#
# **On the digits.** The same comparison with the DCGAN of chapter 06 (two convolutions each way, latent code of 16):
# a WGAN-GP (λ = 10, 4 critic steps per generator step, 300 generator steps) and a non-saturating GAN
# (600 steps, one D step each: 1 500 and 1 200 network updates). Quality is the exact $W_1$, in
# grey levels summed over pixels, between generated images and the test images, by optimal transport.

# %%
test_images = split.test.x


def digit_run(game, steps, critic_steps, lr):
    """A DCGAN of chapter 06 trained with ``game`` (the losses); (the model, its history with snapshots of as many
    samples as there are test images)."""
    torch.manual_seed(0)
    gan = GAN(DCGenerator(latent_dim=16, side=image_side, channels=32), DCDiscriminator(side=image_side, channels=32),
              levels=levels, **game)
    return gan, fit_adversarial(gan, split.train, steps=steps, batch_size=64, lr_generator=lr, lr_discriminator=lr,
                                betas=(0.5, 0.9), discriminator_steps=critic_steps, lr_decay=True,
                                snapshot_every=steps // 10, snapshot_size=len(test_images), progress=False,
                                checkpoint=cache_dir() / f"ch07_{DATASET}_{game['loss']}.pt")


digit_games = {"WGAN-GP": (dict(loss="wasserstein", gradient_penalty=10.0), 300, 4, 1e-3),
               "GAN (non-saturating)": (dict(loss="non_saturating"), 600, 1, 2e-3)}
# Two independent trainings of small convolutional networks, which gain nothing from a second thread: side by side
# they train at the same time, one per core.
digit_runs = dict(zip(digit_games, side_by_side(digit_run, digit_games.values())))
reference_w1 = divergences.empirical_wasserstein(split.train.x[:len(test_images)].flatten(1),
                                                 test_images.flatten(1)).distance.item()
fig, axes = plt.subplots(1, 4, figsize=(15, 3.3))
digit_correlations, digit_quality = {}, {}
for k, (name, (gan, history)) in enumerate(digit_runs.items()):
    averaged, quality = loss_and_quality(history, test_images, window=history.snapshot_steps[1] // 2)
    shown = -averaged if name == "WGAN-GP" else averaged
    digit_quality[name] = quality[-1]
    digit_correlations[name] = scipy.stats.spearmanr(shown[1:], quality[1:]).statistic
    ax = axes[2 * k]
    ax.plot(history.snapshot_steps, quality, "k-o", ms=3, label="OT W₁ to test images")
    ax.axhline(reference_w1, color="k", ls=":", lw=1, label="training images' own")
    twin = ax.twinx()
    twin.plot(history.snapshot_steps, shown, "C3-s", ms=3, label="critic's W₁ estimate" if name == "WGAN-GP" else "D's loss")
    ax.set(xlabel="generator step", title=f"{name}: Spearman ρ = {digit_correlations[name]:+.2f}")
    ax.legend(fontsize=7, loc="upper right")
    twin.legend(fontsize=7, loc="center right")
    plotting.image_grid(history.snapshots[-1][:48], nrow=8, levels=levels, title=f"{name}, final samples",
                        ax=axes[2 * k + 1])
plt.tight_layout()
plt.show()
for name, (gan, history) in digit_runs.items():
    print(f"{name:22s} final OT W₁ to the test images {digit_quality[name]:.1f} (training images: {reference_w1:.1f}); "
          f"ρ = {digit_correlations[name]:+.2f}; {history.seconds:.1f} s")
# The WGAN-GP's samples go to the gallery, where chapter 09 scores every model's samples on the same test split.
wgan, wgan_history = digit_runs["WGAN-GP"]
gallery.record_model("WGAN-GP (DCGAN networks, 300 generator steps)", 7, wgan, levels=levels, dataset=DATASET,
                     train_seconds=wgan_history.seconds)

# %% tags=["check"]
exercises.expect_true("on the digits, the WGAN-GP critic's estimate moves with sample quality (ρ > 0.8) and more "
                      "closely than the GAN discriminator's loss does",
                      digit_correlations["WGAN-GP"] > 0.8
                      and digit_correlations["WGAN-GP"] > abs(digit_correlations["GAN (non-saturating)"]))

# %% [markdown]
# ## Further exercises (no checks)
# 1. **Gaussians.** $W_2$ between Gaussians has a closed form (`divergences.gaussian_w2`), like KL
#    (`divergences.gaussian_kl`). Make the segments of §1 Gaussians of width σ around their lines and let σ → 0:
#    KL grows like $\theta^2/(2\sigma^2)$ while $W_2 \to |\theta|$. Plot both.
# 2. **Clipping, tuned.** Try `clip` values 0.001, 0.01, 0.1 and RMSProp-like settings (`betas=(0.0, 0.9)`, a
#    learning rate of 5e-5, as in the WGAN paper) on the ring. Does any setting cover the 8 modes in 600 steps?
# 3. **One-sided penalty.** Penalise only slopes above 1, $\mathbb E\,\mathrm{relu}(\|\nabla D\| - 1)^2$ (Petzka et al.,
#    2018), and repeat the fixed-pair comparison. What changes for the critic's value?
# 4. **A third game.** Train the segment with the hinge loss (`loss="hinge"`, as in spectrally normalised
#    GANs; its optimal discriminator is tied to the total variation, not to JS). Does θ go home? Why?
#
# ## Summary
# * KL, JS and TV compare distributions by the **overlap** of their supports: for disjoint supports they are
#   ∞, ln 2 and 1 whatever the distance, so they give a generator no gradient. $W_1$ measures the
#   **proximity** of the supports — the cheapest transport plan — and on the parallel lines equals $|\theta|$.
# * The Kantorovich–Rubinstein dual turns $W_1$ into a maximisation over 1-Lipschitz critics; the WGAN trains
#   such a critic (no log-sigmoid: differences of mean scores) and the generator descends its value. On the
#   segment, the WGAN brings θ home; the minimax GAN stalls.
# * In 1D, $W_1$ is computed by sorting; in any dimension, for equal samples, by an assignment problem.
#   Trained critics approach these values when their Lipschitz constraint is right.
# * The constraint matters: clipping wastes the critic's capacity (weights at the box, simple functions),
#   the gradient penalty is soft (on the lines it overestimates $W_1 = \theta$ by $\theta^2/(2\lambda)$), spectral
#   normalization is bounded but loose. With the gradient penalty, the critic's estimate moves with sample
#   quality, which a GAN's loss does not.
#
# ## References
# * M. Arjovsky, S. Chintala, L. Bottou. *Wasserstein generative adversarial networks.* ICML 2017.
# * I. Gulrajani, F. Ahmed, M. Arjovsky, V. Dumoulin, A. Courville. *Improved training of Wasserstein GANs.*
#   NeurIPS 2017.
# * T. Miyato, T. Kataoka, M. Koyama, Y. Yoshida. *Spectral normalization for generative adversarial networks.*
#   ICLR 2018.
# * C. Villani. *Optimal transport, old and new.* Springer, 2009 (duality: chapter 5).
# * G. Peyré, M. Cuturi. *Computational optimal transport.* Foundations and Trends in ML, 2019.
# * H. Petzka, A. Fischer, D. Lukovnikov. *On the regularization of Wasserstein GANs.* ICLR 2018.

# %%
print(f"chapter run time: {time.perf_counter() - chapter_started:.0f} s")


# %% tags=["check"]
# Every check run in this session: "all passed", or the list of those that failed. Stuck on one exercise?
# Run `exercises.keep_going()` once: a failed check then prints a red ✘ and "Run All" goes on to the end.
exercises.report()
