"""Likelihood-based evaluation: mean negative log-likelihood (nats per example) and bits per dimension."""

from __future__ import annotations

import math

import torch
from torch import nn

from ..data import dequantize as dequantize_levels
from ..validation import as_float_tensor, generator_or_none, positive_int


def mean_nll(model: nn.Module, x, *, dequantize: bool = False, batch_size: int = 512,
             generator: torch.Generator | None = None) -> float:
    """Mean negative log-likelihood of ``x`` under ``model``, in nats per example.

    For a discrete model pass the integer data (exact). For a continuous model of integer data
    pass ``dequantize=True``: each example gets one uniform noise draw and the result is a
    Monte Carlo estimate of the dequantization bound, -E_u log p(x + u) ≥ -log P(x).
    """
    if not callable(getattr(model, "log_prob", None)):
        raise TypeError(f"model must have a log_prob method, got {type(model).__name__}")
    x = as_float_tensor(x, "x")
    batch_size = positive_int(batch_size, "batch_size")
    generator_or_none(generator)
    # Evaluate where the model lives (a GPU model gets GPU batches).
    tensors = [*model.parameters(), *model.buffers()] if isinstance(model, nn.Module) else []
    dev = tensors[0].device if tensors else torch.device("cpu")
    total = 0.0
    with torch.no_grad():
        for batch in torch.split(x, batch_size):
            if dequantize:
                batch = dequantize_levels(batch, generator)
            log_p = model.log_prob(batch.to(dev))
            if log_p.shape != (len(batch),):
                raise ValueError(f"model.log_prob must return shape ({len(batch)},), got {tuple(log_p.shape)}")
            total += -log_p.double().sum().item()
    return total / len(x)


def bits_per_dim(nll_nats: float, dims: int) -> float:
    """Convert nats per example into bits per dimension: nll / (D · ln 2)."""
    if isinstance(nll_nats, bool) or not isinstance(nll_nats, (int, float)):
        raise TypeError(f"nll_nats must be a number, got {type(nll_nats).__name__}")
    if not math.isfinite(nll_nats):
        raise ValueError(f"nll_nats must be finite, got {nll_nats}")
    dims = positive_int(dims, "dims")
    return nll_nats / (dims * math.log(2))
