import math
import numpy as np
import pytest
import torch
from matplotlib.figure import Figure

from course_lib.evaluation import leaderboard
from course_lib.models import GaussianKDE

from course_lib.viz import plotting, widgets


def test_image_grid_tiles_images():
    images = torch.arange(6 * 64, dtype=torch.float32).reshape(6, 1, 8, 8) % 17
    fig = plotting.image_grid(images, nrow=3, levels=17, title="digits")
    assert isinstance(fig, Figure)
    canvas = fig.axes[0].images[0].get_array()
    assert canvas.shape == (2 * 9 + 1, 3 * 9 + 1)
    assert np.array_equal(np.asarray(canvas[1:9, 1:9]), images[0, 0].numpy())


def test_density_heatmap_shows_the_density():
    fig = plotting.density_heatmap(lambda x: -0.5 * (x ** 2).sum(1), resolution=21, samples=torch.zeros(3, 2))
    image = fig.axes[0].images[0].get_array()
    assert image.shape == (21, 21) and image.argmax() == 21 * 10 + 10  # the peak sits at the origin


def test_density_heatmap_evaluates_the_grid_in_batches():
    sizes = []

    def log_prob(x):
        sizes.append(len(x))
        return -0.5 * (x ** 2).sum(1)
    whole = plotting.density_heatmap(log_prob, resolution=30).axes[0].images[0].get_array()
    batched = plotting.density_heatmap(log_prob, resolution=30, batch_size=64).axes[0].images[0].get_array()
    assert sizes[0] == 900 and max(sizes[1:]) == 64 and sum(sizes[1:]) == 900
    assert np.array_equal(np.asarray(whole), np.asarray(batched))


def test_scatter_draws_into_a_given_axes():
    fig = plotting.image_grid(torch.rand(4, 8, 8))
    again = plotting.scatter(torch.randn(10, 2), labels=torch.arange(10) % 2, ax=fig.axes[0])
    assert again is fig and len(fig.axes[0].collections) == 1


@pytest.mark.parametrize("call, error, message", [
    (lambda: plotting.image_grid(torch.rand(4, 3, 8, 8)), ValueError, r"images must have one channel"),
    (lambda: plotting.image_grid(torch.rand(8, 8)), ValueError, r"images must have 3 or 4 dimensions"),
    (lambda: plotting.image_grid(torch.rand(4, 8, 8), nrow=0), ValueError, r"nrow must be ≥ 1"),
    (lambda: plotting.density_heatmap("not a function"), TypeError, r"log_prob must be callable"),
    (lambda: plotting.density_heatmap(lambda x: x[:, 0], xlim=(1, -1)), ValueError, r"xlim must be a pair \(low, high\) with low < high"),
    (lambda: plotting.density_heatmap(lambda x: x[:, 0] * float("nan")), ValueError, r"log_prob returned NaN on the grid"),
    (lambda: plotting.density_heatmap(lambda x: x, resolution=4), ValueError, r"log_prob must return one value per point, shape \(16,\), got \(16, 2\)"),
    (lambda: plotting.density_heatmap(lambda x: x[:, 0], batch_size=0), ValueError, r"batch_size must be ≥ 1"),
    (lambda: plotting.scatter(torch.randn(5, 3)), ValueError, r"points must have last dimension 2"),
    (lambda: plotting.scatter(torch.randn(5, 2), labels=torch.zeros(4)), ValueError, r"labels must have shape \(5,\)"),
    (lambda: plotting.scatter(torch.randn(5, 2), ax="axes"), TypeError, r"ax must be a matplotlib Axes or None"),
])
def test_plotting_rejects_bad_input(call, error, message):
    with pytest.raises(error, match=message):
        call()


def _kde_curve(fig):
    return fig.axes[0].lines[1].get_ydata().copy()  # line 0: true density, line 1: the KDE


def test_bandwidth_explorer_redraws_when_the_slider_moves():
    samples = torch.randn(50, dtype=torch.float64)
    explorer = widgets.KDEBandwidthExplorer(samples, true_log_prob=torch.distributions.Normal(0.0, 1.0).log_prob,
                                            held_out=torch.randn(50), bandwidth=0.3)
    before, title_before = _kde_curve(explorer.figure), explorer.figure.axes[0].get_title()
    explorer.slider.value = 1.0
    after = _kde_curve(explorer.figure)
    grid = torch.linspace(-4.0, 4.0, 400, dtype=torch.float64)
    for curve, h in ((before, 0.3), (after, 1.0)):  # each drawing is the KDE of its slider value
        assert np.allclose(curve, GaussianKDE(samples[:, None], h).log_prob(grid[:, None]).exp().numpy())
    assert after.max() < before.max()  # a wider kernel gives a flatter estimate
    assert "h = 1" in explorer.figure.axes[0].get_title() and explorer.figure.axes[0].get_title() != title_before
    assert explorer._repr_mimebundle_() is not None


def test_bandwidth_explorer_rejects_bad_input():
    with pytest.raises(ValueError, match=r"bandwidth must lie in \[low, high\] = \[0.01, 3.0\], got 10.0"):
        widgets.KDEBandwidthExplorer(torch.randn(10), bandwidth=10.0, high=3.0)
    with pytest.raises(ValueError, match="samples must have 1 dimensions, got shape"):
        widgets.KDEBandwidthExplorer(torch.randn(10, 2))
    with pytest.raises(ValueError, match="bandwidth must be finite and > 0, got 0.0"):
        widgets.kde_figure(torch.randn(10), 0.0)


def test_leaderboard_records_replaces_and_ranks():
    leaderboard.record("model A", 1, 150.0, 64)
    leaderboard.record("model B", 2, 120.0, 64, bound="dequantization bound")
    leaderboard.record("model A", 1, 110.0, 64)  # re-running a chapter replaces its row
    rows = leaderboard.entries()
    assert [r["model"] for r in rows] == ["model A", "model B"]
    assert rows[0]["bits_per_dim"] == pytest.approx(110.0 / (64 * np.log(2)))
    table = leaderboard.table()
    assert table.index("model A") < table.index("model B") and "150.0" not in table


@pytest.mark.parametrize("kwargs, error, message", [
    ({"model": ""}, TypeError, "model must be a non-empty str, got ''"),
    ({"chapter": 0}, ValueError, "chapter must be ≥ 1, got 0"),
    ({"bound": "guess"}, ValueError, r"bound must be one of \('exact', 'dequantization bound'"),
    ({"nll_nats": float("nan")}, ValueError, "nll_nats must be finite, got nan"),
    ({"dims": 0}, ValueError, "dims must be ≥ 1, got 0"),
])
def test_leaderboard_rejects_bad_input(kwargs, error, message):
    arguments = {"model": "m", "chapter": 1, "nll_nats": 100.0, "dims": 64, **kwargs}
    with pytest.raises(error, match=message):
        leaderboard.record(**arguments)


def test_em_stepper_slider_and_dropdown_redraw():
    from course_lib import data

    x = data.three_clusters(300, generator=torch.Generator().manual_seed(0))
    stepper = widgets.EMStepper(x, components=(2, 3, 4), n_components=3, max_iter=15)
    assert stepper.slider.max == 15  # one snapshot per iteration, plus the final parameters
    first_ellipses = [line.get_xydata().copy() for line in stepper.figure.axes[0].lines]
    stepper.slider.value = 10
    later_ellipses = [line.get_xydata().copy() for line in stepper.figure.axes[0].lines]
    assert "iteration 10" in stepper.figure.axes[0].get_title()
    assert any(not np.allclose(a, b) for a, b in zip(first_ellipses, later_ellipses))  # the components moved
    marker = stepper.figure.axes[1].lines[1].get_xydata()
    assert marker[0, 0] == 10  # the red dot on the likelihood curve follows the slider
    stepper.dropdown.value = 4
    assert stepper.slider.value == 0 and stepper.mixture.n_components == 4
    assert len(stepper.figure.axes[0].lines) == 2 * 4  # an ellipse and a centre mark per component


def test_em_stepper_covariance_dropdown_refits_with_isotropic_components():
    from course_lib import data

    x = data.three_clusters(300, generator=torch.Generator().manual_seed(0))
    stepper = widgets.EMStepper(x, components=(2, 3), n_components=3, max_iter=10)
    assert stepper.covariance.options == ("full", "diag", "spherical") and stepper.covariance.value == "full"
    stepper.slider.value = 5
    stepper.covariance.value = "spherical"
    assert stepper.mixture.covariance_type == "spherical" and stepper.mixture.covariances.shape == (3,)
    assert stepper.slider.value == 0 and "(spherical)" in stepper.figure.axes[0].get_title()
    stepper.slider.value = 10
    for k in range(3):                      # σ_k² I: every 2σ contour is a circle around its mean
        ring = stepper.figure.axes[0].lines[2 * k].get_xydata()
        radius = np.linalg.norm(ring - stepper.mixture.means[k].numpy(), axis=1)
        assert np.allclose(radius, 2 * stepper.mixture.covariances[k].sqrt().item(), rtol=1e-6)
    assert np.all(np.diff(stepper.mixture.log_likelihood_history.numpy()) >= -1e-10)
    stepper.covariance.value = "diag"
    assert stepper.mixture.covariances.shape == (3, 2)
    full = widgets.EMStepper(x, components=(3,), n_components=3, max_iter=10)
    # fewer parameters, the same start: on these tilted clusters the isotropic fit ends lower than the full one
    isotropic = widgets.EMStepper(x, components=(3,), n_components=3, max_iter=10, covariance_type="spherical")
    assert isotropic.mixture.log_likelihood_history[-1] < full.mixture.log_likelihood_history[-1]


def test_em_stepper_rejects_bad_input():
    with pytest.raises(ValueError, match=r"n_components must be one of components=\(2, 3\), got 5"):
        widgets.EMStepper(torch.randn(50, 2), components=(2, 3), n_components=5)
    with pytest.raises(ValueError, match="x must have last dimension 2, got shape"):
        widgets.EMStepper(torch.randn(50, 3))
    with pytest.raises(ValueError, match=r"covariance_type must be one of \('full', 'diag', 'spherical'\), got 'round'"):
        widgets.EMStepper(torch.randn(50, 2), covariance_type="round")
    with pytest.raises(ValueError, match="max_iter must be ≥ 1, got 0"):
        widgets.EMStepper(torch.randn(50, 2), max_iter=0)


def _toy_decoder(z):
    """A decoder whose image brightens with z₁ and moves its bright pixel with z₂: (N, 2) → (N, 1, 4, 4)."""
    images = torch.zeros(len(z), 1, 4, 4)
    images += z[:, :1, None, None].clamp(-3, 3) + 3
    column = ((z[:, 1] + 3) / 6 * 3.999).long().clamp(0, 3)
    images[torch.arange(len(z)), 0, 0, column] = 10.0
    return images


def test_latent_explorer_redraws_the_decoded_image():
    explorer = widgets.LatentExplorer(_toy_decoder, latent_dim=2, codes=torch.randn(30, 2), labels=torch.arange(30) % 3,
                                      levels=11)
    before = explorer.figure.axes[0].images[0].get_array().copy()
    explorer.sliders[0].value = 2.0
    after = explorer.figure.axes[0].images[0].get_array().copy()
    assert np.allclose(after - before, np.where(before == 10.0, 0.0, 2.0))  # brighter everywhere but the marker
    explorer.sliders[1].value = 2.9
    assert explorer.figure.axes[0].images[0].get_array()[0, 3] == 10.0  # the marker moved to the last column
    star = explorer.figure.axes[1].lines[0].get_xydata()[0]
    assert np.allclose(star, [2.0, 2.9])


def test_interpolation_explorer_walks_between_two_codes():
    images = torch.stack([torch.full((1, 4, 4), float(v)) for v in range(5)])
    encode = lambda x: torch.stack([x.mean((1, 2, 3)) - 3, torch.zeros(len(x))], 1)  # noqa: E731
    explorer = widgets.InterpolationExplorer(encode, _toy_decoder, images, levels=11, first=0, second=4)
    middle = explorer.figure.axes[1].images[0].get_array()[1, 1]
    explorer.t.value = 1.0
    end = explorer.figure.axes[1].images[0].get_array()[1, 1]
    assert middle == pytest.approx(2.0) and end == pytest.approx(4.0)  # decoded brightness follows t
    explorer.second.value = 2
    assert explorer.figure.axes[1].images[0].get_array()[1, 1] == pytest.approx(2.0)


def test_latent_widgets_reject_bad_input():
    with pytest.raises(TypeError, match="decode must be callable, got str"):
        widgets.LatentExplorer("decoder")
    with pytest.raises(ValueError, match="codes must have last dimension 2, got shape"):
        widgets.LatentExplorer(_toy_decoder, latent_dim=2, codes=torch.randn(5, 3))
    with pytest.raises(ValueError, match="decode must return images"):
        widgets.LatentExplorer(lambda z: torch.zeros(len(z), 4, 4), latent_dim=2)
    with pytest.raises(ValueError, match=r"second must be an index in \[0, "):
        widgets.InterpolationExplorer(lambda x: x, _toy_decoder, torch.zeros(3, 1, 4, 4), second=3)


class _Recorder:
    """Wraps a function of tensors and keeps a copy of the arguments of every call."""

    def __init__(self, function):
        self.function, self.calls = function, []

    def __call__(self, *args):
        self.calls.append(tuple(a.clone() for a in args))
        return self.function(*args)


def _shown(fig, panel):
    return np.asarray(fig.axes[panel].images[0].get_array()).copy()


def test_seed_interpolation_explorer_follows_t_and_the_seeds():
    decode = _Recorder(_toy_decoder)
    explorer = widgets.SeedInterpolationExplorer(decode, latent_dim=2, levels=11, first=3, second=7, seeds=10)
    z0, z1 = (torch.randn(1, 2, generator=torch.Generator().manual_seed(s))[0] for s in (3, 7))
    assert torch.equal(explorer.codes, torch.stack([z0, z1]))
    assert [ax.get_title() for ax in explorer.figure.axes[:3]] == ["seed 3", "t = 0.50", "seed 7"]
    first, second = _shown(explorer.figure, 0), _shown(explorer.figure, 2)
    assert np.array_equal(first, _toy_decoder(z0[None])[0, 0].numpy())
    assert np.array_equal(second, _toy_decoder(z1[None])[0, 0].numpy())
    for t in (0.5, 0.25, 1.0):
        explorer.t.value = t
        expected = _toy_decoder(((1 - t) * z0 + t * z1)[None])[0, 0].numpy()
        assert np.allclose(_shown(explorer.figure, 1), expected)       # the middle image is decoded at z_t
        assert torch.allclose(decode.calls[-1][0][2], (1 - t) * z0 + t * z1)
    assert np.array_equal(_shown(explorer.figure, 1), second)
    assert not np.array_equal(_shown(explorer.figure, 1), first)
    explorer.t.value = 0.0
    assert np.array_equal(_shown(explorer.figure, 1), first)           # t = 0 is the first end, exactly
    strip = [_shown(explorer.figure, 3 + k) for k in range(8)]
    assert np.array_equal(strip[0], first) and np.array_equal(strip[-1], second)
    explorer.second.value = 3                                           # both ends the same seed: a constant path
    assert all(np.array_equal(_shown(explorer.figure, k), first) for k in range(11))


def test_seed_interpolation_explorer_is_deterministic():
    draw = lambda: widgets.SeedInterpolationExplorer(_toy_decoder, latent_dim=2, first=5, second=9)  # noqa: E731
    torch.manual_seed(0)
    a = draw()
    torch.manual_seed(1)                                                # the global generator plays no part
    b = draw()
    assert torch.equal(a.codes, b.codes)
    assert all(np.array_equal(_shown(a.figure, k), _shown(b.figure, k)) for k in range(11))
    codes = a.codes.clone()
    a.first.value = 6
    a.first.value = 5                                                   # back to the same seed, the same code
    assert torch.equal(a.codes, codes) and a.codes.shape == (2, 2)
    assert not torch.equal(a.codes[0], a.codes[1])


def _toy_generate(z, labels):
    """A conditional generator: the class sets the bright pixel's row, the code the brightness and column."""
    images = _toy_decoder(z)
    images[torch.arange(len(z)), 0, labels % 4, 0] = 9.0
    return images


def test_class_conditional_explorer_keeps_the_codes_and_changes_the_class():
    generate = _Recorder(_toy_generate)
    calls = generate.calls
    explorer = widgets.ClassConditionalExplorer(generate, classes=4, latent_dim=2, n=5, levels=11,
                                                class_names=["zero", "one", "two", "three"])
    z, labels = calls[-1]
    assert torch.equal(z, torch.randn(5, 2, generator=torch.Generator().manual_seed(0)))
    assert torch.equal(labels, torch.zeros(5, dtype=torch.long)) and len(explorer.figure.axes) == 5
    assert "class 0: zero" in explorer.figure.texts[0].get_text()
    before = [_shown(explorer.figure, k) for k in range(5)]
    explorer.label.value = 2
    z_after, labels_after = calls[-1]
    assert torch.equal(z_after, z) and torch.equal(labels_after, torch.full((5,), 2))   # same style, new class
    assert "class 2: two" in explorer.figure.texts[0].get_text()
    for k in range(5):
        after = _shown(explorer.figure, k)
        assert np.array_equal(after, _toy_generate(z[k:k + 1], labels_after[:1])[0, 0].numpy())
        assert not np.array_equal(after, before[k])
    explorer.seed.value = 4
    z_new, labels_new = calls[-1]
    assert torch.equal(z_new, torch.randn(5, 2, generator=torch.Generator().manual_seed(4)))
    assert torch.equal(z_new, explorer.codes) and torch.equal(labels_new, torch.full((5,), 2))
    assert "seed 4" in explorer.figure.texts[0].get_text()
    plain = widgets.ClassConditionalExplorer(_toy_generate, classes=3, latent_dim=2, n=2, label=1, seed=4)
    assert plain.figure.texts[0].get_text().startswith("class 1 ") and torch.equal(plain.codes, z_new[:2])


@pytest.mark.parametrize("call, error, message", [
    (lambda: widgets.SeedInterpolationExplorer("decoder", 2), TypeError, "decode must be callable, got str"),
    (lambda: widgets.SeedInterpolationExplorer(_toy_decoder, 0), ValueError, "latent_dim must be ≥ 1, got 0"),
    (lambda: widgets.SeedInterpolationExplorer(_toy_decoder, 2.0), TypeError, "latent_dim must be an int, got float"),
    (lambda: widgets.SeedInterpolationExplorer(_toy_decoder, 2, seeds=0), ValueError, "seeds must be ≥ 1, got 0"),
    (lambda: widgets.SeedInterpolationExplorer(_toy_decoder, 2, first=-1), ValueError,
     r"first must be a seed in \[0, 999\], got -1"),
    (lambda: widgets.SeedInterpolationExplorer(_toy_decoder, 2, second=10, seeds=10), ValueError,
     r"second must be a seed in \[0, 9\], got 10"),
    (lambda: widgets.SeedInterpolationExplorer(_toy_decoder, 2, levels=1), ValueError, "levels must be ≥ 2, got 1"),
    (lambda: widgets.SeedInterpolationExplorer(lambda z: torch.zeros(len(z), 4, 4), 2), ValueError,
     r"decode must return images of shape \(N, 1, H, W\), got \(11, 4, 4\)"),
    (lambda: widgets.ClassConditionalExplorer("generator", 3, 2), TypeError,
     "generate must be callable, got str"),
    (lambda: widgets.ClassConditionalExplorer(_toy_generate, 0, 2), ValueError, "classes must be ≥ 1, got 0"),
    (lambda: widgets.ClassConditionalExplorer(_toy_generate, 3, 0), ValueError, "latent_dim must be ≥ 1, got 0"),
    (lambda: widgets.ClassConditionalExplorer(_toy_generate, 3, 2, n=0), ValueError, "n must be ≥ 1, got 0"),
    (lambda: widgets.ClassConditionalExplorer(_toy_generate, 3, 2, class_names=["a", "b"]), ValueError,
     "class_names must name each of the 3 classes, got 2"),
    (lambda: widgets.ClassConditionalExplorer(_toy_generate, 3, 2, label=3), ValueError,
     r"label must be a class in \[0, 2\], got 3"),
    (lambda: widgets.ClassConditionalExplorer(_toy_generate, 3, 2, seed=100), ValueError,
     r"seed must be a seed in \[0, 99\], got 100"),
    (lambda: widgets.ClassConditionalExplorer(_toy_generate, 3, 2, seed=True), TypeError,
     "seed must be an int, got bool"),
    (lambda: widgets.ClassConditionalExplorer(lambda z, y: z, 3, 2), ValueError,
     r"generate must return images of shape \(N, 1, H, W\), got \(8, 2\)"),
])
def test_gan_explorers_reject_bad_input(call, error, message):
    with pytest.raises(error, match=message):
        call()


def test_occlusion_masks():
    assert widgets.occlusion_mask("bottom half", 8, 8)[0, :4].all() and not widgets.occlusion_mask("bottom half", 8, 8)[0, 4:].any()
    assert widgets.occlusion_mask("centre square", 8, 8).sum() == 64 - 16
    with pytest.raises(ValueError, match=r"region must be one of \('bottom half'"):
        widgets.occlusion_mask("everything", 8, 8)


def test_completion_explorer_keeps_the_shown_pixels_and_follows_the_controls():
    from course_lib.models import NADE

    torch.manual_seed(0)
    model = NADE((1, 4, 4), 5, hidden=8).eval()
    images = torch.randint(0, 5, (3, 1, 4, 4)).float()
    explorer = widgets.CompletionExplorer(model, images, n=3)
    shown = explorer.figure.axes[1].images[0].get_array()
    assert np.ma.getmaskarray(shown)[2:].all() and not np.ma.getmaskarray(shown)[:2].any()  # bottom half hidden
    for ax in explorer.figure.axes[2:]:
        assert np.array_equal(ax.images[0].get_array()[:2], images[0, 0, :2].numpy())  # the top half is kept
    explorer.region.value = "right half"
    shown = explorer.figure.axes[1].images[0].get_array()
    assert np.ma.getmaskarray(shown)[:, 2:].all()
    explorer.index.value = 2
    assert np.array_equal(explorer.figure.axes[0].images[0].get_array(), images[2, 0].numpy())
    with pytest.raises(TypeError, match=r"model must have a sample\(n, observed, known\) method"):
        widgets.CompletionExplorer(object(), images)


def test_em_stepper_draws_once_per_change(monkeypatch):
    from course_lib import data

    stepper = widgets.EMStepper(data.three_clusters(150, generator=torch.Generator().manual_seed(0)), max_iter=5)
    stepper.slider.value = 3
    calls = []
    monkeypatch.setattr(stepper, "draw", lambda original=stepper.draw: calls.append(1) or original())
    stepper.dropdown.value = 4
    assert len(calls) == 1


def test_flow_layer_explorer_shows_each_depth_of_the_flow():
    from course_lib.nn import transforms as T

    shift = T.Composite([T.Scaling((2,)), T.Permutation.reverse((2,))])
    with torch.no_grad():
        shift.transforms[0].log_scale.copy_(torch.tensor([math.log(2.0), 0.0]))   # x1 → 2·x1, then swap
    data, base = torch.tensor([[1.0, 3.0]]), torch.tensor([[6.0, 8.0]])
    explorer = widgets.FlowLayerExplorer(shift, data, base, names=["scale", "swap"], limit=10)
    points = lambda: [ax.collections[0].get_offsets()[0].tolist() for ax in explorer.figure.axes]  # noqa: E731
    assert points() == [[1.0, 3.0], [4.0, 6.0]]          # depth 0: the data; the base pulled back fully
    explorer.slider.value = 1
    assert points() == [[2.0, 3.0], [8.0, 6.0]] and "layer 1: scale" in explorer.figure.texts[0].get_text()
    explorer.slider.value = 2
    assert points() == [[3.0, 2.0], [6.0, 8.0]]          # depth K: the data in noise space; the base itself
    with pytest.raises(TypeError, match="transform must be a course_lib.nn.transforms.Composite"):
        widgets.FlowLayerExplorer(T.Scaling((2,)), data, base)
    with pytest.raises(ValueError, match="names must name each of the 2 layers"):
        widgets.FlowLayerExplorer(shift, data, base, names=["one"])
    with pytest.raises(ValueError, match="base_samples must have last dimension 2"):
        widgets.FlowLayerExplorer(shift, data, torch.zeros(3, 3))


def test_parallel_lines_explorer_moves_the_segment_and_its_coupling():
    explorer = widgets.ParallelLinesExplorer(theta=0.5, n=10, thetas=torch.tensor([0.25, 0.5]),
                                             estimates={"JS": torch.tensor([0.69, 0.69]), "W₁": torch.tensor([0.25, 0.5])})
    left = explorer.figure.axes[0]
    assert "θ = +0.50" in left.get_title()
    coupling = [line for line in left.get_lines() if len(line.get_xdata()) == 2]
    assert len(coupling) == 10 and all(np.allclose(line.get_xdata(), [0.0, 0.5]) for line in coupling)
    explorer.slider.value = -0.3
    left = explorer.figure.axes[0]
    assert "θ = -0.30" in left.get_title()
    assert all(np.allclose(line.get_xdata(), [0.0, -0.3]) for line in left.get_lines() if len(line.get_xdata()) == 2)
    # the marker on the W₁ curve sits at |θ|
    markers = [line for line in explorer.figure.axes[1].get_lines() if list(line.get_xdata()) == [-0.3]]
    assert any(np.isclose(line.get_ydata()[0], 0.3) for line in markers)


@pytest.mark.parametrize("kwargs, error, match", [
    (dict(theta=2.0), ValueError, "theta"),
    (dict(theta="a"), TypeError, "theta"),
    (dict(n=0), ValueError, "n"),
    (dict(thetas=torch.tensor([0.1, 0.2]), estimates={"JS": torch.tensor([0.5])}), ValueError, "one value per θ"),
])
def test_parallel_lines_explorer_rejects_bad_input(kwargs, error, match):
    with pytest.raises(error, match=match):
        widgets.ParallelLinesExplorer(**kwargs)


def test_parallel_lines_figure_rejects_a_seed_pytorch_cannot_take():
    with pytest.raises(ValueError, match=r"seed must be < 2\*\*63"):       # not PyTorch's overflow error
        widgets.parallel_lines_figure(0.5, seed=2**64)


# --- chapter 08: Langevin and the reverse process ----------------------------------------------------------


def _particles(fig, n):
    """The offsets of the scatter of n particles in the figure's first axes."""
    found = [c.get_offsets() for c in fig.axes[0].collections if np.shape(c.get_offsets()) == (n, 2)]
    assert len(found) == 1
    return np.asarray(found[0])


def test_langevin_explorer_recomputes_the_run_when_the_step_size_changes():
    from course_lib.models import langevin

    score = lambda x: -x  # noqa: E731
    start = torch.randn(50, 2, generator=torch.Generator().manual_seed(0)) * 3
    explorer = widgets.LangevinExplorer(score, start, log_density=lambda x: -0.5 * (x ** 2).sum(1), max_steps=40,
                                        step_size=0.01, seed=3)
    run = langevin(score, start, 0.01, 40, torch.Generator().manual_seed(3))
    assert len(explorer.trajectory) == 41
    assert np.allclose(_particles(explorer.figure, 50), run[40].numpy())       # the slider starts at the last step
    assert "step 40" in explorer.figure.axes[0].get_title() and "ε = 0.01" in explorer.figure.axes[0].get_title()
    explorer.steps_slider.value = 10
    assert np.allclose(_particles(explorer.figure, 50), run[10].numpy())        # the state at that step
    assert "step 10" in explorer.figure.axes[0].get_title()
    explorer.steps_slider.value = 0
    assert np.allclose(_particles(explorer.figure, 50), start.numpy())
    before = explorer.trajectory
    explorer.step_slider.value = 0.1
    assert explorer.trajectory is not before                                     # a new run at the new ε
    faster = langevin(score, start, 0.1, 40, torch.Generator().manual_seed(3))
    explorer.steps_slider.value = 40
    assert np.allclose(_particles(explorer.figure, 50), faster[40].numpy())
    assert not np.allclose(faster[40].numpy(), run[40].numpy())
    assert "ε = 0.1" in explorer.figure.axes[0].get_title()
    again = explorer.trajectory
    explorer.steps_slider.value = 20
    assert explorer.trajectory is again                                          # the same ε: the cached run


@pytest.mark.parametrize("call, error, message", [
    (lambda: widgets.LangevinExplorer("score", torch.zeros(5, 2)), TypeError, "score must be callable, got str"),
    (lambda: widgets.LangevinExplorer(lambda x: -x, torch.zeros(5, 3)), ValueError, "start must have last dimension 2"),
    (lambda: widgets.LangevinExplorer(lambda x: -x, torch.zeros(5)), ValueError, "start must have 2 dimensions"),
    (lambda: widgets.LangevinExplorer(lambda x: -x, torch.zeros(5, 2), max_steps=0), ValueError, "max_steps must be ≥ 1"),
    (lambda: widgets.LangevinExplorer(lambda x: -x, torch.zeros(5, 2), step_size=0.0), ValueError,
     "step_size must be finite and > 0"),
    (lambda: widgets.LangevinExplorer(lambda x: -x, torch.zeros(5, 2), seed=-1), ValueError, "seed must be ≥ 0"),
    (lambda: widgets.LangevinExplorer(lambda x: -x, torch.zeros(5, 2), seed=2**64), ValueError, r"seed must be < 2\*\*63"),
    (lambda: widgets.LangevinExplorer(lambda x: -x, torch.zeros(5, 2), limit=-1.0), ValueError, "limit must be finite and > 0"),
    (lambda: widgets.langevin_figure([], 0), ValueError, "trajectory must hold at least one state"),
    (lambda: widgets.langevin_figure([torch.zeros(3, 2)] * 3, 3), ValueError, r"step must be a step in \[0, 2\], got 3"),
    (lambda: widgets.langevin_figure([torch.zeros(3, 2)] * 3, 1.0), TypeError, "step must be an int"),
])
def test_langevin_widgets_reject_bad_input(call, error, message):
    with pytest.raises(error, match=message):
        call()


def _reverse_run():
    from course_lib.models import DDPM
    from course_lib.nn import MLPDenoiser

    torch.manual_seed(0)
    net = MLPDenoiser((1, 4, 4), hidden=8, blocks=1, embedding=8)
    with torch.no_grad():
        net.output.weight.normal_(0, 0.5)
    return DDPM(net, shape=(1, 4, 4), levels=5, steps=4).reverse_process(3, torch.Generator().manual_seed(0))


def _tile(fig, axis, k, nrow=2, side=4):
    r, c = divmod(k, nrow)
    return np.asarray(fig.axes[axis].images[0].get_array())[r * (side + 1):r * (side + 1) + side,
                                                             c * (side + 1):c * (side + 1) + side]


def test_reverse_process_explorer_scrubs_through_the_run():
    times, states, predictions = _reverse_run()
    assert times == [4, 3, 2, 1, 0]
    explorer = widgets.ReverseProcessExplorer(times, states, predictions, levels=5, nrow=2)
    assert explorer.label.value == "t = 4 (of 4)" and "t = 4" in explorer.figure.axes[0].get_title()
    first = _tile(explorer.figure, 0, 1).copy()
    assert np.allclose(first, ((states[0][1, 0].clamp(-1, 1) + 1) / 2).numpy())   # [−1, 1] shown on [0, 1]
    explorer.slider.value = 2
    assert explorer.label.value == "t = 2 (of 4)" and "t = 2" in explorer.figure.axes[0].get_title()
    assert np.allclose(_tile(explorer.figure, 0, 1), ((states[2][1, 0].clamp(-1, 1) + 1) / 2).numpy())
    assert np.allclose(_tile(explorer.figure, 1, 2), ((predictions[2][2, 0].clamp(-1, 1) + 1) / 2).numpy())
    assert not np.allclose(_tile(explorer.figure, 0, 1), first)
    explorer.slider.value = 4                                   # the samples: grey levels / (levels − 1)
    assert explorer.label.value == "t = 0 (of 4)"
    assert np.allclose(_tile(explorer.figure, 0, 0), (states[4][0, 0] / 4).numpy())


@pytest.mark.parametrize("call, error, message", [
    (lambda: widgets.ReverseProcessExplorer([4, 0], [torch.zeros(2, 1, 4, 4)], [torch.zeros(2, 1, 4, 4)] * 2),
     ValueError, "times, states and predictions must be non-empty lists of the same length"),
    (lambda: widgets.ReverseProcessExplorer([], [], []), ValueError, "must be non-empty lists"),
    (lambda: widgets.ReverseProcessExplorer([0], [torch.zeros(2, 1, 4, 4)], [torch.zeros(2, 1, 4, 4)], nrow=0),
     ValueError, "nrow must be ≥ 1"),
    (lambda: widgets.reverse_process_figure([0], [torch.zeros(2, 1, 4, 4)], [torch.zeros(2, 1, 4, 4)], 1),
     ValueError, r"index must be a recorded step in \[0, 0\], got 1"),
])
def test_reverse_process_widgets_reject_bad_input(call, error, message):
    with pytest.raises(error, match=message):
        call()
