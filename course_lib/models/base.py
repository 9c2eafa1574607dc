"""The density-model protocol shared by every likelihood model of the course.

A density model is a ``torch.nn.Module`` with

* ``log_prob(x) -> Tensor[B]`` — log-density (continuous data) or log-probability (discrete data) of
  each of the B examples in x, in **nats per example**;
* ``sample(n) -> Tensor`` — n samples, shaped like the data;
* ``loss(x) -> Tensor[]`` — what training minimises: by default the mean negative log-likelihood
  (models with an intractable likelihood, such as the VAE, return a bound such as the negative ELBO).

GANs have no density and expose ``sample`` only. Because every model speaks this protocol, the
evaluation chapter can put all of them on one leaderboard.
"""

from __future__ import annotations

import torch
from torch import nn

class DensityModel(nn.Module):
    """Base class of the protocol. Subclasses implement ``log_prob`` and ``sample``."""

    def log_prob(self, x: torch.Tensor) -> torch.Tensor:  # pragma: no cover - abstract
        raise NotImplementedError(f"{type(self).__name__} must implement log_prob(x)")

    def sample(self, n: int) -> torch.Tensor:  # pragma: no cover - abstract
        raise NotImplementedError(f"{type(self).__name__} must implement sample(n)")

    def loss(self, x: torch.Tensor) -> torch.Tensor:
        """Mean negative log-likelihood of the batch, in nats per example."""
        return -self.log_prob(x).mean()
