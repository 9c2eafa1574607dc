import pytest
import torch

from course_lib.teaching import exercises
from course_lib.teaching.exercises import ExerciseFailed


def stub(x):
    raise NotImplementedError("Exercise 2: write your solution here")


def test_call_turns_an_unwritten_exercise_into_a_clear_failure():
    with pytest.raises(ExerciseFailed, match=r"Exercise 2 — stub: not written yet"):
        exercises.call(2, stub, 1.0)
    assert exercises.call(1, lambda x: x + 1, 1) == 2


def test_call_lets_real_errors_through():
    def broken(x):
        return x.nope
    with pytest.raises(AttributeError):
        exercises.call(1, broken, 1)


def test_expect_close_passes_and_says_so(capsys):
    exercises.expect_close("mean", torch.tensor([1.0, 2.0]), [1.0, 2.0 + 1e-9], exercise=3)
    assert "✔ Exercise 3 — mean: OK" in capsys.readouterr().out


@pytest.mark.parametrize("actual, expected, message", [
    (torch.tensor([1.0, 2.5]), [1.0, 2.0], r"Exercise 3 — mean: expected \[1\. 2\.\], got \[1\.  2\.5\]"),
    (torch.tensor([1.0]), [1.0, 2.0], r"expected shape \(2,\), got shape \(1,\)"),
    (torch.tensor([float("nan"), 1.0]), [1.0, 2.0], "NaN or inf"),
    (None, [1.0], "expected shape"),
    ("text", [1.0], "should be numbers"),
])
def test_expect_close_explains_what_is_wrong(actual, expected, message):
    with pytest.raises(ExerciseFailed, match=message):
        exercises.expect_close("mean", actual, expected, exercise=3)


def test_expect_close_scalar_message():
    with pytest.raises(ExerciseFailed, match="expected 0.5, got 0.25"):
        exercises.expect_close("fraction", 0.25, 0.5)


def test_expect_true(capsys):
    exercises.expect_true("positive", torch.tensor(True))
    assert "✔ Check — positive: OK" in capsys.readouterr().out
    with pytest.raises(ExerciseFailed, match="Exercise 4 — positive: this does not hold yet. Hint: look"):
        exercises.expect_true("positive", False, "look", exercise=4)


@pytest.mark.parametrize("call, error, message", [
    (lambda: exercises.expect_true("x", "yes"), TypeError, r"condition must be a bool"),
    (lambda: exercises.expect_true("x", torch.tensor([True, False])), TypeError, r"condition must be a single truth value"),
    (lambda: exercises.expect_true("", True), TypeError, r"what must be a non\-empty str describing the check"),
    (lambda: exercises.expect_close("x", 1.0, 1.0, exercise=0), TypeError, r"exercise must be a positive int or None"),
    (lambda: exercises.call(1, "not callable"), TypeError, r"function must be callable"),
])
def test_helpers_reject_bad_input(call, error, message):
    with pytest.raises(error, match=message):
        call()


def test_call_names_the_unfinished_exercise_a_solution_depends_on():
    def uses_exercise_two(x):
        return stub(x)  # the student's exercise 3 calls their unfinished exercise 2
    with pytest.raises(ExerciseFailed, match="Exercise 3 — uses_exercise_two: it calls the function of Exercise 2"):
        exercises.call(3, uses_exercise_two, 1.0)
