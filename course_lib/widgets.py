"""Interactive explorers built from ipywidgets.

Each explorer keeps its drawing in a plain function (testable without a browser) and exposes its
controls as attributes (``slider``, …) and its last drawing as ``figure``: a test sets
``explorer.slider.value`` and reads ``explorer.figure``.
"""

from __future__ import annotations

from typing import Callable

import ipywidgets as widgets
import matplotlib.pyplot as plt
import torch
from IPython.display import clear_output, display
from matplotlib.figure import Figure

from .kde import GaussianKDE
from .validation import as_float_tensor, positive_float


def kde_figure(samples, bandwidth: float, xlim=(-4.0, 4.0), true_log_prob: Callable | None = None,
               held_out=None) -> Figure:
    """A 1D Gaussian KDE of ``samples`` (n,) with bandwidth h, against the true density if given.

    With ``held_out`` (m,) the title reports the mean held-out log-likelihood in nats.
    """
    samples = as_float_tensor(samples, "samples", ndim=1)
    bandwidth = positive_float(bandwidth, "bandwidth")
    kde = GaussianKDE(samples[:, None], bandwidth)
    grid = torch.linspace(xlim[0], xlim[1], 400)
    fig, ax = plt.subplots(figsize=(6, 3))
    if true_log_prob is not None:
        ax.plot(grid, true_log_prob(grid).exp(), "k--", label="true density $p_{data}$")
    ax.plot(grid, kde.log_prob(grid[:, None]).exp(), color="C1", label=f"KDE, h = {bandwidth:.3g}")
    ax.plot(samples, torch.zeros_like(samples), "|", color="C0", markersize=10, label="training samples")
    title = f"Parzen window estimate, h = {bandwidth:.3g}"
    if held_out is not None:
        held_out = as_float_tensor(held_out, "held_out", ndim=1)
        title += f" — held-out log-likelihood {kde.log_prob(held_out[:, None]).mean():.3f} nats"
    ax.set(title=title, xlabel="x", ylabel="density", xlim=xlim)
    ax.legend(loc="upper right", fontsize=8)
    return fig


class KDEBandwidthExplorer:
    """A log-scale bandwidth slider that redraws ``kde_figure``. Display it as the last line of a cell."""

    def __init__(self, samples, xlim=(-4.0, 4.0), true_log_prob: Callable | None = None, held_out=None,
                 bandwidth: float = 0.3, low: float = 0.01, high: float = 3.0):
        self.samples = as_float_tensor(samples, "samples", ndim=1)
        low, high = positive_float(low, "low"), positive_float(high, "high")
        if not low <= positive_float(bandwidth, "bandwidth") <= high:
            raise ValueError(f"bandwidth must lie in [low, high] = [{low}, {high}], got {bandwidth}")
        self.xlim, self.true_log_prob, self.held_out = xlim, true_log_prob, held_out
        self.slider = widgets.FloatLogSlider(value=bandwidth, base=10, min=torch.log10(torch.tensor(low)).item(),
                                             max=torch.log10(torch.tensor(high)).item(), step=0.02,
                                             description="bandwidth h", continuous_update=False)
        self.output = widgets.Output()
        self.figure: Figure | None = None
        self.slider.observe(lambda change: self.redraw(), names="value")
        self.widget = widgets.VBox([self.slider, self.output])
        self.redraw()

    def redraw(self) -> Figure:
        fig = kde_figure(self.samples, self.slider.value, self.xlim, self.true_log_prob, self.held_out)
        plt.close(fig)  # shown through the Output widget only, not again by the inline backend
        self.figure = fig
        with self.output:
            clear_output(wait=True)
            display(fig)
        return fig

    def _repr_mimebundle_(self, **kwargs):
        return self.widget._repr_mimebundle_(**kwargs)
