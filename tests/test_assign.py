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


@pytest.mark.parametrize("marker", ["###BEGIN SOLUTION", "### begin solution", "# BEGIN SOLUTION", "## Begin Solutions",
                                    "    ###  BEGIN  SOLUTION"])
def test_a_near_miss_marker_fails_the_build_naming_notebook_and_cell(marker):
    code = nbformat.v4.new_code_cell(f"def f():\n{marker}\n    return 42\n    ### END SOLUTION")
    nb = _notebook(nbformat.v4.new_markdown_cell("### Exercise 1 — f"), code)
    with pytest.raises(assign.BuildError, match=r"02_x.ipynb, cell 1 \(id .+\): line 2: .* looks like a solution "
                                                r"marker but is not one"):
        assign.student_notebook(nb, "02_x.ipynb")


def test_a_marker_at_column_zero_inside_a_function_still_gives_a_stub_that_compiles():
    source = "def f(x):\n### BEGIN SOLUTION\n    return x + 1\n### END SOLUTION\n"
    nb = _notebook(nbformat.v4.new_markdown_cell("### Exercise 2 — f"), nbformat.v4.new_code_cell(source))
    student, _ = assign.student_notebook(nb, "ch.ipynb")
    namespace = {}
    exec(student.cells[1].source, namespace)
    with pytest.raises(NotImplementedError, match="Exercise 2"):
        namespace["f"](1)


def test_a_stub_that_does_not_compile_fails_the_build():
    source = "def f(x):\n    y = 1\n### BEGIN SOLUTION\n### END SOLUTION\n    return y\n"
    nb = _notebook(nbformat.v4.new_markdown_cell("### Exercise 2 — f"), nbformat.v4.new_code_cell(source))
    with pytest.raises(assign.BuildError, match=r"ch.ipynb, cell 1 .*does not compile"):
        assign.student_notebook(nb, "ch.ipynb")
    # Jupyter magics are fine in a stubbed cell.
    magic = "%matplotlib inline\ndef f():\n    ### BEGIN SOLUTION\n    return 1\n    ### END SOLUTION\n"
    assign.student_notebook(_notebook(nbformat.v4.new_markdown_cell("### Exercise 1"), nbformat.v4.new_code_cell(magic)))


def test_every_marker_error_names_the_notebook_and_the_cell():
    unclosed = nbformat.v4.new_code_cell("def f():\n    ### BEGIN SOLUTION\n    return 1")
    nb = _notebook(nbformat.v4.new_markdown_cell("### Exercise 1"), unclosed)
    with pytest.raises(assign.BuildError, match=r"^ch.ipynb, cell 1 \(id .+\): ### BEGIN SOLUTION without ### END"):
        assign.student_notebook(nb, "ch.ipynb")


def test_the_build_refuses_to_write_over_the_chapters(tmp_path):
    chapters = tmp_path / "chapters"
    chapters.mkdir()
    teacher = chapters / "01_x.ipynb"
    code = nbformat.v4.new_code_cell("def f():\n    ### BEGIN SOLUTION\n    return 42\n    ### END SOLUTION")
    nbformat.write(_notebook(nbformat.v4.new_markdown_cell("### Exercise 1"), code), teacher)
    before = teacher.read_text()
    for out in (chapters, chapters / ".." / "chapters"):
        with pytest.raises(assign.BuildError, match="holds the chapters themselves"):
            assign.build(out, [teacher])
    assert teacher.read_text() == before and "return 42" in before
    result = subprocess.run([sys.executable, "-m", "course_lib.teaching.assign", "build", "--out", str(chapters),
                             str(teacher)], capture_output=True, text=True)
    assert result.returncode == 2 and "holds the chapters themselves" in result.stderr
    assert teacher.read_text() == before


def test_the_build_writes_nothing_when_one_notebook_is_broken(tmp_path):
    good, bad = tmp_path / "01_good.ipynb", tmp_path / "02_bad.ipynb"
    nbformat.write(_notebook(nbformat.v4.new_markdown_cell("intro")), good)
    bad.write_text("{ not json")
    with pytest.raises(assign.BuildError, match="02_bad.ipynb: not a readable notebook"):
        assign.build(tmp_path / "out", [good, bad])
    assert not (tmp_path / "out").exists()
