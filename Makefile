# `make test` and `make demo` each set up .venv on a fresh machine, then run. `make check` is the
# developer's quick loop between commits: the linter, then the suite without the tests marked slow. Both run the
# tests in two processes (pytest-xdist); the Ray tests keep to one of them (loadgroup).
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
DEMO := demo-work

.PHONY: test check demo docs install clean

install: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev,serve,ray]'
	# musicnn's trained weights: its metadata pins numpy<1.17, so no dependencies (genre-tf reads its files only)
	$(BIN)/python -m pip install --quiet --no-deps musicnn==0.1.0
	touch $@

PYTEST := $(BIN)/python -m pytest -q -n 2 --dist loadgroup

test: install
	$(PYTEST)

check: install
	$(BIN)/ruff check genre_tf tests scripts
	$(PYTEST) -m "not slow"

docs: install
	NO_MKDOCS_2_WARNING=1 $(BIN)/mkdocs build --strict

demo: install
	rm -rf $(DEMO)/runs $(DEMO)/reports
	DEMO_DIR=$(DEMO) GENRE_TF=$(BIN)/genre-tf bash scripts/demo.sh

clean:
	rm -rf $(DEMO) .pytest_cache site
