"""The grader: a class of students built from the student version of a small chapter, graded with the course's
checks — solutions, stubs, an edited check, hangs, a dying kernel, a deleted exercise cell, a renamed file, a
corrupted notebook, an empty folder — and the CSV is exactly what is expected."""

import csv
import subprocess
import sys

import nbformat
import pytest

from course_lib.teaching import assign, grade

SETUP = "from course_lib.teaching import exercises\nimport math"
SOLUTIONS = {
    1: "def square(x):\n    ### BEGIN SOLUTION\n    return x * x\n    ### END SOLUTION",
    2: "def cube(x):\n    ### BEGIN SOLUTION\n    return x ** 3\n    ### END SOLUTION",
    3: "def half(x):\n    ### BEGIN SOLUTION\n    return x / 2\n    ### END SOLUTION",
}
CHECKS = {
    1: 'exercises.expect_close("square of 3", exercises.call(1, square, 3.0), 9.0, exercise=1)',
    2: 'exercises.expect_close("cube of 2", exercises.call(2, cube, 2.0), 8.0, exercise=2)',
    3: 'exercises.expect_close("half of 5", exercises.call(3, half, 5.0), 2.5, exercise=3)',
}
NAMES = {1: "square", 2: "cube", 3: "half"}


def _check(source):
    return nbformat.v4.new_code_cell(source, metadata={"tags": ["check"]})


@pytest.fixture(scope="module")
def course(tmp_path_factory):
    """A chapter folder with one small chapter: three exercises, Exercise 2 worth 2 points."""
    folder = tmp_path_factory.mktemp("chapters")
    cells = [nbformat.v4.new_markdown_cell("# 01 · A small chapter"), nbformat.v4.new_code_cell(SETUP)]
    for number in (1, 2, 3):
        cells.append(nbformat.v4.new_markdown_cell(f"### Exercise {number} — {NAMES[number]}"))
        solution = nbformat.v4.new_code_cell(SOLUTIONS[number])
        if number == 2:
            solution.metadata["points"] = 2
        cells += [solution, _check(CHECKS[number])]
    cells.append(_check("exercises.report()"))
    teacher = nbformat.v4.new_notebook(cells=cells)
    nbformat.write(teacher, folder / "01_small.ipynb")
    return folder


def _student_version(course):
    return assign.student_notebook(nbformat.read(course / "01_small.ipynb", as_version=4))[0]


def _answer(notebook, number, source):
    """Put ``source`` in the cell of exercise ``number`` (the code cell after its heading)."""
    heading = next(i for i, c in enumerate(notebook.cells) if c.source.startswith(f"### Exercise {number}"))
    notebook.cells[heading + 1].source = source
    return notebook


def _solved(course, *numbers):
    notebook = _student_version(course)
    for number in numbers:
        _answer(notebook, number, SOLUTIONS[number].replace("    ### BEGIN SOLUTION\n", "").replace(
            "\n    ### END SOLUTION", ""))
    return notebook


@pytest.fixture(scope="module")
def graded(course, tmp_path_factory):
    """Grade the class once; every test reads the result."""
    submissions = tmp_path_factory.mktemp("submissions")

    def submit(student, notebook, name="01_small.ipynb"):
        (submissions / student).mkdir(exist_ok=True)
        nbformat.write(notebook, submissions / student / name)

    submit("alice", _solved(course, 1, 2, 3))
    submit("bob", _student_version(course))
    # Carol's cube is wrong, and she edited its check to print a pass: the course's check still runs.
    carol = _answer(_solved(course, 1, 3), 2, "def cube(x):\n    return x * x")
    carol.cells[carol.cells.index(next(c for c in carol.cells if "cube of 2" in c.source))].source = (
        'print("✔ Exercise 2 — cube of 2: OK")')
    submit("carol", carol)
    # Dave's square never returns; his other answers are right.
    submit("dave", _answer(_solved(course, 2, 3), 1, "def square(x):\n    while True:\n        pass"))
    (submissions / "erin").mkdir()
    (submissions / "erin" / "01_small.ipynb").write_text('{"cells": [{"cell_type": "code", "sou')   # truncated
    # Frank renamed his file; the title still says which chapter it is.
    submit("frank", _solved(course, 1, 2, 3), name="my work (1).ipynb")
    # Grace's kernel dies in Exercise 2; Exercises 1 and 3 are still graded.
    submit("grace", _answer(_solved(course, 1, 3), 2, "import os\ndef cube(x):\n    os._exit(1)"))
    # Heidi deleted the cell of Exercise 3 (and its heading).
    heidi = _solved(course, 1, 2)
    heading = next(i for i, c in enumerate(heidi.cells) if c.source.startswith("### Exercise 3"))
    del heidi.cells[heading:heading + 2]
    submit("heidi", heidi)
    (submissions / "ivan").mkdir()                           # an empty folder
    (submissions / "judy").mkdir()
    (submissions / "judy" / "notes.ipynb").write_text(nbformat.writes(nbformat.v4.new_notebook()))  # not a chapter
    (submissions / "mallory").mkdir()
    wrong_format = nbformat.writes(_solved(course, 1, 2, 3)).replace('"nbformat": 4', '"nbformat": 9')
    (submissions / "mallory" / "01_small.ipynb").write_text(wrong_format)

    out = tmp_path_factory.mktemp("grades") / "grades.csv"
    result = subprocess.run([sys.executable, "-m", "course_lib.teaching.assign", "grade", str(submissions),
                             "--out", str(out), "--jobs", "2", "--cell-timeout", "10", "--time-limit", "120",
                             "--chapters", str(course)], capture_output=True, text=True, timeout=900)
    assert result.returncode == 0, result.stdout + result.stderr
    with open(out) as f:
        rows = list(csv.DictReader(f))
    return rows, out, result.stdout


def test_the_csv_is_exactly_what_is_expected(graded):
    rows, _, _ = graded
    table = [(r["student"], r["chapter"], r["exercise"], r["status"], r["points"], r["max_points"]) for r in rows]
    expected = []
    for student, statuses in [("alice", ("passed", "passed", "passed")),
                              ("bob", ("not attempted",) * 3),
                              ("carol", ("passed", "failed", "passed")),
                              ("dave", ("timed out", "passed", "passed")),
                              ("frank", ("passed", "passed", "passed")),
                              ("grace", ("passed", "error", "passed")),
                              ("heidi", ("passed", "passed", "missing"))]:
        for number, status in zip((1, 2, 3), statuses):
            worth = 2.0 if number == 2 else 1.0
            expected.append((student, "01_small", str(number), status, str(worth if status == "passed" else 0.0),
                             str(worth)))
    expected += [("erin", "01_small", "", "malformed", "0.0", "0.0"),
                 ("ivan", "", "", "missing", "0.0", "0.0"),
                 ("judy", "", "", "malformed", "0.0", "0.0"),
                 ("mallory", "01_small", "", "malformed", "0.0", "0.0")]
    assert sorted(table) == sorted(expected), "\n".join(map(str, [(r["student"], r["exercise"], r["status"], r["message"][:150]) for r in rows]))


def test_messages_say_what_happened(graded):
    rows, _, _ = graded
    message = {(r["student"], r["exercise"]): r["message"] for r in rows}
    assert message[("carol", "2")].startswith("Exercise 2 — cube of 2: expected 8, got 4")
    assert message[("bob", "1")] == "still the stub (raise NotImplementedError)"
    assert "10 s" in message[("dave", "1")]
    assert message[("grace", "2")] == "the kernel died while running this exercise"
    assert message[("heidi", "3")].startswith("no cell for Exercise 3")
    assert "not a valid notebook" in message[("erin", "")] and "not a valid notebook" in message[("mallory", "")]
    assert "not a notebook of the course" in message[("judy", "")]
    assert message[("ivan", "")] == "no notebook in this folder"


def test_feedback_files_and_the_summary(graded):
    _, out, stdout = graded
    feedback = (out.parent / "feedback" / "carol.md").read_text()
    assert "Points: 2 of 4." in feedback and "**01_small, Exercise 2: failed** — Exercise 2 — cube of 2" in feedback
    assert sorted(p.stem for p in (out.parent / "feedback").iterdir()) == sorted(
        ["alice", "bob", "carol", "dave", "erin", "frank", "grace", "heidi", "ivan", "judy", "mallory"])
    summary_line = next(line for line in stdout.splitlines() if line.startswith("01_small") and line.split()[1] == "2")
    counts = dict(zip(grade.STATUSES, map(int, summary_line.split()[2:])))
    assert counts == {"passed": 4, "failed": 1, "error": 1, "timed out": 0, "not attempted": 1, "missing": 0,
                      "malformed": 0}
    assert "11 students" in stdout


def test_a_hang_that_ignores_interrupts_is_stopped_by_the_time_limit(course):
    stubborn = ("import time\ndef half(x):\n    while True:\n        try:\n            time.sleep(0.2)\n"
                "        except KeyboardInterrupt:\n            pass")
    submission = _answer(_solved(course, 1, 2), 3, stubborn)
    grades = grade.grade_notebook("oscar", course / "01_small.ipynb", submission, cell_timeout=300, time_limit=25)
    assert [(g.exercise, g.status) for g in grades] == [(1, "passed"), (2, "passed"), (3, "timed out")]
    assert "25 s limit" in grades[2].message


def test_grade_refuses_bad_arguments(tmp_path):
    for args, words in ((["grade", str(tmp_path / "nope")], "SUBMISSIONS must be a folder"),
                        (["grade", str(tmp_path), "--jobs", "0"], "--jobs must be ≥ 1")):
        result = subprocess.run([sys.executable, "-m", "course_lib.teaching.assign", *args], capture_output=True,
                                text=True)
        assert result.returncode != 0 and words in result.stderr


def test_network_is_refused_inside_grading(course):
    submission = _answer(_solved(course, 1, 2), 3, (
        "import socket\ntry:\n    socket.create_connection(('192.0.2.1', 80), timeout=1)\n    OUTCOME = 'connected'\n"
        "except ConnectionRefusedError as error:\n    OUTCOME = str(error)\n"
        "def half(x):\n    assert OUTCOME.startswith('grading runs offline'), OUTCOME\n    return x / 2"))
    grades = grade.grade_notebook("peggy", course / "01_small.ipynb", submission, cell_timeout=30, time_limit=120)
    assert grades[2].status == "passed", grades[2].message


@pytest.mark.slow
@pytest.mark.course_cache
def test_a_real_chapter_graded_from_the_course_cache(tmp_path):
    """Chapter 01 as the course's solutions and as the untouched student version, graded with the models the
    chapters' run cached (``make test`` runs the chapters first)."""
    from course_lib import runtime

    chapter = assign.chapter_notebooks()[0]
    teacher = nbformat.read(chapter, as_version=4)
    student, exercises = grade.chapter_exercises(teacher)
    solved = grade.grade_notebook("solutions", chapter, teacher, cell_timeout=300, time_limit=600)
    stubs = grade.grade_notebook("stubs", chapter, student, cell_timeout=300, time_limit=600)
    if any("DGM_CACHE_ONLY" in g.message for g in solved) and not runtime.in_ci():
        pytest.skip("the course cache lacks chapter 01's models: run `make test-chapters` first")
    assert [g.status for g in solved] == ["passed"] * len(exercises), [g.message for g in solved]
    assert [g.status for g in stubs] == ["not attempted"] * len(exercises), [g.message for g in stubs]
