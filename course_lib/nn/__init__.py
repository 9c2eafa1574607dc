"""Layers shared by several models: masked linear and convolutional layers, causal 1D convolutions, dropout, the
invertible transforms of normalizing flows (``course_lib.nn.transforms``), and the denoising networks of
diffusion and flow-matching models (``course_lib.nn.denoisers``)."""

from . import spectral, transforms
from .denoisers import MLPDenoiser, UNetDenoiser, time_embedding
from .dropout import Dropout
from .masked import CausalConv1d, MaskedConv2d, MaskedLinear, made_masks, masks_from_degrees

__all__ = ["Dropout", "MLPDenoiser", "UNetDenoiser", "time_embedding", "CausalConv1d", "MaskedConv2d", "MaskedLinear", "made_masks", "masks_from_degrees", "spectral", "transforms"]
