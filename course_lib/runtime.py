"""Where code runs and how it is made repeatable: device choice, seeding, progress bars, cache."""

from __future__ import annotations

import ctypes
import os
import random
import sys
from pathlib import Path

import numpy as np
import torch
from tqdm.auto import tqdm

_DEVICES = ("cuda", "mps", "cpu")


def device() -> torch.device:
    """The device to train on: cuda > mps > cpu, unless ``$DGM_DEVICE`` names one.

    ``DGM_DEVICE=cpu`` forces the CPU on a GPU machine (handy to compare timings).
    """
    wanted = os.environ.get("DGM_DEVICE", "").strip().lower()
    if wanted:
        kind = wanted.split(":")[0]
        if kind not in _DEVICES:
            raise ValueError(f"DGM_DEVICE must be one of {_DEVICES} (optionally 'cuda:N'), got {wanted!r}")
        if kind == "cuda" and not torch.cuda.is_available():
            raise ValueError("DGM_DEVICE asks for 'cuda' but no CUDA device is available")
        if kind == "mps" and not torch.backends.mps.is_available():
            raise ValueError("DGM_DEVICE asks for 'mps' but no MPS device is available")
        return torch.device(wanted)
    if torch.cuda.is_available():
        return torch.device("cuda")
    if torch.backends.mps.is_available():
        return torch.device("mps")
    return torch.device("cpu")


def seed_everything(seed: int = 0) -> None:
    """Seed Python's, NumPy's and PyTorch's random generators (all devices)."""
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)):
        raise TypeError(f"seed must be an int, got {type(seed).__name__}")
    if not 0 <= seed < 2**32:
        raise ValueError(f"seed must be in [0, 2**32), got {seed}")
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def in_ci() -> bool:
    """True when the environment variable ``CI`` is set to anything but an empty/false value."""
    return os.environ.get("CI", "").strip().lower() not in ("", "0", "false", "no")


def cache_only() -> bool:
    """True when ``$DGM_CACHE_ONLY`` is set (like ``CI``): ``train.fit`` then loads finished checkpoints and
    refuses to train. Graders and the student-version tests use it: what the course cached is not retrained."""
    return os.environ.get("DGM_CACHE_ONLY", "").strip().lower() not in ("", "0", "false", "no")


def progress(iterable=None, **kwargs):
    """A ``tqdm.auto`` progress bar (a widget in Jupyter, text in a terminal), silent under ``CI``."""
    kwargs.setdefault("disable", in_ci())
    kwargs.setdefault("leave", False)
    return tqdm(iterable, **kwargs)


def cache_dir() -> Path:
    """Folder for checkpoints and the leaderboard: ``$DGM_CACHE``, else ``.cache`` at the repository root.

    The folder is git-ignored; nothing in it is ever downloaded, only written by the course itself.
    """
    root = os.environ.get("DGM_CACHE")
    path = Path(root) if root else Path(__file__).resolve().parent.parent / ".cache"
    path.mkdir(parents=True, exist_ok=True)
    return path


def keep_freed_memory() -> bool:
    """Let glibc's malloc keep freed memory for the next allocation instead of handing it back to the system.

    By default every buffer over 32 MiB (and the top of the heap after a free) goes back to the system, so each
    training step and sampling pass page-faults its activations in afresh: on the course's batches that made
    a 1×1 convolution five times slower. With higher thresholds the process reuses its memory (its peak is
    unchanged: what is freed is reused, not added). Called once when ``course_lib`` is imported; a no-op
    returning False off glibc (macOS, Windows) or when ``$DGM_MALLOC_DEFAULTS`` is set.
    """
    if not sys.platform.startswith("linux") or os.environ.get("DGM_MALLOC_DEFAULTS"):
        return False
    try:
        libc = ctypes.CDLL("libc.so.6")
    except OSError:                     # musl or another C library: leave it alone
        return False
    m_trim_threshold, m_mmap_threshold = -1, -3          # from glibc's <malloc.h>
    return bool(libc.mallopt(m_mmap_threshold, 1 << 30)) and bool(libc.mallopt(m_trim_threshold, (1 << 31) - 1))
