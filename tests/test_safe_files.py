"""Nothing lost, nothing silent: checkpoints, the leaderboard and data files that cannot be read back or are
not what they claim raise errors naming the argument or the file (and the row), and a failed write leaves the
good file on disk as it was, with no temporary file beside it."""

import gzip
import json
import os
import re
import struct
from collections import OrderedDict

import numpy as np
import pytest
import torch
from torch import nn

from course_lib import data, storage
from course_lib.evaluation import leaderboard
from course_lib.evaluation.likelihood import bits_per_dim, mean_nll
from course_lib.models import GAN, DensityModel, MLPDiscriminator, MLPGenerator
from course_lib.runtime import cache_dir
from course_lib.train import History, fit, fit_adversarial, minimize


class Gaussian(DensityModel):
    """A learnable N(μ, diag σ²) that counts its log_prob calls (so a test can tell that nothing trained)."""

    def __init__(self, dim=2):
        super().__init__()
        self.mean = nn.Parameter(torch.zeros(dim))
        self.log_std = nn.Parameter(torch.zeros(dim))
        self.calls = 0

    def _log_prob(self, x, context):
        self.calls += 1
        return torch.distributions.Normal(self.mean, self.log_std.exp()).log_prob(x).sum(1)

    def _sample(self, n, generator, context):
        return self.mean + self.log_std.exp() * torch.randn(n, len(self.mean), generator=generator)


def _examples(n=64, dim=2):
    return torch.randn(n, dim, generator=torch.Generator().manual_seed(0))


def _reverse_kl():
    module = nn.ParameterDict({"mean": nn.Parameter(torch.zeros(1))})
    return module, lambda generator, step: ((module["mean"] - 3) ** 2).sum()


def _gan():
    torch.manual_seed(0)
    return GAN(MLPGenerator(2, 2, 8, 1), MLPDiscriminator(2, 8, 1))


def _no_temporary_files(folder):
    return not [p.name for p in folder.iterdir() if p.name.endswith(".tmp")]


# --- storage -----------------------------------------------------------------------------------------------


class Custom:
    pass


@pytest.mark.parametrize("state, message", [
    ({"w": np.ones(3)}, r"state\['w'\] is a ndarray, which load_checkpoint \(weights_only=True\) cannot read back"),
    ({"history": History()}, r"state\['history'\] is a History, which load_checkpoint"),
    ({"a": [1, {"b": Custom()}]}, r"state\['a'\]\[1\]\['b'\] is a Custom"),
    ({"best_val": np.float64(1.0)}, r"state\['best_val'\] is a float64"),
    ({"epoch": np.int64(3)}, r"state\['epoch'\] is an int64"),
    ({"layer": nn.Linear(2, 2)}, r"state\['layer'\] is a Linear"),
    ({Custom(): 1}, r"a key of state is a Custom"),
])
def test_save_checkpoint_refuses_what_load_checkpoint_cannot_read_and_keeps_the_old_file(tmp_path, state, message):
    path = tmp_path / "run.pt"
    storage.save_checkpoint({"w": torch.ones(3)}, path)
    with pytest.raises(TypeError, match=message):
        storage.save_checkpoint(state, path)
    assert torch.equal(storage.load_checkpoint(path)["w"], torch.ones(3))      # the good checkpoint survives
    assert _no_temporary_files(tmp_path)


def test_save_checkpoint_accepts_everything_load_checkpoint_reads(tmp_path):
    state = {"tensor": torch.arange(3), "parameter": nn.Parameter(torch.ones(2)), "int": 3, "float": 0.5,
             "inf": float("inf"), "bool": True, "none": None, "str": "adam", "bytes": b"\x00", "complex": 1 + 2j,
             "dtype": torch.float64, "device": torch.device("cpu"), "size": torch.Size([2, 3]),
             "nested": OrderedDict(a=[1, (2.0, {"b": torch.zeros(1)})], c={1, 2}), 7: "an int key",
             "generator": torch.Generator().manual_seed(0).get_state(),
             "optimizer": torch.optim.Adam(nn.Linear(2, 2).parameters()).state_dict()}
    storage.save_checkpoint(state, tmp_path / "all.pt")
    loaded = storage.load_checkpoint(tmp_path / "all.pt")
    assert loaded.keys() == state.keys() and loaded["nested"]["a"][1][0] == 2.0 and loaded[7] == "an int key"


def test_checkpoint_paths_that_are_folders_or_under_a_file_are_refused(tmp_path):
    (tmp_path / "a_file").write_text("x")
    for call in (lambda p: storage.save_checkpoint({"w": 1}, p), lambda p: storage.atomic_write(p, lambda f: None)):
        with pytest.raises(ValueError, match=f"path: {re.escape(str(tmp_path))} is a folder; pass the path of a file"):
            call(tmp_path)
        with pytest.raises(ValueError, match="path: cannot write .*a_file/run.pt, because .*a_file is a file, not a "
                                             "folder"):
            call(tmp_path / "a_file" / "run.pt")
    with pytest.raises(ValueError, match="path: .* is a folder, not a checkpoint file"):
        storage.load_checkpoint(tmp_path)
    (tmp_path / "empty.pt").write_bytes(b"")
    with pytest.raises(ValueError, match=r"empty.pt is not a readable checkpoint \(the file is empty\)"):
        storage.load_checkpoint(tmp_path / "empty.pt")
    torch.save([1, 2], tmp_path / "list.pt")
    with pytest.raises(ValueError, match="list.pt is not a checkpoint: it holds a list, not a dict"):
        storage.load_checkpoint(tmp_path / "list.pt")
    assert _no_temporary_files(tmp_path)


# --- train: checkpoints ------------------------------------------------------------------------------------

def _fit(checkpoint, model=None, **kwargs):
    return fit(model or Gaussian(), _examples(), epochs=2, checkpoint=checkpoint, progress=False, **kwargs)


def _minimize(checkpoint, **kwargs):
    module, objective = _reverse_kl()
    return minimize(module, objective, steps=2, checkpoint=checkpoint, progress=False, device="cpu", **kwargs)


def _fit_adversarial(checkpoint, **kwargs):
    return fit_adversarial(_gan(), _examples(16), steps=2, checkpoint=checkpoint, progress=False, device="cpu",
                           **kwargs)


@pytest.mark.parametrize("loop, what, lacking", [
    (_fit, "training", r"\['shuffler', 'history', 'best_model', 'best_val', 'epoch'\]"),
    (_minimize, "minimize", r"\['record', 'step', 'noise'\]"),
    (_fit_adversarial, "fit_adversarial", r"\['optimizer_d', 'optimizer_g', 'shuffler', 'noise', 'history', 'step'\]"),
])
def test_a_checkpoint_lacking_keys_is_refused_naming_the_path_and_the_fix(tmp_path, loop, what, lacking):
    path = tmp_path / "old.pt"
    torch.save({"model": {}, "optimizer": {}}, path)
    with pytest.raises(ValueError, match=f"checkpoint: {re.escape(str(path))} does not hold a {what} state of this "
                                         f".*: it lacks the keys {lacking}; delete the file, or pass another "
                                         "checkpoint path, to train afresh"):
        loop(path)


def test_a_checkpoint_of_a_different_model_is_refused(tmp_path):
    path = tmp_path / "run.pt"
    _fit(path, Gaussian(dim=2))
    with pytest.raises(ValueError, match=r"run.pt does not hold a training state of this Gaussian: it was written "
                                         r"for a different model or loop \(.*size mismatch.*\); delete the file"):
        fit(Gaussian(dim=3), _examples(dim=3), epochs=2, checkpoint=path, progress=False)
    state = storage.load_checkpoint(path)
    storage.save_checkpoint({**state, "shuffler": torch.zeros(3), "history": {"loss": []}}, path)
    with pytest.raises(ValueError, match="run.pt does not hold a training state of this Gaussian: it was written "
                                         "for a different model or loop"):
        _fit(path)


def test_a_damaged_checkpoint_is_refused_naming_checkpoint(tmp_path):
    (tmp_path / "junk.pt").write_bytes(b"not a checkpoint")
    for loop in (_fit, _minimize, _fit_adversarial):
        with pytest.raises(ValueError, match=r"checkpoint: .*junk.pt is not a readable checkpoint .*; delete the "
                                             "file, or pass another checkpoint path, to train afresh"):
            loop(tmp_path / "junk.pt")


@pytest.mark.parametrize("loop", [_fit, _minimize, _fit_adversarial])
def test_a_checkpoint_path_that_cannot_be_written_is_refused_before_training(tmp_path, loop):
    (tmp_path / "a_file").write_text("x")
    with pytest.raises(ValueError, match=f"checkpoint: {re.escape(str(tmp_path))} is a folder; pass the path of a "
                                         "file"):
        loop(tmp_path)
    with pytest.raises(ValueError, match="checkpoint: cannot write .*run.pt, because .*a_file is a file, not a folder"):
        loop(tmp_path / "a_file" / "run.pt")
    model = Gaussian()
    with pytest.raises(ValueError, match="checkpoint: .* is a folder"):
        _fit(tmp_path, model)
    assert model.calls == 0                                 # refused up front, not after an epoch


# --- train: keyword arguments ------------------------------------------------------------------------------

_BAD_LOOP_ARGUMENTS = [
    ({"seed": True}, TypeError, "seed must be an int, got bool"),
    ({"seed": 1.5}, TypeError, "seed must be an int, got float"),
    ({"seed": -1}, ValueError, "seed must be ≥ 0, got -1"),
    ({"seed": 2**64}, ValueError, r"seed must be < 2\*\*63, got 18446744073709551616"),
    ({"device": "gpu"}, ValueError, "device must name a device such as 'cpu', 'cuda', 'cuda:1' or 'mps', got 'gpu'"),
    ({"device": 3}, TypeError, "device must be a torch.device, a str such as 'cuda', or None, got int"),
    ({"progress": "yes"}, TypeError, "progress must be a bool, got str"),
    ({"checkpoint": 3}, TypeError, "checkpoint must be a str, os.PathLike or None, got int"),
]


@pytest.mark.parametrize("kwargs, error, message", _BAD_LOOP_ARGUMENTS + [
    ({"epochs": True}, TypeError, "epochs must be an int, got bool"),
    ({"batch_size": 0}, ValueError, "batch_size must be ≥ 1, got 0"),
    ({"lr": float("nan")}, ValueError, "lr must be finite and > 0, got nan"),
    ({"weight_decay": -1.0}, ValueError, "weight_decay must be finite and ≥ 0, got -1.0"),
    ({"patience": 1.5}, TypeError, "patience must be an int, got float"),
    ({"dequantize": 1}, TypeError, "dequantize must be a bool, got int"),
])
def test_fit_checks_its_keyword_arguments(kwargs, error, message):
    model = Gaussian()
    with pytest.raises(error, match=message):
        fit(model, _examples(), **{"epochs": 1, "progress": False, **kwargs})
    assert model.calls == 0


@pytest.mark.parametrize("kwargs, error, message", _BAD_LOOP_ARGUMENTS + [
    ({"steps": True}, TypeError, "steps must be an int, got bool"),
    ({"lr": 0}, ValueError, "lr must be finite and > 0, got 0.0"),
])
def test_minimize_checks_its_keyword_arguments(kwargs, error, message):
    module, objective = _reverse_kl()
    with pytest.raises(error, match=message):
        minimize(module, objective, **{"steps": 1, "progress": False, **kwargs})


@pytest.mark.parametrize("kwargs, error, message", _BAD_LOOP_ARGUMENTS + [
    ({"betas": (True, 0.9)}, TypeError, "betas must be a number, got bool"),
    ({"betas": (float("nan"), 0.9)}, ValueError, "betas must be finite, got nan"),
    ({"betas": (0.5,)}, TypeError, r"betas must be a tuple of two numbers in \[0, 1\), got \(0.5,\)"),
    ({"lr_decay": None}, TypeError, "lr_decay must be a bool, got NoneType"),
    ({"snapshot_every": -1}, ValueError, "snapshot_every must be ≥ 0, got -1"),
])
def test_fit_adversarial_checks_its_keyword_arguments(kwargs, error, message):
    with pytest.raises(error, match=message):
        fit_adversarial(_gan(), _examples(16), **{"steps": 1, "progress": False, **kwargs})


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the message on a machine without CUDA")
def test_cuda_without_cuda_is_refused_clearly():
    for device in ("cuda", torch.device("cuda:1")):
        with pytest.raises(ValueError, match="device is .*cuda.*, but CUDA is not available on this machine"):
            fit(Gaussian(), _examples(), epochs=1, progress=False, device=device)


def test_minimize_refuses_a_module_without_parameters_and_a_loss_without_gradient():
    with pytest.raises(ValueError, match="module has no parameters to train"):
        minimize(nn.Module(), lambda generator, step: torch.zeros(()), steps=1, progress=False)
    module, _ = _reverse_kl()
    with pytest.raises(ValueError, match="objective must return a loss computed from the module's parameters"):
        minimize(module, lambda generator, step: torch.tensor(1.0), steps=1, progress=False)


# --- leaderboard -------------------------------------------------------------------------------------------

@pytest.mark.parametrize("nll", [np.float32(80.5), np.float64(80.5), torch.tensor(80.5), torch.tensor(80.5).double(),
                                 np.array(80.5), 80.5, 80])
def test_record_accepts_any_real_number(nll):
    row = leaderboard.record("m", 1, nll, 64)
    assert type(row["nll_nats"]) is float and row["nll_nats"] == pytest.approx(80.5 if nll != 80 else 80)
    assert leaderboard.entries() == [row]
    assert bits_per_dim(nll, 64) == pytest.approx(row["bits_per_dim"])


@pytest.mark.parametrize("kwargs, error, message", [
    ({"nll_nats": True}, TypeError, "nll_nats must be a number, got bool"),
    ({"nll_nats": "80"}, TypeError, "nll_nats must be a number, got str"),
    ({"nll_nats": np.float64("nan")}, ValueError, "nll_nats must be finite, got nan"),
    ({"nll_nats": torch.tensor(float("inf"))}, ValueError, "nll_nats must be finite, got inf"),
    ({"nll_nats": torch.tensor([80.0])}, ValueError, r"nll_nats must be a number or a 0-dim tensor, got shape \(1,\)"),
    ({"nll_nats": -3.0}, ValueError, "nll_nats must be ≥ 0 for bound='exact': a discrete model's probabilities"),
    ({"dims": 64.0}, TypeError, "dims must be an int, got float"),
    ({"dims": True}, TypeError, "dims must be an int, got bool"),
    ({"dataset": ""}, TypeError, "dataset must be a non-empty str, got ''"),
    ({"bound": None}, ValueError, "bound must be one of"),
])
def test_record_refuses_bad_values(kwargs, error, message):
    with pytest.raises(error, match=message):
        leaderboard.record(**{"model": "m", "chapter": 1, "nll_nats": 80.0, "dims": 64, **kwargs})


def test_a_continuous_bound_may_be_negative():
    row = leaderboard.record("flow", 5, -12.5, 2, dataset="moons", bound="dequantization bound")
    assert row["nll_nats"] == -12.5


_BAD_LEADERBOARDS = [
    ("{", r"is not valid JSON \(.*\)"),
    ('[{"model": "a", "chapter": 1, "dat', r"is not valid JSON \(.*\)"),             # truncated
    ("", r"is not valid JSON \(.*\)"),
    ("{}", "holds a JSON dict, not a list of rows"),
    ("[1, 2]", "row 0 is of type int, not an object"),
    ('[{"model": "a"}]', r"row 0 lacks the keys \['chapter', 'dataset', 'nll_nats', 'bits_per_dim', 'bound'\]"),
    (json.dumps([{"model": "a", "chapter": 1, "dataset": "digits", "nll_nats": 1.0, "bits_per_dim": 0.1,
                  "bound": "exact"}, {"model": "b", "chapter": 2, "dataset": "digits", "nll_nats": float("nan"),
                                      "bits_per_dim": 0.1, "bound": "exact"}]),
     "row 1 has nll_nats nan, not a finite number"),
    (json.dumps([{"model": "a", "chapter": "1", "dataset": "digits", "nll_nats": 1.0, "bits_per_dim": 0.1,
                  "bound": "exact"}]), "row 0 has chapter '1', not an int ≥ 1"),
    (json.dumps([{"model": "a", "chapter": 1, "dataset": "digits", "nll_nats": 1.0, "bits_per_dim": 0.1,
                  "bound": "guess"}]), r"row 0 has bound 'guess', not one of \('exact', .*\)"),
]


@pytest.mark.parametrize("text, problem", _BAD_LEADERBOARDS)
def test_a_bad_leaderboard_file_is_named_and_never_overwritten(text, problem):
    path = cache_dir() / "leaderboard.json"
    path.write_text(text)
    message = f"{re.escape(str(path))}:? {problem}: delete it to start the leaderboard afresh"
    for call in (leaderboard.entries, leaderboard.table, lambda: leaderboard.record("m", 1, 80.0, 64)):
        with pytest.raises(ValueError, match=message):
            call()
    assert path.read_text() == text and _no_temporary_files(path.parent)


def test_a_folder_in_place_of_the_leaderboard_is_named():
    path = cache_dir() / "leaderboard.json"
    path.mkdir()
    with pytest.raises(ValueError, match=f"{re.escape(str(path))} is not a file: delete it"):
        leaderboard.record("m", 1, 80.0, 64)


@pytest.mark.parametrize("target", ["json.dumps", "os.replace", "os.fsync"])
def test_a_failed_leaderboard_write_keeps_the_old_file_and_leaves_no_temporary_file(monkeypatch, target):
    leaderboard.record("kept", 1, 90.0, 64)
    path = cache_dir() / "leaderboard.json"
    before = path.read_text()

    def fail(*args, **kwargs):
        raise OSError("disk full")
    module, name = target.split(".")
    with monkeypatch.context() as patch:
        patch.setattr({"json": json, "os": os}[module], name, fail)
        with pytest.raises(OSError, match="disk full"):
            leaderboard.record("new", 1, 80.0, 64)
    assert path.read_text() == before and _no_temporary_files(path.parent)
    assert [row["model"] for row in leaderboard.entries()] == ["kept"]


def test_table_checks_its_dataset():
    with pytest.raises(TypeError, match="dataset must be a non-empty str, got 3"):
        leaderboard.table(3)
    with pytest.raises(ValueError, match="dataset: the leaderboard has no rows for 'digits' yet .it is empty."):
        leaderboard.table()
    leaderboard.record("m", 8, 40.0, 64, dataset="digits (binarized)")
    with pytest.raises(ValueError, match=r"no rows for 'mnist' yet \(only for \['digits \(binarized\)'\]\)"):
        leaderboard.table("mnist")
    assert "| 1 | m | 08 | 40.0 |" in leaderboard.table("digits (binarized)")


# --- data: MNIST files -------------------------------------------------------------------------------------

_IDX_CODES = {np.uint8: 0x08, np.int16: 0x0B, np.int32: 0x0C, np.float32: 0x0D}


def _idx_bytes(array):
    header = bytes([0, 0, _IDX_CODES[array.dtype.type], array.ndim]) + struct.pack(f">{array.ndim}I", *array.shape)
    return header + array.astype(array.dtype.newbyteorder(">")).tobytes()


def _mnist_folder(root, images, labels, monkeypatch):
    folder = root / "mnist"
    folder.mkdir(parents=True)
    for stem in ("train", "t10k"):
        (folder / f"{stem}-images-idx3-ubyte").write_bytes(_idx_bytes(images))
        (folder / f"{stem}-labels-idx1-ubyte").write_bytes(_idx_bytes(labels))
    monkeypatch.setenv("DGM_DATA", str(root))
    return folder


_IMAGES, _LABELS = np.zeros((4, 28, 28), np.uint8), np.arange(4, dtype=np.uint8)


@pytest.mark.parametrize("images, labels, file, message", [
    (np.full((4, 28, 28), np.nan, np.float32), _LABELS, "train-images-idx3-ubyte",
     r"must hold 28×28 images of unsigned bytes \(IDX type 0x08\), shape \(N, 28, 28\), "
     r"got float32 of shape \(4, 28, 28\)"),
    (np.full((4, 28, 28), 1000, np.int16), _LABELS, "train-images-idx3-ubyte", "got int16 of shape"),
    (np.zeros((4, 5, 5), np.uint8), _LABELS, "train-images-idx3-ubyte", r"got uint8 of shape \(4, 5, 5\)"),
    (np.zeros((0, 28, 28), np.uint8), np.zeros(0, np.uint8), "train-images-idx3-ubyte", r"shape \(0, 28, 28\)"),
    (_IMAGES, np.array([0, 1, 200, 3], np.uint8), "train-labels-idx1-ubyte",
     "must hold labels 0..9, got 200 at index 2"),
    (_IMAGES, _LABELS.astype(np.int32), "train-labels-idx1-ubyte", "must hold labels as unsigned bytes .*got int32"),
    (_IMAGES, _LABELS[:3], "train-images-idx3-ubyte", "holds 4 images but .*train-labels-idx1-ubyte 3 labels"),
])
def test_load_mnist_refuses_files_that_are_not_mnist(tmp_path, monkeypatch, images, labels, file, message):
    folder = _mnist_folder(tmp_path, images, labels, monkeypatch)
    with pytest.raises(ValueError, match=f"mnist: {re.escape(str(folder / file))} .*{message}"):
        data.load_mnist("mnist", n_val=1)


def test_the_good_tiny_mnist_loads(tmp_path, monkeypatch):
    _mnist_folder(tmp_path, _IMAGES, _LABELS, monkeypatch)
    split = data.load_mnist("mnist", n_val=1)
    assert split.train.x.shape == (3, 1, 28, 28) and split.val.y.tolist() == [3] and split.levels == 256


@pytest.mark.parametrize("damage, reason", [
    (lambda raw: b"hello world, not gzip", "Not a gzipped file"),
    (lambda raw: raw[: len(raw) // 2], "ended before the end-of-stream marker"),
    (lambda raw: raw[:-8] + bytes(8), "CRC check failed"),
])
def test_a_damaged_gzip_file_is_named(tmp_path, monkeypatch, damage, reason):
    folder = _mnist_folder(tmp_path, _IMAGES, _LABELS, monkeypatch)
    path = folder / "train-images-idx3-ubyte"
    (folder / "train-images-idx3-ubyte.gz").write_bytes(damage(gzip.compress(path.read_bytes())))
    path.unlink()                                                      # only the .gz is left to read
    message = f"path: {re.escape(str(path))}.gz is not a whole gzip file \\(.*{reason}.*\\); copy it again"
    with pytest.raises(ValueError, match=message):
        data.read_idx(f"{path}.gz")
    with pytest.raises(ValueError, match=message):
        data.load_mnist("mnist", n_val=1)


def test_read_idx_refuses_a_header_without_dimensions(tmp_path):
    (tmp_path / "scalar").write_bytes(bytes([0, 0, 8, 0, 7]))
    with pytest.raises(ValueError, match="scalar is not an IDX file of an array: its header announces 0 dimensions"):
        data.read_idx(tmp_path / "scalar")


@pytest.mark.parametrize("call, error, message", [
    (lambda: data.toy(["moons"], 3), ValueError, r"name must be one of .*, got \['moons'\]"),
    (lambda: data.energy(None, torch.zeros(2, 2)), ValueError, "name must be one of .*, got None"),
    (lambda: data.load_dataset(["mnist"]), ValueError,
     r"name must be 'digits', 'mnist' or 'fashion_mnist', got \['mnist'\]"),
    (lambda: data.load_mnist({"mnist"}), ValueError,
     r"name must be one of \['fashion_mnist', 'mnist'\], got \{'mnist'\}"),
    (lambda: data.rings(10, 3), TypeError, "radii must be a tuple of numbers, got int"),
    (lambda: data.binarize(torch.zeros(3), 2, stochastic="yes"), TypeError, "stochastic must be a bool, got str"),
])
def test_data_names_and_flags_are_checked(call, error, message):
    with pytest.raises(error, match=message):
        call()


def test_rings_takes_radii_as_a_tensor_too():
    a = data.rings(50, torch.tensor([1.0, 2.0]), generator=torch.Generator().manual_seed(0))
    b = data.rings(50, (1.0, 2.0), generator=torch.Generator().manual_seed(0))
    assert torch.equal(a, b)


# --- likelihood --------------------------------------------------------------------------------------------

def test_mean_nll_refuses_non_finite_log_probabilities():
    class Broken(Gaussian):
        def _log_prob(self, x, context):
            log_p = super()._log_prob(x, context)
            return torch.where(torch.arange(len(x)) == 2, torch.tensor(float("nan")), log_p)

    x = _examples(10)
    assert np.isfinite(mean_nll(Gaussian(), x, batch_size=4))
    with pytest.raises(ValueError, match=r"Broken returned NaN or infinite log-probabilities for 2 of the 10 "
                                         r"examples of x \(the first at index 2, in the batch starting at 0\)"):
        mean_nll(Broken(), x, batch_size=4)         # the third of each batch of 4: examples 2 and 6


def test_linked_view_reads_the_source_and_never_writes_to_it(tmp_path):
    from course_lib.storage import atomic_write, linked_view

    source = tmp_path / "cache"
    source.mkdir()
    (source / "model.pt").write_bytes(b"weights")
    view = linked_view(source, tmp_path / "view")
    assert (view / "model.pt").read_bytes() == b"weights"
    atomic_write(view / "model.pt", lambda f: f.write(b"new"))
    atomic_write(view / "leaderboard.json", lambda f: f.write(b"[]"))
    assert (view / "model.pt").read_bytes() == b"new" and (source / "model.pt").read_bytes() == b"weights"
    assert sorted(p.name for p in source.iterdir()) == ["model.pt"]
    assert list(linked_view(tmp_path / "absent", tmp_path / "empty").iterdir()) == []
    with pytest.raises(TypeError, match="source must be a str or os.PathLike"):
        linked_view(3, tmp_path / "x")
