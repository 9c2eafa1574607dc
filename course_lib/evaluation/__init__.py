"""Evaluation: a digit classifier to judge samples and give features, divergences between distributions (closed
forms and estimates from samples), likelihoods (nats per example, bits per dimension) and the Parzen-window estimate, sample metrics (IS, FID,
KID, precision/recall, memorisation), mode coverage, the gallery of every chapter's samples and the course
leaderboard."""

from . import classifier, divergences, gallery, leaderboard, sample_metrics
from .parzen import ParzenEstimate, parzen_estimate
from .likelihood import bits_per_dim, mean_nll
from .modes import ModeCoverage, mode_coverage

__all__ = ["ModeCoverage", "ParzenEstimate", "classifier", "bits_per_dim", "divergences", "gallery", "leaderboard",
           "mean_nll", "mode_coverage", "parzen_estimate", "sample_metrics"]
