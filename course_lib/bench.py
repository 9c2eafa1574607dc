"""Wall time of every chapter, each from a fresh kernel: ``python -m course_lib.bench [chapters…]``.

Used to hold the budgets of the design (≤ 120 s a chapter on a 2-core CPU, ≤ 15 min in all);
it reports, it does not assert.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import nbformat
from nbclient import NotebookClient

CHAPTERS = Path(__file__).resolve().parent.parent / "chapters"
CHAPTER_BUDGET_S, COURSE_BUDGET_S = 120.0, 15 * 60.0


def run_chapter(path: Path, timeout: int = 1200) -> float:
    """Execute the notebook at ``path`` top to bottom in a fresh kernel; return the wall time in s."""
    if not Path(path).is_file():
        raise FileNotFoundError(f"path: no notebook at {path}")
    notebook = nbformat.read(path, as_version=4)
    client = NotebookClient(notebook, timeout=timeout, kernel_name="python3",
                            resources={"metadata": {"path": str(Path(path).parent)}})
    start = time.perf_counter()
    client.execute()
    return time.perf_counter() - start


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m course_lib.bench", description=__doc__.splitlines()[0])
    parser.add_argument("chapters", nargs="*", type=Path, help="notebooks (default: every chapter)")
    args = parser.parse_args(argv)
    chapters = args.chapters or sorted(CHAPTERS.glob("[0-9][0-9]_*.ipynb"))
    total = 0.0
    for chapter in chapters:
        seconds = run_chapter(chapter)
        total += seconds
        flag = "" if seconds <= CHAPTER_BUDGET_S else f"  OVER the {CHAPTER_BUDGET_S:.0f} s budget"
        print(f"{chapter.name:40s} {seconds:7.1f} s{flag}", flush=True)
    flag = "" if total <= COURSE_BUDGET_S else f"  OVER the {COURSE_BUDGET_S:.0f} s budget"
    print(f"{'total':40s} {total:7.1f} s{flag}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
