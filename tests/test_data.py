import math
import gzip
import struct

import numpy as np
import pytest
import torch

from course_lib import data


@pytest.mark.parametrize("name", sorted(data.TOY_SAMPLERS))
def test_toy_samplers_shape_and_repeatability(name):
    a = data.toy(name, 500, generator=torch.Generator().manual_seed(3))
    b = data.toy(name, 500, generator=torch.Generator().manual_seed(3))
    assert a.shape == (500, 2) and torch.isfinite(a).all()
    assert torch.equal(a, b)


def test_eight_gaussians_has_eight_modes_on_the_circle():
    x = data.eight_gaussians(4000, std=0.01, generator=torch.Generator().manual_seed(0))
    radius = x.norm(dim=1)
    assert torch.allclose(radius, torch.full_like(radius, 2.0), atol=0.05)
    angles = torch.round(torch.atan2(x[:, 1], x[:, 0]) / (torch.pi / 4)) % 8
    assert len(torch.unique(angles)) == 8


def test_mixture_centres_and_samples():
    ring = data.ring_centres(8, 2.0)
    assert ring.shape == (8, 2) and torch.allclose(ring.norm(dim=1), torch.full((8,), 2.0))
    assert torch.allclose(ring[0], torch.tensor([2.0, 0.0])) and torch.allclose(ring[2], torch.tensor([0.0, 2.0]), atol=1e-6)
    grid = data.grid_centres(5, 2.0)
    assert grid.shape == (25, 2) and sorted(set(grid[:, 0].tolist())) == [-4.0, -2.0, 0.0, 2.0, 4.0]
    x = data.gaussian_mixture(20000, grid, 0.05, generator=torch.Generator().manual_seed(0))
    distance, nearest = torch.cdist(x, grid).min(dim=1)
    counts = torch.bincount(nearest, minlength=25)
    assert counts.min() > 600 and counts.max() < 1000                 # equal weights: 800 each
    assert abs(distance.pow(2).mean().item() / 2 - 0.05 ** 2) < 2e-4     # per-coordinate variance σ²
    again = data.gaussian_mixture(20000, grid, 0.05, generator=torch.Generator().manual_seed(0))
    assert torch.equal(x, again)


def test_checkerboard_only_fills_black_squares():
    x = data.checkerboard(5000, generator=torch.Generator().manual_seed(0))
    col, row = torch.floor(x[:, 0] + 2), torch.floor(x[:, 1] + 2)
    assert ((x > -2) & (x < 2)).all()
    assert ((col + row) % 2 == 0).all()


def test_parallel_lines_is_a_vertical_segment_at_theta():
    x = data.parallel_lines(1000, theta=0.7, generator=torch.Generator().manual_seed(0))
    assert torch.all(x[:, 0] == 0.7)
    assert x[:, 1].min() >= 0 and x[:, 1].max() < 1
    assert abs(x[:, 1].mean().item() - 0.5) < 0.05


def test_labelled_blobs_balanced_and_separated():
    x, y = data.labelled_blobs(400, generator=torch.Generator().manual_seed(0))
    assert x.shape == (400, 2) and y.shape == (400,)
    assert (y == 0).sum() == 200
    assert x[y == 0, 0].mean() < -0.5 < 0.5 < x[y == 1, 0].mean()


@pytest.mark.parametrize("call, error, message", [
    (lambda: data.moons(0), ValueError, r"n must be ≥ 1"),
    (lambda: data.moons(10.0), TypeError, r"n must be an int"),
    (lambda: data.moons(10, noise=-1), ValueError, r"noise must be finite and ≥ 0"),
    (lambda: data.eight_gaussians(10, std=0), ValueError, r"std must be finite and > 0"),
    (lambda: data.gaussian_mixture(10, torch.zeros(3), 0.1), ValueError, r"centres must have 2 dimensions"),
    (lambda: data.gaussian_mixture(10, torch.zeros(3, 2), -1.0), ValueError, r"std must be"),
    (lambda: data.ring_centres(0), ValueError, r"k must be"),
    (lambda: data.grid_centres(5, spacing=0), ValueError, r"spacing must be"),
    (lambda: data.rings(10, radii=()), ValueError, r"radii must name at least one radius"),
    (lambda: data.parallel_lines(10, theta=float("nan")), ValueError, r"theta must be finite"),
    (lambda: data.parallel_lines(10, theta="1"), TypeError, r"theta must be a number"),
    (lambda: data.spirals(10, generator=0), TypeError, r"generator must be a torch\.Generator or None"),
    (lambda: data.toy("donut", 10), ValueError, r"name must be one of \['checkerboard', 'eight_gaussians', 'moons', 'rings', 'spirals', 'three_clusters'\]"),
    (lambda: data.load_dataset("cifar"), ValueError, r"name must be 'digits', 'mnist' or 'fashion_mnist'"),
])
def test_samplers_reject_bad_input(call, error, message):
    with pytest.raises(error, match=message):
        call()


def test_digits_split_matches_tomczak():
    from sklearn.datasets import load_digits

    split = data.load_digits()
    raw = load_digits().data
    assert split.levels == 17
    assert split.train.x.shape == (1000, 1, 8, 8)
    assert split.val.x.shape == (350, 1, 8, 8)
    assert split.test.x.shape == (447, 1, 8, 8)
    # First 1000 train, next 350 validation, last 447 test: the same images, in order.
    assert np.array_equal(split.train.x.reshape(1000, 64).numpy(), raw[:1000])
    assert np.array_equal(split.val.x.reshape(350, 64).numpy(), raw[1000:1350])
    assert np.array_equal(split.test.x.reshape(447, 64).numpy(), raw[1350:])
    assert split.train.x.min() == 0 and split.train.x.max() == 16
    assert split.train.y.dtype == torch.int64


def _write_idx(path, array, compress=False):
    codes = {np.uint8: 0x08, np.int32: 0x0C, np.float32: 0x0D}
    header = bytes([0, 0, codes[array.dtype.type], array.ndim]) + struct.pack(f">{array.ndim}I", *array.shape)
    payload = header + array.astype(array.dtype.newbyteorder(">")).tobytes()
    (gzip.open if compress else open)(path, "wb").write(payload)


@pytest.mark.parametrize("compress", [False, True])
@pytest.mark.parametrize("dtype", [np.uint8, np.int32, np.float32])
def test_read_idx_round_trip(tmp_path, compress, dtype):
    array = (np.arange(2 * 3 * 4) % 200).astype(dtype).reshape(2, 3, 4)
    path = tmp_path / ("a.idx.gz" if compress else "a.idx")
    _write_idx(path, array, compress)
    out = data.read_idx(path)
    assert out.dtype == np.dtype(dtype) and np.array_equal(out, array)


def test_read_idx_rejects_bad_files(tmp_path):
    with pytest.raises(FileNotFoundError, match="path: no IDX file at"):
        data.read_idx(tmp_path / "missing")
    with pytest.raises(TypeError, match="path must be a str or os.PathLike, got int"):
        data.read_idx(42)
    (tmp_path / "junk").write_bytes(b"hello world")
    with pytest.raises(ValueError, match=r"is not an IDX file \(bad magic number\)"):
        data.read_idx(tmp_path / "junk")
    _write_idx(tmp_path / "short", np.zeros((4, 4), np.uint8))
    (tmp_path / "short").write_bytes((tmp_path / "short").read_bytes()[:-3])
    with pytest.raises(ValueError, match=r"holds 13 data bytes, its header announces shape \(4, 4\) \(16 bytes\)"):
        data.read_idx(tmp_path / "short")


def _tiny_mnist(folder, n_train=30, n_test=10, compress=True):
    folder.mkdir(parents=True)
    rng = np.random.default_rng(0)
    for stem, n in (("train", n_train), ("t10k", n_test)):
        suffix = ".gz" if compress else ""
        _write_idx(folder / f"{stem}-images-idx3-ubyte{suffix}", rng.integers(0, 256, (n, 28, 28), dtype=np.uint8), compress)
        _write_idx(folder / f"{stem}-labels-idx1-ubyte{suffix}", rng.integers(0, 10, n, dtype=np.uint8), compress)


@pytest.mark.parametrize("name, compress", [("mnist", True), ("fashion_mnist", False)])
def test_load_mnist_from_tiny_idx_files(tmp_path, monkeypatch, name, compress):
    _tiny_mnist(tmp_path / name, compress=compress)
    monkeypatch.setenv("DGM_DATA", str(tmp_path))
    split = data.load_mnist(name, n_val=5)
    assert split.levels == 256
    assert split.train.x.shape == (25, 1, 28, 28) and split.val.x.shape == (5, 1, 28, 28)
    assert split.test.x.shape == (10, 1, 28, 28) and split.test.y.shape == (10,)
    assert split.train.x.max() <= 255


def test_load_mnist_default_validation_size_is_checked(tmp_path, monkeypatch):
    _tiny_mnist(tmp_path / "mnist")
    monkeypatch.setenv("DGM_DATA", str(tmp_path))
    with pytest.raises(ValueError, match="n_val must be smaller than the 30 training images, got 10000"):
        data.load_mnist("mnist")


def test_missing_mnist_says_where_to_put_the_files(tmp_path, monkeypatch):
    monkeypatch.setenv("DGM_DATA", str(tmp_path))
    with pytest.raises(FileNotFoundError) as info:
        data.load_mnist("mnist")
    message = str(info.value)
    assert str(tmp_path / "mnist") in message and "train-images-idx3-ubyte" in message and "DGM_DATA" in message


def test_dequantize_stays_in_the_unit_cell():
    x = torch.randint(0, 17, (100, 1, 8, 8)).float()
    y = data.dequantize(x, torch.Generator().manual_seed(0))
    assert torch.all((y >= x) & (y < x + 1))
    assert torch.equal(torch.floor(y), x)


@pytest.mark.parametrize("bad, error, message", [
    (torch.tensor([0.5]), ValueError, "x must hold non-negative integer grey levels to dequantize"),
    (torch.tensor([-1.0]), ValueError, "x must hold non-negative integer grey levels to dequantize"),
    (torch.tensor([float("nan")]), ValueError, "x contains NaN or infinite values"),
    ([1, 2], TypeError, "x must be a torch.Tensor or numpy array, got list")])
def test_dequantize_rejects_bad_input(bad, error, message):
    with pytest.raises(error, match=message):
        data.dequantize(bad)


def test_binarize():
    x = torch.tensor([[0.0, 8.0, 9.0, 16.0]])
    assert torch.equal(data.binarize(x, 17), torch.tensor([[0.0, 0.0, 1.0, 1.0]]))
    stochastic = data.binarize(x.expand(20000, 4), 17, stochastic=True, generator=torch.Generator().manual_seed(0))
    assert torch.allclose(stochastic.mean(0), x[0] / 16, atol=0.02)
    with pytest.raises(ValueError, match=r"x must lie in \[0, 7\] for levels=8"):
        data.binarize(x, 8)
    with pytest.raises(ValueError, match="levels must be ≥ 2, got 1"):
        data.binarize(x, 1)


def test_energy_targets_follow_rezende_and_mohamed():
    z = torch.tensor([[2.0, 0.0], [0.0, 0.0], [1.0, 1.0]])
    u1 = 0.5 * ((z.norm(dim=1) - 2) / 0.4) ** 2 - torch.log(torch.exp(-0.5 * ((z[:, 0] - 2) / 0.6) ** 2)
                                                            + torch.exp(-0.5 * ((z[:, 0] + 2) / 0.6) ** 2))
    assert torch.allclose(data.energy("U1", z), u1)
    w1 = torch.sin(torch.pi * z[:, 0] / 2)
    assert torch.allclose(data.energy("U2", z), 0.5 * ((z[:, 1] - w1) / 0.4) ** 2)
    on_wave = torch.stack([torch.linspace(-3, 3, 7), torch.sin(torch.pi * torch.linspace(-3, 3, 7) / 2)], 1)
    for name in ("U2", "U3", "U4"):  # the sine wave z2 = w1(z1) is (one of) the lowest-energy curve(s)
        assert (data.energy(name, on_wave) <= data.energy(name, on_wave + torch.tensor([0.0, 1.0])) + 1e-6).all()
    far = torch.tensor([[6.0, math.sin(3 * math.pi)]])      # on the wave, beyond the window |z1| ≤ 4
    assert torch.allclose(data.energy("U2", far), torch.tensor([0.5 * (2 / 0.5) ** 2]), atol=1e-5)
    with pytest.raises(ValueError, match=r"name must be one of \['U1', 'U2', 'U3', 'U4'\], got 'U5'"):
        data.energy("U5", z)
    with pytest.raises(ValueError, match="z must have last dimension 2"):
        data.energy("U1", torch.zeros(3, 3))


@pytest.mark.parametrize("name", ["U1", "U2", "U3", "U4"])
def test_energy_targets_are_normalisable(name):
    """exp(−U) has finite mass: the mass on [−6, 6]² and on [−9, 9]² agree (nothing escapes to infinity)."""
    def log_mass(limit, n):
        axis = torch.linspace(-limit, limit, n, dtype=torch.float64)
        z = torch.stack(torch.meshgrid(axis, axis, indexing="xy"), -1).reshape(-1, 2)
        return torch.logsumexp(-data.energy(name, z), 0) + 2 * torch.log(axis[1] - axis[0])
    assert abs(log_mass(6.0, 601) - log_mass(9.0, 901)) < 1e-3


def test_planar_flow_fitted_by_reverse_kl_approaches_an_energy_target():
    """KL(q ‖ p) = E_q[log q(z) + U(z)] + log Z falls as planar layers learn U1 (sample_with_log_prob)."""
    from course_lib.models import Flow
    from course_lib.nn import transforms as T

    torch.manual_seed(0)
    flow = Flow(T.Inverse(T.Composite([T.Planar(2) for _ in range(8)])))
    optimizer = torch.optim.Adam(flow.parameters(), lr=1e-2)

    def objective(n=500, seed=0):
        z, log_q = flow.sample_with_log_prob(n, torch.Generator().manual_seed(seed))
        return (log_q + data.energy("U1", z)).mean()

    before = objective(4000, 99).item()
    for step in range(400):
        optimizer.zero_grad()
        objective(seed=step).backward()
        optimizer.step()
    after = objective(4000, 99).item()
    assert after < before - 1.0, (before, after)


def test_quantize_inverts_dequantize_and_clamps_outliers():
    x = torch.randint(0, 17, (50, 1, 8, 8)).float()
    assert torch.equal(data.quantize(data.dequantize(x), 17), x)
    assert data.quantize(torch.tensor([-3.2, 0.99, 16.5, 40.0]), 17).tolist() == [0.0, 0.0, 16.0, 16.0]
    with pytest.raises(ValueError, match="NaN"):
        data.quantize(torch.tensor([float("nan")]), 17)
    with pytest.raises(ValueError, match="levels must be ≥ 2"):
        data.quantize(x, 1)
