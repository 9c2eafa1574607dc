"""Checks for exercise cells, with messages written for the student.

Every check names its exercise, says what was expected and what came out, and raises
``ExerciseFailed`` (an AssertionError, so nbval and pytest count it as a failure). A function the
student has not written yet (it still raises NotImplementedError) fails with a message saying so.
A wrong answer is read for the usual slips — a constant ratio such as N/(N−1), a constant offset (a
missing normaliser), rows that do not sum to one, labels that differ, ``None`` returned, a wrong number
of returned values, a transposed result — and the message says which one it looks like.

**Keep going.** By default a failed check stops "Run All", as any error does. A student stuck on one
exercise can run ``exercises.keep_going()`` once (or start Jupyter with ``DGM_KEEP_GOING=1``): from then
on a cell whose check fails prints a red ✘ banner instead of stopping the run, and ``exercises.report()``,
the last cell of every chapter, lists what failed. Where results are graded — CI, the
tests, the grader: ``CI`` or ``DGM_STRICT_CHECKS`` set — keep-going mode is refused and every failed check
stops, as before.
"""

from __future__ import annotations

import ast
import math
import numbers
import os
import re
import sys
from typing import Any, Callable

import numpy as np
import torch


class ExerciseFailed(AssertionError):
    """An exercise check did not pass; the message explains why."""


# Outcome of every check run in this session, by label: True (passed) or the failure message.
_outcomes: dict[str, bool | str] = {}
_RED, _GREEN, _RESET = "\x1b[1;31m", "\x1b[32m", "\x1b[0m"


def strict() -> bool:
    """True where results are graded (``CI`` or ``DGM_STRICT_CHECKS`` set): failed checks always stop."""
    return any(os.environ.get(name, "").strip() not in ("", "0", "false") for name in ("CI", "DGM_STRICT_CHECKS"))


def _label(exercise: int | None, what: str) -> str:
    if exercise is not None and (isinstance(exercise, bool) or not isinstance(exercise, numbers.Integral)
                                 or exercise < 1):
        raise TypeError(f"exercise must be a positive int or None, got {exercise!r}")
    if not isinstance(what, str) or not what:
        raise TypeError(f"what must be a non-empty str describing the check, got {what!r}")
    return f"Exercise {exercise} — {what}" if exercise is not None else f"Check — {what}"


def _fail(label: str, message: str):
    _outcomes[label] = message
    raise ExerciseFailed(message)


def _passed(label: str) -> None:
    _outcomes[label] = True
    print(f"✔ {label}: OK")


def call(exercise: int, function: Callable, *args, returns: int | None = None, **kwargs) -> Any:
    """Call the student's ``function``; an unfinished exercise becomes a clear ExerciseFailed.

    ``returns``: how many values the function must return (a tuple of that length); ``None`` returned or
    another count fails with a message saying so. Errors the function raises pass through (their traceback
    helps), except in keep-going mode, where they become an ExerciseFailed naming the exercise.
    """
    label = _label(exercise, getattr(function, "__name__", "your function"))
    if not callable(function):
        raise TypeError(f"function must be callable, got {type(function).__name__}")
    if returns is not None and (isinstance(returns, bool) or not isinstance(returns, numbers.Integral) or returns < 1):
        raise TypeError(f"returns must be a positive int or None, got {returns!r}")
    try:
        result = function(*args, **kwargs)
    except NotImplementedError as error:
        needed = re.search(r"Exercise (\d+)", str(error))
        if needed and int(needed.group(1)) != exercise:
            _fail(label, f"{label}: it calls the function of Exercise {needed.group(1)}, which is not "
                         f"written yet — do Exercise {needed.group(1)} first.")
        _fail(label, f"{label}: not written yet — replace the `raise NotImplementedError` "
                     f"in the exercise cell with your solution and run it again. ({error})")
    except Exception as error:
        if _keeping_going():
            _outcomes[label] = f"{label}: your function raised {type(error).__name__}: {error}"
            raise ExerciseFailed(_outcomes[label]) from error
        raise
    if result is None:
        _fail(label, f"{label}: your function returned None — did you forget the `return` line?")
    if returns is not None and returns > 1:
        count = len(result) if isinstance(result, (tuple, list)) else 1
        if count != returns:
            _fail(label, f"{label}: your function should return {returns} values (a tuple, "
                         f"`return a, b{', c' if returns > 2 else ''}`), it returned {count}")
    return result


def _as_array(value, label: str) -> np.ndarray:
    if value is None:
        raise ExerciseFailed(f"{label}: got None — did your function forget the `return` line?")
    if isinstance(value, torch.Tensor):
        value = value.detach().cpu().numpy()
    if np.iscomplexobj(value):
        raise ExerciseFailed(f"{label}: got complex numbers; the answer is real — a square root or "
                             f"logarithm of a negative number, or an eigen-decomposition of a non-symmetric matrix?")
    try:
        array = np.asarray(value, dtype=float)
    except (TypeError, ValueError):
        raise ExerciseFailed(f"{label}: should be numbers (a tensor, array or float), got {type(value).__name__}") from None
    return array


def _is_integral(a: np.ndarray) -> bool:
    return a.size > 0 and np.all(np.isfinite(a)) and np.all(a == np.round(a))


def _shape_hint(actual: np.ndarray, expected: np.ndarray) -> str:
    if actual.size == expected.size and actual.ndim == 2 and actual.T.shape == expected.shape:
        return " — transposed?"
    if actual.size == expected.size:
        return " — the same numbers of values, arranged differently: a missing or extra dimension of size 1?"
    if expected.ndim and actual.ndim + 1 == expected.ndim or actual.ndim == expected.ndim + 1:
        return " — did you sum or average over the wrong axis, or keep a dimension you should drop?"
    return ""


def _holds_integers(value) -> bool:
    if isinstance(value, torch.Tensor):
        return not (value.is_floating_point() or value.is_complex() or value.dtype == torch.bool)
    return np.issubdtype(np.asarray(value).dtype, np.integer)


def diagnose(actual: np.ndarray, expected: np.ndarray, labels: bool = False) -> str:
    """What a wrong ``actual`` looks like next to ``expected`` (same shape, finite): one sentence or ''.

    ``labels``: the expected values are integer labels (counted and compared, not scaled).
    """
    if labels and _is_integral(actual):
        wrong = np.flatnonzero(actual.ravel() != expected.ravel())
        first = np.unravel_index(wrong[0], expected.shape) if expected.ndim else ()
        where = f"at index {tuple(int(i) for i in first)}" if expected.ndim else ""
        message = (f"{len(wrong)} of {expected.size} values differ; the first {where}: expected "
                   f"{expected[first]:.0f}, got {actual[first]:.0f}")
        pairs = set(zip(expected.ravel().tolist(), actual.ravel().tolist()))
        if len(pairs) == len(set(expected.ravel().tolist())) == len(set(actual.ravel().tolist())):
            message += " — the same grouping with other numbers: follow the numbering the prompt asks for"
        return message
    hints = []
    scale = np.abs(expected).max()
    nonzero = np.abs(expected) > 1e-9 * max(scale, 1e-300)
    if nonzero.any() and np.all(actual[~nonzero] == 0):
        ratios = actual[nonzero] / expected[nonzero]
        ratio = float(np.median(ratios))
        if np.allclose(ratios, ratio, rtol=1e-6, atol=0) and not math.isclose(ratio, 1, rel_tol=1e-9):
            hints.append(_ratio_hint(ratio, actual.size))
    if actual.size > 1 and not hints:
        offsets = actual - expected
        offset = float(np.median(offsets))
        if abs(offset) > 1e-12 and np.allclose(offsets, offset, rtol=0, atol=1e-6 * max(1.0, abs(offset))):
            hints.append(_offset_hint(offset))
    if expected.ndim >= 2 and np.allclose(expected.sum(-1), 1, atol=1e-6) and np.all(expected >= 0):
        sums = actual.sum(-1)
        if not np.allclose(sums, 1, atol=1e-4):
            hints.append(f"each row should sum to one (probabilities over the last axis); yours sum to "
                         f"between {sums.min():.4g} and {sums.max():.4g} — normalise over the last axis")
    return "; ".join(hint for hint in hints if hint)


def _ratio_hint(ratio: float, size: int) -> str:
    hint = f"yours are {ratio:.6g} × the expected values everywhere"
    if math.isclose(ratio, -1, rel_tol=1e-6):
        return hint + " — the sign is flipped"
    for factor, name in ((2, "2"), (0.5, "½"), (math.log(2), "ln 2"), (1 / math.log(2), "1/ln 2")):
        if math.isclose(ratio, factor, rel_tol=1e-6):
            return hint + f" — a missing or extra factor {name}?"
    if ratio > 1:
        n = 1 / (ratio - 1) + 1       # ratio = N / (N − 1)
        if round(n) >= 3 and abs(n - round(n)) < 1e-3:
            return (hint + f" = N/(N−1) with N = {round(n)}: did you divide by N − 1? Use the 1/N "
                    f"(maximum-likelihood, biased) estimate")
    elif ratio > 0:
        n = 1 / (1 - ratio)            # ratio = (N − 1) / N
        if round(n) >= 3 and abs(n - round(n)) < 1e-3:
            return hint + f" = (N−1)/N with N = {round(n)}: did you divide by N instead of N − 1?"
    # One wrong number is always "some factor" off the right one: say so only for several values.
    return hint + " — a missing or extra factor?" if size > 1 else ""


def _offset_hint(offset: float) -> str:
    hint = f"yours are off by a constant {offset:+.6g} everywhere — a missing normalising constant?"
    half_log_2pi = 0.5 * math.log(2 * math.pi)
    k = offset / half_log_2pi
    if abs(k - round(k)) < 1e-4 and round(k) != 0:
        hint += f" ({round(k)} × ½ log 2π: the Gaussian's normaliser)"
    return hint


def expect_close(what: str, actual, expected, *, exercise: int | None = None, rtol: float = 1e-5,
                 atol: float = 1e-8, hint: str = "") -> None:
    """Pass when ``actual`` has ``expected``'s shape and matches it within rtol/atol; print a short OK.

    ``exercise``: the exercise number this check belongs to (None for a check of the chapter's results).
    On failure the message shows both values, what the difference looks like (``diagnose``) and ``hint``.
    """
    label = _label(exercise, what)
    if not isinstance(hint, str):
        raise TypeError(f"hint must be a str, got {type(hint).__name__}")
    actual_a, expected_a = _as_array(actual, label), _as_array(expected, "expected")
    if actual_a.shape != expected_a.shape:
        _fail(label, f"{label}: expected shape {expected_a.shape}, got shape {actual_a.shape}"
                     f"{_shape_hint(actual_a, expected_a)}")
    if not np.isfinite(actual_a).all():
        _fail(label, f"{label}: your result contains {int((~np.isfinite(actual_a)).sum())} NaN or inf values"
                     " — a log of zero, a division by zero, or exp of a large number? (work in log space)")
    if not np.allclose(actual_a, expected_a, rtol=rtol, atol=atol):
        gap = np.abs(actual_a - expected_a).max()
        show = (lambda a: np.array2string(a, precision=4, threshold=6)) if actual_a.size > 1 else (lambda a: f"{a.item():.6g}")
        reading = diagnose(actual_a, expected_a, labels=_holds_integers(expected))
        _fail(label, f"{label}: expected {show(expected_a)}, got {show(actual_a)} "
                     f"(largest difference {gap:.3g}, tolerance rtol={rtol}, atol={atol})"
                     + (f".\n  Looks like: {reading}" if reading else "") + (f".\n  Hint: {hint}" if hint else ""))
    _passed(label)


def expect_true(what: str, condition: bool, hint: str = "", *, exercise: int | None = None) -> None:
    """Pass when ``condition`` (a bool, or a one-element bool tensor/array) holds; else fail with ``what`` and ``hint``."""
    label = _label(exercise, what)
    if isinstance(condition, torch.Tensor):
        if condition.numel() != 1:
            raise TypeError(f"condition must be a single truth value, got a tensor of shape {tuple(condition.shape)}")
        if condition.dtype != torch.bool:  # bool(tensor(nan)) is True: only comparisons count
            raise TypeError(f"condition must be a bool (a comparison), got a tensor of dtype {condition.dtype}")
        condition = bool(condition.item())
    if not isinstance(condition, (bool, np.bool_)):
        raise TypeError(f"condition must be a bool, got {type(condition).__name__}")
    if not condition:
        _fail(label, f"{label}: this does not hold yet." + (f" Hint: {hint}" if hint else ""))
    _passed(label)


# --- keep-going mode ---------------------------------------------------------------------------------------

class _ReportFailures(ast.NodeTransformer):
    """Wraps a cell that runs checks (it mentions ``exercises``) in try/except: a failure prints a banner."""

    def visit_Module(self, node: ast.Module) -> ast.Module:
        mentions = any(isinstance(n, ast.Name) and n.id == "exercises" for n in ast.walk(node))
        if not mentions or not node.body:
            return node
        handler = ast.parse(
            "try:\n    pass\nexcept Exception as _exercise_error:\n"
            "    __import__('course_lib.teaching.exercises', fromlist=['_']).banner(_exercise_error)\n").body[0]
        handler.body = node.body
        node.body = [handler]
        return ast.fix_missing_locations(node)


def _keeping_going() -> bool:
    shell = _shell()
    return shell is not None and any(isinstance(t, _ReportFailures) for t in shell.ast_transformers)


def _shell():
    ipython = sys.modules.get("IPython")
    return ipython.get_ipython() if ipython is not None else None


def keep_going(on: bool = True) -> bool:
    """Let "Run All" carry on past failed checks in this notebook (a red ✘ banner instead of a stop).

    Returns whether keep-going mode is on. Refused (stays off) where results are graded (``strict()``)
    and outside IPython/Jupyter.
    """
    if not isinstance(on, bool):
        raise TypeError(f"on must be a bool, got {type(on).__name__}")
    shell = _shell()
    shell_transformers = [] if shell is None else shell.ast_transformers
    shell_transformers[:] = [t for t in shell_transformers if not isinstance(t, _ReportFailures)]
    if not on:
        return False
    if strict():
        print("Keep-going mode is off here: CI or DGM_STRICT_CHECKS is set, so every failed check stops the run.")
        return False
    if shell is None:
        print("Keep-going mode needs Jupyter/IPython; here a failed check raises ExerciseFailed.")
        return False
    shell_transformers.append(_ReportFailures())
    print("Keep-going mode: a failed check prints a red ✘ and the run goes on; the last cell lists what failed.")
    return True


def banner(error: BaseException) -> None:
    """Print the red ✘ banner of a failed cell (keep-going mode) and remember the failure for ``report``."""
    message = str(error) if isinstance(error, ExerciseFailed) else f"{type(error).__name__}: {error}"
    if not isinstance(error, ExerciseFailed):
        _outcomes[f"a cell raised {message}"] = message
    print(f"{_RED}✘ {message}{_RESET}\n{_RED}  (keep-going mode: the run goes on; fix this and run the cell "
          f"again){_RESET}")


def report() -> None:
    """The last cell of a chapter: how many checks passed in this session and which failed (then fail)."""
    failed = {label: message for label, message in _outcomes.items() if message is not True}
    passed = sum(message is True for message in _outcomes.values())
    if not failed:
        print(f"{_GREEN}✔ All {passed} checks run in this session passed.{_RESET}")
        return
    lines = "\n".join(f"  ✘ {label}" for label in failed)
    raise ExerciseFailed(f"{len(failed)} check(s) failed, {passed} passed:\n{lines}")


if os.environ.get("DGM_KEEP_GOING", "").strip() not in ("", "0", "false") and _shell() is not None:
    keep_going()
