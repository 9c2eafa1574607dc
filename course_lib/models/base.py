"""The protocols every model of the course follows, and the contract that holds for all of them.

* ``Sampler`` — a ``torch.nn.Module`` that draws samples: ``sample(n, generator=None, *, context=None)``.
  GANs (which have no density) are samplers only.
* ``TrainableSampler(Sampler)`` — a sampler trained on data by minimising
  ``loss(x, *, context=None, generator=None) -> Tensor[]`` (score models);
* ``DensityModel(TrainableSampler)`` — a likelihood model, adding
  ``log_prob(x, *, context=None) -> Tensor[B]``: nats per example, on the data's own discrete scale where
  the data are discrete; and ``loss(x, *, context=None, generator=None) -> Tensor[]``: what training
  minimises, the mean negative log-likelihood by default, a bound such as the negative ELBO, or another
  objective (flow matching regresses a velocity and gets its likelihood from its ODE).
* ``ImageModel(DensityModel)`` — models of images (B, C, H, W) with grey levels 0..levels-1: image shape,
  levels, the [-1, 1] input scaling and the input checks, shared by autoregressive models, VAEs, flows
  and diffusion models.

The contract (checked for every model by ``tests/test_model_contract.py``):

* ``device``: where the model lives (a non-persistent buffer tells it, even for models without parameters);
* ``sample`` draws on the model's device, under ``no_grad``, in eval mode, and restores the mode it found;
* randomness comes from ``generator=`` only (see ``course_lib.randomness``); the one exception is dropout
  in train mode, which PyTorch draws from its global generator (``train.fit`` seeds a copy of it per epoch);
* conditioning is an argument, ``context`` (class labels for a model with ``context_classes``), never state;
* all fitted state lives in parameters or buffers, so ``state_dict`` round-trips and ``.to()`` moves it all;
* public methods validate their arguments once, then call the unchecked ``_log_prob``, ``_sample`` and
  ``_loss`` that subclasses implement (as nflows does); library code that has validated already
  (``train.fit``, ``evaluation.mean_nll``) calls those directly.
"""

from __future__ import annotations

import math
import numbers
from abc import ABC, abstractmethod
from contextlib import contextmanager

import torch
from torch import nn

from ..data import scale_levels
from ..validation import (as_class_labels, as_float_tensor, as_level_images, generator_or_none, positive_int)


@contextmanager
def evaluation_mode(module: nn.Module):
    """Run the block in eval mode (no dropout) and without gradients; restore every submodule's mode after."""
    modes = [(m, m.training) for m in module.modules()]
    module.eval()
    try:
        with torch.no_grad():
            yield module
    finally:
        for m, training in modes:
            m.training = training


class Sampler(nn.Module, ABC):
    """A model that draws samples. Subclasses implement ``_sample(n, generator, context)``."""

    #: number of classes of a class-conditional model (its ``context`` is one label per example); None: unconditional
    context_classes: int | None = None
    #: buffers whose shape is set by fitting (a fresh, unfitted model has them empty): loading a state resizes them
    _fitted_buffers: tuple[str, ...] = ()

    def __init__(self):
        super().__init__()
        self.register_buffer("_device_probe", torch.empty(0), persistent=False)

    @property
    def device(self) -> torch.device:
        """The device the model's parameters and buffers live on."""
        return self._device_probe.device

    def check_context(self, context, n: int, name: str = "context") -> torch.Tensor | None:
        """``context`` checked against the model (labels of shape (n,) or None) and moved to its device."""
        if self.context_classes is None:
            if context is not None:
                raise ValueError(f"{name}: {type(self).__name__} is unconditional; pass no context")
            return None
        if context is None:
            raise ValueError(f"{name}: {type(self).__name__} is class-conditional ({self.context_classes} classes): "
                             f"pass context=labels of shape ({n},)")
        return as_class_labels(context, name, n, self.context_classes).to(self.device)

    def _check_ready(self) -> None:
        """Raise if the model cannot be used yet (a mixture before ``fit``); nothing to check by default."""

    def sample(self, n: int, generator: torch.Generator | None = None, *, context=None) -> torch.Tensor:
        """n samples, shaped like the data, on the model's device (no gradients, eval mode).

        ``context``: for a class-conditional model, the label of each sample, shape (n,).
        """
        n = positive_int(n, "n")
        generator_or_none(generator)
        self._check_ready()
        context = self.check_context(context, n)
        with evaluation_mode(self):
            return self._sample(n, generator, context)

    @abstractmethod
    def _sample(self, n: int, generator: torch.Generator | None, context: torch.Tensor | None) -> torch.Tensor:
        """Draw n samples; arguments already checked."""

    def _load_from_state_dict(self, state_dict, prefix, *args, **kwargs):
        for name in self._fitted_buffers:   # an unfitted model takes the fitted shapes of the state it loads
            key, current = prefix + name, self._buffers.get(name)
            if key in state_dict and current is not None and current.shape != state_dict[key].shape:
                self._buffers[name] = torch.empty_like(state_dict[key], device=current.device)
        super()._load_from_state_dict(state_dict, prefix, *args, **kwargs)


class TrainableSampler(Sampler):
    """A sampler trained by minimising a loss on data (score models, every density model).
    Subclasses implement ``_loss(x, context, generator)`` and say in ``check_input`` what data they model."""

    def check_input(self, x, name: str = "x") -> torch.Tensor:
        """``x`` checked (type, shape, values) and moved to the model's device. Default: finite numbers."""
        return as_float_tensor(x, name).to(self.device)

    def loss(self, x, *, context=None, generator: torch.Generator | None = None) -> torch.Tensor:
        """What training minimises, a scalar (for a density model, the mean negative log-likelihood in nats
        per example by default, or a bound on it)."""
        self._check_ready()
        generator_or_none(generator)
        x = self.check_input(x)
        return self._loss(x, self.check_context(context, len(x)), generator)

    @abstractmethod
    def _loss(self, x: torch.Tensor, context: torch.Tensor | None, generator: torch.Generator | None) -> torch.Tensor:
        """The training loss on checked data on the model's device."""


class DensityModel(TrainableSampler):
    """A likelihood model. Subclasses implement ``_log_prob(x, context)`` and ``_sample``, and say in
    ``check_input`` what data they model."""

    #: True when log_prob is a Monte Carlo estimate (a VAE's IWAE): its log_prob and _log_prob take generator=
    log_prob_is_estimate = False

    def log_prob(self, x, *, context=None) -> torch.Tensor:
        """Log-likelihood of each example of x, shape (B,), in nats."""
        self._check_ready()
        x = self.check_input(x)
        return self._log_prob(x, self.check_context(context, len(x)))

    @abstractmethod
    def _log_prob(self, x: torch.Tensor, context: torch.Tensor | None) -> torch.Tensor:
        """Log-likelihood (B,) of checked data on the model's device."""

    def _loss(self, x: torch.Tensor, context: torch.Tensor | None, generator: torch.Generator | None) -> torch.Tensor:
        return -self._log_prob(x, context).mean()


class ImageModel(DensityModel):
    """A density model of images (B, C, H, W) whose values are grey levels 0..levels-1.

    ``discrete = True`` (the default): the model gives probabilities of the integer levels; a continuous
    model of dequantized images sets it to False and accepts values in [0, levels).
    """

    discrete = True

    def __init__(self, image_shape=(1, 8, 8), levels: int = 17):
        super().__init__()
        if (not isinstance(image_shape, (tuple, list, torch.Size)) or len(image_shape) != 3
                or any(isinstance(s, bool) or not isinstance(s, numbers.Integral) or s < 1 for s in image_shape)):
            raise ValueError(f"image_shape must be three positive ints (C, H, W), got {image_shape!r}")
        self.image_shape = tuple(int(s) for s in image_shape)
        self.levels = positive_int(levels, "levels", minimum=2)
        self.pixels = self.image_shape[1] * self.image_shape[2]

    @property
    def dims(self) -> int:
        """Numbers per image, C · H · W (the D of bits per dimension)."""
        return math.prod(self.image_shape)

    def check_input(self, x, name: str = "x") -> torch.Tensor:
        return as_level_images(x, name, self.image_shape, self.levels, integer=self.discrete).to(self.device)

    def scaled(self, x: torch.Tensor) -> torch.Tensor:
        """Grey levels → [-1, 1], the networks' input scale, on the model's device."""
        return scale_levels(x, self.levels).to(self.device, torch.get_default_dtype())
