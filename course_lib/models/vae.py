"""Variational autoencoders (Kingma & Welling, 2014; Rezende et al., 2014) and the importance-weighted
bound (Burda et al., 2016), for images with discrete grey levels.

The encoder gives a diagonal Gaussian q(z | x) = N(μ(x), diag σ²(x)); the prior is N(0, I); the decoder
gives, per pixel, a categorical distribution over the grey levels (``levels`` > 2) or a Bernoulli
(``levels`` == 2, binarized images), so log p(x | z) is an exact log-probability on the data's own
discrete scale. All bounds are in nats per image.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from .base import DensityModel
from ..validation import as_level_images, generator_or_none, positive_float, positive_int

ARCHITECTURES = ("mlp", "conv")


def gaussian_kl(mean: torch.Tensor, log_var: torch.Tensor) -> torch.Tensor:
    """KL(N(mean, diag exp(log_var)) ‖ N(0, I)) in closed form, summed over the last dimension → (B,)."""
    return 0.5 * (mean ** 2 + log_var.exp() - 1.0 - log_var).sum(-1)


def reparameterize(mean: torch.Tensor, log_var: torch.Tensor, eps: torch.Tensor | None = None) -> torch.Tensor:
    """z = μ + σ ⊙ ε with ε ~ N(0, I): a sample of q whose randomness does not depend on (μ, σ),
    so gradients flow through μ and σ. ``eps`` may be given (its shape broadcasts against mean)."""
    if eps is None:
        eps = torch.randn_like(mean)
    return mean + torch.exp(0.5 * log_var) * eps


def log_mean_exp(values: torch.Tensor, dim: int = 0) -> torch.Tensor:
    """log (1/K) Σ_k exp(values_k) along ``dim``, computed stably."""
    return torch.logsumexp(values, dim=dim) - math.log(values.shape[dim])


def importance_weighted_bound(log_joint, mean: torch.Tensor, log_var: torch.Tensor, k: int,
                              eps: torch.Tensor | None = None) -> torch.Tensor:
    """log (1/k) Σ_i p(x, z_i) / q(z_i) with z_i ~ q = N(mean, diag exp(log_var)) (Burda et al., 2016).

    ``log_joint`` maps latent samples (k, B, q) to log p(x, z) of shape (k, B); mean and log_var are
    (B, q); ``eps`` optionally fixes the standard-normal noise, shape (k, B, q). Returns (B,), nats.
    In expectation this lower-bounds log p(x), never decreases with k, and tends to log p(x) as k → ∞.
    """
    k = positive_int(k, "k")
    if eps is None:
        eps = torch.randn(k, *mean.shape, device=mean.device, dtype=mean.dtype)
    elif tuple(eps.shape) != (k, *mean.shape):
        raise ValueError(f"eps must have shape ({k}, {', '.join(map(str, mean.shape))}), got {tuple(eps.shape)}")
    z = reparameterize(mean, log_var, eps)
    log_q = -0.5 * (eps ** 2 + math.log(2 * math.pi) + log_var).sum(-1)   # log q(z), from ε directly
    return log_mean_exp(log_joint(z) - log_q, dim=0)


def _mlp(sizes: list[int], dropout: float) -> nn.Sequential:
    layers: list[nn.Module] = []
    for i, (a, b) in enumerate(zip(sizes[:-1], sizes[1:])):
        if i == 1 and dropout:
            layers.append(nn.Dropout(dropout))  # after the first hidden layer: regularises 1000-image training
        layers.append(nn.Linear(a, b))
        if i < len(sizes) - 2:
            layers.append(nn.Tanh())
    return nn.Sequential(*layers)


class _ConvEncoder(nn.Module):
    """(B, 1, H, W) → (B, 2q): two 3×3 / 4×4 convolutions (the second halves H and W), then linear."""

    def __init__(self, side: int, latent_dim: int, channels: int, dropout: float):
        super().__init__()
        self.net = nn.Sequential(nn.Conv2d(1, channels, 3, padding=1), nn.Tanh(), nn.Dropout(dropout),
                                 nn.Conv2d(channels, 2 * channels, 4, stride=2, padding=1), nn.Tanh(),
                                 nn.Flatten(), nn.Linear(2 * channels * (side // 2) ** 2, 2 * latent_dim))

    def forward(self, x):
        return self.net(x)


class _ConvDecoder(nn.Module):
    """(..., q) → (..., H·W·out): linear to a (2c, H/2, W/2) map, a transposed convolution back to H × W."""

    def __init__(self, side: int, latent_dim: int, channels: int, out: int, dropout: float):
        super().__init__()
        self.side, self.channels, self.out = side, channels, out
        self.project = nn.Sequential(nn.Linear(latent_dim, 2 * channels * (side // 2) ** 2), nn.Tanh(),
                                     nn.Dropout(dropout))
        self.net = nn.Sequential(nn.ConvTranspose2d(2 * channels, channels, 4, stride=2, padding=1), nn.Tanh(),
                                 nn.Conv2d(channels, out, 3, padding=1))

    def forward(self, z):
        lead = z.shape[:-1]
        h = self.project(z.reshape(-1, z.shape[-1])).reshape(-1, 2 * self.channels, self.side // 2, self.side // 2)
        logits = self.net(h).permute(0, 2, 3, 1)                           # (N, H, W, out)
        return logits.reshape(*lead, self.side * self.side * self.out)


class VAE(DensityModel):
    """A VAE for (B, 1, H, W) images with integer grey levels 0..levels-1.

    ``loss(x)`` is the negative β-ELBO (β = ``beta``; 1 gives the ELBO); ``log_prob(x)`` is the
    importance-weighted estimate with ``k`` samples, a stochastic lower bound on log p(x).
    """

    def __init__(self, image_shape=(1, 8, 8), levels: int = 17, latent_dim: int = 8, hidden: int = 256,
                 architecture: str = "mlp", dropout: float = 0.2, beta: float = 1.0):
        super().__init__()
        if len(image_shape) != 3 or image_shape[0] != 1 or image_shape[1] != image_shape[2]:
            raise ValueError(f"image_shape must be (1, H, H), got {tuple(image_shape)}")
        self.image_shape = tuple(int(s) for s in image_shape)
        self.levels = positive_int(levels, "levels", minimum=2)
        self.latent_dim = positive_int(latent_dim, "latent_dim")
        hidden = positive_int(hidden, "hidden")
        if architecture not in ARCHITECTURES:
            raise ValueError(f"architecture must be one of {ARCHITECTURES}, got {architecture!r}")
        self.architecture = architecture
        dropout = positive_float(dropout, "dropout", allow_zero=True)
        if dropout >= 1:
            raise ValueError(f"dropout must be < 1, got {dropout}")
        self.beta = positive_float(beta, "beta", allow_zero=True)
        self.pixels = self.image_shape[1] * self.image_shape[2]
        out = 1 if self.levels == 2 else self.levels   # Bernoulli: one logit a pixel; categorical: one per level
        side = self.image_shape[1]
        if architecture == "mlp":
            self.encoder = _mlp([self.pixels, hidden, hidden, 2 * latent_dim], dropout)
            self.decoder = _mlp([latent_dim, hidden, hidden, self.pixels * out], dropout)
        else:
            if side % 2:
                raise ValueError(f"the conv architecture needs an even image side, got {side}")
            channels = max(hidden // 8, 8)
            self.encoder = _ConvEncoder(side, latent_dim, channels, dropout)
            self.decoder = _ConvDecoder(side, latent_dim, channels, out, dropout)

    # -- the two networks -------------------------------------------------------------------------

    def _check_images(self, x, name: str = "x") -> torch.Tensor:
        return as_level_images(x, name, self.image_shape, self.levels)

    def encode(self, x) -> tuple[torch.Tensor, torch.Tensor]:
        """Parameters of q(z | x): mean and log-variance, each (B, latent_dim)."""
        x = self._check_images(x)
        scaled = (x / (self.levels - 1) * 2 - 1).to(next(self.parameters()))  # grey levels → [-1, 1]
        h = scaled.reshape(len(x), -1) if self.architecture == "mlp" else scaled
        mean, log_var = self.encoder(h).chunk(2, dim=-1)
        return mean, log_var

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        """Logits of p(x | z): (..., latent_dim) → (..., H·W, levels), or (..., H·W) for Bernoulli pixels."""
        logits = self.decoder(z)
        return logits if self.levels == 2 else logits.reshape(*z.shape[:-1], self.pixels, self.levels)

    def log_likelihood(self, x: torch.Tensor, logits: torch.Tensor) -> torch.Tensor:
        """log p(x | z), summed over pixels: x (B, 1, H, W), logits (..., B, H·W[, levels]) → (..., B)."""
        target = x.reshape(len(x), -1).to(logits.device)
        if self.levels == 2:
            return -F.binary_cross_entropy_with_logits(logits, target.expand_as(logits), reduction="none").sum(-1)
        log_probs = torch.log_softmax(logits, dim=-1)
        index = target.long().expand(*logits.shape[:-1]).unsqueeze(-1)
        return log_probs.gather(-1, index).squeeze(-1).sum(-1)

    # -- bounds ----------------------------------------------------------------------------------

    def elbo_terms(self, x) -> tuple[torch.Tensor, torch.Tensor]:
        """One-sample reconstruction term E_q[log p(x | z)] and the closed-form KL(q ‖ p), each (B,)."""
        mean, log_var = self.encode(x)
        z = reparameterize(mean, log_var)
        return self.log_likelihood(x, self.decode(z)), gaussian_kl(mean, log_var)

    def elbo(self, x) -> torch.Tensor:
        """Single-sample estimate of the ELBO = E_q[log p(x | z)] - KL(q(z | x) ‖ p(z)), (B,), nats."""
        reconstruction, kl = self.elbo_terms(x)
        return reconstruction - kl

    def loss(self, x) -> torch.Tensor:
        """Negative β-ELBO, averaged over the batch (β = 1: the plain negative ELBO)."""
        reconstruction, kl = self.elbo_terms(x)
        return -(reconstruction - self.beta * kl).mean()

    def iwae_bound(self, x, k: int, eps: torch.Tensor | None = None) -> torch.Tensor:
        """log (1/k) Σ_i p(x, z_i) / q(z_i | x) with z_i ~ q(z | x): a lower bound on log p(x) that
        tightens as k grows (Burda et al., 2016); k = 1 is the ELBO. ``eps``: optional fixed noise
        of shape (k, B, latent_dim). Returns (B,), nats."""
        x = self._check_images(x)
        mean, log_var = self.encode(x)

        def log_joint(z):  # log p(x | z) + log p(z), (k, B)
            return self.log_likelihood(x, self.decode(z)) - 0.5 * (z ** 2 + math.log(2 * math.pi)).sum(-1)

        return importance_weighted_bound(log_joint, mean, log_var, k, eps)

    def log_prob(self, x, k: int = 1000, chunk: int = 100) -> torch.Tensor:
        """IWAE estimate of log p(x) with k samples, in chunks of ``chunk`` samples to bound memory; (B,)."""
        x = self._check_images(x)
        k, chunk = positive_int(k, "k"), positive_int(chunk, "chunk")
        parts = [self.iwae_bound(x, min(chunk, k - start)) + math.log(min(chunk, k - start))
                 for start in range(0, k, chunk)]
        return torch.logsumexp(torch.stack(parts), dim=0) - math.log(k)

    # -- generation --------------------------------------------------------------------------------

    def decode_mean(self, z: torch.Tensor) -> torch.Tensor:
        """E[x | z], the expected grey level of every pixel: (N, latent_dim) → (N, 1, H, W). Blurry by design."""
        logits = self.decode(z)
        if self.levels == 2:
            mean = torch.sigmoid(logits)
        else:
            mean = (torch.softmax(logits, -1) * torch.arange(self.levels, device=logits.device, dtype=logits.dtype)).sum(-1)
        return mean.reshape(len(z), *self.image_shape)

    def sample(self, n: int, generator: torch.Generator | None = None) -> torch.Tensor:
        """z ~ N(0, I), then every pixel drawn from p(x | z): integer grey levels, (n, 1, H, W)."""
        n = positive_int(n, "n")
        generator_or_none(generator)
        device = next(self.parameters()).device
        z = torch.randn(n, self.latent_dim, generator=generator).to(device)
        logits = self.decode(z)
        if self.levels == 2:
            pixels = torch.bernoulli(torch.sigmoid(logits).cpu(), generator=generator)
        else:
            probs = torch.softmax(logits, -1).reshape(-1, self.levels).cpu()
            pixels = torch.multinomial(probs, 1, generator=generator).reshape(n, -1).float()
        return pixels.reshape(n, *self.image_shape)
