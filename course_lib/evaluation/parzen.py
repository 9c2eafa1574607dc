"""The Parzen-window estimate of a sampler's log-likelihood, as early GAN papers reported it, and as chapter 09
shows it misleads (Theis et al., 2016): far from the truth in high dimension, and kind to blurry averages."""

from __future__ import annotations

from typing import NamedTuple

import torch

from ..models.kde import GaussianKDE, select_bandwidth
from ..validation import as_float_tensor


class ParzenEstimate(NamedTuple):
    nll: float          # mean negative log-density of the evaluated points, nats per example
    bandwidth: float    # the kernel width chosen on the validation points, in the data's units


def parzen_estimate(samples, x, val, bandwidths) -> ParzenEstimate:
    """A Gaussian kernel density on a model's ``samples`` (n, D), its bandwidth chosen from ``bandwidths`` by the
    log-likelihood of ``val`` (M, D), and its mean NLL of ``x`` (N, D), in nats per example. Points of
    integer data should be dequantized first (``data.dequantize``), as for any density."""
    samples = as_float_tensor(samples, "samples", ndim=2)
    x = as_float_tensor(x, "x", ndim=2)
    val = as_float_tensor(val, "val", ndim=2)
    for points, name in ((x, "x"), (val, "val")):
        if points.shape[1] != samples.shape[1]:
            raise ValueError(f"{name} must have {samples.shape[1]} columns like samples, got {points.shape[1]}")
    bandwidth, _ = select_bandwidth(samples, val, bandwidths)
    with torch.no_grad():
        log_density = GaussianKDE(samples, bandwidth).log_prob(x.to(samples.device))
    return ParzenEstimate(-log_density.double().mean().item(), bandwidth)
