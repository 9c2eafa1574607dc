"""Spectral normalization (Miyato et al., 2018): divide a layer's weight by its largest singular value σ, so
the layer is 1-Lipschitz, with σ estimated by power iteration (their Algorithm 1).

A weight of any shape is read as a matrix W of shape (out, everything else) — a convolution's kernel
(out, in, kh, kw) becomes (out, in·kh·kw). One step of power iteration from the previous u:
ṽ = Wᵀu / ‖Wᵀu‖, ũ = W ṽ / ‖W ṽ‖, σ ≈ ũᵀ W ṽ; W̄ = W / σ. Keeping u between training steps makes one step
per step enough, because W changes little from one step to the next.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.utils import parametrize

from .. import randomness
from ..validation import check_tensor, positive_int


def power_iteration(weight: torch.Tensor, u: torch.Tensor, iterations: int = 1,
                    eps: float = 1e-12) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """``iterations`` steps of power iteration on W (``weight`` as an (out, ·) matrix) from u (out,).

    Returns (σ, u, v): the estimate σ = uᵀ W v of the largest singular value (a scalar tensor) and the
    normalised left and right singular vector estimates, u (out,) and v (in,).
    """
    check_tensor(weight, "weight", min_ndim=2)
    check_tensor(u, "u", ndim=1)
    matrix = weight.reshape(weight.shape[0], -1)
    if u.shape[0] != matrix.shape[0]:
        raise ValueError(f"u must have {matrix.shape[0]} entries (the weight's rows), got {u.shape[0]}")
    iterations = positive_int(iterations, "iterations")
    for _ in range(iterations):
        v = F.normalize(matrix.T @ u, dim=0, eps=eps)
        u = F.normalize(matrix @ v, dim=0, eps=eps)
    return u @ matrix @ v, u, v


class SpectralNormalization(nn.Module):
    """A parametrization W ↦ W / σ(W) (``torch.nn.utils.parametrize``), σ by power iteration.

    In training mode every forward pass runs one step from the stored u (a buffer, so it is saved and
    moved with the module) and updates it; in eval mode u is reused as it is. σ is differentiated through W
    only (u and v are treated as constants, as in the paper).
    """

    def __init__(self, weight: torch.Tensor, iterations: int = 1, generator: torch.Generator | None = None):
        super().__init__()
        self.iterations = positive_int(iterations, "iterations")
        u = randomness.normal((weight.shape[0],), generator=generator, device=weight.device, dtype=weight.dtype)
        self.register_buffer("u", F.normalize(u, dim=0))
        with torch.no_grad():   # a few steps at creation, so σ is already a good estimate at the first call
            _, u, _ = power_iteration(weight, self.u, 15)
        self.u.copy_(u)

    def forward(self, weight: torch.Tensor) -> torch.Tensor:
        matrix = weight.reshape(weight.shape[0], -1)
        u = self.u
        if self.training:
            with torch.no_grad():
                _, u, _ = power_iteration(weight, self.u, self.iterations)
                self.u.copy_(u)
        with torch.no_grad():
            v = F.normalize(matrix.T @ u, dim=0)
        return weight / (u @ matrix @ v)


def spectral_norm(module: nn.Module, name: str = "weight", iterations: int = 1,
                  generator: torch.Generator | None = None) -> nn.Module:
    """Spectrally normalise ``module.<name>`` in place (a parametrization) and return the module."""
    if not isinstance(module, nn.Module):
        raise TypeError(f"module must be a torch.nn.Module, got {type(module).__name__}")
    weight = getattr(module, name, None)
    if not isinstance(weight, torch.Tensor) or weight.dim() < 2:
        raise ValueError(f"name: {type(module).__name__}.{name} must be a weight with at least 2 dimensions")
    parametrize.register_parametrization(module, name, SpectralNormalization(weight.detach(), iterations, generator))
    return module
