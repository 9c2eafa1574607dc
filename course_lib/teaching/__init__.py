"""Course tooling, outside the model namespace: exercise checks, student builds, benchmarks."""

from . import exercises

__all__ = ["exercises"]
