"""Masked layers shared by the autoregressive models: a weight mask makes output i depend only on
allowed inputs. The mask multiplies the weight inside ``forward`` (never by editing the weight in
place, which would leave gradients flowing to masked weights)."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from .. import randomness
from ..validation import (as_float_tensor, check_tensor, generator_or_none, has_values, int_sequence, odd_int,
                          positive_int)


class MaskedLinear(nn.Linear):
    """``F.linear(x, mask * W, b)`` with a fixed 0/1 mask of shape (out_features, in_features)."""

    def __init__(self, in_features: int, out_features: int, mask: torch.Tensor | None = None):
        super().__init__(positive_int(in_features, "in_features"), positive_int(out_features, "out_features"))
        self.register_buffer("mask", torch.ones(out_features, in_features))
        if mask is not None:
            self.set_mask(mask)

    def set_mask(self, mask: torch.Tensor) -> None:
        """Use ``mask`` (0/1 entries, shape (out_features, in_features)) from now on."""
        mask = as_float_tensor(mask, "mask")
        if tuple(mask.shape) != tuple(self.weight.shape):
            raise ValueError(f"mask must have shape {tuple(self.weight.shape)}, got {tuple(mask.shape)}")
        if has_values(mask) and ((mask != 0) & (mask != 1)).any():
            raise ValueError("mask must hold only 0s and 1s (1: the weight is used, 0: it is masked)")
        self.mask.copy_(mask.to(self.mask.dtype))

    def forward(self, x):
        return F.linear(x, self.mask * self.weight, self.bias)


def _check_integers(values, name: str) -> None:
    """A non-empty 1-D tensor of integers (ranks or degrees, one per unit)."""
    check_tensor(values, name, ndim=1)
    if values.is_floating_point() or values.is_complex() or values.dtype == torch.bool:
        raise TypeError(f"{name} must hold integers, one per unit, got dtype {values.dtype}")
    if len(values) == 0:
        raise ValueError(f"{name} must not be empty: one entry per unit")


def made_masks(order: torch.Tensor, hidden: list[int], outputs_per_input: int = 1,
               generator: torch.Generator | None = None) -> list[torch.Tensor]:
    """MADE masks (Germain et al., 2015) from integer degrees, one broadcast comparison per layer.

    ``order``: rank of each input (0 = first in the autoregressive order), shape (D,). Inputs get degree
    rank + 1, hidden units a random degree in [1, D - 1], outputs degree rank + 1; a hidden unit may
    see inputs of degree ≤ its own, an output only units of strictly smaller degree. Each input owns
    ``outputs_per_input`` consecutive blocks of D outputs (e.g. one logit per grey level).
    Returns the masks of shapes (h1, D), (h2, h1), …, (outputs_per_input · D, h_last).
    """
    _check_integers(order, "order")
    d = len(order)
    if has_values(order) and not torch.equal(order.sort().values.cpu(), torch.arange(d)):
        raise ValueError(f"order must be a permutation of 0..{d - 1} (the rank of each input), got {order.tolist()}")
    hidden = int_sequence(hidden, "hidden")
    outputs_per_input = positive_int(outputs_per_input, "outputs_per_input")
    generator_or_none(generator)
    hidden_degrees = [1 + randomness.integers(max(d - 1, 1), (size,), generator=generator) for size in hidden]
    return masks_from_degrees(order.long() + 1, hidden_degrees, (order.long() + 1).repeat(outputs_per_input))


def masks_from_degrees(input_degrees: torch.Tensor, hidden_degrees: list[torch.Tensor],
                       output_degrees: torch.Tensor) -> list[torch.Tensor]:
    """The MADE rule: hidden unit k may see unit j of the layer below when m(k) ≥ m(j); output i may
    see hidden unit k only when m(i) > m(k) (strictly: the output for x_d must not see x_d)."""
    _check_integers(input_degrees, "input_degrees")
    _check_integers(output_degrees, "output_degrees")
    if not isinstance(hidden_degrees, (list, tuple)):
        raise TypeError(f"hidden_degrees must be a list of tensors, one per hidden layer, "
                        f"got {type(hidden_degrees).__name__}")
    for degrees_of_layer in hidden_degrees:
        _check_integers(degrees_of_layer, "hidden_degrees")
    degrees = [input_degrees, *hidden_degrees]
    masks = [(later[:, None] >= earlier[None, :]).float() for earlier, later in zip(degrees[:-1], degrees[1:])]
    masks.append((output_degrees[:, None] > degrees[-1][None, :]).float())
    return masks


class MaskedConv2d(nn.Conv2d):
    """A square convolution that sees only pixels above, and to the left on the same row (van den Oord
    et al., 2016): mask ``"A"`` excludes the centre pixel (first layer), mask ``"B"`` includes it."""

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int, mask_type: str):
        in_channels, out_channels = positive_int(in_channels, "in_channels"), positive_int(out_channels, "out_channels")
        kernel_size = odd_int(kernel_size, "kernel_size")
        if mask_type not in ("A", "B"):
            raise ValueError(f"mask_type must be 'A' or 'B', got {mask_type!r}")
        super().__init__(in_channels, out_channels, kernel_size, padding=kernel_size // 2)
        mask = torch.ones_like(self.weight)
        centre = kernel_size // 2
        mask[:, :, centre, centre + (mask_type == "B"):] = 0
        mask[:, :, centre + 1:] = 0
        self.register_buffer("mask", mask)

    def forward(self, x):
        return F.conv2d(x, self.mask * self.weight, self.bias, padding=self.padding)


class CausalConv1d(nn.Conv1d):
    """A 1D convolution whose output t sees inputs ≤ t (or < t with ``exclude_current``), with dilation:
    left padding (k - 1) · dilation, as in WaveNet (van den Oord et al., 2016)."""

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int, dilation: int = 1,
                 exclude_current: bool = False):
        if not isinstance(exclude_current, bool):
            raise TypeError(f"exclude_current must be a bool, got {type(exclude_current).__name__}")
        super().__init__(positive_int(in_channels, "in_channels"), positive_int(out_channels, "out_channels"),
                         positive_int(kernel_size, "kernel_size"), dilation=positive_int(dilation, "dilation"))
        self.left = (kernel_size - 1) * dilation + int(exclude_current)
        self.exclude_current = exclude_current

    def forward(self, x):
        padded = F.pad(x, (self.left, 0))
        if self.exclude_current:
            padded = padded[..., :-1]  # shift right by one: output t sees up to t - 1
        return super().forward(padded)
