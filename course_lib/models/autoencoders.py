"""Autoencoders. Chapter 02: the linear autoencoder, whose optimum spans the principal subspace
(Baldi & Hornik, 1989)."""

from __future__ import annotations

import torch
from torch import nn

from ..validation import as_float_tensor, positive_int


class LinearAutoencoder(nn.Module):
    """x̂ = D (E (x - μ)) + μ with linear E: R^D → R^q and D: R^q → R^D, trained on squared error.

    ``loss(x)`` is the mean over examples of ‖x - x̂‖² summed over dimensions — up to constants the
    negative log-likelihood of a Gaussian decoder with fixed variance. Its minimisers span the top-q
    principal subspace (but need not be orthogonal: any invertible q × q mixing gives the same x̂).
    """

    def __init__(self, mean, q: int):
        super().__init__()
        mean = as_float_tensor(mean, "mean", ndim=1)
        q = positive_int(q, "q")
        if q >= len(mean):
            raise ValueError(f"q must be smaller than the data dimension {len(mean)}, got {q}")
        self.register_buffer("mean", mean.clone())
        self.encoder = nn.Linear(len(mean), q, bias=False)
        self.decoder = nn.Linear(q, len(mean), bias=False)

    def reconstruct(self, x: torch.Tensor) -> torch.Tensor:
        """x̂ for each row of x: (B, D) → (B, D)."""
        return self.decoder(self.encoder(x - self.mean)) + self.mean

    def loss(self, x) -> torch.Tensor:
        x = as_float_tensor(x, "x", ndim=2, last_dim=len(self.mean)).to(self.mean)
        return ((x - self.reconstruct(x)) ** 2).sum(1).mean()
