"""Figures the chapters share: image grids, 2D density heatmaps, scatter plots. Each returns its Figure.

Pass ``ax`` to draw into an existing Axes (the Figure of that Axes is returned).
"""

from __future__ import annotations

import math
from typing import Callable

import matplotlib.pyplot as plt
import numpy as np
import torch
from matplotlib.figure import Figure

from ..validation import as_float_tensor, positive_int


def _axes(ax, figsize):
    if ax is None:
        fig, ax = plt.subplots(figsize=figsize)
        return fig, ax
    if not isinstance(ax, plt.Axes):
        raise TypeError(f"ax must be a matplotlib Axes or None, got {type(ax).__name__}")
    return ax.figure, ax


def image_grid(images, nrow: int | None = None, levels: int | None = None, title: str | None = None,
               ax=None, cmap: str = "gray_r") -> Figure:
    """Tile images of shape (N, 1, H, W) or (N, H, W) into one picture, ``nrow`` images per row.

    ``levels``: the number of grey levels (pixel values 0..levels-1); the default scales to the data.
    """
    images = as_float_tensor(images, "images", ndim=(3, 4)).detach().cpu()
    if images.dim() == 4:
        if images.shape[1] != 1:
            raise ValueError(f"images must have one channel, got shape {tuple(images.shape)}")
        images = images[:, 0]
    n, h, w = images.shape
    nrow = positive_int(nrow, "nrow") if nrow is not None else math.ceil(math.sqrt(n))
    ncol = math.ceil(n / nrow)
    vmax = (positive_int(levels, "levels", minimum=2) - 1) if levels is not None else float(images.max())
    canvas = np.full((ncol * (h + 1) + 1, nrow * (w + 1) + 1), np.nan)
    for i, image in enumerate(images.numpy()):
        r, c = divmod(i, nrow)
        canvas[1 + r * (h + 1): 1 + r * (h + 1) + h, 1 + c * (w + 1): 1 + c * (w + 1) + w] = image
    fig, ax = _axes(ax, (min(1.0 * nrow, 8), min(1.0 * ncol, 8)))
    cm = plt.get_cmap(cmap).with_extremes(bad="#d0d7e0")  # NaN = the separators between images
    ax.imshow(canvas, cmap=cm, vmin=0, vmax=vmax, interpolation="nearest")
    ax.set_axis_off()
    if title:
        ax.set_title(title)
    return fig


def density_heatmap(log_prob: Callable[[torch.Tensor], torch.Tensor], xlim=(-3.0, 3.0), ylim=(-3.0, 3.0),
                    resolution: int = 150, title: str | None = None, ax=None, samples=None,
                    log_scale: bool = False, batch_size: int = 2048) -> Figure:
    """Heatmap of p(x) = exp(log_prob(x)) on a grid over ``xlim`` × ``ylim`` (log p with ``log_scale``).

    ``log_prob`` maps a (M, 2) tensor to M log-densities in nats; it is called on at most ``batch_size``
    grid points at a time, so a Monte Carlo density over thousands of samples stays small in memory.
    ``samples`` (n, 2) are overlaid.
    """
    if not callable(log_prob):
        raise TypeError(f"log_prob must be callable, got {type(log_prob).__name__}")
    resolution = positive_int(resolution, "resolution", minimum=2)
    batch_size = positive_int(batch_size, "batch_size")
    for name, lim in (("xlim", xlim), ("ylim", ylim)):
        if len(lim) != 2 or not lim[0] < lim[1]:
            raise ValueError(f"{name} must be a pair (low, high) with low < high, got {lim}")
    xs = torch.linspace(xlim[0], xlim[1], resolution)
    ys = torch.linspace(ylim[0], ylim[1], resolution)
    grid = torch.stack(torch.meshgrid(xs, ys, indexing="xy"), -1).reshape(-1, 2)
    chunks = []
    with torch.no_grad():
        for points in grid.split(batch_size):
            chunk = torch.as_tensor(log_prob(points)).double().cpu()
            if chunk.shape != (len(points),):
                raise ValueError(f"log_prob must return one value per point, shape ({len(points)},), "
                                 f"got {tuple(chunk.shape)}")
            chunks.append(chunk)
    values = torch.cat(chunks).reshape(resolution, resolution)
    if values.isnan().any():
        raise ValueError("log_prob returned NaN on the grid")
    image = values if log_scale else values.exp()
    fig, ax = _axes(ax, (4, 4))
    ax.imshow(image.numpy(), origin="lower", extent=(*xlim, *ylim), cmap="viridis", aspect="auto")
    if samples is not None:
        samples = as_float_tensor(samples, "samples", ndim=2, last_dim=2).detach().cpu()
        ax.scatter(samples[:, 0], samples[:, 1], s=2, c="white", alpha=0.5)
    ax.set_xlim(*xlim)
    ax.set_ylim(*ylim)
    if title:
        ax.set_title(title)
    return fig


def scatter(points, labels=None, title: str | None = None, ax=None, s: float = 3.0, alpha: float = 0.6) -> Figure:
    """Scatter plot of 2D points (n, 2), coloured by integer ``labels`` (n,) if given."""
    points = as_float_tensor(points, "points", ndim=2, last_dim=2).detach().cpu()
    fig, ax = _axes(ax, (4, 4))
    if labels is None:
        ax.scatter(points[:, 0], points[:, 1], s=s, alpha=alpha)
    else:
        labels = torch.as_tensor(labels)
        if labels.shape != (len(points),):
            raise ValueError(f"labels must have shape ({len(points)},), got {tuple(labels.shape)}")
        ax.scatter(points[:, 0], points[:, 1], s=s, alpha=alpha, c=labels.numpy(), cmap="coolwarm")
    ax.set_aspect("equal", adjustable="box")
    if title:
        ax.set_title(title)
    return fig
