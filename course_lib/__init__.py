"""course_lib: the small, tested library behind the Deep Generative Models course.

Modules hold one concern each: ``runtime`` (device, seeds, progress bars, cache), ``data`` (toy 2D
samplers, digits, MNIST files), ``validation``, ``randomness`` (the ``generator=`` convention),
``distributions`` (the shared probability), ``storage`` (atomic files), ``train`` (the fitting loop);
the subpackages ``models`` (the model contract and one module per family), ``nn`` (shared layers),
``evaluation`` (likelihoods, leaderboard), ``viz`` (figures, widgets) and ``teaching`` (exercise checks,
student builds, benchmarks). The README's layout section explains the cuts.
"""

__version__ = "1.0.0"

from .runtime import keep_freed_memory

keep_freed_memory()        # training and sampling reuse their buffers instead of page-faulting them in again
