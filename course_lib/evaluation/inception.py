"""Inception-v3 pool features, for readers who score their models on larger images the published way.

The course never downloads weights: this path runs only with a weights file already on disk (torchvision's
``inception_v3_google-0cc3c7bd.pth``, the ImageNet classifier's state dict) and with ``torchvision`` installed,
which the course does not depend on. On the 8×8 digits, use ``classifier.features`` instead: Inception-v3 was
trained on 299×299 photographs, and its features of upscaled 8×8 digits say little.
"""

from __future__ import annotations

import os
from pathlib import Path

import torch
import torch.nn.functional as F

from ..validation import as_float_tensor, positive_int

_MEAN, _STD = (0.485, 0.456, 0.406), (0.229, 0.224, 0.225)   # ImageNet's per-channel statistics


def _weights_file(weights) -> Path:
    if not isinstance(weights, (str, os.PathLike)):
        raise TypeError(f"weights must be the path of a local Inception-v3 state dict, got {type(weights).__name__}")
    path = Path(weights).expanduser()
    if not path.is_file():
        raise ValueError(f"weights: no file at {path}. The course downloads nothing; put torchvision's ImageNet "
                         f"Inception-v3 state dict (inception_v3_google-0cc3c7bd.pth) there yourself, or use "
                         f"classifier.features with the course's digit classifier")
    return path


def inception_features(images, weights, *, levels: int, batch_size: int = 32) -> torch.Tensor:
    """The 2048 pool features (N, 2048) of Inception-v3 for ``images`` (N, C, H, W), C = 1 or 3, of grey levels
    0..levels−1: scaled to [0, 1], grey repeated to three channels, resized to 299×299, ImageNet-normalised."""
    images = as_float_tensor(images, "images", ndim=4)
    if images.shape[1] not in (1, 3):
        raise ValueError(f"images must have 1 or 3 channels, got shape {tuple(images.shape)}")
    levels = positive_int(levels, "levels", minimum=2)
    if (images < 0).any() or (images > levels - 1).any():
        raise ValueError(f"images must hold grey levels in [0, {levels - 1}]")
    batch_size = positive_int(batch_size, "batch_size")
    path = _weights_file(weights)
    try:
        from torchvision.models import inception_v3
    except ImportError:
        raise ImportError("inception_features needs torchvision, which the course does not install "
                          "(pip install torchvision matching your torch); the digit classifier needs nothing") from None
    network = inception_v3(weights=None, aux_logits=True, init_weights=False)
    network.load_state_dict(torch.load(path, map_location="cpu", weights_only=True))
    network.fc = torch.nn.Identity()      # the 2048 pool features, not the 1000 logits
    network.eval()
    mean, std = torch.tensor(_MEAN).view(1, 3, 1, 1), torch.tensor(_STD).view(1, 3, 1, 1)
    out = []
    with torch.no_grad():
        for part in images.float().split(batch_size):
            x = (part / (levels - 1)).expand(-1, 3, -1, -1)
            x = F.interpolate(x, size=(299, 299), mode="bilinear", align_corners=False)
            out.append(network((x - mean) / std))
    return torch.cat(out)
