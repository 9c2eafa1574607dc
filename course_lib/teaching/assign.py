"""Student versions of the chapters: every solution replaced by a stub.

Solutions sit between nbgrader-style markers in code (or markdown) cells::

    def e_step(X, weights, means, covs):
        ### BEGIN SOLUTION
        ...
        ### END SOLUTION

and belong to the exercise named by the closest markdown heading above them ("Exercise N").
``python -m course_lib.teaching.assign build --out build/student`` writes one student notebook per chapter,
outputs cleared, each solution replaced by ``raise NotImplementedError("Exercise N: ...")``.
"""

from __future__ import annotations

import argparse
import re
import sys
from dataclasses import dataclass
from pathlib import Path

import nbformat

BEGIN, END = "### BEGIN SOLUTION", "### END SOLUTION"
EXERCISE_HEADING = re.compile(r"^#+\s*Exercise\s+(\d+)\b", re.MULTILINE)
CHAPTERS = Path(__file__).resolve().parents[2] / "chapters"


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


def strip_solutions(source: str, exercise: int, cell_type: str = "code") -> tuple[str, list[list[str]]]:
    """Replace each BEGIN/END SOLUTION block of ``source`` by a stub; return (new source, hidden blocks).

    The stub keeps the indentation of the BEGIN marker, so it sits inside the function body.
    """
    if not isinstance(source, str):
        raise TypeError(f"source must be a str, got {type(source).__name__}")
    out, hidden, block, indent = [], [], None, ""
    for number, line in enumerate(source.splitlines(), 1):
        marker = line.strip()
        if marker == BEGIN:
            if block is not None:
                raise ValueError(f"source: nested {BEGIN} at line {number}")
            block, indent = [], line[: len(line) - len(line.lstrip())]
        elif marker == END:
            if block is None:
                raise ValueError(f"source: {END} without {BEGIN} at line {number}")
            out.append(_stub(indent, exercise, cell_type))
            hidden.append(block)
            block = None
        elif block is not None:
            block.append(line)
        else:
            out.append(line)
    if block is not None:
        raise ValueError(f"source: {BEGIN} without {END}")
    return "\n".join(out), hidden


def student_notebook(notebook: nbformat.NotebookNode) -> tuple[nbformat.NotebookNode, list[Solution]]:
    """A copy of ``notebook`` with solutions stubbed and outputs cleared, and the list of solutions found."""
    if not isinstance(notebook, nbformat.NotebookNode):
        raise TypeError(f"notebook must be an nbformat.NotebookNode, got {type(notebook).__name__}")
    student = nbformat.from_dict(notebook)  # deep copy
    student.metadata.pop("jupytext", None)  # the student copy is a plain notebook, not a pair
    solutions, exercise = [], None
    for index, cell in enumerate(student.cells):
        if cell.cell_type == "markdown":
            headings = EXERCISE_HEADING.findall(cell.source)
            if headings and BEGIN not in cell.source:
                exercise = int(headings[-1])
        if BEGIN in cell.source or END in cell.source:
            if exercise is None:
                raise ValueError(f"notebook: cell {index} holds a solution but no 'Exercise N' heading precedes it")
            cell.source, blocks = strip_solutions(cell.source, exercise, cell.cell_type)
            solutions += [Solution(exercise, index, block) for block in blocks]
        if cell.cell_type == "code":
            cell.outputs, cell.execution_count = [], None
    return student, solutions


def build(out: Path, chapters: list[Path]) -> list[Path]:
    """Write the student version of every chapter notebook into ``out``; return the paths written."""
    out.mkdir(parents=True, exist_ok=True)
    written = []
    for chapter in chapters:
        student, solutions = student_notebook(nbformat.read(chapter, as_version=4))
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
    args = parser.parse_args(argv)
    chapters = args.chapters or chapter_notebooks()
    missing = [str(c) for c in chapters if not c.is_file()]
    if missing:
        parser.error(f"no such chapter notebook: {', '.join(missing)}")
    build(args.out, chapters)
    return 0


if __name__ == "__main__":
    sys.exit(main())
