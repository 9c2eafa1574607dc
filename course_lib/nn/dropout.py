"""Dropout that draws the same mask as ``torch.nn.Dropout`` in less time on the CPU."""

import torch
from torch import nn

from .. import randomness
from ..validation import dropout_rate


class Dropout(nn.Dropout):
    """``torch.nn.Dropout(p)``: in training, zero each element with probability ``p`` and scale the others by
    1 / (1 − p); in evaluation, the identity. Same mask, output and gradient as ``nn.Dropout`` for the same
    random state, so a model trains to the same weights with either.

    Why a copy: on the CPU, ``nn.Dropout`` draws its mask with ``Tensor.bernoulli_(1 − p)``, which takes one
    double-precision uniform u from the generator per element and keeps the element when u < 1 − p, one element
    at a time (about 10 ns each). ``Tensor.uniform_`` draws the same uniforms from the same generator in less
    than half the time, and comparing them with 1 − p gives the same mask. On a GPU, and in the cases ``nn.Dropout``
    treats apart (p = 0 or 1, in-place), this layer is ``nn.Dropout``. (The same mask holds for PyTorch's
    element-by-element ``bernoulli_``, the course's pinned version's; a build that drew it through MKL instead, as some
    older releases did on Intel CPUs, would give a different mask of the same distribution.)
    """

    def __init__(self, p: float = 0.5, inplace: bool = False):
        super().__init__(dropout_rate(p, "p"), inplace)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not isinstance(x, torch.Tensor):
            raise TypeError(f"x must be a torch.Tensor, got {type(x).__name__}")
        if not self.training or not 0 < self.p < 1 or self.inplace or x.device.type != "cpu" or x.numel() == 0:
            return super().forward(x)
        keep = randomness.uniform_like(x, dtype=torch.float64) < 1 - self.p    # the uniforms bernoulli_ draws
        scale = keep.to(x.dtype)
        scale.div_(1 - self.p)              # as nn.Dropout scales its mask, so the rounding is the same
        return x * scale
