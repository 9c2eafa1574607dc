import subprocess
import sys

import nbformat
import pytest

from course_lib.teaching import assign

SOURCE = """def f(x):
    \"\"\"doc\"\"\"
    ### BEGIN SOLUTION
    y = x + 1
    return y
    ### END SOLUTION

def g():
    ### BEGIN SOLUTION
    return 2
    ### END SOLUTION"""


def test_strip_solutions_keeps_indentation_and_finds_every_block():
    out, hidden = assign.strip_solutions(SOURCE, exercise=3)
    assert hidden == [["    y = x + 1", "    return y"], ["    return 2"]]
    assert out.count('    raise NotImplementedError("Exercise 3: write your solution here")') == 2
    assert "x + 1" not in out and "BEGIN" not in out
    namespace = {}
    exec(out, namespace)  # the stubbed code is still valid Python
    with pytest.raises(NotImplementedError, match="Exercise 3"):
        namespace["f"](1)


@pytest.mark.parametrize("source, message", [
    ("### BEGIN SOLUTION\nx = 1", "without ### END"),
    ("x = 1\n### END SOLUTION", "without ### BEGIN"),
    ("### BEGIN SOLUTION\n### BEGIN SOLUTION\n### END SOLUTION", "nested"),
])
def test_strip_solutions_rejects_broken_markers(source, message):
    with pytest.raises(ValueError, match=message):
        assign.strip_solutions(source, 1)


def _notebook(*cells):
    nb = nbformat.v4.new_notebook()
    nb.metadata["jupytext"] = {"formats": "ipynb,py:percent"}
    nb.cells = list(cells)
    return nb


def test_student_notebook_numbers_exercises_by_heading_and_clears_outputs():
    code = nbformat.v4.new_code_cell("def f():\n    ### BEGIN SOLUTION\n    return 42\n    ### END SOLUTION")
    code.outputs = [nbformat.v4.new_output("stream", text="42")]
    code.execution_count = 3
    answer = nbformat.v4.new_markdown_cell("### BEGIN SOLUTION\nBecause of Jensen.\n### END SOLUTION")
    nb = _notebook(nbformat.v4.new_markdown_cell("### Exercise 5 — f"), code,
                   nbformat.v4.new_markdown_cell("### Exercise 6 — why?"), answer)
    student, solutions = assign.student_notebook(nb)
    assert [(s.exercise, s.lines) for s in solutions] == [(5, ["    return 42"]), (6, ["Because of Jensen."])]
    assert 'NotImplementedError("Exercise 5' in student.cells[1].source
    assert student.cells[1].outputs == [] and student.cells[1].execution_count is None
    assert "Jensen" not in student.cells[3].source and "Exercise 6" in student.cells[3].source
    assert "jupytext" not in student.metadata
    assert "return 42" in nb.cells[1].source  # the original is untouched


def test_student_notebook_needs_an_exercise_heading():
    nb = _notebook(nbformat.v4.new_code_cell("### BEGIN SOLUTION\nx = 1\n### END SOLUTION"))
    with pytest.raises(ValueError, match="Exercise N"):
        assign.student_notebook(nb)
    with pytest.raises(TypeError, match="notebook must be an nbformat.NotebookNode, got dict"):
        assign.student_notebook({"cells": []})


def test_command_line_builds_student_versions(tmp_path):
    out = tmp_path / "student"
    result = subprocess.run([sys.executable, "-m", "course_lib.teaching.assign", "build", "--out", str(out)],
                            capture_output=True, text=True, check=True)
    chapters = assign.chapter_notebooks()
    assert sorted(p.name for p in out.iterdir()) == [c.name for c in chapters]
    assert "exercises stubbed" in result.stdout
    for chapter in chapters:
        text = (out / chapter.name).read_text()
        assert assign.BEGIN not in text and assign.END not in text


def test_command_line_rejects_missing_chapters(tmp_path):
    result = subprocess.run([sys.executable, "-m", "course_lib.teaching.assign", "build", "--out", str(tmp_path),
                             str(tmp_path / "nope.ipynb")], capture_output=True, text=True)
    assert result.returncode != 0 and "no such chapter notebook" in result.stderr
