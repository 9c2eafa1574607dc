"""Mode coverage of samples from a mixture of known, well-separated Gaussians (the 2D GAN toys)."""

from __future__ import annotations

from typing import NamedTuple

import torch

from ..validation import as_float_tensor, positive_float


class ModeCoverage(NamedTuple):
    """``modes_covered`` (int) of ``counts.numel()``; ``high_quality`` (float): the fraction of all samples
    within the radius of their nearest centre; ``counts`` (K,): high-quality samples per centre."""
    modes_covered: int
    high_quality: float
    counts: torch.Tensor


def mode_coverage(samples, centres, std: float, within: float = 3.0, min_share: float = 0.01) -> ModeCoverage:
    """The protocol of the unrolled-GAN, VEEGAN and PacGAN papers: a sample is of high quality when it lies
    within ``within`` standard deviations (``std``, the data's) of its nearest centre; a mode is covered
    when it receives at least ``min_share`` of all samples as high-quality samples (PacGAN: 20 of 2 500).

    samples (N, D), centres (K, D), in the same units.
    """
    samples = as_float_tensor(samples, "samples", ndim=2)
    centres = as_float_tensor(centres, "centres", ndim=2, last_dim=samples.shape[1]).to(samples)
    std, within = positive_float(std, "std"), positive_float(within, "within")
    min_share = positive_float(min_share, "min_share", allow_zero=True)
    if min_share > 1:
        raise ValueError(f"min_share must be a fraction in [0, 1], got {min_share}")
    distance, nearest = torch.cdist(samples, centres).min(dim=1)
    good = distance <= within * std
    counts = torch.bincount(nearest[good], minlength=len(centres)).cpu()
    covered = int((counts >= max(min_share * len(samples), 1e-12)).sum())
    return ModeCoverage(covered, good.double().mean().item(), counts)
