# Thin wrapper: every target sets up .venv itself, so each works on a fresh machine.
#   make book        build the HTML book (offline, shipped data) -> book/_build/html/index.html
#   make publish     build, then commit the site to the gh-pages branch and push it (REMOTE=origin)
#   make test        ruff + the whole test suite (library, data, grader, book build + browser)
#   make unit        the library tests alone (no book build, no browser, no nbgrader): ~1 min
#   make exercises   student notebooks (no solutions) -> exercises/release/
#   make grade-demo  release, autograde and export the demo class in exercises/examples
#   make bench       speed benchmarks (installs the optional PyTorch CPU build)
PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed-stamp

.PHONY: setup book publish publish-built test unit lint exercises grade-demo bench clean browser sandbox-tools postgres

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

# Debian's PostgreSQL server for the gradebook tests (they start a throw-away cluster with
# initdb + pg_ctl as the `postgres` user; nothing is left running).
postgres:
	@ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || command -v initdb >/dev/null || { \
	  SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
	  $$SUDO apt-get update -qq && $$SUDO apt-get install -y -qq postgresql >/dev/null; }

book: setup
	$(PY) scripts/build_book.py

# Publish the built site as the gh-pages branch (ghp-import: one commit per publish, .nojekyll so
# that GitHub Pages serves Sphinx's _static/), then push it to REMOTE; PUSH=0 only commits locally.
# The pages use relative links only, so the site works under any sub-path (/<repo>/ on Pages).
REMOTE ?= origin
PUSH   ?= 1
SITE   ?= book/_build/html
publish: book publish-built

publish-built:
	test -f $(SITE)/index.html || { echo "no built book in $(SITE): run make book" >&2; exit 1; }
	$(PY) -m ghp_import --no-jekyll --branch gh-pages --remote $(REMOTE) $(if $(filter 1,$(PUSH)),--push) \
	  --message "Publish the book built from $$(git rev-parse --short HEAD)" $(SITE)

lint: setup
	$(PY) -m ruff check .

test: setup browser sandbox-tools postgres lint
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
