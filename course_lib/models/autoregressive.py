"""Autoregressive image models: p(x) = Π_d p(x_d | x_<d) over pixels in a fixed order.

Every model maps images (B, 1, H, W) with integer grey levels 0..L-1 to per-pixel log-probabilities
over the L levels, shape (B, L, H, W), where pixel d's distribution depends only on earlier pixels.
``AutoregressiveImageModel`` turns that into the density-model protocol: exact ``log_prob`` (nats per
image), and one generic ``sample`` that draws pixels in order and can complete partly observed images.

Models: FVSBN (Frey, 1998), NADE (Larochelle & Murray, 2011), MADE (Germain et al., 2015),
PixelCNN and gated PixelCNN (van den Oord et al., 2016), a WaveNet-style causal dilated 1D
convolution over the raster sequence (van den Oord et al., 2016), a recurrent (GRU) model of the raster
sequence (the one-dimensional cousin of PixelRNN; van den Oord et al., 2016; Cho et al., 2014), and a
discretized logistic mixture output (Salimans et al., 2017) as an alternative to the categorical one.
"""

from __future__ import annotations

from abc import abstractmethod

import torch
import torch.nn.functional as F
from torch import nn

from .. import randomness
from ..distributions import log_mean_exp
from ..nn.dropout import Dropout
from ..nn.masked import CausalConv1d, MaskedConv2d, MaskedLinear, made_masks
from ..validation import (as_float_tensor, dropout_rate, generator_or_none, int_sequence, odd_int, positive_int,
                          seed_int)
from .base import ImageModel, evaluation_mode


def _gated_activation(a: torch.Tensor) -> torch.Tensor:
    """The gated unit of WaveNet and the gated PixelCNN, tanh(a_f) ⊙ σ(a_g): ``a`` (B, 2C, ...) holds the filter
    a_f and the gate a_g as its two halves along dim 1 → (B, C, ...). tanh(v) is computed as 2σ(2v) − 1, the same
    function and three times faster: PyTorch's CPU tanh is not vectorised as its sigmoid is (measured on a 64×64×64
    tensor, 1 thread), and it took 7 % of a gated PixelCNN's training step."""
    value, gate = a.chunk(2, dim=1)
    return (2 * torch.sigmoid(2 * value) - 1) * torch.sigmoid(gate)


class AutoregressiveImageModel(ImageModel):
    """Base class: subclasses implement ``_log_probs(x, context) -> (B, L, H, W)`` (normalised over L),
    where pixel d's distribution depends only on the pixels before it in ``order`` (a buffer: the pixel
    index drawn at each step, raster order unless a subclass changes it).

    A subclass in raster order whose network also takes the top rows of an image alone (convolutions do)
    sets ``rows_suffice = True``: sampling a pixel of row r then runs the network on rows 0..r only, about
    half the work of whole images, with the same result (row r's outputs never see the rows below it).
    A subclass that can reuse work between the passes, or skip some, overrides ``_pixel_sampler`` (NADE, MADE,
    the logistic-mixture PixelCNN, the gated PixelCNN and the WaveNet-style model do)."""

    rows_suffice = False

    def __init__(self, image_shape=(1, 8, 8), levels: int = 17):
        super().__init__(image_shape, levels)
        if self.image_shape[0] != 1:
            raise ValueError(f"image_shape must be (1, H, W): one channel, got {self.image_shape}")
        self.register_buffer("order", torch.arange(self.pixels))

    def log_probs(self, x, *, context=None) -> torch.Tensor:
        """Per-pixel log-probabilities of every level given the earlier pixels: (B, 1, H, W) → (B, L, H, W)."""
        x = self.check_input(x)
        return self._log_probs(x, self.check_context(context, len(x)))

    @abstractmethod
    def _log_probs(self, x: torch.Tensor, context: torch.Tensor | None) -> torch.Tensor:
        """The network: checked images (B, 1, H, W) → log-probabilities (B, L, H, W)."""

    def _log_prob(self, x, context):
        """Exact log P(x) = Σ_d log p(x_d | x_<d), (B, 1, H, W) → (B,), nats per image."""
        return self._log_probs(x, context).gather(1, x.long()).sum((1, 2, 3))

    def sample(self, n: int, generator: torch.Generator | None = None, *, context=None, observed=None,
               known=None) -> torch.Tensor:
        """Draw n images pixel by pixel in the model's order: one network pass per pixel (D passes).

        ``observed`` (n, 1, H, W) and boolean ``known`` (same shape or (1, H, W)): pixels to keep, e.g. the
        top half of a digit; the others are sampled given them (completion / inpainting).
        ``context``: the labels of a class-conditional model, shape (n,).
        """
        n = positive_int(n, "n")
        generator_or_none(generator)
        context = self.check_context(context, n)
        if observed is not None:
            observed = self.check_input(observed, "observed")
            if len(observed) != n:
                raise ValueError(f"observed must hold n={n} images, got {len(observed)}")
            if not isinstance(known, torch.Tensor) or known.dtype != torch.bool:
                raise TypeError("known must be a boolean tensor saying which pixels of observed to keep")
            if tuple(known.shape) not in (self.image_shape, (n, *self.image_shape)):
                shape = ", ".join(map(str, self.image_shape))
                raise ValueError(f"known must have shape ({shape}) or ({n}, {shape}), got {tuple(known.shape)}")
            known = known.to(self.device).expand(n, *self.image_shape)
        elif known is not None:
            raise ValueError("known needs observed: the images whose known pixels are kept")
        with evaluation_mode(self):
            return self._sample(n, generator, context, observed, known)

    def _sample(self, n, generator, context, observed=None, known=None):
        x = observed.clone() if observed is not None else torch.zeros(n, *self.image_shape, device=self.device)
        flat = x.view(n, -1)                                  # a view: writing a pixel writes x
        keep = None if known is None else known.reshape(n, -1)
        pixel_probs = self._pixel_sampler(x, context)
        for step in range(self.pixels):
            # The pixel index stays on the device (no host read), so sampling runs unchanged on a GPU.
            pixel = self.order[step].view(1)
            probs = pixel_probs(step, pixel)                                                        # (n, L)
            drawn = randomness.categorical(probs, generator=generator).to(x.dtype)
            if keep is not None:
                kept = keep.index_select(1, pixel).squeeze(1)
                drawn = torch.where(kept, flat.index_select(1, pixel).squeeze(1), drawn)
            flat.index_copy_(1, pixel, drawn[:, None])
        return x

    def _pixel_sampler(self, x: torch.Tensor, context):
        """A function (step, pixel) → (n, L) probabilities of the levels of ``pixel``, the step-th in the
        order, given the pixels of ``x`` drawn before it (``x`` is filled in place between the calls).
        Here: one pass of the whole network per pixel (on rows 0..r with ``rows_suffice``)."""
        width = self.image_shape[2]

        def pixel_probs(step, pixel):
            visible = x[:, :, :step // width + 1] if self.rows_suffice else x   # raster order: rows ≤ the pixel's
            return self._log_probs(visible, context).flatten(2).index_select(2, pixel).squeeze(2).exp()
        return pixel_probs


def _as_image_log_probs(logits: torch.Tensor, levels: int, shape) -> torch.Tensor:
    """(B, L·D) logits laid out level-major → normalised log-probabilities (B, L, H, W)."""
    return torch.log_softmax(logits.reshape(len(logits), levels, *shape[1:]), dim=1)


class FVSBN(AutoregressiveImageModel):
    """Fully visible (sigmoid) belief net: each pixel's logits are a *linear* function of the earlier
    pixels, logits_d = A_d x_<d + b_d — logistic regression per pixel (softmax over L levels)."""

    def __init__(self, image_shape=(1, 8, 8), levels: int = 17):
        super().__init__(image_shape, levels)
        (mask,) = made_masks(self.order, [], outputs_per_input=levels)
        self.linear = MaskedLinear(self.pixels, self.pixels * levels, mask)

    def _log_probs(self, x, context):
        return _as_image_log_probs(self.linear(self.scaled(x).reshape(len(x), -1)), self.levels, self.image_shape)


class NADE(AutoregressiveImageModel):
    """Neural autoregressive density estimator: one hidden layer per pixel, h_d = σ(c + W_<d x_<d), with
    the weights W shared across pixels, so all D hidden vectors cost one cumulative sum."""

    def __init__(self, image_shape=(1, 8, 8), levels: int = 17, hidden: int = 128):
        super().__init__(image_shape, levels)
        hidden = positive_int(hidden, "hidden")
        self.w = nn.Parameter(nn.init.normal_(torch.empty(hidden, self.pixels), std=0.05))
        self.c = nn.Parameter(torch.zeros(hidden))
        self.v = nn.Parameter(nn.init.normal_(torch.empty(levels, self.pixels, hidden), std=0.05))
        self.b = nn.Parameter(torch.zeros(levels, self.pixels))

    def _log_probs(self, x, context):
        xs = self.scaled(x).reshape(len(x), -1)                                   # (B, D), raster = order
        contributions = xs[:, :, None] * self.w.T[None]                           # (B, D, H): W_{:,d} x_d
        a = self.c + torch.cumsum(contributions, dim=1) - contributions           # exclusive: pixels < d
        h = torch.sigmoid(a)
        logits = torch.einsum("bdh,ldh->bld", h, self.v) + self.b                 # (B, L, D)
        return _as_image_log_probs(logits.reshape(len(x), -1), self.levels, self.image_shape)

    def _pixel_sampler(self, x, context):
        """NADE's own sampler: the pre-activation a = c + W_<d x_<d grows by one column per drawn pixel, so a
        step costs O(H L) instead of a whole pass (O(D H L)). Same probabilities as ``_log_probs`` (raster order)."""
        flat = x.view(len(x), -1)
        a = self.c.expand(len(x), -1)             # the pre-activation c + W_<d x_<d for the current step d

        def pixel_probs(step, pixel):
            nonlocal a
            if step > 0:                           # the steps come in order: add the pixel drawn last
                a = a + self.scaled(flat[:, step - 1:step]) * self.w[:, step - 1]
            logits = torch.sigmoid(a) @ self.v[:, step].T + self.b[:, step]                 # (n, L)
            return torch.softmax(logits, dim=1)
        return pixel_probs


class MADE(AutoregressiveImageModel):
    """Masked autoencoder for distribution estimation: an MLP whose masks (from integer degrees) make
    output d depend only on inputs before d in the order. With ``n_masks`` > 1 each mask has its own
    random order and hidden degrees; training cycles through them, one a batch, and ``log_prob`` is the exact
    mixture log (1/K) Σ_k p_k(x), computed with log_mean_exp (never by averaging logits); so is the loss in
    evaluation mode (validation), which leaves the mask in use unchanged.
    ``seed`` draws the orders and hidden degrees (part of the architecture). The masks of all K sets are
    buffers and the one in use, ``current``, is a buffer too: a resumed ensemble follows the same sequence."""

    def __init__(self, image_shape=(1, 8, 8), levels: int = 17, hidden=(256, 256), n_masks: int = 1, seed: int = 0):
        super().__init__(image_shape, levels)
        self.n_masks = positive_int(n_masks, "n_masks")
        hidden = int_sequence(hidden, "hidden")
        sizes = [self.pixels, *hidden, self.pixels * levels]
        self.layers = nn.ModuleList(nn.Linear(a, b) for a, b in zip(sizes[:-1], sizes[1:]))
        generator = torch.Generator().manual_seed(seed_int(seed))
        orders, masks = [], []
        for k in range(self.n_masks):
            order = torch.arange(self.pixels) if k == 0 else randomness.permutation(self.pixels, generator=generator)
            ranks = torch.empty_like(order)
            ranks[order] = torch.arange(self.pixels)
            orders.append(order)
            masks.append(made_masks(ranks, hidden, outputs_per_input=levels, generator=generator))
        self.register_buffer("orders", torch.stack(orders))                       # (K, D)
        for i in range(len(self.layers)):
            self.register_buffer(f"masks_{i}", torch.stack([m[i] for m in masks]))  # (K, out, in)
        self.register_buffer("current", torch.zeros((), dtype=torch.long))
        self._use_mask(self.current)

    def use_mask(self, k: int) -> None:
        """Switch the network (and the sampling order) to mask k."""
        if isinstance(k, bool) or not isinstance(k, int) or not 0 <= k < self.n_masks:
            raise ValueError(f"k must be an int in [0, {self.n_masks - 1}], got {k!r}")
        self._use_mask(torch.tensor(k, device=self.device))

    def _use_mask(self, k: torch.Tensor) -> None:
        # k: a 0-dim tensor on the model's device, so switching never reads a value back to the host
        self.current.copy_(k)
        self.order.copy_(self.orders.index_select(0, k.view(1))[0])

    def _masked_weights(self, k: torch.Tensor) -> list[torch.Tensor]:
        """Every layer's weights under mask set k, mask ⊙ W (the weights themselves untouched)."""
        return [getattr(self, f"masks_{i}").index_select(0, k.view(1))[0] * layer.weight
                for i, layer in enumerate(self.layers)]

    def _last_hidden(self, x, weights) -> torch.Tensor:
        """The hidden units feeding the output layer, (B, H), computed with the masked ``weights``."""
        h = self.scaled(x).reshape(len(x), -1)
        for layer, weight in zip(self.layers[:-1], weights[:-1]):
            h = torch.relu(F.linear(h, weight, layer.bias))
        return h

    def _masked_forward(self, x, k: torch.Tensor):
        """The MLP with mask set k → log-probabilities (B, L, H, W)."""
        weights = self._masked_weights(k)
        logits = F.linear(self._last_hidden(x, weights), weights[-1], self.layers[-1].bias)
        return _as_image_log_probs(logits, self.levels, self.image_shape)

    def _log_probs(self, x, context):
        return self._masked_forward(x, self.current.clone())   # a copy: later switches leave this graph intact

    def _pixel_sampler(self, x, context):
        """One pass of the masked MLP per pixel, as in ``_log_probs``, but with the masked weights formed once per
        image batch and the output layer computing the pixel's L logits only, not all L·D (most of the work);
        same probabilities."""
        weights = self._masked_weights(self.current.clone())
        level_rows = torch.arange(self.levels, device=self.device) * self.pixels    # logit of level l, pixel d: l·D + d

        def pixel_probs(step, pixel):
            rows = level_rows + pixel
            logits = F.linear(self._last_hidden(x, weights), weights[-1].index_select(0, rows),
                              self.layers[-1].bias.index_select(0, rows))
            return torch.log_softmax(logits.view(len(x), self.levels, 1, 1), dim=1)[:, :, 0, 0].exp()
        return pixel_probs

    def _loss(self, x, context, generator):
        if self.n_masks == 1 or not self.training:
            # in evaluation mode (fit's validation) the ensemble's exact NLL, and the mask in use stays as it is
            return -self._log_prob(x, context).mean()
        self._use_mask((self.current + 1) % self.n_masks)      # a different order every training batch
        return -super()._log_prob(x, context).mean()

    def _log_prob(self, x, context):
        if self.n_masks == 1:
            return super()._log_prob(x, context)
        per_mask = [self._masked_forward(x, torch.tensor(k, device=self.device)).gather(1, x.long()).sum((1, 2, 3))
                    for k in range(self.n_masks)]
        return log_mean_exp(torch.stack(per_mask), dim=0)

    def _sample(self, n, generator, context, observed=None, known=None):
        """Ancestral sampling from the mixture: each image picks one of the K masks uniformly, then its
        pixels are drawn in that mask's order. (All K orders are run for all n images and each image
        keeps its own: K times the work, but no host read of which masks were picked.)"""
        if self.n_masks == 1:
            return super()._sample(n, generator, context, observed, known)
        start = self.current.clone()
        which = randomness.integers(self.n_masks, (n,), generator=generator, device=self.device)
        images = torch.zeros(n, *self.image_shape, device=self.device)
        for k in range(self.n_masks):
            self._use_mask(torch.tensor(k, device=self.device))
            drawn = super()._sample(n, generator, context, observed, known)
            images = torch.where((which == k).view(n, 1, 1, 1), drawn, images)
        self._use_mask(start)
        return images


def discretized_logistic_mixture(params: torch.Tensor, levels: int) -> torch.Tensor:
    """Per-level log-probabilities from a mixture of K logistics per pixel (Salimans et al., 2017).

    params (B, 3K, H, W): mixture logits, means and log-scales on the [-1, 1] scale. Level x owns the
    bin [c - δ, c + δ] around c = 2x/(L-1) - 1 (δ = 1/(L-1)); the two end bins extend to ±∞, so the
    L probabilities sum to one exactly. Returns (B, L, H, W).
    """
    params = as_float_tensor(params, "params", ndim=4)
    if params.shape[1] == 0 or params.shape[1] % 3:
        raise ValueError(f"params must have 3K channels, K ≥ 1 (logits, means, log-scales of K logistics), "
                         f"got shape {tuple(params.shape)}")
    return _discretized_logistic_mixture(params, positive_int(levels, "levels", minimum=2))


def _discretized_logistic_mixture(params, levels):
    logit_weights, means, log_scales = params.chunk(3, dim=1)                     # (B, K, H, W) each
    log_scales = log_scales.clamp(min=-7.0)
    centres = torch.linspace(-1, 1, levels, device=params.device, dtype=params.dtype).view(1, 1, levels, 1, 1)
    half = 1.0 / (levels - 1)
    inv_scale = torch.exp(-log_scales)[:, :, None]
    upper = torch.sigmoid((centres + half - means[:, :, None]) * inv_scale)       # (B, K, L, H, W)
    lower = torch.sigmoid((centres - half - means[:, :, None]) * inv_scale)
    upper = torch.cat([upper[:, :, :-1], torch.ones_like(upper[:, :, -1:])], dim=2)   # last bin: to +∞
    lower = torch.cat([torch.zeros_like(lower[:, :, :1]), lower[:, :, 1:]], dim=2)    # first bin: from -∞
    log_bins = torch.log((upper - lower).clamp(min=1e-12))
    log_weights = torch.log_softmax(logit_weights, dim=1)[:, :, None]
    log_p = torch.logsumexp(log_weights + log_bins, dim=1)                        # (B, L, H, W)
    return log_p - torch.logsumexp(log_p, dim=1, keepdim=True)                    # renormalise the clamp's slack


class _OutputHead(nn.Module):
    """Features (B, C, H, W) → per-level log-probabilities: categorical softmax or a logistic mixture."""

    def __init__(self, channels: int, levels: int, output: str, mixtures: int):
        super().__init__()
        if output not in ("categorical", "logistic"):
            raise ValueError(f"output must be 'categorical' or 'logistic', got {output!r}")
        self.levels, self.output = levels, output
        mixtures = positive_int(mixtures, "mixtures")
        out = levels if output == "categorical" else 3 * mixtures
        self.net = nn.Sequential(nn.ReLU(), nn.Conv2d(channels, channels, 1), nn.ReLU(), nn.Conv2d(channels, out, 1))

    def forward(self, h):
        out = self.net(h)
        if self.output == "categorical":
            return torch.log_softmax(out, dim=1)
        return _discretized_logistic_mixture(out, self.levels)


class PixelCNN(AutoregressiveImageModel):
    """Masked convolutions: a 7×7-style mask-A layer, then mask-B layers (van den Oord et al., 2016).
    Its receptive field has a blind spot: pixels up and to the right are never seen."""

    rows_suffice = True

    def __init__(self, image_shape=(1, 8, 8), levels: int = 17, channels: int = 64, layers: int = 6,
                 first_kernel: int = 5, kernel: int = 3, output: str = "categorical", mixtures: int = 5):
        super().__init__(image_shape, levels)
        channels, layers = positive_int(channels, "channels"), positive_int(layers, "layers")
        first_kernel, kernel = odd_int(first_kernel, "first_kernel"), odd_int(kernel, "kernel")
        body: list[nn.Module] = [MaskedConv2d(1, channels, first_kernel, "A")]
        for _ in range(layers - 1):
            body += [nn.ReLU(), MaskedConv2d(channels, channels, kernel, "B")]
        self.body = nn.Sequential(*body)
        self.head = _OutputHead(channels, levels, output, mixtures)

    def _log_probs(self, x, context):
        return self.head(self.body(self.scaled(x)))

    def _pixel_sampler(self, x, context):
        """With the logistic-mixture output, the pass for a pixel of row r runs the network on rows 0..r and
        turns the mixture into level probabilities for that pixel alone: the other positions' features are
        needed, their L bins are not (over half the sampling time otherwise). Same probabilities."""
        if self.head.output != "logistic":
            return super()._pixel_sampler(x, context)
        width = self.image_shape[2]

        def pixel_probs(step, pixel):
            features = self.head.net(self.body(self.scaled(x[:, :, :step // width + 1])))         # rows 0..r
            params = features.flatten(2).index_select(2, pixel).unsqueeze(3)                      # (n, 3K, 1, 1)
            return _discretized_logistic_mixture(params, self.levels)[:, :, 0, 0].exp()
        return pixel_probs


class _GatedLayer(nn.Module):
    """One gated layer with a vertical stack (rows above) and a horizontal stack (this row, to the left)."""

    def __init__(self, in_channels: int, channels: int, kernel: int, first: bool):
        super().__init__()
        self.kernel, self.first = kernel, first
        self.vertical = nn.Conv2d(in_channels, 2 * channels, (kernel // 2 + 1, kernel))
        self.horizontal = nn.Conv2d(in_channels, 2 * channels, (1, kernel // 2 + 1))
        self.vertical_to_horizontal = nn.Conv2d(2 * channels, 2 * channels, 1)
        self.horizontal_out = nn.Conv2d(channels, channels, 1)

    gate = staticmethod(_gated_activation)      # (B, 2C, ...) → tanh(first half) ⊙ σ(second half), (B, C, ...)

    def vertical_stack(self, v):
        """(B, C_in, rows, W) → pre-gate (B, 2C, rows, W): output row i sees input rows i - half .. i (all
        columns within ± half; zeros above the first row)."""
        half = self.kernel // 2
        return self.vertical(F.pad(v, (half, half, half, 0)))

    def horizontal_stack(self, h, v_down):
        """h (B, C_in, rows, W) and the vertical stack of the rows above, v_down (B, 2C, rows, W) → (B, C, rows, W):
        column j sees columns j - half .. j of its row (the first layer: .. j - 1), and everything above."""
        half, width = self.kernel // 2, h.shape[3]
        h_in = F.pad(h, (half + 1, 0))[..., :width + half] if self.first else F.pad(h, (half, 0))
        h_pre = self.horizontal(h_in) + self.vertical_to_horizontal(v_down)
        h_out = self.horizontal_out(self.gate(h_pre))
        return h_out if self.first else h + h_out

    def forward(self, v, h):
        v_pre = self.vertical_stack(v)
        # Shifted down one row before it reaches the horizontal stack: row i then sees rows < i only.
        v_down = F.pad(v_pre, (0, 0, 1, 0))[:, :, :v.shape[2]]
        return self.gate(v_pre), self.horizontal_stack(h, v_down)


class GatedPixelCNN(AutoregressiveImageModel):
    """Gated PixelCNN (van den Oord et al., 2016): vertical and horizontal stacks remove the blind spot,
    tanh·sigmoid gates, residual connections in the horizontal stack. ``classes``: optional number of
    labels for a class-conditional model p(x | y) (a learned bias per class added in every layer); its
    ``log_prob``, ``loss`` and ``sample`` then take ``context=labels``, and ``train.fit`` passes each batch's
    labels with ``labels_as_context=True``."""

    def __init__(self, image_shape=(1, 8, 8), levels: int = 17, channels: int = 64, layers: int = 6,
                 kernel: int = 3, output: str = "categorical", mixtures: int = 5, classes: int | None = None):
        super().__init__(image_shape, levels)
        channels, layers = positive_int(channels, "channels"), positive_int(layers, "layers")
        kernel = odd_int(kernel, "kernel")                   # the stacks are centred on the pixel
        self.layers = nn.ModuleList(_GatedLayer(1 if i == 0 else channels, channels, kernel, first=i == 0)
                                    for i in range(layers))
        self.head = _OutputHead(channels, levels, output, mixtures)
        if classes is not None:
            self.context_classes = positive_int(classes, "classes")
        self.class_bias = nn.Embedding(self.context_classes, channels) if self.context_classes else None

    def _log_probs(self, x, context):
        v = h = self.scaled(x)
        for layer in self.layers:
            v, h = layer(v, h)
            if context is not None:
                h = h + self.class_bias(context)[:, :, None, None]
        return self.head(h)

    def _pixel_sampler(self, x, context):
        """Cached sampling (Ramachandran et al., 2017): the vertical stacks feed row r with rows < r only, which
        do not change while row r is drawn. So when a row is complete, each layer's vertical stack is extended by
        that one row (its input: the last half + 1 rows of the layer below, kept), and each pixel of row r then
        reruns only the horizontal stacks and the head, on row r alone: W positions per pass instead of (r + 1) W.
        Same probabilities as ``_log_probs`` (raster order)."""
        n, width = len(x), self.image_shape[2]
        half = self.layers[0].kernel // 2
        inputs = [[] for _ in self.layers]          # per layer: the rows of its vertical input seen so far
        from_above = [None] * len(self.layers)      # per layer: v_down, its vertical stack of the row above
        bias = self.class_bias(context)[:, :, None, None] if context is not None else 0.0

        def pixel_probs(step, pixel):
            row, column = divmod(step, width)
            if column == 0:                          # a new row: the rows above it are final
                v = self.scaled(x[:, :, row - 1:row]) if row > 0 else None
                for i, layer in enumerate(self.layers):
                    if v is None:                    # row 0: nothing above, the vertical stack is zero padding
                        v_down = x.new_zeros(n, layer.vertical.out_channels, 1, width)
                    else:
                        inputs[i] = (inputs[i] + [v])[-(half + 1):]
                        v_down = layer.vertical_stack(torch.cat(inputs[i], dim=2))[:, :, -1:]
                        v = layer.gate(v_down)       # the next layer's vertical input, row - 1
                    from_above[i] = v_down
            h = self.scaled(x[:, :, row:row + 1])
            for layer, v_down in zip(self.layers, from_above):
                h = layer.horizontal_stack(h, v_down) + bias
            return self.head(h)[:, :, 0, column].exp()
        return pixel_probs


class CausalConvSequence(AutoregressiveImageModel):
    """WaveNet-style model of the image read as a sequence of D pixels: a causal first layer (sees
    t - 2 .. t - 1), then residual layers of causal convolutions (kernel 2) with dilations 1, 2, 4, …;
    the receptive field is 2 + Σ dilations pixels, so dilations 1..32 see all 63 earlier pixels of 8×8."""

    def __init__(self, image_shape=(1, 8, 8), levels: int = 17, channels: int = 64,
                 dilations=(1, 2, 4, 8, 16, 32), dropout: float = 0.0):
        super().__init__(image_shape, levels)
        channels = positive_int(channels, "channels")
        self.dilations = tuple(int_sequence(dilations, "dilations"))
        self.dropout = Dropout(dropout_rate(dropout))
        self.first = CausalConv1d(1, channels, 2, exclude_current=True)
        self.convs = nn.ModuleList(CausalConv1d(channels, 2 * channels, 2, dilation=d) for d in self.dilations)
        self.mix = nn.ModuleList(nn.Conv1d(channels, channels, 1) for _ in self.dilations)
        self.out = nn.Sequential(nn.ReLU(), nn.Conv1d(channels, channels, 1), nn.ReLU(), nn.Conv1d(channels, levels, 1))

    @property
    def receptive_field(self) -> int:
        """How many earlier pixels the last layer can see: 2 (first layer) + Σ (kernel − 1) · dilation."""
        return 2 + sum(self.dilations)

    def _log_probs(self, x, context):
        h = self.first(self.scaled(x).reshape(len(x), 1, -1))                     # teacher forcing: all t at once
        for conv, mix in zip(self.convs, self.mix):
            h = h + self.dropout(mix(_gated_activation(conv(h))))
        return torch.log_softmax(self.out(h), dim=1).reshape(len(x), self.levels, *x.shape[2:])

    def _pixel_sampler(self, x, context):
        """Fast generation (Paine et al., 2016): a layer's output at t needs its input at t and t − dilation
        only, so every layer's activations at the positions already drawn are kept, and a step computes one new
        position per layer instead of the whole sequence. Same probabilities as ``_log_probs``."""
        n, length = len(x), self.pixels
        flat = x.view(n, -1)
        # states[i]: the input of residual layer i (states[-1]: of the output head) at every position, (n, C, D)
        states = [x.new_zeros(n, self.first.out_channels, length) for _ in range(len(self.convs) + 1)]

        def two_taps(sequence, t, back):
            """(n, C, 2): the sequence at t - back (zeros before the start) and at t, a kernel-2 conv's inputs."""
            earlier = sequence[:, :, t - back] if t >= back else torch.zeros_like(sequence[:, :, t])
            return torch.stack([earlier, sequence[:, :, t]], dim=2)

        def pixel_probs(step, pixel):
            t = step                                  # raster order: the step-th pixel of the sequence
            previous = F.pad(self.scaled(flat[:, max(0, t - 2):t]), (2 - min(t, 2), 0))[:, None]   # x_{t-2}, x_{t-1}
            states[0][:, :, t] = F.conv1d(previous, self.first.weight, self.first.bias)[:, :, 0]
            for i, (conv, mix) in enumerate(zip(self.convs, self.mix)):
                a = F.conv1d(two_taps(states[i], t, conv.dilation[0]), conv.weight, conv.bias)
                states[i + 1][:, :, t] = states[i][:, :, t] + mix(_gated_activation(a))[:, :, 0]
            return torch.softmax(self.out(states[-1][:, :, t:t + 1])[:, :, 0], dim=1)
        return pixel_probs


class GRUSequence(AutoregressiveImageModel):
    """A recurrent model of the image read as a sequence of D pixels in raster order: a GRU (Cho et al.,
    2014) whose state after pixels 1..t−1 gives p(x_t | x_<t) — the one-dimensional cousin of PixelRNN
    (van den Oord et al., 2016), which runs LSTMs along rows and diagonals of the image.

    Step t reads an embedding of the previous pixel's level (a start token at t = 1) plus a learned embedding
    of the position t (so the network knows where the rows end) and, for a class-conditional model
    (``classes``), of the label. **Teacher forcing**: ``log_probs`` feeds the *true* previous pixels, all D
    steps in one call of the recurrent layer. **Free-running generation**: ``sample`` feeds back its own draws,
    one recurrent step per pixel, carrying the state — D steps of constant cost each, where a convolutional
    model recomputes the whole image at every step.
    """

    def __init__(self, image_shape=(1, 8, 8), levels: int = 17, hidden: int = 64, layers: int = 1,
                 embedding: int = 16, classes: int | None = None):
        super().__init__(image_shape, levels)
        hidden, layers = positive_int(hidden, "hidden"), positive_int(layers, "layers")
        embedding = positive_int(embedding, "embedding")
        if classes is not None:
            self.context_classes = positive_int(classes, "classes")
        self.previous_level = nn.Embedding(levels + 1, embedding)                  # index `levels`: the start token
        self.position = nn.Embedding(self.pixels, embedding)
        self.label = nn.Embedding(self.context_classes, embedding) if self.context_classes else None
        self.gru = nn.GRU(embedding, hidden, num_layers=layers, batch_first=True)
        self.head = nn.Sequential(nn.Linear(hidden, hidden), nn.ReLU(), nn.Linear(hidden, levels))

    def _inputs(self, previous: torch.Tensor, steps: torch.Tensor, context) -> torch.Tensor:
        """previous (B, T) levels (or the start token), steps (T,) positions → GRU inputs (B, T, embedding)."""
        inputs = self.previous_level(previous) + self.position(steps)
        if context is not None:
            inputs = inputs + self.label(context)[:, None]
        return inputs

    def _log_probs(self, x, context):
        flat = x.reshape(len(x), -1).long()
        start = torch.full((len(x), 1), self.levels, dtype=torch.long, device=x.device)
        previous = torch.cat([start, flat[:, :-1]], dim=1)                            # teacher forcing: true x_<t
        steps = torch.arange(self.pixels, device=x.device)
        states, _ = self.gru(self._inputs(previous, steps, context))                   # (B, D, hidden)
        logits = self.head(states).transpose(1, 2)                                    # (B, L, D)
        return torch.log_softmax(logits, dim=1).reshape(len(x), self.levels, *self.image_shape[1:])

    def _sample(self, n, generator, context, observed=None, known=None):
        """Free-running: each drawn pixel is the next step's input; kept pixels (``known``) are fed instead."""
        x = observed.clone() if observed is not None else torch.zeros(n, *self.image_shape, device=self.device)
        flat = x.view(n, -1)
        keep = None if known is None else known.reshape(n, -1)
        previous = torch.full((n, 1), self.levels, dtype=torch.long, device=self.device)
        state = None
        for t in range(self.pixels):
            step = torch.full((1,), t, dtype=torch.long, device=self.device)
            out, state = self.gru(self._inputs(previous, step, context), state)      # one step, state carried
            probs = torch.softmax(self.head(out[:, 0]), dim=1)                          # (n, L)
            drawn = randomness.categorical(probs, generator=generator).to(x.dtype)
            if keep is not None:
                drawn = torch.where(keep[:, t], flat[:, t], drawn)
            flat[:, t] = drawn
            previous = drawn.long()[:, None]
        return x
