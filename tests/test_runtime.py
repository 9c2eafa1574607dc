import platform
import random
import sys

import numpy as np
import pytest
import torch

from course_lib import runtime


def test_device_defaults_to_best_available(monkeypatch):
    monkeypatch.delenv("DGM_DEVICE", raising=False)
    expected = "cuda" if torch.cuda.is_available() else "mps" if torch.backends.mps.is_available() else "cpu"
    assert runtime.device().type == expected


def test_device_override(monkeypatch):
    monkeypatch.setenv("DGM_DEVICE", "cpu")
    assert runtime.device() == torch.device("cpu")


@pytest.mark.parametrize("value", ["tpu", "gpu0"])
def test_device_override_rejects_unknown(monkeypatch, value):
    monkeypatch.setenv("DGM_DEVICE", value)
    with pytest.raises(ValueError, match=r"DGM_DEVICE must be one of \('cuda', 'mps', 'cpu'\)"):
        runtime.device()


@pytest.mark.skipif(torch.cuda.is_available(), reason="needs a machine without CUDA")
def test_device_override_refuses_missing_cuda(monkeypatch):
    monkeypatch.setenv("DGM_DEVICE", "cuda")
    with pytest.raises(ValueError, match="DGM_DEVICE asks for 'cuda' but no CUDA device is available"):
        runtime.device()


def test_seed_everything_makes_all_generators_repeat():
    def draw():
        return random.random(), np.random.rand(), torch.rand(1).item()

    runtime.seed_everything(123)
    first = draw()
    runtime.seed_everything(123)
    assert draw() == first


@pytest.mark.parametrize("seed, error, message", [(1.5, TypeError, "seed must be an int, got float"),
                                                   ("0", TypeError, "seed must be an int, got str"),
                                                   (True, TypeError, "seed must be an int, got bool"),
                                                   (-1, ValueError, r"seed must be in \[0, 2\*\*32\), got -1")])
def test_seed_everything_rejects_bad_seeds(seed, error, message):
    with pytest.raises(error, match=message):
        runtime.seed_everything(seed)


@pytest.mark.parametrize("value, silent", [("true", True), ("1", True), ("", False), ("false", False)])
def test_progress_is_silent_under_ci(monkeypatch, value, silent):
    monkeypatch.setenv("CI", value)
    bar = runtime.progress(range(3))
    assert bar.disable is silent
    assert list(bar) == [0, 1, 2]


def test_cache_dir_follows_environment(tmp_path, monkeypatch):
    monkeypatch.setenv("DGM_CACHE", str(tmp_path / "here"))
    assert runtime.cache_dir() == tmp_path / "here"
    assert (tmp_path / "here").is_dir()


def test_keep_freed_memory_on_glibc_and_its_opt_out(monkeypatch):
    from course_lib.runtime import keep_freed_memory

    monkeypatch.setenv("DGM_MALLOC_DEFAULTS", "1")
    assert keep_freed_memory() is False
    monkeypatch.delenv("DGM_MALLOC_DEFAULTS")
    expected = sys.platform.startswith("linux") and platform.libc_ver()[0] == "glibc"
    assert keep_freed_memory() is expected
