"""Likelihood-based evaluation: mean negative log-likelihood (nats per example) and bits per dimension."""

from __future__ import annotations

import inspect
import math

import numpy as np
import torch

from ..data import dequantize as dequantize_levels
from ..models.base import DensityModel, evaluation_mode
from ..validation import as_float_tensor, finite_float, generator_or_none, has_values, positive_int


def mean_nll(model: DensityModel, x, *, context=None, dequantize: bool = False, batch_size: int = 512,
             generator: torch.Generator | None = None, options: dict | None = None) -> float:
    """Mean negative log-likelihood of ``x`` under ``model``, in nats per example, evaluated in eval mode
    (no dropout; the model's mode is restored after) on the model's device.

    For a discrete model pass the integer data (exact). For a continuous model of integer data pass
    ``dequantize=True``: each example gets one uniform noise draw (from ``generator``) and the result is
    a Monte Carlo estimate of the dequantization bound, -E_u log p(x + u) ≥ -log P(x). A model whose
    ``log_prob`` is itself an estimate (``log_prob_is_estimate``, e.g. the VAE's IWAE) draws from
    ``generator`` too. ``context``: the labels of a class-conditional model, shape (N,). ``options``: further
    keyword arguments of the model's ``log_prob``, e.g. ``{"k": 5000}`` (importance samples of a VAE's IWAE)
    or ``{"steps": 10}`` (a flow-matching model's ODE steps).
    """
    if not isinstance(model, DensityModel):
        raise TypeError(f"model must be a course_lib DensityModel, got {type(model).__name__}")
    x = as_float_tensor(x, "x")
    batch_size = positive_int(batch_size, "batch_size")
    generator_or_none(generator)
    if not isinstance(dequantize, bool):
        raise TypeError(f"dequantize must be a bool, got {type(dequantize).__name__}")
    options = _log_prob_options(model, options)
    check_values = bool(options)
    if dequantize:
        x = dequantize_levels(x, generator)
    model._check_ready()
    x = model.check_input(x)             # validated once; the batches below are not checked again
    given_context = context
    context = model.check_context(context, len(x))   # None may become the "no label" token of a guided model
    if model.log_prob_is_estimate:
        options["generator"] = generator
    total = torch.zeros((), dtype=torch.float64, device=model.device)
    finite = []                          # per example; read only if the total is not finite
    with evaluation_mode(model):
        for start in range(0, len(x), batch_size):
            batch = x[start:start + batch_size]
            batch_context = None if context is None else context[start:start + batch_size]
            if start == 0 and check_values:      # the public log_prob checks the options' values (k ≥ 1, …)
                log_p = model.log_prob(batch, context=None if given_context is None else batch_context, **options)
            else:
                log_p = model._log_prob(batch, batch_context, **options)
            if log_p.shape != (len(batch),):
                raise ValueError(f"model.log_prob must return shape ({len(batch)},), got {tuple(log_p.shape)}")
            total = total - log_p.double().sum()
            finite.append(torch.isfinite(log_p))
    nll = total.item() / len(x)
    if not math.isfinite(nll):
        bad = (~torch.cat(finite)).nonzero().flatten().tolist()
        where = f"the first at index {bad[0]}, in the batch starting at {bad[0] // batch_size * batch_size}" if bad \
            else "each finite, but their sum overflows"
        raise ValueError(f"{type(model).__name__} returned NaN or infinite log-probabilities for {len(bad)} of the "
                         f"{len(x)} examples of x ({where}), so their mean NLL is {nll}")
    return nll


_OWN_ARGUMENTS = ("x", "context", "generator")      # what mean_nll passes to log_prob itself


def _log_prob_options(model: DensityModel, options) -> dict:
    """``options`` checked against the keywords of ``model.log_prob`` (a copy; {} for None)."""
    if options is None:
        return {}
    if not isinstance(options, dict):
        raise TypeError(f"options must be a dict of keyword arguments of the model's log_prob, "
                        f"got {type(options).__name__}")
    for name in options:
        if not isinstance(name, str):
            raise TypeError(f"options' keys must be keyword names (str), got {name!r}")
    accepted = [name for name, parameter in inspect.signature(model.log_prob).parameters.items()
                if parameter.kind is inspect.Parameter.KEYWORD_ONLY and name not in _OWN_ARGUMENTS]
    unknown = [name for name in options if name not in accepted]
    if unknown:
        own = [name for name in unknown if name in _OWN_ARGUMENTS]
        hint = (f"pass {', '.join(own)} to mean_nll itself" if own else
                f"{type(model).__name__}.log_prob takes {', '.join(accepted) or 'no further keywords'}")
        raise TypeError(f"options holds {', '.join(map(repr, unknown))}, not keywords mean_nll can pass on: {hint}")
    return dict(options)


def _real(value, name: str) -> float:
    """A finite real number given as a Python or NumPy scalar, or a 0-dim tensor or array, as a float."""
    if isinstance(value, (torch.Tensor, np.ndarray)):
        if value.ndim != 0:
            raise ValueError(f"{name} must be a number or a 0-dim tensor, got shape {tuple(value.shape)}")
        if isinstance(value, torch.Tensor) and not has_values(value):
            raise ValueError(f"{name} is a tensor on the meta device, which holds no value")
        value = value.item()
    return finite_float(value, name)


def bits_per_dim(nll_nats: float, dims: int) -> float:
    """Convert nats per example into bits per dimension: nll / (D · ln 2). ``nll_nats``: a number (Python or
    NumPy) or a 0-dim tensor."""
    nll_nats = _real(nll_nats, "nll_nats")
    dims = positive_int(dims, "dims")
    return nll_nats / (dims * math.log(2))
