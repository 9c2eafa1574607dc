"""Every invertible transform of chapter 05: inverse ∘ forward = identity with log-dets summing to zero, the
log-det equal to slogdet of the autograd Jacobian, MAF/IAF autoregressive by gradients, bad inputs."""

from __future__ import annotations

import inspect

import pytest
import torch

from course_lib.nn import transforms as T
from strict_devices import SingleDeviceMode

torch.set_default_dtype(torch.float32)


def _vector_coupling(cls, parity):
    return lambda: cls(T.alternating_mask(5, parity), T.mlp(5, 10 if cls is T.AffineCoupling else 5, hidden=16))


def _sharpen(transform, factor=0.5):
    """Non-trivial parameters (coupling networks start as the identity)."""
    torch.manual_seed(0)
    with torch.no_grad():
        for parameter in transform.parameters():
            parameter.add_(factor * torch.randn_like(parameter))
    return transform


def _image_coupling(mask, out_channels):
    return lambda: T.AffineCoupling(mask, T.conv_net(mask.shape[0], out_channels, hidden=8))


CASES = {  # name → (factory, example shape)
    "Planar": (lambda: T.Planar(5, generator=torch.Generator().manual_seed(0)), (5,)),
    "Scaling": (lambda: T.Scaling((5,)), (5,)),
    "AdditiveCoupling": (_vector_coupling(T.AdditiveCoupling, 0), (5,)),
    "AffineCoupling (vector)": (_vector_coupling(T.AffineCoupling, 1), (5,)),
    "AffineCoupling (checkerboard)": (_image_coupling(T.checkerboard_mask(4, 4).expand(2, 4, 4).clone(), 4), (2, 4, 4)),
    "AffineCoupling (channels)": (_image_coupling(T.channel_mask(2, 4, 4), 4), (2, 4, 4)),
    "Permutation": (lambda: T.Permutation.random(5, torch.Generator().manual_seed(0)), (5,)),
    "ActNorm (vector)": (lambda: T.ActNorm((5,)), (5,)),
    "ActNorm (image)": (lambda: T.ActNorm((2, 4, 4)), (2, 4, 4)),
    "Invertible1x1Conv": (lambda: T.Invertible1x1Conv(3, 2, 2, generator=torch.Generator().manual_seed(0)), (3, 2, 2)),
    "MaskedAutoregressive (MAF)": (lambda: T.MaskedAutoregressive(5, hidden=(32, 32)), (5,)),
    "Inverse (IAF)": (lambda: T.Inverse(T.MaskedAutoregressive(5, hidden=(32, 32))), (5,)),
    "Logit": (lambda: T.Logit((5,), levels=17), (5,)),
    "Squeeze": (lambda: T.Squeeze((1, 4, 4)), (1, 4, 4)),
    "OnChannels": (lambda: T.OnChannels((4, 2, 2), 2, T.AffineCoupling(T.checkerboard_mask(2, 2).expand(2, 2, 2).clone(),
                                                                      T.conv_net(2, 4, hidden=8))), (4, 2, 2)),
    "Composite": (lambda: T.Composite([T.Squeeze((1, 4, 4)), T.ActNorm((4, 2, 2)), T.Invertible1x1Conv(4, 2, 2),
                                      T.AffineCoupling(T.channel_mask(4, 2, 2), T.conv_net(4, 8, hidden=8))]),
                  (1, 4, 4)),
}
NAMES = list(CASES)


def _make(name):
    factory, shape = CASES[name]
    transform = _sharpen(factory()).train()
    torch.manual_seed(1)
    x = torch.randn(6, *shape, dtype=torch.float32)
    if name == "Logit":
        x = torch.rand(6, *shape) * 17                      # dequantized levels in [0, 17)
    transform(x)                                            # ActNorm initialises on its first batch
    return transform.eval(), x


def test_every_transform_class_is_tested():
    concrete = {cls for _, cls in inspect.getmembers(T, inspect.isclass)
                if issubclass(cls, T.Transform) and cls not in (T.Transform, T._Coupling)}
    covered = {type(CASES[name][0]()) for name in NAMES}
    assert not {c.__name__ for c in concrete - covered}, "transform classes missing from CASES"


@pytest.mark.parametrize("name", NAMES)
def test_inverse_undoes_forward_and_the_log_dets_cancel(name):
    transform, x = _make(name)
    with torch.no_grad():
        y, forward_logdet = transform(x)
        back, inverse_logdet = transform.inverse(y)
    assert y.shape == (len(x), *transform.output_shape) and forward_logdet.shape == (len(x),)
    assert torch.allclose(back, x, atol=1e-4, rtol=1e-4)
    assert torch.allclose(forward_logdet + inverse_logdet, torch.zeros(len(x)), atol=1e-4)


def _jacobian_logdet(transform, x):
    flat = x.reshape(len(x), -1)
    return torch.stack([torch.linalg.slogdet(torch.autograd.functional.jacobian(
        lambda v: transform(v.reshape(1, *x.shape[1:]))[0].reshape(-1), row))[1] for row in flat.double().float()])


@pytest.mark.parametrize("name", NAMES)
def test_log_det_equals_slogdet_of_the_autograd_jacobian(name):
    transform, x = _make(name)
    assert torch.allclose(transform(x)[1].detach(), _jacobian_logdet(transform, x), atol=2e-3, rtol=1e-4)


def test_invertible_1x1_convolution_log_det_is_h_w_times_log_det_of_its_weight():
    conv, x = _make("Invertible1x1Conv")
    expected = 2 * 2 * torch.linalg.slogdet(conv.weight())[1]
    assert torch.allclose(conv(x)[1], expected.expand(len(x)), rtol=1e-5)


@pytest.mark.parametrize("name", ["MaskedAutoregressive (MAF)", "Inverse (IAF)"])
def test_masked_autoregressive_transforms_are_autoregressive(name):
    """MAF: z_d depends on x_≤d only (triangular Jacobian, one pass); IAF's sampling direction likewise."""
    transform, x = _make(name)
    maf = transform if name.startswith("Masked") else transform.transform
    jacobian = torch.autograd.functional.jacobian(lambda v: maf(v[None])[0][0], x[0])
    assert torch.equal(jacobian.triu(1) != 0, torch.zeros(5, 5, dtype=torch.bool))   # nothing from later x
    assert (jacobian.tril(-1) != 0).any()                                             # but earlier x matter


def test_maf_density_is_one_pass_and_sampling_is_d_passes():
    maf, x = _make("MaskedAutoregressive (MAF)")
    calls = []
    maf.layers[0].register_forward_hook(lambda *args: calls.append(1))
    maf(x)
    density_passes = len(calls)
    maf.inverse(x)
    assert (density_passes, len(calls) - density_passes) == (1, 5)   # the log-det comes with the D passes


def test_maf_conditioner_is_the_made_output_and_checks_its_input():
    maf, x = _make("MaskedAutoregressive (MAF)")
    shift, log_scale = maf.conditioner(x)
    z, logabsdet = maf(x)
    assert torch.allclose(z, (x - shift) * torch.exp(-log_scale)) and torch.allclose(logabsdet, -log_scale.sum(1))
    with pytest.raises(ValueError, match=r"x must have shape \(B, 5\)"):
        maf.conditioner(torch.zeros(2, 4))


def test_planar_layer_keeps_wu_at_least_minus_one():
    layer = T.Planar(3)
    with torch.no_grad():
        layer.u.copy_(torch.tensor([-5.0, 0.0, 0.0]))
        layer.w.copy_(torch.tensor([1.0, 0.0, 0.0]))
    assert (layer.w @ layer.u).item() == -5.0 and (layer.w @ layer.u_hat()).item() >= -1


@pytest.mark.parametrize("call, error, message", [
    (lambda: T.Planar.from_parameters([-2.0, 0.0], [1.0, 0.0], 0.0), ValueError,
     "planar layer not invertible: wᵀu = -2 < -1"),
    (lambda: T.Planar(2)(torch.zeros(3, 3)), ValueError, r"x must have shape \(B, 2\), got \(3, 3\)"),
    (lambda: T.Planar(2)([[0.0, 1.0]]), TypeError, "x must be a torch.Tensor, got list"),
    (lambda: T.Scaling(3).inverse(torch.zeros(2, 4)), ValueError, r"y must have shape \(B, 3\)"),
    (lambda: T.Squeeze((1, 3, 4)), ValueError, r"shape must have even height and width to squeeze"),
    (lambda: T.Composite([T.Squeeze((1, 4, 4)), T.ActNorm((1, 4, 4))]), ValueError,
     r"transforms do not chain: Squeeze outputs \(4, 2, 2\), ActNorm expects \(1, 4, 4\)"),
    (lambda: T.Composite([]), TypeError, "transforms must be a non-empty sequence of Transform"),
    (lambda: T.Logit(3, levels=17, alpha=0.5), ValueError, "alpha must be < 0.5"),
    (lambda: T.Permutation(3, torch.tensor([0, 0, 1])), ValueError, r"permutation must be a permutation of 0..2"),
    (lambda: T.AffineCoupling(T.alternating_mask(4), "net"), TypeError, "net must be a torch.nn.Module, got str"),
    (lambda: T.MaskedAutoregressive(3, context_features=2)(torch.zeros(4, 3), torch.zeros(3, 2)), ValueError,
     r"context must have one row per example \(4\)"),
])
def test_transforms_reject_bad_input(call, error, message):
    with pytest.raises(error, match=message):
        call()


@pytest.mark.parametrize("name", NAMES)
def test_transforms_stay_on_the_device(name):
    transform, x = _make(name)
    transform = transform.to("meta")
    with SingleDeviceMode():
        y, logdet = transform(x.to("meta"))
        back, _ = transform.inverse(y)
    assert {y.device.type, logdet.device.type, back.device.type} == {"meta"}
