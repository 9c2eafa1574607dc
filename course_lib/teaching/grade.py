"""Grade a folder of submitted student notebooks with the course's own checks.

``python -m course_lib.teaching.assign grade SUBMISSIONS --out grades.csv [--jobs N]`` (or ``make grade
SUBMISSIONS=…``). SUBMISSIONS holds one folder per student, each with any subset of the chapters' notebooks.

How one submitted notebook is graded:

1. Its chapter is found by file name (``NN_slug.ipynb``) or, for a renamed file, by its title (``# NN · …``).
2. The notebook that runs is the course's student version of that chapter with the student's exercise cells
   put in place of the stubs, matched by cell id, else by the "Exercise N" heading above them. Every other
   cell — setup, text, and the checks — comes from the course: an edited or deleted check still runs as the
   course wrote it. An exercise cell the submission lacks keeps its stub and scores 0 ("missing").
3. It runs in a fresh kernel in a scratch folder, with a per-cell timeout and a time limit for the whole
   notebook: ``DGM_CACHE_ONLY=1`` (what the course cached is loaded, never retrained) on a private view of the
   course cache (links to its files: read, never replaced), ``DGM_STRICT_CHECKS=1`` (a failed check always
   counts) and connections to other hosts refused (Python's sockets; grading runs offline).
4. Each exercise gets one status, read from its cell and its check cells: ``passed``, ``failed`` (the check's
   message), ``error`` (the exception), ``timed out``, ``not attempted`` (still the stub) or ``missing``.
   When the kernel dies, or the time limit passes, inside exercise K, K is marked and the notebook runs again
   with K's stub in place, so the other exercises are still graded. A file that is not a notebook of the
   course is reported as ``malformed`` and never stops the grading of the others.

Points per exercise come from the chapter: ``points`` in the metadata of the exercise's solution cell (or
nbgrader's ``nbgrader.points``), 1 by default. The grader guards the checks against edits; it does not
sandbox Python itself: code that deliberately patches the course library at run time is out of its reach.
"""

from __future__ import annotations

import csv
import json
import os
import re
import subprocess
import sys
import tempfile
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass
from pathlib import Path

import nbformat

from ..runtime import cache_dir, progress
from ..storage import linked_view
from .assign import EXERCISE_HEADING, student_notebook

STATUSES = ("passed", "failed", "error", "timed out", "not attempted", "missing", "malformed")
TITLE = re.compile(r"^#\s+(\d\d)\s+·", re.MULTILINE)
MESSAGE_CHARS = 600

# Run in every grading kernel before the notebook (an IPython startup file): no connection leaves the machine.
OFFLINE_STARTUP = '''import socket as _socket
_LOCAL = {"127.0.0.1", "::1", "localhost"}
def _offline(connect):
    def guarded(self, address):
        host = address[0] if isinstance(address, tuple) else address
        if self.family in (_socket.AF_INET, _socket.AF_INET6) and host not in _LOCAL:
            raise ConnectionRefusedError(f"grading runs offline: connection to {address} refused")
        return connect(self, address)
    return guarded
_socket.socket.connect = _offline(_socket.socket.connect)
_socket.socket.connect_ex = _offline(_socket.socket.connect_ex)
del _offline
'''


@dataclass
class Grade:
    """One row of grades.csv."""
    student: str
    chapter: str
    exercise: int | str
    status: str
    points: float
    max_points: float
    message: str = ""


@dataclass
class Exercise:
    """Where exercise ``number`` sits in the chapter's student version: its cell, its check cells, its points."""
    number: int
    cell: int
    checks: list[int]
    points: float


def _first_line(text: str, limit: int = MESSAGE_CHARS) -> str:
    text = re.sub(r"\x1b\[[0-9;]*m", "", str(text)).strip()
    return text if len(text) <= limit else text[:limit] + " …"


def chapter_exercises(teacher: nbformat.NotebookNode) -> tuple[nbformat.NotebookNode, list[Exercise]]:
    """The student version of a chapter and its exercises (only those answered in a code cell are graded)."""
    student, solutions = student_notebook(teacher)
    exercises = {}
    for solution in solutions:
        cell = student.cells[solution.cell]
        if cell.cell_type != "code" or solution.exercise in exercises:
            continue
        checks = []
        for index in range(solution.cell + 1, len(student.cells)):
            following = student.cells[index]
            if (following.cell_type != "code" or "check" not in following.metadata.get("tags", [])
                    or "exercises.report()" in following.source):   # the chapter's summary cell is no check of it
                break
            checks.append(index)
        meta = teacher.cells[solution.cell].metadata
        points = meta.get("points", meta.get("nbgrader", {}).get("points", 1))
        exercises[solution.exercise] = Exercise(solution.exercise, solution.cell, checks, float(points))
    return student, sorted(exercises.values(), key=lambda e: e.number)


def _answer_cell(submission: nbformat.NotebookNode, cell_id: str | None, number: int) -> str | None:
    """The source of the submission's answer to exercise ``number``: the cell with the course's cell id, else
    the first code cell under the submission's "Exercise N" heading; None when there is none."""
    if cell_id:
        for cell in submission.cells:
            if cell.get("id") == cell_id and cell.cell_type == "code":
                return cell.source
    under = False
    for cell in submission.cells:
        if cell.cell_type == "markdown":
            headings = EXERCISE_HEADING.findall(cell.source)
            if headings:
                under = int(headings[-1]) == number
        elif under and cell.cell_type == "code":
            return cell.source
    return None


def compose(student: nbformat.NotebookNode, exercises: list[Exercise], submission: nbformat.NotebookNode,
            stubbed: set[int] = frozenset()) -> tuple[nbformat.NotebookNode, set[int]]:
    """The notebook to run: the course's student version with the submission's exercise cells in place
    (except those in ``stubbed``), and the set of exercises the submission lacks."""
    graded = nbformat.from_dict(student)
    missing = set()
    for exercise in exercises:
        answer = _answer_cell(submission, student.cells[exercise.cell].get("id"), exercise.number)
        if answer is None:
            missing.add(exercise.number)
        elif exercise.number not in stubbed:
            graded.cells[exercise.cell].source = answer
    return graded, missing


# --- running one notebook ---------------------------------------------------------------------------------

def _worker(notebook_path: str, result_path: str, cell_timeout: str) -> None:
    """Child process: execute the notebook, writing after every cell what each cell did (so a run that is
    killed at its time limit still tells where it was)."""
    from nbclient import NotebookClient
    from nbclient.exceptions import DeadKernelError

    from .kernel_messages import install_wakeup_guard

    install_wakeup_guard()
    notebook = nbformat.read(notebook_path, as_version=4)
    cells: dict[int, dict] = {}
    state = {"started": None, "complete": False, "kernel_died": False}

    def save():
        Path(result_path).write_text(json.dumps({**state, "cells": cells}))

    def on_start(cell, cell_index):
        state["started"] = cell_index
        save()

    def on_executed(cell, cell_index, execute_reply):
        content = execute_reply.get("content", {}) if execute_reply else {}
        printed = "".join(o.get("text", "") for o in cell.get("outputs", []) if o.get("output_type") == "stream")
        cells[cell_index] = {"status": content.get("status", "ok"), "ename": content.get("ename", ""),
                             "evalue": _first_line(content.get("evalue", "")), "printed": printed[-20_000:]}
        save()

    client = NotebookClient(notebook, timeout=int(cell_timeout), kernel_name="python3", allow_errors=True,
                            interrupt_on_timeout=True, on_cell_start=on_start, on_cell_executed=on_executed,
                            error_on_timeout={"ename": "CellTimeout", "evalue": f"the cell ran longer than "
                                                                                f"{cell_timeout} s"},
                            resources={"metadata": {"path": str(Path(notebook_path).parent)}})
    try:
        client.execute()
        state["complete"] = True
    except DeadKernelError:
        state["kernel_died"] = True
    save()


def run_notebook(notebook: nbformat.NotebookNode, *, cell_timeout: int, time_limit: int) -> tuple[dict, bool]:
    """Execute ``notebook`` in a child process and fresh kernel, in a scratch folder; return (what each cell
    did, whether the time limit passed)."""
    with tempfile.TemporaryDirectory(prefix="dgm-grade-") as scratch:
        scratch = Path(scratch)
        path, result = scratch / "submission.ipynb", scratch / "result.json"
        nbformat.write(notebook, path)
        startup = scratch / "ipython" / "profile_default" / "startup"
        startup.mkdir(parents=True)
        (startup / "00-offline.py").write_text(OFFLINE_STARTUP)
        env = {**os.environ, "DGM_CACHE_ONLY": "1", "DGM_STRICT_CHECKS": "1", "CI": "true",
               "DGM_CACHE": str(linked_view(cache_dir(), scratch / "cache")), "IPYTHONDIR": str(scratch / "ipython"),
               "MPLBACKEND": "Agg"}
        env.pop("DGM_KEEP_GOING", None)
        process = subprocess.Popen([sys.executable, "-m", "course_lib.teaching.grade", "worker", str(path),
                                    str(result), str(cell_timeout)], env=env, cwd=scratch, start_new_session=True,
                                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            process.wait(timeout=time_limit)
            over_time = False
        except subprocess.TimeoutExpired:   # the kernel exits with its parent (ipykernel watches it)
            os.killpg(process.pid, 9)
            process.wait()
            over_time = True
        try:
            return json.loads(result.read_text()), over_time
        except (OSError, ValueError):
            return {"started": None, "complete": False, "kernel_died": True, "cells": {}}, over_time


# --- grading ----------------------------------------------------------------------------------------------

def _status(exercise: Exercise, cells: dict) -> tuple[str, str]:
    """(status, message) of one exercise from what its cell and its check cells did."""
    ran = [cells.get(str(i)) or cells.get(i) for i in (exercise.cell, *exercise.checks)]
    if any(c is None for c in ran):
        return "error", "its checks did not run (an earlier problem stopped the notebook)"
    if any(c["ename"] in ("CellTimeout", "KeyboardInterrupt") for c in ran):
        return "timed out", next(c["evalue"] for c in ran if c["ename"] in ("CellTimeout", "KeyboardInterrupt")) \
            or "the cell was interrupted at its timeout"
    answer = ran[0]
    if answer["status"] == "error":
        return "error", f"your exercise cell raised {answer['ename']}: {answer['evalue']}"
    for check in ran[1:]:
        if check["status"] != "error":
            continue
        if check["ename"] == "ExerciseFailed":
            if "not written yet" in check["evalue"]:
                return "not attempted", "still the stub (raise NotImplementedError)"
            return "failed", check["evalue"]
        return "error", f"{check['ename']}: {check['evalue']}"
    if not any(f"✔ Exercise {exercise.number} —" in c["printed"] for c in ran[1:]):
        return "failed", "its checks ran but none passed"
    return "passed", ""


def grade_notebook(student_name: str, chapter: Path, submission: nbformat.NotebookNode, *, cell_timeout: int,
                   time_limit: int) -> list[Grade]:
    """Grade one submitted notebook of ``chapter``: one Grade per exercise."""
    student, exercises = chapter_exercises(nbformat.read(chapter, as_version=4))
    by_number = {e.number: e for e in exercises}
    stubbed: set[int] = set()
    fatal: dict[int, tuple[str, str]] = {}
    for _ in range(len(exercises) + 1):
        graded, missing = compose(student, exercises, submission, stubbed)
        result, over_time = run_notebook(graded, cell_timeout=cell_timeout, time_limit=time_limit)
        if result["complete"]:
            break
        started = result["started"]
        culprit = next((e for e in exercises if started is not None and started in (e.cell, *e.checks)), None)
        if culprit is None or culprit.number in stubbed:
            break   # a course cell itself failed to run: what ran is graded, the rest is an error
        fatal[culprit.number] = (("timed out", f"the notebook ran past its {time_limit} s limit in this exercise")
                                 if over_time else ("error", "the kernel died while running this exercise"))
        stubbed.add(culprit.number)
    grades = []
    for number, exercise in sorted(by_number.items()):
        if number in missing:
            status, message = "missing", f"no cell for Exercise {number} in the submission (its id or heading)"
        elif number in fatal:
            status, message = fatal[number]
        else:
            status, message = _status(exercise, result["cells"])
        grades.append(Grade(student_name, chapter.stem, number, status,
                            exercise.points if status == "passed" else 0.0, exercise.points, message))
    return grades


def _which_chapter(path: Path, notebook: nbformat.NotebookNode | None, chapters: list[Path]) -> Path | None:
    """The chapter of a submitted file: by its name, else by the title of its first Markdown cell."""
    by_name = {c.name: c for c in chapters}
    if path.name in by_name:
        return by_name[path.name]
    first = next((c.source for c in (notebook.cells if notebook else []) if c.get("cell_type") == "markdown"), "")
    title = TITLE.search(first)
    if title:
        return next((c for c in chapters if c.name.startswith(title.group(1) + "_")), None)
    return None


def grade_file(student_name: str, path: Path, chapters: list[Path], *, cell_timeout: int,
               time_limit: int) -> list[Grade]:
    """Grade one submitted file; a file that is not a notebook of the course gives one ``malformed`` row."""
    def malformed(chapter: Path | None, reason: str) -> list[Grade]:
        return [Grade(student_name, chapter.stem if chapter else "", "", "malformed", 0.0, 0.0, f"{path.name}: {reason}")]

    try:
        submission, problem = nbformat.reads(path.read_text(encoding="utf-8"), as_version=4), None
        nbformat.validate(submission)
    except Exception as error:   # unreadable, not JSON, another nbformat, invalid structure: all the same here
        submission, problem = None, f"not a valid notebook ({type(error).__name__}: {_first_line(error, 200)})"
    chapter = _which_chapter(path, submission, chapters)
    if problem:
        return malformed(chapter, problem)
    if chapter is None:
        return malformed(None, "not a notebook of the course (neither its file name nor its title matches a chapter)")
    return grade_notebook(student_name, chapter, submission, cell_timeout=cell_timeout, time_limit=time_limit)


def grade_folder(submissions: Path, chapters: list[Path], *, jobs: int = 2, cell_timeout: int = 120,
                 time_limit: int = 900) -> list[Grade]:
    """Grade every student folder of ``submissions`` (up to ``jobs`` notebooks at a time)."""
    tasks, grades = [], []
    for folder in sorted(p for p in submissions.iterdir() if p.is_dir() and not p.name.startswith(".")):
        files = sorted(p for p in folder.iterdir() if p.is_file() and p.suffix == ".ipynb")
        if not files:
            grades.append(Grade(folder.name, "", "", "missing", 0.0, 0.0, "no notebook in this folder"))
        tasks += [(folder.name, f) for f in files]
    with ThreadPoolExecutor(max_workers=jobs) as pool:
        futures = [pool.submit(grade_file, name, path, chapters, cell_timeout=cell_timeout, time_limit=time_limit)
                   for name, path in tasks]
        for future in progress(futures, desc="grading", unit="notebook", total=len(futures)):
            grades += future.result()
    return sorted(grades, key=lambda g: (g.student, g.chapter, str(g.exercise)))


def write_grades(grades: list[Grade], out: Path) -> Path:
    """grades.csv at ``out`` and one Markdown feedback file per student in ``feedback/`` next to it."""
    out.parent.mkdir(parents=True, exist_ok=True)
    with open(out, "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(Grade.__dataclass_fields__))
        writer.writeheader()
        writer.writerows(asdict(g) for g in grades)
    feedback = out.parent / "feedback"
    feedback.mkdir(exist_ok=True)
    for name in sorted({g.student for g in grades}):
        mine = [g for g in grades if g.student == name]
        lines = [f"# Feedback for {name}", "",
                 f"Points: {sum(g.points for g in mine):g} of {sum(g.max_points for g in mine):g}.", ""]
        for g in mine:
            where = f"{g.chapter}, Exercise {g.exercise}" if g.exercise != "" else (g.chapter or "submission")
            lines.append(f"- **{where}: {g.status}**" + (f" — {g.message}" if g.message else ""))
        (feedback / f"{name}.md").write_text("\n".join(lines) + "\n")
    return feedback


def summary(grades: list[Grade]) -> str:
    """How many students got each status, per exercise (and the malformed or missing submissions)."""
    counts: dict[tuple[str, str], Counter] = {}
    for g in grades:
        counts.setdefault((g.chapter or "-", str(g.exercise) or "-"), Counter())[g.status] += 1
    header = f"{'chapter':32s} {'exercise':>8s} " + " ".join(f"{s:>13s}" for s in STATUSES)
    rows = [f"{chapter:32s} {exercise:>8s} " + " ".join(f"{c[s]:13d}" for s in STATUSES)
            for (chapter, exercise), c in sorted(counts.items())]
    return "\n".join([header, *rows])


def main(args) -> int:
    """``assign grade``: grade, write grades.csv and the feedback, print the summary."""
    from .assign import chapter_notebooks

    if not args.submissions.is_dir():
        raise SystemExit(f"grade: error: SUBMISSIONS must be a folder of student folders, got {args.submissions}")
    for name in ("jobs", "cell_timeout", "time_limit"):
        if getattr(args, name) < 1:
            raise SystemExit(f"grade: error: --{name.replace('_', '-')} must be ≥ 1, got {getattr(args, name)}")
    chapters = sorted(args.chapters.glob("[0-9][0-9]_*.ipynb")) if args.chapters else chapter_notebooks()
    start = time.perf_counter()
    grades = grade_folder(args.submissions, chapters, jobs=args.jobs, cell_timeout=args.cell_timeout,
                          time_limit=args.time_limit)
    feedback = write_grades(grades, args.out)
    print(summary(grades))
    print(f"{len({g.student for g in grades})} students, {len(grades)} rows in {args.out}, feedback in {feedback}/, "
          f"{time.perf_counter() - start:.0f} s")
    return 0


if __name__ == "__main__" and len(sys.argv) == 5 and sys.argv[1] == "worker":
    _worker(*sys.argv[2:])
