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
# # 09 · Evaluating generative models
#
# Eight chapters have trained models of the same digits: histograms and kernels, mixtures, autoregressive
# networks, VAEs, flows, GANs, energy-based and diffusion models. Which is best? The slide decks give the
# questions and no single answer. **Human evaluation** — show people samples — is the reference, and slow.
# **Likelihood** is the principled score, but GANs have none, and (the decks warn) *quantitative evaluation is
# not aligned with the training objective*. **Sample-based scores** compare sets of images through the features
# of a classifier: the **Inception Score** (confident $p(y\mid\mathbf x)$, diverse $p(y)$) and its drawback,
# that *the statistics of real samples are not used*; the **Fréchet Inception Distance** (FID), built step by
# step from the last pooling layer's features, which its authors (Heusel et al., 2017) found better correlated
# with human judgement. And a generative model can serve a task, such as **semi-supervised classification**
# (chapter 06 trains linear classifiers on BiGAN features with a few labels per class). Theis, van den Oord and
# Bethge's *A note on the evaluation of generative models* (2016) is the warning behind all of it: these criteria
# can disagree, wildly.
#
# **Learning objectives.** After this chapter you can
# 1. convert a log-likelihood between nats per image and bits per dimension, and between data scales; say
#    whether a number is exact, a bound or an estimate;
# 2. show on the digits why Parzen-window estimates mislead, why likelihood and sample quality disagree, and
#    how a memorising model fools sample metrics (Theis et al.'s three lessons);
# 3. compute the Inception Score, FID and KID from features, and explain FID's bias with the sample size and the
#    IS's blindness to the data;
# 4. separate quality from diversity with precision and recall, and measure memorisation;
# 5. read the course leaderboard: every model of chapters 01–08 on one test split.

# %%
DATASET = "digits"  # "digits" (bundled, CPU) or "mnist" / "fashion_mnist" (local IDX files in $DGM_DATA)

import csv
import math
import time

import matplotlib.pyplot as plt
import numpy as np
import scipy.linalg
import scipy.spatial
import scipy.stats
import torch
from IPython.display import Markdown, display
from sklearn.cluster import KMeans
from sklearn.neighbors import NearestNeighbors

from course_lib import data
from course_lib.models import GaussianKDE, GaussianMixture
from course_lib.runtime import cache_dir, seed_everything
from course_lib.teaching import exercises
from course_lib.viz import plotting

seed_everything(0)
split = data.load_dataset(DATASET)
levels, image_shape = split.levels, tuple(split.train.x.shape[1:])
dims_image = math.prod(image_shape)
chapter_started = time.perf_counter()

# %% [markdown]
# ## 1. Likelihood: units, bounds and estimates
#
# Every likelihood in the course is a **negative log-likelihood of the test images in nats per image**, on the
# images' own discrete grey levels ($L = 17$ for the digits), so that a smaller number is a better model and all
# chapters compare. Dividing by the number of pixels $D$ and by $\ln 2$ gives **bits per dimension**,
#
# $$ \text{bits/dim} = \frac{\text{NLL (nats per image)}}{D \ln 2}, $$
#
# the unit of papers — with a caveat: on 17 levels the uniform distribution costs $\log_2 17 \approx 4.09$ bits
# per pixel, on 256 levels 8, so our bits/dim are *not* comparable with published ones.
#
# The course's numbers are of three kinds, and the leaderboard says which:
# - **exact**: a discrete model's probabilities of the grey levels (chapter 01's independent pixels, the
#   autoregressive models of chapter 03, the RBM of chapter 08 with its exact partition function);
# - **a bound**: a continuous density $p$ evaluated on **dequantized** images $\mathbf k + \mathbf u$,
#   $\mathbf u \sim U[0,1)^D$: by Jensen, $\log P(\mathbf k) = \log \int p(\mathbf k + \mathbf u)\,d\mathbf u \ge
#   \mathbb E_{\mathbf u} \log p(\mathbf k + \mathbf u)$ (chapters 01, 02, 05), or an ELBO (chapters 04, 08);
# - **an estimate**: the importance-weighted bound with $k$ samples (chapter 04), itself a bound in expectation.
#
# A density on *rescaled* data is in other units. If $\mathbf x' = s\,\mathbf y + c$ (for example $s = 1/L$, $c = 0$
# for data on $[0, 1]$; $s = 2/L$, $c = -1$ on $[-1, 1]$), then $p_{\mathbf y}(\mathbf y) = p_{\mathbf x'}(s\mathbf y +
# c)\,s^D$: the change of variables of chapter 05, with a constant Jacobian (the shift $c$ changes nothing).
#
# ### Exercise 1 — bits per dimension from any scale
# Write `bits_per_dim(nll_nats, dims, scale)`: a test NLL in nats per image of a density on data that was scaled
# by `scale` from the grey levels (`scale = 1`: the grey levels themselves), converted to bits per dimension on
# the grey-level scale.

# %%
def bits_per_dim(nll_nats, dims, scale=1.0):
    """bits/dim on the grey-level scale of an NLL (nats per image) of a density on data scaled by ``scale``."""
    ### BEGIN SOLUTION
    nll_on_levels = nll_nats - dims * math.log(scale)     # log p_y = log p_x' + D log s
    return nll_on_levels / (dims * math.log(2))
    ### END SOLUTION


# %% tags=["check"]
exercises.expect_close("the uniform density on [0, 17)^64 (NLL 64 ln 17): log₂ 17 bits per pixel",
                       exercises.call(1, bits_per_dim, 64 * math.log(17), 64), math.log2(17), exercise=1, rtol=1e-9)
exercises.expect_close("the uniform density on [0, 1]^64 (NLL 0) of data scaled by 1/17: the same log₂ 17",
                       exercises.call(1, bits_per_dim, 0.0, 64, 1 / 17), math.log2(17), exercise=1, rtol=1e-9,
                       hint="a density on data squeezed into [0, 1] is 17^D times larger than on the levels")
exercises.expect_close("the uniform density on [−1, 1]^784 (NLL 784 ln 2), data scaled by 2/256: 8 bits",
                       exercises.call(1, bits_per_dim, 784 * math.log(2), 784, 2 / 256), 8.0, exercise=1, rtol=1e-9)
exercises.expect_close("a Gaussian N(0, 1) per pixel on grey levels: its entropy ½ log(2πe) nats per pixel, in bits",
                       exercises.call(1, bits_per_dim, 10 * 0.5 * math.log(2 * math.pi * math.e), 10),
                       scipy.stats.norm.entropy() / math.log(2), exercise=1, rtol=1e-9)

# %% [markdown]
# The course's own conversion, `evaluation.bits_per_dim`, is the `scale = 1` case. The leaderboard that every
# chapter wrote to, so far (the full table with sample metrics is in §8):

# %%
from course_lib.evaluation import gallery, leaderboard

rows = [row for row in leaderboard.entries() if row["dataset"] == DATASET]
if rows:
    display(Markdown(leaderboard.table(DATASET)))
else:
    print("No chapter has recorded a model yet: run chapters 01–08 (in any order) and this chapter again.")

# %% [markdown]
# ## 2. Three lessons from Theis et al.
#
# We need a model whose likelihood we know exactly and whose samples are cheap: a **Gaussian mixture** (chapter 02),
# 40 diagonal components, fitted by EM to the dequantized training digits. Its density is known exactly, so its
# test NLL on the dequantized test images (one noise draw per image, as in every chapter) is the model's own
# number, no estimate of the model needed.

# %%
noise = torch.Generator().manual_seed(0)
train_flat = data.dequantize(split.train.x, noise).flatten(1).double()
val_flat = data.dequantize(split.val.x, noise).flatten(1).double()
test_flat = data.dequantize(split.test.x, noise).flatten(1).double()
started = time.perf_counter()
gmm = GaussianMixture(40, "diag", max_iter=200).fit(train_flat, generator=torch.Generator().manual_seed(0))
gmm_seconds = time.perf_counter() - started
gmm_nll = -gmm.log_prob(test_flat).mean().item()
print(f"GMM (40 diagonal components): test NLL {gmm_nll:.1f} nats/image (dequantization bound), fitted in "
      f"{gmm_seconds:.1f} s")

# %% [markdown]
# ### Lesson (a): Parzen-window estimates mislead
#
# GANs have no likelihood, so early papers *estimated* one: fit a Gaussian kernel density (chapter 01's KDE, the
# Parzen window) to $n$ of the model's samples, choose its bandwidth on validation images, and report its
# log-likelihood of the test images. Two things go wrong. First, the estimate is far from the truth. Our GMM's
# own test NLL is known; here is its Parzen estimate from growing numbers of its own samples:

# %%
from course_lib.evaluation import parzen_estimate

bandwidths = torch.logspace(-1.5, -0.3, 24) * levels      # in grey levels


def parzen_nll(samples):
    """Test NLL (nats/image) of a Gaussian KDE on ``samples`` (n, D), bandwidth chosen on the validation images."""
    return parzen_estimate(samples, test_flat, val_flat, bandwidths).nll


parzen_counts = (100, 1000, 10_000)
parzen_of_gmm = {n: parzen_nll(gmm.sample(n, generator=torch.Generator().manual_seed(n))) for n in parzen_counts}
display(Markdown("| samples n | Parzen estimate of the GMM's test NLL | the GMM's own test NLL |\n|---|---|---|\n"
                 + "\n".join(f"| {n:,} | {v:.1f} | {gmm_nll:.1f} |" for n, v in parzen_of_gmm.items())))

# %% tags=["check"]
exercises.expect_true("even with 10 000 samples, the Parzen estimate is more than 20 nats from the exact NLL",
                      parzen_of_gmm[10_000] - gmm_nll > 20)
exercises.expect_true("more samples bring it closer, slowly",
                      parzen_of_gmm[100] > parzen_of_gmm[1000] > parzen_of_gmm[10_000])

# %% [markdown]
# Second, it ranks samplers wrongly. Compare a perfect sampler — real training digits — with a terrible one:
# the **centroids of k-means** on the training digits, blurry averages that no one would take for handwriting.
# Same number of samples each:

# %%
k_centroids = 100
centroids = torch.tensor(KMeans(k_centroids, n_init=1, random_state=0).fit(train_flat.numpy()).cluster_centers_)
real_subset = train_flat[torch.randperm(len(train_flat), generator=torch.Generator().manual_seed(1))[:k_centroids]]
parzen_real, parzen_kmeans = parzen_nll(real_subset), parzen_nll(centroids)
fig, axes = plt.subplots(1, 2, figsize=(9, 2.6))
plotting.image_grid(data.quantize(real_subset[:16].float(), levels).reshape(-1, *image_shape), nrow=16, levels=levels,
                    ax=axes[0], title=f"real digits: Parzen NLL {parzen_real:.1f}")
plotting.image_grid(data.quantize(centroids[:16].float(), levels).reshape(-1, *image_shape), nrow=16, levels=levels,
                    ax=axes[1], title=f"k-means centroids: Parzen NLL {parzen_kmeans:.1f}")
fig.tight_layout();

# %% tags=["check"]
exercises.expect_true("the blurry k-means centroids get a better Parzen score than real digits",
                      parzen_kmeans < parzen_real)
exercises.expect_true("and both Parzen numbers are worse than the GMM's own NLL",
                      min(parzen_kmeans, parzen_real) > gmm_nll)

# %% [markdown]
# In 64 dimensions a kernel density needs far more samples than anyone can draw (the curse of dimensionality of
# chapter 01), and what it rewards is samples near the *middle* of the test images, which averages are. Do not
# report Parzen estimates; use a model's own likelihood, or a sample-based score.
#
# ### Lesson (b): likelihood and sample quality can disagree
#
# Take the GMM and mix it with noise: $q(\mathbf x) = 0.01\,p(\mathbf x) + 0.99\,u(\mathbf x)$, with $u$ uniform
# on $[0, L)^D$. Since $\log q \ge \log 0.01 + \log p$, its NLL is at most $\ln 100 \approx 4.6$ nats worse — while
# 99 % of its samples are noise.

# %%
log_uniform = -dims_image * math.log(levels)
noisy_log_q = torch.logaddexp(math.log(0.01) + gmm.log_prob(test_flat),
                              math.log(0.99) + torch.full((len(test_flat),), log_uniform, dtype=torch.float64))
noisy_nll = -noisy_log_q.mean().item()
mixing = torch.Generator().manual_seed(3)
good = gmm.sample(1000, generator=mixing)
is_noise = torch.rand(1000, generator=mixing) < 0.99
uniform_noise = levels * torch.rand(1000, dims_image, generator=mixing, dtype=torch.float64)
noisy_samples = torch.where(is_noise[:, None], uniform_noise, good)
gmm_images = data.quantize(good.float(), levels).reshape(-1, *image_shape)
noisy_images = data.quantize(noisy_samples.float(), levels).reshape(-1, *image_shape)
plotting.image_grid(noisy_images[:32], nrow=16, levels=levels,
                    title=f"1 % GMM + 99 % noise: NLL {noisy_nll:.1f} vs the GMM's {gmm_nll:.1f} nats/image");

# %% tags=["check"]
exercises.expect_true("mixing in 99 % noise costs at most ln 100 nats of likelihood",
                      0 < noisy_nll - gmm_nll <= math.log(100) + 1e-9)
exercises.expect_true("while 95 % or more of the samples are noise", is_noise.double().mean().item() > 0.95)

# %% [markdown]
# The converse holds too: a model can draw perfect samples and have an awful likelihood (one that puts all its
# mass on the training images: lesson (c)). Likelihood measures how well a model *covers* the test images; a
# person looking at samples judges how *typical* they are. A good model on one criterion can be bad on the other,
# so report the one that matches the model's use.
#
# ## 3. Features: a digit classifier in place of Inception
#
# Sample-based scores compare **sets** of images through the features of a classifier. The published scores use
# Inception-v3, trained on ImageNet photographs of 299×299 pixels; for 8×8 digits the course trains its own small
# classifier (chapter 08 uses the same one, and the same cache file), and takes its penultimate layer — 128
# features per image — where Inception offers its 2048 pool features. Scores computed with different networks
# are not comparable: FID on digits with our classifier is not *the* FID. (For larger images,
# `evaluation.inception.inception_features` computes Inception's features from a weights file you provide; the
# course downloads nothing.)

# %%
from course_lib.evaluation import classifier

digit_classifier = classifier.train_classifier(split, steps=1000,
                                               checkpoint=cache_dir() / f"ch08_classifier_{DATASET}.pt")
test_accuracy = classifier.accuracy(digit_classifier, split.test.x, split.test.y)
features = {"test": classifier.features(digit_classifier, split.test.x),
            "train": classifier.features(digit_classifier, split.train.x)}
print(f"digit classifier: test accuracy {test_accuracy:.3f}; features per image: {features['test'].shape[1]}")
exercises.expect_true("the classifier recognises the test digits (accuracy above 0.9)", test_accuracy > 0.9)


def class_probabilities(images):
    """p(y | x) (N, 10) of the digit classifier."""
    return classifier.judge(digit_classifier, images).probabilities.double()


# %% [markdown]
# ## 4. The Inception Score
#
# A good generator's images should each be **recognisable** — $p(y \mid \mathbf x)$ confident, low entropy — and
# together **diverse** — the marginal $p(y) = \mathbb E_{\mathbf x}\, p(y \mid \mathbf x)$ spread over the classes.
# The Inception Score rewards both at once:
#
# $$ \text{IS} = \exp\Big(\mathbb E_{\mathbf x \sim p_g}\, \mathrm{KL}\big(p(y \mid \mathbf x)\,\|\,p(y)\big)\Big). $$
#
# It is 1 when every image gets the same $p(y \mid \mathbf x)$, and at most the number of classes $K$ (confident
# predictions, balanced classes).
#
# ### Exercise 2 — the Inception Score
# Write `inception_score(probs)`: the IS of $N$ images from their class probabilities `probs` (N, K) (rows sum to
# 1; some entries may be exactly 0).

# %%
def inception_score(probs):
    """exp E_x KL(p(y|x) ‖ p(y)) of class probabilities (N, K): a float."""
    ### BEGIN SOLUTION
    marginal = probs.mean(0, keepdim=True)                                  # p(y)
    kl = (torch.xlogy(probs, probs) - torch.xlogy(probs, marginal)).sum(1)      # KL per image; 0 log 0 = 0
    return torch.exp(kl.mean()).item()
    ### END SOLUTION


# %% tags=["check"]
is_check = torch.Generator().manual_seed(4)
p_check = torch.softmax(3 * torch.randn(50, 6, generator=is_check, dtype=torch.float64), 1)
kl_reference = scipy.stats.entropy(p_check.numpy(), p_check.mean(0, keepdim=True).numpy(), axis=1)   # KL per row
exercises.expect_close("IS of 50 random predictions over 6 classes (reference: scipy.stats.entropy's KL)",
                       exercises.call(2, inception_score, p_check), float(np.exp(kl_reference.mean())),
                       exercise=2, rtol=1e-8)
exercises.expect_close("uniform predictions: IS = 1",
                       exercises.call(2, inception_score, torch.full((20, 10), 0.1, dtype=torch.float64)), 1.0,
                       exercise=2, rtol=1e-8)
exercises.expect_close("confident and balanced (one-hot rows, every class as often): IS = K = 10",
                       exercises.call(2, inception_score, torch.eye(10, dtype=torch.float64).repeat(3, 1)), 10.0,
                       exercise=2, rtol=1e-8, hint="0 · log 0 counts as 0: torch.xlogy computes x · log y that way")
one_class = torch.zeros(8, 10, dtype=torch.float64)
one_class[:, 4] = 1
exercises.expect_close("confident but always the same class: IS = 1", exercises.call(2, inception_score, one_class),
                       1.0, exercise=2, rtol=1e-8)

# %% [markdown]
# ## 5. The Fréchet distance (FID)
#
# FID compares the generated images with **real** ones, step by step (the deck):
# 1. compute the features of the last pooling layer for real and generated images;
# 2. summarise each set by its mean and covariance, $(\boldsymbol\mu, C)$ and $(\boldsymbol\mu_w, C_w)$;
# 3. compute the Fréchet distance between the two Gaussians with those statistics — the squared 2-Wasserstein
#    distance of chapter 07 —
#
# $$ d^2 = \|\boldsymbol\mu - \boldsymbol\mu_w\|^2 + \operatorname{Tr}\big(C + C_w - 2\,(C\,C_w)^{1/2}\big). $$
#
# Lower is better; 0 for identical statistics. $(C C_w)^{1/2}$ is a **matrix** square root: $C C_w$ is not
# symmetric, but its eigenvalues are those of the symmetric $C^{1/2} C_w C^{1/2}$, all $\ge 0$.
#
# ### Exercise 3 — FID from means and covariances
# Write `fid(mean_a, cov_a, mean_b, cov_b)`: $d^2$ for means (D,) and covariances (D, D) (float64).

# %%
def fid(mean_a, cov_a, mean_b, cov_b):
    """The Fréchet distance between N(mean_a, cov_a) and N(mean_b, cov_b): a float."""
    ### BEGIN SOLUTION
    values, vectors = torch.linalg.eigh(cov_a)
    root_a = vectors @ torch.diag(values.clamp_min(0).sqrt()) @ vectors.T       # C^½
    cross = torch.linalg.eigvalsh(root_a @ cov_b @ root_a).clamp_min(0).sqrt().sum()   # Tr (C C_w)^½
    return ((mean_a - mean_b).square().sum() + torch.trace(cov_a) + torch.trace(cov_b) - 2 * cross).item()
    ### END SOLUTION


# %% tags=["check"]
fid_check = torch.Generator().manual_seed(5)


def random_covariance(d):
    a = torch.randn(d, 2 * d, generator=fid_check, dtype=torch.float64)
    return a @ a.T / (2 * d)


m_a, m_b = (torch.randn(5, generator=fid_check, dtype=torch.float64) for _ in range(2))
c_a, c_b = random_covariance(5), random_covariance(5)
root = scipy.linalg.sqrtm(c_a.numpy() @ c_b.numpy()).real
reference = float(((m_a - m_b) ** 2).sum() + np.trace(c_a.numpy() + c_b.numpy() - 2 * root))
exercises.expect_close("FID of two random 5-d Gaussians (reference: the formula with scipy.linalg.sqrtm)",
                       exercises.call(3, fid, m_a, c_a, m_b, c_b), reference, exercise=3, rtol=1e-7,
                       hint="(C C_w)^½ is the matrix square root of the product, not the product of square roots")
s_a, s_b = torch.tensor([1.0, 4.0, 9.0], dtype=torch.float64), torch.tensor([4.0, 4.0, 1.0], dtype=torch.float64)
exercises.expect_close("diagonal covariances: Σ (σ_a − σ_b)² plus the squared distance of the means",
                       exercises.call(3, fid, torch.zeros(3, dtype=torch.float64), torch.diag(s_a),
                                      torch.ones(3, dtype=torch.float64), torch.diag(s_b)),
                       3.0 + ((s_a.sqrt() - s_b.sqrt()) ** 2).sum().item(), exercise=3, rtol=1e-9)
exercises.expect_close("a Gaussian against itself: 0", exercises.call(3, fid, m_a, c_a, m_a, c_a), 0.0, exercise=3,
                       atol=1e-8)

# %% [markdown]
# ## 6. Precision and recall: quality and diversity, separately
#
# One number cannot say *why* a model is bad: its images may be poor (low **quality**), or good but all alike
# (low **diversity**, mode dropping). Kynkäänniemi et al. (2019) measure the two apart, with $k$-nearest-neighbour
# balls in feature space. Around each real feature vector put a ball whose radius is the distance to its $k$-th
# nearest *other* real vector; the union of these balls estimates the support of the real images (the "manifold").
# **Precision** is the share of generated images inside the real manifold; **recall** the share of real images
# inside the generated manifold (the same construction with the roles swapped).
#
# ### Exercise 4 — the $k$-NN radius test
# Write `precision(real, fake, k)`: the share of rows of `fake` (M, D) that lie within distance $r_i$ of some row
# $i$ of `real` (N, D), where $r_i$ is the distance from real row $i$ to its $k$-th nearest other real row.
# (Recall is `precision(fake, real, k)`.)

# %%
def precision(real, fake, k=3):
    """The share of fake points inside the union of the real points' k-NN balls: a float in [0, 1]."""
    ### BEGIN SOLUTION
    radii = torch.cdist(real, real).kthvalue(k + 1, dim=1).values        # the 1st "neighbour" is the point itself
    inside = (torch.cdist(fake, real) <= radii[None, :]).any(dim=1)
    return inside.double().mean().item()
    ### END SOLUTION


# %% tags=["check"]
pr_check = torch.Generator().manual_seed(8)
real_check = torch.randn(200, 3, generator=pr_check, dtype=torch.float64)
fake_check = 1.3 * torch.randn(150, 3, generator=pr_check, dtype=torch.float64) + 0.5
for k_check in (1, 3, 5):
    neighbours = NearestNeighbors(n_neighbors=k_check + 1).fit(real_check.numpy())
    reference_radii = neighbours.kneighbors(real_check.numpy())[0][:, -1]          # k-th neighbour besides itself
    distances = scipy.spatial.distance.cdist(fake_check.numpy(), real_check.numpy())
    expected = float((distances <= reference_radii[None, :]).any(1).mean())
    exercises.expect_close(f"k = {k_check}: the share of 150 points inside 200 points' balls (reference: "
                           "scikit-learn's NearestNeighbors)",
                           exercises.call(4, precision, real_check, fake_check, k_check), expected,
                           exercise=4, atol=1e-12,
                           hint="each point is its own nearest neighbour at distance 0: skip it when counting to k")
exercises.expect_close("a subset of the real points is all inside: precision 1",
                       exercises.call(4, precision, real_check, real_check[:50], 3), 1.0, exercise=4)
exercises.expect_close("far-away points: precision 0", exercises.call(4, precision, real_check, real_check + 100.0, 3),
                       0.0, exercise=4)

# %% [markdown]
# ## 7. The scores at work
#
# With the three scores written, the library's versions (`evaluation.sample_metrics`: the same formulas, with
# input checks and batching; FID through a Cholesky factor and one symmetric eigenvalue problem) measure what each
# one sees and misses.
#
# **The Inception Score is blind to the data.** Its drawback, in the deck's words: *the statistics of real
# samples are not used*. A "model" that outputs ten
# images, the one training digit of each class that the classifier is surest about, each repeated 100 times,
# has confident and perfectly balanced predictions. Compare it with the real test digits:

# %%
from course_lib.evaluation import sample_metrics

train_probabilities = class_probabilities(split.train.x)
train_labels = split.train.y.long()
surest = [int(torch.where(train_labels == c, train_probabilities[:, c], -1.0).argmax()) for c in range(10)]
ten_digits = split.train.x[surest].repeat(100, 1, 1, 1)
is_ten = sample_metrics.inception_score(class_probabilities(ten_digits)).mean
is_test = sample_metrics.inception_score(class_probabilities(split.test.x)).mean
plotting.image_grid(split.train.x[surest], nrow=10, levels=levels,
                    title=f"the ten-digit model: IS {is_ten:.2f}; the real test digits: IS {is_test:.2f}");

# %% tags=["check"]
exercises.expect_true("ten repeated digits get a higher Inception Score than the real test digits", is_ten > is_test)
exercises.expect_true("and a near-perfect one (above 9.5 of at most 10)", is_ten > 9.5)

# %% [markdown]
# **FID is biased: it depends on the number of samples.** Mean and covariance estimated from few images are
# noisy, and the noise only adds distance. The FID between random sets of $n$ *test* images and $n$ *validation*
# images — real digits, both unseen by the classifier, so neither set's features are favoured — at growing $n$,
# averaged over five draws of the sets:
#
# **KID** (Bińkowski et al., 2018) replaces the Gaussian summary by a kernel two-sample statistic, the unbiased
# squared maximum mean discrepancy with the kernel $k(\mathbf a, \mathbf b) = (\mathbf a^\top \mathbf b / d +
# 1)^3$, averaged over random subsets: its expectation does not depend on $n$ (it is 0 for equal distributions),
# and it comes with a standard error — large at small $n$.

# %%
fid_sizes = [25, 50, 100, 200, len(split.val.x)]
features["val"] = classifier.features(digit_classifier, split.val.x)
draws = [(torch.randperm(len(split.test.x), generator=torch.Generator().manual_seed(20 + d)),
          torch.randperm(len(split.val.x), generator=torch.Generator().manual_seed(30 + d))) for d in range(5)]
fid_by_n = [float(np.mean([sample_metrics.frechet_distance(features["test"][t[:n]], features["val"][v[:n]])
                           for t, v in draws])) for n in fid_sizes]
kid_by_n = [sample_metrics.kernel_inception_distance(features["test"][draws[0][0][:n]],
                                                     features["val"][draws[0][1][:n]], subset_size=n // 2,
                                                     subsets=50, generator=torch.Generator().manual_seed(7))
            for n in fid_sizes]
fig, axes = plt.subplots(1, 2, figsize=(10, 3.2))
axes[0].plot(fid_sizes, fid_by_n, "o-")
axes[0].set(xlabel="images per set n", ylabel="FID (mean of 5 draws)", title="FID(test, validation) falls with n")
axes[1].errorbar(fid_sizes, [k.mean for k in kid_by_n], yerr=[2 * k.spread for k in kid_by_n], fmt="o-", capsize=3)
axes[1].axhline(0, color="k", lw=0.5)
axes[1].set(xlabel="images per set n", ylabel="KID (± 2 s.e.)", title="KID(test, validation), one draw")
fig.tight_layout()
display(Markdown("| n | FID (mean of 5 draws) | KID ± s.e. (one draw) |\n|---|---|---|\n" + "\n".join(
    f"| {n} | {f:.1f} | {k.mean:.1f} ± {k.spread:.1f} |" for n, f, k in zip(fid_sizes, fid_by_n, kid_by_n))))

# %% tags=["check"]
exercises.expect_true("FID between two sets of real digits falls as n grows (a bias, not a property of the data)",
                      all(a > b for a, b in zip(fid_by_n, fid_by_n[1:])))
exercises.expect_true(f"the FID at n = {fid_sizes[0]} is more than three times the FID at n = {fid_sizes[-1]}",
                      fid_by_n[0] > 3 * fid_by_n[-1])
exercises.expect_true("KID's standard error shrinks as n grows", kid_by_n[0].spread > kid_by_n[-1].spread)

# %% [markdown]
# So compare FIDs only at the **same number of samples** (the course's leaderboard scores `gallery.SAMPLES`
# generated images of every model against the whole test split). The ten-digit model of the IS above, with its
# near-perfect score:

# %%
fid_ten = sample_metrics.frechet_distance(features["test"], classifier.features(digit_classifier, ten_digits))
fid_train = sample_metrics.frechet_distance(features["test"], features["train"])
print(f"FID against the test digits: the ten-digit model {fid_ten:.1f}; the {len(split.train.x)} training digits "
      f"{fid_train:.1f}")
exercises.expect_true("FID sees what IS misses: the ten-digit model is far worse than real digits",
                      fid_ten > 3 * fid_train)

# %% [markdown]
# **A temperature sweep.** Sampling the GMM with its covariances scaled by a temperature $T$ — $T < 1$ keeps
# samples near the component means, $T > 1$ spreads them — trades one for the other:

# %%
def gmm_samples(model, n, temperature, seed):
    """n images from a GMM with every covariance multiplied by ``temperature``."""
    generator = torch.Generator().manual_seed(seed)
    component = torch.multinomial(model.weights, n, replacement=True, generator=generator)
    eps = torch.randn(n, model.means.shape[1], generator=generator, dtype=model.means.dtype)
    x = model.means[component] + math.sqrt(temperature) * model.covariances[component].sqrt() * eps
    return data.quantize(x.float(), levels).reshape(n, *image_shape)


temperatures = [0.1, 0.25, 0.5, 1.0, 1.5, 2.0, 3.0]
sweep = {t: sample_metrics.precision_recall(features["test"],
                                            classifier.features(digit_classifier, gmm_samples(gmm, 1000, t, seed=9)))
         for t in temperatures}
fig, axes = plt.subplots(1, 2, figsize=(10, 3.4), gridspec_kw={"width_ratios": [1, 1.4]})
axes[0].plot([sweep[t].recall for t in temperatures], [sweep[t].precision for t in temperatures], "o-")
for t in temperatures:
    axes[0].annotate(f"T = {t:g}", (sweep[t].recall, sweep[t].precision), fontsize=7, xytext=(3, 3),
                     textcoords="offset points")
axes[0].set(xlabel="recall (diversity)", ylabel="precision (quality)", title="the GMM at temperature T")
plotting.image_grid(torch.cat([gmm_samples(gmm, 12, t, seed=10) for t in (0.25, 1.0, 3.0)]), nrow=12, levels=levels,
                    ax=axes[1], title="T = 0.25, 1, 3 (rows)")
fig.tight_layout();

# %% tags=["check"]
exercises.expect_true("cooling the GMM raises precision: T = 0.1 beats T = 3",
                      sweep[0.1].precision > sweep[3.0].precision)
exercises.expect_true("and costs recall, all along the sweep",
                      all(sweep[a].recall < sweep[b].recall for a, b in zip(temperatures, temperatures[1:])))

# %% [markdown]
# **Mode dropping.** Fit the same GMM without the zeros and ones (two of ten classes) and compare, at $T = 1$:

# %%
kept = split.train.y >= 2
gmm_without_01 = GaussianMixture(40, "diag", max_iter=200).fit(train_flat[kept],
                                                               generator=torch.Generator().manual_seed(0))
dropped_test = split.test.y < 2
mode_rows = {}
for name, model in (("GMM, every class", gmm), ("GMM without 0 and 1", gmm_without_01)):
    generated = classifier.features(digit_classifier, gmm_samples(model, 1000, 1.0, seed=11))
    mode_rows[name] = (sample_metrics.precision_recall(features["test"], generated),
                       sample_metrics.precision_recall(features["test"][dropped_test], generated).recall,
                       sample_metrics.frechet_distance(features["test"], generated))
display(Markdown("| model | precision | recall | recall on the test 0s and 1s | FID |\n|---|---|---|---|---|\n"
                 + "\n".join(f"| {name} | {pr.precision:.3f} | {pr.recall:.3f} | {r01:.3f} | {f:.1f} |"
                             for name, (pr, r01, f) in mode_rows.items())))

# %% tags=["check"]
(pr_all, r01_all, _), (pr_drop, r01_drop, _) = mode_rows.values()
exercises.expect_true("dropping two classes costs recall on them (by more than 0.3)", r01_all - r01_drop > 0.3)
exercises.expect_true("and overall recall", pr_drop.recall < pr_all.recall)
exercises.expect_true("but not precision (within 0.02)", pr_drop.precision > pr_all.precision - 0.02)

# %% [markdown]
# ### Lesson (c): a memorising model looks perfect to FID
#
# The cheapest "model" with perfect samples returns its training images: no model of the leaderboard below beats
# its FID. A KDE with a tiny bandwidth does almost the same with a little noise — and has an awful likelihood, since
# its density is a spike on every training image. A comparison with the *training* set exposes them: for each sample,
# the distance to its nearest training image, against the same distance for the test images, which no model saw.
# Fresh data (the validation images) is as far from the training images as the test images are (a ratio near 1);
# a copy machine is much closer, and its samples sit nearer to a training image than any test digit comes
# (*copies*). (The validation set holds fewer images than the others, so its FID is inflated: §7's bias.)

# %%
memorising_kde = GaussianKDE(train_flat, 0.3)
memorisers = {"the training images": split.train.x,
              "KDE, bandwidth 0.3 grey levels": data.quantize(
                  memorising_kde.sample(1000, generator=torch.Generator().manual_seed(12)).float(),
                  levels).reshape(-1, *image_shape),
              "GMM (40 components)": gmm_images,
              "the validation images (fresh data)": split.val.x}
memorisation = {}
for name, images in memorisers.items():
    generated = classifier.features(digit_classifier, images)
    memorisation[name] = (sample_metrics.frechet_distance(features["test"], generated),
                          sample_metrics.precision_recall(features["test"], generated),
                          sample_metrics.memorisation(images.flatten(1), split.train.x.flatten(1),
                                                      split.test.x.flatten(1)))
kde_memoriser_nll = -memorising_kde.log_prob(test_flat).mean().item()
display(Markdown("| sampler | images | FID | precision | recall | nearest-training distance ratio | copies |\n"
                 "|---|---|---|---|---|---|---|\n"
                 + "\n".join(f"| {name} | {len(memorisers[name])} | {f:.1f} | {pr.precision:.3f} | {pr.recall:.3f} | "
                             f"{m.ratio:.2f} | {m.copies:.0%} |" for name, (f, pr, m) in memorisation.items())
                 + f"\n\nThe KDE's test NLL: {kde_memoriser_nll:.0f} nats/image, against the GMM's {gmm_nll:.1f}."))

# %% tags=["check"]
exercises.expect_true("the training images beat the GMM on FID and on recall",
                      memorisation["the training images"][0] < memorisation["GMM (40 components)"][0]
                      and memorisation["the training images"][1].recall > memorisation["GMM (40 components)"][1].recall)
exercises.expect_true("the tiny-bandwidth KDE also beats the GMM's FID, with a likelihood worse by 1 000 nats or more",
                      memorisation["KDE, bandwidth 0.3 grey levels"][0] < memorisation["GMM (40 components)"][0]
                      and kde_memoriser_nll > gmm_nll + 1000)
exercises.expect_true("the memorisation score flags the copy machines (ratio < 0.5, over 90 % copies) and not fresh "
                      "data (ratio > 0.8, under 5 % copies)",
                      all(memorisation[n][2].ratio < 0.5 and memorisation[n][2].copies > 0.9
                          for n in ("the training images", "KDE, bandwidth 0.3 grey levels"))
                      and memorisation["the validation images (fresh data)"][2].ratio > 0.8
                      and memorisation["the validation images (fresh data)"][2].copies < 0.05)

# %% [markdown]
# Theis et al. add a warning about this very test: a distance in pixel space is a weak judge of copying. Shift
# every training image by one pixel — still a copy machine, to any reader — and the nearest-neighbour test no
# longer sees a single copy:

# %%
shifted = torch.roll(split.train.x, 1, dims=-1)
shifted[..., 0] = 0                                 # the column that wrapped around becomes background
shifted_memorisation = sample_metrics.memorisation(shifted.flatten(1), split.train.x.flatten(1),
                                                   split.test.x.flatten(1))
shifted_fid = sample_metrics.frechet_distance(features["test"], classifier.features(digit_classifier, shifted))
print(f"training images shifted by one pixel: nearest-training ratio {shifted_memorisation.ratio:.2f}, copies "
      f"{shifted_memorisation.copies:.0%}, FID {shifted_fid:.1f}")
exercises.expect_true("shifted copies pass the nearest-neighbour test as fresh data (ratio > 0.8, no copies)",
                      shifted_memorisation.ratio > 0.8 and shifted_memorisation.copies == 0)

# %% [markdown]
# ## 8. The leaderboard: every model of the course
#
# Every chapter recorded its models' test NLL on the leaderboard and the same number of samples of each
# (`gallery.SAMPLES`) in the **gallery** (`evaluation.gallery`, in the course cache). Here every sampler is scored
# against the same test images: FID, KID (± its standard error), precision and recall with $k = 3$, and the
# nearest-training-image ratio, with the training images as a reference row. Models with a likelihood carry their
# NLL and how it was obtained; GANs and GLO have none.

# %%
likelihoods = {row["model"]: row for row in leaderboard.entries() if row["dataset"] == DATASET}
samplers = {entry.model: entry for entry in gallery.entries(DATASET)}
references = {"training images (a copy of the data)": (split.train.x, math.nan)}
scores = {}
for name in list(samplers) + list(references):
    images = samplers[name].samples if name in samplers else references[name][0]
    generated = classifier.features(digit_classifier, images)
    kid = sample_metrics.kernel_inception_distance(features["test"], generated, subsets=50, subset_size=200,
                                                   generator=torch.Generator().manual_seed(13))
    scores[name] = {"fid": sample_metrics.frechet_distance(features["test"], generated), "kid": kid,
                    "pr": sample_metrics.precision_recall(features["test"], generated),
                    "memorisation": sample_metrics.memorisation(images.flatten(1), split.train.x.flatten(1),
                                                                split.test.x.flatten(1)).ratio}
names = sorted(set(likelihoods) | set(samplers), key=lambda n: (scores[n]["fid"] if n in scores else math.inf, n))
missing_chapters = sorted(set(range(1, 9)) - {e.chapter for e in samplers.values()})
if missing_chapters:
    print(f"chapters {missing_chapters} have not recorded samples in this cache yet: run them, then this cell again")


def cell(value, form):
    return "—" if value is None or (isinstance(value, float) and math.isnan(value)) else format(value, form)


table_rows = []
for name in names + list(references):
    likelihood = likelihoods.get(name)
    score = scores.get(name)
    chapter = samplers[name].chapter if name in samplers else (likelihood["chapter"] if likelihood else 9)
    seconds = (samplers[name].train_seconds if name in samplers
               else references[name][1] if name in references else None)
    table_rows.append({
        "model": name, "chapter": chapter,
        "nll_nats": likelihood["nll_nats"] if likelihood else None,
        "bits_per_dim": likelihood["bits_per_dim"] if likelihood else None,
        "how": likelihood["bound"] if likelihood else "—",
        "fid": score["fid"] if score else None, "kid": score["kid"].mean if score else None,
        "kid_standard_error": score["kid"].spread if score else None,
        "precision": score["pr"].precision if score else None, "recall": score["pr"].recall if score else None,
        "memorisation_ratio": score["memorisation"] if score else None, "train_seconds": seconds})
display(Markdown(
    "| model | ch. | test NLL (nats) | bits/dim | how | FID | KID | precision | recall | NN ratio | training (s) |\n"
    "|---|---|---|---|---|---|---|---|---|---|---|\n" + "\n".join(
        f"| {r['model']} | {r['chapter']:02d} | {cell(r['nll_nats'], '.1f')} | {cell(r['bits_per_dim'], '.3f')} | "
        f"{r['how']} | {cell(r['fid'], '.1f')} | "
        + (f"{r['kid']:.1f} ± {r['kid_standard_error']:.1f}" if r['kid'] is not None else "—")
        + f" | {cell(r['precision'], '.2f')} | {cell(r['recall'], '.2f')} | {cell(r['memorisation_ratio'], '.2f')} | "
        f"{cell(r['train_seconds'], '.0f')} |" for r in table_rows)))
leaderboard_file = cache_dir() / f"ch09_leaderboard_{DATASET}.csv"
with open(leaderboard_file, "w", newline="", encoding="utf-8") as handle:
    writer = csv.DictWriter(handle, fieldnames=list(table_rows[0]))
    writer.writeheader()
    writer.writerows(table_rows)
print(f"written to {leaderboard_file}")

# %% [markdown]
# And one figure: likelihood against FID for the models that have both; the samplers without a likelihood on
# their own axis at the right.

# %%
fig, ax = plt.subplots(figsize=(9, 5))
with_both = [r for r in table_rows if r["nll_nats"] is not None and r["fid"] is not None]
only_samples = [r for r in table_rows if r["nll_nats"] is None and r["fid"] is not None]
right = max([r["nll_nats"] for r in with_both], default=100) + 15
for r in with_both:
    ax.scatter(r["nll_nats"], r["fid"], color=f"C{r['chapter'] % 10}")
    ax.annotate(r["model"][:28], (r["nll_nats"], r["fid"]), fontsize=6, xytext=(3, 2), textcoords="offset points")
for r in only_samples:
    ax.scatter(right, r["fid"], marker="s", color=f"C{r['chapter'] % 10}")
    ax.annotate(r["model"][:28], (right, r["fid"]), fontsize=6, xytext=(4, 0), textcoords="offset points")
ax.axvline(right - 7, color="k", lw=0.5, ls=":")
ax.set(xlabel="test NLL, nats/image (the right strip: samplers without a likelihood)", ylabel="FID (lower is better)",
       title="likelihood and sample quality on the digits");

# %% tags=["check"]
exercises.expect_true("every model in the gallery was scored", all(name in scores for name in samplers))
exercises.expect_true("no model's samples beat the training images' FID (a copy of the data)",
                      all(scores[n]["fid"] >= scores["training images (a copy of the data)"]["fid"] for n in samplers))

# %% [markdown]
# Read it with this chapter's lessons: which model leads on likelihood, which on FID, and how far the two
# rankings agree:

# %%
models_with_both = [r for r in with_both if r["model"] not in references]
if len(models_with_both) >= 3:
    best_likelihood = min(models_with_both, key=lambda r: r["nll_nats"])
    best_fid = min((r for r in table_rows if r["fid"] is not None and r["model"] not in references),
                   key=lambda r: r["fid"])
    rank_correlation = scipy.stats.spearmanr([r["nll_nats"] for r in models_with_both],
                                             [r["fid"] for r in models_with_both]).statistic
    training_fid = scores["training images (a copy of the data)"]["fid"]
    display(Markdown(
        f"Best likelihood: **{best_likelihood['model']}** ({best_likelihood['nll_nats']:.1f} nats/image; its FID "
        f"{best_likelihood['fid']:.1f}). Best FID: **{best_fid['model']}** ({best_fid['fid']:.1f}; "
        + (f"NLL {best_fid['nll_nats']:.1f})" if best_fid["nll_nats"] is not None else "no likelihood)")
        + f". The Spearman rank correlation of NLL and FID over the {len(models_with_both)} models that have both is "
        f"{rank_correlation:+.2f}: "
        + ("the two rankings largely agree. " if rank_correlation > 0.7
           else "the two criteria rank the models differently. ")
        + f"The training images themselves score a FID of {training_fid:.1f}, better than every model, and the "
        f"memorisation ratio (NN ratio) is what tells them apart."))
else:
    print("too few of the course's models in this cache to compare rankings: run chapters 01–08 first")

# %% [markdown]
# ## References
#
# - L. Theis, A. van den Oord, M. Bethge. *A note on the evaluation of generative models.* ICLR 2016.
# - T. Salimans et al. *Improved techniques for training GANs.* NeurIPS 2016 (the Inception Score).
# - M. Heusel et al. *GANs trained by a two time-scale update rule converge to a local Nash equilibrium.*
#   NeurIPS 2017 (FID).
# - M. Bińkowski, D. J. Sutherland, M. Arbel, A. Gretton. *Demystifying MMD GANs.* ICLR 2018 (KID).
# - T. Kynkäänniemi et al. *Improved precision and recall metric for assessing generative models.* NeurIPS 2019.
# - M. S. M. Sajjadi et al. *Assessing generative models via precision and recall.* NeurIPS 2018.
# - J. M. Tomczak. *Deep Generative Modeling.* Springer, 2022 (the digits split and the reference implementations).
#
# ## Summary
#
# - Likelihoods: nats per image on the data's own levels, converted to bits/dim with $D \ln 2$ and across scales
#   with $D \ln s$; say whether a number is exact, a bound or an estimate.
# - Parzen-window estimates are far from the truth and rank blurry averages above real digits: do not use them.
# - Likelihood and sample quality disagree (99 % noise costs at most $\ln 100$ nats); memorising models fool sample
#   metrics. Evaluate for the model's use, with more than one number.
# - IS needs only a classifier and ignores the data; FID compares with real features but is biased at small $n$;
#   KID is unbiased, with a standard error; precision and recall separate quality from diversity.
# - One leaderboard for the course, in one unit and on one test split; the scripts to reproduce it are the chapters.

# %%
print(f"chapter run time: {time.perf_counter() - chapter_started:.0f} s")

# %% tags=["check"]
exercises.report()
