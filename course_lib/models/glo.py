"""Generative latent optimization (GLO; Bojanowski et al., 2018), chapter 08: a GAN's generator trained
without a discriminator.

Each training image x_i gets its own code z_i, a free parameter on the unit sphere; the generator g_θ and
the codes are fitted together to reconstruct the images, min_θ (1/N) Σ_i min_{z_i} ℓ(g_θ(z_i), x_i), by
stochastic gradient steps on both (codes projected back onto the sphere after each step). There is no
encoder and no adversary: if the samples look like digits, the generator's convolutional architecture (its
inductive bias) and the reconstruction loss did it. To sample, fit a Gaussian to the learned codes (its mean
and full covariance) and decode draws from it.
"""

from __future__ import annotations

import torch
from torch import nn

from .. import randomness
from ..data import scale_levels
from ..validation import as_level_images, positive_float, positive_int
from .base import Sampler


class GLO(Sampler):
    """``generator`` g(z) → images in [−1, 1] (B, C, H, W) (e.g. ``DCGenerator``, ``latent_dim`` inputs), one
    code per training image (``examples`` of them), images of ``levels`` grey levels. ``loss(index, images)``:
    the mean squared reconstruction error, per image summed over pixels, on the [−1, 1] scale; call
    ``project_codes`` after each step and ``fit_code_distribution`` after training, before ``sample``."""

    def __init__(self, generator: nn.Module, examples: int, latent_dim: int, image_shape=(1, 8, 8), levels: int = 17):
        super().__init__()
        if not isinstance(generator, nn.Module):
            raise TypeError(f"generator must be a torch.nn.Module z → image, got {type(generator).__name__}")
        self.generator = generator
        self.examples, self.latent_dim = positive_int(examples, "examples"), positive_int(latent_dim, "latent_dim")
        self.image_shape = tuple(positive_int(s, "image_shape") for s in image_shape)
        self.levels = positive_int(levels, "levels", minimum=2)
        codes = randomness.normal((self.examples, self.latent_dim))
        self.codes = nn.Parameter(codes / codes.norm(dim=1, keepdim=True))
        self.register_buffer("code_mean", torch.zeros(self.latent_dim))
        self.register_buffer("code_scale_tril", torch.zeros(self.latent_dim, self.latent_dim))  # zero: not fitted

    def _check_ready(self) -> None:
        # on the meta device there are no values to read: the check is skipped (shapes only)
        if self.code_scale_tril.device.type != "meta" and not bool(self.code_scale_tril.diagonal().ne(0).all()):
            raise RuntimeError("GLO: call fit_code_distribution() after training, before sampling")

    def _check_index(self, index) -> torch.Tensor:
        index = torch.as_tensor(index)
        if index.ndim != 1 or index.dtype.is_floating_point or index.dtype == torch.bool:
            raise ValueError(f"index must be a 1-D tensor of integer example numbers, got {tuple(index.shape)} {index.dtype}")
        if index.numel() and index.device.type != "meta" and ((index < 0).any() or (index >= self.examples).any()):
            raise ValueError(f"index must lie in 0..{self.examples - 1}")
        return index.long().to(self.device)

    def decode(self, z) -> torch.Tensor:
        """g(z): images in [−1, 1] (B, C, H, W) of codes z (B, latent_dim)."""
        z = torch.as_tensor(z, dtype=self.codes.dtype)
        if z.ndim != 2 or z.shape[1] != self.latent_dim:
            raise ValueError(f"z must have shape (B, {self.latent_dim}), got {tuple(z.shape)}")
        return self.generator(z.to(self.device))

    def reconstruct(self, index) -> torch.Tensor:
        """The generator's images of the codes of training examples ``index`` (B,), as grey levels."""
        index = self._check_index(index)
        with torch.no_grad():
            return self._to_levels(self.generator(self.codes[index]))

    def loss(self, index, images) -> torch.Tensor:
        """(1/B) Σ_b ‖g(z_{index_b}) − x_b‖² on the [−1, 1] scale: the images (B, C, H, W) of grey levels are
        training examples number ``index`` (B,)."""
        index = self._check_index(index)
        images = as_level_images(images, "images", self.image_shape, self.levels).to(self.device)
        if len(images) != len(index):
            raise ValueError(f"index has {len(index)} entries for {len(images)} images")
        return self._loss(index, images)

    def _loss(self, index, images):
        target = scale_levels(images, self.levels)
        return ((self.generator(self.codes[index]) - target) ** 2).reshape(len(index), -1).sum(1).mean()

    def project_codes(self) -> None:
        """Put every code back on the unit sphere (after each gradient step)."""
        with torch.no_grad():
            self.codes.div_(self.codes.norm(dim=1, keepdim=True).clamp_min(1e-12))

    def fit_code_distribution(self, jitter: float = 1e-4) -> None:
        """Fit N(mean, covariance) to the learned codes, for sampling (``jitter`` added to the diagonal)."""
        jitter = positive_float(jitter, "jitter", allow_zero=True)
        with torch.no_grad():
            codes = self.codes.detach()
            centred = codes - codes.mean(0)
            covariance = centred.T @ centred / (len(codes) - 1)
            covariance = covariance + jitter * torch.eye(self.latent_dim, device=codes.device, dtype=codes.dtype)
            self.code_mean.copy_(codes.mean(0))
            self.code_scale_tril.copy_(torch.linalg.cholesky(covariance))

    def _to_levels(self, y):
        return torch.round((y.clamp(-1, 1) + 1) / 2 * (self.levels - 1))

    def _sample(self, n, generator, context):
        z = self.code_mean + randomness.normal((n, self.latent_dim), generator=generator,
                                               device=self.device) @ self.code_scale_tril.T
        return self._to_levels(self.generator(z))
