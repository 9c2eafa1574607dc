"""The course leaderboard: every chapter's models, test NLL in nats per image, in one table.

Stored as JSON in the cache folder (``runtime.cache_dir()``), written atomically; recording a model
name again replaces its row, so re-running a chapter does not duplicate it.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

from .likelihood import bits_per_dim
from ..runtime import cache_dir
from ..storage import atomic_write
from ..validation import positive_int

BOUNDS = ("exact", "dequantization bound", "ELBO bound", "IWAE estimate")


def _path() -> Path:
    return cache_dir() / "leaderboard.json"


def entries() -> list[dict]:
    """All recorded rows, best (lowest NLL) first."""
    path = _path()
    rows = json.loads(path.read_text()) if path.is_file() else []
    return sorted(rows, key=lambda row: (row["dataset"], row["nll_nats"]))


def record(model: str, chapter: int, nll_nats: float, dims: int, *, dataset: str = "digits",
           bound: str = "exact") -> dict:
    """Add (or replace) the row of ``model``: test NLL in nats per image over ``dims`` dimensions.

    ``bound`` says how the number was obtained: one of ``BOUNDS``.
    """
    if not isinstance(model, str) or not model.strip():
        raise TypeError(f"model must be a non-empty str, got {model!r}")
    chapter = positive_int(chapter, "chapter")
    if bound not in BOUNDS:
        raise ValueError(f"bound must be one of {BOUNDS}, got {bound!r}")
    if not isinstance(dataset, str) or not dataset:
        raise TypeError(f"dataset must be a non-empty str, got {dataset!r}")
    row = {"model": model, "chapter": chapter, "dataset": dataset, "nll_nats": float(nll_nats),
           "bits_per_dim": bits_per_dim(nll_nats, dims), "bound": bound}
    if not math.isfinite(row["nll_nats"]):
        raise ValueError(f"nll_nats must be finite, got {nll_nats}")
    rows = [r for r in entries() if not (r["model"] == model and r["dataset"] == dataset)] + [row]
    atomic_write(_path(), lambda f: f.write(json.dumps(rows, indent=1).encode()))
    return row


def table(dataset: str = "digits") -> str:
    """The leaderboard of ``dataset`` as a Markdown table (display it with ``IPython.display.Markdown``)."""
    lines = ["| rank | model | chapter | test NLL (nats/image) | bits/dim | how |", "|---|---|---|---|---|---|"]
    rows = [r for r in entries() if r["dataset"] == dataset]
    for rank, r in enumerate(rows, 1):
        lines.append(f"| {rank} | {r['model']} | {r['chapter']:02d} | {r['nll_nats']:.1f} | "
                     f"{r['bits_per_dim']:.3f} | {r['bound']} |")
    return "\n".join(lines)
