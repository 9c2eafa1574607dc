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
    (None, [1.0], "got None — did your function forget the `return` line"),
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


# --- messages that say what a wrong answer looks like ---------------------------------------------------

def _message(actual, expected, **kwargs) -> str:
    with pytest.raises(ExerciseFailed) as failure:
        exercises.expect_close("value", actual, expected, exercise=2, **kwargs)
    return str(failure.value)


def test_the_unbiased_covariance_is_recognised():
    import numpy as np
    x = np.random.default_rng(0).normal(size=(500, 4))
    biased, unbiased = np.cov(x.T, bias=True), np.cov(x.T)
    message = _message(np.linalg.eigvalsh(unbiased)[:2].mean(), np.linalg.eigvalsh(biased)[:2].mean())
    assert "1.002 × the expected values" in message and "N/(N−1) with N = 500: did you divide by N − 1?" in message
    assert "N = 500" in _message(unbiased, biased)
    assert "(N−1)/N with N = 500: did you divide by N instead of N − 1?" in _message(biased, unbiased)


@pytest.mark.parametrize("actual, expected, words", [
    (torch.tensor([-1.0, 2.0, -3.0]), torch.tensor([1.0, -2.0, 3.0]), "the sign is flipped"),
    (torch.tensor([2.0, 4.0, 6.0]), torch.tensor([1.0, 2.0, 3.0]), "a missing or extra factor 2?"),
    (torch.tensor([1.5, 2.5, -0.5]), torch.tensor([1.0, 2.0, -1.0]), "off by a constant +0.5 everywhere"),
    (torch.tensor([0.1, 0.2]) - 3 * 0.9189385332046727, torch.tensor([0.1, 0.2]), "-3 × ½ log 2π"),
    (torch.tensor([[0.2, 0.2], [0.5, 0.9]]), torch.tensor([[0.5, 0.5], [0.3, 0.7]]),
     "each row should sum to one (probabilities over the last axis); yours sum to between 0.4 and 1.4"),
    (torch.tensor([0, 2, 2, 1, 1]), torch.tensor([0, 1, 1, 2, 2]),
     "4 of 5 values differ; the first at index (1,): expected 1, got 2 — the same grouping with other numbers"),
    (torch.tensor([0, 1, 2, 1]), torch.tensor([0, 1, 1, 1]), "1 of 4 values differ; the first at index (2,): expected 1, got 2"),
    (torch.ones(2, 3), torch.ones(3, 2), "expected shape (3, 2), got shape (2, 3) — transposed?"),
    (torch.ones(3, 1), torch.ones(3), "arranged differently: a missing or extra dimension of size 1?"),
    (torch.ones(3), torch.ones(3, 4), "did you sum or average over the wrong axis"),
    (torch.tensor([1 + 1j]), torch.tensor([1.0]), "got complex numbers"),
    (torch.tensor([float("nan"), 1.0]), [1.0, 2.0], "1 NaN or inf values — a log of zero"),
])
def test_expect_close_names_the_kind_of_mistake(actual, expected, words):
    assert words in _message(actual, expected)


def test_a_plain_wrong_number_gets_no_invented_diagnosis():
    message = _message(0.3, 0.5)
    assert "expected 0.5, got 0.3" in message and "Looks like" not in message
    assert "Hint: write it in log space" in _message(0.3, 0.5, hint="write it in log space")


def test_call_catches_missing_return_and_wrong_number_of_values():
    with pytest.raises(ExerciseFailed, match=r"returned None — did you forget the `return` line\?"):
        exercises.call(1, lambda: None)
    with pytest.raises(ExerciseFailed, match=r"should return 3 values .* it returned 2"):
        exercises.call(1, lambda: (1, 2), returns=3)
    with pytest.raises(ExerciseFailed, match=r"should return 2 values .* it returned 1"):
        exercises.call(1, lambda: torch.ones(2), returns=2)
    assert exercises.call(1, lambda: (1, 2), returns=2) == (1, 2)
    with pytest.raises(TypeError, match="returns must be a positive int"):
        exercises.call(1, lambda: 1, returns=0)


def test_expect_true_refuses_a_nan_that_python_would_call_true():
    with pytest.raises(TypeError, match=r"condition must be a bool \(a comparison\), got a tensor of dtype torch.float32"):
        exercises.expect_true("finite", torch.tensor(float("nan")))


# --- keep-going mode ------------------------------------------------------------------------------------

@pytest.fixture
def shell(monkeypatch):
    from IPython.core.interactiveshell import InteractiveShell
    monkeypatch.delenv("CI", raising=False)
    monkeypatch.delenv("DGM_STRICT_CHECKS", raising=False)
    shell = InteractiveShell.instance()
    exercises._outcomes.clear()
    yield shell
    exercises.keep_going(False)
    exercises._outcomes.clear()


FAILING_CELL = ("from course_lib.teaching import exercises\n"
                "exercises.expect_close('weights', [0.2, 0.8], [0.5, 0.5], exercise=2)\n"
                "after_the_check = True\n")


def test_keep_going_prints_a_banner_and_the_run_goes_on(shell, capsys):
    assert exercises.keep_going() is True
    result = shell.run_cell(FAILING_CELL)
    assert result.success, "a failed check must not stop Run All in keep-going mode"
    out = capsys.readouterr().out
    assert "✘ Exercise 2 — weights: expected [0.5 0.5], got [0.2 0.8]" in out and "the run goes on" in out
    assert "after_the_check" not in shell.user_ns     # the rest of that cell did not run
    assert shell.run_cell("x = 1 + 1").success
    shell.run_cell("exercises.expect_true('ok', True, exercise=3)")
    with pytest.raises(ExerciseFailed, match=r"1 check\(s\) failed, 1 passed:\n  ✘ Exercise 2 — weights"):
        exercises.report()
    # Fixed and run again: the failure is forgotten.
    shell.run_cell("exercises.expect_close('weights', [0.5, 0.5], [0.5, 0.5], exercise=2)")
    exercises.report()
    assert "✔ All 2 checks run in this session passed." in capsys.readouterr().out


def test_keep_going_reports_errors_raised_by_the_students_function(shell, capsys):
    exercises.keep_going()
    result = shell.run_cell("from course_lib.teaching import exercises\n"
                            "exercises.call(4, lambda x: x.nope, 1.0)\n")
    assert result.success
    assert "✘ Exercise 4 — <lambda>: your function raised AttributeError" in capsys.readouterr().out


@pytest.mark.parametrize("variable", ["CI", "DGM_STRICT_CHECKS"])
def test_keep_going_is_refused_where_results_are_graded(shell, monkeypatch, capsys, variable):
    monkeypatch.setenv(variable, "true")
    assert exercises.keep_going() is False
    assert "Keep-going mode is off here" in capsys.readouterr().out
    result = shell.run_cell(FAILING_CELL)
    assert isinstance(result.error_in_exec, ExerciseFailed)


def test_keep_going_off_again_and_outside_ipython(shell, capsys):
    exercises.keep_going()
    exercises.keep_going(False)
    assert isinstance(shell.run_cell(FAILING_CELL).error_in_exec, ExerciseFailed)
    with pytest.raises(TypeError, match="on must be a bool"):
        exercises.keep_going("yes")
