"""Metrics of a set of samples, computed on image features (chapter 09): Inception Score, Fréchet distance (FID),
kernel distance (KID), precision and recall, and a nearest-neighbour memorisation score.

They compare *sets*: ``features`` are (N, D) tensors, one row per image, usually the penultimate layer of a
classifier (``classifier.features``: the course's digit classifier stands in for Inception-v3 on 8×8 digits).
Every metric here is computed in float64 on the features' device and returned as Python floats.

References: Salimans et al. 2016 (IS), Heusel et al. 2017 (FID), Bińkowski et al. 2018 (KID), Kynkäänniemi et
al. 2019 (precision and recall from k-NN balls).
"""

from __future__ import annotations

import math
from typing import NamedTuple

import torch

from .. import randomness
from ..validation import as_float_tensor, as_probabilities, generator_or_none, positive_int


def _features(features, name: str, *, minimum: int = 1) -> torch.Tensor:
    """``features`` as a float64 (N, D) tensor with N ≥ ``minimum``."""
    features = as_float_tensor(features, name, ndim=2).double()
    if len(features) < minimum:
        raise ValueError(f"{name} must have at least {minimum} rows (samples), got {len(features)}")
    return features


def _same_width(a: torch.Tensor, b: torch.Tensor, name_a: str, name_b: str) -> torch.Tensor:
    if a.shape[1] != b.shape[1]:
        raise ValueError(f"{name_a} and {name_b} must have the same number of features (columns), "
                         f"got {a.shape[1]} and {b.shape[1]}")
    return b.to(a.device)


class Score(NamedTuple):
    """A metric averaged over splits or subsets, with its spread."""
    mean: float
    spread: float      # IS: standard deviation over splits; KID: standard error of the mean over subsets


def gaussian_statistics(features) -> tuple[torch.Tensor, torch.Tensor]:
    """Mean (D,) and unbiased covariance (D, D) of ``features`` (N, D), N ≥ 2, in float64."""
    features = _features(features, "features", minimum=2)
    mean = features.mean(0)
    centred = features - mean
    return mean, centred.T @ centred / (len(features) - 1)


def _factor(matrix: torch.Tensor, name: str) -> torch.Tensor:
    """F with F Fᵀ = ``matrix`` (symmetric PSD): Cholesky's L when ``matrix`` is positive definite (cheap), else
    V diag(√λ) from its eigendecomposition (a singular covariance: dead or duplicated features)."""
    factor, info = torch.linalg.cholesky_ex(matrix)
    if info.item() == 0:
        return factor
    values, vectors = torch.linalg.eigh(matrix)
    if values.min() < -1e-8 * values.abs().max().clamp_min(1e-300):
        raise ValueError(f"{name} must be positive semi-definite (a covariance), got an eigenvalue of "
                         f"{values.min().item():.3g}")
    return vectors * values.clamp_min(0).sqrt()


def trace_sqrt_product(covariance_a, covariance_b) -> float:
    """Tr((A B)^½) for symmetric positive semi-definite A, B (D, D).

    A B is not symmetric, but with A = F Fᵀ it has the eigenvalues of the symmetric Fᵀ B F (≥ 0), so the trace of
    its square root is the sum of their square roots: a Cholesky factorisation and one symmetric eigenvalue
    problem, no complex numbers (``scipy.linalg.sqrtm`` of A B returns complex parts from round-off when A B is
    near singular)."""
    a = as_float_tensor(covariance_a, "covariance_a", ndim=2).double()
    b = as_float_tensor(covariance_b, "covariance_b", ndim=2).double().to(a.device)
    for matrix, name in ((a, "covariance_a"), (b, "covariance_b")):
        if matrix.shape[0] != matrix.shape[1]:
            raise ValueError(f"{name} must be square, got shape {tuple(matrix.shape)}")
        scale = matrix.abs().max().clamp_min(1e-300)
        if not torch.allclose(matrix, matrix.T, atol=1e-8 * scale.item(), rtol=0):
            raise ValueError(f"{name} must be symmetric (a covariance)")
    if a.shape != b.shape:
        raise ValueError(f"covariance_a and covariance_b must have the same shape, got {tuple(a.shape)} and "
                         f"{tuple(b.shape)}")
    factor = _factor(a, "covariance_a")
    _factor(b, "covariance_b")                      # checks that B is a covariance (a Cholesky when it is definite)
    middle = factor.T @ b @ factor
    eigenvalues = torch.linalg.eigvalsh((middle + middle.T) / 2)     # symmetric up to round-off
    return eigenvalues.clamp_min(0).sqrt().sum().item()


def frechet_distance_from_statistics(mean_a, covariance_a, mean_b, covariance_b) -> float:
    """d² = ‖μ_a − μ_b‖² + Tr(C_a + C_b − 2 (C_a C_b)^½): the squared 2-Wasserstein distance between the
    Gaussians N(μ_a, C_a) and N(μ_b, C_b), in squared feature units (≥ 0)."""
    mean_a = as_float_tensor(mean_a, "mean_a", ndim=1).double()
    mean_b = as_float_tensor(mean_b, "mean_b", ndim=1).double().to(mean_a.device)
    if mean_a.shape != mean_b.shape:
        raise ValueError(f"mean_a and mean_b must have the same length, got {len(mean_a)} and {len(mean_b)}")
    a = as_float_tensor(covariance_a, "covariance_a", ndim=2).double().to(mean_a.device)
    b = as_float_tensor(covariance_b, "covariance_b", ndim=2).double().to(mean_a.device)
    if a.shape != (len(mean_a),) * 2:
        raise ValueError(f"covariance_a must have shape ({len(mean_a)}, {len(mean_a)}), got {tuple(a.shape)}")
    cross = trace_sqrt_product(a, b)
    distance = (mean_a - mean_b).square().sum().item() + torch.trace(a).item() + torch.trace(b).item() - 2 * cross
    return max(distance, 0.0)      # round-off can leave −1e-12 for equal sets


def frechet_distance(features_a, features_b) -> float:
    """The Fréchet distance (FID when the features are Inception's) between two sets of features (N_a, D) and
    (N_b, D), each summarised by its mean and covariance (N ≥ 2). Biased upwards at small N: compare models
    with the same number of samples."""
    a = _features(features_a, "features_a", minimum=2)
    b = _same_width(a, _features(features_b, "features_b", minimum=2), "features_a", "features_b")
    return frechet_distance_from_statistics(*gaussian_statistics(a), *gaussian_statistics(b))


def inception_score(probabilities, *, splits: int = 1) -> Score:
    """IS = exp E_x KL(p(y|x) ‖ p(y)) of class probabilities (N, K) of N generated images, p(y) their mean.

    Between 1 (every image gets the same p(y|x)) and K (confident p(y|x), balanced p(y)). It never looks at
    real data. ``splits`` > 1: the mean and standard deviation over that many equal parts (the usual report)."""
    p = as_probabilities(probabilities, "probabilities", ndim=2).double()
    splits = positive_int(splits, "splits")
    if len(p) < splits:
        raise ValueError(f"splits must be ≤ the number of images ({len(p)}), got {splits}")
    scores = []
    for part in torch.tensor_split(p, splits):
        marginal = part.mean(0, keepdim=True)
        # 0 · log 0 = 0: a class an image gives no probability adds nothing to its KL
        kl = torch.where(part > 0, part * (part.clamp_min(1e-300).log() - marginal.clamp_min(1e-300).log()),
                         torch.zeros_like(part)).sum(1)
        scores.append(kl.mean().exp().item())
    spread = torch.tensor(scores, dtype=torch.float64).std().item() if splits > 1 else 0.0
    return Score(sum(scores) / splits, spread)


def _polynomial_kernel(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    return (x @ y.T / x.shape[1] + 1) ** 3


def _unbiased_mmd2(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Unbiased MMD² with the cubic polynomial kernel: the diagonals k(x_i, x_i) are left out."""
    m, n = len(x), len(y)
    k_xx, k_yy, k_xy = _polynomial_kernel(x, x), _polynomial_kernel(y, y), _polynomial_kernel(x, y)
    return ((k_xx.sum() - k_xx.diagonal().sum()) / (m * (m - 1)) + (k_yy.sum() - k_yy.diagonal().sum()) / (n * (n - 1))
            - 2 * k_xy.mean())


def kernel_inception_distance(features_a, features_b, *, subsets: int = 50, subset_size: int = 200,
                              generator: torch.Generator | None = None) -> Score:
    """KID: the unbiased MMD² between two sets of features with the kernel k(x, y) = (xᵀy / D + 1)³, averaged
    over ``subsets`` random subsets of ``subset_size`` rows of each set (drawn without replacement within a
    subset), and its standard error (standard deviation over subsets / √subsets; subsets overlap, so read it as
    a guide). Unbiased: its expectation is 0 for two samples of one distribution, so it can be negative."""
    a = _features(features_a, "features_a", minimum=2)
    b = _same_width(a, _features(features_b, "features_b", minimum=2), "features_a", "features_b")
    subsets = positive_int(subsets, "subsets")
    subset_size = positive_int(subset_size, "subset_size", minimum=2)
    generator = generator_or_none(generator)
    if subset_size > min(len(a), len(b)):
        raise ValueError(f"subset_size must be ≤ the smaller set ({min(len(a), len(b))} rows), got {subset_size}")
    values = torch.stack([_unbiased_mmd2(a[randomness.permutation(len(a), generator=generator)[:subset_size].to(a.device)],
                                         b[randomness.permutation(len(b), generator=generator)[:subset_size].to(a.device)])
                          for _ in range(subsets)])
    error = values.std().item() / math.sqrt(subsets) if subsets > 1 else math.nan
    return Score(values.mean().item(), error)


def _knn_radii(features: torch.Tensor, k: int, batch_size: int) -> torch.Tensor:
    """Distance from each row to its k-th nearest other row (N,)."""
    radii = [torch.cdist(part, features).kthvalue(k + 1, dim=1).values    # + 1: the row itself is at distance 0
             for part in features.split(batch_size)]
    return torch.cat(radii)


def _inside_balls(points: torch.Tensor, centres: torch.Tensor, radii: torch.Tensor, batch_size: int) -> torch.Tensor:
    """For each point (M,), whether it lies within some ball (centre, radius) of the other set."""
    return torch.cat([(torch.cdist(part, centres) <= radii).any(1) for part in points.split(batch_size)])


class PrecisionRecall(NamedTuple):
    precision: float   # share of generated samples inside the real manifold: quality
    recall: float      # share of real samples inside the generated manifold: diversity


def precision_recall(real_features, fake_features, *, k: int = 3, batch_size: int = 1024) -> PrecisionRecall:
    """Improved precision and recall (Kynkäänniemi et al. 2019): each set's manifold is the union of balls
    around its points, of radius the distance to the point's k-th nearest neighbour in the same set.
    Precision: the share of fake points inside the real manifold; recall: the share of real points inside the
    fake manifold. Features (N_real, D) and (N_fake, D), each with more than k rows."""
    k = positive_int(k, "k")
    batch_size = positive_int(batch_size, "batch_size")
    real = _features(real_features, "real_features", minimum=k + 1)
    fake = _same_width(real, _features(fake_features, "fake_features", minimum=k + 1), "real_features", "fake_features")
    precision = _inside_balls(fake, real, _knn_radii(real, k, batch_size), batch_size).double().mean().item()
    recall = _inside_balls(real, fake, _knn_radii(fake, k, batch_size), batch_size).double().mean().item()
    return PrecisionRecall(precision, recall)


def nearest_distances(points, reference, *, batch_size: int = 1024) -> torch.Tensor:
    """Euclidean distance (M,) from each of ``points`` (M, D) to its nearest row of ``reference`` (N, D)."""
    batch_size = positive_int(batch_size, "batch_size")
    points = _features(points, "points")
    reference = _same_width(points, _features(reference, "reference"), "points", "reference")
    return torch.cat([torch.cdist(part, reference).min(1).values for part in points.split(batch_size)])


class Memorisation(NamedTuple):
    ratio: float     # median distance sample → nearest training image, over the same for unseen real images
    copies: float    # share of samples closer to a training image than any unseen real image comes


def memorisation(samples, train, test) -> Memorisation:
    """How much a model's ``samples`` (M, D) copy its ``train`` set (N, D), with real images the model never saw
    (``test``, (T, D)) as the yardstick: ``ratio`` ≈ 1 for a model that generalises like fresh data, ≪ 1 for
    one that returns its training images; ``copies`` is the share of samples nearer to a training image than
    the nearest any test image comes (0 for fresh data, by construction of the threshold)."""
    samples = _features(samples, "samples")
    train = _same_width(samples, _features(train, "train"), "samples", "train")
    test = _same_width(samples, _features(test, "test"), "samples", "test")
    to_train, yardstick = nearest_distances(samples, train), nearest_distances(test, train)
    ratio = (to_train.median() / yardstick.median().clamp_min(1e-300)).item()
    return Memorisation(ratio, (to_train < yardstick.min()).double().mean().item())
