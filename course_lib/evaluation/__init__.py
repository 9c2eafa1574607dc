"""Evaluation: a digit classifier to judge samples, divergences between distributions (closed forms and estimates from samples), likelihoods
(nats per example, bits per dimension), mode coverage and the course leaderboard."""

from . import classifier, divergences, leaderboard
from .likelihood import bits_per_dim, mean_nll
from .modes import ModeCoverage, mode_coverage

__all__ = ["ModeCoverage", "classifier", "bits_per_dim", "divergences", "leaderboard", "mean_nll", "mode_coverage"]
