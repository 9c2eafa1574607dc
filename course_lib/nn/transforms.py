"""Invertible transforms, the layers of normalizing flows (chapter 05).

Every transform maps a batch x of shape (B, *shape) to y of the same shape and returns ``(y, logabsdet)``
with ``logabsdet`` = log |det ∂y/∂x| per example, shape (B,), in nats; ``inverse(y)`` returns ``(x,
logabsdet)`` with the log-determinant of the inverse map (the negative of the forward one). Composites
sum the log-determinants (nflows' convention). A transform conditioned on a ``context`` (e.g. an encoder's
features, for a flow used as a VAE posterior) takes it as an argument, never as state.

Public ``forward``/``inverse`` check types and shapes (no values: they run inside training loops) and
call the unchecked ``_forward``/``_inverse`` that subclasses implement and composites chain.

Layers: ``Planar`` (Rezende & Mohamed, 2015), ``AdditiveCoupling`` + ``Scaling`` (NICE; Dinh et al., 2014),
``AffineCoupling`` with vector, checkerboard and channel masks (RealNVP; Dinh et al., 2017), permutations,
``ActNorm`` and ``Invertible1x1Conv`` (Glow; Kingma & Dhariwal, 2018), ``MaskedAutoregressive`` (MAF;
Papamakarios et al., 2017) whose ``Inverse`` is IAF (Kingma et al., 2016), ``Logit`` pre-processing and
``Squeeze`` for multi-scale architectures.
"""

from __future__ import annotations

import math
from typing import Callable, Sequence

import torch
import torch.nn.functional as F
from torch import nn

from .. import randomness
from ..validation import check_tensor, positive_float, positive_int
from .masked import MaskedLinear, made_masks


class Transform(nn.Module):
    """An invertible map of examples of shape ``shape``. Subclasses implement ``_forward`` and ``_inverse``."""

    def __init__(self, shape: Sequence[int]):
        super().__init__()
        if isinstance(shape, int):
            shape = (shape,)
        self.shape = tuple(positive_int(s, "shape") for s in shape)
        self.output_shape = self.shape   # what forward returns (a squeeze changes it)

    def _check(self, x, name: str, context):
        check_tensor(x, name)
        expected = self.shape if name == "x" else self.output_shape
        if tuple(x.shape[1:]) != expected:
            raise ValueError(f"{name} must have shape (B, {', '.join(map(str, expected))}), got {tuple(x.shape)}")
        if context is not None:
            check_tensor(context, "context", ndim=2)
            if len(context) != len(x):
                raise ValueError(f"context must have one row per example ({len(x)}), got shape {tuple(context.shape)}")

    def forward(self, x, context=None) -> tuple[torch.Tensor, torch.Tensor]:
        """y = f(x) and log |det ∂f/∂x| per example: (B, *shape) → ((B, *shape), (B,))."""
        self._check(x, "x", context)
        return self._forward(x, context)

    def inverse(self, y, context=None) -> tuple[torch.Tensor, torch.Tensor]:
        """x = f⁻¹(y) and log |det ∂f⁻¹/∂y| per example."""
        self._check(y, "y", context)
        return self._inverse(y, context)

    def _forward(self, x, context):  # pragma: no cover - abstract
        raise NotImplementedError

    def _inverse(self, y, context):  # pragma: no cover - abstract
        raise NotImplementedError


def _sum_per_example(values: torch.Tensor) -> torch.Tensor:
    return values.reshape(len(values), -1).sum(1)


class Composite(Transform):
    """f = f_K ∘ … ∘ f_1: the log-determinants add up; the inverse runs the layers backwards."""

    def __init__(self, transforms: Sequence[Transform]):
        transforms = list(transforms)
        if not transforms or not all(isinstance(t, Transform) for t in transforms):
            raise TypeError("transforms must be a non-empty sequence of Transform")
        super().__init__(transforms[0].shape)
        for first, second in zip(transforms[:-1], transforms[1:]):
            if first.output_shape != second.shape:
                raise ValueError(f"transforms do not chain: {type(first).__name__} outputs {first.output_shape}, "
                                 f"{type(second).__name__} expects {second.shape}")
        self.output_shape = transforms[-1].output_shape
        self.transforms = nn.ModuleList(transforms)

    def _forward(self, x, context):
        total = torch.zeros(len(x), device=x.device, dtype=x.dtype)
        for transform in self.transforms:
            x, logabsdet = transform._forward(x, context)
            total = total + logabsdet
        return x, total

    def _inverse(self, y, context):
        total = torch.zeros(len(y), device=y.device, dtype=y.dtype)
        for transform in reversed(self.transforms):
            y, logabsdet = transform._inverse(y, context)
            total = total + logabsdet
        return y, total

    def intermediates(self, x, context=None) -> list[torch.Tensor]:
        """x and its image after each layer: K + 1 tensors (the layer-by-layer picture of a flow)."""
        self._check(x, "x", context)
        steps = [x]
        for transform in self.transforms:
            steps.append(transform._forward(steps[-1], context)[0])
        return steps


class Inverse(Transform):
    """The inverse of a transform: its ``forward`` is the other's ``inverse``. IAF = Inverse(MAF)."""

    def __init__(self, transform: Transform):
        if not isinstance(transform, Transform):
            raise TypeError(f"transform must be a Transform, got {type(transform).__name__}")
        super().__init__(transform.output_shape)
        self.output_shape = transform.shape
        self.transform = transform

    def _forward(self, x, context):
        return self.transform._inverse(x, context)

    def _inverse(self, y, context):
        return self.transform._forward(y, context)


class Scaling(Transform):
    """y = x ⊙ exp(s), one learned log-scale per number: NICE's final diagonal scaling; log-det Σ s."""

    def __init__(self, shape):
        super().__init__(shape)
        self.log_scale = nn.Parameter(torch.zeros(self.shape))

    def _forward(self, x, context):
        return x * self.log_scale.exp(), self.log_scale.sum().expand(len(x))

    def _inverse(self, y, context):
        return y * (-self.log_scale).exp(), -self.log_scale.sum().expand(len(y))


class Planar(Transform):
    """y = x + u h(wᵀx + b) with h = tanh (Rezende & Mohamed, 2015), on vectors (B, D).

    log |det ∂y/∂x| = log |1 + uᵀψ(x)| with ψ = h'(wᵀx + b) w. It is invertible when wᵀu ≥ −1; the learned u
    is mapped to û = u + (m(wᵀu) − wᵀu) w / ‖w‖² with m(a) = −1 + softplus(a), which guarantees it.
    The inverse has no closed form, but only the scalar a = wᵀx is unknown: wᵀy = a + wᵀû h(a + b) is
    monotone in a and is solved by bisection; then x = y − û h(a + b).
    """

    constrained = True   # False only for a layer built by from_parameters (u used as given)

    def __init__(self, features: int, generator: torch.Generator | None = None):
        super().__init__((positive_int(features, "features"),))
        self.u = nn.Parameter(0.1 * randomness.normal((features,), generator=generator))
        self.w = nn.Parameter(0.1 * randomness.normal((features,), generator=generator))
        self.b = nn.Parameter(torch.zeros(()))

    @classmethod
    def from_parameters(cls, u, w, b) -> "Planar":
        """A planar layer with exactly these parameters (no constraint applied): wᵀu must be ≥ −1."""
        u, w = (torch.as_tensor(v, dtype=torch.get_default_dtype()) for v in (u, w))
        for name, v in (("u", u), ("w", w)):
            check_tensor(v, name, ndim=1)
        if u.shape != w.shape:
            raise ValueError(f"u and w must have the same shape, got {tuple(u.shape)} and {tuple(w.shape)}")
        if float(w @ u) < -1:
            raise ValueError(f"planar layer not invertible: wᵀu = {float(w @ u):.3g} < -1")
        layer = cls(len(u))
        layer.constrained = False
        with torch.no_grad():
            layer.u.copy_(u), layer.w.copy_(w), layer.b.copy_(torch.as_tensor(float(b)))
        return layer

    def u_hat(self) -> torch.Tensor:
        """The u actually used: û with wᵀû ≥ −1 (or u itself for a layer built from given parameters)."""
        if not self.constrained:
            return self.u
        wu = self.w @ self.u
        return self.u + (F.softplus(wu) - 1 - wu) * self.w / (self.w @ self.w)

    def _forward(self, x, context):
        u = self.u_hat()
        a = x @ self.w + self.b
        y = x + torch.tanh(a)[:, None] * u
        psi_u = (1 - torch.tanh(a) ** 2) * (self.w @ u)                  # uᵀψ(x)
        return y, torch.log((1 + psi_u).abs() + 1e-12)

    def _inverse(self, y, context, iterations: int = 80):
        u = self.u_hat()
        target, wu = y @ self.w, self.w @ u
        # wᵀy = a + wᵀû tanh(a + b): increasing in a since wᵀû ≥ −1; |a − wᵀy| ≤ |wᵀû| brackets the root.
        low, high = target - wu.abs() - 1, target + wu.abs() + 1
        for _ in range(iterations):
            middle = (low + high) / 2
            above = middle + wu * torch.tanh(middle + self.b) > target
            low, high = torch.where(above, low, middle), torch.where(above, middle, high)
        a = (low + high) / 2
        x = y - torch.tanh(a + self.b)[:, None] * u
        return x, -self._forward(x, context)[1]


def alternating_mask(features: int, parity: int = 0) -> torch.Tensor:
    """0/1 mask (features,) that keeps every other coordinate: 1, 0, 1, … (parity 0) or 0, 1, 0, … (parity 1)."""
    return ((torch.arange(positive_int(features, "features")) + parity) % 2 == 0).float()


def checkerboard_mask(height: int, width: int, parity: int = 0) -> torch.Tensor:
    """0/1 mask (1, H, W) in a checkerboard pattern (RealNVP's spatial masking)."""
    rows, cols = torch.meshgrid(torch.arange(height), torch.arange(width), indexing="ij")
    return ((rows + cols + parity) % 2 == 0).float()[None]


def channel_mask(channels: int, height: int, width: int, parity: int = 0) -> torch.Tensor:
    """0/1 mask (C, H, W) keeping the first half of the channels (parity 0) or the second (parity 1)."""
    keep = (torch.arange(channels) < channels // 2) ^ bool(parity)
    return keep.float()[:, None, None].expand(channels, height, width).clone()


class _Coupling(Transform):
    """Shared by the couplings: the masked part passes unchanged and parametrises the change of the rest."""

    def __init__(self, mask: torch.Tensor, net: nn.Module):
        check_tensor(mask, "mask")
        super().__init__(tuple(mask.shape))
        if not isinstance(net, nn.Module):
            raise TypeError(f"net must be a torch.nn.Module, got {type(net).__name__}")
        self.register_buffer("mask", mask.float())
        self.net = net

    def _parameters_of(self, kept, context):
        return self.net(kept) if context is None else self.net(kept, context)


class AdditiveCoupling(_Coupling):
    """NICE's additive coupling: y_kept = x_kept, y_rest = x_rest + t(x_kept); volume-preserving (log-det 0).
    ``net`` maps the masked input (B, *shape) to t (B, *shape)."""

    def _forward(self, x, context):
        shift = self._parameters_of(x * self.mask, context) * (1 - self.mask)
        return x + shift, torch.zeros(len(x), device=x.device, dtype=x.dtype)

    def _inverse(self, y, context):
        shift = self._parameters_of(y * self.mask, context) * (1 - self.mask)   # y_kept = x_kept
        return y - shift, torch.zeros(len(y), device=y.device, dtype=y.dtype)


class AffineCoupling(_Coupling):
    """RealNVP's affine coupling: y_kept = x_kept, y_rest = x_rest ⊙ exp(s(x_kept)) + t(x_kept).

    The Jacobian is triangular, so log |det| = Σ s over the changed part; the inverse,
    x_rest = (y_rest − t(y_kept)) ⊙ exp(−s(y_kept)), never inverts s or t. ``net`` maps the masked input
    (B, *shape) to (B, 2·C, …) for images or (B, 2·D) for vectors: raw log-scales and shifts; the log-scale
    is bounded, s = ``scale`` · tanh(raw / ``scale``), which keeps early training stable.
    """

    def __init__(self, mask: torch.Tensor, net: nn.Module, scale: float = 2.0):
        super().__init__(mask, net)
        self.scale = positive_float(scale, "scale")

    def _scale_shift(self, kept, context):
        raw = self._parameters_of(kept, context)
        raw_s, t = raw.chunk(2, dim=1)
        s = self.scale * torch.tanh(raw_s / self.scale)
        rest = 1 - self.mask
        return s * rest, t * rest

    def _forward(self, x, context):
        s, t = self._scale_shift(x * self.mask, context)
        return x * s.exp() + t, _sum_per_example(s)

    def _inverse(self, y, context):
        s, t = self._scale_shift(y * self.mask, context)
        return (y - t) * (-s).exp(), -_sum_per_example(s)


class Permutation(Transform):
    """Reorders the features (vectors) or channels (images) by ``permutation``; log-det 0."""

    def __init__(self, shape, permutation: torch.Tensor):
        super().__init__(shape)
        check_tensor(permutation, "permutation", ndim=1)
        if sorted(permutation.tolist()) != list(range(self.shape[0])):
            raise ValueError(f"permutation must be a permutation of 0..{self.shape[0] - 1}")
        self.register_buffer("permutation", permutation.long())
        self.register_buffer("inverse_permutation", torch.argsort(permutation.long()))

    @classmethod
    def reverse(cls, shape) -> "Permutation":
        shape = (shape,) if isinstance(shape, int) else tuple(shape)
        return cls(shape, torch.arange(shape[0] - 1, -1, -1))

    @classmethod
    def random(cls, shape, generator: torch.Generator | None = None) -> "Permutation":
        shape = (shape,) if isinstance(shape, int) else tuple(shape)
        return cls(shape, randomness.permutation(shape[0], generator=generator))

    def _forward(self, x, context):
        return x.index_select(1, self.permutation), torch.zeros(len(x), device=x.device, dtype=x.dtype)

    def _inverse(self, y, context):
        return y.index_select(1, self.inverse_permutation), torch.zeros(len(y), device=y.device, dtype=y.dtype)


class ActNorm(Transform):
    """Glow's activation normalisation: y = (x − μ_c) ⊙ exp(−log σ_c) per channel (or feature), with μ, σ set
    from the first batch it sees so that its output starts with zero mean and unit variance per channel.
    Log-det: −Σ_c log σ_c times the number of positions per channel (H·W for images)."""

    def __init__(self, shape):
        super().__init__(shape)
        self.loc = nn.Parameter(torch.zeros(self.shape[0]))
        self.log_scale = nn.Parameter(torch.zeros(self.shape[0]))
        self.register_buffer("initialized", torch.tensor(False))

    def _view(self, v):
        return v.view(1, -1, *([1] * (len(self.shape) - 1)))

    def _positions(self) -> int:
        return math.prod(self.shape[1:])

    def _forward(self, x, context):
        if self.training and not self.initialized:
            with torch.no_grad():   # data-dependent initialisation (one host read, once)
                flat = x.transpose(0, 1).reshape(self.shape[0], -1)
                self.loc.copy_(flat.mean(1))
                self.log_scale.copy_(torch.log(flat.std(1) + 1e-6))
                self.initialized.fill_(True)
        y = (x - self._view(self.loc)) * self._view((-self.log_scale).exp())
        return y, (-self.log_scale.sum() * self._positions()).expand(len(x))

    def _inverse(self, y, context):
        x = y * self._view(self.log_scale.exp()) + self._view(self.loc)
        return x, (self.log_scale.sum() * self._positions()).expand(len(y))


class Invertible1x1Conv(Transform):
    """Glow's invertible 1×1 convolution, a learned channel mixing W applied at every pixel, with W = P L (U +
    diag(s)) (LU form: P a fixed permutation, L unit lower-triangular, U strictly upper, s = sign · exp(log|s|)),
    so log |det W| = Σ log |s| costs O(C); the log-det of the layer is H·W · Σ log |s|."""

    def __init__(self, channels: int, height: int, width: int, generator: torch.Generator | None = None):
        super().__init__((positive_int(channels, "channels"), positive_int(height, "height"),
                          positive_int(width, "width")))
        weight, _ = torch.linalg.qr(randomness.normal((channels, channels), generator=generator))
        p, lower, upper = torch.linalg.lu(weight)
        s = torch.diagonal(upper)
        self.register_buffer("p", p)
        self.register_buffer("sign_s", torch.sign(s))
        self.register_buffer("lower_mask", torch.tril(torch.ones(channels, channels), -1))
        self.lower = nn.Parameter(lower)
        self.upper = nn.Parameter(torch.triu(upper, 1))
        self.log_s = nn.Parameter(torch.log(s.abs()))

    def weight(self) -> torch.Tensor:
        """W (C, C)."""
        eye = torch.eye(len(self.p), device=self.p.device, dtype=self.p.dtype)
        lower = self.lower * self.lower_mask + eye
        upper = self.upper * self.lower_mask.T + torch.diag(self.sign_s * self.log_s.exp())
        return self.p @ lower @ upper

    def _forward(self, x, context):
        y = torch.einsum("ij,bjhw->bihw", self.weight(), x)
        return y, (self.log_s.sum() * self.shape[1] * self.shape[2]).expand(len(x))

    def _inverse(self, y, context):
        x = torch.einsum("ij,bjhw->bihw", torch.linalg.inv(self.weight()), y)
        return x, (-self.log_s.sum() * self.shape[1] * self.shape[2]).expand(len(y))


class MaskedAutoregressive(Transform):
    """MAF (Papamakarios et al., 2017) on vectors (B, D): z_d = (x_d − μ_d(x_<d)) · exp(−α_d(x_<d)), with μ and α
    from one MADE network (chapter 03's masked layers). Density direction (x → z): one network pass, log-det
    −Σ α. Sampling direction (z → x): x_d = z_d exp(α_d) + μ_d needs x_<d first, so D passes. ``Inverse(maf)`` is
    IAF (Kingma et al., 2016): one pass to sample, D passes to evaluate a given point.
    ``context_features``: optional conditioning vector added to the first hidden layer (unmasked)."""

    def __init__(self, features: int, hidden: Sequence[int] = (64, 64), context_features: int | None = None,
                 order: torch.Tensor | None = None):
        features = positive_int(features, "features")
        super().__init__((features,))
        hidden = [positive_int(h, "hidden") for h in hidden]
        order = torch.arange(features) if order is None else order
        check_tensor(order, "order", ndim=1)
        ranks = torch.empty_like(order)
        ranks[order] = torch.arange(features)
        self.register_buffer("order", order.long())
        masks = made_masks(ranks, hidden, outputs_per_input=2, generator=torch.Generator().manual_seed(features))
        sizes = [features, *hidden, 2 * features]
        self.layers = nn.ModuleList(MaskedLinear(a, b, m) for a, b, m in zip(sizes[:-1], sizes[1:], masks))
        nn.init.zeros_(self.layers[-1].weight)     # start as the identity: μ = 0, α = 0
        nn.init.zeros_(self.layers[-1].bias)
        self.context_layer = nn.Linear(positive_int(context_features, "context_features"), hidden[0]) \
            if context_features is not None else None

    def conditioner(self, x, context=None) -> tuple[torch.Tensor, torch.Tensor]:
        """The MADE outputs for inputs x (B, D): shifts μ and log-scales α, each (B, D), where μ_d and α_d
        depend on the inputs before d in the autoregressive order only (and on ``context``)."""
        self._check(x, "x", context)
        return self._shift_log_scale(x, context)

    def _shift_log_scale(self, x, context):
        h = self.layers[0](x)
        if self.context_layer is not None:
            h = h + self.context_layer(context)
        for layer in self.layers[1:]:
            h = layer(torch.relu(h))
        shift, raw = h.chunk(2, dim=1)            # made_masks: output d of each block depends on x_<d only
        return shift, 2.0 * torch.tanh(raw / 2.0)

    def _forward(self, x, context):
        shift, log_scale = self._shift_log_scale(x, context)
        return (x - shift) * (-log_scale).exp(), -log_scale.sum(1)

    def _inverse(self, z, context):
        x = torch.zeros_like(z)
        logabsdet = torch.zeros(len(z), device=z.device, dtype=z.dtype)
        for step in range(self.shape[0]):           # one pass per dimension, in the autoregressive order
            shift, log_scale = self._shift_log_scale(x, context)
            d = self.order[step].view(1)
            # α_d depends on x_<d, already final: its value now is its value in the finished x
            alpha = log_scale.index_select(1, d)
            x = x.index_copy(1, d, z.index_select(1, d) * alpha.exp() + shift.index_select(1, d))
            logabsdet = logabsdet + alpha[:, 0]
        return x, logabsdet


class Logit(Transform):
    """Pre-processing of dequantized levels v ∈ [0, L): p = α + (1 − 2α) v / L, y = log p − log(1 − p)
    (RealNVP). The flow then works on R^D; its log-det, Σ [log(1 − 2α) − log L − log p − log(1 − p)], is part
    of the likelihood of v (leaving it out would report a wrong number)."""

    def __init__(self, shape, levels: int, alpha: float = 0.05):
        super().__init__(shape)
        self.levels = positive_int(levels, "levels")
        self.alpha = positive_float(alpha, "alpha")
        if self.alpha >= 0.5:
            raise ValueError(f"alpha must be < 0.5, got {alpha}")

    def _forward(self, v, context):
        p = self.alpha + (1 - 2 * self.alpha) * v / self.levels
        log_det = math.log(1 - 2 * self.alpha) - math.log(self.levels) - torch.log(p) - torch.log1p(-p)
        return torch.log(p) - torch.log1p(-p), _sum_per_example(log_det)

    def _inverse(self, y, context):
        p = torch.sigmoid(y)
        v = (p - self.alpha) / (1 - 2 * self.alpha) * self.levels
        log_det = math.log(1 - 2 * self.alpha) - math.log(self.levels) - torch.log(p) - torch.log1p(-p)
        return v, -_sum_per_example(log_det)


class Squeeze(Transform):
    """(B, C, H, W) → (B, 4C, H/2, W/2): each 2×2 patch becomes 4 channels (multi-scale flows); log-det 0."""

    def __init__(self, shape):
        super().__init__(shape)
        c, h, w = self.shape
        if h % 2 or w % 2:
            raise ValueError(f"shape must have even height and width to squeeze, got {self.shape}")
        self.output_shape = (4 * c, h // 2, w // 2)

    def _forward(self, x, context):
        b, (c, h, w) = len(x), self.shape
        y = x.reshape(b, c, h // 2, 2, w // 2, 2).permute(0, 1, 3, 5, 2, 4).reshape(b, 4 * c, h // 2, w // 2)
        return y, torch.zeros(b, device=x.device, dtype=x.dtype)

    def _inverse(self, y, context):
        b, (c, h, w) = len(y), self.shape
        x = y.reshape(b, c, 2, 2, h // 2, w // 2).permute(0, 1, 4, 2, 5, 3).reshape(b, c, h, w)
        return x, torch.zeros(b, device=y.device, dtype=y.dtype)


class OnChannels(Transform):
    """Applies ``transform`` to the first ``channels`` channels and leaves the rest as they are: the
    factored-out half of a multi-scale flow goes straight to the base distribution."""

    def __init__(self, shape, channels: int, transform: Transform):
        super().__init__(shape)
        self.channels = positive_int(channels, "channels")
        expected = (self.channels, *self.shape[1:])
        if not isinstance(transform, Transform) or transform.shape != expected or transform.output_shape != expected:
            raise ValueError(f"transform must map shape {expected} to itself")
        self.transform = transform

    def _forward(self, x, context):
        active, passive = x[:, :self.channels], x[:, self.channels:]
        y, logabsdet = self.transform._forward(active, context)
        return torch.cat([y, passive], 1), logabsdet

    def _inverse(self, y, context):
        active, passive = y[:, :self.channels], y[:, self.channels:]
        x, logabsdet = self.transform._inverse(active, context)
        return torch.cat([x, passive], 1), logabsdet


def mlp(features_in: int, features_out: int, hidden: int = 64, layers: int = 2,
        activation: Callable[[], nn.Module] = nn.ReLU) -> nn.Sequential:
    """A small MLP (the coupling networks of vector flows); the last layer starts at zero (identity coupling)."""
    sizes = [positive_int(features_in, "features_in"), *([positive_int(hidden, "hidden")] * layers),
             positive_int(features_out, "features_out")]
    modules: list[nn.Module] = []
    for a, b in zip(sizes[:-1], sizes[1:]):
        modules += [nn.Linear(a, b), activation()]
    modules.pop()
    nn.init.zeros_(modules[-1].weight)
    nn.init.zeros_(modules[-1].bias)
    return nn.Sequential(*modules)


def conv_net(channels_in: int, channels_out: int, hidden: int = 32, layers: int = 2) -> nn.Sequential:
    """A small CNN of 3×3 convolutions (the coupling networks of image flows); the last starts at zero."""
    sizes = [positive_int(channels_in, "channels_in"), *([positive_int(hidden, "hidden")] * layers),
             positive_int(channels_out, "channels_out")]
    modules: list[nn.Module] = []
    for a, b in zip(sizes[:-1], sizes[1:]):
        modules += [nn.Conv2d(a, b, 3, padding=1), nn.ReLU()]
    modules.pop()
    nn.init.zeros_(modules[-1].weight)
    nn.init.zeros_(modules[-1].bias)
    return nn.Sequential(*modules)
