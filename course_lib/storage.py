"""Files the course writes — checkpoints and the leaderboard — always atomically.

A file is written to a temporary file in the same folder, flushed and fsync-ed, then moved over the
old one with ``os.replace``: readers see the old file or the new one, never half of one, and a failed
or interrupted write leaves no temporary file behind. Checkpoints are loaded with ``weights_only=True``
(tensors, numbers, strings; no arbitrary pickled code).
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import BinaryIO, Callable

import torch


def _as_path(path, name: str = "path") -> Path:
    if not isinstance(path, (str, os.PathLike)):
        raise TypeError(f"{name} must be a str or os.PathLike, got {type(path).__name__}")
    return Path(path)


def atomic_write(path: str | os.PathLike, write: Callable[[BinaryIO], None]) -> None:
    """Call ``write(f)`` on a temporary binary file next to ``path``, then atomically replace ``path`` with it."""
    path = _as_path(path)
    if not callable(write):
        raise TypeError(f"write must be callable, got {type(write).__name__}")
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def save_checkpoint(state: dict, path: str | os.PathLike) -> None:
    """Write ``state`` (a dict of tensors, numbers, strings) to ``path`` atomically."""
    if not isinstance(state, dict):
        raise TypeError(f"state must be a dict, got {type(state).__name__}")
    atomic_write(_as_path(path), lambda f: torch.save(state, f))


def load_checkpoint(path: str | os.PathLike) -> dict:
    """Read a checkpoint written by ``save_checkpoint`` (tensors, numbers, strings only), onto the CPU."""
    path = _as_path(path)
    if not path.is_file():
        raise FileNotFoundError(f"path: no checkpoint at {path}")
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except Exception as error:  # a foreign or damaged file: say which
        raise ValueError(f"path: {path} is not a readable checkpoint ({error})") from error
