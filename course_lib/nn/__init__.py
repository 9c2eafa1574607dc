"""Layers shared by several models: masked linear and convolutional layers, causal 1D convolutions, and the
invertible transforms of normalizing flows (``course_lib.nn.transforms``)."""

from . import spectral, transforms
from .masked import CausalConv1d, MaskedConv2d, MaskedLinear, made_masks, masks_from_degrees

__all__ = ["CausalConv1d", "MaskedConv2d", "MaskedLinear", "made_masks", "masks_from_degrees", "spectral", "transforms"]
