# Thin wrapper: every target sets up .venv itself, so each works on a fresh machine.
#   make book        build the HTML book (offline, shipped data) -> book/_build/html/index.html
#   make test        ruff + the whole test suite (library, data, grader, book build + browser)
#   make unit        the library tests alone (no book build, no browser, no nbgrader): ~1 min
#   make exercises   student notebooks (no solutions) -> exercises/release/
#   make grade-demo  release, autograde and export the demo class in exercises/examples
#   make bench       speed benchmarks (installs the optional PyTorch CPU build)
PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed-stamp

.PHONY: setup book test unit lint exercises grade-demo bench clean browser sandbox-tools

setup: $(STAMP)

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e ".[book,grading,dev]"
	touch $(STAMP)

# Debian's Chromium for the browser tests (root on these machines; sudo elsewhere).
browser:
	@command -v chromium >/dev/null || { \
	  SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
	  $$SUDO apt-get update -qq && $$SUDO apt-get install -y -qq chromium >/dev/null; }

# bubblewrap: `course autograde` runs every submission's code inside it (root here; sudo elsewhere).
sandbox-tools:
	@command -v bwrap >/dev/null || { \
	  SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
	  $$SUDO apt-get update -qq && $$SUDO apt-get install -y -qq bubblewrap >/dev/null; }

book: setup
	$(PY) scripts/build_book.py

lint: setup
	$(PY) -m ruff check .

test: setup browser sandbox-tools lint
	$(PY) -m pytest -n 2 --dist loadgroup

# Everything under tests/ except the grader (tests/grading) and the book (tests/book).
unit: setup
	$(PY) -m pytest -n 2 -q tests --ignore=tests/grading --ignore=tests/book

exercises: setup
	cd exercises && ../$(PY) -m course_grader.cli release --all

grade-demo: setup sandbox-tools
	cd exercises && ../$(PY) -m course_grader.cli demo

bench: setup
	$(PY) -m pip install --quiet -e ".[bench]"
	$(PY) benchmarks/conv_speed.py
	$(PY) benchmarks/train_speed.py
	$(PY) benchmarks/grading_speed.py

clean:
	rm -rf book/_build .pytest_cache .hypothesis
