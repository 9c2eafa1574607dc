# Two commands matter: `make lab` (work through the course) and `make test` (everything CI checks).
PYTHON   ?= python3
VENV     := .venv
VPY      := $(VENV)/bin/python
STAMP    := $(VENV)/.installed
LAB_ARGS ?=
# JupyterLab refuses to run as root unless told; containers and CI machines often are root.
ROOT_ARG := $(shell [ "$$(id -u)" = 0 ] && echo --allow-root)
# Seconds one notebook cell may run under nbval before the chapter fails.
CELL_TIMEOUT ?= 600

.PHONY: install browser lab test test-lib test-chapters book bench student grade clean

install: $(STAMP)

# Re-installs only when the pins or the package metadata change, so a second `make test` is fast.
$(STAMP): requirements.txt pyproject.toml
	test -x $(VPY) || $(PYTHON) -m venv $(VENV)
	$(VPY) -m pip install --quiet --upgrade pip
	$(VPY) -m pip install --quiet -r requirements.txt
	$(VPY) -m pip install --quiet --no-deps -e .
	touch $@

# Chromium for the browser test, from Debian's packages (Playwright drives it; it never downloads a browser).
# Installed when missing and we are root (CI, containers); otherwise the test says how to get it.
browser:
	@command -v chromium >/dev/null 2>&1 || { [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1 && \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; } || \
		echo "note: no chromium; the browser test will be skipped (install Debian's chromium package)"

lab: $(STAMP)
	$(VENV)/bin/jupyter lab --notebook-dir=chapters $(ROOT_ARG) $(LAB_ARGS)

# The chapters run first: the student-version test (in test-lib) reuses the models they cached.
test: browser test-chapters test-lib

# Unit tests of course_lib, the model contract, repository consistency, the student versions (every check
# fails on its stub, nothing retrains), the browser test.
test-lib: $(STAMP)
	$(VPY) -m pytest tests

# Every chapter executed top to bottom, with the solutions: the check cells' asserts are the pass/fail
# signal, and every exercise must print its ✔ (the chapter_checks plugin).
test-chapters: $(STAMP)
	$(VPY) -m pytest --nbval-lax --nbval-current-env --nbval-cell-timeout=$(CELL_TIMEOUT) -p no:cacheprovider \
		-p course_lib.teaching.chapter_checks chapters/*.ipynb

# The Jupyter Book (HTML, chapters executed) in _build/html.
book: $(STAMP)
	$(VENV)/bin/jupyter-book build .

# Wall time of every chapter from a fresh kernel, and the total.
bench: $(STAMP)
	$(VPY) -m course_lib.teaching.bench

# Student notebooks, solutions removed, in build/student.
student: $(STAMP)
	$(VPY) -m course_lib.teaching.assign build --out build/student

# Grade the students' notebooks: make grade SUBMISSIONS=folder-of-student-folders [JOBS=2] → grades.csv, feedback/
SUBMISSIONS ?= submissions
JOBS ?= 2
grade: $(STAMP)
	$(VPY) -m course_lib.teaching.assign grade $(SUBMISSIONS) --out grades.csv --jobs $(JOBS)

clean:
	rm -rf $(VENV) _build build .cache
