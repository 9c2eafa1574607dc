"""Every exercise of every chapter fails its check on the student stub, and the student version retrains nothing.

The solutions' side is the chapters' nbval run (``make test-chapters``, with the plugin
``course_lib.teaching.chapter_checks``): it fails unless every exercise printed its ✔. This test runs the
student version once, with ``DGM_CACHE_ONLY`` set, against the checkpoints that run left in the course
cache: any training would raise. So each chapter executes twice in all.
"""

import nbformat
import pytest
from nbclient import NotebookClient

from course_lib import runtime
from course_lib.teaching import assign
from course_lib.teaching.chapter_checks import exercise_numbers
from course_lib.teaching.kernel_messages import install_wakeup_guard

install_wakeup_guard()            # nbclient would otherwise wait out a missed zmq wake-up (kernel_messages)

CHAPTERS = assign.chapter_notebooks()


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


def _checkpoints():
    return {path.name: path.stat().st_mtime_ns for path in runtime.cache_dir().glob("*.pt")}


@pytest.mark.parametrize("chapter", CHAPTERS, ids=lambda p: p.stem)
def test_chapter_has_numbered_exercises_and_the_student_version_hides_the_solutions(chapter):
    original = nbformat.read(chapter, as_version=4)
    student, solutions = assign.student_notebook(original)
    numbers = exercise_numbers(original)
    assert len(numbers) >= 3, f"{chapter.name}: needs at least three exercises, found {numbers}"
    assert numbers == list(range(1, len(numbers) + 1)), f"{chapter.name}: exercises are numbered {numbers}"
    student_text = "\n".join(cell.source for cell in student.cells)
    for solution in solutions:
        for line in solution.lines:
            if len(line.strip()) >= 20:
                assert line.strip() not in student_text, f"{chapter.name}: solution line leaked: {line.strip()!r}"


@pytest.mark.slow
@pytest.mark.course_cache
@pytest.mark.parametrize("chapter", CHAPTERS, ids=lambda p: p.stem)
def test_checks_fail_on_stubs_and_the_student_version_retrains_nothing(chapter, monkeypatch):
    original = nbformat.read(chapter, as_version=4)
    student, numbers = assign.student_notebook(original)[0], exercise_numbers(original)
    monkeypatch.setenv("DGM_CACHE_ONLY", "1")  # the kernel inherits it: fit loads, or raises
    before = _checkpoints()
    NotebookClient(student, timeout=600, kernel_name="python3", allow_errors=True,
                   resources={"metadata": {"path": str(chapter.parent)}}).execute()
    errors = _errors(student)
    stray = {i: e for i, e in errors.items() if not _is_check(student.cells[i])}
    if any("DGM_CACHE_ONLY" in message for _, message in stray.values()) and not runtime.in_ci():
        pytest.skip(f"{chapter.name}: the course cache ({runtime.cache_dir()}) lacks this chapter's trained models; "
                    "run `make test-chapters` first (CI fails here instead)")
    assert not stray, f"{chapter.name}: cells outside the checks fail without the solutions: {stray}"
    for n in numbers:
        assert any(_is_check(student.cells[i]) and name == "ExerciseFailed" and f"Exercise {n} " in message
                   for i, (name, message) in errors.items()), f"{chapter.name}: exercise {n}'s check passes on the stub"
    assert _checkpoints() == before, f"{chapter.name}: the student version wrote checkpoints (it trained)"
