"""Files the course writes — checkpoints and the leaderboard — always atomically.

A file is written to a temporary file in the same folder, flushed and fsync-ed, then moved over the
old one with ``os.replace``: readers see the old file or the new one, never half of one, and a failed
or interrupted write leaves no temporary file behind. Checkpoints are loaded with ``weights_only=True``
(tensors, numbers, strings; no arbitrary pickled code).
"""

from __future__ import annotations

import os
import tempfile
from collections import OrderedDict
from pathlib import Path
from typing import BinaryIO, Callable

import torch
from torch import nn

# What ``torch.load(weights_only=True)`` reads back: these exact types (no subclasses, no NumPy scalars).
_LEAVES = (type(None), bool, int, float, complex, str, bytes, bytearray, torch.dtype, torch.device, torch.Size,
           torch.Tensor, nn.Parameter)
_CONTAINERS = (dict, OrderedDict, list, tuple, set)


def _as_path(path, name: str = "path") -> Path:
    if not isinstance(path, (str, os.PathLike)):
        raise TypeError(f"{name} must be a str or os.PathLike, got {type(path).__name__}")
    return Path(path)


def check_writable(path, name: str = "path") -> Path:
    """``path`` as a Path a file can be written to: not a folder, and no file where a parent folder must be."""
    path = _as_path(path, name)
    if path.is_dir():
        raise ValueError(f"{name}: {path} is a folder; pass the path of a file in it")
    for parent in path.parents:
        if parent.exists():
            if not parent.is_dir():
                raise ValueError(f"{name}: cannot write {path}, because {parent} is a file, not a folder")
            break
    return path


def atomic_write(path: str | os.PathLike, write: Callable[[BinaryIO], None]) -> None:
    """Call ``write(f)`` on a temporary binary file next to ``path``, then atomically replace ``path`` with it."""
    path = check_writable(path)
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


def _check_loadable(value, where: str) -> None:
    """Refuse anything in ``value`` that ``load_checkpoint`` (weights_only) could not read back, naming where."""
    if type(value) in _LEAVES:
        return
    if type(value) not in _CONTAINERS:
        kind = type(value).__name__
        article = "an" if kind[0] in "aeiouAEIOU" else "a"
        raise TypeError(f"{where} is {article} {kind}, which load_checkpoint (weights_only=True) cannot read back: "
                        "store only tensors, numbers, str, bool and None, in dicts, lists and tuples "
                        "(e.g. dataclasses.asdict(...) for a dataclass, torch.from_numpy(...) for an array)")
    if isinstance(value, dict):
        for key, item in value.items():
            _check_loadable(key, f"a key of {where}")
            _check_loadable(item, f"{where}[{key!r}]")
    else:
        for index, item in enumerate(value):
            _check_loadable(item, f"{where}[{index}]")


def save_checkpoint(state: dict, path: str | os.PathLike) -> None:
    """Write ``state`` (a dict of tensors, numbers, strings) to ``path`` atomically.

    Everything in ``state`` is checked first: a value ``load_checkpoint`` could not read back raises a
    TypeError naming it, and the file at ``path`` is left as it was."""
    if not isinstance(state, dict):
        raise TypeError(f"state must be a dict, got {type(state).__name__}")
    _check_loadable(state, "state")
    atomic_write(_as_path(path), lambda f: torch.save(state, f))


def load_checkpoint(path: str | os.PathLike, *, name: str = "path") -> dict:
    """Read a checkpoint written by ``save_checkpoint`` (tensors, numbers, strings only), onto the CPU.
    ``name``: what to call ``path`` in error messages."""
    path = _as_path(path, name)
    if path.is_dir():
        raise ValueError(f"{name}: {path} is a folder, not a checkpoint file")
    if not path.is_file():
        raise FileNotFoundError(f"{name}: no checkpoint at {path}")
    if path.stat().st_size == 0:
        raise ValueError(f"{name}: {path} is not a readable checkpoint (the file is empty)")
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as error:  # a foreign or damaged file: say which
        raise ValueError(f"{name}: {path} is not a readable checkpoint ({' '.join(str(error).split())})") from error
    if not isinstance(state, dict):
        raise ValueError(f"{name}: {path} is not a checkpoint: it holds a {type(state).__name__}, not a dict")
    return state


def linked_view(source: str | os.PathLike, folder: str | os.PathLike) -> Path:
    """``folder`` (created, must not exist) holding a link to every file of the folder ``source``.

    Code pointed at ``folder`` reads ``source``'s files, while the course's writes (``atomic_write``, which
    replaces a path) replace the link, never the file behind it: a read-only view of a cache. A missing
    ``source`` gives an empty folder.
    """
    source, folder = _as_path(source, "source"), _as_path(folder, "folder")
    folder.mkdir(parents=True)
    if source.is_dir():
        for item in source.iterdir():
            if item.is_file() and not item.name.startswith("."):
                (folder / item.name).symlink_to(item.resolve())
    return folder
