"""GANs: the losses at known points, the networks' shapes, the sampler, and the adversarial training loop
(reproducible, resumable, constrained critics), with clear errors for bad input."""

import math

import pytest
import torch

from course_lib import data
from course_lib.evaluation import mode_coverage
from course_lib.models import (GAN, BiGAN, ConvEncoder, DCDiscriminator, DCGenerator, JointDiscriminator,
                               MLPDiscriminator, MLPGenerator)
from course_lib.models.gan import discriminator_loss, generator_loss, gradient_penalty
from course_lib.storage import load_checkpoint
from course_lib.train import fit_adversarial


def test_losses_at_known_points():
    zero = torch.zeros(4)
    assert discriminator_loss(zero, zero, "minimax").item() == pytest.approx(2 * math.log(2))   # D = 1/2 everywhere
    assert generator_loss(zero, "minimax").item() == pytest.approx(-math.log(2))               # log(1 − 1/2)
    assert generator_loss(zero, "non_saturating").item() == pytest.approx(math.log(2))         # −log 1/2
    assert discriminator_loss(torch.ones(3), -torch.ones(3), "hinge").item() == 0.0            # both margins met
    real, fake = torch.tensor([1.0, 3.0]), torch.tensor([0.5, 0.5])
    assert discriminator_loss(real, fake, "wasserstein").item() == pytest.approx(0.5 - 2.0)
    assert generator_loss(fake, "wasserstein").item() == pytest.approx(-0.5)


def test_saturating_loss_vanishes_where_the_discriminator_is_sure():
    """When D rejects the fakes (very negative logits), the minimax loss gives G almost no gradient."""
    logits = torch.tensor([-8.0], requires_grad=True)
    saturating, = torch.autograd.grad(generator_loss(logits, "minimax"), logits)
    non_saturating, = torch.autograd.grad(generator_loss(logits, "non_saturating"), logits)
    assert abs(saturating.item()) < 1e-3 and abs(non_saturating.item()) > 0.99


def test_gradient_penalty_of_linear_critics():
    """A linear critic a·x has gradient a everywhere: the penalty is (‖a‖ − 1)²."""
    real, fake = torch.randn(16, 1, 2, 2), torch.randn(16, 1, 2, 2)
    for scale, expected in ((1.0, 0.0), (2.0, 1.0)):
        a = torch.full((4,), scale / 2)                       # ‖a‖ = scale
        critic = lambda x, context: x.reshape(len(x), -1) @ a  # noqa: E731
        assert gradient_penalty(critic, real, fake).item() == pytest.approx(expected, abs=1e-5)


@pytest.mark.parametrize("side", [8, 28])
@pytest.mark.parametrize("classes", [None, 10])
def test_convolutional_networks_have_the_right_shapes(side, classes):
    torch.manual_seed(0)
    g, d = DCGenerator(16, side, 8, context_classes=classes), DCDiscriminator(side, 8, spectral=True, context_classes=classes)
    labels = None if classes is None else torch.arange(5) % classes
    images = g(torch.randn(5, 16), labels)
    assert images.shape == (5, 1, side, side) and images.abs().max() <= 1
    assert d(images, labels).shape == (5,)


def test_gan_samples_integer_levels_and_prepares_data_for_the_discriminator():
    torch.manual_seed(0)
    gan = GAN(DCGenerator(16, 8, 8), DCDiscriminator(8, 8), levels=17)
    samples = gan.sample(20, torch.Generator().manual_seed(0))
    assert samples.shape == (20, 1, 8, 8) and torch.equal(samples, samples.round())
    assert samples.min() >= 0 and samples.max() <= 16
    prepared = gan.prepare(torch.full((3, 1, 8, 8), 16.0), torch.Generator().manual_seed(0))
    assert prepared.min() >= 2 * 16 / 17 - 1 and prepared.max() < 1
    assert torch.equal(gan.to_data(prepared), torch.full((3, 1, 8, 8), 16.0))   # to_data inverts prepare
    assert gan.sample(4, torch.Generator().manual_seed(1)).shape == (4, 1, 8, 8)
    assert gan.training          # sample ran in eval mode and restored the mode it found


def _ring(n=512):
    return data.eight_gaussians(n, std=0.02, generator=torch.Generator().manual_seed(0))


def _toy_gan(**kwargs):
    torch.manual_seed(0)
    return GAN(MLPGenerator(2, 2, 32, 2), MLPDiscriminator(2, 32, 2, **kwargs.pop("d", {})), **kwargs)


def test_adversarial_training_is_reproducible_and_resumes_exactly(tmp_path):
    straight = _toy_gan()
    history = fit_adversarial(straight, _ring(), steps=250, batch_size=64, snapshot_every=100, progress=False, device="cpu")
    again = _toy_gan()
    fit_adversarial(again, _ring(), steps=250, batch_size=64, snapshot_every=100, progress=False, device="cpu")
    assert all(torch.equal(a, b) for a, b in zip(straight.state_dict().values(), again.state_dict().values()))
    resumed = _toy_gan()
    fit_adversarial(resumed, _ring(), steps=150, batch_size=64, snapshot_every=100, progress=False, device="cpu",
                    checkpoint=tmp_path / "gan.pt")
    resumed_history = fit_adversarial(resumed, _ring(), steps=250, batch_size=64, snapshot_every=100, progress=False,
                                      device="cpu", checkpoint=tmp_path / "gan.pt")
    assert all(torch.equal(a, b) for a, b in zip(straight.state_dict().values(), resumed.state_dict().values()))
    assert resumed_history.generator_loss == history.generator_loss and resumed_history.snapshot_steps == [0, 100, 200]
    assert len(history.snapshots) == 3 and history.snapshots[0].shape == (512, 2)


@pytest.mark.parametrize("make", [_toy_gan, lambda: BiGAN(DCGenerator(latent_dim=4, side=8, channels=8),
                                                           ConvEncoder(latent_dim=4, side=8, channels=8),
                                                           JointDiscriminator(latent_dim=4, side=8, channels=8),
                                                           levels=17)], ids=["gan", "bigan"])
def test_generator_steps_do_not_compute_the_discriminators_gradients(make):
    """D's weight gradients are computed in D's steps only: the generator's step back-propagates through D to
    reach G (and E) but has no use for them (the same updates, less work)."""
    torch.manual_seed(0)
    gan = make()
    gradients = []
    for parameter in gan.discriminator_parameters():
        parameter.register_hook(lambda grad: gradients.append(1))
    train = _ring() if isinstance(gan.discriminator, MLPDiscriminator) else data.load_dataset("digits").train
    fit_adversarial(gan, train, steps=3, batch_size=16, discriminator_steps=2, progress=False, device="cpu")
    assert len(gradients) == 3 * 2 * len(list(gan.discriminator_parameters()))
    assert all(p.grad is not None for p in gan.generator_parameters())


def test_weight_clipping_and_cache_only(tmp_path, monkeypatch):
    gan = _toy_gan(loss="wasserstein", clip=0.01)
    fit_adversarial(gan, _ring(), steps=5, batch_size=32, discriminator_steps=5, progress=False, device="cpu")
    assert max(p.abs().max().item() for p in gan.discriminator.parameters()) <= 0.01
    monkeypatch.setenv("DGM_CACHE_ONLY", "1")
    with pytest.raises(RuntimeError, match="DGM_CACHE_ONLY is set"):
        fit_adversarial(_toy_gan(), _ring(), steps=5, progress=False, checkpoint=tmp_path / "none.pt")


def test_conditional_gan_draws_the_asked_classes():
    torch.manual_seed(0)
    gan = GAN(DCGenerator(8, 8, 8, context_classes=10), DCDiscriminator(8, 8, context_classes=10), levels=17,
              context_classes=10)
    split = data.load_digits()
    fit_adversarial(gan, data.Dataset(split.train.x[:128], split.train.y[:128]), steps=3, batch_size=16,
                    labels_as_context=True, progress=False, device="cpu")
    assert gan.sample(10, context=torch.arange(10)).shape == (10, 1, 8, 8)
    with pytest.raises(ValueError, match="class-conditional"):
        gan.sample(3)


def test_learning_rate_decay_is_linear_to_zero_and_resumes_exactly(tmp_path, checkpoint_every_step):
    seen = []
    straight = _toy_gan()
    original_step = torch.optim.Adam.step

    def spying_step(self, *args, **kwargs):
        seen.append(self.param_groups[0]["lr"])
        return original_step(self, *args, **kwargs)

    torch.optim.Adam.step = spying_step
    try:
        fit_adversarial(straight, _ring(), steps=200, batch_size=32, lr_generator=1e-3, lr_discriminator=4e-3,
                        lr_decay=True, progress=False, device="cpu")
    finally:
        torch.optim.Adam.step = original_step
    discriminator_lrs, generator_lrs = seen[0::2], seen[1::2]
    assert discriminator_lrs[0] == pytest.approx(4e-3) and generator_lrs[0] == pytest.approx(1e-3)
    assert generator_lrs[100] == pytest.approx(0.5e-3) and generator_lrs[-1] == pytest.approx(1e-3 / 200)
    assert all(a > b for a, b in zip(discriminator_lrs, discriminator_lrs[1:]))
    interrupted, calls = _toy_gan(), []
    original_loss = interrupted._generator_loss

    def crash_at_step_150(*args):
        calls.append(1)
        if len(calls) == 150:
            raise KeyboardInterrupt
        return original_loss(*args)

    interrupted._generator_loss = crash_at_step_150
    options = dict(steps=200, batch_size=32, lr_generator=1e-3, lr_discriminator=4e-3, lr_decay=True, progress=False,
                   device="cpu", checkpoint=tmp_path / "decay.pt")
    with pytest.raises(KeyboardInterrupt):
        fit_adversarial(interrupted, _ring(), **options)
    assert load_checkpoint(tmp_path / "decay.pt")["step"] == 149
    resumed = _toy_gan()                            # from the checkpoint of step 149, the schedule continues
    fit_adversarial(resumed, _ring(), **options)
    assert all(torch.equal(a, b) for a, b in zip(straight.state_dict().values(), resumed.state_dict().values()))
    constant = _toy_gan()
    fit_adversarial(constant, _ring(), **{**options, "lr_decay": False, "checkpoint": None})
    assert not all(torch.equal(a, b) for a, b in zip(straight.state_dict().values(), constant.state_dict().values()))


def _bigan(levels=17):
    torch.manual_seed(0)
    return BiGAN(DCGenerator(4, 8, 8), ConvEncoder(4, 8, 8), JointDiscriminator(4, 8, 8, hidden=16), levels=levels)


def test_bigan_encoder_learns_with_the_generator_and_shapes():
    bigan, split = _bigan(), data.load_digits()
    images = split.train.x[:5]
    assert bigan.encode(images).shape == (5, 4) and bigan.reconstruct(images).shape == (5, 1, 8, 8)
    assert set(map(id, bigan.generator_parameters())) == set(map(id, [*bigan.generator.parameters(),
                                                                       *bigan.encoder.parameters()]))
    assert not set(map(id, bigan.discriminator_parameters())) & set(map(id, bigan.encoder.parameters()))
    before = [p.detach().clone() for p in bigan.encoder.parameters()]
    fit_adversarial(bigan, split.train.x[:256], steps=5, batch_size=32, progress=False, device="cpu")
    assert all(not torch.equal(a, b) for a, b in zip(before, bigan.encoder.parameters()))
    reconstruction = bigan.reconstruct(images)
    assert reconstruction.dtype.is_floating_point and torch.equal(reconstruction, reconstruction.round())
    assert reconstruction.min() >= 0 and reconstruction.max() <= 16


def test_bigan_encoder_plays_the_generator_game_with_swapped_labels():
    bigan = _bigan()
    real = bigan.prepare(bigan.check_input(data.load_digits().train.x[:16]), torch.Generator().manual_seed(0))
    bigan.eval()                                   # no dropout: the two evaluations below see the same D
    noise = torch.Generator().manual_seed(1)
    total = bigan._generator_loss(real, None, noise)
    z = bigan.latent(16, torch.Generator().manual_seed(1))
    on_fakes = generator_loss(bigan.discriminator(bigan.generator(z), z))
    on_reals = torch.nn.functional.softplus(bigan.discriminator(real, bigan.encoder(real))).mean()  # −ln(1 − D)
    assert total.item() == pytest.approx((on_fakes + on_reals).item(), rel=1e-5)


def test_mode_coverage_counts_modes_and_quality():
    centres = data.ring_centres(8, 2.0)
    exact = mode_coverage(centres.repeat(10, 1), centres, 0.02)
    assert exact.modes_covered == 8 and exact.high_quality == 1.0 and exact.counts.tolist() == [10] * 8
    shifted = mode_coverage(centres + torch.tensor([0.061, 0.0]), centres, 0.02)   # just beyond 3σ
    assert shifted.modes_covered == 0 and shifted.high_quality == 0.0
    few = torch.cat([centres[:1].repeat(99, 1), centres[1:2]])                    # 1 % exactly: covered
    assert mode_coverage(few, centres, 0.02).modes_covered == 2
    assert mode_coverage(few, centres, 0.02, min_share=0.02).modes_covered == 1


@pytest.mark.parametrize("call, error, message", [
    (lambda: mode_coverage(torch.zeros(3, 2), torch.zeros(2, 3), 0.1), ValueError, "centres must have last dimension 2"),
    (lambda: mode_coverage(torch.zeros(3, 2), torch.zeros(2, 2), -0.1), ValueError, "std must be"),
    (lambda: mode_coverage(torch.zeros(3, 2), torch.zeros(2, 2), 0.1, min_share=2.0), ValueError, "min_share must be"),
    (lambda: mode_coverage("samples", torch.zeros(2, 2), 0.1), TypeError, "samples"),
    (lambda: BiGAN(DCGenerator(4, 8, 4), "E", JointDiscriminator(4, 8, 4)), TypeError, "encoder must be"),
    (lambda: _bigan().discriminate(torch.zeros(2, 1, 8, 8), torch.zeros(3, 4)), ValueError, "one code per example"),
    (lambda: ConvEncoder(side=6), ValueError, "side must be divisible by 4"),
    (lambda: JointDiscriminator(dropout=-0.5), ValueError, "dropout must be"),
    (lambda: fit_adversarial(_toy_gan(), torch.zeros(4, 2), steps=1, lr_decay=1), TypeError, "lr_decay must be a bool"),
])
def test_new_gan_pieces_reject_bad_input(call, error, message):
    with pytest.raises(error, match=message):
        call()


@pytest.mark.parametrize("call, error, message", [
    (lambda: GAN("G", MLPDiscriminator()), TypeError, "generator must be a torch.nn.Module"),
    (lambda: GAN(torch.nn.Linear(2, 2), MLPDiscriminator()), TypeError, "generator must have latent_dim"),
    (lambda: GAN(MLPGenerator(), MLPDiscriminator(), loss="bogus"), ValueError, "loss must be one of"),
    (lambda: GAN(MLPGenerator(), MLPDiscriminator(), clip=-1.0), ValueError, "clip must be"),
    (lambda: generator_loss(torch.zeros(2, 2)), ValueError, "fake_logits must have 1 dimensions"),
    (lambda: DCGenerator(side=10), ValueError, "side must be divisible by 4"),
    (lambda: fit_adversarial("gan", torch.zeros(4, 2), steps=1), TypeError, "gan must be a course_lib.models.GAN"),
    (lambda: fit_adversarial(_toy_gan(), torch.zeros(4, 3), steps=1), ValueError, r"train must have shape \(B, 2\)"),
    (lambda: fit_adversarial(_toy_gan(), torch.zeros(4, 2), steps=1, betas=(0.5, 1.5)), ValueError, "betas must be"),
    (lambda: fit_adversarial(_toy_gan(), torch.zeros(4, 2), steps=0), ValueError, "steps must be"),
    (lambda: GAN(DCGenerator(8, 8, 4), DCDiscriminator(8, 4), levels=17).check_input(torch.full((2, 1, 8, 8), 0.5)),
     ValueError, "integer"),
    (lambda: _toy_gan().generate(torch.zeros(3, 5)), ValueError, "z must have last dimension 2"),
])
def test_gan_rejects_bad_input(call, error, message):
    with pytest.raises(error, match=message):
        call()
