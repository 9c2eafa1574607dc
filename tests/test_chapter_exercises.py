"""Every exercise of every chapter: its check passes with the solution and fails on the student stub."""

from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

from course_lib.teaching import assign

CHAPTERS = sorted((Path(__file__).resolve().parent.parent / "chapters").glob("[0-9][0-9]_*.ipynb"))


def _execute(notebook, folder):
    NotebookClient(notebook, timeout=600, kernel_name="python3", allow_errors=True,
                   resources={"metadata": {"path": str(folder)}}).execute()
    return notebook


def _errors(notebook):
    """{cell index: (exception name, message)} for every cell that raised."""
    found = {}
    for index, cell in enumerate(notebook.cells):
        for output in cell.get("outputs", []):
            if output.output_type == "error":
                found[index] = (output.ename, output.evalue)
    return found


def _is_check(cell):
    return "check" in cell.metadata.get("tags", [])


@pytest.mark.slow
@pytest.mark.parametrize("chapter", CHAPTERS, ids=lambda p: p.stem)
def test_checks_pass_with_solutions_and_fail_on_stubs(chapter):
    original = nbformat.read(chapter, as_version=4)
    student, solutions = assign.student_notebook(original)
    numbers = sorted({s.exercise for s in solutions})
    assert len(numbers) >= 3, f"{chapter.name}: needs at least three exercises, found {numbers}"
    assert numbers == list(range(1, len(numbers) + 1)), f"{chapter.name}: exercises are numbered {numbers}"

    # The student version gives nothing away.
    student_text = "\n".join(cell.source for cell in student.cells)
    for solution in solutions:
        for line in solution.lines:
            if len(line.strip()) >= 20:
                assert line.strip() not in student_text, f"{chapter.name}: solution line leaked: {line.strip()!r}"

    # With the solutions: every exercise's check prints its OK, and no cell fails.
    solved = _execute(original, chapter.parent)
    assert not _errors(solved), f"{chapter.name} fails with the solutions: {_errors(solved)}"
    printed = "\n".join(o.get("text", "") for c in solved.cells if _is_check(c) for o in c.get("outputs", []))
    for n in numbers:
        assert f"✔ Exercise {n} —" in printed, f"{chapter.name}: no passing check for exercise {n}"

    # With the stubs: each exercise's check fails with its own message; everything else still runs.
    errors = _errors(_execute(student, chapter.parent))
    for n in numbers:
        assert any(_is_check(student.cells[i]) and name == "ExerciseFailed" and f"Exercise {n} " in message
                   for i, (name, message) in errors.items()), f"{chapter.name}: exercise {n}'s check passes on the stub"
    stray = {i: e for i, e in errors.items() if not _is_check(student.cells[i])}
    assert not stray, f"{chapter.name}: cells outside the checks fail without the solutions: {stray}"
