"""GLO (chapter 08): codes on the sphere, the Gaussian fitted to them, reconstruction and training; and the
course's digit classifier: judge's confidence, labels and spread, accuracy, training, and bad input."""

import math

import pytest
import torch
from torch import nn

from course_lib import data
from course_lib.evaluation.classifier import DigitClassifier, accuracy, judge, train_classifier
from course_lib.models import GLO


def _generator(latent_dim=3, side=4):
    return nn.Sequential(nn.Linear(latent_dim, 32), nn.Tanh(), nn.Linear(32, side * side), nn.Tanh(),
                         nn.Unflatten(1, (1, side, side)))


def _glo(examples=20, latent_dim=3, seed=0, levels=5):
    torch.manual_seed(seed)
    return GLO(_generator(latent_dim), examples, latent_dim, image_shape=(1, 4, 4), levels=levels)


def _images(n=20, levels=5, seed=0):
    return torch.randint(0, levels, (n, 1, 4, 4), generator=torch.Generator().manual_seed(seed)).float()


# --- GLO -------------------------------------------------------------------------------------------------


def test_codes_start_and_stay_on_the_unit_sphere():
    model = _glo()
    assert torch.allclose(model.codes.norm(dim=1), torch.ones(20))
    with torch.no_grad():
        model.codes.mul_(torch.linspace(0.1, 5.0, 20)[:, None])
    direction = model.codes.detach() / model.codes.detach().norm(dim=1, keepdim=True)
    model.project_codes()
    assert torch.allclose(model.codes.norm(dim=1), torch.ones(20), atol=1e-6)
    assert torch.allclose(model.codes.detach(), direction, atol=1e-6)          # projected radially


def test_fit_code_distribution_matches_the_codes_moments():
    model = _glo(examples=200)
    model.fit_code_distribution(jitter=0.0)
    codes = model.codes.detach()
    assert torch.allclose(model.code_mean, codes.mean(0), atol=1e-6)
    covariance = model.code_scale_tril @ model.code_scale_tril.T
    assert torch.allclose(covariance, torch.cov(codes.T), atol=1e-5)
    model.fit_code_distribution(jitter=0.1)
    assert torch.allclose(model.code_scale_tril @ model.code_scale_tril.T, torch.cov(codes.T) + 0.1 * torch.eye(3),
                          atol=1e-5)
    assert torch.equal(model.code_scale_tril, torch.tril(model.code_scale_tril))


def test_samples_decode_draws_from_the_fitted_gaussian():
    model = _glo(examples=200)
    model.fit_code_distribution()
    generator = torch.Generator().manual_seed(3)
    samples = model.sample(6, generator)
    z = model.code_mean + torch.randn(6, 3, generator=torch.Generator().manual_seed(3)) @ model.code_scale_tril.T
    with torch.no_grad():
        expected = torch.round((model.generator(z).clamp(-1, 1) + 1) / 2 * 4)
    assert torch.equal(samples, expected)
    assert samples.shape == (6, 1, 4, 4) and set(samples.unique().tolist()) <= set(range(5))
    torch.manual_seed(1)
    first = model.sample(6, torch.Generator().manual_seed(0))
    torch.manual_seed(2)
    assert torch.equal(model.sample(6, torch.Generator().manual_seed(0)), first)
    assert not torch.equal(model.sample(6, torch.Generator().manual_seed(1)), first)


def test_sample_before_fitting_the_code_distribution_raises():
    with pytest.raises(RuntimeError, match=r"call fit_code_distribution\(\) after training, before sampling"):
        _glo().sample(3)


def test_loss_is_the_reconstruction_error_and_falls_with_training():
    model, images = _glo(), _images()
    index = torch.arange(20)
    loss = model.loss(index, images)
    with torch.no_grad():
        expected = ((model.generator(model.codes) - (images / 4 * 2 - 1)) ** 2).sum((1, 2, 3)).mean()
    assert loss.item() == pytest.approx(expected.item(), rel=1e-6)
    # a shuffled index pairs the images with other codes: another loss
    assert model.loss(index.flip(0), images).item() != pytest.approx(loss.item())
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-2)
    for _ in range(60):
        step = model.loss(index, images)
        optimizer.zero_grad()
        step.backward()
        assert model.codes.grad.abs().sum() > 0                                   # the codes are learned too
        optimizer.step()
        model.project_codes()
    assert model.loss(index, images).item() < 0.7 * loss.item()
    assert torch.allclose(model.codes.norm(dim=1), torch.ones(20), atol=1e-5)


def test_reconstruct_returns_grey_levels():
    model, images = _glo(), _images()
    reconstruction = model.reconstruct(torch.tensor([0, 5, 7]))
    assert reconstruction.shape == (3, 1, 4, 4) and not reconstruction.requires_grad
    assert set(reconstruction.unique().tolist()) <= set(range(5))
    with torch.no_grad():
        expected = torch.round((model.generator(model.codes[[0, 5, 7]]) + 1) / 2 * 4)
    assert torch.equal(reconstruction, expected)
    assert torch.equal(model.decode(model.codes[[5]].detach()), model.generator(model.codes[[5]]))
    del images


def test_glo_state_round_trips():
    model, other = _glo(seed=0), _glo(seed=1)
    model.fit_code_distribution()
    other.load_state_dict(model.state_dict())
    assert torch.equal(other.sample(4, torch.Generator().manual_seed(0)), model.sample(4, torch.Generator().manual_seed(0)))


@pytest.mark.parametrize("call, error, message", [
    (lambda: GLO("g", 10, 3), TypeError, "generator must be a torch.nn.Module"),
    (lambda: GLO(_generator(), 0, 3), ValueError, "examples must be ≥ 1, got 0"),
    (lambda: GLO(_generator(), 10, 3.0), TypeError, "latent_dim must be an int"),
    (lambda: GLO(_generator(), 10, 3, levels=1), ValueError, "levels must be ≥ 2, got 1"),
    (lambda: _glo().loss(torch.tensor([0, 20]), _images(2)), ValueError, r"index must lie in 0\.\.19"),
    (lambda: _glo().loss(torch.tensor([0, -1]), _images(2)), ValueError, r"index must lie in 0\.\.19"),
    (lambda: _glo().loss(torch.tensor([0.0, 1.0]), _images(2)), ValueError, "index must be a 1-D tensor of integer"),
    (lambda: _glo().loss(torch.tensor([[0, 1]]), _images(2)), ValueError, "index must be a 1-D tensor of integer"),
    (lambda: _glo().loss(torch.tensor([0, 1, 2]), _images(2)), ValueError, "index has 3 entries for 2 images"),
    (lambda: _glo().loss(torch.tensor([0, 1]), _images(2) + 0.5), ValueError,
     r"images must hold integer grey levels in \[0, 4\]"),
    (lambda: _glo().loss(torch.tensor([0, 1]), torch.zeros(2, 1, 3, 3)), ValueError, r"images must have shape \(B, 1, 4, 4\)"),
    (lambda: _glo().reconstruct(torch.tensor([True])), ValueError, "index must be a 1-D tensor of integer"),
    (lambda: _glo().decode(torch.zeros(2, 4)), ValueError, r"z must have shape \(B, 3\)"),
    (lambda: _glo().fit_code_distribution(jitter=-1.0), ValueError, "jitter must be finite and ≥ 0"),
    (lambda: _glo().sample(0), ValueError, "n must be ≥ 1, got 0"),
])
def test_glo_rejects_bad_input(call, error, message):
    with pytest.raises(error, match=message):
        call()


# --- the digit classifier -------------------------------------------------------------------------------


def _classifier(seed=0):
    torch.manual_seed(seed)
    return DigitClassifier((1, 8, 8), levels=17, classes=10, hidden=16).eval()


def test_judge_reports_confidence_labels_and_spread():
    classifier = _classifier()
    images = torch.randint(0, 17, (40, 1, 8, 8), generator=torch.Generator().manual_seed(0)).float()
    verdict = judge(classifier, images)
    with torch.no_grad():
        probabilities = torch.softmax(classifier(images), 1)
    assert torch.allclose(verdict.probabilities, probabilities, atol=1e-6)
    assert torch.equal(verdict.labels, probabilities.argmax(1))
    assert verdict.confidence == pytest.approx(probabilities.max(1).values.mean().item(), rel=1e-6)
    flat = images.reshape(40, -1)
    for k in range(10):
        members = flat[verdict.labels == k]
        if len(members) >= 2:
            assert verdict.spread[k].item() == pytest.approx(members.std(0).mean().item(), rel=1e-5)
        else:
            assert math.isnan(verdict.spread[k].item())
    assert verdict.spread.shape == (10,)


def test_spread_is_nan_for_classes_with_fewer_than_two_images_and_zero_for_copies():
    classifier = _classifier()
    image = torch.randint(0, 17, (1, 1, 8, 8), generator=torch.Generator().manual_seed(1)).float()
    one = judge(classifier, image)
    assert torch.isnan(one.spread).all()                      # one image: no class has two
    copies = judge(classifier, image.repeat(5, 1, 1, 1))
    label = copies.labels[0].item()
    assert copies.spread[label].item() == 0.0                 # identical images: no diversity
    assert torch.isnan(torch.cat([copies.spread[:label], copies.spread[label + 1:]])).all()


def test_judge_uses_eval_mode_and_restores_the_mode():
    classifier = _classifier().train()
    images = torch.randint(0, 17, (30, 1, 8, 8), generator=torch.Generator().manual_seed(2)).float()
    first, second = judge(classifier, images), judge(classifier, images)
    assert torch.equal(first.probabilities, second.probabilities)   # no dropout
    assert classifier.training


def test_accuracy_is_the_fraction_labelled_right():
    classifier = _classifier()
    images = torch.randint(0, 17, (30, 1, 8, 8), generator=torch.Generator().manual_seed(3)).float()
    labels = judge(classifier, images).labels
    assert accuracy(classifier, images, labels) == 1.0
    wrong = labels.clone()
    wrong[:12] = (wrong[:12] + 1) % 10
    assert accuracy(classifier, images, wrong) == pytest.approx(18 / 30)


@pytest.mark.slow
def test_train_classifier_learns_the_digits_and_returns_an_eval_mode_model():
    split = data.load_digits()
    classifier = train_classifier(split, steps=150, batch_size=64)
    assert isinstance(classifier, DigitClassifier) and not classifier.training
    assert not any(m.training for m in classifier.modules())
    assert accuracy(classifier, split.test.x, split.test.y) > 0.8
    assert judge(classifier, split.test.x).confidence > 0.5


@pytest.mark.parametrize("call, error, message", [
    (lambda: judge("classifier", torch.zeros(2, 1, 8, 8)), TypeError, "classifier must be a DigitClassifier"),
    (lambda: judge(_classifier(), torch.zeros(2, 1, 4, 4)), ValueError, r"images must have shape \(B, 1, 8, 8\)"),
    (lambda: judge(_classifier(), torch.full((2, 1, 8, 8), 17.0)), ValueError, r"images must hold grey levels in \[0, 16\]"),
    (lambda: judge(_classifier(), torch.full((2, 1, 8, 8), -1.0)), ValueError, r"images must hold grey levels in \[0, 16\]"),
    (lambda: judge(_classifier(), [[0.0]]), TypeError, "images must be a torch.Tensor"),
    (lambda: accuracy(_classifier(), torch.zeros(2, 1, 8, 8), torch.zeros(3)), ValueError, r"labels must have shape \(2,\)"),
    (lambda: accuracy(nn.Linear(2, 2), torch.zeros(2, 1, 8, 8), torch.zeros(2)), TypeError,
     "classifier must be a DigitClassifier"),
    (lambda: train_classifier(torch.zeros(3)), TypeError, "split must be a data.ImageSplit"),
    (lambda: train_classifier(data.load_digits(), batch_size=0), ValueError, "batch_size must be ≥ 1, got 0"),
    (lambda: train_classifier(data.load_digits(), steps=0), ValueError, "steps must be ≥ 1, got 0"),
    (lambda: DigitClassifier(levels=1), ValueError, "levels must be ≥ 2, got 1"),
    (lambda: DigitClassifier(classes=1), ValueError, "classes must be ≥ 2, got 1"),
])
def test_classifier_rejects_bad_input(call, error, message):
    with pytest.raises(error, match=message):
        call()
