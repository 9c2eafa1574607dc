"""Student versions of the chapters: every solution replaced by a stub.

Solutions sit between nbgrader-style markers in code (or markdown) cells::

    def e_step(X, weights, means, covs):
        ### BEGIN SOLUTION
        ...
        ### END SOLUTION

and belong to the exercise named by the closest markdown heading above them ("Exercise N").
``python -m course_lib.teaching.assign build --out build/student`` writes one student notebook per chapter,
outputs cleared, each solution replaced by ``raise NotImplementedError("Exercise N: ...")``;
``python -m course_lib.teaching.assign grade SUBMISSIONS --out grades.csv`` grades the students' notebooks
with the course's own checks (``course_lib.teaching.grade``).
"""

from __future__ import annotations

import argparse
import re
import sys
from dataclasses import dataclass
from pathlib import Path

import nbformat

BEGIN, END = "### BEGIN SOLUTION", "### END SOLUTION"
# Anything that looks like a marker — any number of #, any case, any spacing, even "SOLUTIONS" — so that a
# near miss (``###BEGIN SOLUTION``, ``### begin solution``) fails the build instead of shipping the solution.
LOOSE_MARKER = re.compile(r"^\s*#+\s*(BEGIN|END)\s*SOLUTIONS?\b", re.IGNORECASE)
EXERCISE_HEADING = re.compile(r"^#+\s*Exercise\s+(\d+)\b", re.MULTILINE)
CHAPTERS = Path(__file__).resolve().parents[2] / "chapters"


class BuildError(ValueError):
    """The student version cannot be built safely; the message names the notebook and the cell."""


def chapter_notebooks() -> list[Path]:
    """Every chapter notebook, in order: chapters/NN_slug.ipynb."""
    return sorted(CHAPTERS.glob("[0-9][0-9]_*.ipynb"))


@dataclass
class Solution:
    """One solution block: its exercise number, the cell index and the hidden lines."""
    exercise: int
    cell: int
    lines: list[str]


def _stub(indent: str, exercise: int, cell_type: str) -> str:
    if cell_type == "markdown":
        return f"{indent}*Exercise {exercise}: write your answer here.*"
    return f'{indent}raise NotImplementedError("Exercise {exercise}: write your solution here")'


def _marker(line: str, number: int) -> str | None:
    """BEGIN, END or None for one line; a near miss of a marker is an error (it would ship a solution)."""
    stripped = line.strip()
    if stripped in (BEGIN, END):
        return stripped
    if LOOSE_MARKER.match(line):
        raise ValueError(f"line {number}: {stripped!r} looks like a solution marker but is not one: write "
                         f"exactly {BEGIN!r} and {END!r}")
    return None


def _indent(line: str) -> str:
    return line[: len(line) - len(line.lstrip())]


def strip_solutions(source: str, exercise: int, cell_type: str = "code") -> tuple[str, list[list[str]]]:
    """Replace each BEGIN/END SOLUTION block of ``source`` by a stub; return (new source, hidden blocks).

    The stub takes the indentation of the block's first line of code (else of the BEGIN marker), so it sits
    inside the function body even when the marker was written at column 0.
    """
    if not isinstance(source, str):
        raise TypeError(f"source must be a str, got {type(source).__name__}")
    out, hidden, block, indent = [], [], None, ""
    for number, line in enumerate(source.splitlines(), 1):
        marker = _marker(line, number)
        if marker == BEGIN:
            if block is not None:
                raise ValueError(f"line {number}: nested {BEGIN}")
            block, indent = [], _indent(line)
        elif marker == END:
            if block is None:
                raise ValueError(f"line {number}: {END} without {BEGIN}")
            code = [hidden_line for hidden_line in block if hidden_line.strip()]
            out.append(_stub(_indent(code[0]) if code else indent, exercise, cell_type))
            hidden.append(block)
            block = None
        elif block is not None:
            block.append(line)
        else:
            out.append(line)
    if block is not None:
        raise ValueError(f"{BEGIN} without {END}")
    return "\n".join(out), hidden


def _check_compiles(source: str) -> None:
    """Raise SyntaxError when a stubbed code cell is not valid (IPython) Python."""
    from IPython.core.inputtransformer2 import TransformerManager
    compile(TransformerManager().transform_cell(source), "<cell>", "exec")


def student_notebook(notebook: nbformat.NotebookNode, name: str = "notebook") -> tuple[nbformat.NotebookNode, list[Solution]]:
    """A copy of ``notebook`` with solutions stubbed and outputs cleared, and the list of solutions found.

    Raises ``BuildError`` naming ``name`` and the cell (its index and id) for a malformed or near-miss marker,
    a solution without an "Exercise N" heading above it, or a stubbed cell that no longer compiles.
    """
    if not isinstance(notebook, nbformat.NotebookNode):
        raise TypeError(f"notebook must be an nbformat.NotebookNode, got {type(notebook).__name__}")
    if not isinstance(name, str):
        raise TypeError(f"name must be a str, got {type(name).__name__}")
    student = nbformat.from_dict(notebook)  # deep copy
    student.metadata.pop("jupytext", None)  # the student copy is a plain notebook, not a pair
    solutions, exercise = [], None
    for index, cell in enumerate(student.cells):
        where = f"{name}, cell {index}" + (f" (id {cell.id})" if cell.get("id") else "")
        if cell.cell_type == "markdown":
            headings = EXERCISE_HEADING.findall(cell.source)
            if headings and BEGIN not in cell.source:
                exercise = int(headings[-1])
        if any(LOOSE_MARKER.match(line) for line in cell.source.splitlines()):
            if exercise is None:
                raise BuildError(f"{where}: holds a solution but no 'Exercise N' heading precedes it")
            try:
                stubbed, blocks = strip_solutions(cell.source, exercise, cell.cell_type)
                if cell.cell_type == "code":
                    _check_compiles(stubbed)
            except SyntaxError as error:
                raise BuildError(f"{where}: the student version of this cell does not compile ({error.msg}, "
                                 f"line {error.lineno}); check the solution markers' placement") from None
            except ValueError as error:
                raise BuildError(f"{where}: {error}") from None
            cell.source = stubbed
            solutions += [Solution(exercise, index, block) for block in blocks]
        if cell.cell_type == "code":
            cell.outputs, cell.execution_count = [], None
    return student, solutions


def _read(chapter: Path) -> nbformat.NotebookNode:
    try:
        return nbformat.read(chapter, as_version=4)
    except Exception as error:  # not JSON, not a notebook: say which file
        raise BuildError(f"{chapter}: not a readable notebook ({type(error).__name__}: {error})") from None


def build(out: Path, chapters: list[Path]) -> list[Path]:
    """Write the student version of every chapter notebook into ``out``; return the paths written.

    Every notebook is stubbed before anything is written, and ``out`` may not be a folder that holds one of
    the chapters (the teacher notebooks would be overwritten by their stubs): ``BuildError``.
    """
    sources = {chapter.resolve().parent for chapter in chapters}
    if out.resolve() in sources:
        raise BuildError(f"out: {out} holds the chapters themselves; writing the student versions there would "
                         f"replace the solutions with stubs. Choose another folder, e.g. build/student")
    students = [(chapter, *student_notebook(_read(chapter), chapter.name)) for chapter in chapters]
    out.mkdir(parents=True, exist_ok=True)
    written = []
    for chapter, student, solutions in students:
        target = out / chapter.name
        nbformat.write(student, target)
        written.append(target)
        print(f"{target}: {len({s.exercise for s in solutions})} exercises stubbed")
    return written


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m course_lib.teaching.assign", description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True)
    build_cmd = commands.add_parser("build", help="write student notebooks without solutions")
    build_cmd.add_argument("--out", type=Path, required=True, help="output folder, e.g. build/student")
    build_cmd.add_argument("chapters", nargs="*", type=Path,
                           help="chapter notebooks (default: every chapters/*.ipynb)")
    grade_cmd = commands.add_parser("grade", help="grade a folder of submissions with the course's checks")
    grade_cmd.add_argument("submissions", type=Path, help="folder with one folder of notebooks per student")
    grade_cmd.add_argument("--out", type=Path, default=Path("grades.csv"),
                           help="the CSV to write (feedback/ goes next to it); default grades.csv")
    grade_cmd.add_argument("--jobs", type=int, default=2, help="notebooks graded at the same time (default 2)")
    grade_cmd.add_argument("--cell-timeout", type=int, default=120, help="seconds one cell may run (default 120)")
    grade_cmd.add_argument("--time-limit", type=int, default=900,
                           help="seconds one notebook may run in all (default 900)")
    grade_cmd.add_argument("--chapters", type=Path, default=None,
                           help="folder of the course's chapter notebooks (default: the course's chapters/)")
    args = parser.parse_args(argv)
    if args.command == "grade":
        from . import grade
        return grade.main(args)
    chapters = args.chapters or chapter_notebooks()
    missing = [str(c) for c in chapters if not c.is_file()]
    if missing:
        parser.error(f"no such chapter notebook: {', '.join(missing)}")
    try:
        build(args.out, chapters)
    except BuildError as error:
        parser.exit(2, f"{parser.prog}: error: {error}\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
