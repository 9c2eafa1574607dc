"""The built book reads offline: every page's scripts and stylesheets are local files, and a headless Chromium that
may load only ``file://`` URLs sees rendered formulas, loaded images, tables, widgets, and no console errors.

Run by ``make book-test`` after ``make book`` and ``make book-student`` (the book executes every chapter once more,
so ``make test`` leaves it out; these tests skip when no book has been built). ``DGM_BOOK`` points at another
built book (its ``_build/html``'s parent folder) to test that instead.
"""

from __future__ import annotations

import os
import re
import shutil
from pathlib import Path

import jupytext
import nbformat
import pytest

ROOT = Path(__file__).resolve().parents[1]
BOOKS = {"course": ROOT / "_build" / "html", "student": ROOT / "build" / "student-book" / "_build" / "html"}
if os.environ.get("DGM_BOOK"):
    BOOKS = {"given": Path(os.environ["DGM_BOOK"]) / "_build" / "html"}
CHAPTERS = sorted((ROOT / "chapters").glob("[0-9][0-9]_*.py"))
CHROMIUM = "/usr/bin/chromium"

EXTERNAL_ASSET = re.compile(r"<(?:script[^>]*\ssrc|link[^>]*\shref)=\"(?:https?:)?//[^\"]*\"", re.IGNORECASE)
INLINE_CODE = re.compile(r"`[^`\n]*`")
DISPLAY_MATH = re.compile(r"\$\$.+?\$\$", re.DOTALL)
INLINE_MATH = re.compile(r"(?<![\\$])\$(?!\$)[^$\n]+?(?<!\\)\$")


def formulas_in(chapter: Path) -> int:
    """How many formulas the chapter's Markdown cells hold: ``$$ … $$`` blocks and ``$ … $`` spans (code spans
    such as `$DGM_DATA` left out)."""
    count = 0
    for cell in jupytext.read(chapter).cells:
        if cell.cell_type != "markdown":
            continue
        text = INLINE_CODE.sub("", cell.source)
        blocks = DISPLAY_MATH.findall(text)
        count += len(blocks) + len(INLINE_MATH.findall(DISPLAY_MATH.sub("", text)))
    return count


def has_widgets(chapter: Path) -> bool:
    notebook = nbformat.read(chapter.with_suffix(".ipynb"), as_version=4)
    return any("Explorer(" in cell.source or "Stepper(" in cell.source for cell in notebook.cells
               if cell.cell_type == "code")


def displays_a_table(chapter: Path) -> bool:
    """Whether a code cell of the chapter displays Markdown with a table (the book must render it as one)."""
    return any(cell.cell_type == "code" and "Markdown(" in cell.source and "|---" in cell.source
               for cell in jupytext.read(chapter).cells)


def _pages(book: Path) -> list[Path]:
    return sorted(book.rglob("*.html"))


def test_formula_counting():
    sample = ROOT / "tests" / "_formula_sample.py"
    try:
        sample.write_text('# %% [markdown]\n# A $x$ and $y$, `$HOME`, and\n#\n# $$ a = b $$\n#\n# $$ c\n#  = d $$\n')
        assert formulas_in(sample) == 4
    finally:
        sample.unlink()


@pytest.mark.parametrize("name", sorted(BOOKS))
def test_no_page_loads_a_script_or_stylesheet_from_the_network(name):
    book = BOOKS[name]
    if not (book / "index.html").exists():
        pytest.skip(f"no {name} book built in {book} (make book-test builds both)")
    external = {page.relative_to(book).as_posix(): EXTERNAL_ASSET.findall(page.read_text(encoding="utf-8"))
                for page in _pages(book)}
    external = {page: found for page, found in external.items() if found}
    assert not external, f"pages that load scripts or stylesheets from the network: {external}"


def _chapter_pages():
    return [(name, chapter) for name in sorted(BOOKS) for chapter in CHAPTERS]


@pytest.mark.parametrize("name, chapter", _chapter_pages(), ids=lambda v: v if isinstance(v, str) else v.stem)
def test_a_browser_offline_renders_every_chapter_page(name, chapter, tmp_path_factory):
    book = BOOKS[name]
    page = book / "chapters" / f"{chapter.stem}.html"
    if not page.exists():
        pytest.skip(f"no {name} book built in {book} (make book-test builds both)")
    if not Path(CHROMIUM).exists() and not shutil.which("chromium"):
        pytest.skip("no Chromium: install Debian's chromium package (make browser does, as root)")
    from playwright.sync_api import sync_playwright

    shots = tmp_path_factory.mktemp("book-screenshots")
    problems, blocked = [], []
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=["--allow-file-access-from-files"])
        context = browser.new_context(viewport={"width": 1280, "height": 900})
        context.route("**/*", lambda route: route.continue_() if route.request.url.startswith("file://")
                      else (blocked.append(route.request.url), route.abort()))
        tab = context.new_page()
        tab.on("console", lambda message: problems.append(f"console {message.type}: {message.text}")
               if message.type == "error" else None)
        tab.on("pageerror", lambda error: problems.append(f"page error: {error}"))
        tab.goto(page.as_uri(), wait_until="load")
        tab.wait_for_function("window.MathJax && MathJax.startup && MathJax.startup.promise", timeout=60_000)
        tab.evaluate("MathJax.startup.promise")
        if has_widgets(chapter) and name != "student":
            tab.wait_for_selector(".jupyter-widgets", state="attached", timeout=60_000)   # the first may be hidden
        tab.wait_for_timeout(500)
        report = tab.evaluate("""() => {
            const text = (() => { const copy = document.body.cloneNode(true);
                copy.querySelectorAll('pre, code, .cell_input, script, mjx-container').forEach(e => e.remove());
                return copy.innerText; })();
            return {math: document.querySelectorAll('mjx-container').length,
                    rawDollar: text.includes('$'), rawInline: text.includes('\\\\('),
                    rawPipes: text.split('\\n').filter(line => /^\\s*\\|.*\\|.*\\|\\s*$/.test(line)).length,
                    outputTables: document.querySelectorAll('.cell_output table').length,
                    images: Array.from(document.images).map(i => [i.src.slice(-40), i.complete && i.naturalWidth > 0]),
                    widgets: document.querySelectorAll('.jupyter-widgets').length,
                    widgetFigures: document.querySelectorAll('.jupyter-widgets img').length};
        }""")
        tab.screenshot(path=str(shots / f"{name}-{chapter.stem}.png"), full_page=False)
        browser.close()
    expected = formulas_in(chapter)
    assert not blocked, f"{name}/{page.name} asked the network for {blocked[:5]}"
    assert not problems, f"{name}/{page.name}: {problems[:5]}"
    assert report["math"] >= expected, f"{name}/{page.name}: {report['math']} rendered formulas, {expected} in the text"
    assert not report["rawDollar"] and not report["rawInline"], (
        f"{name}/{page.name}: raw TeX is visible (a stray $ or \\(: a $$ block glued to its paragraph?)")
    broken = [src for src, loaded in report["images"] if not loaded]
    assert not broken, f"{name}/{page.name}: images that did not load: {broken}"
    assert report["rawPipes"] == 0, f"{name}/{page.name}: {report['rawPipes']} lines of a Markdown table shown raw"
    if name != "student" and displays_a_table(chapter):
        assert report["outputTables"] > 0, f"{name}/{page.name}: a displayed table did not render as a <table>"
    if name != "student" and has_widgets(chapter):
        assert report["widgets"] > 0 and report["widgetFigures"] > 0, (
            f"{name}/{page.name}: no widget, or no widget's initial figure, rendered from the saved state")
