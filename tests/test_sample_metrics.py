"""Sample metrics (chapter 09): FID against SciPy's sqrtm formula and closed forms, IS's bounds, KID's
unbiasedness, precision/recall on controlled sets, memorisation, the gallery, and their input errors."""

import math

import numpy as np
import pytest
import scipy.linalg
import torch

from course_lib.evaluation import gallery, inception, sample_metrics as sm
from course_lib.evaluation.classifier import DigitClassifier, features


def _random_covariance(d, generator):
    a = torch.randn(d, 2 * d, generator=generator, dtype=torch.float64)
    return a @ a.T / (2 * d)


def _scipy_fid(mu1, c1, mu2, c2):
    root = scipy.linalg.sqrtm(c1.numpy() @ c2.numpy())
    return float(((mu1 - mu2) ** 2).sum() + np.trace(c1.numpy() + c2.numpy() - 2 * root.real))


def test_fid_matches_the_scipy_sqrtm_formula():
    g = torch.Generator().manual_seed(0)
    for d in (2, 16, 64):
        mu1, mu2 = torch.randn(d, generator=g, dtype=torch.float64), torch.randn(d, generator=g, dtype=torch.float64)
        c1, c2 = _random_covariance(d, g), _random_covariance(d, g)
        ours = sm.frechet_distance_from_statistics(mu1, c1, mu2, c2)
        assert ours == pytest.approx(_scipy_fid(mu1, c1, mu2, c2), rel=1e-6)


def test_fid_closed_form_for_diagonal_covariances():
    # diagonal C, C_w: Tr(C + C_w − 2 (C C_w)^½) = Σ (σ_i − σ_w,i)²
    s1, s2 = torch.tensor([1.0, 4.0, 0.25], dtype=torch.float64), torch.tensor([9.0, 1.0, 0.25], dtype=torch.float64)
    mu1, mu2 = torch.tensor([0.0, 1.0, 2.0]), torch.tensor([1.0, 1.0, 0.0])
    expected = 1 + 0 + 4 + ((s1.sqrt() - s2.sqrt()) ** 2).sum().item()
    assert sm.frechet_distance_from_statistics(mu1, torch.diag(s1), mu2, torch.diag(s2)) == pytest.approx(expected)


def test_fid_of_a_set_with_itself_is_zero_and_it_is_symmetric():
    g = torch.Generator().manual_seed(1)
    x, y = torch.randn(500, 8, generator=g), torch.randn(400, 8, generator=g) * 1.5 + 0.3
    assert sm.frechet_distance(x, x) == pytest.approx(0, abs=1e-9)
    assert sm.frechet_distance(x, y) == pytest.approx(sm.frechet_distance(y, x), rel=1e-9)
    assert sm.frechet_distance(x, y) > 0.5


def test_fid_is_real_for_singular_covariances_where_sqrtm_goes_complex():
    # dead features (zero variance) make both covariances singular; the eigenvalue route stays real and ≥ 0
    g = torch.Generator().manual_seed(2)
    x = torch.cat([torch.randn(300, 5, generator=g), torch.zeros(300, 3)], 1)
    y = torch.cat([torch.randn(300, 5, generator=g) + 1, torch.zeros(300, 3)], 1)
    value = sm.frechet_distance(x, y)
    assert math.isfinite(value) and value > 0
    assert value == pytest.approx(sm.frechet_distance(x[:, :5], y[:, :5]), rel=1e-9)


def test_trace_sqrt_product_is_the_trace_of_the_matrix_square_root():
    g = torch.Generator().manual_seed(3)
    a, b = _random_covariance(6, g), _random_covariance(6, g)
    root = scipy.linalg.sqrtm(a.numpy() @ b.numpy())
    assert sm.trace_sqrt_product(a, b) == pytest.approx(np.trace(root).real, rel=1e-9)


def test_a_dropped_cross_term_or_a_mean_term_is_caught_by_the_reference():
    # the reference formula is not a tautology: FIDs missing a term differ from it
    g = torch.Generator().manual_seed(4)
    mu1, mu2 = torch.randn(4, generator=g, dtype=torch.float64), torch.randn(4, generator=g, dtype=torch.float64)
    c1, c2 = _random_covariance(4, g), _random_covariance(4, g)
    full = sm.frechet_distance_from_statistics(mu1, c1, mu2, c2)
    assert abs(full - sm.frechet_distance_from_statistics(mu1, c1, mu1, c2)) > 1e-3
    no_cross = ((mu1 - mu2) ** 2).sum().item() + torch.trace(c1 + c2).item()
    assert abs(full - no_cross) > 1e-3


def test_inception_score_is_one_for_uniform_and_k_for_confident_balanced_predictions():
    assert sm.inception_score(torch.full((100, 10), 0.1)).mean == pytest.approx(1.0)
    confident = torch.eye(10).repeat(7, 1)
    assert sm.inception_score(confident).mean == pytest.approx(10.0)
    one_class = torch.zeros(50, 10)
    one_class[:, 3] = 1
    assert sm.inception_score(one_class).mean == pytest.approx(1.0)   # confident but not diverse
    score = sm.inception_score(confident, splits=7)
    assert score.mean == pytest.approx(10.0) and score.spread == pytest.approx(0.0, abs=1e-9)


def test_inception_score_matches_a_direct_numpy_computation():
    p = torch.softmax(torch.randn(60, 5, generator=torch.Generator().manual_seed(5)) * 2, 1).double()
    q = p.numpy()
    expected = np.exp(np.mean(np.sum(q * (np.log(q) - np.log(q.mean(0, keepdims=True))), 1)))
    assert sm.inception_score(p).mean == pytest.approx(expected, rel=1e-9)


def test_kid_is_unbiased_on_equal_distributions_and_positive_on_different_ones():
    g = torch.Generator().manual_seed(6)
    means = []
    for _ in range(20):
        x, y = torch.randn(100, 4, generator=g), torch.randn(100, 4, generator=g)
        means.append(sm.kernel_inception_distance(x, y, subsets=5, subset_size=50, generator=g).mean)
    means = torch.tensor(means)
    assert abs(means.mean()) < 3 * means.std() / math.sqrt(len(means))       # mean ≈ 0 over repeats
    assert (means < 0).any()                                                   # unbiased, so sometimes < 0
    x, y = torch.randn(200, 4, generator=g), torch.randn(200, 4, generator=g) + 1
    score = sm.kernel_inception_distance(x, y, subsets=10, subset_size=100, generator=g)
    assert score.mean > 10 * score.spread > 0


def test_precision_recall_on_controlled_sets():
    g = torch.Generator().manual_seed(7)
    real = torch.randn(300, 2, generator=g)
    subset = real[:100]
    assert sm.precision_recall(real, subset).precision == 1.0            # every fake point is a real point
    assert sm.precision_recall(real, subset).recall < 1.0                  # which covers only part of the data
    far = real + 100
    assert sm.precision_recall(real, far) == (0.0, 0.0)                    # disjoint sets
    same = sm.precision_recall(real, real)
    assert same == (1.0, 1.0)


def test_precision_recall_separates_quality_from_diversity():
    g = torch.Generator().manual_seed(8)
    real = torch.randn(1000, 2, generator=g)
    narrow = torch.randn(1000, 2, generator=g) * 0.3     # good samples, little diversity
    wide = torch.randn(1000, 2, generator=g) * 4.0       # diverse, many bad samples
    pr_narrow, pr_wide = sm.precision_recall(real, narrow), sm.precision_recall(real, wide)
    assert pr_narrow.precision > 0.9 and pr_narrow.recall < 0.5   # k = 3 balls cover ≈ 1 − e⁻³ of the plane
    assert pr_wide.recall > 0.9 and pr_wide.precision < 0.5


def test_memorisation_flags_copies_and_not_fresh_samples():
    g = torch.Generator().manual_seed(9)
    train, test, fresh = (torch.randn(300, 5, generator=g) for _ in range(3))
    assert sm.memorisation(fresh, train, test).ratio == pytest.approx(1.0, abs=0.25)
    copies = sm.memorisation(train[:200] + 1e-3 * torch.randn(200, 5, generator=g), train, test)
    assert copies.ratio < 0.05 and copies.copies == 1.0


@pytest.mark.parametrize("call, words", [
    (lambda: sm.frechet_distance(torch.randn(10, 3), torch.randn(10, 4)), "same number of features"),
    (lambda: sm.frechet_distance(torch.randn(1, 3), torch.randn(10, 3)), "at least 2 rows"),
    (lambda: sm.frechet_distance(torch.full((5, 3), float("nan")), torch.randn(10, 3)), "NaN"),
    (lambda: sm.frechet_distance(torch.randn(10), torch.randn(10, 3)), "2 dimensions"),
    (lambda: sm.frechet_distance_from_statistics(torch.zeros(2), -torch.eye(2), torch.zeros(2), torch.eye(2)),
     "positive semi-definite"),
    (lambda: sm.frechet_distance_from_statistics(torch.zeros(2), torch.tensor([[1.0, 1.0], [0.0, 1.0]]),
                                                 torch.zeros(2), torch.eye(2)), "symmetric"),
    (lambda: sm.frechet_distance_from_statistics(torch.zeros(3), torch.eye(2), torch.zeros(3), torch.eye(3)),
     "covariance_a must have shape"),
    (lambda: sm.inception_score(torch.rand(10, 4)), "sum to 1"),
    (lambda: sm.inception_score(torch.full((4, 2), 0.5), splits=5), "splits must be ≤"),
    (lambda: sm.kernel_inception_distance(torch.randn(10, 3), torch.randn(20, 3), subset_size=11), "subset_size"),
    (lambda: sm.kernel_inception_distance(torch.randn(10, 3), torch.randn(20, 3), generator=0), "generator"),
    (lambda: sm.precision_recall(torch.randn(3, 2), torch.randn(10, 2), k=3), "at least 4 rows"),
    (lambda: sm.precision_recall(torch.randn(30, 2), torch.randn(10, 2), k=0), "k must be ≥ 1"),
    (lambda: sm.memorisation(torch.randn(5, 2), torch.randn(5, 3), torch.randn(5, 2)), "same number of features"),
    (lambda: sm.nearest_distances(torch.randn(5, 2), torch.randn(5, 2), batch_size=1.5), "batch_size"),
])
def test_bad_inputs_name_the_argument(call, words):
    with pytest.raises((ValueError, TypeError), match=words):
        call()


def test_classifier_features_are_the_penultimate_layer_in_eval_mode():
    classifier = DigitClassifier().train()
    images = torch.randint(0, 17, (7, 1, 8, 8)).float()
    out = features(classifier, images, batch_size=3)
    assert out.shape == (7, 128) and classifier.training          # the mode is restored
    with torch.no_grad():
        assert torch.allclose(out, classifier.eval().features(images), atol=1e-6)   # batches of 3 vs 7
    with pytest.raises(ValueError, match="grey levels"):
        features(classifier, images + 20)
    with pytest.raises(TypeError, match="DigitClassifier"):
        features(torch.nn.Linear(2, 2), images)


def test_inception_features_say_where_the_weights_go_without_downloading(tmp_path):
    images = torch.zeros(2, 1, 8, 8)
    with pytest.raises(ValueError, match="downloads nothing"):
        inception.inception_features(images, tmp_path / "missing.pth", levels=17)
    with pytest.raises(TypeError, match="weights must be the path"):
        inception.inception_features(images, 3, levels=17)
    with pytest.raises(ValueError, match="1 or 3 channels"):
        inception.inception_features(torch.zeros(2, 2, 8, 8), tmp_path / "missing.pth", levels=17)
    weights = tmp_path / "inception.pth"
    weights.write_bytes(b"not read without torchvision")
    import importlib.util

    if importlib.util.find_spec("torchvision") is None:     # the course does not install it
        with pytest.raises(ImportError, match="needs torchvision"):
            inception.inception_features(images, weights, levels=17)


def test_the_gallery_keeps_samples_and_training_times(tmp_path):
    samples = torch.randint(0, 17, (gallery.SAMPLES + 5, 1, 8, 8))
    gallery.record("model B", 4, samples, levels=17, train_seconds=3.5)
    gallery.record("model A", 4, samples.float(), levels=17)
    gallery.record("model B", 4, 16 - samples, levels=17, train_seconds=1.0)       # replaces its file
    found = gallery.entries()
    assert [e.model for e in found] == ["model A", "model B"]
    assert torch.equal(found[1].samples, (16 - samples[:gallery.SAMPLES]).float()) and found[1].train_seconds == 1.0
    assert math.isnan(found[0].train_seconds)
    assert gallery.entries("other dataset") == []
    with pytest.raises(ValueError, match="at least gallery.SAMPLES"):
        gallery.record("m", 4, samples[:10], levels=17)
    with pytest.raises(ValueError, match="integer grey levels"):
        gallery.record("m", 4, samples + 0.5, levels=17)
    with pytest.raises(ValueError, match="integer grey levels"):
        gallery.record("m", 4, samples + 1, levels=17)
    with pytest.raises(TypeError, match="model must be"):
        gallery.record("", 4, samples, levels=17)
    with pytest.raises(ValueError, match="train_seconds"):
        gallery.record("m", 4, samples, levels=17, train_seconds=-1)


def test_record_model_draws_seeded_samples_and_quantizes_dequantized_ones():
    from course_lib.models import FactorizedCategorical, GaussianKDE

    x = torch.randint(0, 17, (40, 1, 8, 8)).float()
    categorical = FactorizedCategorical.fit(x, 17)
    gallery.record_model("categorical", 1, categorical, levels=17, train_seconds=0.5)
    expected = categorical.sample(gallery.SAMPLES, generator=torch.Generator().manual_seed(0))
    kde = GaussianKDE(x + 0.5, 2.0)
    gallery.record_model("kde", 1, kde, levels=17, dequantized=True, seed=3)
    found = {e.model: e for e in gallery.entries()}
    assert torch.equal(found["categorical"].samples, expected)
    kde_samples = kde.sample(gallery.SAMPLES, generator=torch.Generator().manual_seed(3))
    assert torch.equal(found["kde"].samples, kde_samples.floor().clamp(0, 16))
    with pytest.raises(ValueError, match="integer grey levels"):      # continuous samples need dequantized=True
        gallery.record_model("kde", 1, kde, levels=17)
    with pytest.raises(TypeError, match="sample"):
        gallery.record_model("x", 1, object(), levels=17)
    with pytest.raises(ValueError, match=r"seed must be < 2\*\*63"):   # not PyTorch's overflow error
        gallery.record_model("categorical", 1, categorical, levels=17, seed=2**64)


def test_parzen_estimate_approaches_a_known_density_in_one_dimension():
    from course_lib.evaluation import parzen_estimate

    g = torch.Generator().manual_seed(10)
    samples, x, val = (torch.randn(n, 1, generator=g, dtype=torch.float64) for n in (5000, 1000, 1000))
    estimate = parzen_estimate(samples, x, val, torch.logspace(-2, 0, 10))
    assert estimate.nll == pytest.approx(0.5 * math.log(2 * math.pi * math.e), abs=0.05)   # N(0, 1)'s entropy
    assert 0.01 < estimate.bandwidth < 1
    with pytest.raises(ValueError, match="x must have 1 columns"):
        parzen_estimate(samples, torch.zeros(3, 2), val, [0.1])
    with pytest.raises(ValueError, match="bandwidths must all be > 0"):
        parzen_estimate(samples, x, val, [0.1, -1.0])
    with pytest.raises(ValueError, match="samples must have 2 dimensions"):
        parzen_estimate(samples[:, 0], x, val, [0.1])
