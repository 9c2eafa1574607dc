"""Input checks shared by every public function: clear errors that name the argument.

Values (NaN, ranges, integer levels) can only be checked on tensors that hold data: on PyTorch's
shape-only ``meta`` device the value checks are skipped and only types and shapes are checked.
"""

from __future__ import annotations

import math
import numbers

import numpy as np
import torch


def as_float_tensor(x, name: str, *, ndim: int | tuple[int, ...] | None = None,
                    last_dim: int | None = None, allow_empty: bool = False) -> torch.Tensor:
    """``x`` as a float tensor (float64 stays float64), after checking type, shape and NaN/inf.

    Raises TypeError for non-numeric input and ValueError for a wrong shape or non-finite values;
    both messages name ``name``.
    """
    if isinstance(x, np.ndarray):
        if not (np.issubdtype(x.dtype, np.number) or x.dtype == bool):
            raise TypeError(f"{name} must hold numbers, got an array of dtype {x.dtype}")
        x = torch.from_numpy(np.ascontiguousarray(x))
    elif not isinstance(x, torch.Tensor):
        raise TypeError(f"{name} must be a torch.Tensor or numpy array, got {type(x).__name__}")
    if x.is_complex():
        raise TypeError(f"{name} must be real, got dtype {x.dtype}")
    if not x.is_floating_point():
        x = x.to(torch.get_default_dtype())
    if ndim is not None:
        allowed = (ndim,) if isinstance(ndim, int) else ndim
        if x.dim() not in allowed:
            raise ValueError(f"{name} must have {' or '.join(map(str, allowed))} dimensions, "
                             f"got shape {tuple(x.shape)}")
    if last_dim is not None and (x.dim() == 0 or x.shape[-1] != last_dim):
        raise ValueError(f"{name} must have last dimension {last_dim}, got shape {tuple(x.shape)}")
    if not allow_empty and x.numel() == 0:
        raise ValueError(f"{name} must not be empty, got shape {tuple(x.shape)}")
    if has_values(x) and not torch.isfinite(x).all():
        raise ValueError(f"{name} contains NaN or infinite values")
    return x


def has_values(x: torch.Tensor) -> bool:
    """False for tensors on the ``meta`` device, which have a shape but no data to check."""
    return x.device.type != "meta"


def check_tensor(x, name: str, *, ndim: int | None = None, min_ndim: int = 0, last_dim: int | None = None) -> None:
    """Type and shape checks only (no values, so no host synchronisation): for the math inside training loops."""
    if not isinstance(x, torch.Tensor):
        raise TypeError(f"{name} must be a torch.Tensor, got {type(x).__name__}")
    if ndim is not None and x.dim() != ndim:
        raise ValueError(f"{name} must have {ndim} dimensions, got shape {tuple(x.shape)}")
    if x.dim() < min_ndim:
        raise ValueError(f"{name} must have at least {min_ndim} dimensions, got shape {tuple(x.shape)}")
    if last_dim is not None and (x.dim() == 0 or x.shape[-1] != last_dim):
        raise ValueError(f"{name} must have last dimension {last_dim}, got shape {tuple(x.shape)}")


def as_level_images(x, name: str, image_shape: tuple[int, ...], levels: int, *, integer: bool = True) -> torch.Tensor:
    """``x`` as float images of shape (B, *image_shape) holding integer grey levels 0..levels-1, or, with
    ``integer=False``, dequantized levels in [0, levels)."""
    x = as_float_tensor(x, name)
    if tuple(x.shape[1:]) != tuple(image_shape):
        raise ValueError(f"{name} must have shape (B, {', '.join(map(str, image_shape))}), got {tuple(x.shape)}")
    if not has_values(x):
        return x
    if integer and ((x < 0).any() or (x > levels - 1).any() or (x != torch.round(x)).any()):
        raise ValueError(f"{name} must hold integer grey levels in [0, {levels - 1}]")
    if not integer and ((x < 0).any() or (x >= levels).any()):
        raise ValueError(f"{name} must hold dequantized grey levels in [0, {levels})")
    return x


def as_class_labels(labels, name: str, n: int, classes: int) -> torch.Tensor:
    """``labels`` as an int64 tensor of shape (n,) with values in [0, classes)."""
    if isinstance(labels, np.ndarray):
        labels = torch.from_numpy(labels)
    if not isinstance(labels, torch.Tensor):
        raise TypeError(f"{name} must be a tensor of class labels, got {type(labels).__name__}")
    if labels.is_floating_point() or labels.is_complex() or labels.dtype == torch.bool:
        raise TypeError(f"{name} must hold integer class labels, got dtype {labels.dtype}")
    if tuple(labels.shape) != (n,):
        raise ValueError(f"{name} must have shape ({n},), one label per example, got {tuple(labels.shape)}")
    if has_values(labels) and ((labels < 0).any() or (labels >= classes).any()):
        raise ValueError(f"{name} must hold class labels in [0, {classes - 1}]")
    return labels.long()


def positive_int(value, name: str, *, minimum: int = 1) -> int:
    """``value`` as an int ≥ ``minimum``; bools and floats are refused."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise TypeError(f"{name} must be an int, got {type(value).__name__}")
    if value < minimum:
        raise ValueError(f"{name} must be ≥ {minimum}, got {value}")
    return int(value)


def seed_int(value, name: str = "seed") -> int:
    """``value`` as a seed for PyTorch's generators: an int in [0, 2**63)."""
    value = positive_int(value, name, minimum=0)
    if value >= 2**63:
        raise ValueError(f"{name} must be < 2**63, got {value}")
    return value


def positive_float(value, name: str, *, allow_zero: bool = False) -> float:
    """``value`` as a finite float > 0 (≥ 0 with ``allow_zero``)."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"{name} must be a number, got {type(value).__name__}")
    value = float(value)
    if not math.isfinite(value) or value < 0 or (value == 0 and not allow_zero):
        bound = "≥ 0" if allow_zero else "> 0"
        raise ValueError(f"{name} must be finite and {bound}, got {value}")
    return value


def dropout_rate(value, name: str = "dropout") -> float:
    """A dropout probability in [0, 1): 0 switches dropout off."""
    value = positive_float(value, name, allow_zero=True)
    if value >= 1:
        raise ValueError(f"{name} must be < 1 (the probability of zeroing a unit), got {value}")
    return value


def non_empty_str(value, name: str) -> str:
    """``value`` as a str with at least one non-space character (a model's or a data set's name)."""
    if not isinstance(value, str) or not value.strip():
        raise TypeError(f"{name} must be a non-empty str, got {value!r}")
    return value


def finite_float(value, name: str) -> float:
    """``value`` as a finite float (any sign)."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"{name} must be a number, got {type(value).__name__}")
    if not math.isfinite(value):
        raise ValueError(f"{name} must be finite, got {value}")
    return float(value)


def generator_or_none(generator, name: str = "generator"):
    """Check that ``generator`` is a ``torch.Generator`` or None."""
    if generator is not None and not isinstance(generator, torch.Generator):
        raise TypeError(f"{name} must be a torch.Generator or None, got {type(generator).__name__}")
    return generator


def odd_int(value, name: str) -> int:
    """``value`` as an odd int ≥ 1 (a kernel centred on its pixel)."""
    value = positive_int(value, name)
    if value % 2 != 1:
        raise ValueError(f"{name} must be odd, got {value}")
    return value


def int_sequence(values, name: str, *, minimum: int = 1) -> list[int]:
    """``values`` (a list or tuple, e.g. hidden-layer sizes) as a list of ints ≥ ``minimum``."""
    if not isinstance(values, (list, tuple)):
        raise TypeError(f"{name} must be a list or tuple of ints, got {type(values).__name__}")
    return [positive_int(value, name, minimum=minimum) for value in values]


def as_probabilities(p, name: str, *, ndim: int = 1, atol: float = 1e-4) -> torch.Tensor:
    """``p`` as a float tensor of probabilities over its last dimension: non-negative and summing to 1 within
    ``atol`` (float32 probabilities, from a softmax or counts / N, sum to 1 within about 1e-6)."""
    p = as_float_tensor(p, name, ndim=ndim)
    if not has_values(p):
        return p
    if (p < 0).any():
        raise ValueError(f"{name} must be non-negative probabilities, got a minimum of {p.min().item():.4g}")
    sums = p.sum(-1)
    worst = sums.flatten()[(sums - 1).abs().argmax()].item()
    if abs(worst - 1) > atol:
        where = "" if p.dim() == 1 else " along its last dimension (each row)"
        raise ValueError(f"{name} must sum to 1{where} within {atol:g}, got a sum of {worst:.6g}")
    return p
