"""One training loop for every model: Adam on the model's loss, early stopping, checkpoints.

The data are validated once, against the model, before the first epoch (and moved to the training
device once); the loop then calls the model's unchecked ``_loss``. Checkpoints are written atomically
(``storage``) at the end of training and, on the way, at the first epoch (or step) boundary after every
``CHECKPOINT_INTERVAL_S`` seconds; training resumes from the last one, including the optimiser and the
shuffling generator. All randomness of an epoch depends on ``seed`` and the epoch number only: the noise
a stochastic loss draws (a VAE's ε) comes from a generator reseeded every epoch, and dropout, which
can only use PyTorch's global generator, runs on a copy of it seeded the same way (``fork_rng``; the
caller's global generator is left as it was). So an interrupted run continues exactly where it stopped,
and a chapter gives the same results whether its models were trained now or loaded from the cache.
"""

from __future__ import annotations

import contextlib
import copy
import math
import os
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Callable

import torch
from torch import nn
from torch.optim.swa_utils import get_ema_multi_avg_fn

from . import randomness
from .models.base import TrainableSampler, evaluation_mode
from .models.gan import GAN
from .runtime import cache_only, in_worker, log_training_record
from .runtime import device as default_device
from .runtime import progress as progress_bar
from .storage import check_writable, load_checkpoint, save_checkpoint
from .validation import as_float_tensor, finite_float, has_values, positive_float, positive_int, seed_int


@dataclass
class History:
    """Per-epoch mean losses (train, validation), the best epoch (0-based) and the wall time in s. With ``fit``'s
    ``average``, ``val_loss`` is that of the averaged weights, and ``val_loss_unaveraged`` the validation loss of
    the trained weights of the best epoch (the weights the average was taken from; None without ``average``)."""
    train_loss: list[float] = field(default_factory=list)
    val_loss: list[float] = field(default_factory=list)
    val_loss_unaveraged: float | None = None
    best_epoch: int = -1
    stopped_early: bool = False
    seconds: float = 0.0

    @classmethod
    def restored(cls, saved: dict) -> "History":
        """The History a checkpoint saved (``dataclasses.asdict``). Checkpoints of earlier course versions hold
        ``val_loss_unaveraged`` for every epoch: the best epoch's value is kept."""
        saved = dict(saved)
        unaveraged = saved.get("val_loss_unaveraged")
        if isinstance(unaveraged, list):
            best = saved.get("best_epoch", -1)
            saved["val_loss_unaveraged"] = unaveraged[best] if 0 <= best < len(unaveraged) else None
        return cls(**saved)


def _examples(data, name: str, with_labels: bool):
    """(examples, labels or None) from a ``data.Dataset`` or a plain tensor of examples."""
    x = as_float_tensor(getattr(data, "x", data), name)
    if not with_labels:
        return x, None
    if getattr(data, "y", None) is None:
        raise TypeError(f"{name} must be a data.Dataset (x, y) when labels_as_context=True, got {type(data).__name__}")
    return x, data.y


def _batches(x, y, indices, batch_size):
    for index in indices.split(batch_size):
        yield x[index], None if y is None else y[index]


def _noise_seed(seed: int, epoch: int) -> int:
    return (seed * 1_000_003 + epoch + 1) % 2**63


def _as_device(device) -> torch.device:
    if device is None:
        return default_device()
    if not isinstance(device, (str, torch.device)):
        raise TypeError(f"device must be a torch.device, a str such as 'cuda', or None, got {type(device).__name__}")
    try:
        dev = torch.device(device)
    except RuntimeError:
        raise ValueError(f"device must name a device such as 'cpu', 'cuda', 'cuda:1' or 'mps', "
                         f"got {device!r}") from None
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(f"device is {device!r}, but CUDA is not available on this machine: pass device='cpu' "
                         "or None (the best device there is)")
    if dev.type == "cuda" and dev.index is not None and dev.index >= torch.cuda.device_count():
        raise ValueError(f"device is {device!r}, but this machine has {torch.cuda.device_count()} CUDA device(s)")
    if dev.type == "mps" and not torch.backends.mps.is_available():
        raise ValueError(f"device is {device!r}, but MPS is not available on this machine: pass device='cpu' or None")
    return dev


def _check_parameters(module: nn.Module, name: str) -> None:
    if next(module.parameters(), None) is None:
        raise ValueError(f"{name} has no parameters to train ({type(module).__name__})")


def _check_flags(**flags) -> None:
    for name, value in flags.items():
        if not isinstance(value, bool):
            raise TypeError(f"{name} must be a bool, got {type(value).__name__}")


def _check_dequantizable(x: torch.Tensor, name: str) -> None:
    if has_values(x) and ((x < 0).any() or (x != torch.round(x)).any()):
        raise ValueError(f"{name} must hold non-negative integer grey levels to dequantize")


def _checkpoint_path(checkpoint) -> Path | None:
    """``checkpoint`` checked before training starts: None, or the path of a file that can be written."""
    if checkpoint is not None and not isinstance(checkpoint, (str, os.PathLike)):
        raise TypeError(f"checkpoint must be a str, os.PathLike or None, got {type(checkpoint).__name__}")
    return None if checkpoint is None else check_writable(checkpoint, "checkpoint")


def _foreign(checkpoint, module: nn.Module, what: str, reason: str) -> ValueError:
    return ValueError(f"checkpoint: {checkpoint} does not hold a {what} state of this {type(module).__name__}: "
                      f"{reason}; delete the file, or pass another checkpoint path, to train afresh")


@contextlib.contextmanager
def _restoring(checkpoint, module: nn.Module, what: str):
    """Turn any failure to restore a saved state into the clear error of a foreign checkpoint."""
    try:
        yield
    except (KeyError, TypeError, RuntimeError, ValueError, AttributeError, IndexError) as error:
        reason = " ".join(str(error).split()) or type(error).__name__
        reason = reason if len(reason) <= 300 else reason[:299] + "…"
        raise _foreign(checkpoint, module, what, f"it was written for a different model or loop ({reason})") from None


def _resume(checkpoint, module: nn.Module, optimizers: dict, what: str, keys: tuple[str, ...]) -> dict | None:
    """The saved training state at ``checkpoint`` (None when there is none yet), with the weights and the
    optimisers' states (``{key in the file: optimiser}``) already loaded; a clear error for a file that
    holds another model's (or another loop's) state, or lacks one of ``keys``."""
    if checkpoint is None or not checkpoint.is_file():
        return None
    try:
        saved = load_checkpoint(checkpoint, name="checkpoint")
    except ValueError as error:
        raise ValueError(f"{error}; delete the file, or pass another checkpoint path, to train afresh") from None
    missing = [key for key in ("model", *optimizers, *keys) if key not in saved]
    if missing:
        raise _foreign(checkpoint, module, what, f"it lacks the keys {missing}")
    with _restoring(checkpoint, module, what):
        module.load_state_dict(saved["model"])
        for key, optimizer in optimizers.items():
            optimizer.load_state_dict(saved[key])
    return saved


def _refuse_if_cache_only(module: nn.Module, finished: bool, checkpoint, loop: str) -> None:
    if cache_only() and not finished:
        raise RuntimeError(f"DGM_CACHE_ONLY is set, so {type(module).__name__} may not train, but "
                           f"{checkpoint or f'this {loop} (no checkpoint)'} holds no finished run: run the "
                           f"chapter once without DGM_CACHE_ONLY to fill the cache")


def _seeded_noise(dev: torch.device, seed: int) -> torch.Generator | None:
    """The generator of a loop's noise on ``dev`` (None where generators cannot live), seeded by ``seed``."""
    if dev.type not in ("cpu", "cuda"):
        return None
    return torch.Generator(device=dev).manual_seed(_noise_seed(seed, 0))


CHECKPOINT_INTERVAL_S = 10.0
"""Seconds of training between two checkpoints of a run (at the next epoch or step boundary); the last one is
always written. An interruption loses at most this much training, and a small model, whose epoch takes less
time than writing its checkpoint (optimiser state and best weights included), is not slowed down by them."""


class _PeriodicCheckpoint:
    """A run's checkpoint file: ``write(position, final)`` saves ``state(position)`` when the run ends (``final``)
    and, on the way, once ``CHECKPOINT_INTERVAL_S`` seconds have passed since the last write; no file, no write."""

    def __init__(self, path: Path | None, state: Callable[[int], dict]):
        self.path, self.state, self.written_at = path, state, time.perf_counter()

    def write(self, position: int, final: bool) -> None:
        if self.path is None or not (final or time.perf_counter() - self.written_at >= CHECKPOINT_INTERVAL_S):
            return
        save_checkpoint(self.state(position), self.path)
        self.written_at = time.perf_counter()


class _WeightAverage:
    """An exponential moving average of a module's parameters (Polyak & Juditsky, 1992): after every step
    ``a ← decay · a + (1 − decay) · w`` (PyTorch's ``swa_utils.get_ema_multi_avg_fn``), starting from the weights
    after the first step. Buffers are not averaged: the module's own are used with it. ``saved``: the ``average``
    of a checkpoint, to resume from."""

    def __init__(self, module: nn.Module, decay: float, saved: list | None = None):
        self.parameters, self.step = list(module.parameters()), get_ema_multi_avg_fn(decay)
        self.average = None if saved is None else [a.to(p.device) for a, p in zip(saved, self.parameters, strict=True)]

    @torch.no_grad()
    def update(self) -> None:
        if self.average is None:
            self.average = [p.detach().clone() for p in self.parameters]
        else:
            self.step(self.average, [p.detach() for p in self.parameters], None)

    @contextlib.contextmanager
    def swapped_in(self):
        """The module holds the average inside the ``with`` block, its trained weights again after it."""
        trained = [p.detach().clone() for p in self.parameters]
        self.put_in()
        try:
            yield
        finally:
            with torch.no_grad():
                for p, w in zip(self.parameters, trained):
                    p.copy_(w)

    @torch.no_grad()
    def put_in(self) -> None:
        for p, a in zip(self.parameters, self.average or []):
            p.copy_(a)


SCHEDULES = ("constant", "linear", "cosine")


def _check_schedule(schedule) -> str:
    if schedule not in SCHEDULES:
        raise ValueError(f"schedule must be one of {SCHEDULES}, got {schedule!r}")
    return schedule


def _follow_schedule(optimizer: torch.optim.Optimizer, lr: float, schedule: str, done_fraction: float) -> None:
    """Set the learning rate for the point ``done_fraction`` (0 … 1) of training: ``lr`` for ``"constant"``,
    ``lr`` falling in a straight line to 0 for ``"linear"``, along half a cosine to 0 for ``"cosine"`` (a
    function of the position only, so resuming needs no state)."""
    if schedule == "constant":
        return
    factor = 1 - done_fraction if schedule == "linear" else 0.5 * (1 + math.cos(math.pi * done_fraction))
    for group in optimizer.param_groups:
        group["lr"] = lr * factor


def _adam(parameters, dev: torch.device, **options) -> torch.optim.Adam:
    """Adam on ``parameters`` (already on ``dev``), as one fused kernel per step where PyTorch has one (CPU,
    CUDA): 2–3× faster optimiser steps than the loop over tensors, which the course's small models notice."""
    return torch.optim.Adam(parameters, fused=True if dev.type in ("cpu", "cuda") else None, **options)


def _descend(optimizer: torch.optim.Optimizer, loss: torch.Tensor, only: list | None = None) -> None:
    """One gradient step of ``optimizer`` on ``loss`` (gradients cleared first). ``only``: the parameters that
    need gradients, when ``loss`` also depends on others (a GAN's generator step need not compute D's)."""
    optimizer.zero_grad(set_to_none=True)
    loss.backward(inputs=only)
    optimizer.step()


def _log_training(loop: str, module: nn.Module, checkpoint: Path | None, seconds: float, steps: int) -> None:
    """Append one line about this call to the file ``$DGM_TRAINING_LOG`` names, if it is set (``make bench``
    reads it: the training seconds of every model of a chapter). ``steps``: epochs or steps run in this call,
    0 when a finished checkpoint was loaded; ``seconds``: wall time of the call; ``worker``: whether it ran in a
    worker process of ``runtime.side_by_side``."""
    name = checkpoint.stem if checkpoint is not None else type(module).__name__
    log_training_record({"loop": loop, "model": name, "seconds": round(seconds, 3), "steps": steps,
                         "worker": in_worker()})


def fit(model: nn.Module, train, val=None, *, epochs: int = 100, batch_size: int = 128, lr: float = 1e-3,
        weight_decay: float = 0.0, patience: int = 10, transform: Callable | None = None, dequantize: bool = False,
        labels_as_context: bool = False, checkpoint: str | os.PathLike | None = None, seed: int = 0,
        device: torch.device | str | None = None, progress: bool = True, schedule: str = "constant",
        average: float | None = None) -> History:
    """Minimise the model's loss with Adam; return the History, leaving the best weights in ``model``, in eval mode.

    model: a ``DensityModel`` or another ``TrainableSampler`` (or any ``nn.Module`` with a ``loss(x)`` method). train, val: tensors of
    examples (N, ...) or ``data.Dataset``. Early stopping: after ``patience`` epochs without a better
    validation loss, stop and restore the best weights (no ``val``: train for ``epochs`` and keep the last, or their
    ``average``).
    ``dequantize``: train a continuous model of integer levels on k + u, u ~ U[0, 1) drawn afresh for every
    batch (validated once; Theis et al., 2016). ``transform``: any other function applied to every batch.
    ``labels_as_context``: pass each batch's labels (the datasets' ``y``) as the ``context`` of a
    class-conditional model. ``device``: where to train (default ``runtime.device()``).
    ``schedule``: the learning rate over training, ``"constant"``, ``"linear"`` (``lr`` falling in a straight line
    to 0 at the end of epoch ``epochs``) or ``"cosine"`` (along half a cosine to 0 then; Loshchilov & Hutter,
    2017), which converges in fewer epochs; early stopping still keeps the best epoch.
    ``average``: a decay in (0, 1) to validate and keep an exponential moving average of the weights, updated
    after every step (``a ← average · a + (1 − average) · w``; Polyak & Juditsky, 1992), instead of the weights
    themselves: it smooths out the last steps' noise, as dropout's or a large learning rate's, and reaches a given
    validation loss in fewer epochs; ``1 / (1 − average)`` steps is about how far back it remembers.
    ``checkpoint``: a file written at the end and after the first epoch that ends ``CHECKPOINT_INTERVAL_S``
    seconds after the last write; if it exists when ``fit`` starts, training resumes
    from it (and returns at once if that run had stopped early or reached ``epochs``). With
    ``$DGM_CACHE_ONLY`` set, a model whose finished checkpoint is missing raises instead of training.
    """
    if not isinstance(model, nn.Module) or not callable(getattr(model, "loss", None)):
        raise TypeError(f"model must be a torch.nn.Module with a loss(x) method, got {type(model).__name__}")
    _check_parameters(model, "model")
    _check_flags(labels_as_context=labels_as_context, dequantize=dequantize, progress=progress)
    x_train, y_train = _examples(train, "train", labels_as_context)
    x_val, y_val = _examples(val, "val", labels_as_context) if val is not None else (None, None)
    if x_val is not None and x_val.shape[1:] != x_train.shape[1:]:
        raise ValueError(f"val examples have shape {tuple(x_val.shape[1:])}, train examples {tuple(x_train.shape[1:])}")
    epochs = positive_int(epochs, "epochs")
    batch_size = positive_int(batch_size, "batch_size")
    lr = positive_float(lr, "lr")
    weight_decay = positive_float(weight_decay, "weight_decay", allow_zero=True)
    patience = positive_int(patience, "patience")
    seed = seed_int(seed)
    schedule = _check_schedule(schedule)
    if average is not None:
        average = positive_float(average, "average")
        if average >= 1:
            raise ValueError(f"average must be None or a decay in (0, 1), got {average}")
    if transform is not None and not callable(transform):
        raise TypeError(f"transform must be callable or None, got {type(transform).__name__}")
    checkpoint = _checkpoint_path(checkpoint)
    dev = _as_device(device)
    if dequantize:
        _check_dequantizable(x_train, "train")
        if x_val is not None:
            _check_dequantizable(x_val, "val")
    model.to(dev)

    if isinstance(model, TrainableSampler):
        # Validate once, here; the loop calls the unchecked loss on data already on the device.
        # A class-conditional model without labels_as_context gets None here, and says it needs labels.
        x_train = model.check_input(x_train, "train")
        y_train = model.check_context(y_train, len(x_train), "train labels")
        if x_val is not None:
            x_val = model.check_input(x_val, "val")
            y_val = model.check_context(y_val, len(x_val), "val labels")
        loss_of = model._loss
    else:
        if labels_as_context:
            raise TypeError(f"labels_as_context needs a course_lib model (a TrainableSampler), got {type(model).__name__}")
        x_train, x_val = x_train.to(dev), None if x_val is None else x_val.to(dev)
        loss_of = lambda batch, context, generator: model.loss(batch)  # noqa: E731

    optimizer = _adam(model.parameters(), dev, lr=lr, weight_decay=weight_decay)
    shuffler = torch.Generator().manual_seed(seed)
    noise = _seeded_noise(dev, seed)      # reseeded every epoch below
    # best_trained: with an average, the trained weights of the best epoch (best_state holds their average)
    history, best_state, best_trained, best_val, start, done = History(), None, None, math.inf, 0, False

    saved = _resume(checkpoint, model, {"optimizer": optimizer}, "training",
                    ("shuffler", "history", "best_model", "best_val", "epoch") + (("averaged",) if average else ()))
    averaged = None if average is None or saved is not None else _WeightAverage(model, average)
    if saved is not None:
        with _restoring(checkpoint, model, "training"):
            if average is not None:     # here, so that a checkpoint whose average does not fit gets the clear message
                averaged = _WeightAverage(model, average, saved["averaged"])
            shuffler.set_state(saved["shuffler"])
            history = History.restored(saved["history"])
            best_state, best_val = saved["best_model"], float(saved["best_val"])
            best_trained = saved.get("best_trained")       # absent from checkpoints of earlier course versions
            start, done = int(saved["epoch"]) + 1, history.stopped_early
    _refuse_if_cache_only(model, done or start >= epochs, checkpoint, "fit")

    def prepared(batch):
        if dequantize:
            batch = batch + randomness.uniform(batch.shape, generator=noise, device=dev, dtype=batch.dtype)
        return transform(batch) if transform else batch

    def mean_loss(x, y) -> float:
        with evaluation_mode(model):
            total = sum(loss_of(prepared(batch), context, noise).double() * len(batch)
                        for batch, context in _batches(x, y, torch.arange(len(x), device=dev), batch_size))
        return total.item() / len(x)

    def trained_val_loss() -> float:
        """The validation loss of the best epoch's trained weights; the model's own weights are put back."""
        current = copy.deepcopy(model.state_dict())
        model.load_state_dict(best_trained)
        try:
            return mean_loss(x_val, y_val)
        finally:
            model.load_state_dict(current)

    saved_run = _PeriodicCheckpoint(checkpoint, lambda epoch: {
        "model": model.state_dict(), "optimizer": optimizer.state_dict(), "shuffler": shuffler.get_state(),
        "history": asdict(history), "best_model": best_state, "best_val": best_val, "epoch": epoch,
        **({} if averaged is None else {"averaged": averaged.average, "best_trained": best_trained})})
    call_started = time.perf_counter()
    started = call_started - history.seconds
    bar = progress_bar(range(start, epochs), total=epochs, initial=start, desc=type(model).__name__,
                       **({} if progress else {"disable": True}))
    for epoch in ([] if done else bar):
        model.train()
        if noise is not None:
            noise.manual_seed(_noise_seed(seed, epoch))
        order = randomness.permutation(len(x_train), generator=shuffler, device=dev)
        total = torch.zeros((), dtype=torch.float64, device=dev)
        with torch.random.fork_rng(devices=[dev] if dev.type == "cuda" else []):
            torch.default_generator.manual_seed(_noise_seed(seed, epoch))   # what dropout draws
            if dev.type == "cuda":
                torch.cuda.manual_seed(_noise_seed(seed, epoch))
            for step, (batch, context) in enumerate(_batches(x_train, y_train, order, batch_size)):
                _follow_schedule(optimizer, lr, schedule, (epoch + step * batch_size / len(x_train)) / epochs)
                loss = loss_of(prepared(batch), context, noise)
                if not torch.isfinite(loss):  # stop at once: a step on a non-finite loss turns the weights to NaN
                    raise FloatingPointError(f"loss became {loss.item()} in epoch {epoch}; try a smaller lr")
                _descend(optimizer, loss)
                if averaged is not None:
                    averaged.update()
                total += loss.detach().double() * len(batch)
        history.train_loss.append(total.item() / len(x_train))
        if x_val is not None:
            with averaged.swapped_in() if averaged is not None else contextlib.nullcontext():
                history.val_loss.append(mean_loss(x_val, y_val))
                if history.val_loss[-1] < best_val:
                    best_val, history.best_epoch = history.val_loss[-1], epoch
                    best_state = copy.deepcopy(model.state_dict())
            if averaged is not None and history.best_epoch == epoch:
                best_trained = copy.deepcopy(model.state_dict())     # outside the swap: the trained weights
            done = epoch - history.best_epoch >= patience
            history.stopped_early = done
        else:
            history.best_epoch = epoch
        final = done or epoch + 1 == epochs
        # The trained weights are validated once, those of the epoch kept: every epoch would double validation's cost.
        if final and averaged is not None and best_trained is not None:
            history.val_loss_unaveraged = trained_val_loss()
        bar.set_postfix(train=f"{history.train_loss[-1]:.2f}",
                        val=f"{history.val_loss[-1]:.2f}" if history.val_loss else "-")
        history.seconds = time.perf_counter() - started
        saved_run.write(epoch, final=final)
        if done:
            break
    bar.close()
    if best_state is not None:
        model.load_state_dict(best_state)
    elif averaged is not None:
        averaged.put_in()
    model.eval()
    _log_training("fit", model, checkpoint, time.perf_counter() - call_started, len(history.train_loss) - start)
    return history


@dataclass
class Steps:
    """The loss at every optimisation step of ``minimize`` and the wall time in s."""
    loss: list[float] = field(default_factory=list)
    seconds: float = 0.0


def minimize(module: nn.Module, objective: Callable[[torch.Generator | None, int], torch.Tensor], *, steps: int,
             lr: float = 1e-3, checkpoint: str | os.PathLike | None = None, seed: int = 0,
             device: torch.device | str | None = None, progress: bool = True,
             after_step: Callable[[], None] | None = None, schedule: str = "constant") -> Steps:
    """Minimise a stochastic objective that needs no data set, with Adam: ``steps`` steps on the parameters of
    ``module``, e.g. a flow fitted to an unnormalised target by reverse KL, E_q[log q(z) + U(z)].

    objective(generator, step) → a scalar tensor: it must draw its noise from ``generator`` (on the module's
    device, seeded by ``seed``), so a run is reproducible and resumes exactly; ``step`` (0 … steps − 1) lets it
    anneal a weight. ``after_step()``, if given, runs after every Adam step (e.g. WGAN's weight clipping, a
    projection back onto the constraint set). ``checkpoint``: written at the end and every
    ``CHECKPOINT_INTERVAL_S`` seconds on the way; an existing one resumes (a finished one returns at once).
    With ``$DGM_CACHE_ONLY`` set, a missing or unfinished checkpoint raises instead of training. Leaves
    ``module`` in eval mode and returns the per-step losses. ``schedule``: as in ``fit``, over the ``steps``.
    """
    if not isinstance(module, nn.Module):
        raise TypeError(f"module must be a torch.nn.Module, got {type(module).__name__}")
    if not callable(objective):
        raise TypeError(f"objective must be callable ((generator, step) → a scalar loss), got {type(objective).__name__}")
    if after_step is not None and not callable(after_step):
        raise TypeError(f"after_step must be callable (no arguments) or None, got {type(after_step).__name__}")
    _check_flags(progress=progress)
    _check_parameters(module, "module")
    steps, lr, seed = positive_int(steps, "steps"), positive_float(lr, "lr"), seed_int(seed)
    schedule = _check_schedule(schedule)
    checkpoint = _checkpoint_path(checkpoint)
    dev = _as_device(device)
    module.to(dev)
    optimizer = _adam(module.parameters(), dev, lr=lr)
    noise = _seeded_noise(dev, seed)
    record, start = Steps(), 0
    saved = _resume(checkpoint, module, {"optimizer": optimizer}, "minimize", ("record", "step", "noise"))
    if saved is not None:
        with _restoring(checkpoint, module, "minimize"):
            record, start = Steps(**saved["record"]), int(saved["step"])
            if noise is not None:
                noise.set_state(saved["noise"].to(torch.uint8))
    _refuse_if_cache_only(module, start >= steps, checkpoint, "minimize")

    saved_run = _PeriodicCheckpoint(checkpoint, lambda step: {
        "model": module.state_dict(), "optimizer": optimizer.state_dict(), "record": asdict(record), "step": step,
        "noise": noise.get_state() if noise is not None else torch.zeros(0)})

    call_started = time.perf_counter()
    started = call_started - record.seconds
    module.train()
    bar = progress_bar(range(start, steps), total=steps, initial=start, desc=type(module).__name__,
                       **({} if progress else {"disable": True}))
    for step in bar:
        _follow_schedule(optimizer, lr, schedule, step / steps)
        loss = objective(noise, step)
        if not isinstance(loss, torch.Tensor) or loss.numel() != 1:
            raise TypeError(f"objective must return a scalar tensor, got {type(loss).__name__}"
                            + (f" of shape {tuple(loss.shape)}" if isinstance(loss, torch.Tensor) else ""))
        if not loss.requires_grad:
            raise ValueError(f"objective must return a loss computed from the module's parameters (one that "
                             f"requires grad), got a tensor without a gradient at step {step}")
        if not torch.isfinite(loss):
            raise FloatingPointError(f"loss became {loss.item()} at step {step}; try a smaller lr")
        _descend(optimizer, loss)
        if after_step is not None:
            after_step()
        record.loss.append(loss.item())
        record.seconds = time.perf_counter() - started
        saved_run.write(step + 1, final=step + 1 == steps)
    bar.close()
    module.eval()
    _log_training("minimize", module, checkpoint, time.perf_counter() - call_started, len(record.loss) - start)
    return record


@dataclass
class AdversarialHistory:
    """Per-step losses of both players, snapshots of samples from fixed codes (``snapshot_steps``: after how
    many steps each was taken; 0 is before training) and the wall time in s. ``discriminator_loss`` is the
    game's term of D's last step (for a WGAN, minus the critic's estimate of W₁ on that minibatch);
    ``penalty`` the gradient penalty added to it (0 without one)."""
    discriminator_loss: list[float] = field(default_factory=list)
    generator_loss: list[float] = field(default_factory=list)
    penalty: list[float] = field(default_factory=list)
    snapshot_steps: list[int] = field(default_factory=list)
    snapshots: list[torch.Tensor] = field(default_factory=list)
    seconds: float = 0.0


def fit_adversarial(gan: nn.Module, train, *, steps: int, batch_size: int = 64, lr_generator: float = 2e-4,
                    lr_discriminator: float = 2e-4, betas: tuple[float, float] = (0.5, 0.999),
                    discriminator_steps: int = 1, lr_decay: bool = False, labels_as_context: bool = False,
                    snapshot_every: int = 0,
                    snapshot_size: int = 512, checkpoint: str | os.PathLike | None = None, seed: int = 0,
                    device: torch.device | str | None = None, progress: bool = True) -> AdversarialHistory:
    """Train a ``models.GAN`` by alternating updates: ``discriminator_steps`` Adam steps of D (or a critic) on
    a random minibatch against fresh fakes, then one step of G. Returns the history; leaves eval mode.

    ``lr_generator`` ≠ ``lr_discriminator`` gives two-timescale updates (Heusel et al., 2017). ``lr_decay``:
    both learning rates fall linearly to zero over ``steps``, which damps the players' oscillation around
    the equilibrium at the end of training (samples settle instead of circling).
    ``labels_as_context``: a class-conditional GAN, fakes drawn with the labels of the real minibatch.
    ``snapshot_every``: every so many steps (and before the first), the samples of ``snapshot_size`` fixed
    codes are kept, to watch training (mode collapse). Randomness: the minibatches and every z come from
    generators seeded by ``seed``, so a run is reproducible and resumes exactly from ``checkpoint`` (written
    at the end and every ``CHECKPOINT_INTERVAL_S`` seconds on the way); with ``$DGM_CACHE_ONLY`` an unfinished
    checkpoint raises.
    """
    if not isinstance(gan, GAN):
        raise TypeError(f"gan must be a course_lib.models.GAN, got {type(gan).__name__}")
    _check_flags(labels_as_context=labels_as_context, lr_decay=lr_decay, progress=progress)
    x_train, y_train = _examples(train, "train", labels_as_context)
    steps, batch_size = positive_int(steps, "steps"), positive_int(batch_size, "batch_size")
    lr_generator, lr_discriminator = positive_float(lr_generator, "lr_generator"), positive_float(lr_discriminator,
                                                                                                  "lr_discriminator")
    if not isinstance(betas, (tuple, list)) or len(betas) != 2:
        raise TypeError(f"betas must be a tuple of two numbers in [0, 1), got {betas!r}")
    betas = tuple(finite_float(b, "betas") for b in betas)
    if not all(0 <= b < 1 for b in betas):
        raise ValueError(f"betas must be two numbers in [0, 1), got {betas!r}")
    discriminator_steps = positive_int(discriminator_steps, "discriminator_steps")
    snapshot_every = positive_int(snapshot_every, "snapshot_every", minimum=0)
    snapshot_size, seed = positive_int(snapshot_size, "snapshot_size"), seed_int(seed)
    checkpoint = _checkpoint_path(checkpoint)
    dev = _as_device(device)
    gan.to(dev)
    x_train = gan.check_input(x_train, "train")
    y_train = gan.check_context(y_train, len(x_train), "train labels")

    optimizer_d = _adam(gan.discriminator_parameters(), dev, lr=lr_discriminator, betas=tuple(betas))
    generator_parameters = list(gan.generator_parameters())
    optimizer_g = _adam(generator_parameters, dev, lr=lr_generator, betas=tuple(betas))
    shuffler = torch.Generator().manual_seed(seed)
    noise = _seeded_noise(dev, seed)
    fixed_z = randomness.normal((snapshot_size, gan.latent_dim), generator=torch.Generator().manual_seed(seed),
                                device=dev)
    fixed_context = (None if gan.context_classes is None
                     else torch.arange(snapshot_size, device=dev) % gan.context_classes)
    history, start = AdversarialHistory(), 0
    saved = _resume(checkpoint, gan, {"optimizer_d": optimizer_d, "optimizer_g": optimizer_g}, "fit_adversarial",
                    ("shuffler", "noise", "history", "step"))
    if saved is not None:
        with _restoring(checkpoint, gan, "fit_adversarial"):
            shuffler.set_state(saved["shuffler"])
            if noise is not None:
                noise.set_state(saved["noise"].to(torch.uint8))
            history, start = AdversarialHistory(**saved["history"]), int(saved["step"])
    _refuse_if_cache_only(gan, start >= steps, checkpoint, "fit_adversarial")

    def snapshot(step):
        with evaluation_mode(gan):
            history.snapshots.append(gan.to_data(gan.generator(fixed_z, fixed_context)).cpu())
        history.snapshot_steps.append(step)

    saved_run = _PeriodicCheckpoint(checkpoint, lambda step: {
        "model": gan.state_dict(), "optimizer_d": optimizer_d.state_dict(), "optimizer_g": optimizer_g.state_dict(),
        "shuffler": shuffler.get_state(), "noise": noise.get_state() if noise is not None else torch.zeros(0),
        "history": asdict(history), "step": step})

    def minibatch():
        index = randomness.integers(len(x_train), (batch_size,), generator=shuffler).to(dev)
        return gan.prepare(x_train[index], noise), None if y_train is None else y_train[index]

    if snapshot_every and start == 0:
        snapshot(0)
    call_started = time.perf_counter()
    started = call_started - history.seconds
    gan.train()
    bar = progress_bar(range(start, steps), total=steps, initial=start, desc=type(gan).__name__,
                       **({} if progress else {"disable": True}))
    for step in bar:
        for optimizer, lr in ((optimizer_d, lr_discriminator), (optimizer_g, lr_generator)):
            _follow_schedule(optimizer, lr, "linear" if lr_decay else "constant", step / steps)
        for _ in range(discriminator_steps):
            real, context = minibatch()
            loss_d, penalty = gan._discriminator_terms(real, context, noise)
            _descend(optimizer_d, loss_d + penalty)
            gan._after_discriminator_step()
        real, context = minibatch()                   # G's step sees real data too when it has an encoder (BiGAN)
        loss_g = gan._generator_loss(real, context, noise)
        _descend(optimizer_g, loss_g, only=generator_parameters)
        if not (torch.isfinite(loss_d) and torch.isfinite(loss_g)):
            raise FloatingPointError(f"losses became {loss_d.item()} (D), {loss_g.item()} (G) at step {step}; "
                                     "try a smaller learning rate")
        history.discriminator_loss.append(loss_d.item())
        history.penalty.append(penalty.item())
        history.generator_loss.append(loss_g.item())
        if snapshot_every and (step + 1) % snapshot_every == 0:
            snapshot(step + 1)
            gan.train()
        history.seconds = time.perf_counter() - started
        saved_run.write(step + 1, final=step + 1 == steps)
    bar.close()
    gan.eval()
    _log_training("fit_adversarial", gan, checkpoint, time.perf_counter() - call_started,
                  len(history.generator_loss) - start)
    return history
