# Two commands matter: `make lab` (work through the course) and `make test` (everything CI checks).
# The course supports Python 3.11 to 3.14: the newest of those on PATH, unless you say `make lab PYTHON=python3.12`.
SUPPORTED_PYTHONS := python3.14 python3.13 python3.12 python3.11
# (each candidate must run: a pyenv shim for a version that is not active exists but fails)
PYTHON   ?= $(or $(firstword $(foreach p,$(SUPPORTED_PYTHONS),$(shell $(p) -c 'print("$(p)")' 2>/dev/null))),python3)
# TORCH=cpu installs PyTorch's CPU-only build from its CPU wheel index (Linux without a GPU: no CUDA libraries);
# the default takes torch from the package index: the CUDA build on Linux, the only build on macOS.
TORCH    ?= default
TORCH_CPU_INDEX ?= https://download.pytorch.org/whl/cpu
TORCH_VERSION   := $(shell sed -n 's/^torch==//p' requirements.txt)
VENV     := .venv
VPY      := $(VENV)/bin/python
STAMP    := $(VENV)/.installed
LAB_ARGS ?=
# JupyterLab refuses to run as root unless told; containers and CI machines often are root.
ROOT_ARG := $(shell [ "$$(id -u)" = 0 ] && echo --allow-root)
# Seconds one notebook cell may run under nbval before the chapter fails.
CELL_TIMEOUT ?= 600

.PHONY: install browser lab test test-lib test-chapters book book-student book-test bench student grade doctor clean

install: $(STAMP)

# Re-installs only when the pins or the package metadata change, so a second `make test` is fast.
$(STAMP): requirements.txt pyproject.toml
	@case "$(TORCH)" in default|cpu) ;; *) echo "TORCH must be 'default' or 'cpu', got '$(TORCH)'"; exit 2;; esac
	@test -x $(VPY) || $(PYTHON) -c 'import sys; v = sys.version_info[:2]; sys.exit(0 if (3, 11) <= v <= (3, 14) else \
		f"$(PYTHON) is Python {v[0]}.{v[1]}; the course supports 3.11 to 3.14: make lab PYTHON=python3.12")'
	test -x $(VPY) || $(PYTHON) -m venv $(VENV)
	@$(VPY) -c 'import sys; print(f"course environment: Python {sys.version.split()[0]} in $(VENV) (torch: $(TORCH))")'
	$(VPY) -m pip install --quiet --upgrade pip
	if [ "$(TORCH)" = cpu ]; then $(VPY) -m pip install --quiet --index-url $(TORCH_CPU_INDEX) torch==$(TORCH_VERSION); fi
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

# The Jupyter Book (HTML, chapters executed) in _build/html, readable offline: MathJax, require.js and the
# widget manager are local copies (require.js and the widget manager from the npm registry, once).
book: $(STAMP)
	$(VPY) -m course_lib.teaching.book vendor
	$(VENV)/bin/jupyter-book build --warningiserror .

# The student edition (solutions replaced by their stubs, not executed) in build/student-book/_build/html.
book-student: $(STAMP)
	$(VPY) -m course_lib.teaching.book vendor
	$(VPY) -m course_lib.teaching.book student
	$(VENV)/bin/jupyter-book build --warningiserror build/student-book

# Both books, then a headless Chromium opens every page offline (tests/test_book.py). Not part of `make test`:
# the book executes every chapter once more, which would take CI past its 30 minutes.
book-test: browser book book-student
	$(VPY) -m pytest -p no:cacheprovider tests/test_book.py

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

# What is installed and where things live: Python, torch's build, the device, DGM_DATA/DGM_CACHE, Chromium, disk, memory.
doctor: $(STAMP)
	$(VPY) -m course_lib.teaching.doctor

clean:
	rm -rf $(VENV) _build build .cache
