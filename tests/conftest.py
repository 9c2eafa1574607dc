import matplotlib

matplotlib.use("Agg")  # tests draw figures without a screen

import matplotlib.pyplot as plt
import pytest
import torch


@pytest.fixture(autouse=True)
def isolated_cache(request, tmp_path, monkeypatch):
    """Every test writes checkpoints and leaderboards under its own temporary folder, except those marked
    ``course_cache``, which use the course's cache (the chapters' trained models)."""
    if request.node.get_closest_marker("course_cache") is None:
        monkeypatch.setenv("DGM_CACHE", str(tmp_path / "cache"))
    torch.manual_seed(0)  # every test starts from the same random state, whatever ran before
    # Chapters' cells (run by the exercise tests) switch torch's default dtype to float64; every test starts
    # from, and leaves, torch's own float32 default.
    torch.set_default_dtype(torch.float32)
    yield
    torch.set_default_dtype(torch.float32)
    plt.close("all")


@pytest.fixture
def checkpoint_every_step(monkeypatch):
    """Training loops write their checkpoint at every epoch or step boundary (not only every
    ``CHECKPOINT_INTERVAL_S`` seconds): for tests that interrupt a run and resume it."""
    from course_lib import train
    monkeypatch.setattr(train, "CHECKPOINT_INTERVAL_S", 0.0)
