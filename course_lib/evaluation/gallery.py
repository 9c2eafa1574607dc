"""The gallery: samples of every chapter's models, kept in the course cache, so that chapter 09 scores them all
(FID, KID, precision, recall) on one test split without retraining a model.

A chapter records ``SAMPLES`` samples of each model it trains, with the model's training time; the name is the
model's leaderboard name where it has one, so chapter 09 joins the two. One file per model under
``cache_dir()/gallery/<dataset>/``, written atomically (``storage.save_checkpoint``); recording a name again
replaces its file.
"""

from __future__ import annotations

import hashlib
import math
import re
from pathlib import Path
from typing import NamedTuple

import torch

from ..data import quantize
from ..runtime import cache_dir
from ..storage import load_checkpoint, save_checkpoint
from ..validation import as_float_tensor, as_level_images, non_empty_str, positive_float, positive_int, seed_int

SAMPLES = 1000     # per model: the same number for every model, since FID and KID depend on it


def _slug(text: str) -> str:
    """A file name for ``text``: its letters and digits, and a short hash so that names never collide."""
    return re.sub(r"[^A-Za-z0-9]+", "_", text).strip("_")[:60] + "-" + hashlib.sha1(text.encode()).hexdigest()[:8]


def _folder(dataset: str) -> Path:
    return cache_dir() / "gallery" / _slug(dataset)


class Entry(NamedTuple):
    model: str
    chapter: int
    samples: torch.Tensor      # (SAMPLES, C, H, W) float grey levels 0..levels−1
    train_seconds: float       # NaN when the chapter did not time the training


def record(model: str, chapter: int, samples, *, levels: int, dataset: str = "digits",
           train_seconds: float | None = None) -> Path:
    """Keep the first ``SAMPLES`` of ``samples`` (N ≥ SAMPLES, C, H, W), integer grey levels 0..levels−1, as
    ``model``'s samples on ``dataset``, with its training time in seconds. Returns the file written."""
    model, dataset = non_empty_str(model, "model"), non_empty_str(dataset, "dataset")
    chapter = positive_int(chapter, "chapter")
    levels = positive_int(levels, "levels", minimum=2)
    if levels > 256:
        raise ValueError(f"levels must be ≤ 256 (samples are kept as bytes), got {levels}")
    samples = as_float_tensor(samples, "samples", ndim=4)
    if len(samples) < SAMPLES:
        raise ValueError(f"samples must hold at least gallery.SAMPLES = {SAMPLES} images (every model is scored on "
                         f"as many), got {len(samples)}")
    samples = as_level_images(samples, "samples", tuple(samples.shape[1:]), levels)
    seconds = math.nan if train_seconds is None else positive_float(train_seconds, "train_seconds", allow_zero=True)
    path = _folder(dataset) / f"{_slug(model)}.pt"
    path.parent.mkdir(parents=True, exist_ok=True)
    save_checkpoint({"model": model, "chapter": chapter, "dataset": dataset, "levels": levels,
                     "samples": samples[:SAMPLES].detach().cpu().to(torch.uint8), "train_seconds": seconds}, path)
    return path


def record_model(model_name: str, chapter: int, model, *, levels: int, dataset: str = "digits",
                 train_seconds: float | None = None, dequantized: bool = False, seed: int = 0, context=None,
                 image_shape: tuple[int, ...] | None = None, **sample_options) -> Path:
    """``record`` for ``SAMPLES`` samples that ``model.sample`` draws (on the model's device, with a generator
    seeded by ``seed``; ``context``: the labels of a class-conditional model, (SAMPLES,); ``sample_options``:
    passed on, e.g. a sampler's number of steps). ``dequantized=True``: the model is a density on dequantized
    levels [0, levels), and its samples are quantized (``data.quantize``) first. ``image_shape``: (C, H, W) for a
    model of flattened images, whose samples are (SAMPLES, C·H·W)."""
    if not callable(getattr(model, "sample", None)):
        raise TypeError(f"model must have a sample(n, generator=…) method (a course model), got {type(model).__name__}")
    seed = seed_int(seed)
    device = getattr(model, "device", torch.device("cpu"))
    generator = torch.Generator(device).manual_seed(seed)
    if context is not None:
        sample_options["context"] = context
    with torch.no_grad():
        samples = model.sample(SAMPLES, generator=generator, **sample_options).detach().cpu()
    if image_shape is not None:
        samples = samples.reshape(SAMPLES, *(positive_int(side, "image_shape") for side in image_shape))
    if dequantized:
        samples = quantize(samples, levels)
    return record(model_name, chapter, samples, levels=levels, dataset=dataset, train_seconds=train_seconds)


def entries(dataset: str = "digits") -> list[Entry]:
    """Every model recorded for ``dataset``, by chapter then name (none recorded: an empty list)."""
    dataset = non_empty_str(dataset, "dataset")
    folder = _folder(dataset)
    found = []
    for path in sorted(folder.glob("*.pt")) if folder.is_dir() else []:
        state = load_checkpoint(path, name="gallery file")
        missing = {"model", "chapter", "samples", "train_seconds"} - set(state)
        if missing:
            raise ValueError(f"{path} is not a gallery file (it lacks {sorted(missing)}): delete it and run its "
                             f"chapter again")
        found.append(Entry(state["model"], state["chapter"], state["samples"].to(torch.get_default_dtype()),
                           float(state["train_seconds"])))
    return sorted(found, key=lambda entry: (entry.chapter, entry.model))
