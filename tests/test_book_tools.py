"""The book's offline plumbing (course_lib.teaching.book), without building a book: the scripts copied into
_static (web-font import removed), repeated script entries dropped, the student book's sources."""

from pathlib import Path

import nbformat
import pytest
import yaml
from sphinx.builders.html._assets import _JavaScript

from course_lib.teaching import book


def _fake_vendor(folder: Path) -> Path:
    dist = folder / "node_modules" / "@jupyter-widgets" / "html-manager" / "dist"
    dist.mkdir(parents=True)
    (dist / "embed-amd.js").write_text('a{}@import url(https://fonts.googleapis.com/css?family=Roboto+Mono);b{}')
    (dist / "1551f4f60c37af51121f.woff2").write_bytes(b"font")
    (dist / "embed.js.map").write_text("{}")
    (folder / "node_modules" / "requirejs").mkdir()
    (folder / "node_modules" / "requirejs" / "require.js").write_text("var requirejs;")
    return folder


def test_copy_scripts_copies_the_bundle_and_its_fonts_without_the_web_font_import(tmp_path):
    vendor = _fake_vendor(tmp_path / "vendor")
    book.copy_scripts(tmp_path / "html", vendor)
    static = tmp_path / "html" / "_static"
    assert (static / "require.js").read_text() == "var requirejs;"
    assert (static / "widgets" / "embed-amd.js").read_text() == "a{}b{}"
    assert sorted(p.name for p in (static / "widgets").iterdir()) == ["1551f4f60c37af51121f.woff2", "embed-amd.js"]


def test_copy_scripts_says_how_to_get_the_scripts(tmp_path):
    with pytest.raises(FileNotFoundError, match="course_lib.teaching.book vendor"):
        book.copy_scripts(tmp_path / "html", tmp_path / "nothing")


def test_repeated_inline_scripts_are_dropped_in_place():
    thebe = 'const THEBE_JS_URL = "x"'
    scripts = [_JavaScript("a.js"), _JavaScript(None, body=thebe), _JavaScript("", body=thebe), _JavaScript("a.js"),
               _JavaScript("b.js", priority=200)]
    context = {"script_files": scripts}
    book._one_of_each_script(None, "page", "page.html", context, None)
    assert context["script_files"] is scripts                 # handlers after this one append to the same list
    assert [(s.filename, s.attributes.get("body")) for s in scripts] == [("a.js", None), (None, thebe), ("b.js", None)]


def test_student_sources_hold_the_stubbed_chapters_and_do_not_execute(tmp_path):
    out = book.student_sources(tmp_path / "student-book")
    config = yaml.safe_load((out / "_config.yml").read_text())
    assert config["execute"]["execute_notebooks"] == "off" and config["title"].endswith("(student edition)")
    assert (out / "README.md").exists() and (out / "_toc.yml").exists()
    chapters = sorted((out / "chapters").glob("*.ipynb"))
    assert len(chapters) == len(list((book.ROOT / "chapters").glob("[0-9][0-9]_*.ipynb")))
    text = "\n".join(cell.source for cell in nbformat.read(chapters[0], as_version=4).cells)
    assert "### BEGIN SOLUTION" not in text and "NotImplementedError" in text
