"""The course leaderboard: every chapter's models, test NLL in nats per image, in one table.

Stored as JSON in the cache folder (``runtime.cache_dir()``), written atomically; recording a model
name again replaces its row, so re-running a chapter does not duplicate it. A file that is not a
leaderboard (damaged, or written by something else) raises an error naming it, and is never overwritten.
"""

from __future__ import annotations

import json
import math
import numbers
from pathlib import Path

from .likelihood import _real, bits_per_dim
from ..runtime import cache_dir
from ..storage import atomic_write
from ..validation import non_empty_str, positive_int

BOUNDS = ("exact", "dequantization bound", "ELBO bound", "IWAE estimate")
_TEXT_FIELDS = ("model", "dataset")
_NUMBER_FIELDS = ("nll_nats", "bits_per_dim")


def _path() -> Path:
    return cache_dir() / "leaderboard.json"


def _row_problem(row) -> str | None:
    """What is wrong with one row read from the file (None if nothing)."""
    if not isinstance(row, dict):
        return f"is of type {type(row).__name__}, not an object"
    missing = [key for key in ("model", "chapter", "dataset", "nll_nats", "bits_per_dim", "bound") if key not in row]
    if missing:
        return f"lacks the keys {missing}"
    for key in _TEXT_FIELDS:
        if not isinstance(row[key], str) or not row[key]:
            return f"has {key} {row[key]!r}, not a non-empty string"
    if isinstance(row["chapter"], bool) or not isinstance(row["chapter"], int) or row["chapter"] < 1:
        return f"has chapter {row['chapter']!r}, not an int ≥ 1"
    for key in _NUMBER_FIELDS:
        value = row[key]
        if isinstance(value, bool) or not isinstance(value, numbers.Real) or not math.isfinite(value):
            return f"has {key} {value!r}, not a finite number"
    if row["bound"] not in BOUNDS:
        return f"has bound {row['bound']!r}, not one of {BOUNDS}"
    return None


def _read() -> list[dict]:
    """The rows of the file, in file order, after checking it is a leaderboard (no file: no rows)."""
    path = _path()
    if not path.exists():
        return []
    afresh = "delete it to start the leaderboard afresh (the chapters record their rows again when run)"
    if not path.is_file():
        raise ValueError(f"{path} is not a file: {afresh}")
    try:
        rows = json.loads(path.read_text(encoding="utf-8"))
    except (ValueError, UnicodeDecodeError) as error:   # json.JSONDecodeError is a ValueError
        raise ValueError(f"{path} is not valid JSON ({error}): {afresh}") from None
    if not isinstance(rows, list):
        raise ValueError(f"{path} holds a JSON {type(rows).__name__}, not a list of rows: {afresh}")
    for index, row in enumerate(rows):
        problem = _row_problem(row)
        if problem:
            raise ValueError(f"{path}: row {index} {problem}: {afresh}")
    return rows


def entries() -> list[dict]:
    """All recorded rows, best (lowest NLL) first."""
    return sorted(_read(), key=lambda row: (row["dataset"], row["nll_nats"]))


def record(model: str, chapter: int, nll_nats: float, dims: int, *, dataset: str = "digits",
           bound: str = "exact") -> dict:
    """Add (or replace) the row of ``model``: test NLL in nats per image over ``dims`` dimensions.

    ``nll_nats``: a number (Python or NumPy) or a 0-dim tensor. ``bound`` says how the number was obtained:
    one of ``BOUNDS``; an exact NLL is of discrete data (the probabilities of grey levels), so it is ≥ 0.
    """
    model, dataset = non_empty_str(model, "model"), non_empty_str(dataset, "dataset")
    chapter = positive_int(chapter, "chapter")
    if not isinstance(bound, str) or bound not in BOUNDS:
        raise ValueError(f"bound must be one of {BOUNDS}, got {bound!r}")
    nll_nats = _real(nll_nats, "nll_nats")
    if bound == "exact" and nll_nats < 0:
        raise ValueError(f"nll_nats must be ≥ 0 for bound='exact': a discrete model's probabilities are at most 1, "
                         f"got {nll_nats}")
    row = {"model": model, "chapter": chapter, "dataset": dataset, "nll_nats": nll_nats,
           "bits_per_dim": bits_per_dim(nll_nats, dims), "bound": bound}
    rows = [r for r in _read() if not (r["model"] == model and r["dataset"] == dataset)] + [row]
    text = json.dumps(rows, indent=1, allow_nan=False).encode()   # before the file is touched
    atomic_write(_path(), lambda f: f.write(text))
    return row


def table(dataset: str = "digits") -> str:
    """The leaderboard of ``dataset`` as a Markdown table (display it with ``IPython.display.Markdown``)."""
    dataset = non_empty_str(dataset, "dataset")
    every = entries()
    rows = [r for r in every if r["dataset"] == dataset]
    if not rows:
        recorded = sorted({r["dataset"] for r in every})
        raise ValueError(f"dataset: the leaderboard has no rows for {dataset!r} yet "
                         f"({f'only for {recorded}' if recorded else 'it is empty'}): run a chapter with "
                         f"DATASET = {dataset!r} first")
    lines = ["| rank | model | chapter | test NLL (nats/image) | bits/dim | how |", "|---|---|---|---|---|---|"]
    for rank, r in enumerate(rows, 1):
        lines.append(f"| {rank} | {r['model']} | {r['chapter']:02d} | {r['nll_nats']:.1f} | "
                     f"{r['bits_per_dim']:.3f} | {r['bound']} |")
    return "\n".join(lines)
