"""The course's one randomness convention: every random draw takes ``generator=``.

``generator`` is a ``torch.Generator`` or None (PyTorch's global generator, which
``runtime.seed_everything`` seeds). A generator belongs to one device. When it is not the device the
result must live on (a CPU generator and a model on a GPU, or on PyTorch's shape-only ``meta`` device),
the noise is drawn where the generator lives and then moved, so one seed gives the same numbers on
every device. Only plain noise crosses devices: categorical and Bernoulli draws are computed from
uniform noise next to their probabilities (inverse CDF), so probabilities never leave the device.

Inside course_lib every draw goes through these functions (a repository test enforces it); the
arguments are trusted, since public callers have validated them already.
"""

from __future__ import annotations

import torch


def _draw(factory, shape, generator, device, **kwargs) -> torch.Tensor:
    """Draw where the generator lives (the target device when there is none), then move to the target."""
    target = torch.device(device) if device is not None else torch.device("cpu")
    source = target if generator is None else generator.device
    return factory(shape, generator=generator, device=source, **kwargs).to(target)


def normal(shape, *, generator: torch.Generator | None = None, device=None,
           dtype: torch.dtype | None = None) -> torch.Tensor:
    """Standard-normal noise of ``shape`` on ``device``."""
    return _draw(torch.randn, tuple(shape), generator, device, dtype=dtype)


def uniform(shape, *, generator: torch.Generator | None = None, device=None,
            dtype: torch.dtype | None = None) -> torch.Tensor:
    """Uniform noise on [0, 1) of ``shape`` on ``device``."""
    return _draw(torch.rand, tuple(shape), generator, device, dtype=dtype)


def uniform_like(tensor: torch.Tensor, *, generator: torch.Generator | None = None,
                 dtype: torch.dtype | None = None) -> torch.Tensor:
    """Uniform noise on [0, 1) with the shape and device of ``tensor`` and, if it is dense, its memory layout
    (``torch.empty_like``'s; an expanded or overlapping tensor gets a contiguous one), drawn in memory order: the
    order in which PyTorch's in-place draws (``Tensor.bernoulli_``) fill a tensor made by ``empty_like``."""
    def like(shape, generator, device, dtype):
        return torch.empty_like(tensor, dtype=dtype, device=device).uniform_(generator=generator)
    return _draw(like, tensor.shape, generator, tensor.device, dtype=dtype)


def integers(high: int, shape, *, generator: torch.Generator | None = None, device=None) -> torch.Tensor:
    """Uniform integers in [0, high) of ``shape`` (int64) on ``device``."""
    return _draw(lambda size, **kw: torch.randint(0, high, size, **kw), tuple(shape), generator, device)


def permutation(n: int, *, generator: torch.Generator | None = None, device=None) -> torch.Tensor:
    """A uniformly random permutation of 0..n-1 (int64) on ``device``."""
    return _draw(lambda size, **kw: torch.randperm(size[0], **kw), (n,), generator, device)


def categorical(probs: torch.Tensor, n: int | None = None, *,
                generator: torch.Generator | None = None) -> torch.Tensor:
    """Category indices drawn from ``probs`` (…, L), non-negative weights over the last dimension (they
    need not sum to one). Returns int64 of shape (…) or, with ``n``, (…, n): n draws per distribution.

    Inverse-CDF sampling: a uniform u scaled by the total mass picks the first category whose
    cumulative mass exceeds it; u stays strictly below the total, so a category of mass 0 is never drawn.
    """
    cdf = probs.cumsum(-1)
    total = cdf[..., -1:]
    shape = probs.shape[:-1] + ((n,) if n is not None else (1,))
    u = uniform(shape, generator=generator, device=probs.device, dtype=probs.dtype)
    values = torch.minimum(u * total, torch.nextafter(total, torch.zeros_like(total)))
    index = torch.searchsorted(cdf.contiguous(), values.contiguous(), right=True)
    return index if n is not None else index.squeeze(-1)


def bernoulli(probs: torch.Tensor, *, generator: torch.Generator | None = None) -> torch.Tensor:
    """0/1 draws (in ``probs``' dtype) with success probabilities ``probs``, any shape."""
    u = uniform(probs.shape, generator=generator, device=probs.device, dtype=probs.dtype)
    return (u < probs).to(probs.dtype)
