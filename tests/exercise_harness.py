"""Run one exercise's checks against any implementation, outside the notebook: the wrong-answer tests.

A chapter's exercise N is the code cell holding its ``### BEGIN SOLUTION`` block (under the heading
"### Exercise N"), followed by its check cells (tagged ``check``). Those checks may use only what the
chapter's first code cell (imports, data) defines and the exercise's function, so they can run here in a
fresh namespace: the setup cell, then the implementation under test, then the checks.
"""

from __future__ import annotations

import re
from pathlib import Path

import jupytext

from course_lib.teaching.exercises import ExerciseFailed

HEADING = re.compile(r"^### Exercise (\d+)", re.MULTILINE)


def exercise_cells(chapter: Path, number: int) -> tuple[str, str, list[str]]:
    """(setup source, solution source, [check sources]) of exercise ``number`` of the jupytext ``chapter``."""
    cells = jupytext.read(chapter).cells
    code = [c for c in cells if c.cell_type == "code"]
    current, found = None, None
    for index, cell in enumerate(cells):
        if cell.cell_type == "markdown" and HEADING.search(cell.source):
            current = int(HEADING.findall(cell.source)[-1])
        elif cell.cell_type == "code" and "### BEGIN SOLUTION" in cell.source and current == number:
            found = index
            break
    if found is None:
        raise LookupError(f"{chapter.name}: no solution cell for exercise {number}")
    checks = []
    for cell in cells[found + 1:]:
        if cell.cell_type != "code" or "check" not in cell.metadata.get("tags", []):
            break
        checks.append(cell.source)
    if not checks:
        raise LookupError(f"{chapter.name}: exercise {number} has no check cell right after its solution")
    return code[0].source, cells[found].source, checks


def run_checks(chapter: Path, number: int, implementation: str | None = None) -> None:
    """Run exercise ``number``'s checks on ``implementation`` (source defining the function; default: the
    chapter's own solution). Raises ``ExerciseFailed`` when a check rejects it."""
    setup, solution, checks = exercise_cells(chapter, number)
    namespace: dict = {"__name__": "__exercise__"}
    exec(compile(setup, f"{chapter.name}:setup", "exec"), namespace)
    exec(compile(implementation or solution, f"{chapter.name}:exercise {number}", "exec"), namespace)
    for i, check in enumerate(checks):
        exec(compile(check, f"{chapter.name}:exercise {number} check {i}", "exec"), namespace)


__all__ = ["ExerciseFailed", "exercise_cells", "exercise_tests", "run_checks"]


def exercise_tests(chapter: Path, wrong: dict[int, dict[str, str]], stubs: dict[int, str]):
    """The three tests every chapter's exercises get, for a test module to bind at top level:
    the solution passes its checks; every answer in ``wrong`` ({exercise: {mistake: source}}) fails them;
    the stub of each function in ``stubs`` ({exercise: function name}) fails them."""
    import pytest

    @pytest.mark.parametrize("number", sorted(wrong))
    def test_the_solution_passes_its_checks(number, capsys):
        run_checks(chapter, number)
        assert f"✔ Exercise {number} —" in capsys.readouterr().out

    @pytest.mark.parametrize("number, mistake", [(n, m) for n, answers in wrong.items() for m in answers])
    def test_a_wrong_answer_fails_its_check(number, mistake):
        with pytest.raises(ExerciseFailed, match=f"Exercise {number}"):
            run_checks(chapter, number, wrong[number][mistake])

    @pytest.mark.parametrize("number", sorted(stubs))
    def test_the_stub_fails_its_check(number):
        stub = f"def {stubs[number]}(*args):\n    raise NotImplementedError('Exercise {number}: write your solution here')\n"
        with pytest.raises(ExerciseFailed, match="not written yet"):
            run_checks(chapter, number, stub)

    return test_the_solution_passes_its_checks, test_a_wrong_answer_fails_its_check, test_the_stub_fails_its_check
