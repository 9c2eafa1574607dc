"""Bad input to the mixtures, PPCA, the VAE, the autoregressive models and the masked layers is refused at the
public boundary, with a message that names the argument (and what was expected); good input still passes."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from course_lib import distributions
from course_lib.models import GaussianMixture, PPCA, VAE
from course_lib.models.autoregressive import (FVSBN, MADE, NADE, CausalConvSequence, GatedPixelCNN, GRUSequence,
                                              PixelCNN, discretized_logistic_mixture)
from course_lib.models.mixtures import component_log_densities, e_step, m_step
from course_lib.models.ppca import closed_form, em_step
from course_lib.nn import CausalConv1d, MaskedConv2d, MaskedLinear, made_masks, masks_from_degrees

X = torch.randn(30, 2, generator=torch.Generator().manual_seed(0))
WEIGHTS = torch.tensor([0.5, 0.5])
MEANS = torch.tensor([[-1.0, 0.0], [1.0, 0.0]])
COVS = torch.eye(2).repeat(2, 1, 1)
RESP = torch.softmax(torch.randn(30, 2, generator=torch.Generator().manual_seed(1)), dim=1)
X3 = torch.randn(40, 3, generator=torch.Generator().manual_seed(2), dtype=torch.float64)


def _vae():
    torch.manual_seed(0)
    return VAE(latent_dim=3, hidden=16)


def _gaussian_vae():
    torch.manual_seed(0)
    return VAE(latent_dim=3, hidden=16, likelihood="gaussian")


# --- mixtures ------------------------------------------------------------------------------------

@pytest.mark.parametrize("call, error, message", [
    (lambda: e_step(X, WEIGHTS, MEANS, COVS, "ful"), ValueError,
     r"covariance_type must be one of \('full', 'diag', 'spherical'\), got 'ful'"),
    (lambda: m_step(X, RESP, "tied"), ValueError, r"covariance_type must be one of \('full', 'diag', 'spherical'\)"),
    (lambda: component_log_densities(X, MEANS, COVS, "Full"), ValueError, r"covariance_type must be one of"),
    (lambda: e_step(X, torch.tensor([1.5, -0.5]), MEANS, COVS), ValueError, r"weights must be non-negative"),
    (lambda: e_step(X, torch.tensor([1.0, 1.0]), MEANS, COVS), ValueError, r"weights must sum to 1 within 0\.0001, got a sum of 2"),
    (lambda: e_step(X, torch.ones(3) / 3, MEANS, COVS), ValueError, r"weights must have one entry per component \(2\)"),
    (lambda: e_step(X, [0.5, 0.5], MEANS, COVS), TypeError, r"weights must be a torch.Tensor or numpy array, got list"),
    (lambda: m_step(X, -RESP), ValueError, r"resp must be non-negative probabilities"),
    (lambda: m_step(X, 2 * RESP), ValueError, r"resp must sum to 1 along its last dimension \(each row\)"),
    (lambda: m_step(X, RESP[:10]), ValueError, r"resp must have one row per point \(30\), got shape \(10, 2\)"),
    (lambda: m_step(X, RESP.log()), ValueError, r"resp must be non-negative"),             # log-responsibilities
    (lambda: m_step(X, RESP, reg_covar=-1.0), ValueError, r"reg_covar must be finite and ≥ 0"),
    (lambda: e_step(X[:, :1], WEIGHTS, MEANS, COVS), ValueError, r"means must have shape \(K, 1\) to match x \(30, 1\)"),
    (lambda: e_step(X, WEIGHTS, MEANS, COVS[:, :1]), ValueError, r"covariances must have shape \(2, 2, 2\)"),
    (lambda: e_step(X, WEIGHTS, MEANS, torch.ones(2, 2), "full"), ValueError, r"covariances must have shape \(2, 2, 2\) for 'full'"),
    (lambda: e_step(torch.full((3, 2), float("nan")), WEIGHTS, MEANS, COVS), ValueError, r"x contains NaN or infinite values"),
    (lambda: e_step(X, WEIGHTS, MEANS, torch.zeros(2, 2, 2)), ValueError,
     r"covariances must be positive definite, but component 0's is not .*reg_covar"),
    (lambda: e_step(X, WEIGHTS, MEANS, torch.tensor([[[1.0, 0.5], [0.0, 1.0]]] * 2)), ValueError,
     r"covariances must be symmetric, but component 0's is not"),
    (lambda: component_log_densities(X, MEANS, torch.tensor([[1.0, 1.0], [1.0, -1.0]]), "diag"), ValueError,
     r"covariances must hold variances > 0 \(for 'diag'\), but component 1's has one ≤ 0"),
    (lambda: e_step(X, WEIGHTS, MEANS, torch.ones(2, 2), "spherical"), ValueError,
     r"covariances must have shape \(2,\) for 'spherical' covariances"),
    (lambda: e_step(X, WEIGHTS, MEANS, torch.tensor([1.0, -1.0]), "spherical"), ValueError,
     r"covariances must hold variances > 0 \(for 'spherical'\), but component 1's is ≤ 0"),
])
def test_mixture_steps_reject_bad_input(call, error, message):
    with pytest.raises(error, match=message):
        call()


def test_mixture_steps_accept_what_the_chapters_pass():
    x = torch.randn(50, 2, generator=torch.Generator().manual_seed(3))               # float32, like chapter 02
    log_resp, _ = e_step(x, torch.full((3,), 1 / 3), torch.randn(3, 2), torch.eye(2).repeat(3, 1, 1))
    weights, means, covariances = m_step(x, log_resp.exp(), "full", reg_covar=0.0)   # softmax-like rows
    assert torch.isfinite(e_step(x, weights, means, covariances)[1])
    assert m_step(x, log_resp.exp().double(), "diag")[1].dtype == torch.float64       # one dtype for all
    meta = e_step(X.to("meta"), WEIGHTS.to("meta"), MEANS.to("meta"), torch.zeros(2, 2, 2, device="meta"))
    assert meta[0].shape == (30, 2)                                                  # meta: shapes only


@pytest.mark.parametrize("covariance_type", ["full", "diag", "spherical"])
def test_a_collapsed_component_stops_the_fit_and_names_reg_covar(covariance_type):
    x = torch.cat([torch.zeros(5, 2), torch.randn(5, 2, generator=torch.Generator().manual_seed(4)) + 10])
    with pytest.raises(ValueError, match=r"a component collapsed onto too few points.*increase reg_covar"):
        GaussianMixture(2, covariance_type, reg_covar=0.0).fit(x)
    fitted = GaussianMixture(2, covariance_type, reg_covar=1e-3).fit(x)               # regularised: fine
    assert np.isfinite(fitted.log_likelihood_history.numpy()).all()


def test_mixture_fit_rejects_a_singular_start_and_a_non_bool_record():
    singular = (WEIGHTS, MEANS, torch.zeros(2, 2, 2))
    with pytest.raises(ValueError, match=r"init covariances must be positive definite, but component 0's"):
        GaussianMixture(2).fit(X, init=singular)
    with pytest.raises(TypeError, match=r"record must be a bool, got str"):
        GaussianMixture(2).fit(X, record="yes")

# --- probabilistic PCA ---------------------------------------------------------------------------


@pytest.mark.parametrize("call, error, message", [
    (lambda: closed_form(X3, 3), ValueError, r"q must be smaller than the data dimension 3, got 3"),
    (lambda: closed_form(X3, 0), ValueError, r"q must be ≥ 1, got 0"),
    (lambda: closed_form(X3, True), TypeError, r"q must be an int, got bool"),
    (lambda: closed_form(X3.tolist(), 1), TypeError, r"x must be a torch.Tensor or numpy array, got list"),
    (lambda: closed_form(torch.full((10, 3), float("nan")), 1), ValueError, r"x contains NaN or infinite values"),
    (lambda: closed_form(torch.ones(10, 3), 1), ValueError, r"x has too little variance for q=1 latent dimensions"),
    (lambda: PPCA.fit(torch.ones(10, 3), 1), ValueError, r"x has too little variance for q=1 .*σ² would be 0"),
    (lambda: PPCA.fit(torch.ones(10, 3), 1, method="em"), ValueError, r"x has too little variance for q=1"),
    (lambda: PPCA.fit(torch.randn(20, 1, dtype=torch.float64) @ torch.randn(1, 4, dtype=torch.float64), 2),
     ValueError, r"x has too little variance for q=2 latent dimensions: it varies in at most 2 directions"),
    (lambda: PPCA.fit(X3, 1, max_iter="many"), TypeError, r"max_iter must be an int, got str"),
    (lambda: PPCA.fit(X3, 1, generator=0), TypeError, r"generator must be a torch.Generator or None, got int"),
    (lambda: em_step(torch.eye(3), torch.randn(3, 1), -1.0), ValueError, r"sigma2 must be finite and > 0, got -1.0"),
    (lambda: em_step(torch.eye(3), torch.randn(3, 1), torch.tensor(0.0)), ValueError, r"sigma2 must be finite and > 0"),
    (lambda: em_step(torch.eye(3), torch.randn(3, 1), "1"), TypeError, r"sigma2 must be a number, got str"),
    (lambda: em_step(torch.eye(3), torch.randn(3, 1), torch.ones(2)), ValueError, r"sigma2 must be a number or a 0-dim tensor"),
    (lambda: em_step(torch.eye(3), torch.randn(3, 3), 1.0), ValueError, r"w must have fewer columns \(q\) than rows \(D\)"),
    (lambda: em_step(torch.eye(4), torch.randn(3, 1), 1.0), ValueError, r"cov must have shape \(3, 3\) to match w \(3, 1\)"),
    (lambda: em_step(torch.full((3, 3), float("nan")), torch.randn(3, 1), 1.0), ValueError, r"cov contains NaN or infinite"),
    (lambda: em_step(-torch.eye(3), torch.randn(3, 1), 1.0), ValueError, r"cov must be a covariance matrix: symmetric and positive semi-definite"),
    (lambda: em_step(torch.triu(torch.ones(3, 3)), torch.randn(3, 1), 1.0), ValueError, r"cov must be a covariance matrix"),
])
def test_ppca_functions_reject_bad_input(call, error, message):
    with pytest.raises(error, match=message):
        call()


def test_em_step_accepts_a_tensor_sigma2_and_keeps_it_a_tensor():
    cov = torch.cov(X3.T, correction=0)
    w, sigma2 = em_step(cov, torch.randn(3, 1, dtype=torch.float64), torch.tensor(0.5, dtype=torch.float64))
    assert w.shape == (3, 1) and sigma2.dim() == 0 and sigma2 > 0

# --- the VAE -------------------------------------------------------------------------------------


@pytest.mark.parametrize("call, error, message", [
    (lambda: _vae().log_likelihood(torch.full((2, 1, 8, 8), 20.0), torch.zeros(2, 64, 17)), ValueError,
     r"x must hold integer grey levels in \[0, 16\]"),
    (lambda: _vae().log_likelihood(torch.zeros(2, 1, 8, 8), torch.zeros(2, 64, 5)), ValueError,
     r"logits must have shape \(\.\.\., 2, 64, 17\) for 2 images, got \(2, 64, 5\)"),
    (lambda: _vae().log_likelihood(torch.zeros(2, 1, 8, 8), torch.full((2, 64, 17), float("nan"))), ValueError,
     r"logits contains NaN or infinite values"),
    (lambda: _vae().decode(torch.zeros(2, 4)), ValueError, r"z must have last dimension 3, got shape \(2, 4\)"),
    (lambda: _vae().decode([[0.0, 0.0, 0.0]]), TypeError, r"z must be a torch.Tensor or numpy array, got list"),
    (lambda: _vae().decode(torch.full((2, 3), float("inf"))), ValueError, r"z contains NaN or infinite values"),
    (lambda: _vae().decode_mean(torch.zeros(4, 2, 3)), ValueError, r"z must have shape \(N, 3\), got \(4, 2, 3\)"),
    (lambda: _vae().iwae_bound(torch.zeros(2, 1, 8, 8), 2, eps=torch.zeros(2, 3, 3)), ValueError,
     r"eps must have shape \(2, 2, 3\) \(k, B, latent_dim\), got \(2, 3, 3\)"),
    (lambda: _vae().log_prob(torch.zeros(2, 1, 8, 8), k=True), TypeError, r"k must be an int, got bool"),
    (lambda: _vae().elbo(torch.zeros(2, 1, 8, 8), generator="abc"), TypeError, r"generator must be a torch.Generator or None, got str"),
    (lambda: VAE(hidden=2, posterior_flows=1), ValueError, r"hidden must be ≥ 4 with posterior_flows .*got 2"),
    (lambda: VAE(likelihood=None), ValueError, r"likelihood must be one of \('categorical', 'gaussian'\), got None"),
    (lambda: _gaussian_vae().log_likelihood(torch.full((2, 1, 8, 8), 17.0), torch.zeros(2, 64, 2)), ValueError,
     r"x must hold dequantized grey levels in \[0, 17\)"),
    (lambda: _gaussian_vae().log_likelihood(torch.full((2, 1, 8, 8), -0.5), torch.zeros(2, 64, 2)), ValueError,
     r"x must hold dequantized grey levels in \[0, 17\)"),
    (lambda: _gaussian_vae().log_likelihood(torch.zeros(2, 1, 8, 8), torch.zeros(2, 64, 17)), ValueError,
     r"logits must have shape \(\.\.\., 2, 64, 2\) for 2 images, got \(2, 64, 17\)"),
    (lambda: _gaussian_vae().gaussian_parameters(torch.zeros(2, 64)), ValueError,
     r"logits must have shape \(\.\.\., 64, 2\), got \(2, 64\)"),
    (lambda: _gaussian_vae().gaussian_parameters(torch.full((2, 64, 2), float("nan"))), ValueError,
     r"logits contains NaN or infinite values"),
    (lambda: _vae().gaussian_parameters(torch.zeros(2, 64, 2)), ValueError,
     r"gaussian_parameters needs likelihood='gaussian', this VAE's is 'categorical'"),
    (lambda: _gaussian_vae().log_prob(torch.full((2, 1, 8, 8), 0.5)), ValueError,
     r"x must hold integer grey levels in \[0, 16\]"),
])
def test_vae_rejects_bad_input(call, error, message):
    with pytest.raises(error, match=message):
        call()

# --- autoregressive models, the logistic mixture and masks ---------------------------------------


@pytest.mark.parametrize("call, error, message", [
    (lambda: discretized_logistic_mixture(torch.zeros(2, 4, 3, 3), 5), ValueError,
     r"params must have 3K channels, K ≥ 1 \(logits, means, log-scales of K logistics\), got shape \(2, 4, 3, 3\)"),
    (lambda: discretized_logistic_mixture(torch.zeros(2, 0, 3, 3), 5), ValueError, r"params must not be empty"),
    (lambda: discretized_logistic_mixture(torch.zeros(2, 6, 3), 5), ValueError, r"params must have 4 dimensions"),
    (lambda: discretized_logistic_mixture(torch.full((2, 6, 3, 3), float("nan")), 5), ValueError, r"params contains NaN"),
    (lambda: discretized_logistic_mixture(torch.zeros(2, 6, 3, 3), 1), ValueError, r"levels must be ≥ 2, got 1"),
    (lambda: discretized_logistic_mixture(torch.zeros(2, 6, 3, 3), True), TypeError, r"levels must be an int, got bool"),
    (lambda: made_masks(torch.tensor([0, 0, 1]), [4]), ValueError, r"order must be a permutation of 0\.\.2 \(the rank of each input\)"),
    (lambda: made_masks(torch.tensor([1, 2, 3]), [4]), ValueError, r"order must be a permutation of 0\.\.2"),
    (lambda: made_masks(torch.tensor([0.0, 2.0, 1.0]), [4]), TypeError, r"order must hold integers, one per unit, got dtype torch.float32"),
    (lambda: made_masks(torch.tensor([], dtype=torch.long), [4]), ValueError, r"order must not be empty"),
    (lambda: made_masks(torch.tensor([0, 2, 1]), 4), TypeError, r"hidden must be a list or tuple of ints, got int"),
    (lambda: made_masks(torch.tensor([0, 2, 1]), [4], generator="abc"), TypeError, r"generator must be a torch.Generator or None, got str"),
    (lambda: masks_from_degrees(torch.tensor([1.0, 2.0]), [torch.tensor([1])], torch.tensor([1, 2])), TypeError,
     r"input_degrees must hold integers"),
    (lambda: MaskedLinear(3, 2).set_mask(torch.full((2, 3), 2.0)), ValueError, r"mask must hold only 0s and 1s"),
    (lambda: MaskedLinear(3, 2).set_mask(torch.ones(3, 2)), ValueError, r"mask must have shape \(2, 3\), got \(3, 2\)"),
    (lambda: MaskedLinear(3, 2).set_mask([[1, 1, 1], [1, 1, 1]]), TypeError, r"mask must be a torch.Tensor or numpy array, got list"),
    (lambda: MaskedLinear(True, 2), TypeError, r"in_features must be an int, got bool"),
    (lambda: MaskedConv2d(1, 4, 3.0, "A"), TypeError, r"kernel_size must be an int, got float"),
    (lambda: CausalConv1d(1, 4, 2, dilation=0), ValueError, r"dilation must be ≥ 1, got 0"),
    (lambda: CausalConv1d(1, 4, 2, exclude_current=1), TypeError, r"exclude_current must be a bool, got int"),
])
def test_logistic_mixture_and_masks_reject_bad_input(call, error, message):
    with pytest.raises(error, match=message):
        call()


@pytest.mark.parametrize("call, error, message", [
    (lambda: FVSBN((1, 0, 8)), ValueError, r"image_shape must be three positive ints \(C, H, W\), got \(1, 0, 8\)"),
    (lambda: FVSBN((1, 8.5, 8)), ValueError, r"image_shape must be three positive ints \(C, H, W\), got \(1, 8\.5, 8\)"),
    (lambda: NADE((1, 4, True)), ValueError, r"image_shape must be three positive ints"),
    (lambda: VAE((1, -8, -8)), ValueError, r"image_shape must be three positive ints"),
    (lambda: GatedPixelCNN(kernel=4), ValueError, r"kernel must be odd, got 4"),
    (lambda: GatedPixelCNN(kernel=3.0), TypeError, r"kernel must be an int, got float"),
    (lambda: GatedPixelCNN(mixtures=0), ValueError, r"mixtures must be ≥ 1, got 0"),   # checked for either output
    (lambda: PixelCNN(kernel=4), ValueError, r"kernel must be odd, got 4"),
    (lambda: PixelCNN(first_kernel=6), ValueError, r"first_kernel must be odd, got 6"),
    (lambda: MADE(hidden=8), TypeError, r"hidden must be a list or tuple of ints, got int"),
    (lambda: MADE(hidden=(8, 0)), ValueError, r"hidden must be ≥ 1, got 0"),
    (lambda: MADE(seed=2**64), ValueError, r"seed must be < 2\*\*63"),
    (lambda: CausalConvSequence(dilations=3), TypeError, r"dilations must be a list or tuple of ints, got int"),
    (lambda: CausalConvSequence(dilations=(1, 2.0)), TypeError, r"dilations must be an int, got float"),
    (lambda: GRUSequence(hidden=0), ValueError, r"hidden must be ≥ 1"),
    (lambda: GRUSequence(layers=0), ValueError, r"layers must be ≥ 1"),
    (lambda: GRUSequence((2, 4, 4)), ValueError, r"image_shape must be \(1, H, W\): one channel"),
    (lambda: GRUSequence((1, 2, 2), 3).log_prob(torch.zeros(1, 1, 2, 2), context=torch.zeros(1)), ValueError,
     r"context: GRUSequence is unconditional"),
    (lambda: GRUSequence((1, 2, 2), 3, classes=2).sample(2), ValueError, r"context: GRUSequence is class-conditional"),
    (lambda: GRUSequence(embedding=2.5), TypeError, r"embedding must be an int, got float"),
    (lambda: GRUSequence(classes=0), ValueError, r"classes must be ≥ 1, got 0"),
    (lambda: GRUSequence((1, 2, 2), 3, classes=2).log_prob(torch.zeros(1, 1, 2, 2), context=torch.tensor([2])),
     ValueError, r"context"),
    (lambda: MADE((1, 3, 3), 3, hidden=(8,)).sample(1, generator="abc"), TypeError,
     r"generator must be a torch.Generator or None, got str"),
    (lambda: FVSBN((1, 3, 3), 3).loss(torch.zeros(1, 1, 3, 3), generator="abc"), TypeError,
     r"generator must be a torch.Generator or None, got str"),
])
def test_autoregressive_constructors_and_samplers_reject_bad_input(call, error, message):
    with pytest.raises(error, match=message):
        call()


def test_gated_pixelcnn_with_an_odd_kernel_still_scores_images():
    model = GatedPixelCNN((1, 4, 4), 3, channels=4, layers=2, kernel=5)
    assert model.log_prob(torch.zeros(2, 1, 4, 4)).shape == (2,)
    assert FVSBN(tuple(np.array([1, 3, 3])), 3).image_shape == (1, 3, 3)       # numpy ints are ints


# --- distributions: the functions chapter 04's exercises lean on ------------------------------------------

@pytest.mark.parametrize("call, error, words", [
    (lambda: distributions.standard_normal_kl(torch.zeros(4, 2), torch.zeros(4, 3)), ValueError,
     r"log_var must have the shape of mean \(4, 2\), got \(4, 3\)"),
    (lambda: distributions.reparameterize(torch.zeros(4, 2), torch.zeros(2)), ValueError, "log_var must have the shape of mean"),
    (lambda: distributions.reparameterize(torch.zeros(4, 2), torch.zeros(4, 2), generator="abc"), TypeError,
     "generator must be a torch.Generator or None"),
    (lambda: distributions.reparameterize(torch.zeros(4, 2), torch.zeros(4, 2), eps=torch.zeros(4, 3)), ValueError,
     "eps must have last dimension 2"),
    (lambda: distributions.log_mean_exp(torch.zeros(3, 2), dim=2), ValueError, r"dim must be an int in \[-2, 1\]"),
    (lambda: distributions.log_mean_exp(torch.zeros(0, 2)), ValueError, "values must have at least one entry along dim 0"),
    (lambda: distributions.log_mean_exp(torch.zeros(())), ValueError, "values must have at least 1 dimensions"),
    (lambda: distributions.importance_weighted_bound(lambda z: z.sum(-1, keepdim=True), torch.zeros(4, 2),
                                                     torch.zeros(4, 2), k=3), ValueError,
     r"log_joint must map z of shape \(3, 4, 2\) to log p\(x, z\) of shape \(3, 4\), got \(3, 4, 1\)"),
])
def test_distributions_name_the_bad_argument(call, error, words):
    with pytest.raises(error, match=words):
        call()
