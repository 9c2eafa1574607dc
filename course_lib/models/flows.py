"""Normalizing flows as density models (chapter 05): a transform f to a standard-normal base,
p(x) = N(f(x); 0, I) · |det ∂f/∂x| (change of variables), sampled by x = f⁻¹(z), z ~ N(0, I).

``Flow`` models continuous vectors or images (2D toys; the posterior of a VAE, through ``context``);
``ImageFlow`` models images of integer grey levels through dequantization: the continuous density p of
v = x + u bounds the discrete probability, log P(x) ≥ E_{q(u|x)}[log p(x + u) − log q(u | x)], with q
uniform (Theis et al., 2016) or learned (variational dequantization; Ho et al., 2019). Its ``log_prob`` is
that bound, estimated with k draws of u (importance-weighted, so it tightens with k like the IWAE).
"""

from __future__ import annotations

import torch
from torch import nn

from .. import randomness
from ..distributions import LOG_2PI, log_mean_exp, standard_normal_log_prob
from ..nn.transforms import (ActNorm, AffineCoupling, Composite, Inverse, Invertible1x1Conv, Logit, OnChannels,
                             Squeeze, Transform, channel_mask, checkerboard_mask, conv_net)
from ..validation import as_float_tensor, generator_or_none, positive_float, positive_int
from .base import DensityModel, ImageModel, evaluation_mode


def _base_log_prob(z: torch.Tensor) -> torch.Tensor:
    return standard_normal_log_prob(z.reshape(len(z), -1))


class _TemperatureSampling:
    """Sampling shared by the flows: x = f⁻¹(z), z ~ N(0, T² I), through ``self.transform``."""

    def sample(self, n: int, generator: torch.Generator | None = None, *, context=None,
               temperature: float = 1.0) -> torch.Tensor:
        """n samples x = f⁻¹(z), z ~ N(0, T² I): ``temperature`` T < 1 trades diversity for typical samples."""
        n = positive_int(n, "n")
        generator_or_none(generator)
        temperature = positive_float(temperature, "temperature")
        context = self.check_context(context, n)
        with evaluation_mode(self):
            return self._sample(n, generator, context, temperature)

    def _inverse_of_base_sample(self, n, generator, context, temperature):
        z = temperature * randomness.normal((n, *self.transform.output_shape), generator=generator, device=self.device)
        return self.transform._inverse(z, context)[0]


class Flow(_TemperatureSampling, DensityModel):
    """p(x) = N(f(x); 0, I) |det ∂f/∂x| for a ``Transform`` f (data → noise) of examples of shape f.shape.

    ``context_features``: the size of the conditioning vector of a conditional flow, ``context`` (B, F),
    passed on to the transforms (e.g. an IAF posterior conditioned on an encoder's features).
    """

    def __init__(self, transform: Transform, context_features: int | None = None):
        super().__init__()
        if not isinstance(transform, Transform):
            raise TypeError(f"transform must be a course_lib.nn.transforms.Transform, got {type(transform).__name__}")
        self.transform = transform
        self.context_features = None if context_features is None else positive_int(context_features, "context_features")

    def check_input(self, x, name: str = "x") -> torch.Tensor:
        x = as_float_tensor(x, name)
        if tuple(x.shape[1:]) != self.transform.shape:
            raise ValueError(f"{name} must have shape (B, {', '.join(map(str, self.transform.shape))}), "
                             f"got {tuple(x.shape)}")
        return x.to(self.device)

    def check_context(self, context, n: int, name: str = "context"):
        if self.context_features is None:
            return super().check_context(context, n, name)
        if context is None:
            raise ValueError(f"{name}: this flow is conditional: pass context of shape ({n}, {self.context_features})")
        context = as_float_tensor(context, name, ndim=2)
        if tuple(context.shape) != (n, self.context_features):
            raise ValueError(f"{name} must have shape ({n}, {self.context_features}), got {tuple(context.shape)}")
        return context.to(self.device)

    def _log_prob(self, x, context):
        z, logabsdet = self.transform._forward(x, context)
        return _base_log_prob(z) + logabsdet

    def _sample(self, n, generator, context, temperature: float = 1.0):
        return self._inverse_of_base_sample(n, generator, context, temperature)

    def sample_with_log_prob(self, n: int, generator: torch.Generator | None = None, *,
                             context=None) -> tuple[torch.Tensor, torch.Tensor]:
        """n samples and their log-density, differentiable (not under no_grad): what fitting a flow by
        reverse KL, E_q[log q(x) − log p̃(x)], needs (Rezende & Mohamed, 2015). x (n, *shape), log q (n,)."""
        n = positive_int(n, "n")
        generator_or_none(generator)
        context = self.check_context(context, n)
        z = randomness.normal((n, *self.transform.output_shape), generator=generator, device=self.device)
        x, logabsdet = self.transform._inverse(z, context)     # log |det ∂f⁻¹/∂z|
        return x, _base_log_prob(z) - logabsdet


class VariationalDequantizer(nn.Module):
    """q(u | x) for u ∈ (0, 1)^D: a logit-normal u = sigmoid(μ(x) + σ(x) ε), ε ~ N(0, I), with μ, σ from a small
    CNN of the image: the simplest learned dequantizer (a one-layer conditional flow followed by a sigmoid).
    log q(u | x) = Σ [log N(ε) − log σ − log s(a) − log(1 − s(a))], a = μ + σ ε, s the sigmoid."""

    def __init__(self, image_shape, levels: int, hidden: int = 16):
        super().__init__()
        self.levels = positive_int(levels, "levels")
        self.net = conv_net(image_shape[0], 2 * image_shape[0], hidden=positive_int(hidden, "hidden"))

    def forward(self, x: torch.Tensor, generator=None) -> tuple[torch.Tensor, torch.Tensor]:
        """u (B, C, H, W) and log q(u | x) (B,) for images x of integer levels."""
        mean, log_sigma = self.net(x / (self.levels - 1) * 2 - 1).chunk(2, dim=1)
        eps = randomness.normal(x.shape, generator=generator, device=x.device, dtype=x.dtype)
        a = mean + log_sigma.exp() * eps
        # log N(a; μ, σ²) − log |du/da|, with du/da = s(a)(1 − s(a)) and log(1 − s(a)) = log s(−a)
        log_q = (-0.5 * eps ** 2 - 0.5 * LOG_2PI - log_sigma
                 - torch.nn.functional.logsigmoid(a) - torch.nn.functional.logsigmoid(-a))
        return torch.sigmoid(a), log_q.reshape(len(x), -1).sum(1)


class ImageFlow(_TemperatureSampling, ImageModel):
    """A flow on images of integer levels 0..L-1, trained and evaluated on the dequantization bound.

    v = x + u (u ~ q(u | x): uniform or ``VariationalDequantizer``) is mapped to logit space (``Logit``, its
    log-det included) and then by ``body`` (a Transform on image_shape) to the standard-normal base.
    ``log_prob(x, k=…)`` estimates log P(x) ≥ E_q[log p(x + u) − log q(u | x)] with k draws of u
    (log-mean-exp: the k-sample bound); ``loss`` is its one-sample negative; ``sample`` returns ⌊v⌋.
    """

    discrete = True
    log_prob_is_estimate = True

    def __init__(self, body: Transform, image_shape=(1, 8, 8), levels: int = 17, alpha: float = 1e-6,
                 dequantizer: VariationalDequantizer | None = None):
        super().__init__(image_shape, levels)
        if not isinstance(body, Transform) or body.shape != self.image_shape:
            raise ValueError(f"body must be a Transform of shape {self.image_shape}")
        if dequantizer is not None and not isinstance(dequantizer, VariationalDequantizer):
            raise TypeError(f"dequantizer must be a VariationalDequantizer or None, got {type(dequantizer).__name__}")
        self.transform = Composite([Logit(self.image_shape, levels, alpha), body])
        self.dequantizer = dequantizer

    def _dequantize(self, x, generator):
        if self.dequantizer is None:
            return x + randomness.uniform(x.shape, generator=generator, device=x.device, dtype=x.dtype), \
                torch.zeros(len(x), device=x.device, dtype=x.dtype)
        u, log_q = self.dequantizer(x, generator)
        return x + u, log_q

    def continuous_log_prob(self, v) -> torch.Tensor:
        """log p(v) of dequantized images v ∈ [0, L)^D (B,), nats."""
        v = as_float_tensor(v, "v").to(self.device)
        if tuple(v.shape[1:]) != self.image_shape:
            raise ValueError(f"v must have shape (B, {', '.join(map(str, self.image_shape))}), got {tuple(v.shape)}")
        return self._continuous_log_prob(v)

    def _continuous_log_prob(self, v):
        z, logabsdet = self.transform._forward(v, None)
        return _base_log_prob(z) + logabsdet

    def _bound(self, x, generator):
        v, log_q = self._dequantize(x, generator)
        return self._continuous_log_prob(v) - log_q

    def log_prob(self, x, *, context=None, k: int = 1, generator: torch.Generator | None = None) -> torch.Tensor:
        """The k-sample dequantization bound on log P(x) for each image (B,), nats (tightens with k)."""
        x = self.check_input(x)
        self.check_context(context, len(x))
        k = positive_int(k, "k")
        generator_or_none(generator)
        return self._log_prob(x, None, generator, k)

    def _log_prob(self, x, context, generator=None, k: int = 1):
        return log_mean_exp(torch.stack([self._bound(x, generator) for _ in range(k)]), dim=0)

    def _loss(self, x, context, generator):
        return -self._bound(x, generator).mean()

    def _sample(self, n, generator, context, temperature: float = 1.0):
        """Images of integer levels: ⌊v⌋ for the dequantized v = f⁻¹(z)."""
        v = self._inverse_of_base_sample(n, generator, context, temperature)
        return torch.floor(v).clamp(0, self.levels - 1)


def realnvp_image_body(image_shape=(1, 8, 8), hidden: int = 32, couplings: int = 4, scales: int = 3) -> Composite:
    """A multi-scale RealNVP/Glow body on images (C, H, W) (Dinh et al., 2017; Kingma & Dhariwal, 2018).

    Scale 1: ``couplings`` × [actnorm, affine coupling with a checkerboard mask]. Each further scale:
    squeeze (C, H, W) → (4C, H/2, W/2), ``couplings`` × [actnorm, invertible 1×1 convolution, coupling with a
    channel mask]; the next scale works on half of those channels only, the other half going straight to the
    base (factored out), and the scale ends by un-squeezing, so the output has the input's shape.
    """
    shape = tuple(positive_int(s, "image_shape") for s in image_shape)
    couplings, scales, hidden = (positive_int(v, name) for v, name in ((couplings, "couplings"), (scales, "scales"),
                                                                      (hidden, "hidden")))
    c, h, w = shape
    layers: list[Transform] = []
    for i in range(couplings):
        mask = checkerboard_mask(h, w, i % 2).expand(c, h, w).clone()
        layers += [ActNorm(shape), AffineCoupling(mask, conv_net(c, 2 * c, hidden))]
    if scales > 1 and h % 2 == 0 and w % 2 == 0:
        layers.append(_squeezed_scale(shape, hidden, couplings, scales - 1))
    return Composite(layers)


def _squeezed_scale(shape, hidden, couplings, scales) -> Composite:
    c, h, w = shape
    squeezed = (4 * c, h // 2, w // 2)
    layers: list[Transform] = [Squeeze(shape)]
    for i in range(couplings):
        layers += [ActNorm(squeezed), Invertible1x1Conv(*squeezed),
                   AffineCoupling(channel_mask(*squeezed, i % 2), conv_net(4 * c, 8 * c, hidden))]
    if scales > 1 and squeezed[1] % 2 == 0 and squeezed[2] % 2 == 0:
        half = (2 * c, *squeezed[1:])
        layers.append(OnChannels(squeezed, 2 * c, _squeezed_scale(half, hidden, couplings, scales - 1)))
    layers.append(Inverse(Squeeze(shape)))
    return Composite(layers)
