"""A digit classifier of the course's own, trained on the training split, to judge generated images
(chapter 08's confidence and spread, chapter 09's sample metrics): no pretrained network is downloaded.

``DigitClassifier`` is a small MLP on images of grey levels (scaled to [−1, 1]); ``train_classifier`` fits it
with Adam on minibatches (through ``train.minimize``, so it is checkpointed and reproducible);
``judge`` reports what it thinks of a set of images: the mean confidence (its largest class probability),
the labels it gives, and the spread of the images it puts in each class.
"""

from __future__ import annotations

import os
from typing import NamedTuple

import torch
import torch.nn.functional as F
from torch import nn

from .. import randomness
from ..data import ImageSplit, scale_levels
from ..nn.dropout import Dropout
from ..validation import as_float_tensor, dropout_rate, positive_int


class DigitClassifier(nn.Module):
    """A small CNN p(y | x) for images (C, H, W) of ``levels`` grey levels: two 3×3 convolutions (the second
    with stride 2), a hidden layer of ``hidden`` units with dropout, the logits. Its penultimate layer's
    activations (``features``) are the image features of chapter 09's sample metrics."""

    def __init__(self, image_shape=(1, 8, 8), levels: int = 17, classes: int = 10, hidden: int = 128,
                 dropout: float = 0.3):
        super().__init__()
        self.image_shape = tuple(positive_int(s, "image_shape") for s in image_shape)
        self.levels, self.classes = positive_int(levels, "levels", minimum=2), positive_int(classes, "classes", minimum=2)
        hidden = positive_int(hidden, "hidden")
        c, h, w = self.image_shape
        self.body = nn.Sequential(nn.Conv2d(c, 32, 3, padding=1), nn.ReLU(),
                                  nn.Conv2d(32, 64, 3, stride=2, padding=1), nn.ReLU(), nn.Flatten(),
                                  nn.Linear(64 * ((h + 1) // 2) * ((w + 1) // 2), hidden), nn.ReLU())
        self.head = nn.Sequential(Dropout(dropout_rate(dropout)), nn.Linear(hidden, self.classes))

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """The penultimate layer's activations (B, hidden) of images (B, C, H, W) of grey levels."""
        return self.body(scale_levels(x, self.levels))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Logits (B, classes) of images (B, C, H, W) of grey levels."""
        return self.head(self.features(x))

    def check_images(self, images, name: str = "images") -> torch.Tensor:
        images = as_float_tensor(images, name)
        if tuple(images.shape[1:]) != self.image_shape or images.ndim != 4:
            raise ValueError(f"{name} must have shape (B, {', '.join(map(str, self.image_shape))}), "
                             f"got {tuple(images.shape)}")
        if images.numel() and ((images < 0).any() or (images > self.levels - 1).any()):
            raise ValueError(f"{name} must hold grey levels in [0, {self.levels - 1}]")
        device = next(self.parameters()).device
        return images.to(device)


def train_classifier(split: ImageSplit, *, steps: int = 1500, batch_size: int = 128, lr: float = 1e-3,
                     checkpoint: str | os.PathLike | None = None, seed: int = 0) -> DigitClassifier:
    """A ``DigitClassifier`` fitted by cross-entropy on ``split.train`` (random minibatches), in eval mode.
    Its accuracy on ``split.test`` is ``accuracy(classifier, split.test.x, split.test.y)``."""
    from ..train import minimize      # train imports the models, which may import the evaluation package

    if not isinstance(split, ImageSplit):
        raise TypeError(f"split must be a data.ImageSplit (data.load_dataset), got {type(split).__name__}")
    batch_size = positive_int(batch_size, "batch_size")
    x, y = split.train.x, split.train.y.long()
    classifier = DigitClassifier(tuple(x.shape[1:]), split.levels, int(y.max()) + 1)

    def objective(generator, step):
        index = randomness.integers(len(x), (batch_size,), generator=generator)   # on the CPU, where x is
        device = next(classifier.parameters()).device
        return F.cross_entropy(classifier(x[index].to(device)), y[index].to(device))

    minimize(classifier, objective, steps=steps, lr=lr, checkpoint=checkpoint, seed=seed, progress=False)
    return classifier.eval()


def accuracy(classifier: DigitClassifier, images, labels) -> float:
    """The fraction of ``images`` whose most probable class is ``labels`` (N,)."""
    _check_classifier(classifier)
    images = classifier.check_images(images)
    labels = torch.as_tensor(labels)
    if labels.shape != (len(images),):
        raise ValueError(f"labels must have shape ({len(images)},), got {tuple(labels.shape)}")
    return judge(classifier, images).labels.eq(labels.to(images.device)).double().mean().item()


class Judgement(NamedTuple):
    """What the classifier thinks of a set of images."""
    confidence: float               # mean over images of the largest class probability
    labels: torch.Tensor            # (N,) the most probable class of each image
    probabilities: torch.Tensor     # (N, classes)
    spread: torch.Tensor            # (classes,) per class: mean per-pixel standard deviation of its images, in
                                    # grey levels (NaN for a class with fewer than 2 images)


def _check_classifier(classifier) -> None:
    if not isinstance(classifier, DigitClassifier):
        raise TypeError(f"classifier must be a DigitClassifier (train_classifier), got {type(classifier).__name__}")


def judge(classifier: DigitClassifier, images) -> Judgement:
    """The classifier's confidence in ``images`` (N, C, H, W) of grey levels, its labels, and each class's
    spread: a generator whose samples it labels confidently draws recognisable digits; a small spread within
    a class means little diversity."""
    _check_classifier(classifier)
    images = classifier.check_images(images)
    training = classifier.training
    classifier.eval()
    with torch.no_grad():
        probabilities = torch.softmax(classifier(images), dim=1)
    classifier.train(training)
    labels = probabilities.argmax(1)
    flat = images.reshape(len(images), -1)
    spread = torch.stack([flat[labels == k].std(0).mean() if (labels == k).sum() > 1
                          else torch.tensor(float("nan"), device=flat.device) for k in range(classifier.classes)])
    return Judgement(probabilities.max(1).values.mean().item(), labels, probabilities, spread)


def features(classifier: DigitClassifier, images, *, batch_size: int = 1024) -> torch.Tensor:
    """The classifier's penultimate-layer features (N, hidden) of ``images`` (N, C, H, W) of grey levels, in
    eval mode and without gradients: the inputs of chapter 09's FID, KID and precision/recall, as Inception-v3's
    pool features are for ImageNet-sized images."""
    _check_classifier(classifier)
    images = classifier.check_images(images)
    batch_size = positive_int(batch_size, "batch_size")
    training = classifier.training
    classifier.eval()
    with torch.no_grad():
        out = torch.cat([classifier.features(part) for part in images.split(batch_size)])
    classifier.train(training)
    return out
