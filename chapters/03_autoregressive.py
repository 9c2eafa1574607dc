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
# $$ p(\mathbf{x}) = \prod_{d=1}^{D} p(x_d \mid x_1, \dots, x_{d-1}). $$
# No approximation is involved: if every conditional is a normalised distribution, so is the
# product, and $\log p(\mathbf{x})$ is *exact* — a sum of $D$ log-probabilities. These are the fully
# visible belief networks of the taxonomy ([chapter 01, §8](01_density_estimation.ipynb)).
# The price: sampling must go one pixel at a time, and an order must be chosen.
#
# **Learning objectives.** After this chapter you can
# 1. write the chain rule for images, compute the exact likelihood, and explain why sampling is sequential;
# 2. follow the line FVSBN → NADE → MADE → PixelCNN → gated PixelCNN, and build MADE's masks;
# 3. *measure* a receptive field with gradients, find PixelCNN's blind spot, and see the gated fix;
# 4. compare categorical and discretized-logistic output distributions on test NLL;
# 5. complete occluded digits by sampling (missing data);
# 6. reason about sampling cost and causal dilated convolutions (WaveNet), including teacher forcing.

# %%
DATASET = "digits"  # "digits" (bundled, CPU) or "mnist" / "fashion_mnist" (local IDX files in $DGM_DATA)

import math
import time

import matplotlib.pyplot as plt
import numpy as np
import torch
from IPython.display import Markdown, display

from course_lib import data
from course_lib.evaluation import leaderboard
from course_lib.models import CausalConvSequence, FVSBN, GatedPixelCNN, MADE, NADE, PixelCNN
from course_lib.nn import MaskedConv2d, masks_from_degrees
from course_lib.runtime import cache_dir, device, seed_everything
from course_lib.teaching import exercises
from course_lib.train import fit
from course_lib.viz import CompletionExplorer, plotting

seed_everything(0)
split = data.load_dataset(DATASET)
levels, image_shape = split.levels, tuple(split.train.x.shape[1:])
dims_image = split.train.x[0].numel()
results = {}  # model name → (test NLL in nats/image, training seconds)


def train(name, model, epochs, lr=1e-3, batch_size=64, patience=8):
    """Train with early stopping (checkpoint in the cache), report the exact test NLL, keep the result."""
    history = fit(model, split.train, split.val, epochs=epochs, batch_size=batch_size, lr=lr, patience=patience,
                  checkpoint=cache_dir() / f"ch03_{name.replace(' ', '_')}_{DATASET}.pt")
    with torch.no_grad():
        nll = -model.log_prob(split.test.x.to(device())).mean().item()
    results[name] = (nll, history.seconds)
    print(f"{name}: test NLL {nll:.2f} nats/image ({nll / (dims_image * math.log(2)):.3f} bits/dim), "
          f"{len(history.train_loss)} epochs, {history.seconds:.1f} s")
    return model

# %% [markdown]
# ## 1. The chain rule, the exact likelihood, and the order
#
# Every model below outputs, for each pixel $d$, a distribution over the 17 grey levels computed
# from the earlier pixels only; its log-likelihood is the sum of the log-probabilities of the levels
# that actually occur. During training all $D$ conditionals are evaluated **in parallel** on the true
# image ("teacher forcing": the model is always conditioned on the real previous pixels, never on
# its own guesses). Sampling cannot be parallel: pixel $d$ needs the *sampled* values of pixels
# $< d$, so generating an image takes $D$ network evaluations.
#
# ### Exercise 1 — the exact log-likelihood from the conditionals
# Write `log_likelihood(log_probs, x)`: `log_probs` has shape `(B, L, H, W)` (for each pixel, the
# log-probability of each of the L levels given the earlier pixels), `x` has shape `(B, 1, H, W)`
# (integer levels as floats). Return $\sum_d \log p(x_d \mid \mathbf{x}_{<d})$ for each image, shape `(B,)`.
# Hint: `torch.gather` along dimension 1 with `x.long()`.

# %%
def log_likelihood(log_probs, x):
    """Σ over pixels of the log-probability of the observed level: (B, L, H, W), (B, 1, H, W) → (B,)."""
    ### BEGIN SOLUTION
    return log_probs.gather(1, x.long()).sum(dim=(1, 2, 3))
    ### END SOLUTION


# %% tags=["check"]
torch.manual_seed(1)
tiny = NADE((1, 3, 3), 2, hidden=8).eval()
every_image = torch.cartesian_prod(*(torch.arange(2.0),) * 9).reshape(-1, 1, 3, 3)
with torch.no_grad():
    yours = exercises.call(1, log_likelihood, tiny.log_probs(every_image), every_image)
exercises.expect_close("log p(x) of all 512 binary 3×3 images vs NADE.log_prob", yours, tiny.log_prob(every_image),
                       exercise=1, rtol=1e-5)
exercises.expect_close("the 512 probabilities sum to one (the chain rule normalises)", yours.exp().sum(), 1.0,
                       exercise=1, rtol=1e-5)

# %% [markdown]
# ## 2. FVSBN → NADE: from linear conditionals to shared hidden units
#
# The **fully visible sigmoid belief net** (FVSBN) makes each conditional a logistic regression on
# the earlier pixels: $p(x_d \mid \mathbf{x}_{<d}) = \mathrm{softmax}(\mathbf A_d\mathbf{x}_{<d} + \mathbf b_d)$
# — a softmax over 17 levels instead of a sigmoid, since our pixels are not binary. It is one
# matrix with a strictly triangular mask: $O(D^2 L)$ parameters, no hidden units.
#
# **NADE** (Larochelle & Murray, 2011) gives each conditional a hidden layer,
# $\mathbf h_d = \sigma(\mathbf c + \mathbf W_{:,<d}\mathbf{x}_{<d})$, and *shares* $\mathbf W$ across pixels:
# $\mathbf h_{d+1}$ is $\mathbf h_d$'s pre-activation plus one column, so all $D$ hidden vectors cost a
# single cumulative sum — $O(DH)$ instead of $O(D^2H)$.

# %%
fvsbn = train("FVSBN", FVSBN(image_shape, levels), epochs=60, lr=3e-3)
nade = train("NADE", NADE(image_shape, levels, hidden=128), epochs=60, lr=3e-3)

# %% [markdown]
# ## 3. MADE: masks turn an autoencoder into an autoregressive model
#
# **MADE** (Germain et al., 2015) starts from an ordinary MLP from $\mathbf{x}$ to "reconstruction"
# logits and zeroes connections so that output $d$ cannot see inputs $\ge d$. Give every unit an
# integer **degree**: input $x_d$ has degree $d$ (its position in the order), hidden units random
# degrees in $[1, D-1]$, the output for $x_d$ degree $d$. Then
#
# - a hidden unit of degree $m$ may connect to a unit below of degree $m' \le m$;
# - an output of degree $d$ may connect to a hidden unit of degree $m < d$ (strictly).
#
# Each mask is one broadcast comparison of two degree vectors. Different orders and hidden degrees give
# different models from the same weights; training on several masks and averaging their
# *probabilities* (log-sum-exp minus log K, never an average of logits) gives an ensemble.
#
# ### Exercise 2 — MADE's masks from degrees
# Write `masks_from_degree_vectors(input_degrees, hidden_degrees, output_degrees)`: given integer tensors
# (D,), a list of (H_l,) for each hidden layer, and (O,), return the list of 0/1 float masks of shapes
# (H_1, D), (H_2, H_1), …, (O, H_last), each of the form `mask[k, j] = 1` if unit k may see unit j.

# %%
def masks_from_degree_vectors(input_degrees, hidden_degrees, output_degrees):
    """MADE masks: ≥ between consecutive layers, strict > into the outputs."""
    ### BEGIN SOLUTION
    degrees = [input_degrees, *hidden_degrees]
    masks = [(later[:, None] >= earlier[None, :]).float() for earlier, later in zip(degrees[:-1], degrees[1:])]
    masks.append((output_degrees[:, None] > degrees[-1][None, :]).float())
    return masks
    ### END SOLUTION


# %% tags=["check"]
gen = torch.Generator().manual_seed(0)
order_ranks = torch.randperm(6, generator=gen) + 1
hidden_deg = [torch.randint(1, 6, (40,), generator=gen), torch.randint(1, 6, (40,), generator=gen)]
yours = exercises.call(2, masks_from_degree_vectors, order_ranks, hidden_deg, order_ranks)
reference = masks_from_degrees(order_ranks, hidden_deg, order_ranks)
exercises.expect_true("one mask per layer, with the right shapes", [m.shape for m in yours] == [m.shape for m in reference],
                      exercise=2)
for i, (a, b) in enumerate(zip(yours, reference)):
    exercises.expect_close(f"mask of layer {i + 1}", a, b, exercise=2)
paths = yours[2] @ yours[1] @ yours[0]
exercises.expect_true("no path from an input to its own or an earlier output",
                      bool(((paths > 0) <= (order_ranks[:, None] > order_ranks[None, :])).all()), exercise=2)

# %%
made = train("MADE (1 mask)", MADE(image_shape, levels, hidden=(256, 256)), epochs=60)
made_ensemble = train("MADE (4 orders)", MADE(image_shape, levels, hidden=(256, 256), n_masks=4), epochs=80)

# %% [markdown]
# ## 4. PixelCNN, its blind spot, and the gated fix
#
# Images have local structure that a fully connected MADE ignores. **PixelCNN** (van den Oord et al.,
# 2016) uses convolutions whose kernels are masked so that a pixel sees only pixels above it and to
# its left on the same row: mask **A** in the first layer (excluding the centre pixel itself), mask **B**
# afterwards (a feature may use its own position, which by then only summarises earlier pixels).
#
# ### Exercise 3 — the PixelCNN kernel mask
# Write `pixelcnn_mask(k, mask_type)` returning a (k, k) float tensor of ones and zeros: ones on the rows
# above the centre, and on the centre row left of the centre; the centre itself is one for mask "B" and
# zero for mask "A".

# %%
def pixelcnn_mask(k, mask_type):
    """(k, k) 0/1 mask of a causal convolution kernel."""
    ### BEGIN SOLUTION
    mask = torch.zeros(k, k)
    centre = k // 2
    mask[:centre] = 1
    mask[centre, :centre] = 1
    if mask_type == "B":
        mask[centre, centre] = 1
    return mask
    ### END SOLUTION


# %% tags=["check"]
for k in (3, 5, 7):
    for mask_type in ("A", "B"):
        exercises.expect_close(f"{mask_type} mask, {k}×{k}", exercises.call(3, pixelcnn_mask, k, mask_type),
                               MaskedConv2d(1, 1, k, mask_type).mask[0, 0], exercise=3)

# %% [markdown]
# **Receptive fields, measured.** Which input pixels can change the prediction for pixel (4, 4)? Ask
# autograd: back-propagate from that output to the input and look where the gradient is non-zero.
# Stacking masked 3×3 convolutions grows a field that leans left — the pixels *up and to the right*
# are never reached, however deep the network: the **blind spot**. The **gated PixelCNN** (van den Oord
# et al., 2016) splits the network into a *vertical stack* (everything in the rows above) and a
# *horizontal stack* (the current row, to the left), feeding the vertical one into the horizontal one
# shifted down a row; with gated units $\tanh(\mathbf W_f * \mathbf h) \odot \sigma(\mathbf W_g * \mathbf h)$ and residual
# connections it also trains better.

# %%
def receptive_field(model, row, col):
    """Boolean (H, W) map of the input pixels whose gradient reaches the output at (row, col)."""
    x = torch.randint(0, levels, (1, *image_shape)).float()
    scaled = model.scaled(x).clone().requires_grad_(True)
    model.scaled = lambda _: scaled
    try:
        (grad,) = torch.autograd.grad(model.log_probs(x)[0, :, row, col].sum(), scaled)
    finally:
        del model.scaled
    return (grad[0, 0] != 0).cpu()


side = image_shape[1]
target = (side // 2, side // 2)
probes = {"PixelCNN, 6 masked layers": PixelCNN(image_shape, levels, channels=16, layers=6, first_kernel=3),
          "gated PixelCNN, 6 layers": GatedPixelCNN(image_shape, levels, channels=16, layers=6)}
fields = {name: receptive_field(model.to(device()), *target) for name, model in probes.items()}
fig, axes = plt.subplots(1, 2, figsize=(8, 4))
for ax, (name, field) in zip(axes, fields.items()):
    earlier = torch.arange(side * side).reshape(side, side) < target[0] * side + target[1]
    picture = torch.where(field, 2.0, torch.where(earlier, 1.0, 0.0))   # seen / earlier but unseen / later
    ax.imshow(picture, cmap=plt.matplotlib.colors.ListedColormap(["white", "#f4b183", "#2e75b6"]), vmin=0, vmax=2)
    ax.plot(target[1], target[0], "k*", markersize=14)
    ax.set_title(f"{name}\nblue: seen, orange: earlier but unseen", fontsize=9)
    ax.set_xticks([]), ax.set_yticks([])
fig.tight_layout();

# %% tags=["check"]
earlier = torch.arange(side * side).reshape(side, side) < target[0] * side + target[1]
plain, gated = fields["PixelCNN, 6 masked layers"], fields["gated PixelCNN, 6 layers"]
exercises.expect_true("neither model sees the current or a later pixel", bool(not (plain & ~earlier).any()
                                                                               and not (gated & ~earlier).any()))
# The blind spot: in the row above, columns ≥ 2 to the right; two rows above, ≥ 3 to the right; …
exercises.expect_true("plain PixelCNN has a blind spot: earlier pixels up-right that it never sees",
                      bool((earlier & ~plain)[target[0] - 1, target[1] + 2:].all()
                           and (earlier & ~plain)[target[0] - 2, target[1] + 3:].all()))
exercises.expect_true("the gated PixelCNN sees every earlier pixel", bool((gated == earlier).all()))

# %%
pixelcnn = train("PixelCNN", PixelCNN(image_shape, levels, channels=48, layers=5), epochs=40)
gated_pixelcnn = train("gated PixelCNN", GatedPixelCNN(image_shape, levels, channels=32, layers=5), epochs=30)

# %% [markdown]
# ## 5. Output distributions: categorical vs discretized logistic
#
# A **categorical** output (a softmax over the 17 levels) is flexible but knows nothing about the
# fact that level 9 is close to level 10. A **discretized logistic mixture** (Salimans et al., 2017)
# puts $K$ logistic bumps on the intensity axis and gives each level the mass of its bin — smooth in
# intensity, $3K$ numbers per pixel instead of $L$ (a big saving for 256 levels). Same network
# otherwise; compare on the test set. With only 17 levels and short training the categorical output
# wins here (see the scoreboard): the logistic's smoothness assumption costs more than its parameter
# savings buy. Its advantage appears with 256 levels, where a softmax has 256 outputs per pixel and
# neighbouring intensities really are similar (Salimans et al., 2017).

# %%
pixelcnn_logistic = train("PixelCNN, logistic mixture", PixelCNN(image_shape, levels, channels=48, layers=5,
                                                                 output="logistic", mixtures=5), epochs=30)
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
ax.legend(fontsize=8);

# %% [markdown]
# ## 6. Causal dilated convolutions (WaveNet) on the pixel sequence
#
# Read each digit as a sequence of 64 values. A **causal** 1D convolution only looks back; **dilation**
# $d$ spaces the kernel taps $d$ steps apart. With kernel 2 and dilations $1, 2, 4, \dots, 2^{n-1}$ the
# receptive field doubles with each layer: $1 + \sum_l (k - 1) d_l$ steps, so six layers see all 64
# pixels where undilated layers would need 63 (van den Oord et al., 2016, WaveNet). Teacher forcing
# again makes training parallel over the sequence.
#
# ### Exercise 4 — receptive-field arithmetic
# Write `receptive_field_size(kernel_size, dilations)`: how many consecutive inputs (the current one
# included) one output of a stack of causal convolutions with these dilations depends on.

# %%
def receptive_field_size(kernel_size, dilations):
    """1 + Σ_l (kernel_size − 1) · dilation_l."""
    ### BEGIN SOLUTION
    return 1 + sum((kernel_size - 1) * d for d in dilations)
    ### END SOLUTION


# %% tags=["check"]
from course_lib.nn import CausalConv1d

for kernel_size, dilations in ((2, (1, 2, 4, 8)), (3, (1, 3, 9)), (2, (1, 1, 1))):
    stack = torch.nn.Sequential(*[CausalConv1d(1, 1, kernel_size, dilation=d) for d in dilations])
    for conv in stack:
        torch.nn.init.constant_(conv.weight, 1.0)
    signal = torch.zeros(1, 1, 100, requires_grad=True)
    stack(signal)[0, 0, -1].backward()
    measured = int((signal.grad[0, 0] != 0).sum())
    exercises.expect_close(f"kernel {kernel_size}, dilations {dilations} (measured by gradients)",
                           exercises.call(4, receptive_field_size, kernel_size, dilations), measured, exercise=4)

# %%
wavenet = train("causal dilated conv (WaveNet-style)", CausalConvSequence(image_shape, levels, channels=48), epochs=40)
print("receptive field of its last layer:", wavenet.receptive_field, "pixels")

# %% [markdown]
# ## 7. The scoreboard
#
# Every number is an **exact** test negative log-likelihood on the 17-level digits. The reference to
# beat: the causal-convolution autoregressive model of Tomczak's *Deep Generative Modeling* code,
# on this split, 86.7 nats per image after 190 s of training on 2 cores.

# %%
best_name = min(results, key=lambda n: results[n][0])
display(Markdown("| model | test NLL (nats/image) | bits/dim | training (s) |\n|---|---|---|---|\n" + "\n".join(
    f"| {'**' + n + '**' if n == best_name else n} | {nll:.2f} | {nll / (dims_image * math.log(2)):.3f} | {s:.0f} |"
    for n, (nll, s) in sorted(results.items(), key=lambda item: item[1][0]))))
for name, (nll, _) in results.items():
    leaderboard.record(f"{name} (autoregressive)", 3, nll, dims_image, dataset=DATASET, bound="exact")

# %% tags=["check"]
exercises.expect_true("every autoregressive model beats independent pixels (106.5 nats) on digits",
                      DATASET != "digits" or max(nll for nll, _ in results.values()) < 106.5)
exercises.expect_true("with 17 levels the categorical output beats the logistic mixture (same PixelCNN)",
                      results["PixelCNN"][0] < results["PixelCNN, logistic mixture"][0])
exercises.expect_true("the best model beats the 86.7-nat reference",
                      DATASET != "digits" or results[best_name][0] < 86.7)
print(f"the best model, {best_name}, trained for {results[best_name][1]:.0f} s on this machine "
      f"(the reference: 190 s on 2 cores)")

# %%
Markdown(leaderboard.table(DATASET))

# %% [markdown]
# ## 8. Completing occluded digits (missing data)
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
# ## 9. Samples, and what sampling costs
#
# Sampling draws pixel 1, then pixel 2 given pixel 1, and so on: $D$ passes through the network.
# For a convolutional model each pass also costs $O(D)$, so an image costs $O(D^2)$: fine for 64
# pixels, slow for 784, prohibitive for a megapixel. **Parallel multiscale** autoregressive models
# (Reed et al., 2017) generate a low-resolution image first and then add groups of pixels that are
# conditionally independent given the coarser scales, bringing the number of sequential steps down to
# $O(\log D)$. Below: samples of the best model, and what sampling an (untrained) gated PixelCNN costs
# as the image grows: the network passes and pixel positions computed are counted (they are what the
# check asserts); the wall time is measured too, for information, since it depends on the machine.

# %%
best_model = {"FVSBN": fvsbn, "NADE": nade, "MADE (1 mask)": made, "MADE (4 orders)": made_ensemble,
              "PixelCNN": pixelcnn, "gated PixelCNN": gated_pixelcnn,
              "PixelCNN, logistic mixture": pixelcnn_logistic,
              "causal dilated conv (WaveNet-style)": wavenet}[best_name]
plotting.image_grid(best_model.sample(32, generator=torch.Generator().manual_seed(0)), nrow=16, levels=levels,
                    title=f"samples of the {best_name}");

# %%
sides, seconds, passes, positions = [4, 8, 12, 16], [], [], []
for s in sides:
    probe = GatedPixelCNN((1, s, s), levels, channels=32, layers=5)
    # Count what sampling does: every network pass runs the output head once, on every pixel position.
    counts = {"passes": 0, "positions": 0}
    def count(module, inputs, output, counts=counts):
        counts["passes"] += 1
        counts["positions"] += output.shape[-2] * output.shape[-1]
    hook = probe.head.register_forward_hook(count)
    start = time.perf_counter()
    probe.sample(4, generator=torch.Generator().manual_seed(0))
    seconds.append(time.perf_counter() - start)
    hook.remove()
    passes.append(counts["passes"])
    positions.append(counts["positions"])
pixels = np.array(sides) ** 2
work_slope = np.polyfit(np.log(pixels), np.log(positions), 1)[0]
time_slope = np.polyfit(np.log(pixels[1:]), np.log(seconds[1:]), 1)[0]
fig, ax = plt.subplots(figsize=(6, 3))
ax.loglog(pixels, seconds, "o-", label=f"measured time (slope {time_slope:.2f})")
ax.loglog(pixels, seconds[1] * (pixels / pixels[1]) ** 2, "k:", label="∝ D²")
ax.set(xlabel="pixels D", ylabel="seconds for 4 samples", title="Sequential sampling cost")
ax.legend(fontsize=8)
print("network passes per sampling call:", dict(zip(pixels.tolist(), passes)))
print(f"work (pixel positions computed) grows as D^{work_slope:.2f}; measured time as D^{time_slope:.2f} "
      f"(on this machine: {', '.join(f'{s:.2f} s' for s in seconds)})")

# %% tags=["check"]
exercises.expect_true("sampling makes exactly one network pass per pixel (D passes for D pixels)",
                      passes == pixels.tolist())
exercises.expect_true("the work grows as D² (slope of log work against log D within 2 ± 0.05)",
                      abs(work_slope - 2) < 0.05)

# %% [markdown]
# ## 10. Binarized digits
#
# With two levels, the softmax over levels is a sigmoid: FVSBN is then literally a *sigmoid* belief
# net, and NADE is the original binary NADE. These numbers (nats per *binary* image) are not
# comparable with the 17-level leaderboard.

# %%
binary = {part: data.binarize(getattr(split, part).x, levels) for part in ("train", "val", "test")}
binary_results = {}
for name, model in (("FVSBN (sigmoid belief net)", FVSBN(image_shape, 2)), ("NADE", NADE(image_shape, 2, hidden=64))):
    fit(model, binary["train"], binary["val"], epochs=60, batch_size=64, lr=3e-3, patience=8, progress=False,
        checkpoint=cache_dir() / f"ch03_binary_{name.split()[0]}_{DATASET}.pt")
    with torch.no_grad():
        binary_results[name] = -model.log_prob(binary["test"].to(device())).mean().item()
display(Markdown("| model (binarized digits) | test NLL (nats/image) |\n|---|---|\n" + "\n".join(
    f"| {n} | {v:.2f} |" for n, v in binary_results.items())))

# %% [markdown]
# ## Further exercises (no checks)
# 5. Train MADE with 8 orders and evaluate with 1, 2, 4 and 8 of them. Why does the ensemble help?
# 6. Make the gated PixelCNN class-conditional (`classes=10`): train it with
#    `fit(..., labels_as_context=True)` and sample each digit with `sample(n, context=labels)`.
# 7. Why can a fixed raster order not condition on pixels *below* a hidden region? Which order (or
#    which ensemble of orders, as in MADE) would make "fill in the centre" exact?
#
# ## Summary
# - The chain rule gives exact likelihoods; teacher forcing makes training parallel, sampling stays sequential.
# - FVSBN (linear), NADE (shared hidden units), MADE (masks from degrees), PixelCNN (masked convolutions)
#   and its gated version (no blind spot) are one idea with better and better conditionals.
# - Receptive fields can be measured with gradients; causal dilated convolutions grow them exponentially.
# - Autoregressive models top the likelihood leaderboard, and can fill in missing data, at the cost of
#   $O(D)$ sequential sampling steps.
#
# ## References
# - Frey, B. J. (1998). *Graphical Models for Machine Learning and Digital Communication* (FVSBN).
# - Larochelle, H., & Murray, I. (2011). The neural autoregressive distribution estimator.
# - Germain, M., Gregor, K., Murray, I., & Larochelle, H. (2015). MADE: masked autoencoder for distribution estimation.
# - van den Oord, A., Kalchbrenner, N., & Kavukcuoglu, K. (2016). Pixel recurrent neural networks.
# - van den Oord, A., et al. (2016). Conditional image generation with PixelCNN decoders.
# - van den Oord, A., et al. (2016). WaveNet: a generative model for raw audio.
# - Salimans, T., Karpathy, A., Chen, X., & Kingma, D. P. (2017). PixelCNN++.
# - Reed, S., et al. (2017). Parallel multiscale autoregressive density estimation.


# %% tags=["check"]
# Every check run in this session: "all passed", or the list of those that failed. Stuck on one exercise?
# Run `exercises.keep_going()` once: a failed check then prints a red ✘ and "Run All" goes on to the end.
exercises.report()
