"""Interactive explorers built from ipywidgets.

Each explorer keeps its drawing in a plain function (testable without a browser) and exposes its
controls as attributes (``slider``, …) and its last drawing as ``figure``: a test sets
``explorer.slider.value`` and reads ``explorer.figure``.
"""

from __future__ import annotations

import numbers
from typing import Callable

import ipywidgets as widgets
import matplotlib.pyplot as plt
import torch
from IPython.display import clear_output, display
from matplotlib.figure import Figure

from .. import randomness
from ..models.kde import GaussianKDE
from ..models.mixtures import COVARIANCE_TYPES, GaussianMixture, e_step
from ..nn.transforms import Composite
from ..validation import as_float_tensor, finite_float, positive_float, positive_int, seed_int


class FigureExplorer:
    """Shared plumbing: controls redraw ``draw()`` into an Output widget; ``figure`` is the last drawing."""

    output: widgets.Output
    widget: widgets.Widget
    figure: Figure | None = None

    def draw(self) -> Figure:  # pragma: no cover - each explorer draws its own figure
        raise NotImplementedError

    def _show(self, controls, above=None) -> None:
        """Redraw whenever one of ``controls`` changes; lay them out (``above``: the box to put above the
        figure, default one row of the controls) over the Output widget, and draw the first figure."""
        for control in controls:
            control.observe(lambda change: self.redraw(), names="value")
        self.output = widgets.Output()
        self.widget = widgets.VBox([above if above is not None else widgets.HBox(list(controls)), self.output])
        self.redraw()

    def redraw(self) -> Figure:
        fig = self.draw()
        plt.close(fig)  # shown through the Output widget only, not again by the inline backend
        self.figure = fig
        with self.output:
            clear_output(wait=True)
            display(fig)
        return fig

    def _repr_mimebundle_(self, **kwargs):
        return self.widget._repr_mimebundle_(**kwargs)


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


class KDEBandwidthExplorer(FigureExplorer):
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
        self._show([self.slider])

    def draw(self) -> Figure:
        return kde_figure(self.samples, self.slider.value, self.xlim, self.true_log_prob, self.held_out)


def _ellipse_points(mean: torch.Tensor, covariance: torch.Tensor, n_std: float = 2.0, n: int = 100) -> torch.Tensor:
    """Points (n, 2) on the n_std-standard-deviation contour of a 2D Gaussian."""
    angle = torch.linspace(0, 2 * torch.pi, n, dtype=covariance.dtype)
    circle = torch.stack([torch.cos(angle), torch.sin(angle)], 1)
    return mean + n_std * circle @ torch.linalg.cholesky(covariance).T


def _full_covariances(covariances: torch.Tensor, covariance_type: str, dim: int) -> torch.Tensor:
    """Covariances of any ``covariance_type`` as full (K, D, D) matrices."""
    if covariance_type == "diag":
        return torch.diag_embed(covariances)
    if covariance_type == "spherical":
        return covariances[:, None, None] * torch.eye(dim, dtype=covariances.dtype, device=covariances.device)
    return covariances


def em_figure(x, snapshot, log_likelihoods, iteration: int, covariance_type: str = "full") -> Figure:
    """One EM iteration on 2D data: points coloured by responsibilities, 2σ ellipses, the log-likelihood curve.

    ``snapshot``: (weights (K,), means (K, 2), covariances) at that iteration, the covariances of shape
    (K, 2, 2), (K, 2) or (K,) for ``covariance_type`` "full", "diag" or "spherical" (σ_k² I: circles);
    ``log_likelihoods``: the mean log-likelihood at every iteration (nats).
    """
    x = as_float_tensor(x, "x", ndim=2, last_dim=2).double()
    weights, means, covariances = snapshot
    resp = e_step(x, weights, means, covariances, covariance_type)[0].exp()   # checks the covariance type
    covariances = _full_covariances(covariances, covariance_type, 2)
    palette = torch.tensor(plt.get_cmap("tab10").colors[: len(weights)], dtype=torch.float64)
    colours = (resp @ palette).clamp(0, 1)  # responsibilities blend the component colours
    fig, (ax_data, ax_ll) = plt.subplots(1, 2, figsize=(10, 4), gridspec_kw={"width_ratios": [1.2, 1]})
    ax_data.scatter(x[:, 0], x[:, 1], c=colours.numpy(), s=6)
    for k in range(len(weights)):
        ellipse = _ellipse_points(means[k], covariances[k])
        ax_data.plot(ellipse[:, 0], ellipse[:, 1], color=palette[k].numpy(), lw=1 + 6 * weights[k].item())
        ax_data.plot(*means[k], "x", color="k")
    ax_data.set(title=f"EM iteration {iteration} ({covariance_type}): responsibilities and 2σ ellipses",
                aspect="equal")
    ax_ll.plot(range(len(log_likelihoods)), log_likelihoods, color="0.6")
    ax_ll.plot(iteration, log_likelihoods[iteration], "o", color="C3")
    ax_ll.set(title="training log-likelihood never decreases", xlabel="iteration", ylabel="nats per point")
    fig.tight_layout()
    return fig


class EMStepper(FigureExplorer):
    """Step through EM on 2D data: a slider over iterations, a dropdown for the number of components and one
    for the covariance type ("full"; "diag", axis-aligned ellipses; "spherical", the isotropic σ_k² I circles).
    Every fit starts from the same random data points (``seed``), so changing the covariance type compares
    the models from one start."""

    def __init__(self, x, components=(2, 3, 4, 5, 6), n_components: int = 3, max_iter: int = 40, seed: int = 0,
                 covariance_type: str = "full"):
        self.x = as_float_tensor(x, "x", ndim=2, last_dim=2).double()
        if n_components not in components:
            raise ValueError(f"n_components must be one of components={tuple(components)}, got {n_components}")
        if covariance_type not in COVARIANCE_TYPES:
            raise ValueError(f"covariance_type must be one of {COVARIANCE_TYPES}, got {covariance_type!r}")
        max_iter = positive_int(max_iter, "max_iter")
        self._mixture = lambda k, kind: GaussianMixture(k, kind, max_iter=max_iter, tol=0.0,
                                                        init_params="random").fit(
            self.x, record=True, generator=torch.Generator().manual_seed(seed))
        self.dropdown = widgets.Dropdown(options=list(components), value=n_components, description="components K")
        self.covariance = widgets.Dropdown(options=list(COVARIANCE_TYPES), value=covariance_type,
                                           description="covariance")
        self.slider = widgets.IntSlider(value=0, min=0, max=0, description="iteration", continuous_update=False)
        self.output = widgets.Output()
        self.dropdown.observe(lambda change: self.refit(), names="value")
        self.covariance.observe(lambda change: self.refit(), names="value")
        self.slider.observe(lambda change: self.redraw(), names="value")
        self.widget = widgets.VBox([widgets.HBox([self.dropdown, self.covariance, self.slider]), self.output])
        self.refit()

    def refit(self) -> None:
        self.mixture = self._mixture(self.dropdown.value, self.covariance.value)
        self.slider.max = len(self.mixture.snapshots) - 1
        if self.slider.value != 0:
            self.slider.value = 0  # the slider's observer redraws
        else:
            self.redraw()

    def draw(self) -> Figure:
        it = self.slider.value
        return em_figure(self.x, self.mixture.snapshots[it], self.mixture.log_likelihood_history, it,
                         self.mixture.covariance_type)


def _decoded_image(decode: Callable, z: torch.Tensor, name: str = "decode") -> torch.Tensor:
    with torch.no_grad():
        image = decode(z)
    if not isinstance(image, torch.Tensor) or image.dim() != 4 or image.shape[:2] != (len(z), 1):
        shape = tuple(image.shape) if isinstance(image, torch.Tensor) else type(image).__name__
        raise ValueError(f"{name} must return images of shape (N, 1, H, W), got {shape}")
    return image.cpu()


def _index(value, name: str, n: int, what: str = "an index") -> int:
    """``value`` as an int in [0, n − 1]; bools and floats are refused."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise TypeError(f"{name} must be an int, got {type(value).__name__}")
    if not 0 <= value < n:
        raise ValueError(f"{name} must be {what} in [0, {n - 1}], got {value}")
    return int(value)


def _levels_or_none(levels) -> int | None:
    return None if levels is None else positive_int(levels, "levels", minimum=2)


def seed_code(seed: int, latent_dim: int) -> torch.Tensor:
    """The latent code (1, latent_dim) of a seed: ``torch.randn`` from a generator seeded with it, so a seed
    names the same code on every machine and every run."""
    return randomness.normal((1, latent_dim), generator=torch.Generator().manual_seed(seed))


class LatentExplorer(FigureExplorer):
    """One slider per latent coordinate; the decoded image (and, with ``codes``, the point in the
    encoded data) is redrawn as they move.

    ``decode`` maps latent codes (N, q) to images (N, 1, H, W) — e.g. ``vae.decode_mean``.
    ``codes`` (M, q) and ``labels`` (M,): the encoded data set, drawn behind the current point (q = 2).
    """

    def __init__(self, decode: Callable, latent_dim: int = 2, codes=None, labels=None, levels: int | None = None,
                 limit: float = 3.0):
        if not callable(decode):
            raise TypeError(f"decode must be callable, got {type(decode).__name__}")
        self.decode, self.latent_dim = decode, positive_int(latent_dim, "latent_dim")
        self.levels, limit = levels, positive_float(limit, "limit")
        self.codes = as_float_tensor(codes, "codes", ndim=2, last_dim=latent_dim).cpu() if codes is not None else None
        self.labels = labels
        self.sliders = [widgets.FloatSlider(value=0.0, min=-limit, max=limit, step=0.05, description=f"z{i + 1}",
                                            continuous_update=False) for i in range(latent_dim)]
        self._show(self.sliders, above=widgets.VBox(self.sliders))

    @property
    def z(self) -> torch.Tensor:
        return torch.tensor([[s.value for s in self.sliders]])

    def draw(self) -> Figure:
        image = _decoded_image(self.decode, self.z.to(torch.get_default_dtype()))[0, 0]
        panels = 2 if self.codes is not None and self.latent_dim == 2 else 1
        fig, axes = plt.subplots(1, panels, figsize=(3.2 * panels, 3.2), squeeze=False)
        vmax = (self.levels - 1) if self.levels else None
        axes[0, 0].imshow(image.numpy(), cmap="gray_r", vmin=0, vmax=vmax)
        axes[0, 0].set_title("decoded: z = (" + ", ".join(f"{v:.2f}" for v in self.z[0].tolist()) + ")", fontsize=9)
        axes[0, 0].set_axis_off()
        if panels == 2:
            colours = None if self.labels is None else torch.as_tensor(self.labels).numpy()
            axes[0, 1].scatter(self.codes[:, 0], self.codes[:, 1], c=colours, cmap="tab10", s=3, alpha=0.5)
            axes[0, 1].plot(*self.z[0].tolist(), "k*", markersize=14)
            axes[0, 1].set_title("encoded test digits", fontsize=9)
        fig.tight_layout()
        return fig


class InterpolationExplorer(FigureExplorer):
    """Pick two images by index; a slider t walks the straight line between their codes.

    ``encode`` maps images (N, 1, H, W) to codes (N, q) (e.g. the mean of q(z | x)); ``decode`` maps
    codes to images. The figure shows both ends, the decoded point at t, and an 8-step strip.
    """

    def __init__(self, encode: Callable, decode: Callable, images, levels: int | None = None, first: int = 0,
                 second: int = 1):
        if not callable(encode) or not callable(decode):
            raise TypeError("encode and decode must be callable")
        self.images = as_float_tensor(images, "images", ndim=4)
        n = len(self.images)
        for name, value in (("first", first), ("second", second)):
            if not 0 <= value < n:
                raise ValueError(f"{name} must be an index in [0, {n - 1}], got {value}")
        self.encode, self.decode, self.levels = encode, decode, levels
        self.first = widgets.BoundedIntText(value=first, min=0, max=n - 1, description="from image")
        self.second = widgets.BoundedIntText(value=second, min=0, max=n - 1, description="to image")
        self.t = widgets.FloatSlider(value=0.5, min=0.0, max=1.0, step=0.05, description="t", continuous_update=False)
        self._show([self.first, self.second, self.t])

    def draw(self) -> Figure:
        with torch.no_grad():
            ends = self.encode(self.images[[self.first.value, self.second.value]])
        steps = torch.cat([torch.tensor([self.t.value]), torch.linspace(0, 1, 8)]).to(ends)
        codes = (1 - steps[:, None]) * ends[0] + steps[:, None] * ends[1]
        decoded = _decoded_image(self.decode, codes)[:, 0]
        return _path_figure(((self.images[self.first.value, 0], "from"), (decoded[0], f"t = {self.t.value:.2f}"),
                             (self.images[self.second.value, 0], "to")), decoded[1:], self.levels)


def _path_figure(panels, strip, levels: int | None) -> Figure:
    """Three large (image (H, W), title) panels — both ends and the current point — over a strip of images."""
    vmax = (levels - 1) if levels else None
    fig = plt.figure(figsize=(9, 3.6))
    grid = fig.add_gridspec(2, len(strip))
    for col, (image, title) in enumerate(panels):
        ax = fig.add_subplot(grid[0, 2 * col + 1: 2 * col + 3])
        ax.imshow(image.cpu().numpy(), cmap="gray_r", vmin=0, vmax=vmax)
        ax.set_title(title, fontsize=9)
        ax.set_axis_off()
    for col, image in enumerate(strip):
        ax = fig.add_subplot(grid[1, col])
        ax.imshow(image.cpu().numpy(), cmap="gray_r", vmin=0, vmax=vmax)
        ax.set_axis_off()
    return fig


class SeedInterpolationExplorer(FigureExplorer):
    """Pick two seeds; a slider t walks the straight line between their latent codes.

    For a model with no encoder (a GAN generator): the code of seed s is ``seed_code(s, latent_dim)``
    (1, q), i.e. ``torch.randn`` from ``torch.Generator().manual_seed(s)``. ``decode`` maps codes (N, q),
    on the CPU, to images (N, 1, H, W) — e.g. the generator wrapped to return integer levels 0 … levels − 1.
    The figure shows both ends, the decoded point z_t = (1 − t) z₀ + t z₁, and an 8-step strip; every panel
    comes from one ``decode`` call, so a drawing depends only on the controls.
    """

    def __init__(self, decode: Callable, latent_dim: int, levels: int | None = None, first: int = 0, second: int = 1,
                 seeds: int = 1000):
        if not callable(decode):
            raise TypeError(f"decode must be callable, got {type(decode).__name__}")
        self.decode, self.latent_dim = decode, positive_int(latent_dim, "latent_dim")
        self.levels, seeds = _levels_or_none(levels), positive_int(seeds, "seeds")
        first, second = _index(first, "first", seeds, "a seed"), _index(second, "second", seeds, "a seed")
        self.first = widgets.BoundedIntText(value=first, min=0, max=seeds - 1, description="from seed")
        self.second = widgets.BoundedIntText(value=second, min=0, max=seeds - 1, description="to seed")
        self.t = widgets.FloatSlider(value=0.5, min=0.0, max=1.0, step=0.05, description="t", continuous_update=False)
        self._show([self.first, self.second, self.t])

    @property
    def codes(self) -> torch.Tensor:
        """The two end codes (2, q): those of the ``first`` and ``second`` seeds."""
        return torch.cat([seed_code(self.first.value, self.latent_dim), seed_code(self.second.value, self.latent_dim)])

    def draw(self) -> Figure:
        ends = self.codes
        steps = torch.cat([torch.tensor([self.t.value]), torch.linspace(0, 1, 8)]).to(ends)
        path = (1 - steps[:, None]) * ends[0] + steps[:, None] * ends[1]
        decoded = _decoded_image(self.decode, torch.cat([ends, path]))[:, 0]   # ends, z_t, then the strip
        return _path_figure(((decoded[0], f"seed {self.first.value}"), (decoded[2], f"t = {self.t.value:.2f}"),
                             (decoded[1], f"seed {self.second.value}")), decoded[3:], self.levels)


class ClassConditionalExplorer(FigureExplorer):
    """A class-conditional generator: a slider picks the class, another the seed of the n latent codes.

    ``generate(z, labels)`` maps codes (N, q) and integer labels (N,), both on the CPU, to images (N, 1, H, W).
    The codes (n, q) are ``torch.randn`` from ``torch.Generator().manual_seed(seed)`` and do not depend on
    the class: moving the class slider keeps each column's style and changes what it shows.
    ``class_names``: optional name of each class for the title.
    """

    def __init__(self, generate: Callable, classes: int, latent_dim: int, n: int = 8, levels: int | None = None,
                 class_names=None, label: int = 0, seed: int = 0):
        if not callable(generate):
            raise TypeError(f"generate must be callable, got {type(generate).__name__}")
        self.generate, classes = generate, positive_int(classes, "classes")
        self.latent_dim, self.n = positive_int(latent_dim, "latent_dim"), positive_int(n, "n")
        self.levels = _levels_or_none(levels)
        if class_names is not None and len(class_names) != classes:
            raise ValueError(f"class_names must name each of the {classes} classes, got {len(class_names)}")
        self.class_names = None if class_names is None else list(class_names)
        label, seed = _index(label, "label", classes, "a class"), _index(seed, "seed", 100, "a seed")
        self.label = widgets.IntSlider(value=label, min=0, max=classes - 1, description="class",
                                       continuous_update=False)
        self.seed = widgets.IntSlider(value=seed, min=0, max=99, description="seed", continuous_update=False)
        self._show([self.label, self.seed])

    @property
    def codes(self) -> torch.Tensor:
        """The n latent codes (n, q) of the current seed, the same for every class."""
        return randomness.normal((self.n, self.latent_dim), generator=torch.Generator().manual_seed(self.seed.value))

    @property
    def labels(self) -> torch.Tensor:
        """The current class, repeated: int64 (n,)."""
        return torch.full((self.n,), self.label.value, dtype=torch.long)

    def draw(self) -> Figure:
        labels = self.labels
        images = _decoded_image(lambda z: self.generate(z, labels), self.codes, "generate")[:, 0]
        vmax = (self.levels - 1) if self.levels else None
        c = self.label.value
        name = f"class {c}" if self.class_names is None else f"class {c}: {self.class_names[c]}"
        fig, axes = plt.subplots(1, self.n, figsize=(1.2 * self.n, 1.7), squeeze=False)
        for ax, image in zip(axes[0], images):
            ax.imshow(image.numpy(), cmap="gray_r", vmin=0, vmax=vmax)
            ax.set_axis_off()
        fig.suptitle(f"{name} — {self.n} samples, seed {self.seed.value}", fontsize=10)
        return fig


def parallel_lines_figure(theta: float, n: int = 24, thetas=None, estimates: dict | None = None,
                          seed: int = 0) -> Figure:
    """The parallel-lines example at one θ: left, n points of P₀ (the segment at 0) and of P_θ with the
    optimal coupling (each point joined to its match); right, KL, JS, TV and W₁ against θ (closed forms)
    with a marker at θ. ``thetas`` (K,) and ``estimates`` {"JS": (K,), "W₁": (K,)}: estimates from samples
    at those θ, drawn as points on the curves."""
    from ..data import parallel_lines
    from ..evaluation.divergences import empirical_wasserstein, parallel_lines_divergences

    theta, n = finite_float(theta, "theta"), positive_int(n, "n")
    generator = torch.Generator().manual_seed(seed_int(seed))
    p0, p_theta = parallel_lines(n, 0.0, generator), parallel_lines(n, theta, generator)
    matching = empirical_wasserstein(p0, p_theta).matching
    fig, (left, right) = plt.subplots(1, 2, figsize=(10, 3.6), gridspec_kw={"width_ratios": [1, 1.6]})
    for start, end in zip(p0, p_theta[matching]):
        left.plot([start[0], end[0]], [start[1], end[1]], color="0.75", lw=0.8, zorder=1)
    left.scatter(p0[:, 0], p0[:, 1], s=12, color="k", label="$P_0$", zorder=2)
    left.scatter(p_theta[:, 0], p_theta[:, 1], s=12, color="C1", label=r"$P_\theta$", zorder=2)
    left.set(xlim=(-1.2, 1.2), ylim=(-0.1, 1.1), xlabel="$x_1$", ylabel="$x_2$",
             title=f"θ = {theta:+.2f}: grey lines, the optimal coupling")
    left.legend(fontsize=8, loc="lower left")
    grid = torch.linspace(-1, 1, 401)
    values = [parallel_lines_divergences(t.item()) for t in grid]
    for name, field, colour in (("JS (nats)", "js", "C0"), ("TV", "tv", "C2"), ("W₁", "w1", "C3")):
        right.plot(grid, [getattr(v, field) for v in values], color=colour, lw=1.5, label=name)
        right.plot([theta], [getattr(parallel_lines_divergences(theta), field)], "o", color=colour)
    right.plot([0], [0], "ko", ms=4, label="all four are 0 at θ = 0")
    right.plot([], [], " ", label="KL = ∞ for θ ≠ 0")
    if thetas is not None and estimates:
        thetas = as_float_tensor(thetas, "thetas", ndim=1)
        for (name, values_at), colour in zip(estimates.items(), ("C0", "C3")):
            values_at = as_float_tensor(values_at, f"estimates[{name!r}]", ndim=1)
            if len(values_at) != len(thetas):
                raise ValueError(f"estimates[{name!r}] must have one value per θ ({len(thetas)}), got {len(values_at)}")
            right.plot(thetas, values_at, "x", color=colour, ms=7, mew=2, label=f"{name} from samples")
    right.set(xlabel="θ", ylim=(-0.05, 1.45), title="divergences between $P_0$ and $P_θ$")
    right.legend(fontsize=8, loc="upper center", ncol=2)
    fig.tight_layout()
    return fig


class ParallelLinesExplorer(FigureExplorer):
    """A θ slider for ``parallel_lines_figure``: move the segment P_θ and watch the coupling and the four
    divergences (KL, JS and TV jump at θ = 0 and are flat elsewhere; W₁ = |θ| is not)."""

    def __init__(self, theta: float = 0.5, n: int = 24, thetas=None, estimates: dict | None = None):
        theta = finite_float(theta, "theta")
        if not -1 <= theta <= 1:
            raise ValueError(f"theta must lie in [−1, 1], got {theta}")
        self.n, self.thetas, self.estimates = positive_int(n, "n"), thetas, estimates
        self.slider = widgets.FloatSlider(value=theta, min=-1.0, max=1.0, step=0.05, description="θ",
                                          continuous_update=False)
        self._show([self.slider])

    def draw(self) -> Figure:
        return parallel_lines_figure(self.slider.value, self.n, self.thetas, self.estimates)


def flow_stages(transform: Composite, data, base_samples) -> tuple[list[torch.Tensor], list[torch.Tensor]]:
    """A 2D flow f = f_K ∘ … ∘ f_1 (data → noise), stage by stage: ``forward[k]`` is the data after the first
    k layers, ``backward[k]`` the base samples after the inverses of the last K − k layers (k = 0 … K);
    both are in the same space at depth k, and coincide in distribution for a perfect flow."""
    if not isinstance(transform, Composite) or transform.shape != (2,):
        raise TypeError("transform must be a course_lib.nn.transforms.Composite on 2D points (shape (2,))")
    data = as_float_tensor(data, "data", ndim=2, last_dim=2)
    base_samples = as_float_tensor(base_samples, "base_samples", ndim=2, last_dim=2)
    device = next(iter([*transform.parameters(), *transform.buffers()]), torch.empty(0)).device
    with torch.no_grad():
        forward = [step.cpu() for step in transform.intermediates(data.to(device))]
        backward = [base_samples.to(device)]
        for layer in reversed(transform.transforms):
            backward.insert(0, layer.inverse(backward[0])[0])
    return forward, [step.cpu() for step in backward]


def flow_layers_figure(forward, backward, layer: int, names=None, limit: float = 4.0) -> Figure:
    """Two panels at depth ``layer``: the data pushed through the first k layers (towards the Gaussian), and
    the Gaussian samples pulled back through the last K − k (towards the data); ``flow_stages`` gives both."""
    fig, axes = plt.subplots(1, 2, figsize=(7.5, 3.7), sharex=True, sharey=True)
    depth = len(forward) - 1
    for ax, points, colour, title in ((axes[0], forward[layer], "C0", "data after layers 1…k"),
                                      (axes[1], backward[layer], "C1", "Gaussian samples after inverting K…k+1")):
        ax.scatter(points[:, 0], points[:, 1], s=2, alpha=0.4, color=colour)
        ax.set(xlim=(-limit, limit), ylim=(-limit, limit), title=title)
        ax.set_aspect("equal")
    name = f" (layer {layer}: {names[layer - 1]})" if names and layer > 0 else ""
    fig.suptitle(f"depth k = {layer} of K = {depth}{name}", fontsize=10)
    fig.tight_layout()
    return fig


class FlowLayerExplorer(FigureExplorer):
    """A slider over the depth k = 0 … K of a 2D flow: the data deformed layer by layer into the base Gaussian
    (left), and the Gaussian deformed layer by layer into the data (right, read from k = K down to 0).

    ``transform``: the flow's ``Composite`` (data → noise); ``data`` (N, 2); ``base_samples`` (M, 2) from
    N(0, I); ``names``: optional label of each layer for the title.
    """

    def __init__(self, transform: Composite, data, base_samples, names=None, limit: float = 4.0):
        self.forward, self.backward = flow_stages(transform, data, base_samples)
        depth = len(self.forward) - 1
        if names is not None and len(names) != depth:
            raise ValueError(f"names must name each of the {depth} layers, got {len(names)}")
        self.names, self.limit = names, positive_float(limit, "limit")
        self.slider = widgets.IntSlider(value=0, min=0, max=depth, step=1, description="depth k",
                                        continuous_update=False)
        self._show([self.slider])

    def draw(self) -> Figure:
        return flow_layers_figure(self.forward, self.backward, self.slider.value, self.names, self.limit)


OCCLUSIONS = ("bottom half", "right half", "bottom-right quarter", "centre square", "every other row")


def occlusion_mask(region: str, height: int, width: int) -> torch.Tensor:
    """Boolean (1, H, W): True where the pixel is *known* (kept), False where it will be filled in."""
    if region not in OCCLUSIONS:
        raise ValueError(f"region must be one of {OCCLUSIONS}, got {region!r}")
    known = torch.ones(1, height, width, dtype=torch.bool)
    if region == "bottom half":
        known[:, height // 2:] = False
    elif region == "right half":
        known[:, :, width // 2:] = False
    elif region == "bottom-right quarter":
        known[:, height // 2:, width // 2:] = False
    elif region == "centre square":
        known[:, height // 4: 3 * height // 4, width // 4: 3 * width // 4] = False
    else:
        known[:, 1::2] = False
    return known


def completion_figure(model, image, region: str, n: int = 6, seed: int = 0) -> Figure:
    """The image, what the model is shown, and n completions sampled from p(missing | shown)."""
    image = as_float_tensor(image, "image", ndim=3)
    known = occlusion_mask(region, image.shape[1], image.shape[2])
    completions = model.sample(n, observed=image.expand(n, *image.shape), known=known,
                               generator=torch.Generator().manual_seed(seed)).cpu()
    shown = torch.where(known, image, torch.full_like(image, float("nan")))
    vmax = getattr(model, "levels", int(image.max()) + 1) - 1
    fig, axes = plt.subplots(1, n + 2, figsize=(1.3 * (n + 2), 1.8))
    panels = [(image[0], "original"), (shown[0], "shown")] + [(c[0], f"sample {i + 1}") for i, c in enumerate(completions)]
    cmap = plt.get_cmap("gray_r").with_extremes(bad="#f4b183")  # occluded pixels in orange
    for ax, (picture, title) in zip(axes, panels):
        ax.imshow(picture.numpy(), cmap=cmap, vmin=0, vmax=vmax)
        ax.set_title(title, fontsize=8)
        ax.set_axis_off()
    return fig


class CompletionExplorer(FigureExplorer):
    """Choose a test image and the region to hide; an autoregressive model samples completions."""

    def __init__(self, model, images, n: int = 6):
        if not callable(getattr(model, "sample", None)):
            raise TypeError(f"model must have a sample(n, observed, known) method, got {type(model).__name__}")
        self.model, self.images, self.n = model, as_float_tensor(images, "images", ndim=4), positive_int(n, "n")
        self.index = widgets.BoundedIntText(value=0, min=0, max=len(self.images) - 1, description="test image")
        self.region = widgets.Dropdown(options=list(OCCLUSIONS), value="bottom half", description="hide")
        self.seed = widgets.IntSlider(value=0, min=0, max=20, description="seed", continuous_update=False)
        self._show([self.index, self.region, self.seed])

    def draw(self) -> Figure:
        return completion_figure(self.model, self.images[self.index.value], self.region.value, self.n, self.seed.value)


def langevin_figure(trajectory, step: int, log_density: Callable | None = None, limit: float = 4.0,
                    step_size: float | None = None) -> Figure:
    """Particles of a Langevin run at ``step`` (``trajectory``: a list of (N, 2) states, step 0 the start),
    over the contours of ``log_density`` (x (M, 2) → (M,)) if given, with the path of a few particles so far."""
    if not trajectory:
        raise ValueError("trajectory must hold at least one state")
    step = _index(step, "step", len(trajectory), "a step")
    fig, ax = plt.subplots(figsize=(4.6, 4.4))
    if log_density is not None:
        side = torch.linspace(-limit, limit, 120)
        grid = torch.cartesian_prod(side, side)
        with torch.no_grad():
            values = log_density(grid).reshape(120, 120).T
        ax.contourf(side, side, values.exp(), levels=12, cmap="Greys", alpha=0.5)
    points = trajectory[step].cpu()
    ax.scatter(points[:, 0], points[:, 1], s=4, color="C3", alpha=0.6)
    paths = torch.stack([state[:6].cpu() for state in trajectory[:step + 1]])      # (step + 1, 6, 2)
    for k in range(paths.shape[1]):
        ax.plot(paths[:, k, 0], paths[:, k, 1], lw=0.8, alpha=0.7)
    ax.set(xlim=(-limit, limit), ylim=(-limit, limit),
           title=f"step {step}" + (f", ε = {step_size:.3g}" if step_size is not None else ""))
    ax.set_aspect("equal")
    fig.tight_layout()
    return fig


class LangevinExplorer(FigureExplorer):
    """Langevin dynamics x ← x + ε ∇ log p(x) + √(2ε) z on 2D particles, with sliders for the step size ε
    (log scale) and the number of steps shown: watch the particles find the modes, and see that a step too
    large smears them while one too small barely moves them.

    ``score``: x (N, 2) → ∇ log p(x) (N, 2); ``start``: the particles (N, 2); ``log_density`` (optional) draws
    the contours of p; ``max_steps``: the longest run; ``seed``: the noise.
    """

    def __init__(self, score: Callable, start, log_density: Callable | None = None, max_steps: int = 500,
                 step_size: float = 0.01, limit: float = 4.0, seed: int = 0):
        from ..models.score import langevin

        if not callable(score):
            raise TypeError(f"score must be callable, got {type(score).__name__}")
        self.score, self.log_density, self._langevin = score, log_density, langevin
        self.start = as_float_tensor(start, "start", ndim=2, last_dim=2)
        self.max_steps, self.limit = positive_int(max_steps, "max_steps"), positive_float(limit, "limit")
        self.seed = seed_int(seed)
        step_size = positive_float(step_size, "step_size")
        self.step_slider = widgets.FloatLogSlider(value=step_size, base=10, min=-4, max=0, step=0.25,
                                                  description="step ε", continuous_update=False)
        self.steps_slider = widgets.IntSlider(value=self.max_steps, min=0, max=self.max_steps, step=10,
                                              description="steps", continuous_update=False)
        self._cached: tuple[float, list] | None = None
        self._show([self.step_slider, self.steps_slider])

    @property
    def trajectory(self) -> list[torch.Tensor]:
        """The run at the current step size, every state (max_steps + 1 of them), recomputed when ε changes."""
        epsilon = self.step_slider.value
        if self._cached is None or self._cached[0] != epsilon:
            generator = torch.Generator().manual_seed(self.seed)
            self._cached = (epsilon, self._langevin(self.score, self.start, epsilon, self.max_steps, generator))
        return self._cached[1]

    def draw(self) -> Figure:
        return langevin_figure(self.trajectory, self.steps_slider.value, self.log_density, self.limit,
                               self.step_slider.value)


def reverse_process_figure(times, states, predictions, index: int, levels: int | None = None,
                           nrow: int = 4) -> Figure:
    """The reverse process at recorded position ``index``: the current noisy images x_t (left) and the
    network's prediction x̂_0 of where they end (right), each a grid; ``times``, ``states``, ``predictions``
    as ``DDPM.reverse_process`` returns them (states (n, 1, H, W) in [−1, 1], the last in grey levels)."""
    index = _index(index, "index", len(times), "a recorded step")
    last = index == len(times) - 1
    fig, axes = plt.subplots(1, 2, figsize=(7.4, 3.9))
    for ax, images, title, scaled in ((axes[0], states[index], f"$x_t$, t = {times[index]}", not last),
                                      (axes[1], predictions[index], "prediction $\\hat x_0$", True)):
        images = images.cpu()
        if scaled:     # the model's [−1, 1] scale, shown like grey levels
            images = ((images.clamp(-1, 1) + 1) / 2)
        elif levels is not None:
            images = images / (levels - 1)
        n = len(images)
        rows = (n + nrow - 1) // nrow
        side = images.shape[-1]
        canvas = torch.ones(rows * (side + 1), nrow * (side + 1))
        for k in range(n):
            r, c = divmod(k, nrow)
            canvas[r * (side + 1):r * (side + 1) + side, c * (side + 1):c * (side + 1) + side] = images[k, 0]
        ax.imshow(canvas.numpy(), cmap="gray_r", vmin=0, vmax=1)
        ax.set(title=title, xticks=[], yticks=[])
    fig.tight_layout()
    return fig


class ReverseProcessExplorer(FigureExplorer):
    """A slider that scrubs through a diffusion model's reverse process, from t = T (pure noise) to t = 0
    (the samples), showing the noisy images x_t and the network's current guess x̂_0 of the result.
    ``times``, ``states``, ``predictions``: what ``DDPM.reverse_process(..., record=k)`` returns."""

    def __init__(self, times, states, predictions, levels: int | None = None, nrow: int = 4):
        if not (len(times) == len(states) == len(predictions)) or not times:
            raise ValueError("times, states and predictions must be non-empty lists of the same length")
        self.times, self.states, self.predictions = list(times), states, predictions
        self.levels, self.nrow = levels, positive_int(nrow, "nrow")
        self.slider = widgets.IntSlider(value=0, min=0, max=len(times) - 1, step=1, description="position",
                                        continuous_update=False)
        self.label = widgets.Label()
        self.slider.observe(lambda change: self._relabel(), names="value")
        self._relabel()
        self._show([self.slider], above=widgets.HBox([self.slider, self.label]))

    def _relabel(self) -> None:
        self.label.value = f"t = {self.times[self.slider.value]} (of {self.times[0]})"

    def draw(self) -> Figure:
        return reverse_process_figure(self.times, self.states, self.predictions, self.slider.value, self.levels,
                                      self.nrow)
