"""Generative adversarial networks (chapter 06) and Wasserstein critics (chapter 07).

A GAN is a sampler only: x = G(z), z ~ N(0, I), with no density. A discriminator D outputs a logit
(a real number per example); the two play V(D, G) = E log σ(D(x)) + E log(1 − σ(D(G(z)))). The losses:

* ``minimax``: D minimises −V; G minimises E log(1 − σ(D(G(z)))) = −E softplus(D(G(z))) — saturating;
* ``non_saturating``: D as above; G minimises −E log σ(D(G(z))) = E softplus(−D(G(z))) (Goodfellow, 2014);
* ``hinge``: D minimises E relu(1 − D(x)) + E relu(1 + D(G(z))), G minimises −E D(G(z)) (Miyato et al., 2018);
* ``wasserstein``: the critic D minimises E D(G(z)) − E D(x), G minimises −E D(G(z)) (Arjovsky et al., 2017),
  with a Lipschitz constraint: weight clipping, a gradient penalty (Gulrajani et al., 2017) or spectral norm.

Images of integer levels are modelled like the flows' (chapter 05): D sees x = 2(k + u)/L − 1 ∈ [−1, 1),
u ~ U[0, 1) (dequantized), G outputs tanh values in (−1, 1) and samples are ⌊L (G(z) + 1)/2⌋.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from .. import randomness
from ..nn.dropout import Dropout
from ..nn.spectral import spectral_norm
from ..validation import (as_float_tensor, as_level_images, check_tensor, dropout_rate, finite_float, positive_float,
                          positive_int)
from .base import Sampler

LOSSES = ("minimax", "non_saturating", "hinge", "wasserstein")


def _check_loss(loss: str) -> str:
    if loss not in LOSSES:
        raise ValueError(f"loss must be one of {LOSSES}, got {loss!r}")
    return loss


def discriminator_loss(real_logits: torch.Tensor, fake_logits: torch.Tensor, loss: str = "non_saturating") -> torch.Tensor:
    """What D minimises, from its outputs on real (B,) and generated (B',) examples; a scalar, nats for the
    cross-entropy losses. ``minimax`` and ``non_saturating`` share it: −E log σ(D(x)) − E log(1 − σ(D(G(z))))."""
    check_tensor(real_logits, "real_logits", ndim=1)
    check_tensor(fake_logits, "fake_logits", ndim=1)
    loss = _check_loss(loss)
    if loss == "hinge":
        return F.relu(1 - real_logits).mean() + F.relu(1 + fake_logits).mean()
    if loss == "wasserstein":
        return fake_logits.mean() - real_logits.mean()
    # −log σ(a) = softplus(−a), −log(1 − σ(a)) = softplus(a): stable for any logit
    return F.softplus(-real_logits).mean() + F.softplus(fake_logits).mean()


def generator_loss(fake_logits: torch.Tensor, loss: str = "non_saturating") -> torch.Tensor:
    """What G minimises, from D's outputs on generated examples (B,); a scalar."""
    check_tensor(fake_logits, "fake_logits", ndim=1)
    loss = _check_loss(loss)
    if loss == "minimax":
        return -F.softplus(fake_logits).mean()          # E log(1 − σ(D(G(z)))): flat where D is sure
    if loss == "non_saturating":
        return F.softplus(-fake_logits).mean()          # −E log σ(D(G(z)))
    return -fake_logits.mean()


def gradient_penalty(critic, real: torch.Tensor, fake: torch.Tensor, generator: torch.Generator | None = None,
                     context=None) -> torch.Tensor:
    """WGAN-GP's E (‖∇D(x̂)‖ − 1)² at x̂ = εx + (1 − ε)x̃, ε ~ U[0, 1] per example; each example's gradient is
    flattened before its norm (images included), so the penalty asks every example's slope to be 1, not the
    batch's. real, fake (B, …) of the same shape; ``critic(x, context)`` → (B,). Differentiable in the critic's
    parameters (the gradient is built with ``create_graph``), a scalar."""
    if not callable(critic):
        raise TypeError(f"critic must be callable ((B, …) → (B,)), got {type(critic).__name__}")
    check_tensor(real, "real", min_ndim=2)
    check_tensor(fake, "fake", min_ndim=2)
    if real.shape != fake.shape:
        raise ValueError(f"real and fake must have the same shape, got {tuple(real.shape)} and {tuple(fake.shape)}")
    eps = randomness.uniform((len(real),) + (1,) * (real.dim() - 1), generator=generator, device=real.device,
                             dtype=real.dtype)
    mixed = (eps * real + (1 - eps) * fake).requires_grad_(True)
    scores = critic(mixed, context)
    if scores.shape != (len(real),):
        raise ValueError(f"critic must return one score per example, shape ({len(real)},), got {tuple(scores.shape)}")
    gradient, = torch.autograd.grad(scores.sum(), mixed, create_graph=True)
    return ((gradient.reshape(len(gradient), -1).norm(dim=1) - 1) ** 2).mean()


def clip_weights(module: nn.Module, clip: float) -> None:
    """WGAN's weight clipping, in place: every parameter of ``module`` clamped to [−clip, clip], which keeps the
    critic in a compact set of functions, hence K-Lipschitz for some K (Arjovsky et al., 2017)."""
    with torch.no_grad():
        for parameter in module.parameters():
            parameter.clamp_(-clip, clip)


class MinibatchStd(nn.Module):
    """Appends one feature: the mean over features of the batch's standard deviation (Karras et al., 2018).
    A generator that collapses gives a batch with a small spread, which D can then see. (B, F) → (B, F + 1)."""

    def forward(self, h):
        spread = h.std(dim=0, unbiased=False).mean() if len(h) > 1 else h.new_zeros(())
        return torch.cat([h, spread.expand(len(h), 1)], dim=1)


def _maybe_spectral(layer: nn.Module, spectral: bool) -> nn.Module:
    return spectral_norm(layer) if spectral else layer


class _Conditioned(nn.Module):
    """Shared by the networks: an optional class embedding (``context_classes``) concatenated to the input."""

    def _embed(self, h, context):
        if self.embedding is None:
            return h
        return torch.cat([h, self.embedding(context)], dim=1)


class MLPGenerator(_Conditioned):
    """G: z (B, latent_dim) [+ class] → x (B, features), ReLU MLP (2D toys)."""

    def __init__(self, latent_dim: int = 2, features: int = 2, hidden: int = 128, layers: int = 3,
                 context_classes: int | None = None):
        super().__init__()
        self.latent_dim, self.output_shape = positive_int(latent_dim, "latent_dim"), (positive_int(features, "features"),)
        hidden, layers = positive_int(hidden, "hidden"), positive_int(layers, "layers")
        self.embedding = nn.Embedding(positive_int(context_classes, "context_classes"), 8) if context_classes else None
        sizes = [latent_dim + (8 if context_classes else 0)] + [hidden] * layers
        blocks = [m for a, b in zip(sizes[:-1], sizes[1:]) for m in (nn.Linear(a, b), nn.ReLU())]
        self.net = nn.Sequential(*blocks, nn.Linear(sizes[-1], features))

    def forward(self, z, context=None):
        return self.net(self._embed(z, context))


class SegmentGenerator(nn.Module):
    """The one-parameter generator of the parallel-lines example (chapter 07): z (B, 1) ~ N(0, 1) →
    (θ, Φ(z)), uniform on the vertical segment {θ} × [0, 1] (Φ: the standard normal CDF). θ is the only
    parameter; the data are the segment at 0 (``data.parallel_lines(n, 0.0)``)."""

    latent_dim, output_shape = 1, (2,)

    def __init__(self, theta: float = 1.0):
        super().__init__()
        self.theta = nn.Parameter(torch.tensor(finite_float(theta, "theta")))

    def forward(self, z, context=None):
        height = 0.5 * (1 + torch.erf(z[:, 0] / math.sqrt(2)))
        return torch.stack([self.theta.expand(len(z)), height], 1)


class MLPDiscriminator(_Conditioned):
    """D: x (B, features) [+ class] → logits (B,), LeakyReLU MLP; ``spectral``: spectral norm on every layer;
    ``minibatch_std``: the batch-spread feature before the last layer."""

    def __init__(self, features: int = 2, hidden: int = 128, layers: int = 3, spectral: bool = False,
                 minibatch_std: bool = False, context_classes: int | None = None):
        super().__init__()
        features, hidden, layers = (positive_int(v, n) for v, n in ((features, "features"), (hidden, "hidden"),
                                                                    (layers, "layers")))
        self.embedding = nn.Embedding(positive_int(context_classes, "context_classes"), 8) if context_classes else None
        sizes = [features + (8 if context_classes else 0)] + [hidden] * layers
        blocks = [m for a, b in zip(sizes[:-1], sizes[1:])
                  for m in (_maybe_spectral(nn.Linear(a, b), spectral), nn.LeakyReLU(0.2))]
        self.body = nn.Sequential(*blocks)
        self.minibatch_std = MinibatchStd() if minibatch_std else None
        self.head = _maybe_spectral(nn.Linear(hidden + (1 if minibatch_std else 0), 1), spectral)

    def forward(self, x, context=None):
        h = self.body(self._embed(x, context))
        if self.minibatch_std is not None:
            h = self.minibatch_std(h)
        return self.head(h)[:, 0]


class DCGenerator(_Conditioned):
    """DCGAN generator for square one-channel images of side 8 or 28 (any side divisible by 4): z [+ class] →
    linear → (2c, s/4, s/4) → two stride-2 transposed convolutions (up-convolutions) → tanh image (B, 1, s, s).
    Batch normalization between layers, as in DCGAN (Radford et al., 2016)."""

    def __init__(self, latent_dim: int = 16, side: int = 8, channels: int = 64, context_classes: int | None = None):
        super().__init__()
        self.latent_dim, self.side = positive_int(latent_dim, "latent_dim"), positive_int(side, "side")
        if side % 4:
            raise ValueError(f"side must be divisible by 4 (two up-convolutions), got {side}")
        self.output_shape = (1, side, side)
        c = self.channels = positive_int(channels, "channels")
        self.embedding = nn.Embedding(positive_int(context_classes, "context_classes"), 16) if context_classes else None
        self.project = nn.Sequential(nn.Linear(latent_dim + (16 if context_classes else 0), 2 * c * (side // 4) ** 2),
                                     nn.BatchNorm1d(2 * c * (side // 4) ** 2), nn.ReLU())
        self.net = nn.Sequential(nn.ConvTranspose2d(2 * c, c, 4, stride=2, padding=1), nn.BatchNorm2d(c), nn.ReLU(),
                                 nn.ConvTranspose2d(c, 1, 4, stride=2, padding=1), nn.Tanh())

    def forward(self, z, context=None):
        h = self.project(self._embed(z, context)).reshape(len(z), 2 * self.channels, self.side // 4, self.side // 4)
        return self.net(h)


class DCDiscriminator(_Conditioned):
    """DCGAN discriminator: two stride-2 convolutions with LeakyReLU, then a linear logit (B,). A class
    enters as an extra constant input channel per class (one-hot planes). ``spectral``: spectral norm on
    every layer (then no normalization layers, as in Miyato et al.)."""

    def __init__(self, side: int = 8, channels: int = 64, spectral: bool = False, context_classes: int | None = None):
        super().__init__()
        self.side = positive_int(side, "side")
        if side % 4:
            raise ValueError(f"side must be divisible by 4, got {side}")
        c = positive_int(channels, "channels")
        self.classes = positive_int(context_classes, "context_classes") if context_classes else 0
        self.embedding = None
        self.net = nn.Sequential(_maybe_spectral(nn.Conv2d(1 + self.classes, c, 4, stride=2, padding=1), spectral),
                                 nn.LeakyReLU(0.2),
                                 _maybe_spectral(nn.Conv2d(c, 2 * c, 4, stride=2, padding=1), spectral),
                                 nn.LeakyReLU(0.2), nn.Flatten(),
                                 _maybe_spectral(nn.Linear(2 * c * (side // 4) ** 2, 1), spectral))

    def forward(self, x, context=None):
        if self.classes:
            planes = F.one_hot(context, self.classes).to(x.dtype)[:, :, None, None].expand(-1, -1, *x.shape[2:])
            x = torch.cat([x, planes], dim=1)
        return self.net(x)[:, 0]


class GAN(Sampler):
    """A generator and a discriminator (or critic) and the game they play.

    ``generator(z, context)`` → examples, with ``latent_dim`` and ``output_shape`` attributes;
    ``discriminator(x, context)`` → logits (B,). ``loss``: one of ``LOSSES``. For images of integer levels give
    ``levels``: D then sees dequantized images scaled to [−1, 1) and ``sample`` returns integer levels.
    ``gradient_penalty`` (λ, WGAN-GP) and ``clip`` (WGAN's weight clipping) constrain a critic.
    ``context_classes``: a class-conditional GAN (both networks take the labels).
    """

    def __init__(self, generator: nn.Module, discriminator: nn.Module, *, loss: str = "non_saturating",
                 levels: int | None = None, gradient_penalty: float = 0.0, clip: float | None = None,
                 context_classes: int | None = None):
        super().__init__()
        for name, net in (("generator", generator), ("discriminator", discriminator)):
            if not isinstance(net, nn.Module):
                raise TypeError(f"{name} must be a torch.nn.Module, got {type(net).__name__}")
        if not hasattr(generator, "latent_dim") or not hasattr(generator, "output_shape"):
            raise TypeError("generator must have latent_dim and output_shape attributes (e.g. MLPGenerator)")
        self.generator, self.discriminator = generator, discriminator
        self.latent_dim, self.shape = generator.latent_dim, tuple(generator.output_shape)
        self.loss_kind = _check_loss(loss)
        self.levels = None if levels is None else positive_int(levels, "levels", minimum=2)
        self.gradient_penalty = positive_float(gradient_penalty, "gradient_penalty", allow_zero=True)
        self.clip = None if clip is None else positive_float(clip, "clip")
        self.context_classes = None if context_classes is None else positive_int(context_classes, "context_classes")

    # -- data ------------------------------------------------------------------------------------------
    def check_input(self, x, name: str = "x") -> torch.Tensor:
        """Training examples: images of integer levels (B, *shape) when ``levels`` is set, else vectors."""
        if self.levels is not None:
            return as_level_images(x, name, self.shape, self.levels).to(self.device)
        x = as_float_tensor(x, name)
        if tuple(x.shape[1:]) != self.shape:
            raise ValueError(f"{name} must have shape (B, {', '.join(map(str, self.shape))}), got {tuple(x.shape)}")
        return x.to(self.device)

    def prepare(self, x: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        """Checked examples as D sees them: images dequantized and scaled to [−1, 1); vectors unchanged."""
        if self.levels is None:
            return x
        u = randomness.uniform(x.shape, generator=generator, device=x.device, dtype=x.dtype)
        return 2 * (x + u) / self.levels - 1

    # -- the two players ---------------------------------------------------------------------------------
    def latent(self, n: int, generator: torch.Generator | None = None) -> torch.Tensor:
        """n latent codes z ~ N(0, I), (n, latent_dim), on the model's device."""
        return randomness.normal((positive_int(n, "n"), self.latent_dim), generator=generator, device=self.device)

    def generate(self, z, context=None) -> torch.Tensor:
        """G(z) in D's space (continuous; in [−1, 1] for images), (B, *shape). Differentiable."""
        z = as_float_tensor(z, "z", ndim=2, last_dim=self.latent_dim).to(self.device)
        return self.generator(z, self.check_context(context, len(z)))

    def discriminate(self, x, context=None) -> torch.Tensor:
        """D's logits (B,) for examples in D's space (``prepare`` maps data there). Differentiable."""
        x = as_float_tensor(x, "x").to(self.device)
        if tuple(x.shape[1:]) != self.shape:
            raise ValueError(f"x must have shape (B, {', '.join(map(str, self.shape))}), got {tuple(x.shape)}")
        return self.discriminator(x, self.check_context(context, len(x)))

    def to_data(self, y: torch.Tensor) -> torch.Tensor:
        """Generated examples in the data's own space: integer levels ⌊L (y + 1)/2⌋ for images."""
        if self.levels is None:
            return y
        return torch.floor(self.levels * (y + 1) / 2).clamp(0, self.levels - 1)

    def _sample(self, n, generator, context):
        return self.to_data(self.generator(self.latent(n, generator), context))

    # -- what the training loop minimises, on validated data -----------------------------------------------
    def _discriminator_terms(self, real, context, generator) -> tuple[torch.Tensor, torch.Tensor]:
        """D's loss on a batch of real examples (already in D's space) against as many fresh fakes, as
        (the game's term, the gradient penalty λ·GP or 0): for a WGAN the first is −(the critic's W estimate)."""
        with torch.no_grad():
            fake = self.generator(self.latent(len(real), generator), context)
        loss = discriminator_loss(self.discriminator(real, context), self.discriminator(fake, context), self.loss_kind)
        penalty = torch.zeros((), device=loss.device)
        if self.gradient_penalty:
            penalty = self.gradient_penalty * gradient_penalty(self.discriminator, real, fake, generator, context)
        return loss, penalty

    def _discriminator_loss(self, real, context, generator):
        """What D minimises: the game's term plus the penalty."""
        return sum(self._discriminator_terms(real, context, generator))

    def _generator_loss(self, real, context, generator):
        """G's loss on as many fresh fakes as ``real`` (a minibatch in D's space; a GAN uses its size only)."""
        fake = self.generator(self.latent(len(real), generator), context)
        return generator_loss(self.discriminator(fake, context), self.loss_kind)

    def _after_discriminator_step(self):
        if self.clip is not None:
            clip_weights(self.discriminator, self.clip)

    def generator_parameters(self):
        return self.generator.parameters()

    def discriminator_parameters(self):
        return self.discriminator.parameters()


class ConvEncoder(nn.Module):
    """BiGAN's encoder E: image (B, 1, s, s) in [−1, 1] → code (B, latent_dim); two stride-2 convolutions
    (the DCGAN discriminator's body) and a linear layer."""

    def __init__(self, latent_dim: int = 16, side: int = 8, channels: int = 64):
        super().__init__()
        self.latent_dim, self.side = positive_int(latent_dim, "latent_dim"), positive_int(side, "side")
        if side % 4:
            raise ValueError(f"side must be divisible by 4, got {side}")
        c = positive_int(channels, "channels")
        self.net = nn.Sequential(nn.Conv2d(1, c, 4, stride=2, padding=1), nn.LeakyReLU(0.2),
                                 nn.Conv2d(c, 2 * c, 4, stride=2, padding=1), nn.BatchNorm2d(2 * c),
                                 nn.LeakyReLU(0.2), nn.Flatten(), nn.Linear(2 * c * (side // 4) ** 2, latent_dim))

    def forward(self, x):
        return self.net(x)


class JointDiscriminator(nn.Module):
    """BiGAN's discriminator on pairs: D(x, z) → logits (B,). The image goes through the DCGAN
    discriminator's convolutions, the code through a linear layer; the two feature vectors are joined and a
    small MLP (with dropout, as in Donahue et al.) decides."""

    def __init__(self, latent_dim: int = 16, side: int = 8, channels: int = 64, hidden: int = 256,
                 dropout: float = 0.2):
        super().__init__()
        latent_dim, side = positive_int(latent_dim, "latent_dim"), positive_int(side, "side")
        if side % 4:
            raise ValueError(f"side must be divisible by 4, got {side}")
        c, hidden = positive_int(channels, "channels"), positive_int(hidden, "hidden")
        dropout = dropout_rate(dropout)
        self.image = nn.Sequential(nn.Conv2d(1, c, 4, stride=2, padding=1), nn.LeakyReLU(0.2),
                                   nn.Conv2d(c, 2 * c, 4, stride=2, padding=1), nn.LeakyReLU(0.2), nn.Flatten())
        self.code = nn.Sequential(nn.Linear(latent_dim, hidden), nn.LeakyReLU(0.2))
        self.head = nn.Sequential(Dropout(dropout), nn.Linear(2 * c * (side // 4) ** 2 + hidden, hidden),
                                  nn.LeakyReLU(0.2), Dropout(dropout), nn.Linear(hidden, 1))

    def forward(self, x, z):
        return self.head(torch.cat([self.image(x), self.code(z)], dim=1))[:, 0]


class BiGAN(GAN):
    """Bidirectional GAN / ALI (Donahue et al., 2017; Dumoulin et al., 2017): an encoder E: x → z learnt
    with the generator. D sees pairs and tells (x, E(x)), x ~ data, from (G(z), z), z ~ N(0, I); G and E
    together fool it. At the optimum the two joint distributions agree, so E and G invert each other.

    ``encoder(x)`` → (B, latent_dim); ``discriminator(x, z)`` → logits (B,). E plays G's game with the labels
    swapped: its loss is the generator loss of the negated logits of the real pairs.
    """

    def __init__(self, generator: nn.Module, encoder: nn.Module, discriminator: nn.Module, *,
                 loss: str = "non_saturating", levels: int | None = None):
        super().__init__(generator, discriminator, loss=loss, levels=levels)
        if not isinstance(encoder, nn.Module):
            raise TypeError(f"encoder must be a torch.nn.Module, got {type(encoder).__name__}")
        self.encoder = encoder

    def _data_space(self, x):
        """Checked data mapped to D's space without noise: level k → the centre of its bin."""
        x = self.check_input(x)
        return x if self.levels is None else 2 * (x + 0.5) / self.levels - 1

    def encode(self, x) -> torch.Tensor:
        """E(x) for data x (integer levels for images), (B, latent_dim)."""
        return self.encoder(self._data_space(x))

    def reconstruct(self, x) -> torch.Tensor:
        """G(E(x)) in the data's space (integer levels for images), (B, *shape)."""
        return self.to_data(self.generator(self.encode(x)))

    def discriminate(self, x, z) -> torch.Tensor:
        """D's logits (B,) for pairs (x in D's space, z). Differentiable."""
        x = as_float_tensor(x, "x").to(self.device)
        if tuple(x.shape[1:]) != self.shape:
            raise ValueError(f"x must have shape (B, {', '.join(map(str, self.shape))}), got {tuple(x.shape)}")
        z = as_float_tensor(z, "z", ndim=2, last_dim=self.latent_dim).to(self.device)
        if len(z) != len(x):
            raise ValueError(f"z must have one code per example ({len(x)}), got {len(z)}")
        return self.discriminator(x, z)

    def _discriminator_terms(self, real, context, generator):
        with torch.no_grad():
            code = self.encoder(real)
            z = self.latent(len(real), generator)
            fake = self.generator(z)
        loss = discriminator_loss(self.discriminator(real, code), self.discriminator(fake, z), self.loss_kind)
        return loss, torch.zeros((), device=loss.device)

    def _generator_loss(self, real, context, generator):
        z = self.latent(len(real), generator)
        fooled_on_fakes = generator_loss(self.discriminator(self.generator(z), z), self.loss_kind)
        fooled_on_reals = generator_loss(-self.discriminator(real, self.encoder(real)), self.loss_kind)
        return fooled_on_fakes + fooled_on_reals

    def generator_parameters(self):
        return list(self.generator.parameters()) + list(self.encoder.parameters())
