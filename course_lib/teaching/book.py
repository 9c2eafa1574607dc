"""The course book, offline: the Sphinx extension that ``_config.yml`` loads, and the vendoring of its scripts.

A built page must not fetch anything at view time (the course promises to work without a network). Jupyter Book
would load MathJax, require.js and the ipywidgets manager from CDNs; here
- MathJax comes from the ``sphinx-mathjax-offline`` package (a pinned requirement), copied into ``_static``;
- require.js and ``@jupyter-widgets/html-manager`` come from the npm registry, installed once by
  ``python -m course_lib.teaching.book vendor`` (``make book`` runs it) into ``build/book-js``, and copied into the
  book's ``_static/widgets``, with the web-font ``@import`` the widget CSS carries removed (a Google Fonts URL);
- myst-nb is pointed at those copies (``nb_ipywidgets_js`` in ``_config.yml``), and it embeds each widget's
  saved state, so a widget's first view (its initial figure) shows in the book.
The extension also installs the nbclient wake-up guard (``kernel_messages``) before the chapters are executed.

``python -m course_lib.teaching.book student`` writes the student book's sources (the student notebooks, the
course's landing page, a table of contents and a configuration that does not execute) in ``build/student-book``.
"""

from __future__ import annotations

import argparse
import re
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
VENDOR = ROOT / "build" / "book-js"
PACKAGES = ("requirejs@2.3.8", "@jupyter-widgets/html-manager@1.0.15")
WIDGET_FILES = re.compile(r"^(embed-amd\.js|[0-9a-f]{20}\.(woff2?|ttf|eot|svg))$")   # the bundle and its fonts
FONT_IMPORT = re.compile(r"@import url\(https?://fonts\.googleapis\.com/[^)]*\);?")


def vendor(folder: Path = VENDOR) -> Path:
    """Install require.js and the widget manager from the npm registry into ``folder`` (once)."""
    marker = folder / "node_modules" / "@jupyter-widgets" / "html-manager" / "dist" / "embed-amd.js"
    if not marker.exists():
        folder.mkdir(parents=True, exist_ok=True)
        if shutil.which("npm") is None:
            raise SystemExit("make book needs npm (Node.js) to install require.js and the widget manager once")
        subprocess.run(["npm", "install", "--no-audit", "--no-fund", "--prefix", str(folder), *PACKAGES], check=True)
    return folder


def copy_scripts(outdir: Path, folder: Path = VENDOR) -> None:
    """Copy require.js and the widget bundle (fonts included, web-font import removed) into ``outdir/_static``."""
    modules = folder / "node_modules"
    if not modules.is_dir():
        raise FileNotFoundError(f"{modules} is missing: run `python -m course_lib.teaching.book vendor` "
                                "(make book does) first")
    static = outdir / "_static"
    (static / "widgets").mkdir(parents=True, exist_ok=True)
    shutil.copy(modules / "requirejs" / "require.js", static / "require.js")
    for item in (modules / "@jupyter-widgets" / "html-manager" / "dist").iterdir():
        if WIDGET_FILES.match(item.name):
            shutil.copy(item, static / "widgets" / item.name)
    bundle = static / "widgets" / "embed-amd.js"
    bundle.write_text(FONT_IMPORT.sub("", bundle.read_text(encoding="utf-8")), encoding="utf-8")


def _build_finished(app, exception) -> None:
    if exception is None and app.builder.format == "html":
        outdir = Path(app.outdir)
        copy_scripts(outdir)
        # The widget bundle asks for its icon fonts at "@jupyter-widgets/html-manager/dist/…" relative to the page
        # (its CDN layout): put a copy where each folder of pages with widgets will look.
        fonts = [f for f in (outdir / "_static" / "widgets").iterdir() if f.suffix != ".js"]
        for folder in {page.parent for page in outdir.rglob("*.html")
                       if "widgets/embed-amd.js" in page.read_text(encoding="utf-8")}:
            target = folder / "@jupyter-widgets" / "html-manager" / "dist"
            target.mkdir(parents=True, exist_ok=True)
            for font in fonts:
                shutil.copy(font, target / font.name)


def _one_of_each_script(app, pagename, templatename, context, doctree) -> None:
    """Drop repeated script entries, in place (handlers after this one append to the same list). Sphinx lists an
    inline script added after the builder started twice (once with filename None, once with ''): sphinx-thebe's
    configuration declares ``const THEBE_JS_URL``, and a second declaration is a script error in the browser."""
    scripts = context.get("script_files")
    if not isinstance(scripts, list):
        return
    seen, unique = set(), []
    for script in scripts:
        filename = getattr(script, "filename", script) or ""          # None and '' are the same inline script
        key = (str(filename), str(sorted((k, str(v)) for k, v in getattr(script, "attributes", {}).items())))
        if key not in seen:
            seen.add(key)
            unique.append(script)
    scripts[:] = unique


# The widget manager typesets the math in widget labels with MathJax 2's MathJax.Hub.Queue; the book loads
# MathJax 3, which has no Hub: give it one that calls MathJax 3's typesetter (after the deferred MathJax loaded).
MATHJAX2_SHIM = """document.addEventListener("DOMContentLoaded", function () {
  if (window.MathJax && !window.MathJax.Hub) {
    window.MathJax.Hub = {Queue: function (job) {
      var element = Array.isArray(job) ? job[2] : undefined;
      if (window.MathJax.typesetPromise) { window.MathJax.typesetPromise(element ? [element] : undefined); }
    }};
  }
});"""


def setup(app):
    """Sphinx entry point (``sphinx.extra_extensions`` in ``_config.yml``)."""
    from .kernel_messages import install_wakeup_guard

    install_wakeup_guard()        # jupyter-book executes the chapters with nbclient, which can miss a wake-up
    app.connect("html-page-context", _one_of_each_script, priority=100)   # before a handler that ends the event
    app.connect("build-finished", _build_finished)
    app.add_js_file(None, body=MATHJAX2_SHIM)
    return {"parallel_read_safe": True, "parallel_write_safe": True}


def student_sources(out: Path = ROOT / "build" / "student-book") -> Path:
    """The student book's sources in ``out``: the student notebooks (solutions replaced by their stubs), the
    landing page, a table of contents, and the course's configuration without execution (a stub would stop it)."""
    import yaml

    from .assign import build, chapter_notebooks

    if out.exists():
        shutil.rmtree(out)
    (out / "chapters").mkdir(parents=True)
    build(out / "chapters", chapter_notebooks())
    shutil.copy(ROOT / "README.md", out / "README.md")
    shutil.copy(ROOT / "_toc.yml", out / "_toc.yml")
    config = yaml.safe_load((ROOT / "_config.yml").read_text(encoding="utf-8"))
    config["title"] += " (student edition)"
    config["execute"]["execute_notebooks"] = "off"
    (out / "_config.yml").write_text(yaml.safe_dump(config, sort_keys=False, allow_unicode=True), encoding="utf-8")
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m course_lib.teaching.book", description=__doc__.split("\n")[0])
    parser.add_argument("command", choices=("vendor", "student"))
    args = parser.parse_args(argv)
    if args.command == "vendor":
        print(f"book scripts in {vendor()}")
    else:
        print(f"student book sources in {student_sources()}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
