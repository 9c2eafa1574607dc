"""The repository holds together: chapter pairs in sync, no outputs, the table of contents, the pins."""

import ast
import re
from pathlib import Path

import jupytext
import nbformat
import pytest
import yaml

from course_lib.teaching import assign

ROOT = Path(__file__).resolve().parent.parent
CHAPTERS = ROOT / "chapters"
CHAPTER_SOURCES = sorted(CHAPTERS.glob("[0-9][0-9]_*.py"))
CHAPTER_NOTEBOOKS = assign.chapter_notebooks()


def _cells(path):
    return [(cell.cell_type, cell.source.strip()) for cell in jupytext.read(path).cells]


def test_there_are_chapters():
    assert CHAPTER_SOURCES, "no chapters/NN_slug.py found"


def test_every_chapter_is_a_pair():
    sources = {p.stem for p in CHAPTER_SOURCES}
    notebooks = {p.stem for p in CHAPTER_NOTEBOOKS}
    assert not sources - notebooks, f"chapters without an .ipynb pair: {sorted(sources - notebooks)}"
    assert not notebooks - sources, f"chapters without a .py source: {sorted(notebooks - sources)}"


@pytest.mark.parametrize("source", CHAPTER_SOURCES, ids=lambda p: p.stem)
def test_pair_is_in_sync(source):
    notebook = source.with_suffix(".ipynb")
    assert _cells(source) == _cells(notebook), (
        f"{source.name} and {notebook.name} differ: run `jupytext --sync chapters/{source.name}`")
    formats = jupytext.read(notebook).metadata.get("jupytext", {}).get("formats", "")
    assert formats == "ipynb,py:percent", f"{notebook.name} is not paired as ipynb,py:percent (got {formats!r})"


@pytest.mark.parametrize("notebook", CHAPTER_NOTEBOOKS, ids=lambda p: p.stem)
def test_notebook_has_no_outputs(notebook):
    nb = nbformat.read(notebook, as_version=4)
    dirty = [i for i, c in enumerate(nb.cells) if c.cell_type == "code" and (c.outputs or c.execution_count)]
    assert not dirty, f"{notebook.name}: cells {dirty} carry outputs; clear them before committing"


def test_toc_lists_exactly_the_chapters_in_order():
    toc = yaml.safe_load((ROOT / "_toc.yml").read_text())
    assert toc["format"] == "jb-book"
    listed = [entry["file"] for entry in toc.get("chapters", [])]
    present = [f"chapters/{p.stem}" for p in CHAPTER_NOTEBOOKS]
    assert listed == present, f"_toc.yml lists {listed}, chapters/ holds {present}"


PLANNED = {1: "density_estimation", 2: "latent_variable_models", 3: "autoregressive", 4: "variational_autoencoders",
           5: "normalizing_flows", 6: "gans", 7: "wasserstein", 8: "energy_score_diffusion", 9: "evaluation"}


def test_chapters_follow_the_course_plan():
    """Chapters keep the numbers of the design's plan (a chapter still being written leaves its number free)."""
    names = [p.stem for p in CHAPTER_NOTEBOOKS]
    unexpected = [n for n in names if PLANNED.get(int(n[:2])) != n[3:]]
    assert not unexpected, f"chapters outside the plan {PLANNED}: {unexpected}"


@pytest.mark.parametrize("source", CHAPTER_SOURCES, ids=lambda p: p.stem)
def test_chapter_follows_the_conventions(source):
    text = source.read_text()
    number = source.name[:2]
    assert re.search(rf"^# # {number} · ", text, re.MULTILINE), f"{source.name}: title must start '# {number} · '"
    for needle in ("Learning objectives", "seed_everything(0)", 'DATASET = "digits"', "## Summary", "## References",
                   'tags=["check"]'):
        assert needle in text, f"{source.name}: missing {needle!r}"
    last_code = text.rsplit("# %%", 1)[1]
    assert last_code.startswith(' tags=["check"]') and "exercises.report()" in last_code, (
        f"{source.name}: the last cell must be the check cell that runs exercises.report() (the session's summary)")


def _requirements():
    lines = [line.split("#")[0].strip() for line in (ROOT / "requirements.txt").read_text().splitlines()]
    return [line for line in lines if line]


def test_requirements_are_pinned():
    requirements = _requirements()
    unpinned = [r for r in requirements if not re.fullmatch(r"[A-Za-z0-9_.\-]+==[A-Za-z0-9_.+\-]+", r)]
    assert not unpinned, f"requirements.txt entries without an exact pin: {unpinned}"
    assert "torch==2.13.0" in requirements


def test_environment_yml_agrees_with_requirements():
    env = yaml.safe_load((ROOT / "environment.yml").read_text())
    deps = env["dependencies"]
    assert "python>=3.11,<3.15" in deps and "pip" in deps
    pip = next(d["pip"] for d in deps if isinstance(d, dict) and "pip" in d)
    normalise = lambda items: sorted(i.lower().replace("_", "-") for i in items)  # noqa: E731
    only_env = set(normalise(pip)) - set(normalise(_requirements()))
    only_req = set(normalise(_requirements())) - set(normalise(pip))
    assert not only_env and not only_req, (
        f"environment.yml and requirements.txt disagree: only in environment.yml {sorted(only_env)}, "
        f"only in requirements.txt {sorted(only_req)}")


def test_ci_runs_the_readme_test_command():
    ci = (ROOT / ".ci" / "run").read_text()
    readme = (ROOT / "README.md").read_text()
    commands = [line.strip() for line in ci.splitlines() if line.strip() and not line.strip().startswith("#")]
    assert commands[-1] == "make test" and "make test" in readme
    assert "make lab" in readme and "conda env create -f environment.yml" in readme


def test_no_top_level_folders_beyond_the_design():
    allowed = {"chapters", "course_lib", "tests", ".ci", ".git", ".venv", ".cache", "build", "_build",
               ".pytest_cache", "course_lib.egg-info"}
    folders = {p.name for p in ROOT.iterdir() if p.is_dir()}
    assert not folders - allowed, f"unexpected top-level folders: {sorted(folders - allowed)}"


# --- the library's conventions, checked on its source ------------------------------------------------------

LIBRARY = ROOT / "course_lib"
RANDOM_CALLS = {"rand", "randn", "randint", "randperm", "multinomial", "bernoulli", "normal", "poisson",
                "rand_like", "randn_like", "randint_like", "normal_", "uniform_", "bernoulli_", "random_",
                "exponential_", "geometric_", "cauchy_", "log_normal_"}


def _calls(tree):
    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute):
            yield node


def test_every_random_draw_in_the_library_goes_through_randomness():
    """One convention (``generator=``, device-aware): no direct torch draw outside course_lib/randomness.py.
    (Parameter initialisation through ``nn.init`` is PyTorch's own convention and is allowed.)"""
    found = []
    for path in sorted(LIBRARY.rglob("*.py")):
        if path.name == "randomness.py":
            continue
        for call in _calls(ast.parse(path.read_text())):
            owner = ast.unparse(call.func.value)
            if call.func.attr in RANDOM_CALLS and owner not in ("nn.init", "torch.nn.init", "init", "randomness"):
                found.append(f"{path.relative_to(ROOT)}:{call.lineno}: {ast.unparse(call.func)}")
    assert not found, "draw through course_lib.randomness instead:\n" + "\n".join(found)


PUBLIC_PACKAGES = {"course_lib", "course_lib.models", "course_lib.nn", "course_lib.evaluation", "course_lib.viz",
                   "course_lib.teaching"}


@pytest.mark.parametrize("source", CHAPTER_SOURCES, ids=lambda p: p.stem)
def test_chapters_import_course_lib_from_public_paths_only(source):
    """Chapters import from course_lib's modules and subpackages, names those export (``__all__``), never
    ``_private`` names or the modules inside the subpackages."""
    import importlib

    bad = []
    for node in ast.walk(ast.parse(source.read_text())):
        if isinstance(node, ast.Import) and any(a.name.startswith("course_lib") for a in node.names):
            bad.append(f"line {node.lineno}: use `from course_lib... import name`")
        if not isinstance(node, ast.ImportFrom) or not (node.module or "").startswith("course_lib"):
            continue
        module = importlib.import_module(node.module)
        is_package = hasattr(module, "__path__")
        if node.module not in PUBLIC_PACKAGES and (is_package or node.module.count(".") > 1):
            bad.append(f"line {node.lineno}: {node.module} is not a public path (use its subpackage)")
        for alias in node.names:
            if alias.name.startswith("_"):
                bad.append(f"line {node.lineno}: {alias.name} is private")
            elif is_package and node.module != "course_lib" and alias.name not in getattr(module, "__all__", ()):
                bad.append(f"line {node.lineno}: {node.module} does not export {alias.name} (__all__)")
            elif not hasattr(module, alias.name):
                try:
                    importlib.import_module(f"{node.module}.{alias.name}")
                except ImportError:
                    bad.append(f"line {node.lineno}: {node.module} has no {alias.name}")
    assert not bad, f"{source.name}:\n" + "\n".join(bad)


def display_math_problems(markdown: str) -> list[str]:
    """Where a ``$$`` display block of ``markdown`` is not a paragraph of its own (a blank line, or the cell's
    edge, before its opening line and after its closing line): JupyterLab renders it either way, but the book's
    Markdown parser reads such a block as inline text with a stray ``$``."""
    lines, problems, inside = markdown.split("\n"), [], False
    for i, line in enumerate(lines):
        text = line.strip()
        opening = not inside and text.startswith("$$")
        closing = (inside and text.endswith("$$")) or (opening and len(text) > 2 and text.endswith("$$"))
        if opening and i > 0 and lines[i - 1].strip():
            problems.append(f"no blank line before {text[:50]!r}")
        if closing and i + 1 < len(lines) and lines[i + 1].strip():
            problems.append(f"no blank line after {text[-50:]!r}")
        if not opening and not inside and "$$" in text:
            problems.append(f"$$ inside a line of text: {text[:60]!r}")
        inside = (inside or opening) and not closing
    if inside:
        problems.append("a $$ block is never closed")
    return problems


def test_display_math_check_flags_blocks_glued_to_text():
    assert display_math_problems("Some text\n\n$$ x = 1 $$\n\nmore") == []
    assert display_math_problems("$$ a\n   = b $$") == []
    assert display_math_problems("Some text\n$$ x = 1 $$\n\nmore")[0].startswith("no blank line before")
    assert display_math_problems("text\n\n$$ a\n = b $$\nmore")[0].startswith("no blank line after")
    assert display_math_problems("the formula $$ x $$ in a sentence")[0].startswith("$$ inside a line")
    assert display_math_problems("$$ a\n = b") == ["a $$ block is never closed"]


@pytest.mark.parametrize("source", CHAPTER_SOURCES, ids=lambda p: p.stem)
def test_display_math_blocks_are_paragraphs_of_their_own(source):
    problems = [f"cell {index}: {problem}" for index, cell in enumerate(jupytext.read(source).cells)
                if cell.cell_type == "markdown" for problem in display_math_problems(cell.source)]
    assert not problems, f"{source.name}: put a blank line around every $$ block:\n" + "\n".join(problems)


def test_the_landing_page_tells_how_to_use_the_course_and_links_every_chapter():
    """README.md is the book's landing page (_toc.yml's root): the commands a student and an instructor need,
    the DATASET knob, the exercises and their checks, the student build, and a link to every chapter."""
    text = (ROOT / "README.md").read_text()
    assert yaml.safe_load((ROOT / "_toc.yml").read_text())["root"] == "README"
    for needle in ("make lab", "make test", 'DATASET = "digits"', "exercise", "check", "make student",
                   "make book-student", "make grade"):
        assert needle in text, f"README.md (the landing page) does not mention {needle!r}"
    missing = [p.name for p in CHAPTER_NOTEBOOKS if f"(chapters/{p.name})" not in text]
    assert not missing, f"README.md does not link {missing}"
