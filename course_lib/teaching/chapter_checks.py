"""A pytest plugin for the chapters' nbval run: it is also the run of the exercise solutions.

nbval executes every code cell of a chapter (in lax mode a cell fails only when it raises, so the
check cells' asserts are what it tests). This plugin adds one item after each chapter's cells:
"every exercise printed its ✔", read from the outputs of the check cells. A check cell that was
emptied, or an exercise whose check never ran, fails it. Together with the student-version test
(the stubs fail their checks; tests/test_chapter_exercises.py), each chapter runs twice in all.

Load it with ``pytest -p course_lib.teaching.chapter_checks --nbval-lax chapters/*.ipynb`` (``make test``).
"""

from __future__ import annotations

import nbformat
import pytest

from .assign import student_notebook


def exercise_numbers(notebook: nbformat.NotebookNode) -> list[int]:
    """The exercise numbers of a chapter notebook (the solutions it holds)."""
    return sorted({solution.exercise for solution in student_notebook(notebook)[1]})


def _printed(outputs) -> str:
    return "".join(output.get("text", "") for output in outputs or () if output.get("output_type") == "stream")


class ExerciseChecks(pytest.Item):
    """Passes when every exercise of the chapter printed "✔ Exercise N —" from a check cell."""

    def __init__(self, *, cells, **kwargs):
        super().__init__(**kwargs)
        self.cells = cells

    def runtest(self):
        numbers = exercise_numbers(nbformat.read(self.path, as_version=4))
        printed = "".join(_printed(cell.test_outputs) for cell in self.cells
                          if "check" in cell.cell.metadata.get("tags", []))
        missing = [n for n in numbers if f"✔ Exercise {n} —" not in printed]
        if missing:
            raise AssertionError(f"{self.path.name}: no passing check printed for exercises {missing}")

    def reportinfo(self):
        return self.path, None, f"{self.path.name}: every exercise check passed"


@pytest.hookimpl(trylast=True)
def pytest_collection_modifyitems(session, config, items):
    chapters: dict = {}
    for item in items:
        if type(item).__name__ == "IPyNbCell":   # nbval's cell items, grouped by notebook
            chapters.setdefault(item.parent, []).append(item)
    for notebook, cells in chapters.items():
        check = ExerciseChecks.from_parent(notebook, name="every exercise check passed", cells=cells)
        items.insert(items.index(cells[-1]) + 1, check)
