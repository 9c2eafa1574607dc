"""Checks for exercise cells, with messages written for the student.

Every check names its exercise, says what was expected and what came out, and raises
``ExerciseFailed`` (an AssertionError, so nbval and pytest count it as a failure). A function the
student has not written yet (it still raises NotImplementedError) fails with a message saying so.
"""

from __future__ import annotations

import numbers
import re
from typing import Any, Callable

import numpy as np
import torch


class ExerciseFailed(AssertionError):
    """An exercise check did not pass; the message explains why."""


def _label(exercise: int | None, what: str) -> str:
    if exercise is not None and (isinstance(exercise, bool) or not isinstance(exercise, numbers.Integral)
                                 or exercise < 1):
        raise TypeError(f"exercise must be a positive int or None, got {exercise!r}")
    if not isinstance(what, str) or not what:
        raise TypeError(f"what must be a non-empty str describing the check, got {what!r}")
    return f"Exercise {exercise} — {what}" if exercise is not None else f"Check — {what}"


def call(exercise: int, function: Callable, *args, **kwargs) -> Any:
    """Call the student's ``function``; an unfinished exercise becomes a clear ExerciseFailed."""
    label = _label(exercise, getattr(function, "__name__", "your function"))
    if not callable(function):
        raise TypeError(f"function must be callable, got {type(function).__name__}")
    try:
        return function(*args, **kwargs)
    except NotImplementedError as error:
        needed = re.search(r"Exercise (\d+)", str(error))
        if needed and int(needed.group(1)) != exercise:
            raise ExerciseFailed(f"{label}: it calls the function of Exercise {needed.group(1)}, which is not "
                                 f"written yet — do Exercise {needed.group(1)} first.") from None
        raise ExerciseFailed(f"{label}: not written yet — replace the `raise NotImplementedError` "
                             f"in the exercise cell with your solution and run it again. ({error})") from None


def _as_array(value, name: str) -> np.ndarray:
    if isinstance(value, torch.Tensor):
        value = value.detach().cpu().numpy()
    try:
        array = np.asarray(value, dtype=float)
    except (TypeError, ValueError):
        raise ExerciseFailed(f"{name} should be numbers (a tensor, array or float), got {type(value).__name__}") from None
    return array


def expect_close(what: str, actual, expected, *, exercise: int | None = None, rtol: float = 1e-5,
                 atol: float = 1e-8) -> None:
    """Pass when ``actual`` has ``expected``'s shape and matches it within rtol/atol; print a short OK.

    ``exercise``: the exercise number this check belongs to (None for a check of the chapter's results).
    """
    label = _label(exercise, what)
    actual_a, expected_a = _as_array(actual, label), _as_array(expected, "expected")
    if actual_a.shape != expected_a.shape:
        raise ExerciseFailed(f"{label}: expected shape {expected_a.shape}, got shape {actual_a.shape}")
    if not np.isfinite(actual_a).all():
        raise ExerciseFailed(f"{label}: your result contains NaN or inf values")
    if not np.allclose(actual_a, expected_a, rtol=rtol, atol=atol):
        gap = np.abs(actual_a - expected_a).max()
        show = (lambda a: np.array2string(a, precision=4, threshold=6)) if actual_a.size > 1 else (lambda a: f"{a.item():.6g}")
        raise ExerciseFailed(f"{label}: expected {show(expected_a)}, got {show(actual_a)} "
                             f"(largest difference {gap:.3g}, tolerance rtol={rtol}, atol={atol})")
    print(f"✔ {label}: OK")


def expect_true(what: str, condition: bool, hint: str = "", *, exercise: int | None = None) -> None:
    """Pass when ``condition`` holds; otherwise fail with ``what`` and an optional ``hint``."""
    label = _label(exercise, what)
    if isinstance(condition, torch.Tensor):
        if condition.numel() != 1:
            raise TypeError(f"condition must be a single truth value, got a tensor of shape {tuple(condition.shape)}")
        condition = bool(condition.item())
    if not isinstance(condition, (bool, np.bool_)):
        raise TypeError(f"condition must be a bool, got {type(condition).__name__}")
    if not condition:
        raise ExerciseFailed(f"{label}: this does not hold yet." + (f" Hint: {hint}" if hint else ""))
    print(f"✔ {label}: OK")
