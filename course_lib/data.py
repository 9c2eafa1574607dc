"""Data, all offline: toy 2D samplers, the digits split, MNIST-style IDX files, dequantization.

Toy samplers return float32 tensors of shape (n, 2). Image splits hold tensors of shape
(N, 1, H, W) whose values are the integer grey levels 0 .. levels-1 stored as float32.
"""

from __future__ import annotations

import gzip
import math
import os
import struct
import zlib
from pathlib import Path
from typing import NamedTuple

import numpy as np
import torch

from . import randomness
from .validation import (as_float_tensor, check_tensor, finite_float, generator_or_none, positive_float,
                         positive_int)

# ---------------------------------------------------------------------------------------------
# Toy 2D distributions
# ---------------------------------------------------------------------------------------------


def _uniform(n, generator, *shape):
    return randomness.uniform((n, *shape), generator=generator)


def _normal(n, generator, *shape):
    return randomness.normal((n, *shape), generator=generator)


def moons(n: int, noise: float = 0.05, generator: torch.Generator | None = None) -> torch.Tensor:
    """Two interleaving half circles with Gaussian noise of std ``noise``; shape (n, 2)."""
    n = positive_int(n, "n")
    noise = positive_float(noise, "noise", allow_zero=True)
    generator_or_none(generator)
    upper = _uniform(n, generator) < 0.5
    angle = math.pi * _uniform(n, generator)
    x = torch.where(upper, torch.cos(angle), 1 - torch.cos(angle))
    y = torch.where(upper, torch.sin(angle), 0.5 - torch.sin(angle))
    return torch.stack([x, y], 1) + noise * _normal(n, generator, 2)


def ring_centres(k: int = 8, radius: float = 2.0) -> torch.Tensor:
    """``k`` points evenly spaced on a circle of ``radius``, the first at angle 0; shape (k, 2)."""
    k, radius = positive_int(k, "k"), positive_float(radius, "radius")
    angle = torch.arange(k, dtype=torch.get_default_dtype()) * (2 * math.pi / k)
    return radius * torch.stack([torch.cos(angle), torch.sin(angle)], 1)


def grid_centres(side: int = 5, spacing: float = 2.0) -> torch.Tensor:
    """A ``side`` × ``side`` grid of points ``spacing`` apart, centred on the origin; shape (side², 2)."""
    side, spacing = positive_int(side, "side"), positive_float(spacing, "spacing")
    line = (torch.arange(side, dtype=torch.get_default_dtype()) - (side - 1) / 2) * spacing
    return torch.cartesian_prod(line, line)


def gaussian_mixture(n: int, centres, std: float, generator: torch.Generator | None = None) -> torch.Tensor:
    """Equally weighted isotropic Gaussians of standard deviation ``std`` at ``centres`` (K, D); shape (n, D).
    The 2D toys of the GAN literature: ``ring_centres(8, 2.0)`` with std 0.02, ``grid_centres(5, 2.0)``
    with std 0.05."""
    n, std = positive_int(n, "n"), positive_float(std, "std")
    centres = as_float_tensor(centres, "centres", ndim=2)
    generator_or_none(generator)
    k = randomness.integers(len(centres), (n,), generator=generator)
    return centres[k] + std * _normal(n, generator, centres.shape[1])


def eight_gaussians(n: int, radius: float = 2.0, std: float = 0.2,
                    generator: torch.Generator | None = None) -> torch.Tensor:
    """Mixture of 8 equally weighted isotropic Gaussians on a circle; shape (n, 2)."""
    return gaussian_mixture(n, ring_centres(8, radius), std, generator)


def rings(n: int, radii: tuple[float, ...] = (1.0, 2.0, 3.0), std: float = 0.08,
          generator: torch.Generator | None = None) -> torch.Tensor:
    """Concentric rings, the points spread over rings in proportion to circumference; shape (n, 2)."""
    n = positive_int(n, "n")
    std = positive_float(std, "std")
    generator_or_none(generator)
    if isinstance(radii, (torch.Tensor, np.ndarray)):
        radii = radii.tolist()
    if not isinstance(radii, (tuple, list)):
        raise TypeError(f"radii must be a tuple of numbers, got {type(radii).__name__}")
    if len(radii) == 0:
        raise ValueError("radii must name at least one radius")
    radii_t = torch.tensor([positive_float(r, "radii") for r in radii])
    ring = randomness.categorical(radii_t, n, generator=generator)
    angle = 2 * math.pi * _uniform(n, generator)
    r = radii_t[ring] + std * _normal(n, generator)
    return torch.stack([r * torch.cos(angle), r * torch.sin(angle)], 1)


def checkerboard(n: int, generator: torch.Generator | None = None) -> torch.Tensor:
    """Uniform on the black squares of a 4×4 checkerboard covering [-2, 2]²; shape (n, 2)."""
    n = positive_int(n, "n")
    generator_or_none(generator)
    x = 4 * _uniform(n, generator) - 2
    # In each column pick one of the two black squares of that column (rows of matching parity).
    column = torch.floor(x + 2)
    row = 2 * randomness.integers(2, (n,), generator=generator) + (column % 2)
    y = row + _uniform(n, generator) - 2
    return torch.stack([x, y], 1)


def spirals(n: int, noise: float = 0.05, generator: torch.Generator | None = None) -> torch.Tensor:
    """Two interleaved Archimedean spirals with Gaussian noise; shape (n, 2)."""
    n = positive_int(n, "n")
    noise = positive_float(noise, "noise", allow_zero=True)
    generator_or_none(generator)
    t = torch.sqrt(_uniform(n, generator)) * 3 * math.pi
    sign = torch.where(_uniform(n, generator) < 0.5, -1.0, 1.0)
    points = sign[:, None] * torch.stack([t * torch.cos(t), t * torch.sin(t)], 1) / (3 * math.pi) * 2
    return points + noise * _normal(n, generator, 2)


def swiss_roll(n: int, noise: float = 0.05, generator: torch.Generator | None = None) -> torch.Tensor:
    """The 2D Swiss roll of the WGAN-GP toys: t ~ U[1.5π, 4.5π], x = t (cos t, sin t) / 5 plus Gaussian noise of
    std ``noise``; shape (n, 2), within about [−2.8, 2.8]². A one-dimensional manifold spiralling outwards."""
    n = positive_int(n, "n")
    noise = positive_float(noise, "noise", allow_zero=True)
    generator_or_none(generator)
    t = 1.5 * math.pi * (1 + 2 * _uniform(n, generator))
    return torch.stack([t * torch.cos(t), t * torch.sin(t)], 1) / 5 + noise * _normal(n, generator, 2)


def parallel_lines(n: int, theta: float, generator: torch.Generator | None = None) -> torch.Tensor:
    """Samples of P_θ: x = θ, y ~ U[0, 1] — a vertical segment at horizontal position θ; shape (n, 2).

    With P_0 the segment at x = 0, this is the example of chapter 07 (Arjovsky et al., 2017):
    for θ ≠ 0, KL(P_0 ‖ P_θ) = ∞, JS(P_0, P_θ) = ln 2 and W(P_0, P_θ) = |θ|.
    """
    n = positive_int(n, "n")
    theta = finite_float(theta, "theta")
    generator_or_none(generator)
    return torch.stack([torch.full((n,), theta), _uniform(n, generator)], 1)


def labelled_blobs(n: int, generator: torch.Generator | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """Two Gaussian classes in 2D: class 0 ("blue") around (-1, 0), class 1 ("red") around (1, 0).

    Returns x of shape (n, 2) and integer labels y of shape (n,). Used for the "confident
    classifier, unlikely input" demo: far from both blobs a classifier is still sure of its label.
    """
    n = positive_int(n, "n", minimum=2)
    generator_or_none(generator)
    y = torch.arange(n) % 2
    centers = torch.tensor([[-1.0, 0.0], [1.0, 0.0]])
    x = centers[y] + 0.5 * _normal(n, generator, 2)
    return x, y


def three_clusters(n: int, generator: torch.Generator | None = None) -> torch.Tensor:
    """Three overlapping Gaussian clusters of different shapes (the EM demo of chapter 02); shape (n, 2)."""
    n = positive_int(n, "n")
    generator_or_none(generator)
    scales = torch.tensor([[[1.0, 0.0], [0.6, 0.5]], [[0.6, 0.0], [0.0, 0.6]], [[0.4, 0.5], [0.0, 1.2]]])
    centers = torch.tensor([[-2.0, 0.0], [1.5, 1.5], [1.5, -2.0]])
    k = torch.arange(n) % 3
    return centers[k] + torch.einsum("nij,nj->ni", scales[k], _normal(n, generator, 2))


def _energy_u1(z):
    ring = 0.5 * ((z.norm(dim=1) - 2) / 0.4) ** 2
    return ring - torch.logaddexp(-0.5 * ((z[:, 0] - 2) / 0.6) ** 2, -0.5 * ((z[:, 0] + 2) / 0.6) ** 2)


def _w1(z):
    return torch.sin(2 * math.pi * z[:, 0] / 4)


def _window(z):
    # U2-U4 as published are constant along z1, so exp(-U) has infinite mass and KL(q || p) is undefined (q
    # could spread along z1 for ever); this soft wall outside |z1| <= 4, the window Rezende & Mohamed plot,
    # makes them proper densities without changing them inside it.
    return 0.5 * ((z[:, 0].abs() - 4).clamp(min=0) / 0.5) ** 2


def _energy_u2(z):
    return 0.5 * ((z[:, 1] - _w1(z)) / 0.4) ** 2 + _window(z)


def _energy_u3(z):
    w2 = 3 * torch.exp(-0.5 * ((z[:, 0] - 1) / 0.6) ** 2)
    return -torch.logaddexp(-0.5 * ((z[:, 1] - _w1(z)) / 0.35) ** 2,
                            -0.5 * ((z[:, 1] - _w1(z) + w2) / 0.35) ** 2) + _window(z)


def _energy_u4(z):
    w3 = 3 * torch.sigmoid((z[:, 0] - 1) / 0.3)
    return -torch.logaddexp(-0.5 * ((z[:, 1] - _w1(z)) / 0.4) ** 2,
                            -0.5 * ((z[:, 1] - _w1(z) + w3) / 0.35) ** 2) + _window(z)


ENERGIES = {"U1": _energy_u1, "U2": _energy_u2, "U3": _energy_u3, "U4": _energy_u4}


def energy(name: str, z) -> torch.Tensor:
    """Rezende & Mohamed's (2015) 2D targets p(z) ∝ exp(−U(z)): U1 (a ring split in two), U2 (a sine wave),
    U3 and U4 (a sine wave with a second, bent branch); U2-U4 get a soft wall outside |z1| ≤ 4 so that exp(−U)
    is normalisable (as published they are constant along z1). Returns U(z) for z of shape (n, 2) → (n,); the
    unnormalised log-density is −U. Flows learn them by reverse KL, E_q[log q(z) + U(z)]."""
    if not isinstance(name, str) or name not in ENERGIES:
        raise ValueError(f"name must be one of {sorted(ENERGIES)}, got {name!r}")
    z = as_float_tensor(z, "z", ndim=2, last_dim=2)
    return ENERGIES[name](z)


TOY_SAMPLERS = {"moons": moons, "eight_gaussians": eight_gaussians, "rings": rings,
                "checkerboard": checkerboard, "spirals": spirals,
                "three_clusters": three_clusters}


def toy(name: str, n: int, generator: torch.Generator | None = None) -> torch.Tensor:
    """Sample ``n`` points from the toy distribution called ``name`` (see ``TOY_SAMPLERS``)."""
    if not isinstance(name, str) or name not in TOY_SAMPLERS:
        raise ValueError(f"name must be one of {sorted(TOY_SAMPLERS)}, got {name!r}")
    return TOY_SAMPLERS[name](n, generator=generator)


# ---------------------------------------------------------------------------------------------
# Image data sets
# ---------------------------------------------------------------------------------------------


class Dataset(NamedTuple):
    """Images x of shape (N, 1, H, W) (grey levels as float32) and integer labels y of shape (N,)."""
    x: torch.Tensor
    y: torch.Tensor


class ImageSplit(NamedTuple):
    """Train / validation / test parts of an image data set with ``levels`` grey levels."""
    train: Dataset
    val: Dataset
    test: Dataset
    levels: int


def load_digits() -> ImageSplit:
    """scikit-learn's 8×8 digits (17 grey levels, 0..16), split as in Tomczak's book code.

    The first 1000 images train, the next 350 validate, the last 447 test. No download: the
    data ship with scikit-learn.
    """
    from sklearn.datasets import load_digits as sklearn_digits

    bunch = sklearn_digits()
    x = torch.tensor(bunch.data, dtype=torch.float32).reshape(-1, 1, 8, 8)
    y = torch.tensor(bunch.target, dtype=torch.int64)
    parts = [slice(0, 1000), slice(1000, 1350), slice(1350, None)]
    train, val, test = (Dataset(x[p], y[p]) for p in parts)
    return ImageSplit(train, val, test, levels=17)


_IDX_DTYPES = {0x08: ">u1", 0x09: ">i1", 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}


def read_idx(path: str | os.PathLike) -> np.ndarray:
    """Read one IDX file (the MNIST format), raw or gzip-compressed, into a NumPy array."""
    if not isinstance(path, (str, os.PathLike)):
        raise TypeError(f"path must be a str or os.PathLike, got {type(path).__name__}")
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"path: no IDX file at {path}")
    if path.suffix == ".gz":
        try:
            with gzip.open(path, "rb") as f:
                raw = f.read()
        except (OSError, EOFError, zlib.error) as error:  # not gzip data, or cut short
            raise ValueError(f"path: {path} is not a whole gzip file ({error}); copy it again") from None
    else:
        raw = path.read_bytes()
    if len(raw) < 4 or raw[0] != 0 or raw[1] != 0 or raw[2] not in _IDX_DTYPES:
        raise ValueError(f"path: {path} is not an IDX file (bad magic number)")
    if raw[3] == 0:
        raise ValueError(f"path: {path} is not an IDX file of an array: its header announces 0 dimensions")
    dtype, ndim = np.dtype(_IDX_DTYPES[raw[2]]), raw[3]
    header = 4 + 4 * ndim
    if len(raw) < header:
        raise ValueError(f"path: {path} is truncated (header)")
    shape = struct.unpack(f">{ndim}I", raw[4:header])
    expected = int(np.prod(shape, dtype=np.int64)) * dtype.itemsize
    if len(raw) - header != expected:
        raise ValueError(f"path: {path} holds {len(raw) - header} data bytes, its header "
                         f"announces shape {shape} ({expected} bytes)")
    return np.frombuffer(raw, dtype=dtype, offset=header).reshape(shape).astype(dtype.newbyteorder("="))


_MNIST_FOLDERS = {"mnist": "mnist", "fashion_mnist": "fashion_mnist"}
_MNIST_FILES = {"train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
                "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte")}


def data_dir() -> Path:
    """Where local data files live: ``$DGM_DATA``, else ``~/dgm_data``."""
    return Path(os.environ.get("DGM_DATA", Path.home() / "dgm_data"))


def _find_idx(folder: Path, stem: str, name: str) -> Path:
    for candidate in (folder / stem, folder / f"{stem}.gz"):
        if candidate.is_file():
            return candidate
    raise FileNotFoundError(
        f"{name}: {stem}[.gz] not found in {folder}. Nothing is downloaded at run time: put the four "
        f"IDX files of {name} (train-images-idx3-ubyte, train-labels-idx1-ubyte, t10k-images-idx3-ubyte, "
        f"t10k-labels-idx1-ubyte, raw or .gz) in that folder, or point $DGM_DATA at the folder that "
        f"holds '{folder.name}/'.")


def load_mnist(name: str = "mnist", n_val: int = 10000) -> ImageSplit:
    """MNIST or Fashion-MNIST from local IDX files in ``$DGM_DATA/<name>/`` (256 grey levels, 28×28).

    The last ``n_val`` training images form the validation part; the official test set is the test part.
    """
    if not isinstance(name, str) or name not in _MNIST_FOLDERS:
        raise ValueError(f"name must be one of {sorted(_MNIST_FOLDERS)}, got {name!r}")
    n_val = positive_int(n_val, "n_val", minimum=0)
    folder = data_dir() / _MNIST_FOLDERS[name]
    parts = {}
    for part, (images_stem, labels_stem) in _MNIST_FILES.items():
        images_path, labels_path = _find_idx(folder, images_stem, name), _find_idx(folder, labels_stem, name)
        images, labels = read_idx(images_path), read_idx(labels_path)
        if images.dtype != np.uint8 or images.ndim != 3 or images.shape[1:] != (28, 28) or len(images) == 0:
            raise ValueError(f"{name}: {images_path} must hold 28×28 images of unsigned bytes (IDX type 0x08), "
                             f"shape (N, 28, 28), got {images.dtype} of shape {images.shape}")
        if labels.dtype != np.uint8 or labels.ndim != 1:
            raise ValueError(f"{name}: {labels_path} must hold labels as unsigned bytes (IDX type 0x08), "
                             f"shape (N,), got {labels.dtype} of shape {labels.shape}")
        if len(images) != len(labels):
            raise ValueError(f"{name}: {images_path} holds {len(images)} images but {labels_path} "
                             f"{len(labels)} labels")
        if labels.max() > 9:
            first = int(np.argmax(labels > 9))
            raise ValueError(f"{name}: {labels_path} must hold labels 0..9, got {labels[first]} at index {first}")
        parts[part] = Dataset(torch.tensor(images, dtype=torch.float32).unsqueeze(1),
                              torch.tensor(labels, dtype=torch.int64))
    train = parts["train"]
    if n_val >= len(train.x):
        raise ValueError(f"n_val must be smaller than the {len(train.x)} training images, got {n_val}")
    cut = len(train.x) - n_val
    return ImageSplit(Dataset(train.x[:cut], train.y[:cut]), Dataset(train.x[cut:], train.y[cut:]),
                      parts["test"], levels=256)


def load_dataset(name: str) -> ImageSplit:
    """The chapters' scale knob: ``"digits"`` (CPU, bundled), ``"mnist"`` or ``"fashion_mnist"`` (local files)."""
    if name == "digits":
        return load_digits()
    if isinstance(name, str) and name in _MNIST_FOLDERS:
        return load_mnist(name)
    raise ValueError(f"name must be 'digits', 'mnist' or 'fashion_mnist', got {name!r}")


def dequantize(x, generator: torch.Generator | None = None) -> torch.Tensor:
    """Uniform dequantization: integer levels k become k + u, u ~ U[0, 1).

    A continuous density p on the dequantized data bounds the discrete log-probability from below:
    log P(k) ≥ E_u[log p(k + u)] (Theis et al., 2016). Same shape as ``x``.
    """
    x = as_float_tensor(x, "x")
    generator_or_none(generator)
    if (x < 0).any() or (x != torch.round(x)).any():
        raise ValueError("x must hold non-negative integer grey levels to dequantize")
    return x + randomness.uniform(x.shape, generator=generator, device=x.device, dtype=x.dtype)


def quantize(x, levels: int) -> torch.Tensor:
    """Grey levels from dequantized values, the inverse of ``dequantize``: ⌊x⌋ clamped to 0..levels−1 (a
    continuous model's samples that fall outside [0, levels) go to the nearest level). Same shape as ``x``."""
    x = as_float_tensor(x, "x")
    levels = positive_int(levels, "levels", minimum=2)
    return torch.floor(x).clamp(0, levels - 1)


def scale_levels(x: torch.Tensor, levels: int) -> torch.Tensor:
    """Grey levels 0..levels-1 → [-1, 1] (the input scale of the course's networks); same shape as x."""
    check_tensor(x, "x")
    levels = positive_int(levels, "levels", minimum=2)
    return x / (levels - 1) * 2 - 1


def binarize(x, levels: int, stochastic: bool = False,
             generator: torch.Generator | None = None) -> torch.Tensor:
    """Binary images from grey levels 0..levels-1: threshold at half intensity, or sample Bernoulli(x / (levels-1))."""
    x = as_float_tensor(x, "x")
    levels = positive_int(levels, "levels", minimum=2)
    generator_or_none(generator)
    if not isinstance(stochastic, bool):
        raise TypeError(f"stochastic must be a bool, got {type(stochastic).__name__}")
    if (x < 0).any() or (x > levels - 1).any():
        raise ValueError(f"x must lie in [0, {levels - 1}] for levels={levels}")
    intensity = x / (levels - 1)
    if stochastic:
        return randomness.bernoulli(intensity, generator=generator)
    return (intensity > 0.5).to(x.dtype)
