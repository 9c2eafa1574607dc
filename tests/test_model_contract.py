"""The contract every model of course_lib keeps, checked for every model class (models/base.py).

Each model is built small, on a space where its answers can be checked exactly: tiny 2×2 images with
three grey levels (81 images in all, two levels for the Bernoulli VAE: 16) or the plane. A test below
fails when a model class of ``course_lib.models`` is missing from ``CASES``: a new model joins the suite
by adding one line here.

The device test needs no GPU: every model moves to PyTorch's shape-only ``meta`` device and runs under
``strict_devices.SingleDeviceMode``, which rejects what CUDA rejects (meta alone lets several mixes
through; see that module). Two things cannot run on meta, and are guarded otherwise: reading values
(``item()``, ``bool(tensor)``: data checks skip meta inputs, and ``fit`` and EM, which read losses and
likelihoods, run on data: their device handling is covered by calling their steps, e.g. one E- and
M-step, on meta), and ``torch.unique``, which has no meta kernel and is only used when a histogram is
built from data (on the data's device).
"""

from __future__ import annotations

import importlib
import inspect
import itertools
import pkgutil
from dataclasses import dataclass
from typing import Callable

import pytest
import torch
from scipy import stats

import course_lib.models
from course_lib import data
from course_lib.data import Dataset
from course_lib.distributions import standard_normal_log_prob
from course_lib.evaluation import mean_nll
from course_lib.models import (DDPM, FVSBN, GAN, GLO, MADE, NADE, PPCA, VAE, BiGAN, CausalConvSequence, ConvEncoder,
                               DCDiscriminator, DCGenerator, FactorizedCategorical, Flow, FlowMatching,
                               JointDiscriminator, ScoreModel,
                               MLPDiscriminator, MLPGenerator, SegmentGenerator,
                               GatedPixelCNN, GRUSequence, Gaussian, GaussianKDE, GaussianMixture, HistogramDensity, ImageFlow,
                               PixelCNN, RBM, Sampler, VariationalDequantizer, mixtures, realnvp_image_body)
from course_lib.nn import MLPDenoiser
from course_lib.nn import transforms as T
from course_lib.train import fit
from strict_devices import DeviceMismatch, SingleDeviceMode

SHAPE = (1, 2, 2)


def every_image(levels: int) -> torch.Tensor:
    """All levels⁴ images of shape (1, 2, 2), in base-``levels`` order."""
    return torch.tensor(list(itertools.product(range(levels), repeat=4)), dtype=torch.float32).reshape(-1, *SHAPE)


def _network(model_class, levels=3, **kwargs):
    """A small network with sharpened weights, so that its distribution is far from uniform."""
    def make(seed):
        torch.manual_seed(seed)
        model = model_class(SHAPE, levels, **kwargs)
        with torch.no_grad():
            for parameter in model.parameters():
                parameter.mul_(3.0)
        return model.eval()   # as fit leaves it; tests that need train mode set it themselves
    return make


def vae_marginal_by_quadrature(model: VAE, images: torch.Tensor) -> torch.Tensor:
    """Exact log p(x) = log ∫ p(x | z) N(z; 0, I) dz of a VAE with a 2-D latent, by a 281 × 281 grid on [-7, 7]²."""
    side = torch.linspace(-7, 7, 281)
    z = torch.cartesian_prod(side, side)
    with torch.no_grad():
        logits = model.decode(z)[:, None]                                             # (Z, 1, pixels[, L])
        log_lik = torch.stack([model.log_likelihood(image[None], logits)[:, 0] for image in images], 1)  # (Z, N)
    return torch.logsumexp(log_lik + standard_normal_log_prob(z)[:, None], 0) + 2 * torch.log(side[1] - side[0])


def _flow(layers, wrap=None):
    def make(seed):
        torch.manual_seed(seed)
        transform = T.Composite(layers())
        with torch.no_grad():
            transform.train()(_plane_points(seed, 64))          # ActNorm initialises on its first batch
            for parameter in transform.parameters():
                parameter.add_(0.3 * torch.randn_like(parameter))
        return Flow(wrap(transform) if wrap else transform).eval()
    return make


def _image_flow(dequantizer):
    def make(seed):
        torch.manual_seed(seed)
        model = ImageFlow(realnvp_image_body(SHAPE, hidden=8, couplings=2, scales=1), SHAPE, 3,
                          dequantizer=VariationalDequantizer(SHAPE, 3, hidden=4) if dequantizer else None)
        with torch.no_grad():
            model.train().loss(every_image(3))                  # ActNorm initialises on its first batch
            for parameter in model.parameters():
                parameter.add_(0.3 * torch.randn_like(parameter))
        return model.eval()
    return make


def _em_steps(mixture, x):
    """One E-step and one M-step where the mixture lives (fit itself needs values: it runs on data)."""
    x = x.double().to(mixture.device)
    log_resp, mean_ll = mixtures.e_step(x, mixture.weights, mixture.means, mixture.covariances, mixture.covariance_type)
    return [mixture.responsibilities(x), mean_ll, *mixtures.m_step(x, log_resp.exp(), mixture.covariance_type)]


def _rbm(persistent=0):
    """A small RBM with spread-out weights, so that its distribution is far from uniform."""
    def make(seed):
        torch.manual_seed(seed)
        model = RBM(SHAPE, 2, hidden=3, persistent=persistent)
        with torch.no_grad():
            for parameter in model.parameters():
                parameter.normal_(0, 1.5)
        return model.eval()
    return make


def _denoiser(shape, classes=None):
    """A tiny MLP denoiser whose output layer (zero at initialisation) is random, so that it predicts something."""
    net = MLPDenoiser(shape, hidden=8, blocks=1, context_classes=classes, embedding=8)
    with torch.no_grad():
        net.output.weight.normal_(0, 0.5)
        net.output.bias.normal_(0, 0.1)
    return net


def _ddpm(classes=None):
    def make(seed):
        torch.manual_seed(seed)
        return DDPM(_denoiser(SHAPE, classes), SHAPE, levels=3, steps=4).eval()
    return make


def _flow_matching(shape, levels, classes=None):
    def make(seed):
        torch.manual_seed(seed)
        return FlowMatching(_denoiser(shape, classes), shape, levels=levels).eval()
    return make


def _with_real_posterior_flow(make):
    """The IAF steps start as the identity (zero last layers, which sharpening keeps at zero): perturb them."""
    def perturbed(seed):
        model = make(seed)
        with torch.no_grad():
            for parameter in model.posterior_flow.parameters():
                parameter.add_(0.2 * torch.randn_like(parameter))
        return model
    return perturbed


def _plane_points(seed, n=300):
    return data.three_clusters(n, torch.Generator().manual_seed(seed)) / 2


@dataclass
class Case:
    """How to build one model and what to expect of it."""
    make: Callable[[int], Sampler]              # a ready model; another seed gives other parameters
    space: str                                  # "images" (tiny, enumerable) or "plane" (continuous 2D)
    levels: int = 3
    classes: int | None = None                  # class-conditional models: the number of labels
    exact: bool = True                          # False: log_prob is an estimate (IWAE, dequantization bound)
    quadrature: bool = True                     # an estimate's exact value is computable here (False: see test_flows)
    blank: Callable[[], Sampler] | None = None  # an unfitted or differently sized model to load a state into
    extras: Callable | None = None              # (model, x) → tensors from the model's other public methods
    optional_context: bool = False              # a class-conditional model that also works without labels

    def inputs(self, n: int = 6) -> torch.Tensor:
        if self.space == "plane":
            return _plane_points(7, n)
        return every_image(self.levels)[torch.linspace(0, self.levels ** 4 - 1, n).long()]

    def context(self, n: int, label: int = 1):
        return None if self.classes is None else torch.full((n,), label)

    def exact_log_prob(self, model, x) -> torch.Tensor:
        """The model's exact log-likelihood: its log_prob, or where that is an estimate, quadrature."""
        if isinstance(model, VAE):
            return vae_marginal_by_quadrature(model, x)
        if isinstance(model, FlowMatching):    # the exact trace: exp of a Hutchinson estimate is biased
            return model.log_prob(x, context=self.context(len(x)), divergence="exact")
        return model.log_prob(x, context=self.context(len(x)))


CASES = {
    "Gaussian": Case(lambda s: Gaussian(torch.tensor([0.5, -0.5]) * (s + 1),
                                        torch.tensor([[1.0, 0.6], [0.6, 0.8]]) / (s + 1)), "plane"),
    "GaussianMixture (full)": Case(lambda s: GaussianMixture(3, "full").fit(_plane_points(s), generator=torch.Generator().manual_seed(s)),
                                   "plane",
                                   blank=lambda: GaussianMixture(3, "full"),
                                   extras=lambda m, x: _em_steps(m, x)),
    "GaussianMixture (diag)": Case(lambda s: GaussianMixture(2, "diag").fit(_plane_points(s), generator=torch.Generator().manual_seed(s)),
                                   "plane",
                                   blank=lambda: GaussianMixture(2, "diag"),
                                   extras=lambda m, x: _em_steps(m, x)),
    "GaussianKDE": Case(lambda s: GaussianKDE(_plane_points(s, 40), 0.4), "plane",
                        blank=lambda: GaussianKDE(_plane_points(9, 25), 0.4),
                        extras=lambda m, x: [m.log_prob(x, chunk=2)]),
    "HistogramDensity": Case(lambda s: HistogramDensity(_plane_points(s).clamp(-2.99, 2.99), bins=6, low=-3, high=3,
                                                        pseudocount=0.5), "plane",
                             blank=lambda: HistogramDensity(_plane_points(9, 20).clamp(-2.99, 2.99), bins=6, low=-3,
                                                            high=3, pseudocount=0.5),
                             extras=lambda m, x: [m.count(x)]),
    "PPCA": Case(lambda s: PPCA(torch.tensor([[1.0], [0.5 + s]]), torch.tensor([0.2, -0.3]), 0.3), "plane",
                 blank=lambda: PPCA.fit(_plane_points(3), 1, method="em", max_iter=5),
                 extras=lambda m, x: [*m.posterior(x), m.naive_monte_carlo_log_prob(x, torch.randn(5, 1))]),
    "FactorizedCategorical": Case(lambda s: FactorizedCategorical.fit(
        torch.randint(0, 3, (30, *SHAPE), generator=torch.Generator().manual_seed(s)).float(), 3), "images"),
    "FVSBN": Case(_network(FVSBN), "images"),
    "NADE": Case(_network(NADE, hidden=8), "images"),
    "MADE": Case(_network(MADE, hidden=(16, 16)), "images"),
    "MADE (3 orders)": Case(_network(MADE, hidden=(16, 16), n_masks=3), "images"),
    "PixelCNN": Case(_network(PixelCNN, channels=4, layers=2, first_kernel=3), "images"),
    "PixelCNN (logistic mixture)": Case(_network(PixelCNN, channels=4, layers=2, first_kernel=3, output="logistic",
                                                 mixtures=2), "images"),
    "GatedPixelCNN": Case(_network(GatedPixelCNN, channels=4, layers=2), "images",
                          extras=lambda m, x: [m.log_probs(x), m.sample(
                              len(x), observed=x, known=torch.tensor([[[True, True], [False, False]]]))]),
    "GatedPixelCNN (class-conditional)": Case(_network(GatedPixelCNN, channels=4, layers=2, classes=3), "images",
                                              classes=3),
    "CausalConvSequence": Case(_network(CausalConvSequence, channels=4, dilations=(1, 2)), "images"),
    "GRUSequence": Case(_network(GRUSequence, hidden=4, embedding=3), "images",
                        extras=lambda m, x: [m.log_probs(x), m.sample(
                            len(x), observed=x, known=torch.tensor([[[True, False], [False, True]]]))]),
    "GRUSequence (class-conditional)": Case(_network(GRUSequence, hidden=4, embedding=3, classes=3), "images",
                                            classes=3),
    "Flow (RealNVP couplings, plane)": Case(_flow(lambda: [T.ActNorm((2,)), T.AffineCoupling(T.alternating_mask(2, 0),
                                                                                             T.mlp(2, 4, hidden=8)),
                                                           T.AffineCoupling(T.alternating_mask(2, 1), T.mlp(2, 4, hidden=8))]),
                                            "plane", extras=lambda m, x: list(m.sample_with_log_prob(3))),
    "Flow (planar, sampling direction)": Case(_flow(lambda: [T.Planar(2) for _ in range(3)], wrap=T.Inverse), "plane"),
    "Flow (MAF, plane)": Case(_flow(lambda: [T.MaskedAutoregressive(2, hidden=(8,)), T.Permutation.reverse(2),
                                             T.MaskedAutoregressive(2, hidden=(8,))]), "plane"),
    # Their exact discrete probabilities need a 2-D logit-space quadrature: tests/test_flows.py, on 1×1×2 images.
    "ImageFlow (uniform dequantization)": Case(_image_flow(False), "images", exact=False, quadrature=False),
    "ImageFlow (variational dequantization)": Case(_image_flow(True), "images", exact=False, quadrature=False),
    # A variational bound with one noise draw per step: no exact value to compare with (see tests/test_diffusion.py).
    "DDPM (MLP denoiser, 4 steps)": Case(_ddpm(), "images", exact=False, quadrature=False,
                                         extras=lambda m, x: [m.bound_terms(x), m.diffuse(x - 1, 2)[0],
                                                              m.sample(2, method="ddim", steps=2),
                                                              *m.reverse_process(2, record=2)[1]]),
    # Without labels it is the unconditional model learned by label dropout (classifier-free guidance).
    "DDPM (class-conditional, guided)": Case(_ddpm(3), "images", classes=3, exact=False, quadrature=False,
                                             optional_context=True,
                                             extras=lambda m, x: [m.sample(2, context=torch.tensor([0, 2]), guidance=2.0),
                                                                  m.sample(2, method="ddim", guidance=1.0,
                                                                           context=torch.tensor([1, 1]))]),
    # The ODE's likelihood, with a Hutchinson divergence estimate: its exact value is checked in tests/test_diffusion.py.
    "FlowMatching (MLP, 3 levels)": Case(_flow_matching(SHAPE, 3), "images", exact=False, quadrature=False,
                                         extras=lambda m, x: [m.log_prob(x, divergence="exact", steps=2),
                                                              *m.trajectory(2, steps=2, method="midpoint")]),
    "FlowMatching (class-conditional, plane)": Case(_flow_matching((2,), None, 3), "plane", classes=3, exact=False,
                                                    quadrature=False, optional_context=True),
    "VAE (MLP, categorical)": Case(_network(VAE, latent_dim=2, hidden=16, dropout=0.1), "images", exact=False,
                                   extras=lambda m, x: [*m.encode(x), m.decode_mean(torch.zeros(2, 2)),
                                                        m.iwae_bound(x, 3), m.elbo(x)]),
    # Its exact discrete probabilities integrate the truncated Gaussians over each level: tests/test_vae.py.
    "VAE (MLP, Gaussian decoder)": Case(_network(VAE, latent_dim=2, hidden=16, dropout=0.1, likelihood="gaussian"),
                                        "images", exact=False, quadrature=False,
                                        extras=lambda m, x: [m.decode_mean(torch.zeros(2, 2)), m.iwae_bound(x, 3),
                                                             *m.gaussian_parameters(m.decode(torch.zeros(2, 2)))]),
    "VAE (MLP, IAF posterior)": Case(_with_real_posterior_flow(_network(VAE, latent_dim=2, hidden=16, dropout=0.1,
                                                                        posterior_flows=2)), "images", exact=False),
    "RBM (CD)": Case(_rbm(), "images", levels=2),
    "RBM (PCD)": Case(_rbm(persistent=4), "images", levels=2),
    "VAE (conv, Bernoulli)": Case(_network(VAE, levels=2, latent_dim=2, hidden=16, architecture="conv",
                                           dropout=0.1), "images", levels=2, exact=False),
}
NAMES = list(CASES)
WITH_PARAMETERS = [n for n in NAMES if any(True for _ in CASES[n].make(0).parameters())]
DEVICES = ["meta"] + (["cuda"] if torch.cuda.is_available() else [])


def _log_prob(model, x, context=None, generator_seed=0):
    """log_prob, with a fixed generator for models whose log_prob is a Monte Carlo estimate."""
    if "generator" in inspect.signature(model.log_prob).parameters:
        return model.log_prob(x, context=context, generator=torch.Generator().manual_seed(generator_seed))
    return model.log_prob(x, context=context)


# --- the suite covers every model ---------------------------------------------------------------------


def test_every_model_class_of_course_lib_is_in_the_contract_suite():
    concrete = set()
    for info in pkgutil.walk_packages(course_lib.models.__path__, "course_lib.models."):
        module = importlib.import_module(info.name)
        concrete |= {cls for _, cls in inspect.getmembers(module, inspect.isclass)
                     if issubclass(cls, Sampler) and cls.__module__ == module.__name__ and not inspect.isabstract(cls)}
    covered = {type(case.make(0)) for case in CASES.values()} | {type(make(0)) for make, *_ in SAMPLERS.values()}
    missing = sorted(cls.__name__ for cls in concrete - covered)
    assert not missing, f"model classes missing from CASES in tests/test_model_contract.py: {missing}"

# --- samplers without a density (GANs): the part of the contract that applies to them -------------------

def _gan_loss(model, examples, context):
    real = model.prepare(model.check_input(examples))
    labels = model.check_context(context, len(examples))
    return model._discriminator_loss(real, labels, None) + model._generator_loss(real, labels, None)


def _trainable_loss(model, examples, context):
    """A TrainableSampler's training loss, as train.fit computes it (checked once, then the unchecked _loss)."""
    return model._loss(model.check_input(examples), model.check_context(context, len(examples)), None)


def _glo_loss(model, examples, context):
    return model.loss(torch.arange(len(examples)), examples)


def _gan(conditional):
    def make(seed):
        torch.manual_seed(seed)
        if conditional:
            return GAN(MLPGenerator(2, 2, 16, 2, context_classes=3), MLPDiscriminator(2, 16, 2, spectral=True,
                       context_classes=3), loss="hinge", context_classes=3)
        return GAN(DCGenerator(4, 8, 4), DCDiscriminator(8, 4, spectral=True), levels=3, gradient_penalty=1.0)
    return make, (lambda n: torch.arange(n) % 3) if conditional else (lambda n: None), _gan_loss


def _bigan(seed):
    torch.manual_seed(seed)
    return BiGAN(DCGenerator(4, 8, 4), ConvEncoder(4, 8, 4), JointDiscriminator(4, 8, 4, hidden=8), levels=3)


def _segment_wgan(seed):
    torch.manual_seed(seed)
    return GAN(SegmentGenerator(theta=torch.rand(()).item()), MLPDiscriminator(2, 8, 2), loss="wasserstein", clip=0.01)


def _score_model(objective):
    def make(seed):
        torch.manual_seed(seed)
        return ScoreModel(_denoiser((2,)), (2,), sigmas=(1.0, 0.5, 0.2), objective=objective, steps_per_level=3,
                          step_size=1e-3).eval()
    return make


def _glo(seed):
    torch.manual_seed(seed)
    model = GLO(DCGenerator(4, 8, 4), examples=6, latent_dim=4, image_shape=(1, 8, 8), levels=3)
    with torch.no_grad():
        for parameter in model.generator.parameters():   # sharpened, so that its images are not all grey
            parameter.mul_(3.0)
    model.fit_code_distribution()
    return model.eval()


# Each: (make(seed) → model, context(n) → labels or None, loss(model, CPU examples, CPU labels) → training loss)
SAMPLERS = {"GAN (DCGAN, 3 levels, gradient penalty)": _gan(False), "GAN (conditional MLP, hinge)": _gan(True),
            "BiGAN (DCGAN, 3 levels)": (_bigan, lambda n: None, _gan_loss),
            "WGAN (segment generator, clipping)": (_segment_wgan, lambda n: None, _gan_loss),
            "ScoreModel (denoising)": (_score_model("denoising"), lambda n: None, _trainable_loss),
            "ScoreModel (sliced)": (_score_model("sliced"), lambda n: None, _trainable_loss),
            "GLO (DCGAN generator, 3 levels)": (_glo, lambda n: None, _glo_loss)}


@pytest.mark.parametrize("name", SAMPLERS)
def test_sampler_state_round_trip_randomness_and_mode(name):
    make, context, _ = SAMPLERS[name]
    model, other = make(0), make(1)
    generator = lambda seed=5: torch.Generator().manual_seed(seed)  # noqa: E731
    assert not torch.equal(model.sample(9, generator(), context=context(9)), other.sample(9, generator(), context=context(9)))
    other.load_state_dict(model.state_dict())
    model.eval(), other.eval()
    assert torch.equal(model.sample(9, generator(), context=context(9)), other.sample(9, generator(), context=context(9)))
    torch.manual_seed(1)
    first = model.sample(9, generator(), context=context(9))
    torch.manual_seed(2)                                           # the global generator must not matter
    assert torch.equal(model.sample(9, generator(), context=context(9)), first)
    assert not torch.equal(model.sample(9, generator(6), context=context(9)), first)
    model.train()
    seen = _spy(model, "_sample")
    assert not model.sample(3, context=context(3)).requires_grad and seen == [(False, False)]
    assert model.training and all(m.training for m in model.modules())


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("name", SAMPLERS)
def test_sampler_stays_on_its_device(name, device):
    make, context, loss_of = SAMPLERS[name]
    examples = make(0).sample(4, context=context(4)).cpu()         # data, on the CPU
    model = make(0).to(device).train()
    guard = SingleDeviceMode()
    with guard:
        outputs = [model.sample(3, context=context(3)), model.sample(3, torch.Generator().manual_seed(0), context=context(3))]
        loss = loss_of(model, examples, context(4))
        loss.backward()
        outputs.append(loss)
    assert guard.operations > 0
    assert all(out.device.type == device for out in outputs), [out.device for out in outputs]


# --- log_prob -----------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", NAMES)
def test_log_prob_is_one_finite_number_per_example(name):
    case = CASES[name]
    model, x = case.make(0), case.inputs()
    log_p = _log_prob(model, x, case.context(len(x)))
    assert log_p.shape == (len(x),) and log_p.dtype.is_floating_point
    assert torch.isfinite(log_p).all()
    if case.space == "images":  # probabilities of discrete images: log P ≤ 0
        assert (log_p <= 1e-6).all()


@pytest.mark.parametrize("name", [n for n in NAMES if CASES[n].space == "images" and CASES[n].quadrature])
def test_discrete_model_is_normalised_over_every_image(name):
    case = CASES[name]
    model, images = case.make(0), every_image(case.levels)
    total = case.exact_log_prob(model, images).double().exp().sum().item()
    assert total == pytest.approx(1.0, abs=2e-5)


@pytest.mark.parametrize("name", [n for n in NAMES if not CASES[n].exact and CASES[n].quadrature])
def test_estimated_log_prob_approaches_the_exact_marginal_as_k_grows(name):
    case = CASES[name]
    model, images = case.make(0), every_image(case.levels)
    exact = case.exact_log_prob(model, images)
    gaps = {k: torch.stack([(exact - model.log_prob(images, k=k, generator=torch.Generator().manual_seed(s))).mean()
                            for s in range(3)]).mean().item() for k in (10, 10_000)}
    assert gaps[10] > gaps[10_000] and abs(gaps[10_000]) < 0.2, gaps


@pytest.mark.parametrize("name", [n for n in NAMES if CASES[n].space == "plane"])
def test_continuous_model_integrates_to_one_over_the_plane(name):
    model = CASES[name].make(0)
    side = torch.linspace(-5.995, 5.995, 1200, dtype=torch.float64)   # cell centres, cells of 0.01
    grid = torch.cartesian_prod(side, side)
    mass = CASES[name].exact_log_prob(model, grid.to(torch.get_default_dtype())).double().exp().sum().item() * 0.01 ** 2
    assert mass == pytest.approx(1.0, abs=2e-3)

# --- samples follow log_prob (χ² goodness of fit) -------------------------------------------------------


def _chi_square_p_value(counts: torch.Tensor, probs: torch.Tensor) -> float:
    """p-value of observed counts against cell probabilities (cells expecting < 5 are pooled)."""
    expected = probs.double() * counts.sum()
    keep = expected >= 5
    statistic = (((counts[keep] - expected[keep]) ** 2) / expected[keep]).sum()
    rest = expected[~keep].sum()
    if rest > 0:
        statistic += (counts[~keep].sum() - rest) ** 2 / rest
    return float(stats.chi2.sf(statistic.item(), int(keep.sum()) - (0 if rest > 0 else 1)))


def _image_index(images: torch.Tensor, levels: int) -> torch.Tensor:
    return (images.reshape(len(images), -1).long() * levels ** torch.arange(3, -1, -1)).sum(1)


@pytest.mark.parametrize("name", [n for n in NAMES if CASES[n].quadrature])
def test_samples_follow_the_models_own_log_prob(name):
    case, n = CASES[name], 20000
    model = case.make(0)
    samples = model.sample(n, generator=torch.Generator().manual_seed(1), context=case.context(n)).cpu()
    if case.space == "images":
        images = every_image(case.levels)
        probs = case.exact_log_prob(model, images).double().exp()
        counts = torch.bincount(_image_index(samples, case.levels), minlength=len(images)).double()
        assert set(samples.unique().tolist()) <= set(range(case.levels))
    else:  # 1 × 1 cells on [-5, 5)², the probability of each from a fine midpoint rule, plus "outside"
        fine = torch.linspace(-4.9875, 4.9875, 400, dtype=torch.float64)
        density = model.log_prob(torch.cartesian_prod(fine, fine).to(torch.get_default_dtype())).double().exp()
        cells = density.reshape(10, 40, 10, 40).sum((1, 3)).flatten() * 0.025 ** 2
        probs = torch.cat([cells, (1 - cells.sum()).clamp(min=0)[None]])
        inside = ((samples >= -5) & (samples < 5)).all(1)
        cell = (torch.floor(samples[inside].double() + 5).long() * torch.tensor([10, 1])).sum(1)
        counts = torch.cat([torch.bincount(cell, minlength=100).double(), (~inside).sum().double()[None]])
    assert _chi_square_p_value(counts, probs) > 1e-3, f"{name}: its samples do not follow its log_prob"


@pytest.mark.parametrize("name", ["GatedPixelCNN", "MADE", "FVSBN"])
def test_completions_follow_the_conditional_distribution(name):
    """Sampling with the top row given draws the bottom row from p(bottom | top) = p(x) / p(top).

    (Exact for the raster order, where the top row comes first; the MADE ensemble's random orders are not.)"""
    case, n = CASES[name], 12000
    model, images = case.make(0), every_image(3)
    top = torch.tensor([2.0, 0.0])
    matching = (images[:, 0, 0] == top).all(1)                         # the 9 images with this top row
    probs = model.log_prob(images[matching]).double().exp()
    known = torch.tensor([[[True, True], [False, False]]])
    observed = torch.zeros(n, *SHAPE)
    observed[:, 0, 0] = top
    completed = model.sample(n, observed=observed, known=known, generator=torch.Generator().manual_seed(3)).cpu()
    assert torch.equal(completed[:, 0, 0], observed[:, 0, 0])          # the given pixels are kept
    bottom = (completed[:, 0, 1].long() * torch.tensor([3, 1])).sum(1)
    counts = torch.bincount(bottom, minlength=9).double()
    assert _chi_square_p_value(counts, probs / probs.sum()) > 1e-3

# --- state ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", NAMES)
def test_state_dict_round_trip_gives_the_same_model(name):
    case = CASES[name]
    model, x = case.make(0), case.inputs()
    if isinstance(model, MADE):
        for _ in range(2):                # move the ensemble to another mask: the mask in use is state too
            model.loss(every_image(3))
    other = case.blank() if case.blank else case.make(1)
    if case.blank is None:  # another seed: another model, until it loads the state
        assert not torch.equal(_log_prob(model, x, case.context(len(x))), _log_prob(other, x, case.context(len(x))))
    other.load_state_dict(model.state_dict())
    assert torch.equal(_log_prob(other, x, case.context(len(x))), _log_prob(model, x, case.context(len(x))))
    generator = lambda: torch.Generator().manual_seed(5)  # noqa: E731
    assert torch.equal(other.sample(7, generator(), context=case.context(7)),
                       model.sample(7, generator(), context=case.context(7)))


@pytest.mark.parametrize("name", ["MADE (3 orders)"])
def test_resumed_mask_ensemble_follows_the_same_mask_sequence(name):
    model, images = CASES[name].make(0), every_image(3)
    model.loss(images)
    resumed = CASES[name].make(1)
    resumed.load_state_dict(model.state_dict())
    for _ in range(4):   # each loss call moves to the next mask: the same sequence, the same losses
        assert torch.equal(resumed.loss(images), model.loss(images))
        assert torch.equal(resumed.order, model.order)

# --- devices --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("name", NAMES)
def test_every_method_stays_on_the_models_device(name, device):
    """Moved to ``meta`` (shapes only; no GPU needed) or ``cuda``, a model draws, scores and trains there."""
    case = CASES[name]
    model, x = case.make(0).to(device), case.inputs(4)
    assert model.device.type == device
    guard = SingleDeviceMode()
    with guard:
        outputs = [model.sample(3, context=case.context(3)),
                   model.sample(3, torch.Generator().manual_seed(0), context=case.context(3)),
                   model.log_prob(x, context=case.context(4)),                # data given on the CPU
                   model.log_prob(x.to(device), context=case.context(4))]     # or already on the device
        if hasattr(model, "loss") and any(True for _ in model.parameters()):
            loss = model.loss(x, context=case.context(4))
            loss.backward()                                                   # the training graph too
            outputs.append(loss)
        if case.extras:
            outputs += case.extras(model, x)
    assert guard.operations > 0
    assert all(out.device.type == device for out in outputs), [out.device for out in outputs]


def test_the_device_guard_catches_what_meta_alone_lets_through():
    matrix = torch.zeros(3, 3, device="meta")
    assert (torch.zeros(3, 3) @ matrix).device.type == "cpu"               # meta alone: no error, wrong device
    with pytest.raises(DeviceMismatch, match="mixes devices"), SingleDeviceMode():
        torch.zeros(3, 3) @ matrix
    with pytest.raises(DeviceMismatch, match="generator on cpu"), SingleDeviceMode():
        torch.randn(3, generator=torch.Generator(), device="meta")
    with pytest.raises(DeviceMismatch, match="mixes devices"), SingleDeviceMode():
        matrix.index_select(0, torch.tensor(0))                             # a CPU index, even a 0-dim one
    with SingleDeviceMode():                                                # explicit transfers are fine
        torch.zeros(3).to("meta") * matrix[0] * torch.tensor(2.0)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a GPU: the meta test guards devices without one")
@pytest.mark.parametrize("name", WITH_PARAMETERS)
def test_fit_trains_on_the_gpu(name):
    case = CASES[name]
    model, images = case.make(0), every_image(case.levels).repeat(4, 1, 1, 1)
    train = Dataset(images, torch.full((len(images),), 1)) if case.classes else images
    with SingleDeviceMode():
        fit(model, train, train, epochs=2, batch_size=64, labels_as_context=case.classes is not None,
            device=torch.device("cuda"), progress=False)
    assert model.device.type == "cuda"

# --- modes, gradients, randomness ------------------------------------------------------------------------


def _spy(model, method):
    """Record (training?, gradients enabled?) each time ``model.<method>`` runs."""
    seen, original = [], getattr(model, method)

    def spy(*args, **kwargs):
        seen.append((model.training, torch.is_grad_enabled()))
        return original(*args, **kwargs)
    setattr(model, method, spy)
    return seen


@pytest.mark.parametrize("name", NAMES)
def test_sample_runs_in_eval_mode_without_gradients_and_restores_the_mode(name):
    case = CASES[name]
    model = case.make(0).train()
    seen = _spy(model, "_sample")
    samples = model.sample(5, context=case.context(5))
    assert seen == [(False, False)]
    assert model.training and all(m.training for m in model.modules())
    assert not samples.requires_grad
    model.eval()
    model.sample(5, context=case.context(5))
    assert not model.training


@pytest.mark.parametrize("name", NAMES)
def test_mean_nll_evaluates_in_eval_mode(name):
    case = CASES[name]
    model, x = case.make(0).train(), case.inputs()
    seen = _spy(model, "_log_prob")
    nll = mean_nll(model, x, context=case.context(len(x)))
    assert seen and all(s == (False, False) for s in seen)
    assert model.training                                   # the mode it found is restored
    if case.exact:
        assert nll == pytest.approx(-model.log_prob(x, context=case.context(len(x))).double().mean().item(), rel=1e-5)


@pytest.mark.parametrize("name", WITH_PARAMETERS)
def test_fit_returns_the_model_in_eval_mode(name, tmp_path):
    case = CASES[name]
    images = every_image(case.levels).repeat(2, 1, 1, 1) if case.space == "images" else _plane_points(0, 162)
    train = Dataset(images, torch.full((len(images),), 1)) if case.classes else images
    options = {"batch_size": 64, "labels_as_context": case.classes is not None, "progress": False}
    for val, checkpoint in ((None, None), (train, None), (train, tmp_path / "run.pt"), (train, tmp_path / "run.pt")):
        model = case.make(0).train()
        fit(model, train, val, epochs=2, checkpoint=checkpoint, **options)  # the last: resumes a finished run
        assert not model.training and not any(m.training for m in model.modules())


@pytest.mark.parametrize("name", NAMES)
def test_randomness_comes_from_the_generator_only(name):
    case = CASES[name]
    model, x = case.make(0), case.inputs()
    draws = []
    for global_seed in (1, 2):
        torch.manual_seed(global_seed)                      # the global generator must not matter
        draws.append(model.sample(20, torch.Generator().manual_seed(0), context=case.context(20)))
    assert torch.equal(draws[0], draws[1])
    other = model.sample(20, torch.Generator().manual_seed(1), context=case.context(20))
    assert not torch.equal(other, draws[0])
    if not case.exact:                                       # a Monte Carlo log_prob follows the same rule
        torch.manual_seed(1)
        first = _log_prob(model, x)
        torch.manual_seed(2)
        assert torch.equal(_log_prob(model, x), first)

# --- bad input at the protocol's boundary ----------------------------------------------------------------


@pytest.mark.parametrize("name", NAMES)
def test_protocol_rejects_bad_input_with_messages_that_name_it(name):
    case = CASES[name]
    model, x = case.make(0), case.inputs()
    context = case.context(len(x))
    wrong_shape = x[:, :1] if case.space == "plane" else x[..., :1]
    for call, error, message in [
        (lambda: model.sample(0, context=case.context(1)), ValueError, "n must be ≥ 1, got 0"),
        (lambda: model.sample(2.0), TypeError, "n must be an int, got float"),
        (lambda: model.sample(2, generator=7, context=case.context(2)), TypeError,
         "generator must be a torch.Generator or None, got int"),
        (lambda: model.log_prob(wrong_shape, context=context), ValueError, "x must have"),
        (lambda: model.log_prob(torch.full_like(x, float("nan")), context=context), ValueError,
         "x contains NaN or infinite values"),
        (lambda: model.log_prob(x.tolist(), context=context), TypeError,
         "x must be a torch.Tensor or numpy array, got list"),
    ]:
        with pytest.raises(error, match=message):
            call()
    if case.space == "images":
        with pytest.raises(ValueError, match=rf"x must hold integer grey levels in \[0, {case.levels - 1}\]"):
            model.log_prob(x + 0.5, context=context)
    if case.classes is None:
        with pytest.raises(ValueError, match="is unconditional; pass no context"):
            model.log_prob(x, context=torch.zeros(len(x), dtype=torch.long))
    else:
        if case.optional_context:   # no labels: the "no label" token, what label dropout trained
            unlabelled = model._log_prob(x, torch.full((len(x),), 3), torch.Generator().manual_seed(0))
            assert torch.equal(_log_prob(model, x), unlabelled)
        else:
            with pytest.raises(ValueError, match=r"class-conditional \(3 classes\): pass context=labels of shape \(6,\)"):
                model.log_prob(x)
        with pytest.raises(ValueError, match=r"context must hold class labels in \[0, 2\]"):
            model.log_prob(x, context=torch.full((len(x),), 3))
        with pytest.raises(TypeError, match="context must hold integer class labels"):
            model.sample(2, context=torch.zeros(2))


def test_an_unfitted_mixture_says_so():
    for call in (lambda m: m.sample(2), lambda m: m.log_prob(torch.zeros(2, 2)), lambda m: mean_nll(m, torch.zeros(2, 2))):
        with pytest.raises(RuntimeError, match=r"the mixture is not fitted yet: call fit\(x\) first"):
            call(GaussianMixture(2))


def test_mean_nll_needs_a_course_model_and_batches_exactly():
    with pytest.raises(TypeError, match="model must be a course_lib DensityModel, got Linear"):
        mean_nll(torch.nn.Linear(2, 2), torch.zeros(3, 2))
    model, x = CASES["Gaussian"].make(0), _plane_points(0)
    expected = -model.log_prob(x).double().mean().item()
    assert mean_nll(model, x, batch_size=7) == pytest.approx(expected, rel=1e-12)   # 300 = 42 batches of 7 + 6


def test_mean_nll_of_an_estimate_is_reproducible_with_its_generator():
    model, x = CASES["VAE (MLP, categorical)"].make(0), every_image(3)[:20]
    runs = []
    for global_seed in (1, 2):
        torch.manual_seed(global_seed)
        runs.append(mean_nll(model, x, generator=torch.Generator().manual_seed(0)))
    assert runs[0] == runs[1]
    assert runs[0] == pytest.approx(-model.log_prob(x, generator=torch.Generator().manual_seed(0)).mean().item(),
                                    rel=1e-6)
