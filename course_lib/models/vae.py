"""Variational autoencoders (Kingma & Welling, 2014; Rezende et al., 2014) and the importance-weighted
bound (Burda et al., 2016), for images with discrete grey levels.

The encoder gives a diagonal Gaussian q(z | x) = N(μ(x), diag σ²(x)); the prior is N(0, I). The decoder
(``likelihood="categorical"``, the default) gives, per pixel, a categorical distribution over the grey
levels (``levels`` > 2) or a Bernoulli (``levels`` == 2, binarized images), so log p(x | z) is an exact
log-probability on the data's own discrete scale. With ``likelihood="gaussian"`` (AEVB's Gaussian decoder)
it gives, per pixel, a Gaussian N(μ(z), σ²) truncated to [0, levels): a proper density on the
dequantized images v = x + u, u ~ U[0, 1)^D, whose bounds are dequantization bounds on the same discrete
log-probability (Theis et al., 2016). All bounds are in nats per image.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from .. import randomness
from ..distributions import (LOG_2PI, importance_weighted_bound, log_mean_exp, reparameterize, standard_normal_kl,
                             standard_normal_log_prob)
from ..nn.dropout import Dropout
from ..nn.transforms import Composite, MaskedAutoregressive
from ..validation import dropout_rate, as_float_tensor, as_level_images, generator_or_none, positive_float, positive_int
from .base import ImageModel

ARCHITECTURES = ("mlp", "conv")
LIKELIHOODS = ("categorical", "gaussian")
GAUSSIAN_SCALES = ("pixel", "decoder")


def _mlp(sizes: list[int], dropout: float) -> nn.Sequential:
    layers: list[nn.Module] = []
    for i, (a, b) in enumerate(zip(sizes[:-1], sizes[1:])):
        if i == 1 and dropout:
            layers.append(Dropout(dropout))  # after the first hidden layer: regularises 1000-image training
        layers.append(nn.Linear(a, b))
        if i < len(sizes) - 2:
            layers.append(nn.Tanh())
    return nn.Sequential(*layers)


class _ConvEncoder(nn.Module):
    """(B, 1, H, W) → (B, 2q): two 3×3 / 4×4 convolutions (the second halves H and W), then linear."""

    def __init__(self, side: int, outputs: int, channels: int, dropout: float):
        super().__init__()
        self.net = nn.Sequential(nn.Conv2d(1, channels, 3, padding=1), nn.Tanh(), Dropout(dropout),
                                 nn.Conv2d(channels, 2 * channels, 4, stride=2, padding=1), nn.Tanh(),
                                 nn.Flatten(), nn.Linear(2 * channels * (side // 2) ** 2, outputs))

    def forward(self, x):
        return self.net(x)


class _ConvDecoder(nn.Module):
    """(..., q) → (..., H·W·out): linear to a (2c, H/2, W/2) map, a transposed convolution back to H × W."""

    def __init__(self, side: int, latent_dim: int, channels: int, out: int, dropout: float):
        super().__init__()
        self.side, self.channels, self.out = side, channels, out
        self.project = nn.Sequential(nn.Linear(latent_dim, 2 * channels * (side // 2) ** 2), nn.Tanh(),
                                     Dropout(dropout))
        self.net = nn.Sequential(nn.ConvTranspose2d(2 * channels, channels, 4, stride=2, padding=1), nn.Tanh(),
                                 nn.Conv2d(channels, out, 3, padding=1))

    def forward(self, z):
        lead = z.shape[:-1]
        h = self.project(z.reshape(-1, z.shape[-1])).reshape(-1, 2 * self.channels, self.side // 2, self.side // 2)
        logits = self.net(h).permute(0, 2, 3, 1)                           # (N, H, W, out)
        return logits.reshape(*lead, self.side * self.side * self.out)


class VAE(ImageModel):
    """A VAE for (B, 1, H, W) images with integer grey levels 0..levels-1.

    ``loss(x)`` is the negative β-ELBO (β = ``beta``; 1 gives the ELBO); ``log_prob(x)`` is the
    importance-weighted estimate with ``k`` samples, a stochastic lower bound on log p(x). Every method
    that draws noise takes ``generator=``. ``posterior_flows`` = K > 0 makes q(z | x) an IAF posterior
    (K masked autoregressive steps conditioned on the encoder; chapter 05): a tighter ELBO, whose KL term
    is then estimated by sampling.

    ``likelihood="gaussian"``: per pixel, a Gaussian truncated to [0, levels) with mean μ = levels · sigmoid(a),
    a the decoder's output, and standard deviation σ: one learned σ per pixel, the same for every code
    (``gaussian_scale="pixel"``: the reconstruction term is then a squared error weighted by 1/(2σ²), plus
    terms that do not depend on the code away from the edges), or σ(z), a second output of the decoder
    (``gaussian_scale="decoder"``, as in Kingma & Welling, 2014). The encoder reads the integer image x;
    the reconstruction term is the log-density of the dequantized image v = x + u (u ~ U[0, 1)^D, drawn
    afresh at every call), so the ELBO, the IWAE (k pairs (u_i, z_i)) and ``log_prob`` are lower bounds on
    the discrete log P(x) = log ∫_{[0,1)^D} p(x + u) du. Samples are ⌊v⌋ for v ~ p(v | z).
    """

    log_prob_is_estimate = True

    def __init__(self, image_shape=(1, 8, 8), levels: int = 17, latent_dim: int = 8, hidden: int = 256,
                 architecture: str = "mlp", dropout: float = 0.2, beta: float = 1.0, posterior_flows: int = 0,
                 likelihood: str = "categorical", gaussian_scale: str = "pixel"):
        super().__init__(image_shape, levels)
        if self.image_shape[0] != 1 or self.image_shape[1] != self.image_shape[2]:
            raise ValueError(f"image_shape must be (1, H, H): one channel, square, got {self.image_shape}")
        self.latent_dim = positive_int(latent_dim, "latent_dim")
        hidden = positive_int(hidden, "hidden")
        if architecture not in ARCHITECTURES:
            raise ValueError(f"architecture must be one of {ARCHITECTURES}, got {architecture!r}")
        self.architecture = architecture
        dropout = dropout_rate(dropout)
        self.beta = positive_float(beta, "beta", allow_zero=True)
        if likelihood not in LIKELIHOODS:
            raise ValueError(f"likelihood must be one of {LIKELIHOODS}, got {likelihood!r}")
        self.likelihood = likelihood
        if gaussian_scale not in GAUSSIAN_SCALES:
            raise ValueError(f"gaussian_scale must be one of {GAUSSIAN_SCALES}, got {gaussian_scale!r}")
        self.gaussian_scale = gaussian_scale
        # Outputs a pixel. Gaussian: the mean, and the log-scale when the decoder gives it; Bernoulli: one
        # logit; categorical: one per level.
        if likelihood == "gaussian":
            out = 2 if gaussian_scale == "decoder" else 1
            if gaussian_scale == "pixel":
                # log σ of each pixel, shared by all z; it starts at L/8 grey levels, the scale of a stroke edge
                self.log_scale = nn.Parameter(torch.full((self.pixels,), math.log(self.levels / 8)))
        else:
            out = 1 if self.levels == 2 else self.levels
        side = self.image_shape[1]
        # An IAF posterior (Kingma et al., 2016): z_0 ~ N(μ(x), σ²(x)), then K autoregressive steps conditioned
        # on features h(x) that the encoder also outputs; log q(z_K | x) = log q(z_0 | x) − Σ log-dets.
        self.posterior_flows = positive_int(posterior_flows, "posterior_flows", minimum=0)
        if self.posterior_flows and hidden < 4:
            raise ValueError(f"hidden must be ≥ 4 with posterior_flows (the flow's layers have hidden // 4 units), "
                             f"got {hidden}")
        self.context_size = 2 * latent_dim if self.posterior_flows else 0
        encoder_outputs = 2 * latent_dim + self.context_size
        self.posterior_flow = Composite([MaskedAutoregressive(
            latent_dim, hidden=(hidden // 4, hidden // 4), context_features=self.context_size,
            order=torch.arange(latent_dim) if i % 2 == 0 else torch.arange(latent_dim - 1, -1, -1))
            for i in range(self.posterior_flows)]) if self.posterior_flows else None
        if architecture == "mlp":
            self.encoder = _mlp([self.pixels, hidden, hidden, encoder_outputs], dropout)
            self.decoder = _mlp([latent_dim, hidden, hidden, self.pixels * out], dropout)
        else:
            if side % 2:
                raise ValueError(f"the conv architecture needs an even image side, got {side}")
            channels = max(hidden // 8, 8)
            self.encoder = _ConvEncoder(side, encoder_outputs, channels, dropout)
            self.decoder = _ConvDecoder(side, latent_dim, channels, out, dropout)

    # -- checks at the boundary ----------------------------------------------------------------------

    def _check_codes(self, z, name: str = "z") -> torch.Tensor:
        return as_float_tensor(z, name, last_dim=self.latent_dim).to(self.device)

    @property
    def _outputs(self) -> int:
        """Numbers the decoder gives per pixel (0: one logit, the Bernoulli case)."""
        if self.likelihood == "gaussian":
            return 2
        return 0 if self.levels == 2 else self.levels

    def _check_logits(self, logits, batch: int) -> torch.Tensor:
        logits = as_float_tensor(logits, "logits").to(self.device)
        tail = (batch, self.pixels, self._outputs) if self._outputs else (batch, self.pixels)
        if tuple(logits.shape[-len(tail):]) != tail:
            raise ValueError(f"logits must have shape (..., {', '.join(map(str, tail))}) for {batch} images, "
                             f"got {tuple(logits.shape)}")
        return logits

    # -- the two networks -------------------------------------------------------------------------

    def encode(self, x) -> tuple[torch.Tensor, torch.Tensor]:
        """Parameters of q(z | x): mean and log-variance, each (B, latent_dim)."""
        return self._encode(self.check_input(x))

    def _encode(self, x):
        return self._encode_all(x)[:2]

    def _encode_all(self, x):
        """(mean, log-variance) of q(z_0 | x), each (B, q), and the posterior flow's context h(x) (or None)."""
        scaled = self.scaled(x)                                            # grey levels → [-1, 1]
        out = self.encoder(scaled.reshape(len(x), -1) if self.architecture == "mlp" else scaled)
        q = self.latent_dim
        return out[:, :q], out[:, q:2 * q], (out[:, 2 * q:] if self.posterior_flows else None)

    def _posterior_sample(self, mean, log_var, context, eps):
        """z ~ q(z | x) and log q(z | x) from standard-normal noise eps (..., B, q): reparameterized, then the flow."""
        z = reparameterize(mean, log_var, eps)
        log_q = standard_normal_log_prob(eps) - 0.5 * log_var.sum(-1)     # log q(z_0 | x), from ε directly
        if self.posterior_flow is None:
            return z, log_q
        lead = z.shape[:-1]
        flat_context = context.expand(*lead, context.shape[-1]).reshape(-1, context.shape[-1])
        z_k, logabsdet = self.posterior_flow._forward(z.reshape(-1, self.latent_dim), flat_context)
        return z_k.reshape(*lead, self.latent_dim), log_q - logabsdet.reshape(lead)

    def decode(self, z) -> torch.Tensor:
        """Parameters of p(x | z): (..., latent_dim) → logits (..., H·W, levels), or (..., H·W) for
        Bernoulli pixels, or (..., H·W, 2) for the Gaussian decoder (see ``gaussian_parameters``)."""
        return self._decode(self._check_codes(z))

    def _decode(self, z):
        logits = self.decoder(z)
        if self.likelihood == "gaussian" and self.gaussian_scale == "pixel":
            return torch.stack([logits, self.log_scale.expand_as(logits)], dim=-1)
        return logits.reshape(*z.shape[:-1], self.pixels, self._outputs) if self._outputs else logits

    def gaussian_parameters(self, logits) -> tuple[torch.Tensor, torch.Tensor]:
        """Mean μ ∈ (0, levels) and standard deviation σ of each pixel's Gaussian (before its truncation to
        [0, levels)), from the Gaussian decoder's output (..., H·W, 2): each (..., H·W)."""
        if self.likelihood != "gaussian":
            raise ValueError(f"gaussian_parameters needs likelihood='gaussian', this VAE's is {self.likelihood!r}")
        logits = as_float_tensor(logits, "logits").to(self.device)
        if logits.dim() < 2 or tuple(logits.shape[-2:]) != (self.pixels, 2):
            raise ValueError(f"logits must have shape (..., {self.pixels}, 2), got {tuple(logits.shape)}")
        return self._gaussian_parameters(logits)

    def _gaussian_parameters(self, logits):
        return self.levels * torch.sigmoid(logits[..., 0]), torch.exp(logits[..., 1])

    def _truncated_mass(self, mean, scale):
        """Φ((L − μ)/σ) − Φ(−μ/σ): the mass of N(μ, σ²) on [0, L), the truncated density's normaliser."""
        return torch.special.ndtr((self.levels - mean) / scale) - torch.special.ndtr(-mean / scale)

    def log_likelihood(self, x, logits) -> torch.Tensor:
        """log p(x | z), summed over pixels: x (B, 1, H, W), logits (..., B, H·W[, outputs]) → (..., B).

        Categorical or Bernoulli decoder: x holds integer grey levels, the result is a log-probability.
        Gaussian decoder: x holds dequantized levels v ∈ [0, levels), the result is a log-density."""
        x = as_level_images(x, "x", self.image_shape, self.levels,
                            integer=self.likelihood != "gaussian").to(self.device)
        return self._log_likelihood(x, self._check_logits(logits, len(x)))

    def _log_likelihood(self, x, logits):
        """x (..., B, 1, H, W) (leading dimensions only for the Gaussian decoder's dequantized images)."""
        target = x.reshape(*x.shape[:-3], -1)
        if self.likelihood == "gaussian":
            mean, scale = self._gaussian_parameters(logits)
            standardized = (target - mean) / scale
            log_density = -0.5 * (standardized ** 2 + LOG_2PI) - torch.log(scale)
            return (log_density - torch.log(self._truncated_mass(mean, scale))).sum(-1)
        if self.levels == 2:
            return -F.binary_cross_entropy_with_logits(logits, target.expand_as(logits), reduction="none").sum(-1)
        log_probs = torch.log_softmax(logits, dim=-1)
        index = target.long().expand(*logits.shape[:-1]).unsqueeze(-1)
        return log_probs.gather(-1, index).squeeze(-1).sum(-1)

    def _observed(self, x, generator, lead=()):
        """What the decoder scores: the integer images, or for the Gaussian decoder v = x + u, u ~ U[0, 1)
        drawn with ``generator`` (shape (*lead, B, 1, H, W))."""
        if self.likelihood != "gaussian":
            return x
        return x + randomness.uniform((*lead, *x.shape), generator=generator, device=x.device, dtype=x.dtype)

    # -- bounds ----------------------------------------------------------------------------------

    def elbo_terms(self, x, *, generator: torch.Generator | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """One-sample reconstruction term E_q[log p(x | z)] and the closed-form KL(q ‖ p), each (B,).
        (Gaussian decoder: the reconstruction term scores one dequantized v = x + u.)"""
        generator_or_none(generator)
        return self._elbo_terms(self.check_input(x), generator)

    def _elbo_terms(self, x, generator):
        mean, log_var, context = self._encode_all(x)
        if self.posterior_flow is None:
            z = reparameterize(mean, log_var, generator=generator)
            return self._log_likelihood(self._observed(x, generator), self._decode(z)), standard_normal_kl(mean, log_var)
        # With a flow, KL(q ‖ p) has no closed form: its one-sample estimate log q(z | x) − log p(z).
        eps = randomness.normal(mean.shape, generator=generator, device=mean.device, dtype=mean.dtype)
        z, log_q = self._posterior_sample(mean, log_var, context, eps)
        return self._log_likelihood(self._observed(x, generator), self._decode(z)), log_q - standard_normal_log_prob(z)

    def elbo(self, x, *, generator: torch.Generator | None = None) -> torch.Tensor:
        """Single-sample estimate of the ELBO = E_q[log p(x | z)] − KL(q(z | x) ‖ p(z)), (B,), nats."""
        reconstruction, kl = self.elbo_terms(x, generator=generator)
        return reconstruction - kl

    def _loss(self, x, context, generator):
        """Negative β-ELBO, averaged over the batch (β = 1: the plain negative ELBO)."""
        reconstruction, kl = self._elbo_terms(x, generator)
        return -(reconstruction - self.beta * kl).mean()

    def iwae_bound(self, x, k: int, eps: torch.Tensor | None = None, *,
                   generator: torch.Generator | None = None) -> torch.Tensor:
        """log (1/k) Σ_i p(x, z_i) / q(z_i | x) with z_i ~ q(z | x): a lower bound on log p(x) that
        tightens as k grows (Burda et al., 2016); k = 1 is the ELBO. ``eps``: optional fixed noise
        of shape (k, B, latent_dim). Gaussian decoder: the i-th weight scores its own dequantized
        x + u_i (drawn with ``generator``), a bound on the discrete log P(x). Returns (B,), nats."""
        x = self.check_input(x)
        k = positive_int(k, "k")
        generator_or_none(generator)
        if eps is not None:
            eps = as_float_tensor(eps, "eps").to(self.device)
            if tuple(eps.shape) != (k, len(x), self.latent_dim):
                raise ValueError(f"eps must have shape ({k}, {len(x)}, {self.latent_dim}) (k, B, latent_dim), "
                                 f"got {tuple(eps.shape)}")
        return self._iwae_bound(x, k, eps, generator)

    def _iwae_bound(self, x, k, eps, generator):
        mean, log_var, context = self._encode_all(x)

        def log_joint(z):  # log p(x | z) + log p(z), (k, B)
            observed = self._observed(x, generator, lead=z.shape[:1])
            return self._log_likelihood(observed, self._decode(z)) + standard_normal_log_prob(z)

        if self.posterior_flow is None:
            return importance_weighted_bound(log_joint, mean, log_var, k, eps, generator=generator)
        if eps is None:
            eps = randomness.normal((k, *mean.shape), generator=generator, device=mean.device, dtype=mean.dtype)
        z, log_q = self._posterior_sample(mean, log_var, context, eps)
        return log_mean_exp(log_joint(z) - log_q, dim=0)

    def log_prob(self, x, *, context=None, k: int = 1000, chunk: int = 100,
                 generator: torch.Generator | None = None) -> torch.Tensor:
        """IWAE estimate of log p(x) with k samples, in chunks of ``chunk`` samples to bound memory; (B,), nats."""
        x = self.check_input(x)
        self.check_context(context, len(x))
        k, chunk = positive_int(k, "k"), positive_int(chunk, "chunk")
        generator_or_none(generator)
        return self._log_prob(x, None, generator, k, chunk)

    def _log_prob(self, x, context, generator=None, k: int = 1000, chunk: int = 100):
        # log (1/k) Σ over all k weights = logsumexp over chunks of (bound_c + log k_c) − log k
        parts = [self._iwae_bound(x, size, None, generator) + math.log(size)
                 for size in (min(chunk, k - start) for start in range(0, k, chunk))]
        return torch.logsumexp(torch.stack(parts), dim=0) - math.log(k)

    # -- generation --------------------------------------------------------------------------------

    def decode_mean(self, z) -> torch.Tensor:
        """E[x | z], the expected grey level of every pixel: (N, latent_dim) → (N, 1, H, W). Blurry by design.
        (Gaussian decoder: the expected level ⌊v⌋ = Σ_{k ≥ 1} P(v ≥ k), from the truncated Gaussian's CDF.)"""
        z = self._check_codes(z)
        if z.dim() != 2:
            raise ValueError(f"z must have shape (N, {self.latent_dim}), got {tuple(z.shape)}")
        logits = self._decode(z)
        if self.likelihood == "gaussian":
            mean, scale = self._gaussian_parameters(logits)
            thresholds = torch.arange(1, self.levels, device=logits.device, dtype=logits.dtype)
            above = (torch.special.ndtr((self.levels - mean) / scale)[..., None]
                     - torch.special.ndtr((thresholds - mean[..., None]) / scale[..., None]))   # P(v ≥ k) · mass
            mean = above.sum(-1) / self._truncated_mass(mean, scale)
        elif self.levels == 2:
            mean = torch.sigmoid(logits)
        else:
            levels = torch.arange(self.levels, device=logits.device, dtype=logits.dtype)
            mean = (torch.softmax(logits, -1) * levels).sum(-1)
        return mean.reshape(len(z), *self.image_shape)

    def _sample(self, n, generator, context):
        """z ~ N(0, I), then every pixel drawn from p(x | z): integer grey levels, (n, 1, H, W)."""
        z = randomness.normal((n, self.latent_dim), generator=generator, device=self.device)
        logits = self._decode(z)
        if self.likelihood == "gaussian":
            # Inverse CDF of the truncated Gaussian: v = μ + σ Φ⁻¹(Φ(−μ/σ) + U · mass), then the level ⌊v⌋.
            mean, scale = self._gaussian_parameters(logits)
            low = torch.special.ndtr(-mean / scale)
            u = randomness.uniform(mean.shape, generator=generator, device=mean.device, dtype=mean.dtype)
            p = (low + u * self._truncated_mass(mean, scale)).clamp(1e-7, 1 - 1e-7)
            v = mean + scale * torch.special.ndtri(p)
            return torch.floor(v).clamp(0, self.levels - 1).reshape(n, *self.image_shape)
        if self.levels == 2:
            pixels = randomness.bernoulli(torch.sigmoid(logits), generator=generator)
        else:
            pixels = randomness.categorical(torch.softmax(logits, -1), generator=generator).to(logits.dtype)
        return pixels.reshape(n, *self.image_shape)
