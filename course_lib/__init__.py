"""course_lib: the small, tested library behind the Deep Generative Models course.

Modules hold one concern each (see README): `runtime` (device, seeds, progress bars), `data`
(toy 2D samplers, digits, MNIST files), `density_model` (the protocol every likelihood model
follows), `train` (the fitting loop), `plotting`, `widgets`, `exercises`, `assign`, `bench`,
and one module per model family.
"""

__version__ = "0.1.0"
