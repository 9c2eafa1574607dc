"""One training loop for every model: Adam on ``model.loss(batch)``, early stopping, checkpoints.

Checkpoints are written atomically (a temporary file in the same folder, then ``os.replace``), so
an interrupted write never leaves a corrupt file, and they are loaded with ``weights_only=True``
(plain tensors and numbers only, no arbitrary pickled code). Training resumes from the last
checkpoint, including the optimiser and the shuffling generator, so an interrupted run continues
exactly where it stopped.
"""

from __future__ import annotations

import copy
import os
import tempfile
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Callable

import torch
from torch import nn

from .runtime import device as default_device
from .runtime import progress as progress_bar
from .validation import as_float_tensor, positive_float, positive_int


@dataclass
class History:
    """Per-epoch mean losses (train, validation), the best epoch (0-based) and the wall time in s."""
    train_loss: list[float] = field(default_factory=list)
    val_loss: list[float] = field(default_factory=list)
    best_epoch: int = -1
    stopped_early: bool = False
    seconds: float = 0.0


def save_checkpoint(state: dict, path: str | os.PathLike) -> None:
    """Write ``state`` to ``path`` atomically: readers see the old file or the new one, never half of one."""
    if not isinstance(state, dict):
        raise TypeError(f"state must be a dict, got {type(state).__name__}")
    if not isinstance(path, (str, os.PathLike)):
        raise TypeError(f"path must be a str or os.PathLike, got {type(path).__name__}")
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            torch.save(state, f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def load_checkpoint(path: str | os.PathLike) -> dict:
    """Read a checkpoint written by ``save_checkpoint`` (tensors, numbers, strings only)."""
    if not isinstance(path, (str, os.PathLike)):
        raise TypeError(f"path must be a str or os.PathLike, got {type(path).__name__}")
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"path: no checkpoint at {path}")
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except Exception as error:  # a foreign or damaged file: say which
        raise ValueError(f"path: {path} is not a readable checkpoint ({error})") from error


def _examples(data, name: str) -> torch.Tensor:
    x = getattr(data, "x", data)  # a data.Dataset or a plain tensor of examples
    return as_float_tensor(x, name)


def _mean_loss(model, x, batch_size, transform, dev) -> float:
    model.eval()
    total = 0.0
    with torch.no_grad():
        for batch in torch.split(x, batch_size):
            batch = transform(batch) if transform else batch
            total += model.loss(batch.to(dev)).item() * len(batch)
    return total / len(x)


def fit(model: nn.Module, train, val=None, *, epochs: int = 100, batch_size: int = 128, lr: float = 1e-3,
        weight_decay: float = 0.0, patience: int = 10, transform: Callable | None = None,
        checkpoint: str | os.PathLike | None = None, seed: int = 0, device: torch.device | None = None,
        progress: bool = True) -> History:
    """Minimise ``model.loss(batch)`` with Adam; return the History and leave the best weights in ``model``.

    train, val: tensors of examples (N, ...) or ``data.Dataset``. Early stopping: after ``patience``
    epochs without a better validation loss, stop and restore the best weights (no ``val``: train for
    ``epochs`` and keep the last). ``transform`` is applied to every batch (e.g. ``data.dequantize``).
    ``checkpoint``: a file written after every epoch; if it exists when ``fit`` starts, training
    resumes from it (and returns at once if that run had stopped early or reached ``epochs``).
    """
    if not isinstance(model, nn.Module) or not callable(getattr(model, "loss", None)):
        raise TypeError(f"model must be a torch.nn.Module with a loss(x) method, got {type(model).__name__}")
    x_train = _examples(train, "train")
    x_val = _examples(val, "val") if val is not None else None
    if x_val is not None and x_val.shape[1:] != x_train.shape[1:]:
        raise ValueError(f"val examples have shape {tuple(x_val.shape[1:])}, train examples {tuple(x_train.shape[1:])}")
    epochs = positive_int(epochs, "epochs")
    batch_size = positive_int(batch_size, "batch_size")
    lr = positive_float(lr, "lr")
    weight_decay = positive_float(weight_decay, "weight_decay", allow_zero=True)
    patience = positive_int(patience, "patience")
    if transform is not None and not callable(transform):
        raise TypeError(f"transform must be callable or None, got {type(transform).__name__}")
    dev = device or default_device()
    model.to(dev)
    optimizer = torch.optim.Adam(model.parameters(), lr=lr, weight_decay=weight_decay)
    shuffler = torch.Generator().manual_seed(seed)
    history, best_state, best_val, start, done = History(), None, float("inf"), 0, False

    if checkpoint is not None and Path(checkpoint).is_file():
        saved = load_checkpoint(checkpoint)
        model.load_state_dict(saved["model"])
        optimizer.load_state_dict(saved["optimizer"])
        shuffler.set_state(saved["shuffler"])
        history = History(**saved["history"])
        best_state, best_val = saved["best_model"], saved["best_val"]
        start, done = saved["epoch"] + 1, history.stopped_early

    started = time.perf_counter() - history.seconds
    bar = progress_bar(range(start, epochs), total=epochs, initial=start, desc=type(model).__name__,
                       **({} if progress else {"disable": True}))
    for epoch in ([] if done else bar):
        model.train()
        total = 0.0
        for index in torch.randperm(len(x_train), generator=shuffler).split(batch_size):
            batch = x_train[index]
            batch = transform(batch) if transform else batch
            loss = model.loss(batch.to(dev))
            if not torch.isfinite(loss):
                raise FloatingPointError(f"loss became {loss.item()} at epoch {epoch}; try a smaller lr")
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            total += loss.item() * len(batch)
        history.train_loss.append(total / len(x_train))
        if x_val is not None:
            history.val_loss.append(_mean_loss(model, x_val, batch_size, transform, dev))
            if history.val_loss[-1] < best_val:
                best_val, history.best_epoch = history.val_loss[-1], epoch
                best_state = copy.deepcopy(model.state_dict())
            done = epoch - history.best_epoch >= patience
            history.stopped_early = done
        else:
            history.best_epoch = epoch
        bar.set_postfix(train=f"{history.train_loss[-1]:.2f}",
                        val=f"{history.val_loss[-1]:.2f}" if history.val_loss else "-")
        history.seconds = time.perf_counter() - started
        if checkpoint is not None:
            save_checkpoint({"model": model.state_dict(), "optimizer": optimizer.state_dict(),
                             "shuffler": shuffler.get_state(), "history": asdict(history),
                             "best_model": best_state, "best_val": best_val, "epoch": epoch},
                            checkpoint)
        if done:
            break
    bar.close()
    if best_state is not None:
        model.load_state_dict(best_state)
    return history
