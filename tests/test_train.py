import math
import subprocess
import sys
import textwrap
import time

import pytest
import torch
from torch import nn

from course_lib.models import DensityModel
from course_lib.storage import load_checkpoint, save_checkpoint
from course_lib.train import fit, minimize


class DiagonalGaussian(DensityModel):
    """A learnable N(μ, diag σ²): the smallest model that trains."""

    def __init__(self, dim=2):
        super().__init__()
        torch.manual_seed(0)
        self.mean = nn.Parameter(torch.randn(dim))
        self.log_std = nn.Parameter(torch.zeros(dim))

    def _log_prob(self, x, context):
        return torch.distributions.Normal(self.mean, self.log_std.exp()).log_prob(x).sum(1)

    def _sample(self, n, generator, context):
        return self.mean + self.log_std.exp() * torch.randn(n, len(self.mean), generator=generator)


def _data(shift=3.0, n=256, seed=0):
    gen = torch.Generator().manual_seed(seed)
    return torch.randn(n, 2, generator=gen) * 0.5 + shift


def test_fit_learns_the_maximum_likelihood_parameters():
    train = _data()
    model = DiagonalGaussian()
    history = fit(model, train, _data(seed=1), epochs=300, lr=0.05, patience=300, progress=False)
    assert history.train_loss[-1] < history.train_loss[0]
    assert torch.allclose(model.mean, train.mean(0), atol=0.05)
    assert torch.allclose(model.log_std.exp(), train.std(0, correction=0), atol=0.05)


def test_early_stopping_restores_the_best_weights():
    model = DiagonalGaussian()
    # Validation data sit on the other side of the start: every step towards train hurts validation.
    history = fit(model, _data(shift=3.0), _data(shift=-3.0, seed=1), epochs=50, lr=0.1, patience=2, progress=False)
    assert history.stopped_early
    assert len(history.val_loss) == history.best_epoch + 3
    assert model.loss(_data(shift=-3.0, seed=1)).item() == pytest.approx(min(history.val_loss), rel=1e-5)


def test_resumed_training_equals_uninterrupted_training(tmp_path):
    train, val = _data(), _data(seed=1)
    straight = DiagonalGaussian()
    full = fit(straight, train, val, epochs=6, batch_size=32, lr=0.05, progress=False)
    checkpoint = tmp_path / "run.pt"
    fit(DiagonalGaussian(), train, val, epochs=3, batch_size=32, lr=0.05, checkpoint=checkpoint, progress=False)
    resumed_model = DiagonalGaussian()
    resumed = fit(resumed_model, train, val, epochs=6, batch_size=32, lr=0.05, checkpoint=checkpoint, progress=False)
    assert resumed.train_loss == full.train_loss and resumed.val_loss == full.val_loss
    assert torch.equal(resumed_model.mean, straight.mean)
    assert torch.equal(resumed_model.log_std, straight.log_std)


def test_interrupted_training_resumes_from_the_last_epoch(tmp_path, checkpoint_every_step):
    train, checkpoint = _data(), tmp_path / "run.pt"
    calls = {"n": 0}

    def interrupt_in_epoch_three(batch):
        calls["n"] += 1
        if calls["n"] == 2 * 8 + 3:  # 8 batches an epoch: stop inside the third epoch
            raise KeyboardInterrupt
        return batch

    with pytest.raises(KeyboardInterrupt):
        fit(DiagonalGaussian(), train, epochs=5, batch_size=32, transform=interrupt_in_epoch_three,
            checkpoint=checkpoint, progress=False)
    assert load_checkpoint(checkpoint)["epoch"] == 1  # epochs 0 and 1 were saved whole
    resumed_model, straight = DiagonalGaussian(), DiagonalGaussian()
    resumed = fit(resumed_model, train, epochs=5, batch_size=32, checkpoint=checkpoint, progress=False)
    full = fit(straight, train, epochs=5, batch_size=32, progress=False)
    assert resumed.train_loss == full.train_loss
    assert torch.equal(resumed_model.mean, straight.mean)


def test_finished_checkpoint_is_reused_without_training(tmp_path):
    checkpoint = tmp_path / "run.pt"
    trained = DiagonalGaussian()
    fit(trained, _data(), epochs=4, checkpoint=checkpoint, progress=False)
    again = DiagonalGaussian()
    history = fit(again, _data(), epochs=4, checkpoint=checkpoint, progress=False)
    assert len(history.train_loss) == 4
    assert torch.equal(again.mean, trained.mean)


def test_failed_write_leaves_the_old_checkpoint(tmp_path, monkeypatch):
    path = tmp_path / "ck.pt"
    save_checkpoint({"w": torch.ones(3)}, path)

    def half_write(obj, f, *args, **kwargs):
        f.write(b"PK\x03\x04 partial")
        raise KeyboardInterrupt  # the user pressed stop in the middle of the write

    monkeypatch.setattr(torch, "save", half_write)
    with pytest.raises(KeyboardInterrupt):
        save_checkpoint({"w": torch.zeros(3)}, path)
    monkeypatch.undo()
    assert torch.equal(load_checkpoint(path)["w"], torch.ones(3))
    assert [p.name for p in tmp_path.iterdir()] == ["ck.pt"]  # no temporary file left behind


WRITER = textwrap.dedent("""
    import sys, torch
    from course_lib.storage import save_checkpoint
    i = 0
    while True:
        save_checkpoint({"step": i, "w": torch.full((2_000_000,), float(i))}, sys.argv[1])
        i += 1
""")


@pytest.mark.parametrize("delay", [0.3, 0.7, 1.3])
def test_killed_writer_never_leaves_a_corrupt_checkpoint(tmp_path, delay):
    path = tmp_path / "ck.pt"
    process = subprocess.Popen([sys.executable, "-c", WRITER, str(path)])
    try:
        deadline = time.time() + 30
        while not path.exists() and time.time() < deadline:
            time.sleep(0.05)
        time.sleep(delay)
    finally:
        process.kill()  # SIGKILL: no cleanup code runs, possibly in the middle of a write
        process.wait()
    state = load_checkpoint(path)
    assert torch.all(state["w"] == state["step"])  # a whole checkpoint, never a mixture or a fragment


def test_load_checkpoint_refuses_pickled_code(tmp_path):
    path = tmp_path / "evil.pt"
    torch.save({"obj": DiagonalGaussian()}, path)  # a whole module: needs arbitrary unpickling
    with pytest.raises(ValueError, match="not a readable checkpoint"):
        load_checkpoint(path)


def test_checkpoint_io_rejects_bad_input(tmp_path):
    with pytest.raises(FileNotFoundError, match="path: no checkpoint at"):
        load_checkpoint(tmp_path / "none.pt")
    with pytest.raises(TypeError, match="path must be a str or os.PathLike, got int"):
        load_checkpoint(3)
    with pytest.raises(TypeError, match="state must be a dict, got list"):
        save_checkpoint([1, 2], tmp_path / "x.pt")
    (tmp_path / "junk.pt").write_bytes(b"not a checkpoint")
    with pytest.raises(ValueError, match="junk.pt is not a readable checkpoint"):
        load_checkpoint(tmp_path / "junk.pt")


@pytest.mark.parametrize("kwargs, error, message", [
    ({"model": nn.Linear(2, 2)}, TypeError, r"model must be a torch.nn.Module with a loss\(x\) method, got Linear"),
    ({"train": torch.full((8, 2), float("nan"))}, ValueError, "train contains NaN or infinite values"),
    ({"train": "data"}, TypeError, "train must be a torch.Tensor or numpy array, got str"),
    ({"val": torch.zeros(8, 3)}, ValueError, r"val examples have shape \(3,\), train examples \(2,\)"),
    ({"epochs": 0}, ValueError, "epochs must be ≥ 1, got 0"),
    ({"batch_size": 2.5}, TypeError, "batch_size must be an int, got float"),
    ({"lr": -1.0}, ValueError, "lr must be finite and > 0, got -1.0"),
    ({"patience": 0}, ValueError, "patience must be ≥ 1, got 0"),
    ({"transform": 3}, TypeError, "transform must be callable or None, got int"),
    ({"labels_as_context": True}, TypeError, r"train must be a data.Dataset \(x, y\) when labels_as_context=True"),
    ({"checkpoint": 3}, TypeError, "checkpoint must be a str, os.PathLike or None, got int"),
    ({"seed": -1}, ValueError, "seed must be ≥ 0, got -1"),
    ({"average": 1.0}, ValueError, r"average must be None or a decay in \(0, 1\), got 1.0"),
    ({"average": 0}, ValueError, "average must be finite and > 0, got 0.0"),
    ({"average": "0.9"}, TypeError, "average must be a number, got str"),
])
def test_fit_rejects_bad_input(kwargs, error, message):
    arguments = {"model": DiagonalGaussian(), "train": _data(), "val": None, "progress": False, **kwargs}
    model, train = arguments.pop("model"), arguments.pop("train")
    with pytest.raises(error, match=message):
        fit(model, train, **arguments)


def test_fit_stops_on_a_non_finite_loss():
    model = DiagonalGaussian()
    with torch.no_grad():
        model.mean.fill_(1e30)  # (x - μ)² overflows float32: the loss is infinite
    with pytest.raises(FloatingPointError, match="loss became inf in epoch 0; try a smaller lr"):
        fit(model, _data(), epochs=2, progress=False)


def test_resume_is_exact_with_dropout_and_a_stochastic_loss(tmp_path):
    """A VAE draws ε (loss noise) and dropout masks: both depend on (seed, epoch) only, so 2 + 2 epochs
    with a resume in between give the same weights as 4 epochs at once; the caller's global RNG is untouched."""
    from course_lib import data
    from course_lib.models import VAE

    train = data.load_digits().train.x[:200]
    make = lambda: (torch.manual_seed(0), VAE(latent_dim=2, hidden=16, dropout=0.3))[1]  # noqa: E731
    straight, resumed, checkpoint = make(), make(), tmp_path / "vae.pt"
    torch.manual_seed(123)
    state = torch.get_rng_state()
    fit(straight, train, epochs=4, batch_size=50, progress=False)
    assert torch.equal(torch.get_rng_state(), state)            # fit leaves the global generator as it found it
    fit(resumed, train, epochs=2, batch_size=50, checkpoint=checkpoint, progress=False)
    torch.manual_seed(999)                                      # whatever happens between the two sessions
    resumed_again = make()
    fit(resumed_again, train, epochs=4, batch_size=50, checkpoint=checkpoint, progress=False)
    for a, b in zip(straight.parameters(), resumed_again.parameters()):
        assert torch.equal(a, b)


def test_fit_dequantizes_each_batch_afresh_and_checks_the_levels_once():
    class Recorder(DiagonalGaussian):
        seen: list = []

        def _log_prob(self, x, context):
            Recorder.seen.append(x.detach().clone())
            return super()._log_prob(x, context)

    levels = torch.randint(0, 5, (64, 2)).float()
    fit(Recorder(), levels, epochs=2, batch_size=64, dequantize=True, progress=False)
    first, second = Recorder.seen
    assert torch.equal(torch.floor(first.sort(0).values), levels.sort(0).values)   # k + u with u in [0, 1)
    assert not torch.equal(first.sort(0).values, second.sort(0).values)             # new noise every epoch
    with pytest.raises(ValueError, match="train must hold non-negative integer grey levels to dequantize"):
        fit(DiagonalGaussian(), levels + 0.5, epochs=1, dequantize=True, progress=False)


def test_a_checkpoint_of_another_model_is_refused_with_a_clear_message(tmp_path):
    checkpoint = tmp_path / "run.pt"
    fit(DiagonalGaussian(dim=2), _data(), epochs=1, checkpoint=checkpoint, progress=False)
    with pytest.raises(ValueError, match="run.pt does not hold a training state of this DiagonalGaussian"):
        fit(DiagonalGaussian(dim=3), torch.zeros(10, 3), epochs=2, checkpoint=checkpoint, progress=False)


def _reverse_kl_problem():
    """A learnable N(μ, σ²) fitted by reverse KL to N(3, 0.5²): E_q[log q(z) − log p(z)]."""
    torch.manual_seed(0)
    module = nn.ParameterDict({"mean": nn.Parameter(torch.zeros(1)), "log_std": nn.Parameter(torch.zeros(1))})
    target = torch.distributions.Normal(3.0, 0.5)

    def objective(generator, step):
        z = module["mean"] + module["log_std"].exp() * torch.randn(256, 1, generator=generator)
        q = torch.distributions.Normal(module["mean"], module["log_std"].exp())
        return (q.log_prob(z) - target.log_prob(z)).mean()
    return module, objective


def test_minimize_fits_by_reverse_kl():
    module, objective = _reverse_kl_problem()
    record = minimize(module, objective, steps=600, lr=0.05, progress=False, device="cpu")
    assert len(record.loss) == 600 and record.loss[-1] < 0.05 < record.loss[0]
    assert abs(module["mean"].item() - 3.0) < 0.1 and abs(module["log_std"].exp().item() - 0.5) < 0.05
    assert not module.training


def test_minimize_resumes_exactly_and_cache_only_refuses_to_train(tmp_path, monkeypatch):
    straight, objective = _reverse_kl_problem()
    minimize(straight, objective, steps=250, lr=0.05, progress=False, device="cpu")
    resumed, objective = _reverse_kl_problem()
    minimize(resumed, objective, steps=150, lr=0.05, progress=False, device="cpu", checkpoint=tmp_path / "r.pt")
    monkeypatch.setenv("DGM_CACHE_ONLY", "1")
    with pytest.raises(RuntimeError, match="DGM_CACHE_ONLY is set"):
        minimize(resumed, objective, steps=250, lr=0.05, progress=False, device="cpu", checkpoint=tmp_path / "r.pt")
    monkeypatch.delenv("DGM_CACHE_ONLY")
    record = minimize(resumed, objective, steps=250, lr=0.05, progress=False, device="cpu", checkpoint=tmp_path / "r.pt")
    assert len(record.loss) == 250
    assert torch.equal(straight["mean"], resumed["mean"]) and torch.equal(straight["log_std"], resumed["log_std"])
    monkeypatch.setenv("DGM_CACHE_ONLY", "1")   # finished: loads without training
    assert minimize(resumed, objective, steps=250, lr=0.05, progress=False, checkpoint=tmp_path / "r.pt").loss == record.loss


@pytest.mark.parametrize("kwargs, error, message", [
    ({"module": "flow"}, TypeError, "module must be a torch.nn.Module"),
    ({"objective": 3}, TypeError, "objective must be callable"),
    ({"steps": 0}, ValueError, "steps must be"),
    ({"lr": -1.0}, ValueError, "lr must be"),
    ({"checkpoint": 5}, TypeError, "checkpoint must be a str"),
    ({"objective": lambda g, step: torch.zeros(3, requires_grad=True)}, TypeError, r"scalar tensor, got Tensor of shape \(3,\)"),
    ({"objective": lambda g, step: torch.tensor(float("nan"), requires_grad=True)}, FloatingPointError, "loss became nan"),
])
def test_minimize_rejects_bad_input(kwargs, error, message):
    module, objective = _reverse_kl_problem()
    arguments = {"module": module, "objective": objective, "steps": 5, "progress": False, "device": "cpu", **kwargs}
    with pytest.raises(error, match=message):
        minimize(arguments.pop("module"), arguments.pop("objective"), **arguments)


def test_each_loop_refuses_another_loops_checkpoint(tmp_path):
    from course_lib.models import GAN, MLPDiscriminator, MLPGenerator
    from course_lib.train import fit_adversarial

    module, objective = _reverse_kl_problem()
    minimize(module, objective, steps=3, progress=False, device="cpu", checkpoint=tmp_path / "minimize.pt")
    gan = GAN(MLPGenerator(2, 2, 8, 1), MLPDiscriminator(2, 8, 1))
    with pytest.raises(ValueError, match="minimize.pt does not hold a fit_adversarial state of this GAN"):
        fit_adversarial(gan, torch.zeros(8, 2), steps=2, progress=False, device="cpu", checkpoint=tmp_path / "minimize.pt")
    fit_adversarial(gan, torch.zeros(8, 2), steps=2, progress=False, device="cpu", checkpoint=tmp_path / "gan.pt")
    with pytest.raises(ValueError, match="gan.pt does not hold a minimize state of this ParameterDict"):
        minimize(module, objective, steps=3, progress=False, device="cpu", checkpoint=tmp_path / "gan.pt")


def test_cosine_and_linear_schedules_fall_from_lr_to_zero_over_training(monkeypatch):
    from course_lib.models import FVSBN

    seen = []
    step = torch.optim.Adam.step

    def recording_step(self, *args, **kwargs):
        seen.append(self.param_groups[0]["lr"])
        return step(self, *args, **kwargs)

    monkeypatch.setattr(torch.optim.Adam, "step", recording_step)
    x = torch.randint(0, 3, (40, 1, 2, 2)).float()
    fit(FVSBN((1, 2, 2), 3), x, epochs=4, batch_size=10, lr=0.1, schedule="cosine", progress=False)
    expected = [0.1 * 0.5 * (1 + math.cos(math.pi * s / 16)) for s in range(16)]   # 4 epochs × 4 batches
    assert seen == pytest.approx(expected)
    seen.clear()
    fit(FVSBN((1, 2, 2), 3), x, epochs=2, batch_size=10, lr=0.1, progress=False)
    assert seen == [0.1] * 8                                                        # the default: constant
    with pytest.raises(ValueError, match="schedule"):
        fit(FVSBN((1, 2, 2), 3), x, epochs=2, schedule="exponential", progress=False)
    seen.clear()
    module = nn.Linear(1, 1)
    minimize(module, lambda generator, step: module.weight.sum(), steps=8, lr=0.1, schedule="cosine", progress=False)
    assert seen == pytest.approx([0.1 * 0.5 * (1 + math.cos(math.pi * s / 8)) for s in range(8)])
    seen.clear()
    minimize(module, lambda generator, step: module.weight.sum(), steps=8, lr=0.1, schedule="linear", progress=False)
    assert seen == pytest.approx([0.1 * (1 - s / 8) for s in range(8)])
    with pytest.raises(ValueError, match="schedule"):
        minimize(module, lambda generator, step: module.weight.sum(), steps=2, schedule="step", progress=False)


@pytest.mark.parametrize("interval, writes", [(math.inf, 1), (0.0, 5)])
def test_checkpoints_are_written_at_the_end_and_every_interval(tmp_path, monkeypatch, interval, writes):
    """Writing a checkpoint can cost more than a small model's epoch: the loops write one at the end, and on
    the way only once ``CHECKPOINT_INTERVAL_S`` seconds have passed since the last (0: at every boundary)."""
    from course_lib import train
    from course_lib.models import GAN, MLPDiscriminator, MLPGenerator
    from course_lib.train import fit_adversarial
    written = []
    monkeypatch.setattr(train, "CHECKPOINT_INTERVAL_S", interval)
    monkeypatch.setattr(train, "save_checkpoint", lambda state, path: written.append(path.name))
    fit(DiagonalGaussian(), _data(), _data(seed=1), epochs=5, batch_size=64, checkpoint=tmp_path / "fit.pt",
        progress=False)
    model = DiagonalGaussian()
    minimize(model, lambda generator, step: (model.mean ** 2).sum(), steps=5, checkpoint=tmp_path / "min.pt",
             progress=False)
    gan = GAN(MLPGenerator(hidden=8), MLPDiscriminator(hidden=8))
    fit_adversarial(gan, _data(), steps=5, batch_size=16, checkpoint=tmp_path / "gan.pt", progress=False)
    assert written == ["fit.pt"] * writes + ["min.pt"] * writes + ["gan.pt"] * writes


def test_training_loops_use_the_fused_adam_on_the_cpu(monkeypatch):
    """One fused kernel per Adam step on the CPU (2–3× faster optimiser steps for the course's small models)."""
    from course_lib.models import GAN, MLPDiscriminator, MLPGenerator
    from course_lib.train import fit_adversarial
    made, original = [], torch.optim.Adam

    def recording_adam(*args, **kwargs):
        made.append(kwargs.get("fused"))
        return original(*args, **kwargs)

    monkeypatch.setattr(torch.optim, "Adam", recording_adam)
    fit(DiagonalGaussian(), _data(), epochs=1, progress=False, device="cpu")
    model = DiagonalGaussian()
    minimize(model, lambda generator, step: (model.mean ** 2).sum(), steps=1, progress=False, device="cpu")
    fit_adversarial(GAN(MLPGenerator(hidden=8), MLPDiscriminator(hidden=8)), _data(), steps=1, batch_size=16,
                    progress=False, device="cpu")
    assert made == [True, True, True, True]


def test_average_keeps_the_exponential_moving_average_of_the_trained_weights(monkeypatch):
    """Without validation data, fit(average=d) ends with PyTorch's own EMA of the weights after every step."""
    import course_lib.train as train_module
    from torch.optim.swa_utils import AveragedModel, get_ema_multi_avg_fn

    model = DiagonalGaussian()
    reference = AveragedModel(model, multi_avg_fn=get_ema_multi_avg_fn(0.9))
    descend = train_module._descend

    def descend_then_average(optimizer, loss, only=None):
        descend(optimizer, loss, only)
        reference.update_parameters(model)

    monkeypatch.setattr(train_module, "_descend", descend_then_average)
    fit(model, _data(), epochs=3, batch_size=32, lr=0.2, average=0.9, progress=False)
    trained = [p.detach().clone() for p in reference.module.parameters()]   # holds the EMA, not the last step
    assert reference.n_averaged.item() == 3 * 8
    for kept, averaged in zip(model.parameters(), trained):
        assert torch.allclose(kept, averaged, atol=1e-6)
    fit(last := DiagonalGaussian(), _data(), epochs=3, batch_size=32, lr=0.2, progress=False)
    assert not torch.allclose(last.mean, model.mean, atol=1e-3)     # the average is not the last step's weights


def test_average_validates_and_keeps_the_averaged_weights_which_beat_the_noisy_last_steps():
    """Small batches and a large learning rate leave the weights jittering around the optimum; their average
    sits closer to it, so its validation loss is lower, and early stopping keeps the best average."""
    val = _data(seed=1)
    model = DiagonalGaussian()
    history = fit(model, _data(), val, epochs=30, batch_size=4, lr=0.2, patience=30, average=0.95, progress=False)
    assert len(history.val_loss) == 30
    assert history.val_loss[history.best_epoch] < history.val_loss_unaveraged
    assert model.loss(val).item() == pytest.approx(min(history.val_loss), rel=1e-5)
    plain = fit(DiagonalGaussian(), _data(), val, epochs=2, progress=False)
    assert plain.val_loss_unaveraged is None


def test_val_loss_unaveraged_is_that_of_the_kept_epochs_trained_weights_even_after_an_interruption(
        tmp_path, checkpoint_every_step):
    """Not the last epoch's trained weights, not their average: the trained weights of the epoch kept, also when
    the run was interrupted after that epoch and resumed from its checkpoint."""
    train, val = _data(shift=3.0), _data(shift=-3.0, seed=1)     # every step towards train hurts validation
    settings = dict(batch_size=32, lr=0.1, patience=2, average=0.9, progress=False)
    history = fit(DiagonalGaussian(), train, val, epochs=50, **settings)
    kept, last = history.best_epoch, len(history.val_loss) - 1
    assert history.stopped_early and kept < last

    def trained_for(epochs):
        """The validation loss of the same run's trained weights after ``epochs`` epochs (the average does not
        steer them, and validating draws no random numbers here)."""
        model = DiagonalGaussian()
        fit(model, train, epochs=epochs, batch_size=32, lr=0.1, progress=False)
        return model.loss(val).item()

    assert history.val_loss_unaveraged == pytest.approx(trained_for(kept + 1), rel=1e-6)
    assert history.val_loss_unaveraged != pytest.approx(trained_for(last + 1), rel=1e-3)
    assert history.val_loss_unaveraged != pytest.approx(history.val_loss[kept], rel=1e-3)

    checkpoint, calls = tmp_path / "run.pt", {"n": 0}

    def interrupt_in_the_last_epoch(batch):
        calls["n"] += 1
        if calls["n"] == last * 16 + 3:        # 8 training and 8 validation batches an epoch
            raise KeyboardInterrupt
        return batch

    with pytest.raises(KeyboardInterrupt):
        fit(DiagonalGaussian(), train, val, epochs=50, transform=interrupt_in_the_last_epoch, checkpoint=checkpoint,
            **settings)
    assert load_checkpoint(checkpoint)["epoch"] == last - 1
    resumed = fit(DiagonalGaussian(), train, val, epochs=50, checkpoint=checkpoint, **settings)
    assert resumed.val_loss == history.val_loss and resumed.val_loss_unaveraged == history.val_loss_unaveraged


def test_a_finished_checkpoint_of_an_earlier_course_version_keeps_its_best_epochs_unaveraged_loss(tmp_path):
    """Earlier versions saved the trained weights' validation loss of every epoch: the best epoch's is kept."""
    checkpoint = tmp_path / "run.pt"
    history = fit(DiagonalGaussian(), _data(), _data(seed=1), epochs=4, lr=0.1, average=0.9, checkpoint=checkpoint,
                  progress=False)
    state = torch.load(checkpoint, weights_only=False)
    per_epoch = [100.0 + epoch for epoch in range(4)]
    state["history"]["val_loss_unaveraged"] = per_epoch
    del state["best_trained"]
    torch.save(state, checkpoint)
    again = fit(DiagonalGaussian(), _data(), _data(seed=1), epochs=4, lr=0.1, average=0.9, checkpoint=checkpoint,
                progress=False)
    assert again.val_loss == history.val_loss and again.val_loss_unaveraged == per_epoch[history.best_epoch]


def test_resume_with_average_equals_uninterrupted_training(tmp_path):
    train, val, checkpoint = _data(), _data(seed=1), tmp_path / "run.pt"
    straight = DiagonalGaussian()
    full = fit(straight, train, val, epochs=6, batch_size=32, lr=0.1, average=0.9, progress=False)
    fit(DiagonalGaussian(), train, val, epochs=3, batch_size=32, lr=0.1, average=0.9, checkpoint=checkpoint,
        progress=False)
    resumed_model = DiagonalGaussian()
    resumed = fit(resumed_model, train, val, epochs=6, batch_size=32, lr=0.1, average=0.9, checkpoint=checkpoint,
                  progress=False)
    assert resumed.val_loss == full.val_loss and resumed.val_loss_unaveraged == full.val_loss_unaveraged
    assert torch.equal(resumed_model.mean, straight.mean)
    plain = tmp_path / "plain.pt"
    fit(DiagonalGaussian(), train, val, epochs=1, checkpoint=plain, progress=False)
    with pytest.raises(ValueError, match=r"plain.pt does not hold a training state .* lacks the keys \['averaged'\]"):
        fit(DiagonalGaussian(), train, val, epochs=2, average=0.9, checkpoint=plain, progress=False)
    short = tmp_path / "short.pt"               # an average of fewer tensors than the model has parameters
    fit(DiagonalGaussian(), train, val, epochs=1, average=0.9, checkpoint=short, progress=False)
    state = torch.load(short, weights_only=False)
    state["averaged"] = state["averaged"][:-1]
    torch.save(state, short)
    with pytest.raises(ValueError, match=r"short.pt does not hold a training state .* different model or loop"):
        fit(DiagonalGaussian(), train, val, epochs=2, average=0.9, checkpoint=short, progress=False)
