"""Evaluation: likelihoods (nats per example, bits per dimension) and the course leaderboard."""

from . import leaderboard
from .likelihood import bits_per_dim, mean_nll

__all__ = ["bits_per_dim", "leaderboard", "mean_nll"]
