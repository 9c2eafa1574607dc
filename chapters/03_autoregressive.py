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
# # 03 · Autoregressive models
#
# Drop the latent variable and use nothing but the **chain rule of probability**: for any order of
# the $D$ pixels,
#
# $$ p(\mathbf{x}) = \prod_{d=1}^{D} p(x_d \mid x_1, \dots, x_{d-1}). $$
#
# No approximation is involved: if every conditional is a normalised distribution, so is the
# product, and $\log p(\mathbf{x})$ is *exact* — a sum of $D$ log-probabilities. These are the fully
# visible belief networks of the taxonomy ([chapter 01, §8](01_density_estimation.ipynb)).
# The price: sampling must go one pixel at a time, and an order must be chosen.
#
# **Learning objectives.** After this chapter you can
# 1. write the chain rule for images, compute the exact likelihood, and explain why sampling is sequential;
# 2. follow the line FVSBN → NADE → MADE → PixelCNN → gated PixelCNN, and write NADE's shared-weight
#    conditionals and MADE's masks yourself;
# 3. *measure* a receptive field with gradients, find PixelCNN's blind spot, and build the gated fix;
# 4. compare categorical and discretized-logistic output distributions on test NLL;
# 5. train a recurrent model with teacher forcing and generate from it free-running; reason about causal
#    dilated convolutions (WaveNet);
# 6. complete occluded digits by sampling (missing data); explain why pixel-level models capture texture better
#    than global structure, and condition a gated PixelCNN on the class, the global decision taken first;
# 7. explain what sampling costs, and how parallel multiscale models cut the number of sequential steps.
#
# **Exercises** (each followed by a check cell that tells you what is off):
#
# | # | you write | section |
# |---|---|---|
# | 1 | NADE's conditionals with one shared weight matrix (one cumulative sum), and $\log p(\mathbf x)$ | §2 |
# | 2 | MADE's masks from the units' degrees | §3 |
# | 3 | the PixelCNN kernel masks A and B from the raster order | §4 |
# | 4 | the gated PixelCNN's vertical stack and its shift before it feeds the horizontal stack | §4 |
# | 5 | the receptive field of a stack of dilated causal convolutions | §6 |

# %%
DATASET = "digits"  # "digits" (bundled, CPU) or "mnist" / "fashion_mnist" (local IDX files in $DGM_DATA)

import math
import time

import matplotlib.pyplot as plt
import numpy as np
import torch
import torch.nn.functional as F
from IPython.display import Markdown, display

from course_lib import data
from course_lib.evaluation import gallery, leaderboard, mean_nll
from course_lib.models import (CausalConvSequence, FactorizedCategorical, FVSBN, GatedPixelCNN, GRUSequence, MADE, NADE,
                               PixelCNN)
from course_lib.runtime import cache_dir, device, in_background, seed_everything
from course_lib.teaching import exercises
from course_lib.train import fit
from course_lib.viz import CompletionExplorer, plotting

seed_everything(0)
split = data.load_dataset(DATASET)
levels, image_shape = split.levels, tuple(split.train.x.shape[1:])
dims_image = split.train.x[0].numel()
results, histories = {}, {}  # model name → (test NLL in nats/image, training seconds); → fit's History


def bits_per_dim(nll):
    """nats per image → bits per pixel (on this dataset's grey levels)."""
    return nll / (dims_image * math.log(2))


def fitted(name, model, epochs, lr=1e-3, batch_size=64, patience=8, variant="", **options):
    """Train with early stopping (checkpoint in the cache); return the model and fit's History.
    ``variant``: a tag in the checkpoint's name for a model whose architecture changed between course versions."""
    history = fit(model, split.train, split.val, epochs=epochs, batch_size=batch_size, lr=lr, patience=patience,
                  checkpoint=cache_dir() / f"ch03_{name.replace(' ', '_')}{variant}_{DATASET}.pt", **options)
    return model, history


def report(name, model, history, labels_as_context=False):
    """Report the exact test NLL of a trained model and keep the result."""
    nll = mean_nll(model, split.test.x, context=split.test.y if labels_as_context else None)
    results[name], histories[name] = (nll, history.seconds), history
    print(f"{name}: test NLL {nll:.2f} nats/image ({bits_per_dim(nll):.3f} bits/dim), "
          f"{len(history.train_loss)} epochs, {history.seconds:.1f} s")
    return model


def train(name, model, epochs, **options):
    """``fitted``, then ``report``."""
    return report(name, *fitted(name, model, epochs, **options), options.get("labels_as_context", False))


# %% [markdown]
# The chapter's two longest trainings, the WaveNet-style model of §6 and the class-conditional gated PixelCNN of
# §11, run in a second process on the other CPU core (`runtime.in_background`) while the notebook goes on with the
# others; §6 and §11 collect them with `.result()`, which waits only if the training has not finished:

# %%
dilations = tuple(2 ** i for i in range(math.ceil(math.log2(dims_image))))   # 1, 2, …, 32 for 64 pixels (§6)


def train_wavenet():
    return fitted("causal dilated conv (WaveNet-style)",
                  CausalConvSequence(image_shape, levels, channels=64, dilations=dilations, dropout=0.3),
                  epochs=32, lr=3e-3, average=0.98, variant="_64_dropout03_average32")


def train_conditional():
    return fitted("gated PixelCNN, class-conditional", GatedPixelCNN(image_shape, levels, channels=32, layers=5,
                                                                    classes=10),
                  epochs=13, lr=5e-3, average=0.95, labels_as_context=True, variant="_lr5e-3_average13")


wavenet_training = in_background(train_wavenet)           # the two run one after the other, in this order
conditional_training = in_background(train_conditional)

# %% [markdown]
# ## 1. The chain rule, the exact likelihood, and the order
#
# Every model below outputs, for each pixel $d$, a distribution over the grey levels computed
# from the earlier pixels only; its log-likelihood is the sum of the log-probabilities of the levels
# that actually occur. During training all $D$ conditionals are evaluated **in parallel** on the true
# image ("teacher forcing": the model is always conditioned on the real previous pixels, never on
# its own guesses; §7 looks at it closely). Sampling cannot be parallel: pixel $d$ needs the *sampled*
# values of pixels $< d$, so generating an image takes $D$ network evaluations.
#
# The unit of the chapter is nats per image; **bits per dimension** divide by $D \ln 2$. Our digits have 17
# grey levels, so these bits/dim are *not* comparable with published figures on 256-level images (even the
# uniform distribution costs $\log_2 L$ bits per dimension: 8 bits for 256 levels, $\log_2 17$ for ours).
#
# The chain rule normalises whatever the conditionals are: an untrained NADE on 3×3 binary images gives the
# $2^9 = 512$ images probabilities that sum to one.

# %%
torch.manual_seed(1)
tiny = NADE((1, 3, 3), 2, hidden=8).eval()
every_binary_image = torch.cartesian_prod(*(torch.arange(2.0),) * 9).reshape(-1, 1, 3, 3)
with torch.no_grad():
    total_probability = tiny.log_prob(every_binary_image).exp().sum().item()
print(f"Σ over all {len(every_binary_image)} binary 3×3 images of p(x) = {total_probability:.6f}")

# %% tags=["check"]
exercises.expect_close("the chain rule normalises: the 512 probabilities sum to one", total_probability, 1.0,
                       rtol=1e-5)

# %% [markdown]
# ## 2. FVSBN → NADE: from linear conditionals to shared hidden units
#
# The **fully visible sigmoid belief net** (FVSBN; Frey, 1998) makes each conditional a logistic regression
# on the earlier pixels: $p(x_d = 1 \mid \mathbf{x}_{<d}) = \sigma(\mathbf a_d^\top\mathbf{x}_{<d} + b_d)$ for binary
# pixels; for our 17 levels, a softmax over levels instead of a sigmoid. It is one matrix with a strictly
# triangular mask: $O(D^2 L)$ parameters, no hidden units.
#
# **NADE** (Larochelle & Murray, 2011) gives each conditional a hidden layer and *shares* its weights across
# pixels. For binary pixels, with $\mathbf W \in \mathbb R^{H \times D}$, $\mathbf c \in \mathbb R^H$,
# $\mathbf V \in \mathbb R^{D \times H}$, $\mathbf b \in \mathbb R^D$:
#
# $$ \mathbf h_d = \sigma\Big(\mathbf c + \sum_{j<d} \mathbf W_{:,j}\, x_j\Big), \qquad
#    p(x_d = 1 \mid \mathbf x_{<d}) = \sigma\big(b_d + \mathbf V_{d,:}\, \mathbf h_d\big). $$
#
# The pre-activation of $\mathbf h_{d+1}$ is that of $\mathbf h_d$ plus one column, $\mathbf W_{:,d}\,x_d$: all
# $D$ hidden vectors come from **one cumulative sum**, $O(DH)$ work instead of the $O(D^2H)$ of computing
# each $\mathbf h_d$ afresh.
#
# ### Exercise 1 — NADE's conditionals with shared weights
# Write `nade(x, W, c, V, b)` for binary images `x` of shape `(B, D)` (0/1 floats, pixels in the
# autoregressive order) and the parameters above, shapes `(H, D)`, `(H,)`, `(D, H)`, `(D,)`. Return two
# tensors: `p` of shape `(B, D)` with `p[:, d]` $= p(x_d = 1 \mid \mathbf x_{<d})$, and $\log p(\mathbf x)$ of
# shape `(B,)` in nats. Compute all hidden vectors at once (no loop over pixels), and make sure that
# $\mathbf h_d$ uses the pixels *before* $d$ only. A pixel equal to 0 contributes $\log(1 - p)$ to the
# log-likelihood.

# %%
def nade(x, W, c, V, b):
    """Binary NADE: x (B, D) of 0/1 → p(x_d = 1 | x_<d) (B, D) and log p(x) (B,) in nats."""
    ### BEGIN SOLUTION
    contributions = x[:, :, None] * W.T[None]                            # (B, D, H): W_{:,j} x_j
    pre_activations = c + torch.cumsum(contributions, dim=1) - contributions   # Σ over j < d only
    h = torch.sigmoid(pre_activations)                                   # (B, D, H)
    logits = (h * V[None]).sum(-1) + b                                   # (B, D)
    log_px = (x * F.logsigmoid(logits) + (1 - x) * F.logsigmoid(-logits)).sum(1)
    return torch.sigmoid(logits), log_px
    ### END SOLUTION


# %% tags=["check"]
gen = torch.Generator().manual_seed(0)
D, H = 9, 5
W, c = torch.randn(H, D, generator=gen), torch.randn(H, generator=gen)
V, b = torch.randn(D, H, generator=gen), torch.randn(D, generator=gen)
every_image = torch.cartesian_prod(*(torch.tensor([0.0, 1.0]),) * D)            # the 512 binary images, (512, 9)
p, log_px = exercises.call(1, nade, every_image, W, c, V, b, returns=2)
exercises.expect_true("p and log p(x) have shapes (B, D) and (B,)",
                      tuple(p.shape) == (512, D) and tuple(log_px.shape) == (512,), exercise=1,
                      hint=f"got {tuple(p.shape)} and {tuple(log_px.shape)}: sum the log-likelihood over the pixels "
                           "(dimension 1), one number per image")
# Which pixels does p(x_d = 1 | x_<d) depend on? Autograd tells: row d lists the pixels j with ∂p_d/∂x_j ≠ 0.
probe = every_image[300:301].clone().requires_grad_(True)
try:
    p_probe = nade(probe, W, c, V, b)[0][0]
    gradients = [torch.autograd.grad(p_probe[d], probe, retain_graph=True, allow_unused=True)[0] for d in range(D)]
    depends = torch.stack([torch.zeros(D, dtype=torch.bool) if g is None else g[0] != 0 for g in gradients])
except RuntimeError:
    depends = None
exercises.expect_true("p can be differentiated with respect to x (so autograd can tell what it depends on)",
                      depends is not None, exercise=1,
                      hint="compute p with torch operations on x itself (no .detach(), .numpy() or torch.no_grad())")
later_or_own = depends & ~torch.ones(D, D, dtype=torch.bool).tril(-1)
exercises.expect_true(
    "p(x_d = 1 | x_<d) depends on earlier pixels only", not bool(later_or_own.any()), exercise=1,
    hint=("p(x_d = 1 | ·) changes with x_d itself: the hidden vector h_d must sum W_{:,j} x_j over j < d only "
          "(an exclusive cumulative sum: subtract the current term, or shift by one)"
          if bool(later_or_own.diagonal().any()) else
          "p(x_d = 1 | ·) changes with later pixels: accumulate along the pixel dimension (1), in order"))
exercises.expect_true("p(x_d = 1 | x_<d) depends on every earlier pixel",
                      bool(depends.tril(-1)[1:].sum() == D * (D - 1) // 2), exercise=1,
                      hint="h_d should see every pixel before d: accumulate W_{:,j} x_j along the pixel dimension")
exercises.expect_close("the 512 probabilities p(x) = exp(log p(x)) sum to one", log_px.exp().sum(), 1.0,
                       exercise=1, rtol=1e-4,
                       hint="each pixel contributes log p(x_d = 1 | x_<d) when x_d = 1 and log(1 − p) when x_d = 0")
# The reference: each h_d computed afresh from the pixels before d (O(D²H)), and torch.distributions.Bernoulli.
reference_p = torch.stack([torch.sigmoid(b[d] + torch.sigmoid(c + every_image[:, :d] @ W[:, :d].T) @ V[d])
                           for d in range(D)], dim=1)
exercises.expect_close("p(x_d = 1 | x_<d) against h_d computed afresh for every d", p, reference_p, exercise=1,
                       rtol=1e-4, atol=1e-6,
                       hint="h_d = σ(c + Σ_{j<d} W_{:,j} x_j) — a sigmoid on the hidden units — and "
                            "p = σ(b_d + V_{d,:} h_d)")
exercises.expect_close("log p(x) against torch.distributions.Bernoulli", log_px,
                       torch.distributions.Bernoulli(probs=reference_p).log_prob(every_image).sum(1), exercise=1,
                       rtol=1e-4, atol=1e-5)

# %% [markdown]
# `models.NADE` is that computation with a softmax over the 17 levels in place of the output sigmoid, and
# `models.FVSBN` the masked linear map. With two levels the softmax over levels *is* the sigmoid: FVSBN is then
# literally a sigmoid belief net, and NADE the binary NADE of Exercise 1. Chapter 08 trains both on binarized
# digits, next to a restricted Boltzmann machine whose likelihood is exact too. Trained on the 17-level digits
# (exact test NLL; the training curves are in §8):

# %%
fvsbn = train("FVSBN", FVSBN(image_shape, levels), epochs=60, lr=3e-3)
nade_model = train("NADE", NADE(image_shape, levels, hidden=128), epochs=30, lr=6e-3,
                   average=0.95, variant="_average30")   # average: keep a running mean of the weights (§6)

# %% [markdown]
# ## 3. MADE: masks turn an autoencoder into an autoregressive model
#
# **MADE** (Germain et al., 2015) starts from an ordinary MLP from $\mathbf{x}$ to "reconstruction"
# logits and zeroes connections so that output $d$ cannot see inputs $\ge d$. Give every unit an
# integer **degree**: input $x_d$ has degree $d$ (its position in the order), hidden units random
# degrees in $[1, D-1]$, the output for $x_d$ degree $d$. Then
#
# - a hidden unit of degree $m$ may connect to a unit of the layer below of degree $m' \le m$ (so it depends on
#   inputs $1..m$ at most);
# - an output of degree $d$ may connect to a hidden unit of degree $m < d$ — strictly, or the output for $x_d$
#   would see $x_d$.
#
# A hidden unit of degree $D$ would only feed outputs that nothing may feed, hence degrees up to $D - 1$.
# Different orders and hidden degrees give different models from the same weights; training on several masks
# and averaging their *probabilities* (log-sum-exp minus $\log K$, never an average of logits) gives an
# ensemble.
#
# ### Exercise 2 — MADE's masks from degrees
# Write `masks_from_degree_vectors(input_degrees, hidden_degrees, output_degrees)`: integer tensors of shape
# `(D,)`, a list with one `(H_l,)` tensor per hidden layer, and `(O,)`. Return the list of 0/1 float masks, one
# per layer, of shapes `(H_1, D)`, `(H_2, H_1)`, …, `(O, H_last)`, with `mask[k, j] = 1` when unit `k` of the
# layer above may see unit `j` of the layer below. One broadcast comparison per layer, no loops over units.

# %%
def masks_from_degree_vectors(input_degrees, hidden_degrees, output_degrees):
    """MADE's masks: [(H_1, D), (H_2, H_1), …, (O, H_last)] of 0/1 floats."""
    ### BEGIN SOLUTION
    degrees = [input_degrees, *hidden_degrees]
    masks = [(later[:, None] >= earlier[None, :]).float() for earlier, later in zip(degrees[:-1], degrees[1:])]
    masks.append((output_degrees[:, None] > degrees[-1][None, :]).float())
    return masks
    ### END SOLUTION


# %% tags=["check"]
gen = torch.Generator().manual_seed(0)
D = 6
input_degrees = torch.randperm(D, generator=gen) + 1                    # a random order: degrees 1..D
hidden_degrees = [torch.randint(1, D, (40,), generator=gen) for _ in range(2)]   # in [1, D − 1]
masks = exercises.call(2, masks_from_degree_vectors, input_degrees, hidden_degrees, input_degrees)
shapes = [tuple(m.shape) for m in masks] if isinstance(masks, (list, tuple)) else None
exercises.expect_true("one mask per layer, of shapes (40, 6), (40, 40), (6, 40)",
                      shapes == [(40, D), (40, 40), (D, 40)], exercise=2,
                      hint=f"got {shapes}: a mask has one row per unit of the layer *above* "
                           "(mask[k, j]: may unit k see unit j below?)")
exercises.expect_true("the masks hold only 0s and 1s", all(bool(((m == 0) | (m == 1)).all()) for m in masks),
                      exercise=2)
# A first-layer unit of degree m may see the inputs of degrees 1..m: exactly m of them, since the input
# degrees are a permutation of 1..D.
seen = masks[0].sum(1)
if torch.equal(seen, hidden_degrees[0].float() - 1):
    hint = "each unit sees one input too few: a hidden unit may see units of degree *equal* to its own (≥, not >)"
elif torch.equal(seen, D + 1 - hidden_degrees[0].float()):
    hint = "each unit sees the inputs of degree ≥ its own: the comparison is the wrong way round"
else:
    hint = "a hidden unit of degree m may see the units below of degree ≤ m"
exercises.expect_true("each first-layer unit sees as many inputs as its degree", torch.equal(seen, hidden_degrees[0].float()),
                      exercise=2, hint=f"units of degrees {hidden_degrees[0][:8].tolist()} see {seen[:8].int().tolist()} "
                                       f"inputs: {hint}")
paths = masks[2] @ masks[1] @ masks[0]                     # (D, D): number of paths from input j to output i
allowed = input_degrees[:, None] > input_degrees[None, :]  # output i may depend on input j
own = bool((paths.diagonal() > 0).any())
exercises.expect_true("no path from an input to its own output or to an earlier one", not bool(((paths > 0) & ~allowed).any()),
                      exercise=2, hint="the output for x_d reaches x_d itself: into the outputs, the comparison is "
                                       "strict (>)" if own else "an output reaches a later input")
exercises.expect_true("every output is reached by every earlier input (40 hidden units per layer are plenty)",
                      bool(((paths > 0) == allowed).all()), exercise=2,
                      hint="some allowed connections are missing: hidden layers compare with ≥, the outputs with >")

# %% [markdown]
# The library's version, `nn.masks_from_degrees`, is behind `models.MADE` (`nn.made_masks` draws the hidden
# degrees and calls it). Two MADEs on the digits: one mask (the raster order), and an ensemble of four orders that cycles
# through them during training and averages their probabilities at test time.

# %%
from course_lib.nn import masks_from_degrees  # noqa: E402  (after Exercise 2, whose answer it is)

made = train("MADE (1 mask)", MADE(image_shape, levels, hidden=(256, 256)), epochs=30, lr=3e-3, average=0.95,
             variant="_average30")
made_ensemble = train("MADE (4 orders)", MADE(image_shape, levels, hidden=(256, 256), n_masks=4), epochs=30, lr=3e-3,
                      average=0.95, variant="_average30")

# %% [markdown]
# **The masks, seen.** Below, a MADE for $D = 8$ inputs in a random order with two hidden layers of 16 units
# (units sorted by degree, so the masks are staircases), and the product of the three masks: the number of
# paths from each input to each output. In the order's coordinates it is strictly lower-triangular — the
# autoregressive property. Below the diagonal, a zero means that no hidden unit drew a degree the pair
# needed: with hundreds of units per layer, as in the MADEs above, that no longer happens.

# %%
mask_generator = torch.Generator().manual_seed(3)
small_degrees = torch.randperm(8, generator=mask_generator) + 1                  # a random order of 8 inputs
small_hidden = [torch.randint(1, 8, (16,), generator=mask_generator).sort().values for _ in range(2)]
small_masks = masks_from_degrees(small_degrees, small_hidden, small_degrees)
by_degree = small_degrees.argsort()                                              # inputs (and outputs) in the order
panels = {"layer 1 (16 × 8)": small_masks[0][:, by_degree], "layer 2 (16 × 16)": small_masks[1],
          "outputs (8 × 16)": small_masks[2][by_degree]}
small_paths = (small_masks[2] @ small_masks[1] @ small_masks[0])[by_degree][:, by_degree]
fig, axes = plt.subplots(1, 4, figsize=(13, 3.4), gridspec_kw={"width_ratios": [8, 16, 16, 8]})
for ax, (title, mask) in zip(axes, panels.items()):
    ax.imshow(mask, cmap="Blues", vmin=0, vmax=1)
    ax.set(title=title, xlabel="unit below (by degree)", ylabel="unit above (by degree)")
image = axes[3].imshow(small_paths, cmap="viridis")
axes[3].set(title="paths input → output", xlabel="input (in the order)", ylabel="output (in the order)")
fig.colorbar(image, ax=axes[3], fraction=0.046)
fig.tight_layout()
below_diagonal = torch.ones(8, 8, dtype=torch.bool).tril(-1)
print(f"{int((small_paths[below_diagonal] > 0).sum())} of the {int(below_diagonal.sum())} allowed input → output "
      f"pairs are connected; {int((small_paths[~below_diagonal] > 0).sum())} forbidden ones");

# %% tags=["check"]
exercises.expect_true("no path from an input to its own or an earlier output (strictly lower-triangular in the order)",
                      not bool((small_paths[~below_diagonal] > 0).any()))

# %% [markdown]
# ## 4. PixelCNN, its blind spot, and the gated fix
#
# Images have local structure that a fully connected MADE ignores. **PixelCNN** (van den Oord et al.,
# 2016) uses convolutions whose kernels are masked so that the output at a pixel depends only on pixels that
# come *earlier in the raster order* (row by row, left to right). The first layer reads the image itself, so
# it must not read the pixel it predicts (mask **A**); later layers read features, and the feature at a
# position only summarises earlier pixels by then, so they may also read their own position (mask **B**).
#
# ### Exercise 3 — the PixelCNN kernel masks
# Write `pixelcnn_mask(k, mask_type)`, a `(k, k)` float tensor of 0s and 1s for an odd `k`. The tap at row
# `r`, column `s` of the kernel, applied at pixel $(i, j)$, reads pixel $(i + r - \lfloor k/2\rfloor,\ j + s -
# \lfloor k/2\rfloor)$. Keep (1) the taps that read pixels earlier than $(i, j)$ in the raster order; mask `"B"`
# also keeps the tap that reads $(i, j)$ itself, mask `"A"` does not.

# %%
def pixelcnn_mask(k, mask_type):
    """(k, k) 0/1 mask of a causal convolution kernel."""
    ### BEGIN SOLUTION
    mask = torch.zeros(k, k)
    centre = k // 2
    mask[:centre] = 1                     # the rows above
    mask[centre, :centre] = 1             # the current row, left of the pixel
    if mask_type == "B":
        mask[centre, centre] = 1          # the pixel itself (its features, from layer 2 on)
    return mask
    ### END SOLUTION


# %% tags=["check"]
for k in (3, 5, 7):
    # The reference: the tap's raster offset. On images 100 pixels wide, tap (r, s) reads the pixel
    # (r − k//2)·100 + (s − k//2) positions away in the raster order: earlier if negative.
    offsets = torch.arange(k)[:, None] - k // 2, torch.arange(k)[None, :] - k // 2
    raster_offset = offsets[0] * 100 + offsets[1]
    for mask_type in ("A", "B"):
        yours = exercises.call(3, pixelcnn_mask, k, mask_type)
        expected = (raster_offset < 0) | ((raster_offset == 0) & (mask_type == "B"))
        mask = torch.as_tensor(yours).float()
        if tuple(mask.shape) != (k, k):
            hint = f"a (k, k) mask: ({k}, {k})"
        elif bool((mask.bool() & (raster_offset > 0)).any()):
            r, s = [int(v) for v in (mask.bool() & (raster_offset > 0)).nonzero()[0]]
            hint = (f"tap ({r}, {s}) reads pixel (i{r - k // 2:+d}, j{s - k // 2:+d}), which comes *after* (i, j) in the "
                    "raster order: the rows below, and the current row right of the pixel, must be masked")
        elif mask_type == "A" and mask[k // 2, k // 2] != 0:
            hint = "mask A must drop the centre tap: the first layer would read the very pixel it predicts"
        elif mask_type == "B" and mask[k // 2, k // 2] != 1:
            hint = "mask B keeps the centre tap: from layer 2 on the feature there only summarises earlier pixels"
        else:
            hint = "every tap that reads an earlier pixel is kept: all the rows above, and left of the pixel on its row"
        exercises.expect_close(f"mask {mask_type}, {k}×{k}", mask if mask.shape == (k, k) else mask.flatten(),
                               expected.float(), exercise=3, hint=hint)

# %% [markdown]
# **Receptive fields, measured.** Which input pixels can change the prediction for the pixel in the middle of
# the image? Ask autograd: back-propagate from that output to the input and look where the gradient is
# non-zero. Stacking masked 3×3 convolutions grows a field that leans left. A masked kernel reaches one column
# to the right only on the row above, and the feature it reads there has a field of the same shape, one row
# higher: the right edge of the field climbs one column per row, a diagonal, and the pixels *up and to the
# right* of that diagonal are never reached, however deep the network: the **blind spot**.

# %%
def receptive_field(model, row, col):
    """Boolean (H, W) map of the input pixels whose gradient reaches the output at (row, col)."""
    x = torch.randint(0, levels, (1, *image_shape), generator=torch.Generator().manual_seed(0)).float()
    scaled = model.scaled(x).clone().requires_grad_(True)
    model.scaled = lambda _: scaled
    try:
        (grad,) = torch.autograd.grad(model.log_probs(x)[0, :, row, col].sum(), scaled)
    finally:
        del model.scaled
    return (grad[0, 0] != 0).cpu()


side = image_shape[1]
target = (side // 2, side // 2)
earlier = torch.arange(side * side).reshape(side, side) < target[0] * side + target[1]
torch.manual_seed(0)
probes = {"PixelCNN, 6 masked layers": PixelCNN(image_shape, levels, channels=16, layers=6, first_kernel=3),
          "gated PixelCNN, 6 layers": GatedPixelCNN(image_shape, levels, channels=16, layers=6)}
fields = {name: receptive_field(model.to(device()), *target) for name, model in probes.items()}


def show_fields(fields):
    fig, axes = plt.subplots(1, len(fields), figsize=(4 * len(fields), 4))
    for ax, (name, field) in zip(np.atleast_1d(axes), fields.items()):
        picture = torch.where(field, 2.0, torch.where(earlier, 1.0, 0.0))   # seen / earlier but unseen / later
        ax.imshow(picture, cmap=plt.matplotlib.colors.ListedColormap(["white", "#f4b183", "#2e75b6"]), vmin=0, vmax=2)
        ax.plot(target[1], target[0], "k*", markersize=14)
        ax.set_title(f"{name}\nblue: seen, orange: earlier but unseen", fontsize=9)
        ax.set_xticks([]), ax.set_yticks([])
    fig.tight_layout()
    return fig


show_fields(fields);

# %% tags=["check"]
plain, gated = fields["PixelCNN, 6 masked layers"], fields["gated PixelCNN, 6 layers"]
exercises.expect_true("neither model sees the current or a later pixel", bool(not (plain & ~earlier).any()
                                                                               and not (gated & ~earlier).any()))
# The blind spot: in the row above, columns ≥ 2 to the right; two rows above, ≥ 3 to the right; …
exercises.expect_true("plain PixelCNN has a blind spot: earlier pixels up-right that it never sees",
                      bool((earlier & ~plain)[target[0] - 1, target[1] + 2:].all()
                           and (earlier & ~plain)[target[0] - 2, target[1] + 3:].all()))
exercises.expect_true("the gated PixelCNN sees every earlier pixel", bool((gated == earlier).all()))

# %% [markdown]
# **The gated PixelCNN** (van den Oord et al., 2016) removes the blind spot with two stacks. The **vertical
# stack** sees *whole rows* above: its kernel has $\lfloor k/2\rfloor + 1$ rows and $k$ columns, its last row
# on the output's row and its middle column on the output's column, so it reads the rows $i - \lfloor k/2\rfloor
# \dots i$, columns $j \pm \lfloor k/2\rfloor$ — no masking inside the rows, hence no blind spot, and stacked, it
# covers every row above. But it reads row $i$ too, *right* of $(i, j)$: fine inside the vertical stack (whose
# row-$i$ features only ever reach the outputs of later rows), fatal if pixel $(i, j)$'s prediction used them.
# So before it feeds the **horizontal stack** (the current row, to the left: a $1 \times (\lfloor k/2\rfloor + 1)$
# kernel), the vertical stack's output is **shifted down one row**: position $(i, j)$ then receives what the
# vertical stack computed at $(i - 1, j)$, built from rows $< i$ only. The horizontal stack never feeds the
# vertical one. Each stack has gated units $\tanh(\mathbf W_f * \mathbf h) \odot \sigma(\mathbf W_g * \mathbf h)$, and
# the horizontal one residual connections.
#
# ### Exercise 4 — the vertical stack and its shift
# Write `vertical_stack(v, weight)`: `v` of shape `(B, C_in, H, W)`, `weight` of shape
# `(C_out, C_in, k//2 + 1, k)` aligned as above (zeros outside the image). Return two tensors of shape
# `(B, C_out, H, W)`: the vertical convolution itself (what the next vertical layer reads), and the same
# features shifted down one row with a row of zeros on top (what the horizontal stack reads).
# `F.pad(t, (left, right, top, bottom))` pads the last two dimensions; `F.conv2d(t, weight)` without padding
# puts the kernel's top-left tap on the top-left pixel of the window.

# %%
def vertical_stack(v, weight):
    """(B, C_in, H, W), (C_out, C_in, k//2 + 1, k) → (vertical features, the same shifted down one row)."""
    ### BEGIN SOLUTION
    half = weight.shape[-1] // 2
    features = F.conv2d(F.pad(v, (half, half, half, 0)), weight)      # row i reads rows i − half … i
    shifted = F.pad(features, (0, 0, 1, 0))[:, :, :v.shape[2]]         # row i receives row i − 1: rows < i only
    return features, shifted
    ### END SOLUTION


# %% tags=["check"]
gen = torch.Generator().manual_seed(0)
k, half, height, width = 3, 1, 6, 7
v = torch.randn(2, 2, height, width, generator=gen)
weight = torch.randn(3, 2, half + 1, k, generator=gen)
outputs = exercises.call(4, vertical_stack, v, weight, returns=2)
exercises.expect_true("both outputs have shape (B, C_out, H, W) = (2, 3, 6, 7)",
                      all(tuple(o.shape) == (2, 3, height, width) for o in outputs), exercise=4,
                      hint=f"got {[tuple(o.shape) for o in outputs]}: pad so that the convolution keeps H and W "
                           "(k//2 rows on top only, k//2 columns on each side)")


def rows_and_columns_read(function, output_index, i, j):
    """The input pixels (as a boolean (H, W) map) that the output at (i, j) depends on, by autograd."""
    probe = v.clone().requires_grad_(True)
    (grad,) = torch.autograd.grad(function(probe, weight)[output_index][0, :, i, j].sum(), probe)
    return grad[0].abs().sum(0) != 0


rows, cols = torch.arange(height)[:, None], torch.arange(width)[None, :]
for output_index, name, first_row in ((0, "the vertical features", 0), (1, "the shifted features", 1)):
    for i, j in ((3, 3), (0, 2), (5, 6), (1, 0)):
        seen = rows_and_columns_read(vertical_stack, output_index, i, j)
        wanted = (rows <= i - first_row) & (rows >= i - first_row - half) & ((cols - j).abs() <= half)
        if bool((seen & (rows > i)).any()):
            hint = "it reads rows *below* (i, j): pad the top of the image, not the bottom"
        elif output_index == 1 and bool((seen & (rows == i)).any()):
            hint = ("the features for the horizontal stack read row i — pixels right of (i, j) come later: "
                    "shift the vertical features down one row")
        elif output_index == 0 and not bool((seen & (rows == i)).any()):
            hint = "the vertical features themselves end on the output's row i; only the copy for the horizontal stack is shifted"
        elif bool((seen & (cols > j)).any()) != bool((wanted & (cols > j)).any()) or bool((seen & (cols < j)).any()) != bool((wanted & (cols < j)).any()):
            hint = "the kernel's middle column sits on the output's column: pad k//2 columns on *each* side"
        else:
            hint = f"output ({i}, {j}) should read rows {max(i - first_row - half, 0)}…{i - first_row}, columns j ± {half}"
        exercises.expect_true(f"{name} at ({i}, {j}) read exactly the pixels they should", bool((seen == wanted).all()),
                              exercise=4, hint=hint)
# The reference, tap by tap: tap (r, s) multiplies the input pixel (i − half − shift + r, j − half + s).
for output_index, shift in ((0, 0), (1, 1)):
    reference = torch.zeros(2, 3, height, width)
    for r in range(half + 1):
        for s in range(k):
            dy, dx = r - half - shift, s - half
            moved = torch.zeros_like(v)              # moved[..., y, x] = v[..., y + dy, x + dx], zero outside
            moved[..., max(0, -dy):min(height, height - dy), max(0, -dx):min(width, width - dx)] = \
                v[..., max(0, dy):min(height, height + dy), max(0, dx):min(width, width + dx)]
            reference += torch.einsum("oc,bchw->bohw", weight[:, :, r, s], moved)
    exercises.expect_close(["the vertical features", "the shifted features"][output_index] + ", tap by tap",
                           outputs[output_index], reference, exercise=4, rtol=1e-4, atol=1e-5)

# %% [markdown]
# `models.GatedPixelCNN` is built from such layers (plus the horizontal stack, the gates, the residual
# connections). The measured receptive field above is the proof that the stacks together see every earlier
# pixel. Both PixelCNNs on the digits:

# %%
pixelcnn = train("PixelCNN", PixelCNN(image_shape, levels, channels=32, layers=5), epochs=22, lr=6e-3, average=0.95,
                 variant="_32_lr6e-3_average22")
gated_pixelcnn = train("gated PixelCNN", GatedPixelCNN(image_shape, levels, channels=32, layers=5), epochs=22, lr=3e-3,
                       average=0.95, variant="_average22")

# %% [markdown]
# ## 5. Output distributions: categorical vs discretized logistic
#
# A **categorical** output (a softmax over the 17 levels) is flexible but knows nothing about the
# fact that level 9 is close to level 10. A **discretized logistic mixture** (Salimans et al., 2017)
# puts $K$ logistic bumps on the intensity axis and gives each level the mass of its bin — smooth in
# intensity, $3K$ numbers per pixel instead of $L$. Same network and training otherwise; compare on the test
# set. With our 17 levels there is little to save — $K = 5$ logistics take 15 numbers per pixel, the softmax
# 17 — and the two outputs end up close (the printout below; the check under the scoreboard of §8 bounds the
# gap). The logistic's advantage appears with 256 levels: 15 numbers instead of 256 per pixel, and neighbouring
# intensities really are similar, which the smooth output knows from the start (Salimans et al., 2017).

# %%
pixelcnn_logistic = train("PixelCNN, logistic mixture", PixelCNN(image_shape, levels, channels=32, layers=5,
                                                                 output="logistic", mixtures=5),
                          epochs=22, lr=6e-3, average=0.95, variant="_32_lr6e-3_average22")
with torch.no_grad():
    x_one = split.test.x[:1].to(device())
    pixel = (3, 3)
    per_level = {"categorical": pixelcnn.log_probs(x_one)[0, :, pixel[0], pixel[1]].exp().cpu(),
                 "logistic mixture": pixelcnn_logistic.log_probs(x_one)[0, :, pixel[0], pixel[1]].exp().cpu()}
fig, ax = plt.subplots(figsize=(6, 3))
for i, (name, probs) in enumerate(per_level.items()):
    ax.bar(np.arange(levels) + (i - 0.5) * 0.4, probs, 0.4, label=name)
ax.axvline(split.test.x[0, 0, pixel[0], pixel[1]].item(), color="k", ls=":", label="true level")
ax.set(xlabel="grey level", ylabel="p(x_d | x_<d)", title=f"The two output distributions at pixel {pixel}")
ax.legend(fontsize=8)
print(f"test NLL: categorical {results['PixelCNN'][0]:.2f}, logistic mixture {results['PixelCNN, logistic mixture'][0]:.2f} "
      f"nats/image; outputs per pixel: {levels} and {3 * 5}");

# %% [markdown]
# ## 6. Causal dilated convolutions (WaveNet) on the pixel sequence
#
# Read each digit as a sequence of $D$ values. A **causal** 1D convolution only looks back: with kernel size
# $k$, output $t$ reads the inputs $t, t-1, \dots, t-(k-1)$. **Dilation** $d$ spaces those taps $d$ steps
# apart: output $t$ reads $t, t-d, \dots, t-(k-1)d$. Stack causal convolutions with dilations
# $1, 2, 4, \dots$ and the history one output can see grows quickly with depth (van den Oord et al., 2016,
# WaveNet). As for PixelCNN, the first layer must not read position $t$ itself: it is shifted one step, so
# output $t$ predicts $x_t$ from $x_{<t}$.
#
# ### Exercise 5 — receptive-field arithmetic
# Write `receptive_field_size(kernel_size, dilations)` for a stack of causal convolutions, one layer per entry of
# `dilations` (in that order), all with the same `kernel_size`: the length of the window of inputs that one
# output depends on, from the oldest input it reads to the current one, both included (a dilated layer alone
# reads inputs with gaps between them: the gaps count). Work it out for one layer, then for what a second
# layer adds; return an `int`.

# %%
def receptive_field_size(kernel_size, dilations):
    """The length of the window of inputs (oldest read to current, inclusive) one output of the stack depends on."""
    ### BEGIN SOLUTION
    return 1 + sum((kernel_size - 1) * d for d in dilations)
    ### END SOLUTION


# %% tags=["check"]
from course_lib.nn import CausalConv1d

stacks = ((2, (1, 2, 4, 8)), (3, (1, 3, 9)), (2, (1, 1, 1)), (4, (2,)), (3, (4, 1, 2)))
measured, yours = [], []
for kernel_size, dilations in stacks:
    stack = torch.nn.Sequential(*[CausalConv1d(1, 1, kernel_size, dilation=d) for d in dilations])
    for conv in stack:
        torch.nn.init.constant_(conv.weight, 1.0)
    signal = torch.zeros(1, 1, 100, requires_grad=True)
    stack(signal)[0, 0, -1].backward()
    read = (signal.grad[0, 0] != 0).nonzero().flatten()
    measured.append(int(read[-1] - read[0]) + 1)              # from the oldest input read to the current one
    yours.append(exercises.call(5, receptive_field_size, kernel_size, dilations))
single = stacks.index((4, (2,)))                           # the one single-layer stack
try:
    yours = [int(a) if float(a).is_integer() else float(a) for a in yours]   # 16.0 counts as 16
except (TypeError, ValueError):
    pass
differences = {a - b for a, b in zip(yours, measured)} if all(isinstance(a, int) for a in yours) else set()
if differences == {-1}:
    hint = "one short everywhere: count the output's own position t too"
elif differences == {1}:
    hint = "one too many everywhere: the window runs from the oldest input read to the current one"
elif yours[single] != measured[single]:
    hint = (f"one layer (kernel {stacks[single][0]}, dilation {stacks[single][1][0]}) alone should give "
            f"{measured[single]}: output t reads t, t − d, t − 2d, …, k inputs in all")
else:
    hint = ("one layer is right, stacks are not: layer 2 reads outputs of layer 1, each of which reaches back "
            "further — how much does each layer add to the window?")
exercises.expect_true("receptive fields of five stacks (measured by gradients) — " +
                      ", ".join(f"k={k}, d={d}" for k, d in stacks), yours == measured, exercise=5,
                      hint=f"expected {measured}, got {yours}: {hint}")

# %% [markdown]
# `models.CausalConvSequence` stacks gated residual layers of kernel 2 with dilations $1, 2, 4, \dots$ over the
# raster sequence (after the shifted first layer), enough of them for the last layer to reach every earlier pixel
# of the image; the printout compares with undilated layers. With 1000 training images the models of this chapter
# stop early because they start to memorise; this one is wider (64 channels) and regularised with **dropout**
# (30 % of each residual branch's units zeroed in training, none at test time). Dropout and a large learning rate
# make the weights jitter from step to step around where they are heading, so the weights it keeps are their
# **running average** (`fit(..., average=0.98)`: $\bar{\mathbf w} \leftarrow 0.98\, \bar{\mathbf w} + 0.02\,
# \mathbf w$ after every step, a memory of about $1/(1-0.98) = 50$ steps; Polyak & Juditsky, 1992), which sits
# closer to the centre of the jitter than the last step does. NADE, the MADEs and the three PixelCNNs above kept
# such an average too (`average=0.95`), as do the GRU below and the class-conditional model of §11.

# %%
# trained in a second process since the top of the chapter (train_wavenet)
wavenet = report("causal dilated conv (WaveNet-style)", *wavenet_training.result())
undilated_layers = next(n for n in range(1, 1000) if 1 + n >= dims_image)  # one step back per undilated layer
print(f"receptive field of its last layer: {wavenet.receptive_field} pixels with {len(wavenet.dilations)} dilated "
      f"layers; undilated layers of kernel 2 would need {undilated_layers} layers to see {dims_image} pixels")

# %% tags=["check"]
exercises.expect_true("the WaveNet-style model's last layer sees all earlier pixels of the image",
                      wavenet.receptive_field >= dims_image)
wavenet_history = histories["causal dilated conv (WaveNet-style)"]
kept = wavenet_history.best_epoch
print(f"validation NLL at the epoch kept ({kept + 1} of {len(wavenet_history.val_loss)}): averaged weights "
      f"{wavenet_history.val_loss[kept]:.2f}, the trained weights of that epoch "
      f"{wavenet_history.val_loss_unaveraged:.2f} nats/image")
exercises.expect_true("the running average of the WaveNet-style model's weights scores better on validation than "
                      "its trained weights of the same epoch",
                      wavenet_history.val_loss[kept] < wavenet_history.val_loss_unaveraged)

# %% [markdown]
# ## 7. Recurrent models: teacher forcing and free-running generation
#
# A **recurrent neural network** parameterises the conditionals with a state that it carries along the
# sequence (the slide decks' first autoregressive model; Karpathy, 2015, on text): reading
# $x_{t-1}$, it updates $\mathbf s_t = \mathrm{GRU}(\mathbf s_{t-1}, x_{t-1})$ and outputs
# $p(x_t \mid \mathbf x_{<t}) = \mathrm{softmax}(f(\mathbf s_t))$. Its receptive field is the whole past, at
# any length, with a fixed number of parameters; PixelRNN (van den Oord et al., 2016) runs LSTMs along the rows
# and diagonals of the image. Ours, `GRUSequence`, is the one-dimensional version: a GRU (Cho et al., 2014)
# over the raster sequence, also told the position $t$ so it knows where rows end.
#
# It is **trained with teacher forcing**: the input at step $t$ is the *true* $x_{t-1}$, so the loss at every
# step is available from one pass over the data, and the recurrence never waits for a sample. It
# **generates free-running**: the input at step $t$ is its *own* draw $\hat x_{t-1}$, one step at a time.
# Training never showed it its own mistakes, so one unlikely draw puts it in states it has not learned from,
# and errors compound ("exposure bias"; scheduled sampling, Bengio et al., 2015, mixes the two during
# training). Unlike a convolutional model, which recomputes the whole image for each new pixel, a recurrent
# model carries its state: a step costs the same at the first pixel and the last.

# %%
gru = train("GRU (recurrent)", GRUSequence(image_shape, levels, hidden=64), epochs=20, lr=6e-3, average=0.95,
            variant="_lr6e-3_average20")

calls = []
hook = gru.gru.register_forward_hook(lambda module, inputs, output: calls.append(inputs[0].shape[1]))
top_half = torch.zeros(image_shape, dtype=torch.bool)                          # (1, H, W): the rows kept
top_half[:, : side // 2] = True
shown = split.test.x[:8].to(device())
with torch.no_grad():
    teacher_forced = gru.log_probs(shown).exp()                                  # p(x_t | the true x_<t)
teacher_calls = list(calls)
calls.clear()
free_running = gru.sample(len(shown), generator=torch.Generator().manual_seed(0), observed=shown, known=top_half)
free_calls = list(calls)
hook.remove()
level_values = torch.arange(levels, dtype=torch.float32, device=device()).view(1, -1, 1, 1)
teacher_mean = (teacher_forced * level_values).sum(1, keepdim=True)             # the expected level of each pixel
bottom = ~top_half.expand_as(shown)
teacher_error = (teacher_mean - shown).abs()[bottom].mean().item()
free_error = (free_running - shown).abs()[bottom].mean().item()
fig, axes = plt.subplots(3, 1, figsize=(8, 3.6))
for ax, images, title in zip(axes, (shown, teacher_mean, free_running),
                             ("test digits", "teacher forcing: expected level of each pixel given the TRUE pixels before it",
                              "free-running: the bottom half sampled pixel by pixel from the model's own draws")):
    plotting.image_grid(images, nrow=8, levels=levels, title=title, ax=ax)
    ax.title.set_fontsize(8)
fig.tight_layout()
print(f"teacher forcing: {len(teacher_calls)} call of the recurrent layer over {teacher_calls[0]} steps; "
      f"free-running: {len(free_calls)} calls of {set(free_calls)} step each")
print(f"mean |error| on the bottom halves, in grey levels: teacher-forced predictions {teacher_error:.2f}, "
      f"free-running samples {free_error:.2f}");

# %% tags=["check"]
exercises.expect_true("teacher forcing evaluates all D conditionals in one call; free-running takes D one-step calls",
                      teacher_calls == [dims_image] and free_calls == [1] * dims_image)
exercises.expect_true("teacher-forced predictions stay closer to the true bottom halves than free-running samples",
                      teacher_error < free_error)

# %% [markdown]
# The teacher-forced row is sharp because every prediction is told the truth so far: it shows how well
# one-step-ahead prediction works, not what the model generates. The free-running row is what sampling
# produces: plausible strokes that drift away from the original once a few pixels differ — each
# continuation is a valid sample of $p(\text{bottom} \mid \text{top})$, not a reconstruction.

# %% [markdown]
# ## 8. The scoreboard and the training curves
#
# Every number is an **exact** test negative log-likelihood of the digits' grey levels. Two reference points:
# **independent pixels** (one histogram per pixel, [chapter 01](01_density_estimation.ipynb)), computed here
# again, and the causal-convolution autoregressive model of Tomczak's *Deep Generative Modeling* code on the
# same split, which reports 86.7 nats per image after 190 s of training on 2 cores.

# %%
TOMCZAK_NATS, TOMCZAK_SECONDS = 86.7, 190          # the published reference (Tomczak, 2022, code for chapter 2)
independent = FactorizedCategorical.fit(split.train.x, levels)
independent_nll = mean_nll(independent, split.test.x)
best_name = min(results, key=lambda n: results[n][0])
display(Markdown(
    "| model | test NLL (nats/image) | bits/dim | training (s) |\n|---|---|---|---|\n"
    + f"| independent pixels (chapter 01) | {independent_nll:.2f} | {bits_per_dim(independent_nll):.3f} | – |\n"
    + "\n".join(f"| {'**' + n + '**' if n == best_name else n} | {nll:.2f} | {bits_per_dim(nll):.3f} | {s:.0f} |"
                for n, (nll, s) in sorted(results.items(), key=lambda item: item[1][0]))))
for name, (nll, _) in results.items():
    leaderboard.record(f"{name} (autoregressive)", 3, nll, dims_image, dataset=DATASET, bound="exact")
print(f"the best model, {best_name}, trained for {results[best_name][1]:.0f} s on this machine "
      f"(the reference: {TOMCZAK_SECONDS} s on 2 cores for {TOMCZAK_NATS} nats)")

# %% tags=["check"]
exercises.expect_true(f"every autoregressive model beats independent pixels ({independent_nll:.1f} nats)",
                      max(nll for nll, _ in results.values()) < independent_nll)
exercises.expect_true("with 17 levels the categorical and logistic-mixture outputs (same PixelCNN) are within 2 nats",
                      abs(results["PixelCNN"][0] - results["PixelCNN, logistic mixture"][0]) < 2)
exercises.expect_true("the gated PixelCNN beats the plain PixelCNN of the same width (no blind spot, gates)",
                      results["gated PixelCNN"][0] < results["PixelCNN"][0])
exercises.expect_true(f"the best model beats the {TOMCZAK_NATS}-nat reference",
                      DATASET != "digits" or results[best_name][0] < TOMCZAK_NATS)
exercises.expect_true("the best model reaches 80 nats/image or better on the digits",
                      DATASET != "digits" or results[best_name][0] <= 80)

# %% [markdown]
# **An ensemble is a mixture.** Two models trained apart make different mistakes. Averaging their
# *probabilities*, $p(\mathbf x) = \tfrac12\, p_1(\mathbf x) + \tfrac12\, p_2(\mathbf x)$, as MADE's ensemble of orders did, gives
# again an exact likelihood, and again an autoregressive model: its conditional
# $p(x_d \mid \mathbf x_{<d}) = \sum_k w_k\, p_k(x_d \mid \mathbf x_{<d})$ weighs each member by how well it predicted the pixels
# so far, $w_k \propto p_k(\mathbf x_{<d})$; to sample, pick a member at random and let it draw the whole image. Its
# log-likelihood is a log-sum-exp of the members' minus $\log 2$. The two best models of the chapter:

# %%
pair = {"causal dilated conv (WaveNet-style)": wavenet, "gated PixelCNN": gated_pixelcnn}
with torch.no_grad():
    test_x = split.test.x.to(device())
    member_log_p = torch.stack([model.eval().log_prob(test_x).double().cpu() for model in pair.values()])  # (2, N)
ensemble_nll = -(torch.logsumexp(member_log_p, 0) - math.log(len(pair))).mean().item()
leaderboard.record(f"ensemble of the {' and the '.join(pair)} (autoregressive)", 3, ensemble_nll, dims_image,
                   dataset=DATASET, bound="exact")
print(f"test NLL: ensemble {ensemble_nll:.2f} nats/image; its members " +
      ", ".join(f"{name} {results[name][0]:.2f}" for name in pair))
exercises.expect_true("the ensemble's test NLL beats both of its members'",
                      ensemble_nll < min(results[name][0] for name in pair))

# %% [markdown]
# The validation NLL per epoch (training stops after `patience` epochs without improvement; the dot marks the
# epoch whose weights are kept):

# %%
fig, ax = plt.subplots(figsize=(8, 4))
for name, history in histories.items():
    line, = ax.plot(range(1, len(history.val_loss) + 1), history.val_loss, label=name)
    ax.plot(history.best_epoch + 1, history.val_loss[history.best_epoch], "o", color=line.get_color())
ax.axhline(independent_nll, color="k", ls=":", label="independent pixels (test)")
ax.set(xlabel="epoch", ylabel="validation NLL (nats/image)", title="Training curves",
       ylim=(results[best_name][0] - 10, independent_nll + 15))
ax.legend(fontsize=7, ncol=2);

# %%
Markdown(leaderboard.table(DATASET))

# %% [markdown]
# ## 9. Completing occluded digits (missing data)
#
# Because the model gives every conditional, it can fill in missing pixels: keep the observed pixels
# fixed and sample the rest *in order*. With the raster order, hiding the bottom half is exact
# conditional sampling, $p(\text{bottom} \mid \text{top})$; for other regions the sampler still keeps the
# shown pixels, but pixels that come *later* in the order and are shown are only used for the pixels
# after them — an honest limitation of a fixed order. Choose the digit and the hidden region:

# %%
completion_model = gated_pixelcnn if results["gated PixelCNN"][0] <= results["PixelCNN"][0] else pixelcnn
CompletionExplorer(completion_model, split.test.x[:50], n=6)

# %% [markdown]
# ## 10. Samples: texture comes easier than global structure
#
# Samples of every model, best first (the order of the scoreboard):

# %%
unconditional = {"FVSBN": fvsbn, "NADE": nade_model, "MADE (1 mask)": made, "MADE (4 orders)": made_ensemble,
                 "PixelCNN": pixelcnn, "gated PixelCNN": gated_pixelcnn, "PixelCNN, logistic mixture": pixelcnn_logistic,
                 "causal dilated conv (WaveNet-style)": wavenet, "GRU (recurrent)": gru}
ranked = sorted(unconditional, key=lambda n: results[n][0])
# One draw of gallery.SAMPLES images per model (one network pass per pixel, §12) serves the pictures, the measurements
# below and the gallery.
drawn = {name: unconditional[name].sample(gallery.SAMPLES, generator=torch.Generator().manual_seed(0)) for name in ranked}
samples = {name: drawn[name][:16] for name in ranked}
fig, axes = plt.subplots(len(samples), 1, figsize=(8, 0.95 * len(samples)))
for ax, (name, images) in zip(axes, samples.items()):
    plotting.image_grid(images, nrow=16, levels=levels, ax=ax)
    ax.set_title(f"{name}: {results[name][0]:.1f} nats", fontsize=8)
fig.tight_layout();
# Samples of every model go to the gallery, where chapter 09 scores them (FID, precision, recall) on the test split.
for name in ranked:
    gallery.record(f"{name} (autoregressive)", 3, drawn[name], levels=levels, dataset=DATASET,
                   train_seconds=results[name][1])

# %% [markdown]
# The slide decks sum up pixel-level autoregressive models as *great at capturing details, weak at
# "high-level" global structure* (PixelCNN samples on CIFAR-10 have convincing textures and no objects). Three
# reasons, all visible here:
#
# * **The likelihood is paid locally.** $\log p(\mathbf x)$ is a sum of $D$ per-pixel terms, and most pixels are
#   well predicted by their nearest neighbours: strokes continue, background stays blank. Nothing in the
#   objective singles out the few decisions — which digit, where a loop closes — that make an image globally
#   coherent; they are a small part of the sum.
# * **No global decision is ever taken first.** There is no latent variable that says "a 3" before the pixels are
#   drawn: the first rows are sampled before the model has committed to a digit, and later pixels must make the
#   best of them. A few unlucky early draws and the image wanders between digits.
# * **Local windows.** Each masked convolution sees a few pixels; long-range dependencies need depth, dilation or
#   recurrence, and every layer of context is paid for at every pixel.
#
# The gap can be measured. Take two statistics of a set of images: a **local** one, the joint histogram of the
# levels of neighbouring pixels (horizontal and vertical pairs: texture), compared with the test digits' by
# total variation; and a **global** one, the mean confidence of a digit classifier (a logistic regression trained
# on the training digits) — high only when an image *is* some digit. Place the best model's samples between two
# references, samples of independent pixels (no structure at all) and real digits (held-out ones, from the
# validation set: the classifier has seen the training digits), and ask what fraction of the way from the first to
# the second each statistic has gone:

# %%
from sklearn.linear_model import LogisticRegression  # noqa: E402

digit_classifier = LogisticRegression(max_iter=2000).fit(split.train.x.flatten(1).numpy() / (levels - 1),
                                                         split.train.y.numpy())


def classifier_confidence(images):
    """Mean over images of the classifier's largest class probability."""
    return float(digit_classifier.predict_proba(images.flatten(1).cpu().numpy() / (levels - 1)).max(1).mean())


def neighbour_pairs(images):
    """Joint histogram (L, L) of the levels of horizontally and vertically adjacent pixels, normalised."""
    x = images[:, 0].long().cpu()
    counts = torch.zeros(levels, levels)
    for first, second in ((x[:, :, :-1], x[:, :, 1:]), (x[:, :-1], x[:, 1:])):
        counts.index_put_((first.flatten(), second.flatten()), torch.ones(first.numel()), accumulate=True)
    return counts / counts.sum()


def texture_distance(images):
    """Total variation between the images' neighbour-pair histogram and the test digits'."""
    return 0.5 * (neighbour_pairs(images) - neighbour_pairs(split.test.x)).abs().sum().item()


judged_n = 150
judged = {"independent pixels": independent.sample(judged_n, generator=torch.Generator().manual_seed(2)),
          f"{best_name}": drawn[best_name][-judged_n:],      # drawn above, not the 16 pictured
          "real digits (validation set)": split.val.x[:judged_n]}
texture = {name: texture_distance(images) for name, images in judged.items()}
confidence = {name: classifier_confidence(images) for name, images in judged.items()}
ends = ("independent pixels", "real digits (validation set)")
texture_closed = (texture[ends[0]] - texture[best_name]) / (texture[ends[0]] - texture[ends[1]])
confidence_closed = (confidence[best_name] - confidence[ends[0]]) / (confidence[ends[1]] - confidence[ends[0]])
display(Markdown(
    f"| {judged_n} images of | texture distance to the test digits (↓) | classifier confidence (↑) |\n|---|---|---|\n"
    + "\n".join(f"| {name} | {texture[name]:.3f} | {confidence[name]:.2f} |" for name in judged)
    + f"\n\nThe {best_name} goes **{texture_closed:.0%}** of the way from independent pixels to real digits in "
    f"texture"
    + (f" (past 100 %: its neighbour pairs match the test digits' as well as {judged_n} real digits do, or better; "
       f"{judged_n} images are a small sample)" if texture_closed > 1 else "")
    + f", but only **{confidence_closed:.0%}** of the way in how recognisable its samples are."));

# %% tags=["check"]
exercises.expect_true("the best model's samples are closer to real digits in texture than in recognisability "
                      "(a larger fraction of the gap closed)", texture_closed > confidence_closed)

# %% [markdown]
# ## 11. A class-conditional gated PixelCNN: the global decision first
#
# The second reason of §10 is one a model can be spared: give it the global decision, which digit, before its
# first pixel.
# Conditioning is one more input to every conditional: $p(\mathbf x \mid y) = \prod_d p(x_d \mid \mathbf x_{<d}, y)$.
# The gated PixelCNN adds a learned vector per class to every layer's features (van den Oord et al., 2016,
# trained it on the 1000 ImageNet classes); `train.fit(..., labels_as_context=True)` passes each batch's labels
# as `context`. Trained from scratch with the labels, it draws one row of samples per digit class; §10's digit
# classifier reads them back:

# %%
# trained in a second process since the top of the chapter (train_conditional)
conditional = report("gated PixelCNN, class-conditional", *conditional_training.result(), labels_as_context=True)
del results["gated PixelCNN, class-conditional"]      # p(x | y) is not p(x): it gets its own comparison below
classes = conditional.context_classes
per_class = 8
class_samples = conditional.sample(classes * per_class, generator=torch.Generator().manual_seed(0),
                                   context=torch.arange(classes).repeat_interleave(per_class))
plotting.image_grid(class_samples, nrow=per_class, levels=levels, title="one row per class: samples of p(x | y)")
read_back = torch.from_numpy(digit_classifier.predict(class_samples.flatten(1).cpu().numpy() / (levels - 1)))
rows_recognised = (read_back == torch.arange(classes).repeat_interleave(per_class)).float().mean().item()
row_confidence = classifier_confidence(class_samples)
# the same measure on §10's samples of every unconditional model (none took a decision first), judged_n each
unconditional_confidence = {name: classifier_confidence(drawn[name][-judged_n:]) for name in ranked}
most_sure = max(unconditional_confidence, key=unconditional_confidence.get)
print(f"the classifier gives {rows_recognised:.0%} of the samples the label of their row "
      f"(on the test digits it is right {digit_classifier.score(split.test.x.flatten(1).numpy() / (levels - 1), split.test.y.numpy()):.0%} of the time)")
print(f"its mean confidence on these samples: {row_confidence:.2f}; on §10's samples of the unconditional models at "
      f"most {unconditional_confidence[most_sure]:.2f} ({most_sure}); on real digits: {confidence[ends[1]]:.2f}");

# %% tags=["check"]
exercises.expect_true("most samples are recognised as the class they were drawn for (more than half)",
                      rows_recognised > 0.5)
exercises.expect_true("told the digit first, the class-conditional model draws samples the classifier is more sure of "
                      "than any unconditional model's (§10)", row_confidence > max(unconditional_confidence.values()))

# %% [markdown]
# A conditional density model is also a **classifier** (chapter 01's generative route): Bayes' rule gives
# $p(y \mid \mathbf x) \propto p(\mathbf x \mid y)\, p(y)$, and summing the labels out gives the exact
# unconditional likelihood $p(\mathbf x) = \sum_y p(\mathbf x \mid y)\, p(y)$, a mixture of ten autoregressive
# models, which joins the leaderboard.

# %%
class_prior = torch.bincount(split.train.y.long(), minlength=classes).float() / len(split.train.y)
with torch.no_grad():
    test_x = split.test.x.to(device())
    log_joint = torch.stack([conditional.log_prob(test_x, context=torch.full((len(test_x),), y)).cpu()
                             for y in range(classes)], dim=1) + class_prior.log()          # (N, 10)
true_label = split.test.y.long()
conditional_nll = -(log_joint[torch.arange(len(true_label)), true_label] - class_prior.log()[true_label]).mean().item()
label_bound = -class_prior.log()[true_label].mean().item()                   # mean of log 1/p(y)
marginal_nll = -torch.logsumexp(log_joint, dim=1).mean().item()
likelihood_accuracy = (log_joint.argmax(1) == true_label).float().mean().item()
leaderboard.record("gated PixelCNN, class-conditional, labels summed out (autoregressive)", 3, marginal_nll,
                   dims_image, dataset=DATASET, bound="exact")
gallery.record_model("gated PixelCNN, class-conditional, labels summed out (autoregressive)", 3, conditional,
                     levels=levels, dataset=DATASET, context=torch.arange(gallery.SAMPLES) % classes,   # balanced labels
                     train_seconds=histories["gated PixelCNN, class-conditional"].seconds)
print(f"test NLL given the true label, −log p(x | y): {conditional_nll:.2f} nats; with the label summed out, "
      f"−log p(x): {marginal_nll:.2f} nats (the unconditional gated PixelCNN: {results['gated PixelCNN'][0]:.2f})")
print(f"the label is worth {marginal_nll - conditional_nll:.2f} nats per image, of at most "
      f"E log 1/p(y) = {label_bound:.2f} (when p(y | x) = 1)")
print(f"classifying by argmax_y p(x | y) p(y): test accuracy {likelihood_accuracy:.3f}")

# %% tags=["check"]
exercises.expect_true("knowing the label makes the test digits more likely: −log p(x | y) < −log p(x)",
                      conditional_nll < marginal_nll)
exercises.expect_true("the label is worth at most E log 1/p(y) nats (log p(y | x) ≤ 0)",
                      marginal_nll - conditional_nll <= label_bound + 1e-6)
exercises.expect_true("the likelihoods classify the test digits better than 80 % of the time",
                      likelihood_accuracy > 0.8)

# %% [markdown]
# ## 12. What sampling costs, and sampling in groups
#
# Sampling draws pixel 1, then pixel 2 given pixel 1, and so on: $D$ passes through the network.
# For a convolutional model a pass over the whole image costs $O(D)$, so an image costs $O(D^2)$: fine for 64
# pixels, slow for 784, prohibitive for a megapixel. The course's samplers save what they can, in two ways:
#
# * **Rows below do not matter.** The rows below the pixel being drawn cannot change its distribution, so the
#   PixelCNN's pass for a pixel of row $r$ runs the network on rows $0..r$ only. For a $\sqrt D \times \sqrt D$
#   image that is $\sqrt D\,(r + 1)$ positions per pass, $D(D + \sqrt D)/2$ in all: half the work, still $O(D^2)$.
# * **Reuse what is fixed** (Ramachandran et al., 2017). The gated PixelCNN's vertical stack feeds row $r$ with the
#   rows *above* it only, and those do not change while row $r$ is drawn. So when a row is complete, each
#   layer's vertical stack is extended by that one row, and each pixel then reruns only the horizontal stacks and
#   the output head, on its own row: $\sqrt D$ positions per pass, $D\sqrt D$ in all, $O(D^{3/2})$. The
#   WaveNet-style model goes further along its sequence: a layer's output at $t$ needs its input at $t$ and
#   $t - \text{dilation}$ only, so every layer keeps its activations and a step computes one new position per
#   layer (Paine et al., 2016), $O(D)$ in all. Both give the probabilities of the whole-network pass (the test
#   suite compares them pixel by pixel).
#
# Below, what sampling an (untrained) PixelCNN and gated PixelCNN costs as the image grows: the network passes
# and the pixel positions computed by the output head are counted (they are what the check asserts); the wall
# time is measured too, for information, since it depends on the machine (and with 4 small images a pass costs
# mostly the fixed overhead of calling the network, so the times can follow the number of passes more than the work).

# %%
sides = [4, 8, 12, 16]
pixels = np.array(sides) ** 2
probes = {"PixelCNN (rows 0..r)": lambda s: PixelCNN((1, s, s), levels, channels=32, layers=5),
          "gated PixelCNN (cached stacks)": lambda s: GatedPixelCNN((1, s, s), levels, channels=32, layers=5)}
seconds, passes, positions, work_slope = {}, {}, {}, {}
for name, make in probes.items():
    seconds[name], passes[name], positions[name] = [], [], []
    for s in sides:
        probe = make(s)
        # Count what sampling does: every network pass runs the output head once, on some pixel positions.
        counts = {"passes": 0, "positions": 0}
        def count(module, inputs, output, counts=counts):
            counts["passes"] += 1
            counts["positions"] += output.shape[-2] * output.shape[-1]
        hook = probe.head.register_forward_hook(count)
        start = time.perf_counter()
        probe.sample(4, generator=torch.Generator().manual_seed(0))
        seconds[name].append(time.perf_counter() - start)
        hook.remove()
        passes[name].append(counts["passes"])
        positions[name].append(counts["positions"])
    work_slope[name] = np.polyfit(np.log(pixels), np.log(positions[name]), 1)[0]
fig, ax = plt.subplots(figsize=(6, 3))
for name in probes:
    time_slope = np.polyfit(np.log(pixels[1:]), np.log(seconds[name][1:]), 1)[0]
    ax.loglog(pixels, seconds[name], "o-", label=f"{name}: measured time (slope {time_slope:.2f})")
    print(f"{name}: work (pixel positions computed) grows as D^{work_slope[name]:.2f}; measured time as "
          f"D^{time_slope:.2f} (on this machine: {', '.join(f'{t:.2f} s' for t in seconds[name])})")
first = seconds[next(iter(probes))]
ax.loglog(pixels, first[1] * (pixels / pixels[1]) ** 2, "k:", label="∝ D²")
ax.loglog(pixels, first[1] * (pixels / pixels[1]) ** 1.5, "k--", label="∝ D^1.5")
ax.set(xlabel="pixels D", ylabel="seconds for 4 samples", title="Sequential sampling cost")
ax.legend(fontsize=7)
print("network passes per sampling call:", dict(zip(pixels.tolist(), passes["PixelCNN (rows 0..r)"])))

# %% tags=["check"]
pixel_rows, gated_cached = probes
exercises.expect_true("sampling makes exactly one network pass per pixel (D passes for D pixels), with either sampler",
                      all(passes[name] == pixels.tolist() for name in probes))
exercises.expect_true("the PixelCNN's passes compute the rows down to the pixel's row: D(D + √D)/2 positions in all, "
                      "work growing as D² (slope within 2 ± 0.1)",
                      positions[pixel_rows] == [d * (d + s) // 2 for d, s in zip(pixels.tolist(), sides)]
                      and abs(work_slope[pixel_rows] - 2) < 0.1)
exercises.expect_true("the gated PixelCNN's cached passes compute the pixel's row only: D√D positions in all, work "
                      "growing as D^1.5 (slope within 1.5 ± 0.1)",
                      positions[gated_cached] == [d * s for d, s in zip(pixels.tolist(), sides)]
                      and abs(work_slope[gated_cached] - 1.5) < 0.1)

# %% [markdown]
# **Parallel multiscale autoregressive models** (Reed et al., 2017) break the chain into *groups*. A PixelCNN
# draws a small base image, say 4×4, pixel by pixel. Then the resolution doubles: each pixel of the coarse
# image becomes the top-left pixel of a 2×2 block, and the other three pixels of every block are drawn in
# three steps — first all the top-right pixels at once, then all the bottom-left ones, then all the bottom-right
# ones — each group from a network that sees the coarser image and the groups drawn before it. Pixels of the
# same group are sampled *independently* given what came before: that is the modelling price, paid for speed.
# Doubling the side costs 3 steps instead of $3\times$ as many pixels, so the number of sequential network
# evaluations grows as $O(\log D)$ instead of $D$. The map below gives, for every pixel, the step at which it is
# drawn:

# %%
def multiscale_steps(side, base=4):
    """(side, side) map of the sequential step (1, 2, …) at which each pixel is drawn: base × base pixels one by one,
    then, at every doubling of the resolution, the three other pixels of each 2×2 block in three group steps."""
    steps = torch.zeros(side, side, dtype=torch.long)
    stride = side // base
    steps[::stride, ::stride] = torch.arange(1, base * base + 1).reshape(base, base)
    step = base * base
    while stride > 1:
        stride //= 2
        for dy, dx in ((0, 1), (1, 0), (1, 1)):       # top-right, bottom-left, bottom-right pixels of every block
            step += 1
            steps[dy * stride::2 * stride, dx * stride::2 * stride] = step
    return steps


fig, axes = plt.subplots(1, 2, figsize=(10, 4.6))
for ax, side_shown in zip(axes, (8, 16)):
    step_map = multiscale_steps(side_shown)
    ax.imshow(step_map, cmap="viridis")
    if side_shown == 8:
        for (r, c), value in np.ndenumerate(step_map.numpy()):
            ax.text(c, r, str(value), ha="center", va="center", fontsize=7, color="w" if value < 14 else "k")
    ax.set_title(f"{side_shown}×{side_shown}: {int(step_map.max())} sequential steps instead of {side_shown ** 2}",
                 fontsize=9)
    ax.set_xticks([]), ax.set_yticks([])
fig.tight_layout()
sizes = [8, 16, 32, 64, 128, 256]
step_counts = {s: int(multiscale_steps(s).max()) for s in sizes}
display(Markdown("| image | raster passes $D$ | multiscale steps (4×4 base) | fewer sequential passes |\n|---|---|---|---|\n"
                 + "\n".join(f"| {s}×{s} | {s * s} | {step_counts[s]} | {s * s / step_counts[s]:.0f}× |"
                             for s in sizes)));

# %% tags=["check"]
exercises.expect_true("every pixel is drawn at exactly one step, and the steps are 16 + 3 log₂(side/4)",
                      all(bool((multiscale_steps(s) > 0).all())
                          and len(multiscale_steps(s).unique()) == step_counts[s] == 16 + 3 * int(math.log2(s / 4))
                          for s in sizes))
exercises.expect_true("from 64×64 on, the multiscale sampler needs over 100× fewer sequential passes",
                      all(s * s / step_counts[s] > 100 for s in sizes if s >= 64))

# %% [markdown]
# Fewer passes is not the same as less time: each group step runs a network over the whole image at its
# resolution, and the base and upsampling networks are bigger. Reed et al. (2017) report sampling about
# 100× faster than a PixelCNN, at some cost in likelihood — the price of the within-group independence.

# %% [markdown]
# ## Further exercises (no checks)
# 6. Train MADE with 8 orders and evaluate with 1, 2, 4 and 8 of them. Why does the ensemble help?
# 7. Why can a fixed raster order not condition on pixels *below* a hidden region? Which order (or
#    which ensemble of orders, as in MADE) would make "fill in the centre" exact?
# 8. Scheduled sampling: train the GRU feeding it, with probability ε, its own draw instead of the true previous
#    pixel. Does the free-running error of §7 shrink? What happens to the test NLL?
# 9. Write the sampler of §12's multiscale scheme for 8×8 digits: a small PixelCNN for the 4×4 base image, and a
#    convolutional network per group that outputs the distribution of each new pixel given the image so far.
#    How does its test NLL compare with the gated PixelCNN's?
#
# ## Summary
# - The chain rule gives exact likelihoods; teacher forcing makes training parallel, sampling stays sequential
#   and free-running.
# - FVSBN (linear), NADE (shared hidden units, one cumulative sum), MADE (masks from degrees), PixelCNN (masked
#   convolutions) and its gated version (vertical stack shifted down, no blind spot) are one idea with better and
#   better conditionals; a GRU carries the whole past in its state.
# - Receptive fields can be measured with gradients; causal dilated convolutions grow them exponentially.
# - Autoregressive models top the likelihood leaderboard and fill in missing data; their likelihood rewards local
#   texture more than global structure, which a label given first (a class-conditional model) helps with; sampling
#   costs $O(D)$ sequential steps, which parallel multiscale models cut to $O(\log D)$.
#
# ## References
# - Bengio, S., Vinyals, O., Jaitly, N., & Shazeer, N. (2015). Scheduled sampling for sequence prediction with recurrent neural networks.
# - Cho, K., et al. (2014). Learning phrase representations using RNN encoder–decoder for statistical machine translation (GRU).
# - Frey, B. J. (1998). *Graphical Models for Machine Learning and Digital Communication* (FVSBN).
# - Germain, M., Gregor, K., Murray, I., & Larochelle, H. (2015). MADE: masked autoencoder for distribution estimation.
# - Karpathy, A. (2015). The unreasonable effectiveness of recurrent neural networks (blog post).
# - Larochelle, H., & Murray, I. (2011). The neural autoregressive distribution estimator.
# - van den Oord, A., Kalchbrenner, N., & Kavukcuoglu, K. (2016). Pixel recurrent neural networks.
# - van den Oord, A., et al. (2016). Conditional image generation with PixelCNN decoders.
# - van den Oord, A., et al. (2016). WaveNet: a generative model for raw audio.
# - Paine, T. L., et al. (2016). Fast WaveNet generation algorithm.
# - Polyak, B. T., & Juditsky, A. B. (1992). Acceleration of stochastic approximation by averaging.
# - Ramachandran, P., et al. (2017). Fast generation for convolutional autoregressive models.
# - Reed, S., et al. (2017). Parallel multiscale autoregressive density estimation.
# - Salimans, T., Karpathy, A., Chen, X., & Kingma, D. P. (2017). PixelCNN++.
# - Tomczak, J. M. (2022). *Deep Generative Modeling* (book and code).


# %% tags=["check"]
# Every check run in this session: "all passed", or the list of those that failed. Stuck on one exercise?
# Run `exercises.keep_going()` once: a failed check then prints a red ✘ and "Run All" goes on to the end.
exercises.report()
